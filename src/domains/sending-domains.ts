// Which of a tenant's domains may send now (issue 4): verified ones, or all when
// domains.require_verified is off (development), or all for a sandbox tenant, whose mail is
// captured and never leaves the machine. The others are `pending`, named in refusals.
export interface SendingDomainSets {
  readonly usable: Set<string>;
  readonly pending: Set<string>;
}

export function sendingDomainSets(rows: ReadonlyArray<{ name: string; verified: number }>, options: { requireVerified: boolean; sandbox: boolean }): SendingDomainSets {
  const usable = new Set<string>();
  const pending = new Set<string>();
  for (const d of rows) (d.verified === 1 || !options.requireVerified || options.sandbox ? usable : pending).add(d.name);
  return { usable, pending };
}

// Per-tenant sending quotas (as Postal's send limit), per UTC hour and per UTC day, counted
// in recipients handed to a remote MX. Over the quota, mail is deferred to the start of the
// next window, never held or bounced. A message's recipients at one domain go together, so a
// window may pass its quota by at most one such group.
import type { HourlyCounter } from './hourly-counter.ts';
import type { PoolDirectory } from './pool-directory.ts';
import { DAY_MS, HOUR_MS, dayStart, hourStart } from './warmup.ts';

export type QuotaCheck =
  | { readonly ok: true; settle(sent: boolean): void }
  | { readonly ok: false; readonly until: number; readonly detail: string };

export interface QuotaUsage {
  readonly perHour: number | null;
  readonly perDay: number | null;
  readonly sentThisHour: number;
  readonly sentToday: number;
}

export class TenantQuotas {
  readonly #directory: PoolDirectory;
  readonly #counts: HourlyCounter;

  constructor(directory: PoolDirectory, counts: HourlyCounter) {
    this.#directory = directory;
    this.#counts = counts;
  }

  /** Reserves `recipients` against the tenant's quota; the reservation is given back unless settled as sent. */
  take(tenantId: string | null, recipients: number, now: number): QuotaCheck {
    if (!tenantId) return UNLIMITED;
    // Every tenant is counted (the API shows usage); only one with a quota is refused.
    const quota = this.#directory.tenant(tenantId);
    if (quota?.perDay != null) {
      const day = this.#counts.day(tenantId, now);
      if (day >= quota.perDay) return { ok: false, until: dayStart(now) + DAY_MS, detail: `tenant sending quota reached: ${day} of ${quota.perDay} per day` };
    }
    if (quota?.perHour != null) {
      const hour = this.#counts.hour(tenantId, now);
      if (hour >= quota.perHour) return { ok: false, until: hourStart(now) + HOUR_MS, detail: `tenant sending quota reached: ${hour} of ${quota.perHour} per hour` };
    }
    this.#counts.add(tenantId, recipients, now);
    let settled = false;
    return {
      ok: true,
      settle: (sent) => {
        if (settled) return;
        settled = true;
        if (!sent) this.#counts.add(tenantId, -recipients, now);
      },
    };
  }

  usage(tenantId: string, now: number): QuotaUsage {
    const quota = this.#directory.tenant(tenantId);
    return { perHour: quota?.perHour ?? null, perDay: quota?.perDay ?? null, sentThisHour: this.#counts.hour(tenantId, now), sentToday: this.#counts.day(tenantId, now) };
  }
}

const UNLIMITED: QuotaCheck = { ok: true, settle: () => {} };

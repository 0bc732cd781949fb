// Recipient states as small labelled badges ("2 delivered, 1 bounced").
export function StatusBadge({ status, count }: { status: string; count?: number }) {
  return <span className={`badge s-${status}`}>{count !== undefined && count !== 1 ? `${count} ` : ''}{status}</span>;
}

export function StatusCounts({ counts }: { counts: Record<string, number> }) {
  const entries = Object.entries(counts);
  if (entries.length === 0) return <span className="muted">no recipients</span>;
  return <>{entries.map(([s, n]) => <StatusBadge key={s} status={s} count={n} />)}</>;
}

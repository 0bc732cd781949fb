// Loading, error and empty states that say what to do next.
import type { ReactNode } from 'react';
import { ApiError } from '../api.ts';

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const fields = err.problem?.errors?.map((e) => `${e.pointer || e.in}: ${e.detail}`).join('; ');
    if (err.status === 403) return `Not allowed: ${err.message}`;
    return fields && fields !== err.message ? `${err.message} (${fields})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function Loading({ what }: { what: string }) {
  return <p role="status" className="muted">Loading {what}…</p>;
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  if (!error) return null;
  return (
    <div role="alert" className="error">
      {errorText(error)}
      {retry ? <> <button type="button" onClick={retry}>Try again</button></> : null}
    </div>
  );
}

/** Shows loading, then the error, then `empty` when there is nothing, else the children. */
export function PageState({ loading, error, empty, isEmpty, what, retry, children }: {
  loading: boolean; error: unknown; empty: ReactNode; isEmpty: boolean; what: string; retry?: () => void; children: ReactNode;
}) {
  if (error) return <ErrorBox error={error} retry={retry} />;
  if (loading && isEmpty) return <Loading what={what} />;
  if (isEmpty) return <div className="empty">{empty}</div>;
  return <>{children}</>;
}

export function Pager({ pageNumber, next, previous, label }: { pageNumber: number; next: (() => void) | null; previous: (() => void) | null; label: string }) {
  if (!next && !previous) return null;
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" onClick={previous ?? undefined} disabled={!previous}>Previous page</button>
      <span>Page {pageNumber}</span>
      <button type="button" onClick={next ?? undefined} disabled={!next}>Next page</button>
    </nav>
  );
}

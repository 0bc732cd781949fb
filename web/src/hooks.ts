// Data loading for pages: useResource runs a request, exposes loading/error/data and a
// reload(); usePages adds cursor pagination (the API's next_cursor) with a back stack.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Page } from './api.ts';

export interface Resource<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `key` changes (and on reload); the latest request wins. */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | null; loading: boolean }>({ data: undefined, error: null, loading: true });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const ctrl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    loadRef.current(ctrl.signal).then(
      (data) => { if (!ctrl.signal.aborted) setState({ data, error: null, loading: false }); },
      (error: Error) => { if (!ctrl.signal.aborted) setState((s) => ({ data: s.data, error, loading: false })); },
    );
    return () => ctrl.abort();
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export interface Paged<T> extends Resource<Page<T>> {
  pageNumber: number;
  next: (() => void) | null;
  previous: (() => void) | null;
}

/** A list route paged with cursors: `load(cursor)` fetches one page; `key` resets to page 1. */
export function usePages<T>(load: (cursor: string | undefined, signal: AbortSignal) => Promise<Page<T>>, key: string): Paged<T> {
  const [stack, setStack] = useState<Array<string | undefined>>([undefined]);
  const [forKey, setForKey] = useState(key);
  if (forKey !== key) {
    setForKey(key);
    setStack([undefined]);
  }
  const cursor = forKey === key ? stack[stack.length - 1] : undefined;
  const res = useResource((signal) => load(cursor, signal), `${key}\u0000${cursor ?? ''}`);
  const nextCursor = res.data?.next_cursor ?? null;
  return {
    ...res,
    pageNumber: stack.length,
    next: nextCursor ? () => setStack((s) => [...s, nextCursor]) : null,
    previous: stack.length > 1 ? () => setStack((s) => s.slice(0, -1)) : null,
  };
}

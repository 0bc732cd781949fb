// The dashboard talks to the same HTTP API as every other client: fetch with the session
// cookie (same origin), the CSRF token on every write, problem+json errors turned into
// ApiError with the API's stable `code`.

/** An RFC 9457 problem answered by the API. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: Array<{ in: string; pointer: string; detail: string }>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem | null;
  constructor(status: number, problem: Problem | null, fallback: string) {
    super(problem ? problem.detail : fallback);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code ?? `HTTP_${status}`;
    this.problem = problem;
  }
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

/** Set after sign-in (and from GET /api/v1/session); sent as X-CSRF-Token on writes. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the API answers 401 (the session ended): the app shows the sign-in form. */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  /** A body that is not JSON (CSV import): sent as is with this content type. */
  readonly rawBody?: { readonly type: string; readonly data: BodyInit };
  readonly signal?: AbortSignal;
  /** Do not call the unauthorized handler on 401 (the sign-in request itself). */
  readonly quiet401?: boolean;
}

/** Calls the API; resolves to the parsed JSON (undefined for 204), rejects with ApiError. */
export async function api<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  let payload: BodyInit | undefined;
  if (options.rawBody) {
    headers['content-type'] = options.rawBody.type;
    payload = options.rawBody.data;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', signal: options.signal });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const problem = parsed && typeof parsed === 'object' && 'detail' in parsed ? (parsed as Problem) : null;
    if (res.status === 401 && !options.quiet401) onUnauthorized?.();
    throw new ApiError(res.status, problem, `${res.status} ${res.statusText}`);
  }
  return parsed as T;
}

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A page of a list route. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** GET a non-JSON resource (a raw message) as text. */
export async function fetchText(path: string, signal?: AbortSignal): Promise<string> {
  const res = await fetch(path, { credentials: 'same-origin', signal });
  if (!res.ok) {
    let problem: Problem | null = null;
    try {
      problem = (await res.json()) as Problem;
    } catch {
      problem = null;
    }
    throw new ApiError(res.status, problem, `${res.status} ${res.statusText}`);
  }
  return res.text();
}

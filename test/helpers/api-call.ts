export interface ApiReply {
  readonly status: number;
  /** The JSON answer, or null when the body is empty or not JSON (CSV, HTML). */
  readonly body: any;
  readonly text: string;
}

/** One HTTP API request with a bearer key: a JSON body (or a string as is, e.g. CSV with its content type). */
export async function apiCall(base: string, key: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiReply> {
  const res = await fetch(`${base}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text };
}

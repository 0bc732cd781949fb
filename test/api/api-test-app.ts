// The API on a fresh store in a temp dir, driven with inject() (no socket): what most API
// tests need. `api.tenant()` makes a tenant and a key; `client.request()` sends JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.ts';
import { type Store, type ApiKeyScope } from '../../src/store/index.ts';
import { createApiApp, type ApiInstance } from '../../src/api/index.ts';
import { openTestStore } from '../helpers/backend.ts';

export const ALL_SCOPES: readonly ApiKeyScope[] = ['send', 'read', 'manage'];

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | number | undefined>;
  /** Parsed JSON, or undefined when the body is empty or not JSON. */
  readonly body: any;
  readonly text: string;
}

export interface ApiClient {
  readonly token: string | null;
  request(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
}

export interface TestTenant {
  readonly id: string;
  readonly name: string;
  readonly keyId: string;
  readonly key: string;
  readonly client: ApiClient;
}

export interface TestApi {
  readonly app: ApiInstance;
  readonly store: Store;
  readonly dataDir: string;
  readonly adminToken: string;
  readonly admin: ApiClient;
  readonly anonymous: ApiClient;
  /** A client with any bearer token. */
  client(token: string | null): ApiClient;
  /** Creates a tenant through the admin API and a key for it with `scopes` (default: all). */
  tenant(name?: string, scopes?: readonly ApiKeyScope[]): Promise<TestTenant>;
  close(): Promise<void>;
}

export function injectClient(app: ApiInstance, token: string | null): ApiClient {
  return {
    token,
    async request(method, url, body, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (token !== null) h.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === 'string' ? body : JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
      const res = await app.inject({ method: method as 'GET', url, headers: h, payload });
      let parsed: unknown;
      try {
        parsed = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.statusCode, headers: res.headers, body: parsed, text: res.body };
    },
  };
}

let tenantSeq = 0;

export async function startTestApi(options: { env?: Record<string, string> } = {}): Promise<TestApi> {
  const dataDir = mkdtempSync(join(tmpdir(), 'postline-api-'));
  // Domains added by API tests are not published in any DNS: sending from them is allowed
  // unless a test asks for POSTLINE_DOMAINS_REQUIRE_VERIFIED=true (test/feedback/ does).
  const config = loadConfig({ env: { POSTLINE_DATA_DIR: dataDir, POSTLINE_LOG_LEVEL: 'silent', POSTLINE_DOMAINS_REQUIRE_VERIFIED: 'false', ...options.env } });
  const store = await openTestStore({ dataDir });
  const adminToken = 'test-admin-token-0123456789abcdef0123456789';
  const app = await createApiApp({ config, store, log: pino({ level: process.env.POSTLINE_TEST_LOG ?? 'silent' }), adminToken });
  const admin = injectClient(app, adminToken);
  return {
    app, store, dataDir, adminToken, admin,
    anonymous: injectClient(app, null),
    client: (token) => injectClient(app, token),
    async tenant(name = `t${process.pid}-${++tenantSeq}`, scopes = ALL_SCOPES) {
      const t = await admin.request('POST', '/api/v1/tenants', { name });
      if (t.status !== 201) throw new Error(`creating tenant ${name}: ${t.status} ${t.text}`);
      const k = await admin.request('POST', `/api/v1/tenants/${t.body.id}/keys`, { name: 'test', scopes });
      if (k.status !== 201) throw new Error(`creating key: ${k.status} ${k.text}`);
      return { id: t.body.id, name, keyId: k.body.id, key: k.body.key, client: injectClient(app, k.body.key) };
    },
    async close() {
      await app.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** True when a response is an RFC 9457 problem with the given status. */
export function isProblem(res: ApiResponse, status?: number): boolean {
  const ct = String(res.headers['content-type'] ?? '');
  return ct.startsWith('application/problem+json') && typeof res.body?.type === 'string' && typeof res.body?.title === 'string'
    && res.body?.status === res.status && (status === undefined || res.status === status);
}

// The delivery rig (test/queue/delivery-harness.ts) with a YAML configuration file for the
// settings that have no environment variable (ip_pools, throttling), the admin API, and a
// sender that can set header fields (X-Postline-Stream). Sinks on 127.0.0.20+ record the
// peer address, which is the pool address Postline bound.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { stringify } from 'yaml';
import { startDeliveryRig, type DeliveryRig, type RigOptions } from '../queue/delivery-harness.ts';

export const ADMIN_TOKEN = 'pl-admin-pools-test-4f1c2b7d9e0a';

export interface PoolRig extends DeliveryRig {
  /** Calls the admin API; returns status and parsed body. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Submits one message over SMTP with extra header fields; resolves with the queue id. */
  submit(o: { from: string; to: string | string[]; subject?: string; headers?: Record<string, string> }): Promise<string>;
}

export async function startPoolRig(options: RigOptions & { config: Record<string, unknown> }): Promise<PoolRig> {
  const dir = mkdtempSync(join(tmpdir(), 'postline-pools-'));
  const file = join(dir, 'postline.yaml');
  writeFileSync(file, stringify(options.config));
  const rig = await startDeliveryRig({
    ...options,
    env: { POSTLINE_CONFIG: file, POSTLINE_ADMIN_TOKEN: ADMIN_TOKEN, ...options.env },
  });
  return Object.assign(rig, {
    async api(method: string, path: string, body?: unknown) {
      const http = rig.postline.http!;
      const res = await fetch(`http://${http.host}:${http.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async submit(o: { from: string; to: string | string[]; subject?: string; headers?: Record<string, string> }) {
      const p = rig.postline;
      const t = nodemailer.createTransport({
        host: p.smtp.host, port: p.smtp.port, secure: false, requireTLS: true,
        auth: { user: p.credential!.username, pass: p.credential!.password }, tls: { rejectUnauthorized: false },
      });
      try {
        const info = await t.sendMail({ from: o.from, to: o.to, subject: o.subject ?? 'pools', text: 'Hello from the pools suite.\r\n', headers: o.headers });
        const id = /queued as (\S+)/.exec(String(info.response))?.[1];
        if (!id) throw new Error(`no queue id in "${info.response}"`);
        return id;
      } finally {
        t.close();
      }
    },
  });
}

export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

export async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
    value = await probe();
  }
  return value;
}

// `postline migrate` (issue 7): a real Postline on SQLite takes mail over SMTP and the API
// (one message over 1 MiB, so spooled, and kept deferred so its spool file stays), delivers
// to a sink and calls a webhook; it is stopped and copied into a fresh PostgreSQL database;
// a Postline on that database, with a new data dir, then serves the same messages, events
// and keys, and sends new mail without id collisions. The source is SQLite on either suite backend.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { copyDatabase } from '../../src/store/copy-database.ts';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { PG_ADMIN_URL } from '../helpers/backend.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../events/webhook-receiver.ts';

const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const WAIT_MS = 20_000;
const BIG_BYTES = 1536 * 1024;

const database = `pl_mig_${process.pid}_${randomBytes(3).toString('hex')}`;
function urlOf(name: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}
const targetUrl = urlOf(database);

let sink: SmtpSink;
let receiver: WebhookReceiver;
let sourceDir: string;
let targetDir: string | undefined;
let source: PostlineProcess;
let target: PostlineProcess | null = null;
let key: string;
let webhookSecret: string;
let smtp: Transporter;
const sent: Record<'api' | 'smtp' | 'big', string> = { api: '', smtp: '', big: '' };
const rawBefore = new Map<string, Buffer>();
let eventsBefore: Array<{ id: string; type: string; cursor: string; message_id: string }>;

async function admin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

async function api(proc: PostlineProcess, method: string, path: string, body?: unknown, token = key): Promise<{ status: number; body: any; raw: Buffer }> {
  const res = await fetch(`http://${proc.http!.host}:${proc.http!.port}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const raw = Buffer.from(await res.arrayBuffer());
  const json = (res.headers.get('content-type') ?? '').includes('json') && raw.length ? JSON.parse(raw.toString()) : undefined;
  return { status: res.status, body: json, raw };
}

async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function migrate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [MAIN, '--json', 'migrate', ...args], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function allEvents(proc: PostlineProcess) {
  const res = await api(proc, 'GET', '/api/v1/events?limit=100');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data as typeof eventsBefore;
}

before(async () => {
  await admin(`CREATE DATABASE ${database}`);
  sink = await startSmtpSink({ rcpt: (address) => (address.startsWith('later@') ? '451 4.3.0 Try again later' : undefined) });
  receiver = await startWebhookReceiver();
  sourceDir = mkdtempSync(join(tmpdir(), 'postline-migrate-src-'));
  source = await startPostline({
    dataDir: sourceDir,
    // SQLite as the source whichever backend the suite runs on.
    env: { POSTLINE_DATABASE_URL: `sqlite:${join(sourceDir, 'postline.db')}`, POSTLINE_RELAYHOST: `127.0.0.1:${sink.port}`, POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  const adminToken = readFileSync(join(sourceDir, 'admin-token'), 'utf8').trim();
  const tenant = await api(source, 'POST', '/api/v1/tenants', { name: 'shop' }, adminToken);
  assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
  key = (await api(source, 'POST', `/api/v1/tenants/${tenant.body.id}/keys`, { name: 'migrate', scopes: ['send', 'read', 'manage'] }, adminToken)).body.key;
  assert.equal((await api(source, 'POST', '/api/v1/domains', { name: 'shop.test' })).status, 201);
  const hook = await api(source, 'POST', '/api/v1/webhooks', { url: receiver.url, events: [] });
  assert.equal(hook.status, 201, JSON.stringify(hook.body));
  webhookSecret = hook.body.secret;
  const cred = await api(source, 'POST', '/api/v1/smtp-credentials', {});
  smtp = nodemailer.createTransport({
    host: source.smtp.host, port: source.smtp.port, secure: false, requireTLS: true,
    auth: { user: cred.body.username, pass: cred.body.password }, tls: { rejectUnauthorized: false },
  });
  const viaApi = await api(source, 'POST', '/api/v1/messages', { from: 'app@shop.test', to: 'alice@example.com', subject: 'API', text: 'Hi' });
  assert.equal(viaApi.status, 202, JSON.stringify(viaApi.body));
  sent.api = viaApi.body.id;
  const queuedAs = (info: unknown) => /queued as (\S+)/.exec(String((info as { response?: unknown }).response))![1];
  sent.smtp = queuedAs(await smtp.sendMail({ from: 'app@shop.test', to: 'bob@example.com', subject: 'SMTP', text: 'Hello.\r\n' }));
  // Over the inline limit (1 MiB): its bytes live in <data_dir>/spool/, and a 451 keeps it queued.
  const big = Array.from({ length: BIG_BYTES / 64 }, (_, i) => `${String(i).padStart(8, '0')} ${'x'.repeat(53)}\r\n`).join('');
  sent.big = queuedAs(await smtp.sendMail({ from: 'app@shop.test', to: 'later@example.com', subject: 'Big', text: big }));
  await sink.waitFor((ms) => ['alice@example.com', 'bob@example.com'].every((a) => ms.some((m) => m.rcptTo.includes(a))), WAIT_MS);
  await receiver.waitFor((calls) => calls.filter((c) => c.json.type === 'message.delivered').length >= 2, WAIT_MS);
  await waitUntil('the big message deferred', async () => (await api(source, 'GET', `/api/v1/messages/${sent.big}`)).body.recipients[0].status === 'deferred');
  for (const id of Object.values(sent)) {
    const raw = await api(source, 'GET', `/api/v1/messages/${id}/raw`);
    assert.equal(raw.status, 200);
    rawBefore.set(id, raw.raw);
  }
  assert.ok(rawBefore.get(sent.big)!.length > BIG_BYTES);
  eventsBefore = await allEvents(source);
  await source.stop();
});

after(async () => {
  smtp?.close();
  await target?.cleanup();
  await source?.stop();
  await receiver?.close();
  await sink?.close();
  for (const dir of [sourceDir, targetDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  for (const name of [database, `${database}_b`]) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
});

describe('postline migrate --from sqlite:PATH --to postgres://… (issue 7)', () => {
  it('copies every table, moves the spooled body into the row, and answers verified: true with equal counts per table', async () => {
    const run = await migrate('--from', `sqlite:${join(sourceDir, 'postline.db')}`, '--to', targetUrl);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.equal(report.verified, true);
    assert.equal(report.spooled_bodies, 1);
    assert.deepEqual(report.missing_bodies, []);
    for (const [table, counts] of Object.entries(report.tables as Record<string, { source: number; target: number }>)) {
      assert.equal(counts.target, counts.source, table);
    }
    const t = report.tables;
    assert.ok(t.messages.source >= 3 && t.recipients.source >= 3 && t.attempts.source >= 3, JSON.stringify(t));
    for (const table of ['events', 'webhooks', 'webhook_deliveries', 'webhook_attempts', 'domains', 'dkim_keys', 'api_keys', 'credentials', 'tenants', 'audit_log']) {
      assert.ok(t[table].source > 0, `${table} has rows to copy`);
    }
    assert.ok(!('kysely_migration' in t), 'kysely\'s own tables are not copied');
    // Progress: one line per table on stderr when there is no terminal.
    assert.match(run.stderr, /^messages: copied 3\/3$/m);
    assert.match(run.stderr, /^recipients: copied \d+\/\d+$/m);
  });

  it('refuses a target that already holds rows with MIGRATE_TARGET_NOT_EMPTY, naming the tables', async () => {
    await assert.rejects(copyDatabase({ from: `sqlite:${join(sourceDir, 'postline.db')}`, to: targetUrl }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'MIGRATE_TARGET_NOT_EMPTY');
      assert.match(err.message, /already holds rows \(.*tenants.*\)/);
      return true;
    });
  });

  it('pages by primary key, composite keys included: one row per INSERT and one message per batch give the same counts', async () => {
    await admin(`CREATE DATABASE ${database}_b`);
    const batches = new Map<string, number>();
    const report = await copyDatabase({
      from: `sqlite:${join(sourceDir, 'postline.db')}`, to: urlOf(`${database}_b`), batchRows: 1, batchBytes: 1,
      onProgress: (p) => { if (!p.done && p.copied > 0) batches.set(p.table, (batches.get(p.table) ?? 0) + 1); },
    });
    assert.equal(report.verified, true, JSON.stringify(report.tables));
    assert.equal(batches.get('messages'), report.tables.messages.source);
    // (tenant_id, hour, type): several event types in the same hour.
    assert.equal(batches.get('event_counts'), report.tables.event_counts.source);
    assert.ok(report.tables.event_counts.source > 1);
  });

  it('refuses a source file that does not exist with MIGRATE_BAD_SOURCE (no empty database created there)', async () => {
    await assert.rejects(copyDatabase({ from: `sqlite:${join(sourceDir, 'missing.db')}`, to: targetUrl }), { code: 'MIGRATE_BAD_SOURCE' });
    await assert.rejects(copyDatabase({ from: join(sourceDir, 'postline.db'), to: targetUrl }), { code: 'MIGRATE_BAD_SOURCE' });
    await assert.rejects(copyDatabase({ from: `sqlite:${join(sourceDir, 'postline.db')}`, to: 'mysql://x' }), { code: 'MIGRATE_BAD_TARGET' });
  });

  it('a Postline on the PostgreSQL copy serves the same messages, raw bodies, events and keys, and sends new mail with fresh ids', async () => {
    targetDir = mkdtempSync(join(tmpdir(), 'postline-migrate-dst-'));
    // The instance key seals webhook secrets and DKIM keys: it moves with the instance (docs/cli.md).
    copyFileSync(join(sourceDir, 'secret.key'), join(targetDir, 'secret.key'));
    target = await startPostline({
      dataDir: targetDir,
      env: { POSTLINE_DATABASE_URL: targetUrl, POSTLINE_RELAYHOST: `127.0.0.1:${sink.port}`, POSTLINE_WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
    for (const [id, bytes] of rawBefore) {
      const raw = await api(target, 'GET', `/api/v1/messages/${id}/raw`);
      assert.equal(raw.status, 200, `raw of ${id}`);
      assert.ok(raw.raw.equals(bytes), `raw of ${id}: ${raw.raw.length} bytes, ${bytes.length} before`);
    }
    // Same ids and cursors: an API client polling with its last cursor carries on.
    assert.deepEqual((await allEvents(target)).slice(0, eventsBefore.length), eventsBefore);
    const keys = await api(target, 'GET', '/api/v1/keys');
    assert.equal(keys.status, 200);
    assert.ok(keys.body.data.some((k: { name: string }) => k.name === 'migrate'));
    const oldMessages = await Promise.all(Object.values(sent).map(async (id) => (await api(target!, 'GET', `/api/v1/messages/${id}`)).body));
    const maxRecipientId = Math.max(...oldMessages.flatMap((m) => m.recipients.map((r: { id: number }) => r.id)));
    const maxAttemptId = Math.max(...oldMessages.flatMap((m) => m.attempts.map((a: { id: number }) => a.id)));

    const callsBefore = receiver.calls.length;
    const fresh = await api(target, 'POST', '/api/v1/messages', { from: 'app@shop.test', to: 'carol@example.com', subject: 'After', text: 'On PostgreSQL' });
    assert.equal(fresh.status, 202, JSON.stringify(fresh.body));
    await sink.waitFor((ms) => ms.some((m) => m.rcptTo.includes('carol@example.com')), WAIT_MS);
    const calls = await receiver.waitFor((cs) => cs.slice(callsBefore).some((c) => c.json.type === 'message.delivered' && c.json.data.message_id === fresh.body.id), WAIT_MS);
    // The webhook secret sealed on SQLite still signs on PostgreSQL.
    const delivered = calls.slice(callsBefore).find((c) => c.json.type === 'message.delivered')!;
    const h = delivered.headers as Record<string, string>;
    assert.ok(new Webhook(webhookSecret).verify(delivered.body, { 'webhook-id': h['webhook-id'], 'webhook-timestamp': h['webhook-timestamp'], 'webhook-signature': h['webhook-signature'] }));
    const detail = (await api(target, 'GET', `/api/v1/messages/${fresh.body.id}`)).body;
    assert.equal(detail.recipients[0].status, 'delivered');
    assert.ok(detail.recipients[0].id > maxRecipientId, `recipient id ${detail.recipients[0].id} after ${maxRecipientId}`);
    assert.ok(detail.attempts[0].id > maxAttemptId, `attempt id ${detail.attempts[0].id} after ${maxAttemptId}`);
    const after = await allEvents(target);
    assert.deepEqual(after.slice(0, eventsBefore.length), eventsBefore);
    assert.ok(after.slice(eventsBefore.length).some((e) => e.message_id === fresh.body.id && e.type === 'message.delivered'));
  });
});

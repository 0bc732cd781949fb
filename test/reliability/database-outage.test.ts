// backend: postgres-only
// Issue 7: PostgreSQL stops for 10 seconds while mail is being submitted over SMTP and the
// API. Nothing that got a 250 or a 202 is lost; while the database is away SMTP answers
// 451 4.3.0 and the API 503 with Retry-After (nothing is accepted that could not be stored);
// when it comes back the node carries on by itself, with no restart, and delivers everything.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRelayToSink, type PostlineProcess } from '../helpers/postline.ts';
import type { SmtpSink } from '../helpers/smtp-sink.ts';
import { startCrashLoad, SUBMISSION_HEADER, TOKEN_HEADER } from '../helpers/crash-load.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const SMTP_MESSAGES = 1500;
const OUTAGE_MS = 10_000;
const log = (msg: string): void => console.log(`# database-outage: ${msg}`);

describe('Issue 7: the database stops for 10 s under load', { timeout: 300_000 }, () => {
  let pg: PrivatePostgres;
  let sink: SmtpSink;
  let proc: PostlineProcess;
  let close: () => Promise<void>;
  const adminToken = 'outage-admin-token-0123456789abcdef0123';

  before(async () => {
    pg = await startPrivatePostgres();
    ({ sink, proc, close } = await startRelayToSink({
      sink: { delayMs: { data: 2 } },
      env: { POSTLINE_DATABASE_URL: pg.url, POSTLINE_DATABASE_CONNECT_TIMEOUT: '1s', POSTLINE_ADMIN_TOKEN: adminToken, POSTLINE_LOG_LEVEL: 'warn' },
    }));
  });

  after(async () => {
    await close?.();
    pg?.destroy();
  });

  it('loses nothing accepted, tells clients to retry (451 4.3.0, 503 + Retry-After), and resumes by itself', async () => {
    const api = `http://${proc.http!.host}:${proc.http!.port}`;
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const tenants = await (await fetch(`${api}/api/v1/tenants?limit=10`, { headers: admin })).json() as { data: Array<{ id: string; name: string }> };
    const acme = tenants.data.find((t) => t.name === 'acme')!;
    const keyRes = await fetch(`${api}/api/v1/tenants/${acme.id}/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'outage', scopes: ['send'] }) });
    const key = ((await keyRes.json()) as { key: string }).key;

    const load = startCrashLoad({ endpoint: () => proc.smtp, messages: SMTP_MESSAGES, connections: 8, from: 'load@acme.test', to: 'rcpt@dest.test', messagesPerSession: 20, maxSubmissions: 100_000 });
    // API single sends beside the SMTP load; each answer recorded.
    const apiAccepted = new Set<string>();
    const apiStatuses = new Map<number, number>();
    let retryAfterSeen = false;
    let apiStop = false;
    let apiSeq = 0;
    const apiLoad = Promise.all(Array.from({ length: 4 }, async () => {
      while (!apiStop) {
        const token = `api-${apiSeq++}`;
        for (let attempt = 0; !apiStop; attempt++) {
          let status = 0;
          try {
            const res = await fetch(`${api}/api/v1/messages`, {
              method: 'POST', signal: AbortSignal.timeout(20_000),
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': token },
              body: JSON.stringify({ from: 'load@acme.test', to: 'rcpt@dest.test', subject: token, text: token, headers: { [TOKEN_HEADER]: token, [SUBMISSION_HEADER]: `${token}#1` } }),
            });
            status = res.status;
            if (status === 503 && res.headers.get('retry-after')) retryAfterSeen = true;
            await res.arrayBuffer();
          } catch {
            status = -1;
          }
          apiStatuses.set(status, (apiStatuses.get(status) ?? 0) + 1);
          if (status === 202) {
            apiAccepted.add(`${token}#1`);
            break;
          }
          assert.ok(status === 503 || status === -1, `API answered ${status} during the outage`);
          await sleep(250);
        }
        await sleep(20);
      }
    }));

    await load.whenAccepted(SMTP_MESSAGES / 3);
    const stopAt = Date.now();
    pg.stop('immediate');
    log(`PostgreSQL stopped at accepted=${load.acceptedCount()} delivered=${sink.messages.length}`);
    await sleep(OUTAGE_MS);
    // While it is down: /readyz says so.
    const ready = await fetch(`${api}/readyz`);
    assert.equal(ready.status, 503, 'readyz answers 503 while the database is away');
    pg.start();
    log(`PostgreSQL back after ${Date.now() - stopAt} ms`);
    const result = await load.done;
    apiStop = true;
    await apiLoad;

    const temporary = result.submissions.filter((s) => s.outcome === 'temporary');
    const replies = new Set(temporary.map((s) => (s.reply ?? '').slice(0, 9)));
    log(`smtp: accepted=${result.accepted.size} temporary=${temporary.length} (${[...replies].join(', ')}) dropped=${result.submissions.filter((s) => s.outcome === 'dropped').length}; api: ${JSON.stringify(Object.fromEntries(apiStatuses))}`);
    assert.deepEqual(result.abandoned, [], 'every SMTP message was accepted in the end');
    assert.ok(temporary.some((s) => /^451 4\.3\.0/.test(s.reply ?? '')), 'SMTP clients were told 451 4.3.0 while the database was away');
    assert.ok(temporary.every((s) => /^4\d\d /.test(s.reply ?? '')), 'only temporary replies');
    assert.ok(retryAfterSeen, 'the API answered 503 with Retry-After while the database was away');

    // Every accepted message, SMTP and API, reaches the sink: the node resumed by itself.
    const expected = new Set([...result.accepted.keys(), ...apiAccepted]);
    const seen = new Set<string>();
    const deadline = Date.now() + 120_000;
    let scanned = 0;
    while (Date.now() < deadline) {
      for (; scanned < sink.messages.length; scanned++) {
        const k = new RegExp(`^${SUBMISSION_HEADER}: *(\\S+)`, 'im').exec(sink.messages[scanned].raw.subarray(0, 16_384).toString('latin1'))?.[1];
        if (k) seen.add(k);
      }
      if ([...expected].every((k) => seen.has(k))) break;
      await sleep(250);
    }
    const lost = [...expected].filter((k) => !seen.has(k));
    log(`expected=${expected.size} delivered=${[...expected].filter((k) => seen.has(k)).length} lost=${lost.length}`);
    assert.deepEqual(lost.slice(0, 10), [], 'nothing accepted was lost');
    assert.equal((await fetch(`${api}/readyz`)).status, 200, 'readyz is back to 200');
  });
});

// backend: postgres-only
// Issue 7: three Postline processes on one PostgreSQL database, mail submitted round-robin
// to all three over SMTP and the HTTP API, delivered to one sink. With no node dying every
// message arrives exactly once (SKIP LOCKED claims, leases, NOTIFY between nodes). Then the
// same with one node killed (kill -9) mid-run: every accepted message arrives, and the only
// repeats are deliveries that were in flight when it died (its leases expire and the other
// nodes take that work over).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.ts';
import { startCrashLoad, TOKEN_HEADER, SUBMISSION_HEADER } from '../helpers/crash-load.ts';
import { dropTestDatabase, newPostgresDatabase } from '../helpers/backend.ts';

const MESSAGES = Number(process.env.POSTLINE_MULTINODE_MESSAGES ?? 10_000);
const NODES = 3;
const ADMIN_TOKEN = `multi-node-admin-${randomBytes(12).toString('hex')}`;
/** A dead node's claims are taken over when their lease expires: short here, so the test waits seconds, not minutes. */
const LEASE = '20s';
/** Window before a kill in which a delivery may have reached the sink without its outcome being committed. */
const INFLIGHT_WINDOW_MS = 2000;
const log = (msg: string): void => console.log(`# multi-node: ${msg}`);

interface Arrival {
  readonly token: string;
  readonly at: number;
  /** The EHLO name of the node that delivered it. */
  readonly by: string;
}

describe('Issue 7: three nodes on one PostgreSQL database', { timeout: 900_000 }, () => {
  let url: string;
  let sink: SmtpSink;
  const nodes: PostlineProcess[] = [];
  let apiKey = '';

  before(async () => {
    url = await newPostgresDatabase();
    sink = await startSmtpSink({ host: '127.0.0.2', port: 0, delayMs: { data: 5 } });
    const env = {
      POSTLINE_DATABASE_URL: url,
      POSTLINE_ADMIN_TOKEN: ADMIN_TOKEN,
      POSTLINE_SECRET_KEY: randomBytes(32).toString('base64'),
      POSTLINE_RELAY_NETWORKS: '127.0.0.0/8=acme',
      POSTLINE_RELAYHOST: `${sink.host}:${sink.port}`,
      POSTLINE_SMTPS_LISTEN: 'off',
      POSTLINE_MX_LISTEN: 'off',
      POSTLINE_QUEUE_LEASE: LEASE,
      POSTLINE_API_KEY_RATE: '100000',
      POSTLINE_API_KEY_BURST: '100000',
      POSTLINE_LOG_LEVEL: 'warn',
    };
    // The first node creates the tenant (CLI on the shared database); the others find it there.
    // Each node greets with its own name, so the sink knows which node delivered what.
    nodes.push(await startPostline({ tenant: { name: 'acme', domains: ['acme.test'] }, env: { ...env, POSTLINE_HOSTNAME: 'node1.postline.test' } }));
    for (let i = 1; i < NODES; i++) nodes.push(await startPostline({ env: { ...env, POSTLINE_HOSTNAME: `node${i + 1}.postline.test` } }));
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const base = `http://${nodes[1].http!.host}:${nodes[1].http!.port}`;
    const tenants = await (await fetch(`${base}/api/v1/tenants?limit=10`, { headers: admin })).json() as { data: Array<{ id: string; name: string }> };
    const acme = tenants.data.find((t) => t.name === 'acme')!;
    const key = await fetch(`${base}/api/v1/tenants/${acme.id}/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'multi', scopes: ['send', 'read'] }) });
    assert.equal(key.status, 201, await key.clone().text());
    apiKey = ((await key.json()) as { key: string }).key;
  });

  after(async () => {
    for (const n of nodes) await n.cleanup().catch(() => undefined);
    await sink?.close();
    await dropTestDatabase(url);
  });

  const alive = (): PostlineProcess[] => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);

  /**
   * Half the messages over SMTP (sessions spread over the live nodes), half through the batch
   * API (batches of 100 spread over the live nodes). A batch whose node died under it is sent
   * again to another node with the same Idempotency-Key: stored once either way.
   */
  async function submit(phase: string, count: number, onAccepted: (n: number) => void): Promise<{ keys: Set<string>; smtp: number; api: number }> {
    const smtpCount = Math.floor(count / 2);
    let rr = 0;
    const load = startCrashLoad({
      endpoint: () => {
        const live = alive();
        return live[rr++ % live.length].smtp;
      },
      messages: smtpCount, connections: 9, from: 'load@acme.test', to: 'rcpt@dest.test', messagesPerSession: 25,
    });
    const tokenPrefix = `${phase}-api-`;
    let apiAccepted = 0;
    const api = (async () => {
      const batches = Math.ceil((count - smtpCount) / 100);
      const work = Array.from({ length: batches }, (_, b) => b);
      const worker = async () => {
        for (let b = work.shift(); b !== undefined; b = work.shift()) {
          const messages = [];
          for (let i = b * 100; i < Math.min((b + 1) * 100, count - smtpCount); i++) {
            messages.push({
              from: 'load@acme.test', to: 'rcpt@dest.test', subject: `${tokenPrefix}${i}`, text: `message ${tokenPrefix}${i}`,
              headers: { [TOKEN_HEADER]: `${tokenPrefix}${i}`, [SUBMISSION_HEADER]: `${tokenPrefix}${i}#1` },
            });
          }
          const body = JSON.stringify({ messages });
          for (let attempt = 0; ; attempt++) {
            const live = alive();
            const n = live[(b + attempt) % live.length];
            try {
              const res = await fetch(`http://${n.http!.host}:${n.http!.port}/api/v1/messages/batch`, {
                method: 'POST', body, signal: AbortSignal.timeout(30_000),
                headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `${phase}-batch-${b}` },
              });
              if (res.status === 200) {
                const r = await res.json() as { results: Array<{ status: number }> };
                assert.ok(r.results.every((x) => x.status === 202), JSON.stringify(r.results.find((x) => x.status !== 202)));
                apiAccepted += r.results.length;
                onAccepted(r.results.length);
                break;
              }
              assert.ok(res.status >= 500 || res.status === 429, `batch ${b}: ${res.status} ${await res.text()}`);
            } catch (err) {
              if (err instanceof assert.AssertionError) throw err;
              // The node died under the request: try another.
            }
            assert.ok(attempt < 20, `batch ${b} was never accepted`);
            await sleep(200);
          }
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
    })();
    const progress = setInterval(() => onAccepted(0), 1000);
    const [result] = await Promise.all([load.done, api]).finally(() => clearInterval(progress));
    assert.deepEqual(result.abandoned, [], 'every SMTP message was accepted in the end');
    // Identity is the submission key: an SMTP message whose 250 a kill cut off is sent again
    // under a new key (a new message, as for any client); an API batch keeps its keys.
    const keys = new Set<string>([...result.accepted.keys(), ...Array.from({ length: apiAccepted }, (_, i) => `${tokenPrefix}${i}#1`)]);
    return { keys, smtp: result.accepted.size, api: apiAccepted };
  }

  it(`delivers ${MESSAGES} messages sent round-robin to ${NODES} nodes over SMTP and the API exactly once`, async () => {
    const started = Date.now();
    const from = sink.messages.length;
    const { keys: expected, smtp, api } = await submit('p1', MESSAGES, () => undefined);
    const arrivals = await collectAll(expected, from);
    const missing = [...expected].filter((t) => !arrivals.has(t));
    const repeated = [...arrivals].filter(([, l]) => l.length > 1);
    log(`phase 1: accepted smtp=${smtp} api=${api} delivered=${arrivals.size} missing=${missing.length} repeated=${repeated.length} (${repeated.slice(0, 5).map(([t, l]) => `${t}×${l.length}`).join(" ")}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    assert.equal(api, MESSAGES - Math.floor(MESSAGES / 2));
    assert.equal(smtp, Math.floor(MESSAGES / 2));
    assert.deepEqual(missing.slice(0, 10), [], 'every accepted message reached the sink');
    assert.deepEqual(repeated.slice(0, 10).map(([t, l]) => `${t}×${l.length}`), [], 'no message was delivered twice');
  });

  it('after kill -9 of one node mid-run, every accepted message is delivered; repeats only of deliveries in flight at the kill', async () => {
    const started = Date.now();
    const from = sink.messages.length;
    let accepted = 0;
    let killAt = 0;
    let deliveredAtKill = 0;
    const victim = nodes[1];
    const killed = (async () => {
      while (accepted < MESSAGES / 3) await sleep(50);
      deliveredAtKill = sink.messages.length - from;
      killAt = Date.now();
      await victim.kill9();
      log(`killed node 2 at accepted=${accepted} delivered=${deliveredAtKill}`);
    })();
    const { keys: expected, smtp, api } = await submit('p2', MESSAGES, (n) => {
      accepted += n;
    });
    await killed;
    const arrivals = await collectAll(expected, from);
    const missing = [...expected].filter((t) => !arrivals.has(t));
    const repeated = [...arrivals].filter(([, l]) => l.length > 1);
    const duplicates = repeated.reduce((s, [, l]) => s + l.length - 1, 0);
    // A repeat is legitimate only when the dead node made the first delivery and died before
    // committing its outcome (its lease then expired and another node delivered again). So
    // every repeated message was first delivered by node 2, before the kill, and there are at
    // most as many repeats as node 2 made deliveries whose outcome may not have been committed:
    // those in the last INFLIGHT_WINDOW_MS before the kill, or, on a slow machine, any it made.
    const byVictim = sink.messages.slice(from).filter((m) => m.heloName === 'node2.postline.test' && m.receivedAt.getTime() <= killAt);
    const inflightAtKill = byVictim.length;
    const outsideWindow = repeated.filter(([, l]) => !(l[0].by === 'node2.postline.test' && l[0].at <= killAt)).map(([t, l]) => `${t} first by ${l[0].by} at kill${l[0].at - killAt >= 0 ? '+' : ''}${l[0].at - killAt}ms`);
    const recentByVictim = byVictim.filter((m) => m.receivedAt.getTime() >= killAt - INFLIGHT_WINDOW_MS).length;
    log(`phase 2: accepted smtp=${smtp} api=${api} delivered=${arrivals.size} missing=${missing.length} duplicates=${duplicates} (node 2 delivered ${inflightAtKill} before the kill, ${recentByVictim} in the last ${INFLIGHT_WINDOW_MS} ms) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    assert.ok(killAt > 0 && deliveredAtKill < accepted, 'the kill came mid-run');
    assert.deepEqual(missing.slice(0, 10), [], 'every accepted message reached the sink');
    assert.ok(duplicates <= inflightAtKill, `${duplicates} duplicates, more than the ${inflightAtKill} deliveries node 2 made`);
    assert.deepEqual(outsideWindow.slice(0, 10), [], 'every repeated message was first delivered by the killed node, before the kill');
  });

  /** Arrivals per submission key; SMTP keys (`n-<i>#<k>`) repeat in each phase's load, so only arrivals after `from` count. */
  async function collectAll(expected: ReadonlySet<string>, from: number): Promise<Map<string, Arrival[]>> {
    const byToken = new Map<string, Arrival[]>();
    let scanned = from;
    let last = Date.now();
    for (;;) {
      for (; scanned < sink.messages.length; scanned++) {
        const m = sink.messages[scanned];
        const token = new RegExp(`^${SUBMISSION_HEADER}: *(\\S+)`, 'im').exec(m.raw.subarray(0, 16_384).toString('latin1'))?.[1];
        if (!token || !expected.has(token)) continue;
        const list = byToken.get(token) ?? [];
        list.push({ token, at: m.receivedAt.getTime(), by: m.heloName });
        byToken.set(token, list);
        last = Date.now();
      }
      const missing = [...expected].filter((t) => !byToken.has(t)).length;
      if (missing === 0) {
        // A repeat of the last deliveries may still be on its way: a short grace.
        await sleep(1000);
        if (scanned === sink.messages.length) break;
        continue;
      }
      if (Date.now() - last > 30_000) break;
      await sleep(250);
    }
    return byToken;
  }
});

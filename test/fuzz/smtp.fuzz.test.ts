// The SMTP fuzz run: POSTLINE_FUZZ_SESSIONS grammar-built and mutated sessions (default 2,000;
// `npm run fuzz` runs 100,000) against one running server, in batches of parallel connections,
// seeded by POSTLINE_FUZZ_SEED so CI is repeatable. Afterwards the server must be alive and
// healthy, its log free of uncaught errors, its memory back near where it started, and a
// well-behaved client must still get its message queued.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { startPostline, type PostlineProcess } from '../helpers/postline.ts';
import { connectSmtp } from '../helpers/smtp-talk.ts';
import { INSPECT_ENV, inspectorUrl, measureAfterGc, type MemoryFigures } from './inspect-memory.ts';
import { runBatch, sessionArb, type BatchResult, type FuzzTarget } from './smtp-fuzzer.ts';

const SESSIONS = Number(process.env.POSTLINE_FUZZ_SESSIONS ?? 2000);
const SEED = Number(process.env.POSTLINE_FUZZ_SEED ?? 5321);
const BATCH = 1000;
const CONCURRENCY = 12;
const SESSION_TIMEOUT_MS = 15_000;
/** After the run and a full GC, live heap and RSS may exceed the warmed-up baseline by at most this. */
const HEAP_MARGIN_MB = 32;
const RSS_MARGIN_MB = 160;
const HOSTNAME = 'mta.postline.test';

let server: PostlineProcess;
let configDir: string;
let target: FuzzTarget;

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Fails with the first problems in a readable size; the whole sessions go to a file to replay. */
function assertNoFailures(failures: BatchResult['failures'], label: string): void {
  if (failures.length === 0) return;
  const file = join(tmpdir(), `postline-smtp-fuzz-failures-${SEED}.json`);
  writeFileSync(file, JSON.stringify(failures, null, 1));
  const summary = failures.slice(0, 5).map((f) => `#${f.index}: ${f.problems.join('; ')}\n  session: ${f.session.slice(0, 400)}`).join('\n');
  assert.fail(`${label}: ${failures.length} failing sessions (all in ${file}):\n${summary}`);
}

before(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'postline-fuzz-'));
  const configFile = join(configDir, 'postline.yaml');
  // Random AUTH would otherwise get 127.0.0.1 refused (RFC 4954 throttle) and end every later
  // session at the greeting; the pregreet delay would only slow the run down.
  await writeFile(configFile, ['smtp:', '  auth_slow_after_failures: 1000000000', '  auth_block_after_failures: 1000000000', '  mx_greeting_delay: 0ms', ''].join('\n'));
  server = await startPostline({
    tenant: { name: 'acme', domains: ['acme.test'] },
    env: {
      POSTLINE_CONFIG: configFile,
      POSTLINE_MX_DOMAINS: 'hosted.test',
      POSTLINE_MAX_MESSAGE_BYTES: String(256 * 1024),
      // Accepted mail is kept, not sent: the run tests ingress, not delivery.
      POSTLINE_DELIVERY_MODE: 'capture',
      POSTLINE_RELAYHOST: '127.0.0.2:9',
      ...INSPECT_ENV,
    },
  });
  target = { endpoints: { smtp: server.smtp, smtps: server.smtps, mx: server.mx }, hostname: HOSTNAME };
});

after(async () => {
  await server?.cleanup();
  await rm(configDir, { recursive: true, force: true });
});

describe(`SMTP fuzzing: ${SESSIONS} grammar-aware sessions (seed ${SEED})`, () => {
  let baseline: MemoryFigures;

  it('warms up with a short batch whose replies are all well-formed', async () => {
    const sessions = fc.sample(sessionArb({ credential: server.credential, domains: ['hosted.test', 'acme.test'], senderDomain: 'acme.test' }), { seed: SEED - 1, numRuns: 200 });
    const result = await runBatch(target, sessions, { concurrency: CONCURRENCY, timeoutMs: SESSION_TIMEOUT_MS });
    assertNoFailures(result.failures, 'warm-up');
    await sleep(1000);
    baseline = await measureAfterGc(inspectorUrl(server.logs()), server.child.pid!);
  });

  it('answers every session with well-formed, enhanced-coded replies, never hangs, and discards plaintext after STARTTLS', async () => {
    const arb = sessionArb({ credential: server.credential, domains: ['hosted.test', 'acme.test'], senderDomain: 'acme.test' });
    const started = Date.now();
    let replies = 0;
    let queued = 0;
    for (let done = 0, batch = 0; done < SESSIONS; batch++) {
      const n = Math.min(BATCH, SESSIONS - done);
      const sessions = fc.sample(arb, { seed: SEED + batch, numRuns: n });
      const result = await runBatch(target, sessions, { concurrency: CONCURRENCY, timeoutMs: SESSION_TIMEOUT_MS, offset: done });
      replies += result.replies;
      queued += result.queued;
      assertNoFailures(result.failures, `batch ${batch} (seed ${SEED + batch})`);
      assert.equal(server.child.exitCode, null, 'server exited during the run');
      done += n;
      if (SESSIONS >= 5000 || batch === 0) process.stderr.write(`smtp fuzz: ${done}/${SESSIONS} sessions, ${replies} replies, ${Math.round((Date.now() - started) / 1000)} s, rss ${Math.round(await rssMb(server.child.pid!))} MB\n`);
    }
    process.stderr.write(`smtp fuzz: ${SESSIONS} sessions, ${replies} replies, ${queued} messages accepted in ${Math.round((Date.now() - started) / 1000)} s\n`);
  });

  it('leaves the server alive, /healthz answering and no uncaught or unhandled errors in its log', async () => {
    assert.equal(server.child.exitCode, null);
    const res = await fetch(`http://${server.http!.host}:${server.http!.port}/healthz`);
    assert.equal(res.status, 200);
    const bad = server.logs().split('\n').filter((l) => /uncaught|unhandled/i.test(l));
    assert.deepEqual(bad.slice(0, 5), []);
  });

  it(`returns live heap to within ${HEAP_MARGIN_MB} MB and RSS to within ${RSS_MARGIN_MB} MB of the warmed-up baseline after a settle and a full GC`, async () => {
    await sleep(2000);
    const after = await measureAfterGc(inspectorUrl(server.logs()), server.child.pid!);
    const figures = `heap ${baseline.heapMb.toFixed(0)} -> ${after.heapMb.toFixed(0)} MB, rss ${baseline.rssMb.toFixed(0)} -> ${after.rssMb.toFixed(0)} MB`;
    process.stderr.write(`smtp fuzz: memory after GC: ${figures}\n`);
    assert.ok(after.heapMb <= baseline.heapMb + HEAP_MARGIN_MB, figures);
    assert.ok(after.rssMb <= baseline.rssMb + RSS_MARGIN_MB, figures);
  });

  it('still queues a well-behaved submission (250 2.6.0) and accepts MX mail for a hosted domain', async () => {
    const t = await connectSmtp({ host: server.smtps.host, port: server.smtps.port, tls: true });
    try {
      await t.ehlo();
      assert.equal((await t.authPlain(server.credential!.username, server.credential!.password)).code, 235);
      assert.equal((await t.send('MAIL FROM:<sender@acme.test>')).last, '250 2.1.0 Accepted');
      assert.equal((await t.send('RCPT TO:<someone@example.net>')).last, '250 2.1.5 Accepted');
      assert.match((await t.data('From: sender@acme.test\r\nTo: someone@example.net\r\nSubject: after fuzz\r\n\r\nHi.\r\n')).last, /^250 2\.6\.0 Ok: queued as [0-9A-Z]{26}$/);
    } finally {
      t.close();
    }
    const mx = await connectSmtp({ host: server.mx.host, port: server.mx.port });
    try {
      await mx.ehlo('remote.example');
      assert.equal((await mx.send('MAIL FROM:<a@remote.example>')).last, '250 2.1.0 Accepted');
      assert.equal((await mx.send('RCPT TO:<inbox@hosted.test>')).last, '250 2.1.5 Accepted');
      assert.match((await mx.data('From: a@remote.example\r\nSubject: in\r\n\r\nHi.\r\n')).last, /^250 2\.6\.0 Ok: queued as /);
    } finally {
      mx.close();
    }
  });
});

// One phase of the contacts bench in a process of its own, so its peak RSS is its own:
//   node bench/contacts-worker.ts import DATA_DIR N   → imports N generated contacts into a list
//   node bench/contacts-worker.ts expand DATA_DIR     → expands a campaign to that list into the queue
// Prints one JSON line: {"phase", "count", "ms", "perS", "cpuMs", "cpuUsPerItem", "peakRssBytes"}.
import { loadConfig } from '../src/config/index.ts';
import { createTenant, findListByName, findTenant, insertCampaign, insertList, newPublicId, openStore, WriteLock } from '../src/store/index.ts';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { join } from 'node:path';
import { LinkSigner, createCampaignRunner, importContactsCsv } from '../src/campaigns/index.ts';
import pino from 'pino';
import { peakRssBytes } from './proc-stats.ts';

const [phase, dataDir, countText] = process.argv.slice(2);
// About 64 KiB a chunk (1,200 rows), what a file stream or an HTTP request body delivers at a time.
const CHUNK_ROWS = 1200;

/** The generated file, produced as it is read (the bench measures the import, not the generator's memory). */
async function* csv(n: number): AsyncGenerator<string> {
  yield 'email,name,plan,city\n';
  for (let i = 0; i < n; i += CHUNK_ROWS) {
    let chunk = '';
    for (let j = i; j < Math.min(n, i + CHUNK_ROWS); j++) chunk += `user${j}@bench${j % 97}.example,User ${j},${j % 3 === 0 ? 'gold' : 'basic'},City ${j % 50}\n`;
    yield chunk;
  }
}

let peak = 0;
/** BENCH_DEBUG: where the memory is at the RSS peak (V8 heap, Buffers, the rest: SQLite, malloc arenas). */
let peakUsage: NodeJS.MemoryUsage | null = null;
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss > peak && process.env.BENCH_DEBUG) peakUsage = process.memoryUsage();
  peak = Math.max(peak, rss);
}, 50);

const config = loadConfig({ env: { POSTLINE_DATA_DIR: dataDir, POSTLINE_LOG_LEVEL: 'silent', POSTLINE_CAMPAIGNS_RUNNER: 'false' } });
// As in the server (src/server.ts): this thread's commits never checkpoint; another thread
// with its own connection does, sharing the write lock (bench/checkpoint-thread.ts).
const writeLock = new WriteLock();
const store = await openStore({ dataDir, writeLock, checkpoints: 'none' });
const checkpointer = new Worker(new URL('./checkpoint-thread.ts', import.meta.url), { workerData: { file: join(dataDir, 'postline.db'), writeLockBuffer: writeLock.buffer }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
await once(checkpointer, 'message');
let tenant = await findTenant(store.db, 'bench');
tenant ??= await store.write((trx) => createTenant(trx, 'bench'));
const list = (await findListByName(store.db, tenant.id, 'Everyone')) ?? (await store.write((trx) => insertList(trx, tenant.id, { name: 'Everyone', description: null, optIn: 'single' }, Date.now())));
const started = performance.now();
const cpuBefore = process.cpuUsage();
let count = 0;
if (phase === 'import') {
  const job = await importContactsCsv(store, tenant.id, list.id, csv(Number(countText)));
  count = job.imported;
} else if (phase === 'expand') {
  const now = Date.now();
  const campaign = await store.write((trx) => insertCampaign(trx, {
    id: newPublicId('cmp', now), tenant_id: tenant.id, name: 'Bench', from_address: 'news@bench.example', from_name: 'Bench', reply_to: null,
    subject: 'Hello {{contact.name}}', html: '<p>Hello {{contact.name}} from {{contact.city}}</p><p><a href="https://bench.example/offer">Offer</a></p>',
    text: 'Hello {{contact.name}}', list_ids: JSON.stringify([list.id]), segment_id: null, stream: 'broadcast', status: 'sending',
    rate_per_minute: 1_000_000_000, send_at: null, send_window: null, track_opens: 1, track_clicks: 1, ab: null, created_at: now, updated_at: now,
  }));
  // Paced from a day ago: the budget is never the limit, the expansion is.
  await store.write((trx) => trx.updateTable('campaigns').set({ pace_start: now - 86_400_000, started_at: now }).where('id', '=', campaign.id).execute());
  const runner = createCampaignRunner({ config, store, log: pino({ level: 'silent' }), signer: new LinkSigner(Buffer.alloc(32, 7), 'https://links.bench.example') });
  for (;;) {
    await runner.tick();
    const row = await store.db.selectFrom('campaigns').select(['status', 'queued']).where('id', '=', campaign.id).executeTakeFirstOrThrow();
    count = row.queued;
    if (row.status !== 'sending') break;
  }
  await runner.stop();
} else {
  throw new Error(`unknown phase ${phase}`);
}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
const cpuMs = (cpu.user + cpu.system) / 1000;
clearInterval(sampler);
// VmHWM, the kernel's own high-water mark, catches a peak between two samples.
peak = Math.max(peak, process.memoryUsage.rss(), (await peakRssBytes(process.pid)) ?? 0);
checkpointer.postMessage('stop');
await once(checkpointer, 'exit');
await store.close();
if (process.env.BENCH_DEBUG) {
  (globalThis as { gc?: () => void }).gc?.();
  const mb = (u: NodeJS.MemoryUsage | null) => JSON.stringify(Object.fromEntries(Object.entries(u ?? {}).map(([k, v]) => [k, Math.round(v / 1048576)])));
  process.stderr.write((await import('node:fs')).readFileSync('/proc/self/status', 'utf8').split('\n').filter((l) => /^(VmHWM|RssAnon|RssFile)/.test(l)).join(' ') + '\n');
  process.stderr.write(`at the peak (MB): ${mb(peakUsage)}\nafter gc (MB): ${mb(process.memoryUsage())}\n`);
}
process.stdout.write(`${JSON.stringify({
  phase, count, ms: Math.round(ms), perS: Math.round((count / ms) * 1000), cpuMs: Math.round(cpuMs), cpuUsPerItem: count ? Math.round((cpuMs * 1000) / count) : 0, peakRssBytes: peak,
})}\n`);

// Command-line flags (and BENCH_* environment twins) for `npm run bench`. The defaults are the
// sizes the relay issue asks for; `--quick` is the slice CI can afford.
import { parseArgs } from 'node:util';
import type { ApiScenario } from './api.ts';

export const TARGETS = ['baseline', 'postfix', 'postline'] as const;
export type Target = (typeof TARGETS)[number];
/**
 * The relay table's rows: the targets, then Postline on PostgreSQL with one node and with two
 * nodes sharing one database (issue 7). These are the `target` values of the JSON results.
 */
export const RELAY_PATHS = [...TARGETS, 'postline-pg', 'postline-pg-2nodes'] as const;
export type RelayPath = (typeof RELAY_PATHS)[number];
/** Where Postline keeps its queue in the relay runs (`--backends`). */
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];
/**
 * `--only` also takes `api`: the HTTP API acceptance bench (bench/api.ts), and `contacts` (bench/contacts.ts); neither is a relay.
 * `relay` stands for all three relay targets.
 */
const ONLY_NAMES = [...TARGETS, 'relay', 'api', 'contacts'] as const;
/** The superuser login the PostgreSQL runs use to create (and drop) their own database. */
export const DEFAULT_PG_URL = 'postgres://postline:postline@127.0.0.1:5432/postgres';

/** One load shape: `messages` of `bytes` payload each (smtp-source -m and -l). */
export interface Scenario {
  readonly label: string;
  readonly messages: number;
  readonly bytes: number;
}

export interface BenchOptions {
  readonly targets: readonly Target[];
  readonly scenarios: readonly Scenario[];
  /** The API bench's runs (batch, then single); empty when `--only` leaves `api` out. */
  readonly apiScenarios: readonly ApiScenario[];
  /** Contacts imported and expanded by the contacts bench; 0 when `--only` leaves `contacts` out. */
  readonly contacts: number;
  /** Postline runs of the 1 KB load from an IP pool of this many loopback source addresses (issue 5); empty: none. */
  readonly sourceIps: readonly number[];
  /** Postline's backends for the relay runs; `postgres` adds the 1-node and 2-node rows when the server is reachable. */
  readonly backends: readonly Backend[];
  /** A PostgreSQL login allowed to CREATE DATABASE; each run makes `pl_bench_…` and drops it. */
  readonly pgUrl: string;
  /** Parallel SMTP sessions of smtp-source (-s); also the relays' concurrency towards the sink. */
  readonly sessions: number;
  /** Upper bound for one scenario, from the first connection until the sink has everything. */
  readonly timeoutMs: number;
  readonly quick: boolean;
  readonly profile: boolean;
  readonly write: boolean;
  readonly json: boolean;
  readonly keepTemp: boolean;
  readonly help: boolean;
}

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
}

export const USAGE = `Usage: npm run bench -- [options]

Relays smtp-source → (nothing | Postfix | Postline) → smtp-sink on 127.0.0.1 and prints
accepted/s and relayed/s for each. Then (target "api") sends through Postline's HTTP API, in
batches of 500 (our Node client) and one message a request (wrk, after a warm-up of a tenth,
at most 5,000, not counted), and prints accepted/s and p50/p99 latency. Needs Debian's
postfix (smtp-source, smtp-sink) and wrk packages.

Options (environment twin in brackets):
  --quick                 2,000 × 1 KB and 200 × 100 KB instead of 20,000 and 2,000 [BENCH_QUICK=1]
  --only LIST             comma list of ${ONLY_NAMES.join(', ')} (default: all; relay = the three relay
                          targets) [BENCH_ONLY]
  --backends LIST         Postline's relay rows on sqlite, postgres (default: both; postgres runs 1 node, then 2
                          nodes on one database, and is skipped with a note when the server is unreachable) [BENCH_BACKENDS]
  --pg-url URL            PostgreSQL login that may CREATE DATABASE (a fresh pl_bench_… per run, dropped after),
                          default ${DEFAULT_PG_URL} [BENCH_PG_URL]
  --small-count N         number of 1 KB messages [BENCH_SMALL_COUNT]
  --large-count N         number of 100 KB messages (0 skips the size) [BENCH_LARGE_COUNT]
  --sessions N            parallel smtp-source sessions, default 20 [BENCH_SESSIONS]
  --api-batch-count N     messages sent through /messages/batch, default 50,000 (quick 5,000) [BENCH_API_BATCH_COUNT]
  --api-single-count N    messages sent one a request, default 50,000 (quick 5,000) [BENCH_API_SINGLE_COUNT]
  --api-clients N         parallel clients for single sends, default 50 [BENCH_API_CLIENTS]
  --contacts-count N      contacts imported, then expanded into a campaign, default 1,000,000 (quick 100,000) [BENCH_CONTACTS_COUNT]
  --source-ips LIST       Postline again on the 1 KB load from a pool of N source IPs (127.0.0.2…), per N in the
                          comma list; default 1,4 with target postline; 0 skips [BENCH_SOURCE_IPS]
  --timeout SECONDS       limit per run, default 900 [BENCH_TIMEOUT]
  --profile               run Postline with --cpu-prof into bench/results/
  --write                 merge the results into BENCHMARKS.md
  --json                  print the results as JSON instead of a table
  --keep-temp             keep the temporary directories (queues, logs) for inspection
  -h, --help              this text
`;

function positiveInt(name: string, text: string | undefined, fallback: number, allowZero = false): number {
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text) || (!allowZero && Number(text) === 0)) {
    throw new BenchUsageError(`${name}: expected a whole number${allowZero ? '' : ' above 0'}, got "${text}"`);
  }
  return Number(text);
}

function parseOnly(text: string | undefined): { targets: Target[]; api: boolean; contacts: boolean } {
  if (!text) return { targets: [...TARGETS], api: true, contacts: true };
  const picked = text.split(',').map((s) => s.trim()).filter(Boolean).flatMap((name) => (name === 'relay' ? [...TARGETS] : [name]));
  for (const name of picked) {
    if (!(ONLY_NAMES as readonly string[]).includes(name)) {
      throw new BenchUsageError(`--only: unknown target "${name}" (expected ${ONLY_NAMES.join(', ')})`);
    }
  }
  // Keep the canonical order so the table always reads baseline → Postfix → Postline.
  return { targets: TARGETS.filter((t) => picked.includes(t)), api: picked.includes('api'), contacts: picked.includes('contacts') };
}

/** Parses argv (without node and script) and env. Throws BenchUsageError on a bad value. */
export function parseBenchArgs(argv: string[], env: Record<string, string | undefined>): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      'small-count': { type: 'string' },
      'large-count': { type: 'string' },
      sessions: { type: 'string' },
      'api-batch-count': { type: 'string' },
      'api-single-count': { type: 'string' },
      'api-clients': { type: 'string' },
      'contacts-count': { type: 'string' },
      'source-ips': { type: 'string' },
      backends: { type: 'string' },
      'pg-url': { type: 'string' },
      timeout: { type: 'string' },
      profile: { type: 'boolean' },
      write: { type: 'boolean' },
      json: { type: 'boolean' },
      'keep-temp': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const quick = values.quick ?? /^(1|true|yes)$/i.test(env.BENCH_QUICK ?? '');
  const small = positiveInt('--small-count', values['small-count'] ?? env.BENCH_SMALL_COUNT, quick ? 2_000 : 20_000);
  const large = positiveInt('--large-count', values['large-count'] ?? env.BENCH_LARGE_COUNT, quick ? 200 : 2_000, true);
  const scenarios: Scenario[] = [{ label: '1 KB', messages: small, bytes: 1024 }];
  if (large > 0) scenarios.push({ label: '100 KB', messages: large, bytes: 100 * 1024 });
  const only = parseOnly(values.only ?? env.BENCH_ONLY);
  const backends = parseBackends(values.backends ?? env.BENCH_BACKENDS);
  const apiBatch = positiveInt('--api-batch-count', values['api-batch-count'] ?? env.BENCH_API_BATCH_COUNT, quick ? 5_000 : 50_000, true);
  const apiSingle = positiveInt('--api-single-count', values['api-single-count'] ?? env.BENCH_API_SINGLE_COUNT, quick ? 5_000 : 50_000, true);
  const apiClients = positiveInt('--api-clients', values['api-clients'] ?? env.BENCH_API_CLIENTS, 50);
  const apiScenarios: ApiScenario[] = [];
  if (only.api && apiBatch > 0) apiScenarios.push({ mode: 'batch', messages: apiBatch, clients: 4, perRequest: 500 });
  if (only.api && apiSingle > 0) apiScenarios.push({ mode: 'single', messages: apiSingle, clients: apiClients, perRequest: 1 });
  return {
    targets: only.targets,
    scenarios: only.targets.length > 0 ? scenarios : [],
    apiScenarios,
    contacts: only.contacts ? positiveInt('--contacts-count', values['contacts-count'] ?? env.BENCH_CONTACTS_COUNT, quick ? 100_000 : 1_000_000, true) : 0,
    // The source-IP runs compare with the SQLite row, so they need it.
    sourceIps: only.targets.includes('postline') && backends.includes('sqlite') ? sourceIpCounts(values['source-ips'] ?? env.BENCH_SOURCE_IPS) : [],
    backends,
    pgUrl: values['pg-url'] ?? env.BENCH_PG_URL ?? DEFAULT_PG_URL,
    sessions: positiveInt('--sessions', values.sessions ?? env.BENCH_SESSIONS, 20),
    timeoutMs: positiveInt('--timeout', values.timeout ?? env.BENCH_TIMEOUT, 900) * 1000,
    quick,
    profile: values.profile ?? false,
    write: values.write ?? false,
    json: values.json ?? false,
    keepTemp: values['keep-temp'] ?? false,
    help: values.help ?? false,
  };
}

/** `--source-ips 1,4`: pool sizes to relay from (at most 8: 127.0.0.2 … 127.0.0.9); `0` none. */
function sourceIpCounts(text: string | undefined): number[] {
  if (text === undefined || text === '') return [1, 4];
  const counts = text.split(',').map((t) => positiveInt('--source-ips', t.trim(), 0, true)).filter((n) => n > 0);
  if (counts.some((n) => n > 8)) throw new BenchUsageError('--source-ips: at most 8 (127.0.0.2 … 127.0.0.9)');
  return counts;
}

/** `--backends sqlite,postgres`: which stores Postline's relay rows use; default both. */
function parseBackends(text: string | undefined): Backend[] {
  if (text === undefined || text === '') return [...BACKENDS];
  const picked = text.split(',').map((t) => t.trim()).filter(Boolean);
  for (const name of picked) {
    if (!(BACKENDS as readonly string[]).includes(name)) throw new BenchUsageError(`--backends: unknown backend "${name}" (expected ${BACKENDS.join(', ')})`);
  }
  if (picked.length === 0) throw new BenchUsageError('--backends: name at least one of sqlite, postgres');
  return BACKENDS.filter((b) => picked.includes(b));
}

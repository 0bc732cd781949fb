// `npm test`: the whole suite on each backend, SQLite first, then PostgreSQL (issue 7: the
// backend-independent tests are parameterised by POSTLINE_TEST_BACKEND, not duplicated).
// Files that test one backend itself say `// backend: sqlite-only` (WAL, disk full…) or
// `// backend: postgres-only` (several nodes on one database) in their first lines and run
// in that pass only. For the PostgreSQL pass this script makes sure a server is there: it uses
// POSTLINE_TEST_PG_URL when set, else a local cluster on 127.0.0.1:5432 that it starts
// (`pg_ctlcluster 15 main start`) and gives a `postline` role when it runs as root. Then it
// migrates a template database that every test's own database is copied from.
//
//   npm test                                   both passes
//   POSTLINE_TEST_BACKENDS=sqlite npm test     one pass
//   npm test -- test/store/*.test.ts           some files, both passes
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import pg from 'pg';
import { openStore } from '../src/store/index.ts';
import { PG_ADMIN_URL, PG_TEMPLATE_PREFIX, PG_TEST_PREFIX } from '../test/helpers/backend.ts';

const root = resolve(import.meta.dirname, '..');
// This run's id on the PostgreSQL cluster (test/helpers/backend.ts): its template and the
// databases its tests make carry it, so a run never drops another live run's databases.
const RUN = String(process.pid);
const PG_TEMPLATE = `${PG_TEMPLATE_PREFIX}_${RUN}`;
const backends = (process.env.POSTLINE_TEST_BACKENDS ?? 'sqlite,postgres').split(',').map((b) => b.trim()).filter(Boolean);
const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

/** `// backend: sqlite-only` or `// backend: postgres-only` in a file's first lines, else null. */
function onlyBackend(file: string): string | null {
  return /^\/\/ backend: (sqlite|postgres)-only/m.exec(readFileSync(join(root, file), 'utf8').slice(0, 2000))?.[1] ?? null;
}

function sh(cmd: string, cmdArgs: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, cmdArgs, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

async function canConnect(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The process whose run made a test database: `pl_t_<run>_<pid>_<hex>`, `postline_test_template_<run>`; older names: `pl_t_<pid>_<hex>`. */
function ownerOf(datname: string): number | null {
  const template = new RegExp(`^${PG_TEMPLATE_PREFIX}_(\\d+)$`).exec(datname);
  if (template) return Number(template[1]);
  // The first number after the prefix is the run (or, in older names, the test process).
  const owner = datname.startsWith(PG_TEST_PREFIX) ? /^(\d+)_/.exec(datname.slice(PG_TEST_PREFIX.length)) : null;
  return owner ? Number(owner[1]) : null;
}

function isLive(pid: number | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Drops this run's template and the databases its tests left (best effort). */
async function dropOwnDatabases(): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE '${PG_TEST_PREFIX}${RUN}\\_%' OR datname = '${PG_TEMPLATE}'`);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  } catch {
    // The next run drops what is left once this process is gone.
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function preparePostgres(): Promise<void> {
  let problem = await canConnect(PG_ADMIN_URL);
  if (problem && !process.env.POSTLINE_TEST_PG_URL && process.getuid?.() === 0) {
    console.error(`# PostgreSQL not reachable (${problem}); starting the local cluster`);
    sh('pg_ctlcluster', ['15', 'main', 'start']);
    const { password, username } = new URL(PG_ADMIN_URL);
    sh('su', ['postgres', '-c', `psql -qc "DO \\$\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${username}') THEN CREATE ROLE ${username} LOGIN SUPERUSER PASSWORD '${password}'; END IF; END \\$\\$"`]);
    for (let i = 0; i < 30 && (problem = await canConnect(PG_ADMIN_URL)); i++) await new Promise((r) => setTimeout(r, 500));
  }
  if (problem) {
    console.error(`# The PostgreSQL pass needs a server: ${problem}.\n# Install and start one (apt-get install -y postgresql; pg_ctlcluster 15 main start) or point POSTLINE_TEST_PG_URL at one,\n# or run only the SQLite pass: POSTLINE_TEST_BACKENDS=sqlite npm test`);
    process.exit(1);
  }
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  // Leftovers of runs that have ended (crashed, killed); a live run's databases stay.
  const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE '${PG_TEST_PREFIX}%' OR datname LIKE '${PG_TEMPLATE_PREFIX}%'`);
  for (const { datname } of rows) if (!isLive(ownerOf(datname)) || datname === PG_TEMPLATE) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${PG_TEMPLATE}`);
  await admin.end();
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${PG_TEMPLATE}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'postline-template-'));
  const store = await openStore({ dataDir, databaseUrl: u.toString() });
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const all = files.length ? files : testFiles(join(root, 'test'));
let failed = false;
for (const backend of backends) {
  if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`unknown backend ${backend}`);
  const chosen = all.filter((f) => (onlyBackend(f) ?? backend) === backend);
  if (backend === 'postgres') await preparePostgres();
  console.error(`# ${backend}: ${chosen.length} test files`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=600000', ...flags, ...chosen], {
    cwd: root, stdio: 'inherit', env: { ...process.env, POSTLINE_TEST_BACKEND: backend, POSTLINE_TEST_PG_RUN: RUN },
  });
  if (backend === 'postgres') await dropOwnDatabases();
  if (r.status !== 0) {
    failed = true;
    console.error(`# ${backend}: FAILED (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed ? 1 : 0);

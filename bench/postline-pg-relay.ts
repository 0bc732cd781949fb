// Postline on PostgreSQL as the relay under test (issue 7): one node, or several `postline start`
// processes with their own data dirs sharing one fresh database, the way docs/scaling.md runs a
// cluster. The nodes share POSTLINE_SECRET_KEY (the DKIM key `domain add` stores is encrypted
// with it) and POSTLINE_ADMIN_TOKEN; each has its own node_id, SMTP port and delivery workers,
// which claim recipients from the shared queue (FOR UPDATE SKIP LOCKED).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createBenchDatabase, type BenchDatabase } from './postgres-db.ts';
import { startPostlineRelay } from './postline-relay.ts';
import type { Relay } from './relay.ts';

export interface PostlinePgRelayOptions {
  readonly root: string;
  /** Parent of the nodes' data dirs (node-1, node-2 …). */
  readonly dir: string;
  readonly sinkPort: number;
  /** smtp-source's sessions: split over the nodes, as is the parallelism towards the sink. */
  readonly concurrency: number;
  readonly nodes: number;
  /** A login that may CREATE DATABASE. */
  readonly pgUrl: string;
  readonly profileDir: string | null;
}

/** Creates the database and starts the nodes one after the other (the first migrates). Throws BenchSetupError. */
export async function startPostlinePgRelay(options: PostlinePgRelayOptions): Promise<Relay> {
  const db: BenchDatabase = await createBenchDatabase(options.pgUrl);
  const shared = {
    POSTLINE_DATABASE_URL: db.url,
    POSTLINE_SECRET_KEY: randomBytes(32).toString('base64'),
    POSTLINE_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
  };
  // The same total parallelism towards the sink as the one-process rows, shared by the nodes.
  const perNode = Math.max(1, Math.ceil(options.concurrency / options.nodes));
  const nodes: Relay[] = [];
  const stopAll = async () => {
    for (const node of [...nodes].reverse()) await node.stop();
    await db.drop();
  };
  try {
    for (let i = 1; i <= options.nodes; i++) {
      nodes.push(await startPostlineRelay({
        root: options.root, dataDir: join(options.dir, `node-${i}`), sinkPort: options.sinkPort, concurrency: perNode,
        profileDir: options.profileDir, setup: i === 1, env: { ...shared, POSTLINE_NODE_ID: `bench-${i}` },
      }));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  let stopped: Promise<void> | null = null;
  return {
    name: 'postline',
    port: nodes[0].port,
    pid: nodes[0].pid,
    ports: nodes.map((n) => n.port),
    pids: nodes.map((n) => n.pid),
    databaseCpuMs: () => db.backendCpuMs(),
    // The sum of each node's own peak (VmHWM): an upper bound, as the peaks need not coincide.
    async peakRssBytes() {
      const peaks = await Promise.all(nodes.map((n) => n.peakRssBytes()));
      return peaks.some((p) => p === null) ? null : peaks.reduce((a: number, b) => a + (b ?? 0), 0);
    },
    async logTail() {
      const tails = await Promise.all(nodes.map(async (n, i) => `[node ${i + 1}]\n${await n.logTail()}`));
      return tails.join('\n');
    },
    stop: () => (stopped ??= stopAll()),
    stopNow: () => {
      for (const n of nodes) n.stopNow();
    },
  };
}

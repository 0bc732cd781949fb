// Postfix's smtp-source as the load generator: `-m count -s sessions -l bytes`, a new
// connection per message (its default, no -d), and with -c a running count of completed DATA
// commands on stdout. It exits non-zero at the first reply it did not expect.
import { spawn } from 'node:child_process';
import { HOST } from './net.ts';
import { waitForExit } from './smtp-sink.ts';

export interface SourceRun {
  /** Messages whose DATA completed (the relay said 250 to "."), as smtp-source counted them. */
  sent(): number;
  /** Resolves when smtp-source exits: the epoch ms of its exit, its exit code and the end of its stderr. */
  readonly done: Promise<{ at: number; code: number | null; stderr: string }>;
  kill(): Promise<void>;
}

export interface SourceOptions {
  readonly port: number;
  readonly messages: number;
  readonly bytes: number;
  readonly sessions: number;
}

export const ENVELOPE_SENDER = 'bench@bench.example';
export const RECIPIENT = 'rcpt@sink.example';

export function startSource(bin: string, options: SourceOptions): SourceRun {
  const args = [
    '-c', // counter, parsed below
    '-m', String(options.messages),
    '-s', String(options.sessions),
    '-l', String(options.bytes), // payload bytes, headers not included
    '-N', // 1rcpt@, 2rcpt@ … so each message has its own recipient, as real traffic does
    '-f', ENVELOPE_SENDER, // also becomes the "From: <…>" header smtp-source writes
    '-t', RECIPIENT,
    '-M', 'bench.example', // HELO name and Message-Id domain
    `${HOST}:${options.port}`,
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let sent = 0;
  let stderr = '';
  // smtp-source -c prints the bare number of completed messages, one per \r.
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('latin1')).split(/[\r\n]/);
    partial = parts.pop() ?? '';
    for (const part of parts) if (/^\d+$/.test(part.trim())) sent = Number(part.trim());
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const done = new Promise<{ at: number; code: number | null; stderr: string }>((resolve) => {
    child.once('close', (code) => {
      if (/^\d+$/.test(partial.trim())) sent = Number(partial.trim());
      resolve({ at: Date.now(), code, stderr: stderr.trim() });
    });
    child.once('error', (err) => resolve({ at: Date.now(), code: -1, stderr: err.message }));
  });
  return {
    sent: () => sent,
    done,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!(await waitForExit(child, 3000))) child.kill('SIGKILL');
    },
  };
}

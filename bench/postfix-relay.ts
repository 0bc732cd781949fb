// A private Postfix instance configured as a plain relay: durable queue (Postfix's own, fsynced
// by cleanup), everything from 127.0.0.0/8 relayed to the sink via relayhost, no local
// delivery, no chroot, process and concurrency limits high enough that they are not what we
// measure. `postfix -c DIR` keeps it apart from the system's /etc/postfix instance: its own
// queue_directory, data_directory, pid file and log live under the benchmark's temp dir.
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { HOST, freePort, waitForPort } from './net.ts';
import type { Relay } from './relay.ts';
import { BenchSetupError } from './tools.ts';

const run = promisify(execFile);

export interface PostfixRelayOptions {
  readonly postfixBin: string;
  /** An empty directory owned by us; etc/, queue/, data/ and maillog go inside. */
  readonly dir: string;
  readonly sinkPort: number;
  /** Parallel deliveries to the sink; the bench uses its session count. */
  readonly concurrency: number;
}

export function postfixMainCf(dir: string, sinkPort: number, concurrency: number): string {
  return `# Written by bench/postfix-relay.ts for one benchmark run.
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.bench.test
mydomain = bench.test
myorigin = $myhostname
inet_interfaces = ${HOST}
inet_protocols = ipv4
# Relay only: nothing is local, everything from loopback goes to the sink.
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled in the benchmark
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [${HOST}]:${sinkPort}
# No reverse DNS of 127.0.0.1 and no TLS: the sink offers none, and Postline's side has none either.
smtpd_peername_lookup = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
# Limits that must not be what the benchmark measures.
default_process_limit = 200
default_destination_concurrency_limit = ${concurrency}
smtp_destination_concurrency_limit = ${concurrency}
initial_destination_concurrency = ${concurrency}
smtpd_client_connection_count_limit = 0
# Log to a file under the temp dir (there may be no syslog); postlogd writes it.
maillog_file_prefixes = ${dir}
maillog_file = ${dir}/maillog
biff = no
`;
}

export function postfixMasterCf(port: number): string {
  // service type private unpriv chroot wakeup maxproc command; chroot is off everywhere.
  return `# Written by bench/postfix-relay.ts for one benchmark run.
${HOST}:${port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`;
}

async function postfixUid(): Promise<number> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('postfix:'));
  const uid = line ? Number(line.split(':')[2]) : NaN;
  if (!Number.isInteger(uid)) {
    throw new BenchSetupError('BENCH_POSTFIX_USER', 'no "postfix" user in /etc/passwd; reinstall the postfix package');
  }
  return uid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the private instance and waits until its smtpd listens. Throws BenchSetupError with the log. */
export async function startPostfixRelay(options: PostfixRelayOptions): Promise<Relay> {
  const { dir, postfixBin } = options;
  const etc = join(dir, 'etc');
  const port = await freePort();
  await mkdir(etc, { recursive: true });
  await mkdir(join(dir, 'queue'), { recursive: true });
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(etc, 'main.cf'), postfixMainCf(dir, options.sinkPort, options.concurrency));
  await writeFile(join(etc, 'master.cf'), postfixMasterCf(port));
  // master opens data/master.lock as the postfix user; postfix-script creates the queue tree.
  await chown(join(dir, 'data'), await postfixUid(), -1);

  const logTail = async () => {
    try {
      return (await readFile(join(dir, 'maillog'), 'utf8')).split('\n').slice(-30).join('\n');
    } catch {
      return '(no maillog)';
    }
  };
  let masterPid = 0;
  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    try {
      execFileSync(postfixBin, ['-c', etc, 'abort'], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Already gone, or postfix refused: fall through to the signal.
    }
    if (masterPid && alive(masterPid)) process.kill(masterPid, 'SIGKILL');
  };
  const stop = async () => {
    if (stopped) return;
    try {
      await run(postfixBin, ['-c', etc, 'stop'], { timeout: 60_000 });
    } catch {
      // Checked below.
    }
    for (let i = 0; i < 100 && masterPid && alive(masterPid); i++) await sleep(100);
    stopNow();
  };

  try {
    await run(postfixBin, ['-c', etc, 'start'], { timeout: 60_000 });
    masterPid = Number((await readFile(join(dir, 'queue', 'pid', 'master.pid'), 'utf8')).trim());
    if (!(await waitForPort(port, 15_000))) throw new Error(`smtpd is not listening on ${HOST}:${port}`);
  } catch (err) {
    const tail = await logTail();
    await stop();
    throw new BenchSetupError('BENCH_POSTFIX_START', `Postfix relay did not start: ${(err as Error).message}\n${tail}`);
  }
  return { name: 'postfix', port, pid: masterPid, peakRssBytes: async () => null, logTail, stop, stopNow };
}

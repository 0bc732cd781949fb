// Finds the Postfix programs the benchmark drives. smtp-source and smtp-sink ship in Debian's
// `postfix` package under /usr/sbin, which is often not on a normal user's PATH.
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Target } from './args.ts';

export interface PostfixTools {
  readonly smtpSource: string;
  readonly smtpSink: string;
  /** `postfix` and `postconf`; only needed when the Postfix relay runs. */
  readonly postfix: string | null;
  readonly postconf: string | null;
}

export class BenchSetupError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'BenchSetupError';
    this.code = code;
  }
}

export const INSTALL_HINT =
  'Install Debian\'s postfix package, which provides smtp-source and smtp-sink in /usr/sbin:\n' +
  '  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix\n' +
  '(the benchmark runs its own Postfix instance from a temporary directory and never touches /etc/postfix).';

export async function findProgram(name: string): Promise<string | null> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return null;
}

/** Locates the programs the chosen targets need. Throws BenchSetupError with an install hint. */
export async function findPostfixTools(targets: readonly Target[]): Promise<PostfixTools> {
  const [smtpSource, smtpSink, postfix, postconf] = await Promise.all(
    ['smtp-source', 'smtp-sink', 'postfix', 'postconf'].map(findProgram),
  );
  const needsPostfix = targets.includes('postfix');
  const missing = [
    ...(smtpSource ? [] : ['smtp-source']),
    ...(smtpSink ? [] : ['smtp-sink']),
    ...(needsPostfix && !postfix ? ['postfix'] : []),
    ...(needsPostfix && !postconf ? ['postconf'] : []),
  ];
  if (missing.length > 0 || !smtpSource || !smtpSink) {
    throw new BenchSetupError('BENCH_TOOLS_MISSING', `missing ${missing.join(', ')}.\n${INSTALL_HINT}`);
  }
  if (needsPostfix && process.getuid?.() !== 0) {
    throw new BenchSetupError(
      'BENCH_NEEDS_ROOT',
      'the Postfix relay needs root (its master process starts as root and drops to the postfix user);\n' +
        'run as root, or leave it out with --only baseline,postline',
    );
  }
  return { smtpSource, smtpSink, postfix, postconf };
}

// `npm start` and `npm test` run this first: it builds the dashboard (web/ → web/dist) when
// web/dist is missing or older than any file it is built from, and does nothing otherwise
// (a few stat calls). Without Vite (npm ci --omit=dev) it says so and carries on: the API
// works without the UI, and / then answers a page saying how to build it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const web = join(root, 'web');
const built = join(web, 'dist', 'index.html');

/** Newest modification time (ms) of a file or of every file under a directory. */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const name of readdirSync(path)) max = Math.max(max, newest(join(path, name)));
  return max;
}

const sources = Math.max(newest(join(web, 'src')), newest(join(web, 'index.html')), newest(join(web, 'vite.config.ts')));
const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
if (builtAt >= sources) process.exit(0);

const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
if (!existsSync(vite)) {
  process.stderr.write('postline: the dashboard is not built and Vite is not installed (npm install, then npm run build:ui); starting without it\n');
  process.exit(0);
}
process.stderr.write(`postline: building the dashboard (web/dist ${builtAt ? 'is older than web/src' : 'is missing'})\n`);
const r = spawnSync(process.execPath, [vite, 'build', '--config', join(web, 'vite.config.ts'), '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);

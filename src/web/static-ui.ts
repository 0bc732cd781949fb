// Serves the built dashboard (web/dist, `npm run build:ui`) from the HTTP listener: `/` and
// every client-side route get index.html (SPA fallback), files under it are served as they
// are. The files are read once at start-up (a few hundred KB) with their gzip form, so a
// request never touches the disk. API paths are never answered with the page: an unknown
// /api/… GET stays a 404 problem.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

const gzipAsync = promisify(gzip);

/** Where `vite build` writes the dashboard. */
export const WEB_DIST_DIR = resolve(import.meta.dirname, '../../web/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The dashboard's Content-Security-Policy: scripts and styles only from this origin (inline
 * style attributes allowed for React), no plugins, not framed by other sites. Message previews
 * are srcdoc iframes, which inherit this policy and add their own stricter one
 * (web/src/components/html-preview.tsx): remote images are allowed here only so that a
 * preview the user asked to load with remote content can show them.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: https: http:",
  "font-src 'self' data:", "connect-src 'self'", "frame-src 'self'", "object-src 'none'", "base-uri 'none'",
  "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  readonly body: Buffer;
  readonly gzipped: Buffer | null;
  readonly type: string;
  readonly etag: string;
  /** Vite's hashed assets never change under the same name. */
  readonly immutable: boolean;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await listFiles(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

async function loadDist(dir: string): Promise<Map<string, StaticFile> | null> {
  let names: string[];
  try {
    names = await listFiles(dir);
  } catch {
    return null;
  }
  const files = new Map<string, StaticFile>();
  for (const full of names) {
    const urlPath = `/${relative(dir, full).split(sep).join('/')}`;
    const body = await readFile(full);
    const ext = urlPath.slice(urlPath.lastIndexOf('.'));
    const type = TYPES[ext] ?? 'application/octet-stream';
    const compressible = /^(text\/|image\/svg|application\/json)/.test(type) && body.length > 512;
    files.set(urlPath, {
      body, type, gzipped: compressible ? await gzipAsync(body, { level: 9 }) : null,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: urlPath.startsWith('/assets/'),
    });
  }
  return files.has('/index.html') ? files : null;
}

const NOT_BUILT = '<!doctype html><html lang="en"><meta charset="utf-8"><title>Postline</title>'
  + '<body><h1>Postline</h1><p>The dashboard is not built. Run <code>npm run build:ui</code> (or <code>npm start</code>, which builds it) and restart.</p>'
  + '<p>The API is at <a href="/api/docs">/api/docs</a>.</p></body></html>';

/** Paths that belong to the API and the operations endpoints: never answered with the page. */
function isServerPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/healthz' || path === '/readyz' || path === '/metrics';
}

function send(request: FastifyRequest, reply: FastifyReply, file: StaticFile): FastifyReply {
  reply.header('etag', file.etag).header('x-content-type-options', 'nosniff')
    .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (file.type.startsWith('text/html')) {
    reply.header('content-security-policy', DASHBOARD_CSP).header('referrer-policy', 'same-origin').header('x-frame-options', 'DENY');
  }
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  reply.type(file.type);
  const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  if (file.gzipped && acceptsGzip) return reply.header('content-encoding', 'gzip').header('vary', 'accept-encoding').send(file.gzipped);
  return reply.send(file.body);
}

export interface WebUiOptions {
  /** The built dashboard; default web/dist of this checkout. */
  readonly distDir?: string;
  /** Answers an API-looking path that matched the fallback (the API's own not-found problem). */
  readonly notFound: (request: FastifyRequest, reply: FastifyReply) => FastifyReply;
}

/** Registers `GET /`, the built files, and the client-side routes' fallback to index.html. */
export const webUiPlugin: FastifyPluginAsync<WebUiOptions> = async (app, options) => {
  const files = await loadDist(options.distDir ?? WEB_DIST_DIR);
  if (!files) app.log.warn({ dir: options.distDir ?? WEB_DIST_DIR }, 'the dashboard is not built (npm run build:ui); / answers a page saying so');
  const index = files?.get('/index.html') ?? null;
  const page = (request: FastifyRequest, reply: FastifyReply) => {
    if (index) return send(request, reply, index);
    return reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(NOT_BUILT);
  };
  const hide = { schema: { hide: true } };
  app.get('/', hide, async (request, reply) => page(request, reply));
  for (const [path, file] of files ?? []) {
    if (path !== '/index.html') app.get(path, hide, async (request, reply) => send(request, reply, file));
  }
  // Client-side routes (/messages/01J…, /domains): any other GET without a file extension.
  app.get('/*', hide, async (request, reply) => {
    const path = request.url.split('?')[0];
    if (isServerPath(path) || /\.[A-Za-z0-9]+$/.test(path)) return options.notFound(request, reply);
    return page(request, reply);
  });
};

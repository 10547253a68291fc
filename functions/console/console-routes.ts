/**
 * Serves the web console: its page at `/`, its modules and style sheet under `/console/`. They are plain files in
 * `web/` (browser ES modules, type-checked and linted with the rest), read once when this module loads: a fixed
 * set, so no request path ever reaches the file system. The API Lambda's bundle carries the directory beside its
 * code (infra/gateway-function.ts `besideBundle`), at the same place relative to the module that reads it.
 * The CSP allows only our own scripts and style sheets and same-origin API calls, so a value that ever slipped
 * into the page as markup still could not run or restyle it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';

const WEB = new URL('./web/', import.meta.url);
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const PAGE = 'index.html';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const files = new Map(
  readdirSync(WEB)
    .filter((name) => CONTENT_TYPES[extname(name)] !== undefined)
    .map((name) => [name, { body: readFileSync(new URL(name, WEB), 'utf8'), type: CONTENT_TYPES[extname(name)]! }]),
);

export function mountConsole(app: OpenAPIHono): void {
  const serve = (name: string) => {
    const file = files.get(name);
    if (!file) return undefined;
    return new Response(file.body, { headers: { ...SECURITY_HEADERS, 'content-type': file.type } });
  };
  app.get('/', () => serve(PAGE)!);
  app.get(
    '/console/:file',
    (c) => (c.req.param('file') === PAGE ? undefined : serve(c.req.param('file'))) ?? c.notFound(),
  );
}

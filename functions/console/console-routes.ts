/**
 * Serves the web console at `/`. Page and script are constants (nothing is read from disk, so the Lambda bundle
 * needs no assets); the CSP allows only our own script and same-origin API calls, so a value that ever slipped
 * into the page as markup still could not run.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { CONSOLE_HTML } from './console-page.ts';
import { CONSOLE_SCRIPT } from './console-script.ts';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function mountConsole(app: OpenAPIHono): void {
  app.get('/', (c) => c.body(CONSOLE_HTML, 200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' }));
  app.get('/console/app.js', (c) =>
    c.body(CONSOLE_SCRIPT, 200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' }),
  );
}

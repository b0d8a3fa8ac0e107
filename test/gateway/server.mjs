// test/gateway/server.mjs: PostGraphile 4 as a deployment runs it in front of
// commerce (docs/api.md, "PostGraphile"): the commerce_api schema with the
// extension's objects included, tokens verified with the JWT secret (role
// claim -> SET ROLE commerce_<kind>, every claim -> jwt.claims.*), requests
// without a token as commerce_anonymous (pgSettings), SQLSTATE, DETAIL and HINT in every
// error, and the client headers the API judges by passed on as
// request.headers (what PostgREST sets by itself). It also serves the HQ
// console (src/console/) at /console/, beside the API it calls.
// Env: DATABASE_URL (the gateway's login role), JWT_SECRET, PORT (0 or unset: any free port).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgraphile } from 'postgraphile';

const CONSOLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/console');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

const HEADERS = ['x-forwarded-for', 'x-real-ip', 'x-device-id', 'user-agent', 'x-tenant-id'];
const app = postgraphile(process.env.DATABASE_URL, 'commerce_api', {
  includeExtensionResources: true,
  jwtSecret: process.env.JWT_SECRET,
  extendedErrors: ['errcode', 'detail', 'hint'],
  dynamicJson: true,
  setofFunctionsContainNulls: false,
  legacyRelations: 'omit',
  disableQueryLog: true,
  graphiql: false,
  enableCors: true,
  // (pgSettings replaces pgDefaultRole: a request without a token is anonymous; a token's role claim
  // is its role, so no role is returned for it)
  pgSettings: (req) => ({
    ...(req.headers.authorization ? {} : { role: 'commerce_anonymous' }),
    'request.headers': JSON.stringify(Object.fromEntries(HEADERS.filter((h) => req.headers[h]).map((h) => [h, req.headers[h]]))),
  }),
});
// /console/<file>: a file of src/console (nothing outside it); everything else is the API
function console_file(req, res) {
  const name = decodeURIComponent(new URL(req.url, 'http://x').pathname.slice('/console/'.length)) || 'index.html';
  const file = path.resolve(CONSOLE, name);
  if (!file.startsWith(CONSOLE + path.sep) || !TYPES[path.extname(file)] || !fs.existsSync(file)) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)], 'cache-control': 'no-store' });
  fs.createReadStream(file).pipe(res);
}
const server = http.createServer((req, res) => (req.url.startsWith('/console/') ? console_file(req, res) : app(req, res)));
// PORT 0: any free port; the port taken is printed for the test to read
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => console.log(`postgraphile listening on ${server.address().port}`));

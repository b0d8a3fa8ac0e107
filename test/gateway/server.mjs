// test/gateway/server.mjs: PostGraphile 4 as a deployment runs it in front of
// commerce (docs/api.md, "PostGraphile"): the commerce_api schema with the
// extension's objects included, tokens verified with the JWT secret (role
// claim -> SET ROLE commerce_<kind>, every claim -> jwt.claims.*), requests
// without a token as commerce_anonymous (pgSettings), SQLSTATE, DETAIL and HINT in every
// error, and the client headers the API judges by passed on as
// request.headers (what PostgREST sets by itself).
// Env: DATABASE_URL (the gateway's login role), JWT_SECRET, PORT (0 or unset: any free port).
import http from 'node:http';
import { postgraphile } from 'postgraphile';

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
const server = http.createServer(app);
// PORT 0: any free port; the port taken is printed for the test to read
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => console.log(`postgraphile listening on ${server.address().port}`));

// test/gateway/lib/gql.mjs: what the gateway suites share: TAP output, HS256
// tokens as an identity provider would sign them, a GraphQL client, and psql
// for the database-side steps (jobs, workers) a deployment runs outside the API.
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';

let n = 0, failed = 0;
export function ok(cond, name, diag) {
  n += 1;
  if (cond) { console.log(`ok ${n} - ${name}`); return true; }
  failed += 1;
  console.log(`not ok ${n} - ${name}`);
  if (diag !== undefined) console.log(String(typeof diag === 'string' ? diag : JSON.stringify(diag)).replace(/^/gm, '# '));
  return false;
}
let last = null;   // the last response, shown when a check of it fails
export function is(got, want, name) {
  return ok(JSON.stringify(got) === JSON.stringify(want), name,
            `got:  ${JSON.stringify(got)}\nwant: ${JSON.stringify(want)}${last && last.errors ? `\nerrors: ${JSON.stringify(last.errors)}` : ''}`);
}
export function done() { console.log(`1..${n}`); process.exitCode = failed ? 1 : 0; }

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
// A token for an actor: role commerce_<kind>, tenant_id, sub; signed with the gateway's secret.
export function token(secret, kind, tenant, sub, audience = 'postgraphile') {
  const claims = { aud: audience, role: `commerce_${kind}`, tenant_id: String(tenant), exp: Math.floor(Date.now() / 1000) + 3600 };
  if (sub) claims.sub = sub;
  const h = b64({ alg: 'HS256', typ: 'JWT' }), p = b64(claims);
  return `${h}.${p}.${crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`;
}

// POST a GraphQL document; returns {status, data, errors}.
export async function gql(url, tok, query, variables = {}, headers = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  last = { status: r.status, data: body.data, errors: body.errors };
  return last;
}

// One value from the database as the superuser (the jobs and workers of a deployment).
export function psql(sql) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
}

#!/usr/bin/env bash
# test/gateway/postgraphile.sh: the GraphQL suite. Installs the pinned npm
# packages (test/gateway/package-lock.json; Node.js and npm from Debian when
# missing and run as root), provisions the shop of fixture.sql, starts
# PostGraphile 4 as server.mjs configures it, logged in as the gateway role
# gw_auth, and runs graphql_flows.mjs against it (TAP).
set -euo pipefail
DIR="$(cd "$(dirname "$0")" && pwd)"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
bail() { echo "not ok 1 - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; echo "1..1"; exit 1; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        { apt-get update -q && apt-get install -y -q nodejs npm; } >/tmp/commerce-node-apt.log 2>&1 || bail "install nodejs and npm" /tmp/commerce-node-apt.log
    else
        bail "Node.js and npm are needed (apt-get install nodejs npm)"
    fi
fi
if [ ! -f "$DIR/node_modules/.package-lock.json" ] || [ "$DIR/package-lock.json" -nt "$DIR/node_modules/.package-lock.json" ]; then
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >"$DIR/npm.log" 2>&1) || bail "npm ci (PostGraphile 4.14.1)" "$DIR/npm.log"
fi

DB=gw_graphql
dropdb --if-exists "$DB" >/dev/null 2>&1 || true
createdb "$DB"
export PGDATABASE="$DB"
psql -X -q -At -v ON_ERROR_STOP=1 -f "$DIR/fixture.sql" >"$DIR/fixture.log" 2>&1 || bail "fixture" "$DIR/fixture.log"
TENANT=$(psql -X -At -c "SELECT commerce.tenant_id('shop')")
OTHER=$(psql -X -At -c "SELECT commerce.tenant_id('other')")
SECRET="gateway-test-secret-$RANDOM$RANDOM-at-least-32-characters"
LOG="$DIR/server.log"
host_enc="$(printf '%s' "$PGHOST" | sed 's,/,%2F,g')"
DATABASE_URL="postgres://gw_auth@${host_enc}:${PGPORT:-5432}/$DB" JWT_SECRET="$SECRET" PORT=0 \
    node "$DIR/server.mjs" >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/^postgraphile listening on \([0-9]*\)$/\1/p' "$LOG")
    [ -n "$port" ] && break
    kill -0 $SERVER 2>/dev/null || bail "PostGraphile started" "$LOG"
    sleep 0.2
done
[ -n "$port" ] || bail "PostGraphile listening within 20 s" "$LOG"
GQL_URL="http://127.0.0.1:$port/graphql" JWT_SECRET="$SECRET" TENANT="$TENANT" OTHER_TENANT="$OTHER" \
    node "$DIR/graphql_flows.mjs"

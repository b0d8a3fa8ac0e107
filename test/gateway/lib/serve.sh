# test/gateway/lib/serve.sh: what the gateway suites share (sourced): the
# pinned npm packages, a database provisioned with the shop of fixture.sql,
# and PostGraphile (server.mjs) logged in as the gateway role gw_auth.
#   gateway_packages     Node.js and npm (Debian, as root) and the pinned npm packages
#   gateway_setup DB     gateway_packages, then provisions DB; sets TENANT, OTHER
#   gateway_start DB     starts the server; sets GQL_URL, BASE_URL, JWT_SECRET, SERVER_LOG
# A failing step prints "not ok 1 - <step>" with its log and exits.
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
bail() { echo "not ok 1 - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; echo "1..1"; exit 1; }

gateway_packages() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            { apt-get update -q && apt-get install -y -q nodejs npm; } >/tmp/commerce-node-apt.log 2>&1 ||
                bail "install nodejs and npm" /tmp/commerce-node-apt.log
        else
            bail "Node.js and npm are needed (apt-get install nodejs npm)"
        fi
    fi
    if [ ! -f "$DIR/node_modules/.package-lock.json" ] || [ "$DIR/package-lock.json" -nt "$DIR/node_modules/.package-lock.json" ]; then
        (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >"$DIR/npm.log" 2>&1) || bail "npm ci (test/gateway/package-lock.json)" "$DIR/npm.log"
    fi
}

gateway_setup() {
    local db="$1"
    gateway_packages
    dropdb --if-exists "$db" >/dev/null 2>&1 || true
    createdb "$db"
    export PGDATABASE="$db"
    psql -X -q -At -v ON_ERROR_STOP=1 -f "$DIR/fixture.sql" >"$DIR/fixture.log" 2>&1 || bail "fixture" "$DIR/fixture.log"
    TENANT=$(psql -X -At -c "SELECT commerce.tenant_id('shop')")
    OTHER=$(psql -X -At -c "SELECT commerce.tenant_id('other')")
    export TENANT OTHER
}

gateway_start() {
    local db="$1" log="$DIR/server-$1.log" host_enc port=""
    JWT_SECRET="gateway-test-secret-$RANDOM$RANDOM-at-least-32-characters"
    host_enc="$(printf '%s' "${PGHOST:-/var/run/postgresql}" | sed 's,/,%2F,g')"
    DATABASE_URL="postgres://gw_auth@${host_enc}:${PGPORT:-5432}/$db" JWT_SECRET="$JWT_SECRET" PORT=0 \
        node "$DIR/server.mjs" >"$log" 2>&1 &
    SERVER=$!
    trap 'kill $SERVER 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^postgraphile listening on \([0-9]*\)$/\1/p' "$log")
        [ -n "$port" ] && break
        kill -0 $SERVER 2>/dev/null || bail "PostGraphile started" "$log"
        sleep 0.2
    done
    [ -n "$port" ] || bail "PostGraphile listening within 20 s" "$log"
    BASE_URL="http://127.0.0.1:$port"
    GQL_URL="$BASE_URL/graphql"
    SERVER_LOG="$log"
    export JWT_SECRET BASE_URL GQL_URL SERVER_LOG
}

#!/usr/bin/env bash
# test/gateway/postgraphile.sh: the GraphQL suite. Provisions the shop of
# fixture.sql, starts PostGraphile 4 as server.mjs configures it (logged in
# as the gateway role gw_auth) and runs the four actors' flows of
# graphql_flows.mjs against it (TAP). Packages: test/gateway/package-lock.json.
set -euo pipefail
source "$(dirname "$0")/lib/serve.sh"
gateway_setup gw_graphql
gateway_start gw_graphql
TENANT="$TENANT" OTHER_TENANT="$OTHER" node "$DIR/graphql_flows.mjs"

#!/usr/bin/env bash
# test/security/core_direct_roles.sh: tenants in depth, from roles that log
# in themselves (issue 11, finding 4; docs/operations.md "Roles and the trust
# model"). pgTAP runs as a superuser, whose sessions are trusted; here each
# check connects as the role it is about:
#   - an ordinary login role granted SELECT on the tables, not bound: it sees
#     no row of any tenant, and no setting or claim (request.jwt.claims,
#     jwt.claims.tenant_id, hasura.user, commerce.tenant_id) picks one; the
#     API refuses it (42501);
#   - a login role bound to tenant A as a service: it sees A's rows only,
#     whatever it sets, and acts as A's service through the API;
#   - a gateway's login role (commerce.grant_api('<role>')): the claims it
#     sets are trusted once it switches to an actor role (PostgREST,
#     PostGraphile) or names the role in hasura.user (Hasura); without an
#     actor role it is refused; it reads no table directly.
source "$(dirname "$0")/../lib/tap.sh"
DB=sec_direct
fresh_db "$DB"
export PGDATABASE="$DB"
for r in sec_reader sec_backend sec_gateway sec_hasura; do
    q -d postgres -c "DROP ROLE IF EXISTS $r" 2>/dev/null || true
done
q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT count(*) FROM commerce.grant_api();
CREATE ROLE sec_reader LOGIN;
CREATE ROLE sec_backend LOGIN;
CREATE ROLE sec_gateway LOGIN NOINHERIT;   -- PostgREST's and PostGraphile's authenticator
CREATE ROLE sec_hasura LOGIN;              -- Hasura's database user: it does not switch roles
SELECT count(*) FROM commerce.grant_api('sec_gateway');
SELECT count(*) FROM commerce.grant_api('sec_hasura');
SET commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('ta', 'Tenant A'), commerce.create_tenant('tb', 'Tenant B');
SELECT commerce.upsert_product(t, 'P', 'Tee'), commerce.upsert_sku(t, 'P', 'TEE', 'Tee', 9900),
       commerce.receive_stock(t, 'in', 'TEE', 10), commerce.upsert_customer(t, 'fan')
  FROM (VALUES (commerce.tenant_id('ta')), (commerce.tenant_id('tb'))) x(t);
SELECT commerce.place_order(t, 'o-' || t, 'wechat_mp',
         '{"lines":[{"sku":"TEE","qty":1}],"receiver":{"name":"Zhang San","phone":"13800001234","region":"Zhejiang","city":"Hangzhou","address":"Road 1"}}',
         'fan')
  FROM (VALUES (commerce.tenant_id('ta')), (commerce.tenant_id('tb'))) x(t);
-- the reader: SELECT on the tables, EXECUTE on the API (as a careless operator might grant)
GRANT USAGE ON SCHEMA commerce, commerce_api TO sec_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA commerce TO sec_reader;
GRANT EXECUTE ON FUNCTION commerce._rls_tenant() TO sec_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA commerce_api TO sec_reader;
-- the backend: bound to tenant A as its service, and granted reads
SELECT commerce.bind_role('sec_backend', commerce.tenant_id('ta'), 'service', 'shop-backend');
GRANT SELECT ON commerce.orders TO sec_backend;
SQL
TA="$(q -c "SELECT commerce.tenant_id('ta')")"
TB="$(q -c "SELECT commerce.tenant_id('tb')")"
is "$(q -c "SELECT count(*) FROM commerce.orders")" "2" "setup: two tenants with an order each"

# as ROLE SQL...: the statements in one session of ROLE; the last value, or the first error
as() { # as ROLE SQL...
    local role="$1"
    shift
    local args=()
    for s in "$@"; do args+=(-c "$s"); done
    local out
    out="$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=terse -U "$role" "${args[@]}" 2>&1 || true)"
    if grep -q 'ERROR:' <<<"$out"; then
        grep -m 1 'ERROR:' <<<"$out" | sed -E 's/^(psql:[^ ]* )?ERROR: +/ERROR: /'
    else
        tail -n 1 <<<"$out"
    fi
}

# 1. an unbound login role with SELECT grants
is "$(as sec_reader "SELECT count(*) FROM commerce.orders")" "0" "an unbound role granted SELECT sees no order of any tenant"
is "$(as sec_reader "SELECT count(*) FROM commerce.customer")" "0" "nor any customer"
is "$(as sec_reader "SET request.jwt.claims = '{\"tenant_id\":\"$TA\",\"role\":\"commerce_service\"}'" "SELECT count(*) FROM commerce.orders")" \
    "0" "PostgREST claims it sets itself pick no tenant"
is "$(as sec_reader "SET jwt.claims.tenant_id = '$TA'" "SELECT count(*) FROM commerce.orders")" \
    "0" "PostGraphile claims it sets itself pick no tenant"
is "$(as sec_reader "SELECT set_config('hasura.user', '{\"x-hasura-tenant-id\":\"$TA\",\"x-hasura-role\":\"service\"}', false) IS NULL" "SELECT count(*) FROM commerce.orders")" \
    "0" "a Hasura session it sets itself picks no tenant"
out="$(as sec_reader "SET commerce.tenant_id = '$TA'" "SELECT count(*) FROM commerce.orders")"
ok "$([ "$out" = "0" ] || [[ "$out" == *"permission denied to set parameter"* ]]; echo $?)" \
    "commerce.tenant_id picks no tenant (only superusers may set it)" "got: $out"
is "$(q -c "LOAD 'commerce'" -c "SELECT context FROM pg_settings WHERE name = 'commerce.tenant_id'")" \
    "superuser" "commerce.tenant_id is not USERSET (only superusers may set it)"
is "$(as sec_reader "SET request.jwt.claims = '{\"tenant_id\":\"$TA\"}'" "SELECT count(*) FROM commerce_api.stock('TEE')")" \
    "ERROR: no verified identity for role sec_reader" "the API refuses an untrusted role's claims (42501)"
is "$(as sec_reader "SELECT (commerce_api.price('TEE', 'wechat_mp')).price_fen")" \
    "ERROR: no verified identity for role sec_reader" "and a call without claims"

# 2. a login role bound to tenant A
is "$(as sec_backend "SELECT count(*) FROM commerce.orders")" "1" "a role bound to tenant A sees A's order only"
is "$(as sec_backend "SELECT string_agg(DISTINCT tenant_id::text, ',') FROM commerce.orders")" "$TA" "and it is A's"
is "$(as sec_backend "SET request.jwt.claims = '{\"tenant_id\":\"$TB\"}'" "SET jwt.claims.tenant_id = '$TB'" \
         "SELECT set_config('hasura.user', '{\"x-hasura-tenant-id\":\"$TB\"}', false) IS NULL" "SELECT count(*) FROM commerce.orders WHERE tenant_id = $TB")" \
    "0" "no claim it sets moves it to tenant B"
is "$(as sec_backend "SET request.jwt.claims = '{\"tenant_id\":\"$TB\"}'" "SELECT string_agg(available::text, ',') FROM commerce_api.stock('TEE')")" \
    "9" "the API acts for tenant A whatever it claims (A's stock: 10 received, 1 held)"
is "$(as sec_backend "SELECT (commerce._identity()).kind" 2>&1)" "ERROR: permission denied for function _identity" \
    "it runs no internal function"
is "$(as sec_backend "SELECT (commerce_api.record_payment(o.order_id, 'pay-a', 9900)).status FROM commerce.orders o")" \
    "paid" "it acts as A's payment service through the API"
is "$(as sec_backend "SET ROLE commerce_customer")" 'ERROR: permission denied to set role "commerce_customer"' \
    "it cannot switch to another actor role"

# 3. a gateway's login role
claims="{\"role\":\"commerce_customer\",\"sub\":\"fan\",\"tenant_id\":\"$TA\"}"
order_a="$(q -c "SELECT order_id FROM commerce.orders WHERE tenant_id = $TA")"
order_b="$(q -c "SELECT order_id FROM commerce.orders WHERE tenant_id = $TB")"
is "$(as sec_gateway "SET request.jwt.claims = '$claims'" "SET ROLE commerce_customer" "SELECT masked FROM commerce_api.order_contact($order_a)")" \
    "t" "PostgREST-style: the customer of the token reads its own order, masked"
is "$(as sec_gateway "SET request.jwt.claims = '$claims'" "SET ROLE commerce_customer" "SELECT masked FROM commerce_api.order_contact($order_b)")" \
    "ERROR: order \"$order_b\" not found" "and not tenant B's order"
is "$(as sec_gateway "SET request.jwt.claims = '$claims'" "SET ROLE commerce_customer" "SELECT count(*) FROM commerce.orders")" \
    "ERROR: permission denied for table orders" "it reads no table directly"
is "$(as sec_gateway "SET request.jwt.claims = '$claims'" "SELECT (commerce_api.price('TEE', 'wechat_mp')).price_fen")" \
    "ERROR: permission denied for schema commerce_api at character 9" "without switching to an actor role the (NOINHERIT) gateway may call nothing"
is "$(as sec_gateway "SET jwt.claims.tenant_id = '$TA'" "SET jwt.claims.sub = 'fan'" "SET ROLE commerce_customer" \
         "SELECT (commerce_api.price('TEE', 'wechat_mp')).price_fen")" "9900" "PostGraphile-style claims work the same"
is "$(as sec_hasura "SET request.jwt.claims = '$claims'" "SELECT (commerce_api.price('TEE', 'wechat_mp')).price_fen")" \
    "ERROR: role sec_hasura is not an actor role" "a gateway that inherits the roles but names none is refused"
is "$(as sec_hasura "SELECT set_config('hasura.user', '{\"x-hasura-role\":\"customer\",\"x-hasura-user-id\":\"fan\",\"x-hasura-tenant-id\":\"$TA\"}', false) IS NULL" \
         "SELECT masked FROM commerce_api.order_contact($order_a)")" "t" "Hasura-style (no SET ROLE): the role claim names the kind"
is "$(as sec_hasura "SELECT set_config('hasura.user', '{\"x-hasura-role\":\"customer\",\"x-hasura-user-id\":\"fan\",\"x-hasura-tenant-id\":\"$TA\"}', false) IS NULL" \
         "SELECT commerce_api.record_payout('batch:1', 'failed')")" \
    "ERROR: commerce_api.record_payout is not open to customer callers" "and limits the kind as SET ROLE does"

q -d postgres -c "DROP DATABASE $DB"
for r in sec_reader sec_backend sec_gateway sec_hasura; do q -d postgres -c "DROP ROLE $r"; done
done_testing

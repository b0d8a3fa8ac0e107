#!/usr/bin/env bash
# test/gateway/contract.sh: what PostgREST and Hasura do, done in SQL (no
# binary of either is installable here), against the shop of fixture.sql.
#   PostgREST: logs in as its authenticator (NOINHERIT), and per request
#   switches to the token's role (SET LOCAL ROLE), sets request.jwt.claims,
#   request.method, request.path and request.headers, runs the pre-request
#   hook commerce_api.pre_request(), then calls /rpc/<function>. Statuses:
#   PostgREST answers HTTP xyz for SQLSTATE PTxyz, 403 for 42501 (401
#   anonymous), the status of a PGRST error's JSON detail.
#   Hasura: logs in as one user that never switches roles; a mutation sets
#   hasura.user, a query passes the session as the hasura_session argument
#   of a commerce_hasura function.
# Each check says which HTTP status PostgREST would answer.
set -euo pipefail
source "$(dirname "$0")/lib/serve.sh"
source "$DIR/../lib/tap.sh"
gateway_setup gw_contract
for r in gw_rest gw_hasura; do
    q -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$r') THEN CREATE ROLE $r LOGIN $([ $r = gw_rest ] && echo NOINHERIT); END IF; END \$\$"
    q -c "SELECT count(*) FROM commerce.grant_api('$r')" >/dev/null
done
T=$TENANT

# _rest KIND SUB METHOD PATH HEADERS SQL: one PostgREST request; prints "ok:<rows>", or
# "<SQLSTATE> <HTTP status> <message>" (a PGRST error: "PGRST <status> <code> Retry-After:<s>")
_rest() {
    local kind="$1" sub="$2" method="$3" path="$4" headers="$5" sql="$6" claims
    claims="$(printf '{"role":"commerce_%s","tenant_id":"%s"%s}' "$kind" "$T" "${sub:+,\"sub\":\"$sub\"}")"
    psql -X -q -At -U gw_rest 2>&1 <<SQL | sed -n 's/^.*NOTICE:  //p' | head -n 1
SET client_min_messages = notice;
BEGIN;
SET LOCAL ROLE commerce_$kind;
SELECT set_config('request.jwt.claims', \$c\$$claims\$c\$, true), set_config('request.method', '$method', true),
       set_config('request.path', '$path', true), set_config('request.headers', \$h\$$headers\$h\$, true) \\g /dev/null
DO \$do\$
DECLARE r text; st text; msg text; det text;
BEGIN
    PERFORM commerce_api.pre_request();
    EXECUTE \$q\$ SELECT string_agg(x::text, ' | ') FROM ($sql) x \$q\$ INTO r;
    RAISE NOTICE 'ok:%', coalesce(r, '');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    IF st = 'PGRST' THEN
        RAISE NOTICE '% % % Retry-After:%', st, det::json ->> 'status', msg::json ->> 'code', det::json #>> '{headers,Retry-After}';
    ELSE
        RAISE NOTICE '% % %', st, CASE WHEN st LIKE 'PT%' THEN substr(st, 3)
                                      WHEN st = '42501' THEN CASE WHEN '$kind' = 'anonymous' THEN '401' ELSE '403' END
                                      WHEN st IN ('23505', '23503') THEN '409' WHEN st LIKE '22%' OR st LIKE '23%' THEN '400'
                                      ELSE '500' END, msg;
    END IF;
END \$do\$;
COMMIT;
SQL
}
H='{"x-forwarded-for":"203.0.113.9, 10.0.0.1","user-agent":"MiniProgram/8.0","x-device-id":"dev-77"}'

# ---- PostgREST: a customer's storefront
is "$(_rest customer fan-r POST /rpc/sign_up "$H" "SELECT customer, phone_masked FROM commerce_api.sign_up('Fan R', '13900002222')")" \
   "ok:(fan-r,139****2222)" "PostgREST POST /rpc/sign_up: the token's subject signs up (200)"
is "$(_rest customer fan-r GET /rpc/catalog "$H" "SELECT sku, price_yuan FROM commerce_api.catalog('wechat_mp', page_size => 1)")" \
   "ok:(HOODIE-L,199.00)" "PostgREST GET /rpc/catalog?page_size=1: one page (200)"
code=$(q -c "SELECT commerce.tracking_link($T, 'koc-li')")
is "$(_rest customer fan-r POST /rpc/record_click "$H" "SELECT counted FROM commerce_api.record_click('$code', NULL, '1.2.3.4', 'forged agent')")" \
   "ok:(t)" "PostgREST POST /rpc/record_click: counted"
is "$(q -c "SELECT host(ip) || ' ' || user_agent FROM commerce.click ORDER BY click_id DESC LIMIT 1")" "203.0.113.9 MiniProgram/8.0" \
   "the click's address and agent are the request headers' (first X-Forwarded-For hop), not the body's"
out="$(_rest customer fan-r POST /rpc/place_order "$H" "SELECT order_id, status, payable_yuan FROM commerce_api.place_order('rest-o1', 'wechat_mp', '[{\"sku\":\"HOODIE-L\",\"qty\":1}]')")"
ok "$([[ "$out" =~ ^ok:\([0-9]+,pending_payment,199\.00\)$ ]]; echo $?)" "PostgREST POST /rpc/place_order: an order awaiting payment (200)" "$out"
oid="$(echo "$out" | sed -E 's/^ok:\(([0-9]+),.*/\1/')"
is "$(q -c "SELECT k.code FROM commerce.orders o JOIN commerce.koc k USING (tenant_id, koc_id) WHERE o.order_id = $oid")" "koc-li" \
   "the order is attributed to the KOC of the click"
is "$(_rest customer fan-r POST /rpc/pay_intent "$H" "SELECT outcome FROM commerce_api.pay_intent($oid)")" "ok:(queued)" \
   "PostgREST POST /rpc/pay_intent: the payment request is queued (200)"
is "$(_rest customer fan-r POST /rpc/record_payment "$H" "SELECT status FROM commerce_api.record_payment($oid, 'forged', 19900)")" \
   "42501 403 permission denied for function record_payment" "PostgREST: a customer reporting its own payment is 403"
is "$(_rest service payments POST /rpc/record_payment "$H" "SELECT status FROM commerce_api.record_payment($oid, 'wx-rest-1', 19900)")" \
   "ok:(paid)" "PostgREST: the payment service's callback marks it paid (200)"
is "$(_rest customer fan-r POST /rpc/cancel_order "$H" "SELECT status FROM commerce_api.cancel_order($oid)")" \
   "PT409 409 order $oid cannot be cancelled: it is paid" "PostgREST: cancelling a paid order is 409 (conflict)"
is "$(_rest customer fan-x GET /rpc/order_history "$H" "SELECT to_status FROM commerce_api.order_history($oid)")" \
   "PT404 404 order \"$oid\" not found" "PostgREST: another customer's order is 404"
is "$(_rest customer fan-r GET /rpc/catalog "$H" "SELECT sku FROM commerce_api.catalog('wechat_mp', page_size => 0)")" \
   "22023 400 invalid value for page_size" "PostgREST: a bad page size is 400"
# a customer's sixth hold at once: HTTP 429 with Retry-After
for n in 1 2 3 4 5; do
    _rest customer fan-r POST /rpc/reserve "$H" "SELECT status FROM commerce_api.reserve('{\"lines\":[{\"sku\":\"HOODIE-L\",\"qty\":1}]}', 'rest-h$n')" >/dev/null
done
out="$(_rest customer fan-r POST /rpc/reserve "$H" "SELECT status FROM commerce_api.reserve('{\"lines\":[{\"sku\":\"HOODIE-L\",\"qty\":1}]}', 'rest-h6')")"
ok "$([[ "$out" =~ ^PGRST\ 429\ PT429\ Retry-After:[0-9]+$ ]]; echo $?)" \
   "PostgREST: the sixth hold at once is HTTP 429 with Retry-After (code PT429 in the body)" "$out"
is "$(_rest customer "" POST /rpc/catalog "$H" "SELECT 1")" \
   "42501 403 the token has no usable subject" "PostgREST pre-request hook: a customer token without sub is refused whatever it calls"
q -c "SELECT commerce.upsert_staff($T, 'ops-gone', 'Gone', 'operator', p_active => false)" >/dev/null
is "$(_rest operator ops-gone GET /rpc/koc_overview "$H" "SELECT commerce_api.koc_overview(current_date, current_date)")" \
   "42501 403 \"ops-gone\" is not active operator staff of tenant $T" "PostgREST pre-request hook: an inactive staff member is refused"
is "$(_rest anonymous "" GET /rpc/catalog "$H" "SELECT count(*) FROM commerce_api.catalog('wechat_mp')")" "ok:(2)" \
   "PostgREST anonymous: the catalog of the tenant in the claims (200)"
is "$(_rest anonymous "" POST /rpc/place_order "$H" "SELECT 1 FROM commerce_api.place_order('anon', 'wechat_mp', '[]')")" \
   "42501 401 permission denied for function place_order" "PostgREST anonymous: ordering is 401"
is "$(q -U gw_rest -c "SELECT count(*) FROM commerce_hasura.me('{\"x-hasura-role\":\"service\",\"x-hasura-tenant-id\":\"$T\"}')" 2>&1 | head -1)" \
   "ERROR:  permission denied for schema commerce_hasura" "PostgREST's authenticator (NOINHERIT) cannot use Hasura's variants"

# ---- Hasura: one database user, no role switch
hq() { psql -X -q -At -U gw_hasura -v ON_ERROR_STOP=1 -c "$1" 2>&1 | head -n 1; }
S="{\"x-hasura-role\":\"customer\",\"x-hasura-user-id\":\"fan-r\",\"x-hasura-tenant-id\":\"$T\"}"
is "$(hq "SELECT count(*) FROM commerce_hasura.orders('$S')")" "1" "Hasura query: orders with hasura_session are the customer's own"
is "$(hq "SELECT string_agg(to_status::text, ',') FROM commerce_hasura.order_history('$S', ${oid:-0})")" "pending_payment,paid" \
   "Hasura query: order_history with hasura_session"
is "$(hq "SELECT count(*) FROM commerce_api.orders()")" \
   "ERROR:  role gw_hasura is not an actor role" "Hasura query without its session: refused (42501)"
is "$(hq "SELECT count(*) FROM commerce_hasura.orders('{\"x-hasura-role\":\"customer\",\"x-hasura-user-id\":\"fan-x\",\"x-hasura-tenant-id\":\"$T\"}')")" "0" \
   "Hasura query for another customer: none of fan-r's orders"
out="$(psql -X -q -At -U gw_hasura -v ON_ERROR_STOP=1 2>&1 <<SQL
BEGIN;
SELECT set_config('hasura.user', '$S', true) \\g /dev/null
SELECT status FROM commerce_api.place_order('hasura-o1', 'wechat_mp', '[{"sku":"YOGA-10","qty":1}]');
COMMIT;
SQL
)"
is "$out" "pending_payment" "Hasura mutation: hasura.user set, place_order returns the order (a trackable shape)"
is "$(hq "SELECT count(*) FROM commerce_hasura.orders('$S')")" "2" "Hasura: the mutation's order is the customer's"
is "$(q -c "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'commerce_hasura'::regnamespace
             AND (has_function_privilege('public', p.oid, 'EXECUTE') OR has_function_privilege('commerce_customer', p.oid, 'EXECUTE'))")" "0" \
   "no actor role and not PUBLIC executes a commerce_hasura function"
is "$(q -c "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'commerce_hasura'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL")" "0" \
   "every commerce_hasura function has a COMMENT"
is "$(q -c "SELECT count(*) FROM pg_proc h WHERE h.pronamespace = 'commerce_hasura'::regnamespace
             AND NOT EXISTS (SELECT 1 FROM pg_proc a WHERE a.pronamespace = 'commerce_api'::regnamespace AND a.proname = h.proname
                              AND a.prorettype = h.prorettype AND a.proretset)")" "0" \
   "every commerce_hasura function returns the set its commerce_api function returns"
done_testing

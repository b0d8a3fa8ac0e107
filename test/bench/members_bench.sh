#!/usr/bin/env bash
# make bench, members (issue 13), in the run's database copies (bench.sh
# passes TENANT, CLIENTS, SECONDS_PER, JOBS and the fresh() copy):
#   order_pay / order_pay_points   CLIENTS customers each place and pay an
#            order of their own SKU, without and with a points rule on the
#            channel (the earn-on-payment trigger writes a lot, the account and
#            the ledger): earn_vs_order is their ratio (goal >= 0.90)
#   entitlement lookup   commerce._benefit_bp (a customer's member discount,
#            read through its person) per call, in microseconds
#   identity resolution  commerce.observe_identities of a known buyer with its
#            phone, per call, in microseconds
#   expiry   the points pump expiring 1,000,000 lots of 10,000 customers, lots/s
#   coupon claims   CLIENTS customers claim coupons (commerce.issue_coupon,
#            source claim) from ONE batch of 16 slots vs each from a batch of
#            its own: coupon_claim_vs_ceiling; the coupon invariants after
# Prints those lines on stdout.
set -euo pipefail
cd "$(dirname "$0")"
: "${TENANT:?}" "${CLIENTS:?}" "${SECONDS_PER:?}" "${JOBS:?}"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
ms() { local t0 t1; t0=$(date +%s%N); q -c "$1" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$1"; }
out="$(mktemp -d /tmp/commerce-members-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT

customers="SELECT count(commerce.upsert_customer($TENANT, 'b' || c)) FROM generate_series(1, $CLIENTS) c"
fresh; q -c "$customers" >/dev/null
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f order_pay.sql > "$out/a" 2>&1 || { cat "$out/a" >&2; exit 1; }
fresh; q -c "$customers" >/dev/null
q -c "SELECT commerce.set_points_rule($TENANT, 'wechat_mp', 1, 'paid', 7, 365)" >/dev/null
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f order_pay.sql > "$out/b" 2>&1 || { cat "$out/b" >&2; exit 1; }
A=$(tps "$out/a"); B=$(tps "$out/b")
LOTS=$(q -c "SELECT count(*) FROM commerce.points_lot")
INV=$(q -c "SELECT count(*) FROM commerce.check_points_invariants()")
printf 'order_pay_per_s: %.0f\n' "$A"
printf 'order_pay_points_per_s: %.0f\n' "$B"
awk -v a="$A" -v b="$B" 'BEGIN { printf "earn_vs_order: %.2f\n", b / a }'
echo "points_lots_earned: $LOTS (points invariant violations: $INV)"

# entitlement lookup and identity resolution, per call
q >/dev/null <<SQL
SELECT commerce.upsert_product($TENANT, 'VIP', 'Membership', 'virtual', 'membership_card');
SELECT commerce.upsert_sku($TENANT, 'VIP', 'VIP-M', 'Monthly', 990);
SELECT commerce.receive_stock($TENANT, 'vip', 'VIP-M', 1000);
SELECT commerce.upsert_membership_plan($TENANT, 'MONTH', 'Monthly', 'VIP-M', 1, 500, '{"priority_shipping":true}');
SELECT commerce.pay_order($TENANT, (commerce.buy_membership($TENANT, 'm-b1', 'b1', 'MONTH', 'wechat_mp')).order_id, 'pay-m-b1', 990);
SQL
# 20,000 buyers seen once (a transaction per 1,000: each holds its identities' locks to its end)
observe_all="DO \$\$ BEGIN FOR b IN 0..19 LOOP
  PERFORM commerce.observe_identities($TENANT, NULL, jsonb_build_array(jsonb_build_object('type', 'taobao_buyer', 'value', 'tb-' || n),
                                                jsonb_build_object('type', 'phone', 'value', (13500000000 + n)::text)), 'taobao')
     FROM generate_series(b * 1000 + 1, b * 1000 + 1000) n;
  COMMIT; END LOOP; END \$\$"
q -c "$observe_all" >/dev/null
B1=$(q -c "SELECT customer_id FROM commerce.customer WHERE tenant_id = $TENANT AND code = 'b1'")
q -c "SELECT count(commerce._benefit_bp($TENANT, $B1, 'member_discount', now())) FROM generate_series(1, 1000)" >/dev/null
T=$(ms "SELECT count(commerce._benefit_bp($TENANT, $B1, 'member_discount', now())) FROM generate_series(1, 100000)")
awk -v t="$T" 'BEGIN { printf "entitlement_lookup_us: %.1f\n", t * 1000 / 100000 }'
T=$(ms "$observe_all")
awk -v t="$T" 'BEGIN { printf "identity_resolution_us: %.1f (a known buyer and its phone, 20000 calls)\n", t * 1000 / 20000 }'

# expiry of 1M lots (10,000 customers x 100 lots, consistent accounts and ledger)
fresh
q >/dev/null <<SQL
SET commerce.now = '2030-01-01 00:00:00+00';
SELECT count(commerce.upsert_customer($TENANT, 'x' || c)) FROM generate_series(1, 10000) c;
INSERT INTO commerce.points_lot (tenant_id, customer_id, source, source_key, points, remaining, status, available_at, expires_at, created_at)
SELECT $TENANT, cu.customer_id, 'grant', 'bench:' || cu.customer_id || ':' || n, 10, 10, 'available',
       '2029-12-01', '2030-01-01 00:00:00+00'::timestamptz - make_interval(secs => n), '2029-12-01'
  FROM commerce.customer cu CROSS JOIN generate_series(1, 100) n WHERE cu.tenant_id = $TENANT AND cu.code LIKE 'x%';
INSERT INTO commerce.points_account (tenant_id, customer_id, available, earned)
SELECT tenant_id, customer_id, sum(points), sum(points) FROM commerce.points_lot WHERE tenant_id = $TENANT GROUP BY 1, 2;
INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, created_at)
SELECT tenant_id, customer_id, lot_id, 'earn', points, 0, created_at FROM commerce.points_lot WHERE tenant_id = $TENANT;
VACUUM ANALYZE commerce.points_lot;
SQL
T=$(PGOPTIONS="-c commerce.now=2030-01-02T00:00:00+00" ms "CALL commerce.points_pump(10000, 1000)")
EXPIRED=$(q -c "SELECT count(*) FROM commerce.points_lot WHERE status = 'closed'")
INV=$(PGOPTIONS="-c commerce.now=2030-01-02T00:00:00+00" q -c "SELECT count(*) FROM commerce.check_points_invariants()")
awk -v t="$T" -v n="$EXPIRED" 'BEGIN { printf "expire_lots_per_s: %.0f (%d lots in %.1f s)\n", n * 1000 / t, n, t / 1000 }'
echo "expiry_invariant_violations: $INV"

# coupon claims: every client on one batch (16 slots) vs each on a batch of its own
cat > "$out/claim_hot.sql" <<'SQL'
\set c :client_id + 1
SELECT (commerce.issue_coupon(:tenant, 'claim', gen_random_uuid()::text, 'HOTB', 'b' || :c)).outcome;
SQL
cat > "$out/claim_ceiling.sql" <<'SQL'
\set c :client_id + 1
SELECT (commerce.issue_coupon(:tenant, 'claim', gen_random_uuid()::text, 'OWN' || :c, 'b' || :c)).outcome;
SQL
claims() {
    fresh
    q >/dev/null <<SQL
$customers;
SELECT commerce.create_coupon_template($TENANT, 'T5', '{"name":"5 off","kind":"amount","amount_fen":500,"threshold_fen":0,"valid_days":30}');
SELECT commerce.create_coupon_batch($TENANT, 'T5', 'HOTB', 100000000, p_slots => 16);
SELECT count(commerce.create_coupon_batch($TENANT, 'T5', 'OWN' || c, 100000000, p_slots => 16)) FROM generate_series(1, $CLIENTS) c;
SQL
    pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f "$1" > "$out/claims" 2>&1 \
        || { cat "$out/claims" >&2; exit 1; }
    tps "$out/claims"
}
HOTC=$(claims "$out/claim_hot.sql")
CINV=$(q -c "SELECT count(*) FROM commerce.check_coupon_invariants()")
OWNC=$(claims "$out/claim_ceiling.sql")
CINV=$((CINV + $(q -c "SELECT count(*) FROM commerce.check_coupon_invariants()")))
printf 'coupon_claims_hot_per_s: %.0f\n' "$HOTC"
printf 'coupon_claims_ceiling_per_s: %.0f\n' "$OWNC"
awk -v a="$HOTC" -v b="$OWNC" 'BEGIN { printf "coupon_claim_vs_ceiling: %.2f\n", a / b }'
echo "coupon_invariant_violations: $CINV"

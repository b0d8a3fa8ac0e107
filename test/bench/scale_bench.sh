#!/usr/bin/env bash
# make bench, scale (issue 17): reserve_sku (hot.sql) and place_order
# (order_hot.sql) with history already in the tables they write, against the
# same runs on the empty fixtures, in this run (bench.sh passes TEMPLATE,
# TENANT, CLIENTS, SECONDS_PER and JOBS).
#
# The history is SCALE_ROWS (1,000,000 then 10,000,000) confirmed
# reservations of another SKU, each with its line and its two stock movements
# (reserve, confirm), and as many paid orders with one line each: every table
# and index a reservation or an order writes has that many rows more. It is
# loaded in bulk with triggers off, balanced (the other SKU's slot sold what
# its reservations confirmed), and check_stock_invariants() must find nothing
# in it. The database grows from one size to the next; each size is measured
# after VACUUM ANALYZE and a checkpoint, and the empty fixtures are measured
# again just before, so that the ratios compare runs minutes apart.
# Prints hot_at_<n>_vs_empty and order_at_<n>_vs_empty per size (1.00: no
# plan or index regression as tables grow), with the rates.
set -euo pipefail
cd "$(dirname "$0")"
: "${TEMPLATE:?}" "${TENANT:?}"
CLIENTS="${CLIENTS:-16}"
SECONDS_PER="${SECONDS_PER:-20}"
JOBS="${JOBS:-2}"
SIZES="${SCALE_ROWS:-1000000 10000000}"
DB="${TEMPLATE%_template}_scale"
EMPTY="${TEMPLATE%_template}_scale_empty"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
out="$(mktemp -d /tmp/commerce-scale-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT

# pgbench's rate (excluding connection time) of one script on one database
rate() {
    local db="$1" file="$2"
    pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f "$file" "$db" \
        > "$out/run" 2>&1 || { cat "$out/run" >&2; exit 1; }
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out/run"
}
# the empty fixtures, a fresh copy per run
empty_rate() {
    dropdb --if-exists "$EMPTY" >/dev/null 2>&1
    createdb -T "$TEMPLATE" "$EMPTY"
    q -d "$EMPTY" -c "CHECKPOINT"
    rate "$EMPTY" "$1"
}

dropdb --if-exists "$DB" >/dev/null 2>&1
createdb -T "$TEMPLATE" "$DB"
export PGDATABASE="$DB"
# the SKU of the history, with stock for every size (spread over its slots)
MAXN=$(printf '%s\n' $SIZES | sort -n | tail -1)
q >/dev/null <<SQL
SELECT commerce.upsert_sku($TENANT, 'P', 'OLD', 'History SKU', 9900);
SELECT commerce.receive_stock($TENANT, 'bench-old', 'OLD', $MAXN);
SQL
loaded=0
for n in $SIZES; do
    from=$((loaded + 1))
    q >/dev/null <<SQL
SET client_min_messages = warning;
SELECT pool_id AS pool, sku_id AS sku, slot_count AS slots FROM commerce.stock_pool
 WHERE tenant_id = $TENANT AND sku_id = (SELECT sku_id FROM commerce.sku WHERE tenant_id = $TENANT AND code = 'OLD')
   AND activity IS NULL \gset
SELECT coalesce(max(reservation_id), 0) AS rb FROM commerce.reservation WHERE tenant_id = $TENANT \gset
SELECT coalesce(max(order_id), 0) AS ob FROM commerce.orders WHERE tenant_id = $TENANT \gset
SELECT channel_id AS ch FROM commerce.channel WHERE tenant_id = $TENANT AND code = 'wechat_mp' \gset
-- bulk load: triggers and foreign-key checks off
SET session_replication_role = replica;
INSERT INTO commerce.reservation (tenant_id, reservation_id, request_id, holder, status, expires_at, created_at, ended_at)
SELECT $TENANT, :rb + g - $from + 1, 'hist-' || g, 'order:hist-' || g, 'confirmed',
       timestamptz '2026-01-01 00:15+08' + (g % 300) * interval '1 day',
       timestamptz '2026-01-01 00:00+08' + (g % 300) * interval '1 day',
       timestamptz '2026-01-01 00:05+08' + (g % 300) * interval '1 day'
  FROM generate_series($from::bigint, $n) g;
INSERT INTO commerce.reservation_line (tenant_id, reservation_id, line_no, sku_id, pool_id, slot_no, qty)
SELECT $TENANT, :rb + g - $from + 1, 1, :sku, :pool, g % :slots, 1 FROM generate_series($from::bigint, $n) g;
INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_reserved, d_sold, reservation_id, request_id, created_at)
SELECT $TENANT, :pool, k.kind::commerce.stock_movement_kind, k.dr, k.ds, :rb + g - $from + 1, 'hist-' || g,
       timestamptz '2026-01-01 00:00+08' + (g % 300) * interval '1 day'
  FROM generate_series($from::bigint, $n) g, (VALUES ('reserve', 1, 0), ('confirm', -1, 1)) k(kind, dr, ds);
UPDATE commerce.stock_slot s SET sold = s.sold + x.n
  FROM (SELECT slot_no, count(*) AS n FROM commerce.reservation_line
         WHERE tenant_id = $TENANT AND pool_id = :pool AND reservation_id > :rb GROUP BY 1) x
 WHERE s.tenant_id = $TENANT AND s.pool_id = :pool AND s.slot_no = x.slot_no;
INSERT INTO commerce.orders (tenant_id, order_id, channel_id, external_order_id, goods_fen, payable_fen, paid_fen,
                             status, created_at, paid_at, payment_id)
SELECT $TENANT, :ob + g - $from + 1, :ch, 'hist-' || g, 9900, 9900, 9900, 'paid',
       timestamptz '2026-01-01 00:00+08' + (g % 300) * interval '1 day',
       timestamptz '2026-01-01 00:01+08' + (g % 300) * interval '1 day', 'pay-hist-' || g
  FROM generate_series($from::bigint, $n) g;
INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen, amount_fen)
SELECT $TENANT, :ob + g - $from + 1, 1, :sku, 1, 9900, 9900 FROM generate_series($from::bigint, $n) g;
SET session_replication_role = origin;
SELECT setval(pg_get_serial_sequence('commerce.reservation', 'reservation_id'), :rb + $n - $from + 1);
SELECT setval(pg_get_serial_sequence('commerce.orders', 'order_id'), :ob + $n - $from + 1);
VACUUM ANALYZE;
CHECKPOINT;
SQL
    loaded=$n
    viol=$(q -c "SELECT count(*) FROM commerce.check_stock_invariants($TENANT)")
    [ "$viol" = "0" ] || { echo "scale: the loaded history breaks $viol stock invariants" >&2; exit 1; }
    rows=$(q -c "SELECT (SELECT count(*) FROM commerce.reservation) || ' reservations, ' ||
                        (SELECT count(*) FROM commerce.stock_movement) || ' movements, ' ||
                        (SELECT count(*) FROM commerce.orders) || ' orders'")
    h0=$(empty_rate hot.sql)
    h=$(rate "$DB" hot.sql)
    o0=$(empty_rate order_hot.sql)
    o=$(rate "$DB" order_hot.sql)
    viol=$(q -c "SELECT count(*) FROM commerce.check_stock_invariants($TENANT)")
    [ "$viol" = "0" ] || { echo "scale: $viol stock invariants broken after the runs at $n" >&2; exit 1; }
    label=$(awk -v n="$n" 'BEGIN { if (n % 1000000 == 0) printf "%dm", n / 1000000; else printf "%dk", n / 1000 }')
    printf 'scale    %s: hot %.0f/s (empty %.0f/s), place_order %.0f/s (empty %.0f/s); %s\n' \
        "$label" "$h" "$h0" "$o" "$o0" "$rows" >&2
    awk -v a="$h" -v b="$h0" -v l="$label" 'BEGIN { printf "hot_at_%s_vs_empty: %.2f\n", l, a / b }'
    awk -v a="$o" -v b="$o0" -v l="$label" 'BEGIN { printf "order_at_%s_vs_empty: %.2f\n", l, a / b }'
done
echo "scale_invariant_violations: 0"
dropdb "$EMPTY"
dropdb "$DB"

#!/usr/bin/env bash
# make bench, CRM (issue 14), in the run's database copies (bench.sh passes
# TENANT and the fresh() copy). At CRM_PEOPLE people (1,000,000) with
# CRM_ORDERS paid orders (10,000,000), loaded in bulk with triggers off and
# their features and daily rollups then computed in one set-based pass (what
# the triggers keep them equal to; a sample is checked against
# refresh_crm_person):
#   customer360_p95_ms   commerce_api.customer_360 as store staff (masked), a
#            random person by customer code, 2,000 calls in one session, rows
#            in memory (customer360_cold_p95_ms: the first pass over the same
#            people, reading their rows); also by phone (the sidebar's lookup)
#   segment_vs_scan      rebuild of a 10-condition segment (compiled tree,
#            daily-rollup window, events, tags; diffed against its stored
#            membership) over every person / one hand-written
#            scan-and-aggregate pass of the same rows with the same
#            conditions; segment_build_vs_scan for its first build (every
#            member inserted)
#   pump_people_per_s    the CRM pump re-evaluating 20,000 changed people
#            against 10 segments
#   export_1m_s          export_segment of a 1M-member segment (masked, and
#            sha256) through COPY
#   flow_steps_per_s     the flow pump running 20,000 runs of a three-step flow
#            (points, a tag, an SMS), and flow_vs_plain_inserts: the same rows
#            by plain INSERTs into tables of the same shape / the pump's time
#   crm_order_vs_without order and payment (order_pay.sql, CLIENTS clients,
#            SECONDS_PER s) with the CRM's triggers on orders / with them
#            disabled
#   rfm_vs_scan          the daily RFM scoring of every buyer (nothing moved;
#            rfm_first_vs_scan: the first run, every buyer written) / one pass
#            computing the same scores and tiers with rank windows
#   churn_train_vs_scan  the churn model's fit and holdout (and
#            churn_score_vs_scan: scoring and tagging every buyer) / one pass
#            grouping the daily rollups per person
#   sync_order_vs_without order and payment with a sync system mapping
#            persons and orders / crm_order_vs_without's run with none;
#            sync_delay_p95_ms from a change to its acknowledgement by an
#            adapter polling every 200 ms
#   churn_auc_vs_oracle  the model's holdout AUC / the true model's, on a
#            generated BG/NBD history of 20,000 people
# Prints those lines on stdout.
set -euo pipefail
cd "$(dirname "$0")"
: "${TENANT:?}"
PEOPLE="${CRM_PEOPLE:-1000000}"
ORDERS="${CRM_ORDERS:-10000000}"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
ms() { local t0 t1; t0=$(date +%s%N); q -c "$1" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
export PGOPTIONS="-c commerce.now=2030-06-15T12:00:00+08"

CLIENTS="${CLIENTS:-16}"
SECONDS_PER="${SECONDS_PER:-20}"
JOBS="${JOBS:-2}"
tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$1"; }
out="$(mktemp -d /tmp/commerce-crm-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT

# what the CRM's triggers add to an order and its payment (features, the day's rollup, the pump's
# queue, the flow check): the same pgbench run with them and with them disabled
customers="SELECT count(commerce.upsert_customer($TENANT, 'b' || c)) FROM generate_series(1, $CLIENTS) c"
fresh; q -c "$customers" >/dev/null
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f order_pay.sql > "$out/a" 2>&1 || { cat "$out/a" >&2; exit 1; }
fresh; q -c "$customers" >/dev/null
q -c "ALTER TABLE commerce.orders DISABLE TRIGGER after_60_crm" -c "ALTER TABLE commerce.orders DISABLE TRIGGER after_61_crm_insert" >/dev/null
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f order_pay.sql > "$out/b" 2>&1 || { cat "$out/b" >&2; exit 1; }
A=$(tps "$out/a"); B=$(tps "$out/b")
awk -v a="$A" -v b="$B" 'BEGIN { printf "crm_order_vs_without: %.2f (order and payment %.0f/s with the CRM triggers, %.0f/s without)\n", a / b, a, b }'


fresh
# ids after the fixtures' own
B=$(q -c "SELECT greatest((SELECT coalesce(max(person_id), 0) FROM commerce.person), (SELECT coalesce(max(customer_id), 0) FROM commerce.customer))")
OB=$(q -c "SELECT coalesce(max(order_id), 0) FROM commerce.orders")
q >/dev/null <<SQL
SET client_min_messages = warning;
SELECT commerce.grant_api();
SELECT commerce.upsert_store($TENANT, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_staff($TENANT, 'st1', 'Store', 'store', ARRAY['S1']);
SELECT commerce.set_growth_levels($TENANT, '[{"level":1,"name":"Silver","min_growth":100},{"level":2,"name":"Gold","min_growth":1000},{"level":3,"name":"Platinum","min_growth":5000},{"level":4,"name":"Diamond","min_growth":10000}]');
SELECT commerce.upsert_tag_category($TENANT, 'beh', 'Behaviour', 'behaviour');
SELECT commerce.create_tag($TENANT, 'vip', 'VIP', 'beh');
SELECT setseed(0.14);
-- bulk load: triggers and foreign-key checks off (features computed below in one pass)
SET session_replication_role = replica;
INSERT INTO commerce.person (tenant_id, person_id, created_at) SELECT $TENANT, $B + g, '2029-01-01' FROM generate_series(1, $PEOPLE) g;
INSERT INTO commerce.customer (tenant_id, customer_id, code, name, phone, created_at, birthday, person_id)
SELECT $TENANT, $B + g, 'crm' || g, 'Name ' || g, (13000000000 + g)::text, commerce.now() - (g % 700) * interval '1 day',
       CASE WHEN g % 3 > 0 THEN date '1970-01-01' + (g % 15000) END, $B + g
  FROM generate_series(1, $PEOPLE) g;
INSERT INTO commerce.person_identity (tenant_id, type, value, person_id, customer_id, source, verified, first_seen, last_seen)
SELECT $TENANT, 'phone', '+86' || (13000000000 + g)::text, $B + g, $B + g, 'bench', true, '2029-01-01', '2029-01-01'
  FROM generate_series(1, $PEOPLE) g;
INSERT INTO commerce.orders (tenant_id, order_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen, paid_fen,
                             status, created_at, paid_at, payment_id)
SELECT $TENANT, $OB + g, ch.channel_id, 'b' || g, $B + 1 + (g * 7919) % $PEOPLE, f.fen, f.fen, f.fen, 'paid', f.at, f.at, 'pay-' || g
  FROM generate_series(1::bigint, $ORDERS) g
  CROSS JOIN LATERAL (SELECT 1000 + (g * 104729) % 50000 AS fen,
                             commerce.now() - ((g * 31) % 365) * interval '1 day' - (g % 86400) * interval '1 second' AS at) f
  JOIN commerce.channel ch ON ch.tenant_id = $TENANT AND ch.code = CASE WHEN g % 10 < 7 THEN 'wechat_mp' ELSE 'h5' END;
INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen, amount_fen)
SELECT o.tenant_id, o.order_id, 1, s.sku_id, 1, o.goods_fen, o.goods_fen
  FROM commerce.orders o, (SELECT sku_id FROM commerce.sku WHERE tenant_id = $TENANT ORDER BY sku_id LIMIT 1) s
 WHERE o.tenant_id = $TENANT AND o.order_id > $OB;
INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
SELECT $TENANT, t.tag_id, $B + g, 'bench', commerce.now() FROM generate_series(1, $PEOPLE, 10) g, commerce.tag t
 WHERE t.tenant_id = $TENANT AND t.code = 'vip';
INSERT INTO commerce.crm_event (tenant_id, person_id, kind, ref, source, request_id, at)
SELECT $TENANT, $B + 1 + (g * 7) % $PEOPLE, 'browse', 'SKU' || (g % 50), 'bench', 'e' || g, commerce.now() - (g % 30) * interval '1 day'
  FROM generate_series(1::bigint, $PEOPLE * 2) g;
SET session_replication_role = origin;
-- features and daily rollups in one pass, as the triggers would have kept them
INSERT INTO commerce.crm_day (tenant_id, person_id, day, orders, spent_fen)
SELECT o.tenant_id, o.customer_id, (o.paid_at AT TIME ZONE 'Asia/Shanghai')::date, count(*), sum(o.paid_fen - o.refunded_fen)
  FROM commerce.orders o WHERE o.tenant_id = $TENANT AND o.order_id > $OB GROUP BY 1, 2, 3;
INSERT INTO commerce.crm_feature (tenant_id, person_id, registered_at, registered_day, source, birthday_month, orders_count,
                                  spent_fen, refunded_fen, first_order_at, last_order_at, last_order_day, growth, level, updated_at)
SELECT c.tenant_id, c.person_id, c.created_at, (c.created_at AT TIME ZONE 'Asia/Shanghai')::date, 'wechat_mp',
       extract(month FROM c.birthday)::integer, coalesce(a.n, 0), coalesce(a.spent, 0), 0, a.first_at, a.last_at,
       (a.last_at AT TIME ZONE 'Asia/Shanghai')::date, coalesce(a.spent, 0) / 100, commerce._growth_level($TENANT, coalesce(a.spent, 0) / 100),
       commerce.now()
  FROM commerce.customer c
  LEFT JOIN (SELECT o.customer_id, count(*) AS n, sum(o.paid_fen - o.refunded_fen)::bigint AS spent, min(o.paid_at) AS first_at,
                    max(o.paid_at) AS last_at
               FROM commerce.orders o WHERE o.tenant_id = $TENANT AND o.order_id > $OB GROUP BY 1) a ON a.customer_id = c.customer_id
 WHERE c.tenant_id = $TENANT AND c.customer_id > $B
ON CONFLICT (tenant_id, person_id) DO NOTHING;
DELETE FROM commerce.crm_dirty;
SELECT setval(pg_get_serial_sequence('commerce.orders', 'order_id'), $OB + $ORDERS);
SELECT setval(pg_get_serial_sequence('commerce.customer', 'customer_id'), $B + $PEOPLE);
SELECT setval(pg_get_serial_sequence('commerce.person', 'person_id'), $B + $PEOPLE);
VACUUM ANALYZE;
SQL
# the bulk-computed features of a sample equal what refresh_crm_person computes
SAMPLE_DIFF=$(q -c "
  CREATE TEMP TABLE before AS SELECT * FROM commerce.crm_feature WHERE tenant_id = $TENANT AND person_id > $B AND person_id % 10007 = 1;
  SELECT count(commerce.refresh_crm_person($TENANT, person_id)) FROM before;
  SELECT count(*) FROM before b JOIN commerce.crm_feature f USING (tenant_id, person_id)
   WHERE (b.orders_count, b.spent_fen, b.last_order_at, b.level) IS DISTINCT FROM (f.orders_count, f.spent_fen, f.last_order_at, f.level);" | tail -1)
echo "crm_people: $PEOPLE, crm_orders: $ORDERS (bulk features differing from refresh_crm_person in a sample: $SAMPLE_DIFF)"

# the customer 360, as store staff from the WeCom sidebar (masked), one session
p95() {
    q -c "SELECT set_config('request.jwt.claims', '{\"role\":\"commerce_store\",\"sub\":\"st1\",\"tenant_id\":\"$TENANT\"}', false);
          SET ROLE commerce_store;
          DO \$\$ DECLARE t0 timestamptz; l double precision[] := '{}'; r bigint; BEGIN
            FOR i IN 1..2000 LOOP
              r := 1 + (i * 48271) % $PEOPLE;
              t0 := clock_timestamp();
              PERFORM commerce_api.customer_360($1);
              l := l || extract(epoch FROM clock_timestamp() - t0) * 1000;
            END LOOP;
            PERFORM set_config('bench.p', (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY x)::text FROM unnest(l) x), false);
          END \$\$;
          SELECT current_setting('bench.p');" | tail -1
}
# the first pass reads those people's rows from disk (their orders are spread over the table),
# the second from memory: both are printed
COLD=$(p95 "customer => 'crm' || r")
BY_CODE=$(p95 "customer => 'crm' || r")
BY_PHONE=$(p95 "phone => (13000000000 + r)::text")
echo "$BY_CODE" | awk -F'[{},]' '{ printf "customer360_p95_ms: %.2f (p50 %.2f, p99 %.2f; by customer code, 2000 random people, masked, rows in memory)\n", $3, $2, $4 }'
echo "$COLD" | awk -F'[{},]' '{ printf "customer360_cold_p95_ms: %.2f (p50 %.2f, p99 %.2f; the same calls, first read of their rows)\n", $3, $2, $4 }'
echo "$BY_PHONE" | awk -F'[{},]' '{ printf "customer360_by_phone_p95_ms: %.2f (p50 %.2f, p99 %.2f)\n", $3, $2, $4 }'

# a 10-condition segment over every person vs one scan-and-aggregate pass of the same rows
TREE='{"and":[{"field":"level","op":">=","value":2},{"field":"spent","days":30,"op":">","value":20000},{"field":"orders","days":90,"op":">=","value":2},{"field":"days_since_order","op":"<","value":60},{"field":"days_since_registered","op":">","value":30},{"not":{"field":"birthday_month","op":"in","value":[1,2]}},{"field":"source","op":"=","value":"wechat_mp"},{"or":[{"tag":"vip"},{"event":"browse","days":14,"op":">=","value":1}]},{"field":"growth","op":"<","value":50000}]}'
SCAN="SELECT count(*) FROM commerce.crm_feature f
  LEFT JOIN (SELECT d.person_id, sum(d.spent_fen) FILTER (WHERE d.day > DATE '2030-06-15' - 30) AS s30,
                    sum(d.orders) FILTER (WHERE d.day > DATE '2030-06-15' - 90) AS o90
               FROM commerce.crm_day d WHERE d.tenant_id = $TENANT AND d.day > DATE '2030-06-15' - 90 GROUP BY d.person_id) w
         ON w.person_id = f.person_id
  LEFT JOIN (SELECT e.person_id, count(*) AS b14 FROM commerce.crm_event e
              WHERE e.tenant_id = $TENANT AND e.at > commerce.now() - interval '14 days' AND e.kind = 'browse' GROUP BY e.person_id) e
         ON e.person_id = f.person_id
 WHERE f.tenant_id = $TENANT AND f.level >= 2 AND coalesce(w.s30, 0) > 20000 AND coalesce(w.o90, 0) >= 2
   AND DATE '2030-06-15' - f.last_order_day < 60 AND DATE '2030-06-15' - f.registered_day > 30
   AND NOT coalesce(f.birthday_month IN (1, 2), false) AND f.source = 'wechat_mp'
   AND (EXISTS (SELECT 1 FROM commerce.person_tag pt JOIN commerce.tag t USING (tenant_id, tag_id)
                 WHERE pt.tenant_id = $TENANT AND pt.person_id = f.person_id AND t.code = 'vip')
        OR coalesce(e.b14, 0) >= 1)
   AND f.growth < 50000"
q -c "$SCAN" >/dev/null   # warm
SCAN_MS=$(ms "$SCAN")
BUILD_MS=$(ms "SELECT commerce.define_segment($TENANT, 'ten', 'Ten conditions', '$TREE')")
REBUILD_MS=$(ms "SELECT commerce.rebuild_segment($TENANT, 'ten')")
SCAN_MS2=$(ms "$SCAN")
MEMBERS=$(q -c "SELECT count(*) FROM commerce.segment_member m JOIN commerce.segment g USING (tenant_id, segment_id) WHERE g.code = 'ten'")
SCANNED=$(q -c "$SCAN")
SCAN_BEST=$(( SCAN_MS < SCAN_MS2 ? SCAN_MS : SCAN_MS2 ))
awk -v r="$REBUILD_MS" -v s="$SCAN_BEST" -v b="$BUILD_MS" -v m="$MEMBERS" -v n="$SCANNED" 'BEGIN {
  printf "segment_vs_scan: %.2f (rebuild %d ms, scan %d ms, %d members; the scan counts %d)\n", r / s, r, s, m, n;
  printf "segment_build_vs_scan: %.2f (first build %d ms, every member inserted)\n", b / s, b }'

# the pump: 20,000 changed people against 10 segments
for i in 1 2 3 4 5 6 7 8 9; do
    q -c "SELECT commerce.define_segment($TENANT, 'seg$i', 'Segment $i', '{\"and\":[{\"field\":\"spent\",\"days\":$((i * 10)),\"op\":\">\",\"value\":$((i * 10000))},{\"field\":\"level\",\"op\":\">=\",\"value\":$((i % 4))}]}')" >/dev/null
done
q -c "INSERT INTO commerce.crm_dirty (tenant_id, person_id) SELECT $TENANT, $B + 1 + (g * 15485863) % $PEOPLE FROM generate_series(1::bigint, 20000) g" >/dev/null
PUMP_MS=$(ms "CALL commerce.crm_pump(1000)")
awk -v t="$PUMP_MS" 'BEGIN { printf "pump_people_per_s: %.0f (20000 people x 10 segments in %d ms)\n", 20000 * 1000 / t, t }'

# export of a 1M-member segment
q -c "SELECT commerce.define_segment($TENANT, 'everyone', 'Everyone', '{\"field\":\"orders\",\"op\":\">=\",\"value\":0}')" >/dev/null
T0=$(date +%s%N); q -c "COPY (SELECT * FROM commerce.export_segment($TENANT, 'everyone')) TO STDOUT" | wc -l > /tmp/crm_export_rows; T1=$(date +%s%N)
T2=$(date +%s%N); q -c "COPY (SELECT * FROM commerce.export_segment($TENANT, 'everyone', 'sha256')) TO STDOUT" > /dev/null; T3=$(date +%s%N)
awk -v a="$(( (T1 - T0) / 1000000 ))" -v b="$(( (T3 - T2) / 1000000 ))" -v n="$(cat /tmp/crm_export_rows)" 'BEGIN {
  printf "export_1m_s: %.1f (%d rows masked); sha256 %.1f s\n", a / 1000, n, b / 1000 }'
rm -f /tmp/crm_export_rows

# RFM of every buyer (C): the first run (every buyer written), the next day's (nothing moved), against
# one scan-and-aggregate pass of the same rows computing the same scores and tiers (rank windows)
RFM_FIRST=$(ms "SELECT commerce.crm_score_rfm($TENANT)")
RFM_DAILY=$(ms "SELECT commerce.crm_score_rfm($TENANT)")
RFM_SCAN=$(ms "SELECT count(*), count(DISTINCT tier) FROM (
  SELECT CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champion' WHEN r >= 3 AND f >= 3 THEN 'loyal' WHEN r >= 4 THEN 'new'
              WHEN r = 3 THEN 'promising' WHEN f >= 3 THEN 'at_risk' WHEN r = 2 THEN 'hibernating' ELSE 'lost' END AS tier
    FROM (SELECT 1 + 5 * (rank() OVER (ORDER BY date '2030-06-15' - last_order_day DESC) - 1) / count(*) OVER () AS r,
                 1 + 5 * (rank() OVER (ORDER BY orders_count) - 1) / count(*) OVER () AS f,
                 1 + 5 * (rank() OVER (ORDER BY spent_fen) - 1) / count(*) OVER () AS m
            FROM commerce.crm_feature WHERE tenant_id = $TENANT AND orders_count > 0) x) y")
RFM_N=$(q -c "SELECT persons FROM commerce.crm_rfm_run WHERE tenant_id = $TENANT")
awk -v d="$RFM_DAILY" -v f="$RFM_FIRST" -v s="$RFM_SCAN" -v n="$RFM_N" 'BEGIN {
  printf "rfm_vs_scan: %.2f (the daily run %d ms over %d buyers; the scan %d ms)\n", d / s, d, n, s;
  printf "rfm_first_vs_scan: %.2f (the first run %d ms, every buyer written)\n", f / s, f }'
# the churn model on the same history (10M orders' daily rollups): fit on a strict time split, then
# every buyer scored and tagged; against one pass grouping the daily rollups per person
TRAIN_MS=$(ms "SELECT commerce.crm_train_churn($TENANT, 'bench')")
SCORE_MS=$(ms "SELECT commerce.crm_score_churn($TENANT)")
HIST_MS=$(ms "SELECT count(*) FROM (SELECT person_id, count(*), max(day) - min(day) FROM commerce.crm_day
                                     WHERE tenant_id = $TENANT AND orders > 0 GROUP BY person_id) h")
awk -v t="$TRAIN_MS" -v c="$SCORE_MS" -v h="$HIST_MS" 'BEGIN {
  printf "churn_train_vs_scan: %.2f (fit and holdout %d ms; the grouping pass %d ms)\n", t / h, t, h;
  printf "churn_score_vs_scan: %.2f (every buyer scored and tagged in %d ms)\n", c / h, c }'

# flows: 20,000 runs of a three-step flow (points, a tag, an SMS under no cap) from queued triggers,
# against the same rows written by plain INSERTs into tables of the same shape (indexes included)
fresh
q >/dev/null <<SQL
SET client_min_messages = warning;
SELECT commerce.upsert_tag_category($TENANT, 'beh', 'Behaviour', 'behaviour');
SELECT commerce.create_tag($TENANT, 'go', 'Go', 'beh');
SELECT commerce.define_flow($TENANT, 'go', 'Go', '{"trigger":{"on":"event","ref":"custom.go"},"steps":[
  {"id":"p","action":{"points":5}},{"id":"t","action":{"tag":"go"}},{"id":"m","action":{"message":{"channel":"sms","template":"go"}}}]}');
INSERT INTO commerce.customer (tenant_id, code, phone) SELECT $TENANT, 'fl' || g, (15000000000 + g)::text FROM generate_series(1, 20000) g;
INSERT INTO commerce.flow_trigger (tenant_id, person_id, kind, ref, key, at)
SELECT c.tenant_id, c.person_id, 'event', 'custom.go', 'go:' || c.person_id, commerce.now() FROM commerce.customer c
 WHERE c.tenant_id = $TENANT AND c.code LIKE 'fl%';
CREATE TABLE public.b_run (LIKE commerce.flow_run INCLUDING ALL);
CREATE TABLE public.b_step (LIKE commerce.flow_step_run INCLUDING ALL);
CREATE TABLE public.b_lot (LIKE commerce.points_lot INCLUDING ALL);
CREATE TABLE public.b_tag (LIKE commerce.person_tag INCLUDING ALL);
CREATE TABLE public.b_outbox (LIKE commerce.outbox INCLUDING ALL);
SQL
FLOW_MS=$(ms "CALL commerce.flow_pump(1000)")
STEPS=$(q -c "SELECT count(*) FROM commerce.flow_step_run")
PLAIN_MS=$(ms "BEGIN;
INSERT INTO public.b_run (tenant_id, run_id, flow_id, version, person_id, run_no, trigger_key, status, step_no, seq, started_at, updated_at, ended_at)
SELECT tenant_id, run_id + 1000000, flow_id, version, person_id, run_no, trigger_key || 'x', 'done', 1, 3, started_at, updated_at, ended_at FROM commerce.flow_run;
INSERT INTO public.b_step SELECT tenant_id, run_id + 1000000, seq, step_id, kind, outcome, detail, message_id, at FROM commerce.flow_step_run;
INSERT INTO public.b_lot (tenant_id, lot_id, customer_id, source, source_key, points, remaining, status, available_at, expires_at, created_at)
SELECT tenant_id, lot_id + 1000000, customer_id, source, source_key || 'x', points, remaining, status, available_at, expires_at, created_at FROM commerce.points_lot;
INSERT INTO public.b_tag SELECT tenant_id, tag_id, person_id, tagged_by, tagged_at FROM commerce.person_tag;
INSERT INTO public.b_outbox SELECT * FROM commerce.outbox WHERE topic = 'crm.message';
COMMIT;")
awk -v f="$FLOW_MS" -v p="$PLAIN_MS" -v n="$STEPS" 'BEGIN {
  printf "flow_steps_per_s: %.0f (%d steps of 20000 runs in %d ms)\n", n * 1000 / f, n, f;
  printf "flow_vs_plain_inserts: %.2f (the same rows by plain INSERTs in %d ms)\n", p / f, p }'

# the sync: order and payment with a third-party CRM mapped (persons and orders: a message each per
# payment) against none, while an adapter claims and acknowledges every 200 ms; the monitor's delay
# from a change to its acknowledgement (wall clock)
fresh; q -c "$customers" >/dev/null
q -c "SELECT commerce.upsert_sync_system($TENANT, 'wl', 'WeLink', '{\"person\": {\"code\": \"LocalCode\", \"spent_fen\": \"Spent\", \"level\": \"Level\"}, \"order\": {\"order_id\": \"Ref\", \"status\": \"State\", \"paid_fen\": \"Paid\"}}')" >/dev/null
adapter() {
    local end=$((SECONDS + SECONDS_PER + 3))
    while [ $SECONDS -lt $end ]; do
        q -c "WITH c AS MATERIALIZED (SELECT message_id FROM commerce.claim('crm.sync.wl', 'bench', 5000, '5 minutes', $TENANT))
                           SELECT count(commerce.sync_result($TENANT, c.message_id, 'bench', true)) FROM c" >/dev/null
        sleep 0.2
    done
}
adapter & APID=$!
pgbench -n -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER" -M prepared -D tenant="$TENANT" -f order_pay.sql > "$out/c" 2>&1 || { cat "$out/c" >&2; exit 1; }
wait "$APID"
C=$(tps "$out/c")
MON=$(q -c "SELECT sum(acked) || ' ' || coalesce(max(delay_p50_ms) FILTER (WHERE object_type = 'order'), -1) || ' ' || coalesce(max(delay_p95_ms) FILTER (WHERE object_type = 'order'), -1) || ' ' || sum(pending + failed)
                          FROM commerce.sync_monitor($TENANT, 'wl', '1 day')")
awk -v c="$C" -v a="$A" -v m="$MON" 'BEGIN { split(m, x, " ");
  printf "sync_order_vs_without: %.2f (order and payment %.0f/s with a system mapping persons and orders, %.0f/s without)\n", c / a, c, a;
  printf "sync_delay_p95_ms: %.0f (p50 %.0f; %d messages acknowledged by an adapter polling every 200 ms, %d left unacknowledged)\n", x[3], x[2], x[1], x[4] }'
# the churn model against the oracle, on a generated BG/NBD history (the stress script at 20,000 people)
CHURN_PEOPLE=20000 bash ../stress/crm_churn_oracle.sh | sed -n 's/^  \(churn_auc_vs_oracle: .*\)$/\1 (20,000 generated people; test\/stress\/crm_churn_oracle.sh)/p'

#!/usr/bin/env bash
# Points oracle (issue 13): 300 customers buy 3,000 orders over 30 days on
# two channels with different rules (1 point a yuan with a 7-day return
# window; 2 points a yuan at once); 900 refunds, partial or whole, before and
# after the window; 2,000 spend attempts (a driver's log keeps which
# succeeded); grants that expire; the pump every day. An independent
# computation in plain SQL from the generated events (amounts, refunds,
# rules, the driver's log) must agree per customer, to the point, with
# every account: earned, spent, reversed + unrecovered, expired, and what is
# left; the invariants hold; nobody's balance is ever below zero. Then one
# customer buys, earns and is refunded 100 times: net points 0. Then 150
# random merges of persons and unmerges of every third: the persons equal the
# script's own partition and each person's points are the oracle's sum over
# its customers.
. "$(dirname "$0")/lib/common.sh"
fresh_db points_oracle
start=$(date +%s)

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SET commerce.now = '2030-04-01 09:00:00+08';
SELECT commerce.create_tenant('pts', 'Points oracle');
SELECT commerce.upsert_product(commerce.tenant_id('pts'), 'P', 'Thing');
SELECT commerce.upsert_sku(commerce.tenant_id('pts'), 'P', 'S', 'Thing', 100);
SELECT commerce.receive_stock(commerce.tenant_id('pts'), 'r', 'S', 1000000);
SELECT commerce.set_points_rule(commerce.tenant_id('pts'), 'wechat_mp', 1, 'paid', 7, 365);
SELECT commerce.set_points_rule(commerce.tenant_id('pts'), 'h5', 2, 'paid', 0, 20);
SELECT commerce.upsert_customer(commerce.tenant_id('pts'), 'c' || i) FROM generate_series(1, 300) i;
SELECT setseed(0.31);
-- the generated events
CREATE TABLE public.gen_order AS
SELECT n, 'c' || (1 + floor(random() * 300))::int AS customer, (ARRAY['wechat_mp', 'h5'])[1 + floor(random() * 2)::int] AS channel,
       1 + floor(random() * 500)::int AS qty, 1 + floor(random() * 30)::int AS day
  FROM generate_series(1, 3000) n;
CREATE TABLE public.gen_refund AS
SELECT n, day + floor(random() * 12)::int AS day,
       CASE WHEN random() < 0.4 THEN qty * 100 ELSE greatest(1, floor(qty * 100 * random())::bigint) END AS amount
  FROM public.gen_order WHERE random() < 0.3;
CREATE TABLE public.gen_spend AS
SELECT s, 'c' || (1 + floor(random() * 300))::int AS customer, 1 + floor(random() * 400)::int AS points,
       1 + floor(random() * 42)::int AS day
  FROM generate_series(1, 2000) s;
CREATE TABLE public.gen_grant AS
SELECT g, 'c' || (1 + floor(random() * 300))::int AS customer, 1 + floor(random() * 100)::int AS points,
       1 + floor(random() * 30)::int AS day, 1 + floor(random() * 10)::int AS lasts
  FROM generate_series(1, 600) g;
CREATE TABLE public.spend_log (s int PRIMARY KEY, ok boolean);
CREATE TABLE public.order_map (n int PRIMARY KEY, order_id bigint);
SQL

# day by day: orders and their payments, grants, refunds, spends, then the pump at night
for day in $(seq 1 42); do
    q >/dev/null <<SQL
SET commerce.now = '$(date -d "2030-04-01 +$((day - 1)) days" +%F) 10:00:00+08';
INSERT INTO public.order_map
SELECT g.n, (commerce.place_order(commerce.tenant_id('pts'), 'o' || g.n, g.channel,
                                  jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', 'S', 'qty', g.qty))),
                                  g.customer)).order_id
  FROM public.gen_order g WHERE g.day = $day ORDER BY g.n;
SELECT count(commerce.pay_order(commerce.tenant_id('pts'), m.order_id, 'pay-' || g.n, g.qty * 100))
  FROM public.gen_order g JOIN public.order_map m USING (n) WHERE g.day = $day;
SELECT count(commerce.earn_points(commerce.tenant_id('pts'), 'grant', 'g' || g, customer, points, 'campaign', 0, lasts))
  FROM public.gen_grant WHERE day = $day;
DO \$\$
DECLARE r record; a commerce.after_sale_row;
BEGIN
    FOR r IN SELECT f.n, f.amount, m.order_id FROM public.gen_refund f JOIN public.order_map m USING (n)
              WHERE f.day = $day ORDER BY f.n LOOP
        a := commerce.request_after_sale(commerce.tenant_id('pts'), 'as-' || r.n, r.order_id, 'refund_only', r.amount, 'oracle');
        a := commerce.decide_after_sale(commerce.tenant_id('pts'), a.after_sale_id, true);
        a := commerce.complete_refund(commerce.tenant_id('pts'), a.after_sale_id);
    END LOOP;
    FOR r IN SELECT * FROM public.gen_spend WHERE day = $day ORDER BY s LOOP
        BEGIN
            PERFORM commerce.spend_points(commerce.tenant_id('pts'), 'sp-' || r.s, r.customer, r.points, 'mall');
            INSERT INTO public.spend_log VALUES (r.s, true);
        EXCEPTION WHEN SQLSTATE 'PT409' THEN
            INSERT INTO public.spend_log VALUES (r.s, false);
        END;
    END LOOP;
END \$\$;
SET commerce.now = '$(date -d "2030-04-01 +$((day - 1)) days" +%F) 23:30:00+08';
CALL commerce.points_pump();
SQL
done
echo "  generated 3000 orders, $(q -c "SELECT count(*) FROM public.gen_refund") refunds, 2000 spend attempts, 600 grants in $(( $(date +%s) - start )) s"

# the oracle: from the generated events only
q >/dev/null <<'SQL'
CREATE TABLE public.oracle AS
WITH o AS (
    SELECT g.customer, g.channel, g.qty * 100 AS paid, coalesce(f.refunded, 0) AS refunded,
           (g.qty * 100) * CASE g.channel WHEN 'wechat_mp' THEN 1 ELSE 2 END / 100 AS points
      FROM public.gen_order g
      LEFT JOIN (SELECT n, least(sum(amount), max(qty) * 100) AS refunded
                   FROM public.gen_refund JOIN public.gen_order USING (n) GROUP BY n) f USING (n)),
per AS (
    SELECT customer, sum(points) AS earned, sum(floor(points::numeric * refunded / paid))::bigint AS taken_back
      FROM o GROUP BY customer),
spends AS (
    SELECT s.customer, sum(s.points) AS spent FROM public.gen_spend s JOIN public.spend_log l USING (s) WHERE l.ok
     GROUP BY s.customer),
grants AS (SELECT customer, sum(points) AS granted FROM public.gen_grant GROUP BY customer)
SELECT 'c' || i AS customer, coalesce(p.earned, 0) + coalesce(g.granted, 0) AS earned,
       coalesce(p.taken_back, 0) AS taken_back, coalesce(s.spent, 0) AS spent
  FROM generate_series(1, 300) i
  LEFT JOIN per p ON p.customer = 'c' || i LEFT JOIN spends s ON s.customer = 'c' || i
  LEFT JOIN grants g ON g.customer = 'c' || i;
SQL
diff_rows() { # the customers whose account differs from the oracle in the given expression pair
    q -c "SELECT count(*) FROM public.oracle x JOIN commerce.customer cu ON cu.code = x.customer
            LEFT JOIN commerce.points_account a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
           WHERE $1 IS DISTINCT FROM $2"
}
check "customers whose earned points differ" "$(diff_rows 'coalesce(a.earned, 0)' 'x.earned')" "0"
check "customers whose refunds took back other than floor(points x refunded / paid)" \
    "$(diff_rows 'coalesce(a.reversed + a.unrecovered, 0)' 'x.taken_back')" "0"
check "customers whose spent points differ from the driver's log" "$(diff_rows 'coalesce(a.spent, 0)' 'x.spent')" "0"
check "customers whose left + expired differ" \
    "$(diff_rows 'coalesce(a.available + a.pending + a.expired, 0)' 'x.earned - x.taken_back - x.spent + coalesce(a.unrecovered, 0)')" "0"
check "refused spends were more than the points available" \
    "$(q -c "SELECT count(*) FILTER (WHERE NOT ok) > 0 AND count(*) FILTER (WHERE ok) > 0 FROM public.spend_log")" "t"
check "points expired (grants lasting 1-10 days, h5 points 20 days)" "$(q -c "SELECT sum(expired) > 0 FROM commerce.points_account")" "t"
check "accounts below zero" "$(q -c "SELECT count(*) FROM commerce.points_account WHERE available < 0 OR pending < 0")" "0"
check "points invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_points_invariants()")" "0"
check "stock and order invariant violations" \
    "$(q -c "SELECT (SELECT count(*) FROM commerce.check_stock_invariants()) + (SELECT count(*) FROM commerce.check_order_invariants())")" "0"

# buy, earn, refund 100 times: net points 0
q >/dev/null <<'SQL'
SET commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.upsert_customer(commerce.tenant_id('pts'), 'loop');
DO $$
DECLARE o commerce.order_result; a commerce.after_sale_row;
BEGIN
    FOR i IN 1..100 LOOP
        o := commerce.place_order(commerce.tenant_id('pts'), 'loop-' || i, 'wechat_mp',
                                  jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', 'S', 'qty', 1 + i % 7))), 'loop');
        PERFORM commerce.pay_order(commerce.tenant_id('pts'), o.order_id, 'loop-pay-' || i, o.payable_fen);
        a := commerce.request_after_sale(commerce.tenant_id('pts'), 'loop-as-' || i, o.order_id, 'refund_only', o.payable_fen, 'loop');
        a := commerce.decide_after_sale(commerce.tenant_id('pts'), a.after_sale_id, true);
        PERFORM commerce.complete_refund(commerce.tenant_id('pts'), a.after_sale_id);
    END LOOP;
END $$;
SQL
check "buy, earn, refund 100 times: points left" \
    "$(q -c "SELECT a.earned > 0, a.available + a.pending FROM commerce.points_account a JOIN commerce.customer cu USING (tenant_id, customer_id) WHERE cu.code = 'loop'" | tr '|' ' ')" "t 0"
# merges and unmerges of persons: 150 random pairs merged, every third unmerged (newest first); the
# oracle keeps its own partition (a plain table of who is with whom) and each person's points must
# be the sum of its customers' points by the independent computation above
q >/dev/null <<'SQL'
SET commerce.now = '2030-06-02 10:00:00+08';
CREATE TABLE public.oracle_person AS SELECT cu.customer_id, cu.customer_id AS root FROM commerce.customer cu
 WHERE cu.tenant_id = commerce.tenant_id('pts') AND cu.code LIKE 'c%';
CREATE TABLE public.merge_log (n int, merge_id bigint, moved bigint[]);
DO $$
DECLARE a bigint; b bigint; pa bigint; pb bigint; ra bigint; rb bigint; v_moved bigint[]; v_merge bigint;
BEGIN
    PERFORM setseed(0.57);
    FOR i IN 1..150 LOOP
        SELECT customer_id INTO a FROM public.oracle_person ORDER BY random() LIMIT 1;
        SELECT customer_id INTO b FROM public.oracle_person ORDER BY random() LIMIT 1;
        SELECT root INTO ra FROM public.oracle_person WHERE customer_id = a;
        SELECT root INTO rb FROM public.oracle_person WHERE customer_id = b;
        CONTINUE WHEN ra = rb;
        SELECT person_id INTO pa FROM commerce.customer WHERE tenant_id = commerce.tenant_id('pts') AND customer_id = a;
        SELECT person_id INTO pb FROM commerce.customer WHERE tenant_id = commerce.tenant_id('pts') AND customer_id = b;
        PERFORM commerce.merge_persons(commerce.tenant_id('pts'), pa, pb, 'oracle ' || i);
        SELECT max(merge_id) INTO v_merge FROM commerce.person_merge WHERE tenant_id = commerce.tenant_id('pts');
        -- the oracle: the group with the larger root joins the smaller
        SELECT array_agg(customer_id) INTO v_moved FROM public.oracle_person WHERE root = greatest(ra, rb);
        UPDATE public.oracle_person SET root = least(ra, rb) WHERE root = greatest(ra, rb);
        INSERT INTO public.merge_log VALUES (i, v_merge, v_moved);
    END LOOP;
    -- unmerge every third, newest first (a merge's later merges of the same person go first)
    FOR v_merge IN SELECT merge_id FROM public.merge_log ORDER BY merge_id DESC LOOP
        CONTINUE WHEN v_merge % 3 <> 0;
        BEGIN
            PERFORM commerce.unmerge_persons(commerce.tenant_id('pts'), v_merge);
            UPDATE public.oracle_person o SET root = (SELECT min(x) FROM unnest(l.moved) x)
              FROM public.merge_log l WHERE l.merge_id = v_merge AND o.customer_id = ANY (l.moved);
        EXCEPTION WHEN SQLSTATE 'PT409' THEN
            NULL;   -- later merges of that person stand: it stays merged, and so does the oracle
        END;
    END LOOP;
END $$;
SQL
check "merges in force and undone (both > 20)" "$(q -c "SELECT count(*) FILTER (WHERE unmerged_at IS NULL) > 20 AND count(*) FILTER (WHERE unmerged_at IS NOT NULL) > 20 FROM commerce.person_merge")" "t"
check "persons = the oracle's partition" "$(q -c "
  SELECT count(*) FROM public.oracle_person a JOIN public.oracle_person b ON a.customer_id < b.customer_id
    JOIN commerce.customer ca ON ca.tenant_id = commerce.tenant_id('pts') AND ca.customer_id = a.customer_id
    JOIN commerce.customer cb ON cb.tenant_id = commerce.tenant_id('pts') AND cb.customer_id = b.customer_id
   WHERE (a.root = b.root) <> (ca.person_id = cb.person_id)")" "0"
check "persons whose points differ from the oracle's sum" "$(q -c "
  SELECT count(*) FROM (SELECT o.root, min(cu.person_id) AS person,
                               sum(x.earned - x.taken_back - x.spent + coalesce(a.unrecovered, 0) - coalesce(a.expired, 0)) AS want
                          FROM public.oracle_person o JOIN commerce.customer cu ON cu.tenant_id = commerce.tenant_id('pts') AND cu.customer_id = o.customer_id
                          JOIN public.oracle x ON x.customer = cu.code
                          LEFT JOIN commerce.points_account a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
                         GROUP BY o.root) w
   WHERE w.want <> (SELECT points_available + points_pending FROM commerce._person_view(commerce.tenant_id('pts'), w.person))")" "0"
check "identity invariant violations after merges and unmerges" "$(q -c "SELECT count(*) FROM commerce.check_identity_invariants()")" "0"
echo "  points oracle: $(( $(date +%s) - start )) s"
exit $FAILED

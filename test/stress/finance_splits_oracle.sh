#!/usr/bin/env bash
# Profit-split oracle (issue 16, H3.7.2). Part 1: 1,000,000 random cases
# (line amounts from 0 to 2 x 10^8 fen, 1 to 6 parties with fixed parts or
# ratios, gateway caps of 0 to 100%, fees, partial and full refunds) are split
# by the database (commerce.share_fen, rate_fen, prorate_fen, as a split line
# computes them) and by lib/split_oracle.pl, written from the rule in
# docs/finance.md: every case must match exactly, the parts add up to the
# base, none is negative, the parties stay within the cap, and a full refund
# leaves every party 0. Part 2: a year of generated orders on rules of T+7,
# T+15 and T+30 (one paying late parts by transfer), completed 0 to 20 days
# after payment, some refunded before and some after their split, finance
# approving every morning and the gateway paying the next day: every gateway
# split is submitted before its payment's freeze ends, and every invariant
# holds.
. "$(dirname "$0")/lib/common.sh"
fresh_db finance_splits_oracle
WORK="$(mktemp -d /tmp/commerce-split.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ORACLE="$(cd "$(dirname "$0")" && pwd)/lib/split_oracle.pl"
CASES=${SPLIT_CASES:-1000000}
start=$(date +%s)
perl "$ORACLE" gen "$CASES" 16 "$WORK/cases.tsv"
chmod a+rx "$WORK"; chmod a+r "$WORK"/*.tsv
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
CREATE TABLE split_case (id integer, net bigint, refund bigint, max_bp integer, fee_bp integer, qty integer,
                         fixed bigint[], ratio bigint[]);
\copy split_case FROM '$WORK/cases.tsv'
SQL
t0=$(date +%s%N)
q -F $'\t' -c "
  SELECT id, commerce.share_fen((net - refund) - commerce.rate_fen(net - refund, fee_bp), commerce.rate_fen(net - refund, max_bp),
                                ARRAY(SELECT CASE WHEN net = 0 THEN 0 ELSE commerce.prorate_fen(least(f * qty, 1000000000000000), net - refund, net) END
                                        FROM unnest(fixed) f), ratio)
    FROM split_case ORDER BY id" > "$WORK/db.tsv"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
echo "  $CASES cases split by the database in $ms ms ($(( CASES * 1000 / (ms > 0 ? ms : 1) )) cases/s)"
perl "$ORACLE" judge "$WORK/cases.tsv" "$WORK/db.tsv" > "$WORK/judge.txt"
j() { sed -n "s/^$1 //p" "$WORK/judge.txt"; }
check "cases judged" "$(j cases)" "$CASES"
check "cases where the database and the oracle differ" "$(j mismatch)" "0"
check "cases whose parts do not add up to the base" "$(j sum_off)" "0"
check "cases with a negative part" "$(j negative)" "0"
check "cases whose parties pass the gateway's cap" "$(j above_cap)" "0"
check "full refunds leaving a party anything" "$(j full_refund_nonzero)" "0"
echo "  full refunds among the cases: $(j full_refunds)"

# part 2: a year of orders
q >/dev/null <<'SQL'
SET client_min_messages = warning;
SET TimeZone = 'Asia/Shanghai';
SELECT set_config('commerce.now', '2026-01-01 08:00:00+08', false);
SELECT commerce.create_tenant('year', 'A year of splits');
SELECT commerce.upsert_product(commerce.tenant_id('year'), p, p) FROM unnest(ARRAY['W7', 'F15', 'M30', 'T30']) p;
SELECT commerce.upsert_sku(commerce.tenant_id('year'), p, p || '-1', p, price)
  FROM (VALUES ('W7', 19900), ('F15', 29900), ('M30', 9900), ('T30', 49900)) v(p, price);
SELECT commerce.receive_stock(commerce.tenant_id('year'), 'r-' || p, p || '-1', 100000) FROM unnest(ARRAY['W7', 'F15', 'M30', 'T30']) p;
SELECT commerce.upsert_sharing_receiver(commerce.tenant_id('year'), 'studio', 'merchant', 'mch-1', 'Studio');
SELECT commerce.upsert_sharing_receiver(commerce.tenant_id('year'), 'supply', 'merchant', 'mch-2', 'Supply chain');
SELECT commerce.upsert_sharing_receiver(commerce.tenant_id('year'), 'creator', 'personal', 'openid-1', 'Creator');
SELECT commerce.set_sharing_rule(commerce.tenant_id('year'), 'product', 'W7', '[{"receiver":"creator","fixed_fen":300},{"receiver":"studio","ratio_bp":2000}]', 7);
SELECT commerce.set_sharing_rule(commerce.tenant_id('year'), 'product', 'F15', '[{"receiver":"supply","ratio_bp":1500},{"receiver":"creator","ratio_bp":1000}]', 15);
SELECT commerce.set_sharing_rule(commerce.tenant_id('year'), 'product', 'M30', '[{"receiver":"studio","ratio_bp":1000},{"receiver":"creator","fixed_fen":200}]', 30);
SELECT commerce.set_sharing_rule(commerce.tenant_id('year'), 'product', 'T30', '[{"receiver":"supply","ratio_bp":2500}]', 30, 'transfer');
CREATE TABLE sim_order (n integer PRIMARY KEY, order_id bigint, pay_day integer, complete_day integer, refund_day integer,
                        refund_share integer);
SELECT setseed(0.16);
INSERT INTO sim_order (n, pay_day, complete_day, refund_day, refund_share)
SELECT n, d, d + delay,
       CASE WHEN r < 0.08 THEN d + (random() * 5)::integer WHEN r < 0.16 THEN d + delay + 1 + (random() * 40)::integer END,
       CASE WHEN random() < 0.5 THEN 100 ELSE 1 + (random() * 99)::integer END
  FROM (SELECT n, (n % 365) AS d, (random() * 20)::integer AS delay, random() AS r FROM generate_series(1, 3650) n) g;
SQL
t0=$(date +%s)
q >/dev/null <<'SQL'
SET client_min_messages = warning;
SET TimeZone = 'Asia/Shanghai';
DO $$
DECLARE
    t bigint := commerce.tenant_id('year'); d integer; o record; s record; v_res commerce.order_result; a record;
    skus text[] := ARRAY['W7-1', 'F15-1', 'M30-1', 'T30-1'];
BEGIN
    FOR d IN 0 .. 420 LOOP
        IF d % 10 = 0 THEN
            ANALYZE;   -- one transaction: the planner sees the tables grow
        END IF;
        PERFORM set_config('commerce.now', ((date '2026-01-01' + d) + time '09:00')::text || '+08', true);
        -- the day's orders, paid
        FOR o IN SELECT * FROM sim_order WHERE pay_day = d ORDER BY n LOOP
            v_res := commerce.place_order(t, 'o' || o.n, 'wechat_mp', jsonb_build_object('lines', jsonb_build_array(
                         jsonb_build_object('sku', skus[1 + o.n % 4], 'qty', 1 + o.n % 3),
                         jsonb_build_object('sku', skus[1 + (o.n / 4) % 4], 'qty', 1))));
            PERFORM commerce.pay_order(t, v_res.order_id, 'wx-' || o.n, v_res.payable_fen);
            UPDATE sim_order SET order_id = v_res.order_id WHERE n = o.n;
        END LOOP;
        -- the day's completions (an order in after-sale completes when it comes back)
        FOR o IN SELECT so.order_id FROM sim_order so JOIN commerce.orders x ON x.tenant_id = t AND x.order_id = so.order_id
                  WHERE so.complete_day <= d AND x.status IN ('paid', 'shipped') ORDER BY so.n LOOP
            PERFORM commerce.complete_order(t, o.order_id);
        END LOOP;
        -- the day's refunds: before completion, before the split or after it
        FOR o IN SELECT so.*, x.paid_fen - x.refunded_fen AS left_fen FROM sim_order so
                   JOIN commerce.orders x ON x.tenant_id = t AND x.order_id = so.order_id
                  WHERE so.refund_day = d AND x.status IN ('paid', 'shipped', 'completed') ORDER BY so.n LOOP
            SELECT * INTO a FROM commerce.request_after_sale(t, 'as-' || o.n, o.order_id, 'refund_only',
                                                            greatest(1, o.left_fen * o.refund_share / 100), 'sim');
            PERFORM commerce.decide_after_sale(t, a.after_sale_id, true);
            PERFORM commerce.complete_refund(t, a.after_sale_id);
        END LOOP;
        -- the gateway pays yesterday's requests and returns
        FOR s IN SELECT request_no FROM commerce.profit_split WHERE tenant_id = t AND status = 'submitted'
                    AND submitted_at < commerce.now() - interval '12 hours' ORDER BY split_id LOOP
            PERFORM commerce.record_split_result(t, s.request_no, 'finished');
        END LOOP;
        FOR s IN SELECT return_no FROM commerce.profit_split_adjustment WHERE tenant_id = t AND status = 'requested'
                    ORDER BY adjustment_id LOOP
            PERFORM commerce.record_split_return(t, s.return_no, 'returned');
        END LOOP;
        -- the job, finance's morning approvals, the job again
        PERFORM commerce.split_pump(100000);
        FOR s IN SELECT split_id FROM commerce.profit_split WHERE tenant_id = t AND status = 'payable' ORDER BY split_id LOOP
            PERFORM commerce.decide_split(t, s.split_id, true, 'fin-sim');
        END LOOP;
        PERFORM commerce.split_pump(100000);
    END LOOP;
END $$;
SQL
echo "  a year simulated in $(( $(date +%s) - t0 )) s: $(q -c "SELECT count(*) FROM commerce.orders") orders, $(q -c "SELECT count(*) FROM commerce.profit_split") splits ($(q -c "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM commerce.profit_split GROUP BY 1) x")), $(q -c "SELECT count(*) FROM commerce.profit_split_adjustment WHERE kind = 'return'") returns, $(q -c "SELECT count(*) FROM commerce.profit_split_adjustment WHERE kind = 'debt'") debts"
echo "  completion to submission: $(q -c "SELECT 'p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.submitted_at - o.completed_at) / 86400)::numeric, 1) || ' days, max ' || round(max(extract(epoch FROM s.submitted_at - o.completed_at) / 86400)::numeric, 1) || ' days; freeze left at submission min ' || round(min(extract(epoch FROM so.freeze_ends - s.submitted_at) / 86400)::numeric, 1) || ' days' FROM commerce.profit_split s JOIN commerce.orders o USING (tenant_id, order_id) JOIN commerce.sharing_order so USING (tenant_id, order_id) WHERE s.method = 'gateway' AND s.submitted_at IS NOT NULL")"
check "gateway splits submitted before the freeze ends" "$(q -c "SELECT count(*) FILTER (WHERE s.submitted_at < so.freeze_ends) || '/' || count(*) FROM commerce.profit_split s JOIN commerce.sharing_order so USING (tenant_id, order_id) WHERE s.method = 'gateway' AND s.status NOT IN ('cancelled')")" \
      "$(q -c "SELECT count(*) || '/' || count(*) FROM commerce.profit_split WHERE method = 'gateway' AND status NOT IN ('cancelled')")"
check "splits left unpaid at the end" "$(q -c "SELECT count(*) FROM commerce.profit_split WHERE status NOT IN ('finished', 'cancelled')")" "0"
check "late parts paid by transfer (the T+30 transfer rule)" "$(q -c "SELECT count(*) > 0 FROM commerce.profit_split WHERE method = 'transfer' AND status = 'finished'")" "t"
check "fully refunded orders whose split paid anyone" "$(q -c "
  SELECT count(*) FROM commerce.orders o JOIN commerce.profit_split s USING (tenant_id, order_id)
   WHERE o.refunded_fen = o.paid_fen AND s.parties_fen <> 0")" "0"
# money, from the receivers' side: what they were paid less what they returned is what they earn now
# plus what they still owe (returns not yet back, debts not yet netted)
check "receivers hold what they earn now plus what they still owe" "$(q -c "
  SELECT (SELECT coalesce(sum(l.paid_fen), 0) FROM commerce.profit_split_line l JOIN commerce.profit_split s USING (tenant_id, split_id)
           WHERE s.status = 'finished')
       - (SELECT coalesce(sum(amount_fen), 0) FROM commerce.profit_split_adjustment WHERE kind = 'return' AND status = 'returned')
       - (SELECT coalesce(sum(p.amount_fen), 0) FROM commerce.profit_split_part p JOIN commerce.profit_split s USING (tenant_id, split_id)
           WHERE s.status = 'finished' AND p.party_no > 0)
       - (SELECT coalesce(sum(amount_fen), 0) FROM commerce.profit_split_adjustment WHERE kind = 'return' AND status IN ('waiting', 'requested'))
       - (SELECT coalesce(sum(amount_fen - netted_fen), 0) FROM commerce.profit_split_adjustment WHERE kind = 'debt' AND status IN ('open', 'waiting'))")" "0"
check "the owner keeps every line's base less what the receivers earn" "$(q -c "
  SELECT count(*) FROM commerce.profit_split s
   WHERE s.status = 'finished' AND s.owner_fen <> s.base_fen - s.parties_fen")" "0"
check "finance invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_finance_invariants()")" "0"
check "order invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_order_invariants()")" "0"
echo "  split oracle: $(( $(date +%s) - start )) s"
exit $FAILED

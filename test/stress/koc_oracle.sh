#!/usr/bin/env bash
# Commission oracle (issue 4): 100,000 attributed orders from 20,000 buyers
# of 500 KOCs on four tasks, redeemed over 20 days, 20,000 refunds before and
# after redemption, KOC levels changed on days 5, 10 and 15, settlement twice
# a day (16:00, when the day's lines are not payable yet, and 00:30), payouts paid (85%) or failed (15%), withdrawals approved, paid,
# failed or rejected.  An independent computation in plain SQL from the
# generated events only (order amounts, refunds, the task of the click, the
# level log) must agree with the ledger to the fen per KOC, and every book
# must balance.
. "$(dirname "$0")/lib/common.sh"
fresh_db koc_oracle

ORDERS=${ORACLE_ORDERS:-100000}
start=$(date +%s)

q >/dev/null <<SQL
CREATE EXTENSION commerce;
CALL commerce.provision();
SET commerce.now = '2026-09-30 10:00:00+08';
SELECT commerce.create_tenant('oracle', 'Oracle');
SELECT commerce.set_koc_settings(commerce.tenant_id('oracle'), p_koc_rate_bp => 100,
                                 p_withdraw_min_fen => 100, p_withdraw_fee_bp => 60, p_withdraw_fee_min_fen => 1);
SELECT commerce.upsert_customer(commerce.tenant_id('oracle'), 'k' || i) FROM generate_series(1, 500) i;
SELECT commerce.upsert_koc(commerce.tenant_id('oracle'), 'K' || i, 'k' || i, 'KOC ' || i) FROM generate_series(1, 500) i;
SELECT commerce.publish_agreement(commerce.tenant_id('oracle'), 'A', 'text');
SELECT commerce.sign_agreement(commerce.tenant_id('oracle'), 'K' || i, 1, encode(sha256('text'), 'hex'), 'K' || i)
  FROM generate_series(1, 500) i;
SELECT commerce.upsert_koc_task(commerce.tenant_id('oracle'), c, c, '2026-09-01', '2026-12-31', r, b)
  FROM (VALUES ('RATE5', 500, 0), ('RATE3B', 300, 200), ('BOUNTY', 0, 500)) v(c, r, b);
INSERT INTO commerce.customer (tenant_id, code)
SELECT commerce.tenant_id('oracle'), 'b' || i FROM generate_series(1, 20000) i;

-- the generated events: each buyer followed one KOC's link (with a task or none)
SELECT setseed(0.17);
CREATE TABLE public.gen_buyer AS
SELECT i AS buyer, 1 + floor(random() * 500)::int AS koc,
       (ARRAY['RATE5', 'RATE3B', 'BOUNTY', NULL])[1 + floor(random() * 4)::int] AS task
  FROM generate_series(1, 20000) i;
CREATE TABLE public.gen_order AS
SELECT n, 1 + floor(random() * 20000)::int AS buyer,
       (100 + floor(random() * 200000))::bigint AS goods, 0::bigint AS discount,
       1 + (n - 1) % 20 AS redeem_day
  FROM generate_series(1, $ORDERS) n;
UPDATE public.gen_order SET discount = floor(goods * random() * 0.2) WHERE n % 3 = 0;
-- refunds: 20% of orders, on a day before or after their redemption, partial or whole
CREATE TABLE public.gen_refund AS
SELECT row_number() OVER () AS r, n, 1 + floor(random() * 21)::int AS day,
       greatest(1, floor((goods - discount) * (CASE WHEN random() < 0.3 THEN 1.0 ELSE random() END)))::bigint AS amount
  FROM public.gen_order WHERE random() < 0.2;
-- level log: the level each KOC has from a day on (day 0: bronze)
CREATE TABLE public.level_log AS SELECT i AS koc, 0 AS day, 'bronze'::text AS level FROM generate_series(1, 500) i;
INSERT INTO public.level_log
SELECT i, d, (ARRAY['bronze', 'silver', 'gold'])[1 + floor(random() * 3)::int]
  FROM generate_series(1, 500) i, unnest(ARRAY[5, 10, 15]) d WHERE random() < 0.3;

INSERT INTO commerce.click (tenant_id, koc_id, task_id, visitor_id, clicked_at)
SELECT commerce.tenant_id('oracle'), k.koc_id, t.task_id, 'b' || g.buyer, '2026-09-30 09:00:00+08'
  FROM public.gen_buyer g JOIN commerce.koc k ON k.code = 'K' || g.koc
  LEFT JOIN commerce.koc_task t ON t.code = g.task;
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, discount_fen,
                             payable_fen, paid_fen, status)
SELECT commerce.tenant_id('oracle'), ch.channel_id, 'o' || g.n, c.customer_id, g.goods, g.discount,
       g.goods - g.discount, g.goods - g.discount, 'paid'
  FROM public.gen_order g
  JOIN commerce.customer c ON c.code = 'b' || g.buyer
  JOIN commerce.channel ch ON ch.tenant_id = c.tenant_id AND ch.code = 'h5'
 ORDER BY g.n;
SQL
echo "  generated $ORDERS orders in $(( $(date +%s) - start )) s"

# day by day: refunds, level changes, redemptions at 10:00, settlement and payouts after midnight
for day in $(seq 1 21); do
    q >/dev/null <<SQL
SET commerce.now = '$(date -d "2026-10-01 +$((day - 1)) days" +%F) 10:00:00+08';
SELECT setseed($day / 100.0);
-- level changes of the day, then its redemptions
UPDATE commerce.koc k SET level_code = l.level
  FROM public.level_log l WHERE l.day = $day AND k.code = 'K' || l.koc;
UPDATE commerce.orders o SET status = 'completed'
  FROM public.gen_order g WHERE g.redeem_day = $day AND o.external_order_id = 'o' || g.n;
-- at noon the refunds of the day (of orders redeemed before, today or later), as the after-sale module records them
SET commerce.now = '$(date -d "2026-10-01 +$((day - 1)) days" +%F) 12:00:00+08';
UPDATE commerce.orders o SET refunded_fen = least(o.refunded_fen + f.amount, o.paid_fen)
  FROM (SELECT n, sum(amount) AS amount FROM public.gen_refund WHERE day = $day GROUP BY n) f
 WHERE o.external_order_id = 'o' || f.n;
INSERT INTO commerce.order_event (tenant_id, order_id, kind, source_key, amount_fen, created_at)
SELECT o.tenant_id, o.order_id, 'refund', 'oracle:' || f.r, f.amount, commerce.now()
  FROM public.gen_refund f JOIN commerce.orders o ON o.external_order_id = 'o' || f.n
 WHERE f.day = $day ORDER BY f.r;
-- a settlement run at 16:00: today's lines are not payable yet, the refunds after them are
SET commerce.now = '$(date -d "2026-10-01 +$((day - 1)) days" +%F) 16:00:00+08';
DO \$\$
BEGIN
    WHILE commerce.settle_commissions(1000) = 1000 LOOP END LOOP;
END \$\$;
SELECT commerce.record_payout(tenant_id, 'batch:' || batch_id, 'paid', 'tx-' || batch_id)
  FROM commerce.settle_batch WHERE status = 'paying' ORDER BY batch_id;
-- after midnight: settle everything payable, answer every payout, some withdrawals
SET commerce.now = '$(date -d "2026-10-01 +${day} days" +%F) 00:30:00+08';
DO \$\$
BEGIN
    WHILE commerce.settle_commissions(1000) = 1000 LOOP END LOOP;
END \$\$;
SELECT commerce.record_payout(tenant_id, 'batch:' || batch_id,
           CASE WHEN random() < 0.85 THEN 'paid' ELSE 'failed' END, 'tx-' || batch_id, 'provider said no')
  FROM commerce.settle_batch WHERE status = 'paying' ORDER BY batch_id;
SELECT commerce.request_withdrawal(a.tenant_id, 'w-$day-' || a.koc_id, k.code,
                                   greatest(100, floor(a.balance_fen * random()))::bigint, 'wechat',
                                   jsonb_build_object('openid', 'o-' || k.code))
  FROM commerce.koc_account a JOIN commerce.koc k USING (tenant_id, koc_id)
 WHERE a.balance_fen >= 200 AND random() < 0.5 ORDER BY a.koc_id;
SELECT commerce.review_withdrawal(tenant_id, withdrawal_id, random() < 0.8, 'finance', 'not this time')
  FROM commerce.withdrawal WHERE status = 'requested' ORDER BY withdrawal_id;
SELECT commerce.record_payout(tenant_id, 'withdrawal:' || withdrawal_id,
           CASE WHEN random() < 0.9 THEN 'paid' ELSE 'failed' END, 'wd-' || withdrawal_id, 'card closed')
  FROM commerce.withdrawal WHERE status = 'approved' ORDER BY withdrawal_id;
SQL
done
echo "  replayed 21 days in $(( $(date +%s) - start )) s"

# the oracle: from the generated events only
q >/dev/null <<'SQL'
CREATE INDEX ON public.level_log (koc, day);
CREATE TABLE public.expected AS
WITH f AS (SELECT n, sum(amount) AS refunded FROM public.gen_refund GROUP BY n),
o AS (
    SELECT g.n, b.koc, b.task, g.redeem_day,
           greatest(g.goods - g.discount - least(coalesce(f.refunded, 0), g.goods - g.discount), 0) AS remaining,
           (SELECT l.level FROM public.level_log l WHERE l.koc = b.koc AND l.day <= g.redeem_day
             ORDER BY l.day DESC LIMIT 1) AS level
      FROM public.gen_order g JOIN public.gen_buyer b USING (buyer) LEFT JOIN f USING (n)),
r AS (
    SELECT o.*, least(CASE o.task WHEN 'RATE5' THEN 500 WHEN 'RATE3B' THEN 300 WHEN 'BOUNTY' THEN 0 ELSE 100 END
                      + CASE o.level WHEN 'gold' THEN 500 WHEN 'silver' THEN 200 ELSE 0 END, 10000) AS rate,
           CASE o.task WHEN 'RATE3B' THEN 200 WHEN 'BOUNTY' THEN 500 ELSE 0 END AS bounty
      FROM o)
SELECT 'K' || koc AS koc,
       sum(floor(remaining * rate / 10000.0)::bigint + CASE WHEN remaining > 0 THEN bounty ELSE 0 END) AS commission,
       count(*) AS redemptions
  FROM r GROUP BY koc;
SQL

# the final settlement, everything payable
q >/dev/null <<'SQL'
SET commerce.now = '2026-11-01 00:00:00+08';
DO $$ BEGIN WHILE commerce.settle_commissions(1000) = 1000 LOOP END LOOP; END $$;
SELECT commerce.record_payout(tenant_id, 'batch:' || batch_id, 'paid', 'tx-' || batch_id)
  FROM commerce.settle_batch WHERE status = 'paying';
SQL

echo "koc oracle: $(q -c "SELECT count(*) FROM commerce.commission_line") commission lines, $(q -c "SELECT count(*) FROM commerce.settle_batch") batches, $(q -c "SELECT count(*) FROM commerce.withdrawal") withdrawals in $(( $(date +%s) - start )) s"
check "orders redeemed" "$(q -c "SELECT count(*) FROM commerce.orders WHERE status = 'completed'")" "$ORDERS"
check "one earn line per redemption" "$(q -c "SELECT count(*) FROM commerce.commission_line WHERE kind = 'earn'")" "$ORDERS"
check "KOCs whose lines differ from the oracle" "$(q -c "
  SELECT count(*) FROM public.expected e
  FULL JOIN (SELECT k.code AS koc, sum(l.amount_fen) AS amount FROM commerce.commission_line l
               JOIN commerce.koc k USING (tenant_id, koc_id) GROUP BY k.code) l USING (koc)
   WHERE e.commission IS DISTINCT FROM l.amount")" "0"
check "commission total = oracle (fen)" "$(q -c "SELECT sum(amount_fen) FROM commerce.commission_line")" "$(q -c "SELECT sum(commission) FROM public.expected")"
check "KOCs with settled + unsettled <> oracle" "$(q -c "
  SELECT count(*) FROM public.expected e JOIN commerce.koc k ON k.code = e.koc
  LEFT JOIN commerce.koc_account a USING (tenant_id, koc_id)
  LEFT JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) AS s FROM commerce.commission_line l
                      WHERE l.tenant_id = k.tenant_id AND l.koc_id = k.koc_id AND l.seq > a.settled_seq) u ON true
   WHERE coalesce(a.settled_fen, 0) + coalesce(u.s, 0) <> e.commission")" "0"
check "unsettled lines left (carried negatives only)" "$(q -c "
  SELECT count(*) FROM commerce.koc_account a
   WHERE (SELECT coalesce(sum(amount_fen), 0) FROM commerce.commission_line l
           WHERE l.tenant_id = a.tenant_id AND l.koc_id = a.koc_id AND l.seq > a.settled_seq) > 0")" "0"
check "batches still paying" "$(q -c "SELECT count(*) FROM commerce.settle_batch WHERE status = 'paying'")" "0"
check "withdrawals still open" "$(q -c "SELECT count(*) FROM commerce.withdrawal WHERE status IN ('requested', 'approved')")" "0"
check "money invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_koc_invariants()")" "0"
check "settled = paid + balance + fees (fen)" "$(q -c "SELECT sum(settled_fen) FROM commerce.koc_account")" "$(q -c "SELECT sum(paid_fen + balance_fen + fee_fen + in_flight_fen) FROM commerce.koc_account")"
check "negative balances" "$(q -c "SELECT count(*) FROM commerce.koc_account WHERE balance_fen < 0")" "0"
exit $FAILED

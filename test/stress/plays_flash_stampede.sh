#!/usr/bin/env bash
# Flash-sale stampede (issue 5): 300 units, at most 2 per order and one
# order per customer; 2,000 purchase attempts from 40 concurrent clients by
# 800 customers, 70% of buyers paying within the 5-minute hold. Never more
# units held or sold than allocated, no customer above the limit, refusals
# only for sold out or the limit; after the hold every unpaid order is
# cancelled and its units are back; each paid order has exactly one asset.
. "$(dirname "$0")/lib/common.sh"
fresh_db flash_stampede
WORK="$(mktemp -d /tmp/flash-stampede.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SET commerce.now = '2026-11-20 10:00:00+08';
SELECT commerce.create_tenant('f', 'Flash');
SELECT commerce.upsert_store(commerce.tenant_id('f'), 'S', 'Store');
SELECT commerce.upsert_product(commerce.tenant_id('f'), 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(commerce.tenant_id('f'), 'P', 'C', 'Course', 10000);
SELECT commerce.receive_stock(commerce.tenant_id('f'), 'r', 'C', 1000);
SELECT commerce.ensure_play_templates(commerce.tenant_id('f'));
INSERT INTO commerce.customer (tenant_id, code) SELECT commerce.tenant_id('f'), 'c' || i FROM generate_series(1, 800) i;
SELECT commerce.configure_play(commerce.tenant_id('f'), 'cfg', 'F', 'FLASH_SALE', 'S', 'C', 'Flash', 4900, 300,
                               '2026-11-20 10:00+08', '2026-11-20 12:00+08', '{"per_order_limit":2}', p_per_user_limit => 1,
                               p_asset_type => 'COURSE', p_units_per_sale => 10);
CREATE TABLE public.attempt (n int PRIMARY KEY, customer int, qty int, outcome text);
-- one attempt: buy 1 or 2 units; 70% pay at once; a refusal is recorded; any other error aborts the client
CREATE FUNCTION public.buy_one(p_n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_customer int := 1 + floor(random() * 800)::int; v_qty int := 1 + floor(random() * 2)::int;
        r commerce.order_result;
BEGIN
    PERFORM set_config('commerce.now', '2026-11-20 10:01:00+08', true);
    r := commerce.buy_play(commerce.tenant_id('f'), 'buy-' || p_n, 'F', 'c' || v_customer, v_qty,
                           p_ip => '10.0.' || (v_customer % 200) || '.1');
    IF random() < 0.7 THEN
        PERFORM commerce.pay_order(commerce.tenant_id('f'), r.order_id, 'pay-' || p_n, r.payable_fen);
        INSERT INTO public.attempt VALUES (p_n, v_customer, v_qty, 'paid');
    ELSE
        INSERT INTO public.attempt VALUES (p_n, v_customer, v_qty, 'held');
    END IF;
EXCEPTION WHEN SQLSTATE 'PT409' OR SQLSTATE 'PT409' THEN
    INSERT INTO public.attempt VALUES (p_n, v_customer, v_qty, SQLSTATE);
END $$;
CREATE SEQUENCE public.next_attempt;
SQL
cat > "$WORK/buy.sql" <<'SQL'
SELECT public.buy_one(nextval('public.next_attempt')::int);
SQL
before=$(deadlocks)
start=$(date +%s%N)
pgbench -n -c 40 -j 2 -t 50 -f "$WORK/buy.sql" > "$WORK/pgbench.out" 2>&1 || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
paid=$(q -c "SELECT count(*) FROM public.attempt WHERE outcome = 'paid'")
echo "flash stampede: 2000 attempts from 40 clients on 300 units in ${ms} ms; ${paid} orders paid"
check "pgbench failed transactions" "$(pgbench_failures "$WORK/pgbench.out")" "0"
check "deadlocks" "$(( $(deadlocks) - before ))" "0"
check "attempts recorded" "$(q -c "SELECT count(*) FROM public.attempt")" "2000"
check "refusals other than sold out or the limit" "$(q -c "SELECT count(*) FROM public.attempt WHERE outcome NOT IN ('paid', 'held', 'PT409', 'PT409')")" "0"
check "the sale sold out (PT409 seen)" "$(q -c "SELECT count(*) > 0 FROM public.attempt WHERE outcome = 'PT409'")" "t"
check "the limit refused repeat buyers (PT409 seen)" "$(q -c "SELECT count(*) > 0 FROM public.attempt WHERE outcome = 'PT409'")" "t"
check "units held or sold above the allocation" "$(q -c "SELECT count(*) FROM commerce.stock WHERE activity = 'play:F' AND reserved + sold > 300")" "0"
check "units sold = units of paid orders" "$(q -c "SELECT sold FROM commerce.stock WHERE activity = 'play:F'")" "$(q -c "SELECT coalesce(sum(qty), 0) FROM public.attempt WHERE outcome = 'paid'")"
check "customers with more than one order" "$(q -c "SELECT count(*) FROM (SELECT customer_id FROM commerce.orders WHERE source_activity = 'play:F' AND status <> 'cancelled' GROUP BY customer_id HAVING count(*) > 1) x")" "0"
check "assets = paid orders" "$(q -c "SELECT count(*) FROM commerce.user_asset")" "$paid"
check "asset units = 10 x units paid" "$(q -c "SELECT coalesce(sum(total), 0) FROM commerce.user_asset")" "$(q -c "SELECT 10 * coalesce(sum(qty), 0) FROM public.attempt WHERE outcome = 'paid'")"

# the hold ends: every unpaid order is cancelled and its units are back for sale
q >/dev/null <<'SQL'
SET commerce.now = '2026-11-20 10:06:01+08';
SELECT commerce.cancel_unpaid_orders(100000);
SQL
check "unpaid orders left" "$(q -c "SELECT count(*) FROM commerce.orders WHERE status = 'pending_payment'")" "0"
check "units held after the hold" "$(q -c "SELECT reserved FROM commerce.stock WHERE activity = 'play:F'")" "0"
check "units available = 300 - sold" "$(q -c "SELECT available + sold FROM commerce.stock WHERE activity = 'play:F'")" "300"
check "stock invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
check "order invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_order_invariants()")" "0"
check "play invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_play_invariants()")" "0"
exit $FAILED

#!/usr/bin/env bash
# Cross-channel stampede (issue 3): 32 clients, half placing self-operated
# orders on the mini-program (half of them paying at once), half ingesting
# paid Taobao and Douyin orders, all on one SKU with 500 units. Exactly 500
# units end sold or reserved; every other self-operated order is refused
# (PT409) and every other platform order is stored as an oversell exception;
# no negative stock, no deadlock, ledger = pool.
. "$(dirname "$0")/lib/common.sh"
fresh_db cross_channel
WORK="$(mktemp -d /tmp/cross.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('x', 'Cross-channel');
SELECT commerce.upsert_product(commerce.tenant_id('x'), 'P', 'Live item');
SELECT commerce.upsert_sku(commerce.tenant_id('x'), 'P', 'HOT', 'Hot SKU', 9900);
SELECT commerce.set_stock_policy(commerce.tenant_id('x'), 'HOT', p_slots => 32);
SELECT commerce.receive_stock(commerce.tenant_id('x'), 'rcv', 'HOT', 500);
CREATE TABLE public.outcome (channel text, outcome text);
CREATE FUNCTION public.shop_buy(p_client int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r commerce.order_result;
BEGIN
    r := commerce.place_order(commerce.tenant_id('x'), gen_random_uuid()::text, 'wechat_mp',
                              '{"lines":[{"sku":"HOT","qty":1}]}');
    IF random() < 0.5 THEN
        r := commerce.pay_order(commerce.tenant_id('x'), r.order_id, 'pay-' || r.order_id, r.payable_fen);
    END IF;
    INSERT INTO public.outcome VALUES ('wechat_mp', r.status);
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    INSERT INTO public.outcome VALUES ('wechat_mp', 'rejected');
END $$;
CREATE FUNCTION public.platform_order(p_client int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r commerce.order_result; id text := gen_random_uuid()::text;
BEGIN
    IF p_client % 2 = 0 THEN
        r := commerce.ingest_platform_order(commerce.tenant_id('x'), 'taobao', jsonb_build_object(
            'tid', id, 'status', 'WAIT_SELLER_SEND_GOODS', 'modified', '2026-11-11 20:00:00',
            'total_fee', '99.00', 'orders', jsonb_build_object('order', jsonb_build_array(
                jsonb_build_object('outer_sku_id', 'HOT', 'num', 1, 'price', '99.00')))));
        INSERT INTO public.outcome VALUES ('taobao', r.outcome);
    ELSE
        r := commerce.ingest_platform_order(commerce.tenant_id('x'), 'douyin', jsonb_build_object(
            'order_id', id, 'order_status', 2, 'update_time', 1794398520, 'order_amount', 9900,
            'sku_order_list', jsonb_build_array(jsonb_build_object('code', 'HOT', 'item_num', 1,
                                                                   'origin_amount', 9900))));
        INSERT INTO public.outcome VALUES ('douyin', r.outcome);
    END IF;
END $$;
SQL
echo 'SELECT public.shop_buy(:client_id);' > "$WORK/shop.sql"
echo 'SELECT public.platform_order(:client_id);' > "$WORK/platform.sql"
before=$(deadlocks)
start=$(date +%s%N)
pgbench -n -c 32 -j 2 -t 60 -f "$WORK/shop.sql@1" -f "$WORK/platform.sql@1" > "$WORK/pgbench.out" 2>&1 || true
echo "cross-channel: 1920 orders from 32 clients in $(( ($(date +%s%N) - start) / 1000000 )) ms"
q -c "SELECT channel || ' ' || outcome || ': ' || count(*) FROM public.outcome GROUP BY channel, outcome ORDER BY channel, outcome" | sed 's/^/  /'
check "pgbench failed transactions" "$(pgbench_failures "$WORK/pgbench.out")" "0"
check "orders tried" "$(q -c "SELECT count(*) FROM public.outcome")" "1920"
check "deadlocks" "$(( $(deadlocks) - before ))" "0"
check "units sold or reserved" "$(q -c "SELECT reserved + sold FROM commerce.stock")" "500"
check "available" "$(q -c "SELECT available FROM commerce.stock")" "0"
check "units held by orders (not oversold)" "$(q -c "SELECT sum(l.qty) FROM commerce.orders o JOIN commerce.order_line l USING (tenant_id, order_id) WHERE NOT o.oversell")" "500"
check "oversell flags = alerts" "$(q -c "SELECT (SELECT count(*) FROM commerce.orders WHERE oversell) = (SELECT count(*) FROM commerce.outbox WHERE topic = 'order.oversell')")" "t"
check "refused + flagged = orders without stock" "$(q -c "SELECT (SELECT count(*) FROM public.outcome WHERE outcome IN ('rejected', 'oversell')) = 1920 - 500")" "t"
check "negative or oversold slots" "$(q -c "SELECT count(*) FROM commerce.stock_slot WHERE reserved < 0 OR sold < 0 OR reserved + sold > on_hand")" "0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
check "order invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_order_invariants()")" "0"
exit $FAILED

#!/usr/bin/env bash
# Stampede: 10,000 single-unit reservations from 40 concurrent clients
# (pgbench) against a SKU with 1,000 units, half through reserve_sku and
# half through the JSON cart entry point. Exactly 1,000 reservations and
# 9,000 PT409 refusals, no deadlock, no negative figure, ledger = pool; then
# every reservation ends exactly once (confirm, release, expiry).
. "$(dirname "$0")/lib/common.sh"
fresh_db stampede
WORK="$(mktemp -d /tmp/stampede.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('flash', 'Flash sale');
SELECT commerce.upsert_product(commerce.tenant_id('flash'), 'P', 'Live-stream item');
SELECT commerce.upsert_sku(commerce.tenant_id('flash'), 'P', 'HOT', 'Hot SKU', 9900);
SELECT commerce.receive_stock(commerce.tenant_id('flash'), 'rcv', 'HOT', 1000);
CREATE TABLE public.refusal (client int, sqlstate text);
-- one buyer: a refusal for lack of stock is recorded; any other error aborts the client
CREATE FUNCTION public.buy(p_client int, p_cart boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_cart THEN
        PERFORM commerce.reserve(commerce.tenant_id('flash'), gen_random_uuid()::text,
                                 'buyer-' || p_client, '{"lines":[{"sku":"HOT","qty":1}]}');
    ELSE
        PERFORM commerce.reserve_sku(commerce.tenant_id('flash'), gen_random_uuid()::text,
                                     'buyer-' || p_client, 'HOT', 1);
    END IF;
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    INSERT INTO public.refusal VALUES (p_client, 'PT409');
END $$;
SQL
cat > "$WORK/buy.sql" <<'SQL'
\set cart random(0, 1)
SELECT public.buy(:client_id, :cart = 1);
SQL
before=$(deadlocks)
start=$(date +%s%N)
pgbench -n -c 40 -j 2 -t 250 -f "$WORK/buy.sql" > "$WORK/pgbench.out" 2>&1 || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "stampede: 10000 tries from 40 clients in ${ms} ms"
check "pgbench failed transactions" "$(pgbench_failures "$WORK/pgbench.out")" "0"
check "reservations made" "$(q -c "SELECT count(*) FROM commerce.reservation")" "1000"
check "refusals (PT409 insufficient stock)" "$(q -c "SELECT count(*) FROM public.refusal WHERE sqlstate = 'PT409'")" "9000"
check "deadlocks" "$(( $(deadlocks) - before ))" "0"
check "on_hand|reserved|sold|available" "$(q -c "SELECT on_hand||'|'||reserved||'|'||sold||'|'||available FROM commerce.stock")" "1000|1000|0|0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"

# every reservation ends exactly once: pay 600, cancel 200, let 200 expire
q >/dev/null <<'SQL'
SELECT count(commerce.confirm_reservation(tenant_id, reservation_id, 'pay-' || reservation_id))
  FROM (SELECT * FROM commerce.reservation ORDER BY reservation_id LIMIT 600) r;
SELECT count(commerce.release_reservation(tenant_id, reservation_id, 'cancel-' || reservation_id))
  FROM (SELECT * FROM commerce.reservation WHERE status = 'active' ORDER BY reservation_id LIMIT 200) r;
SQL
q -c "SET commerce.now = '$(date -u -d '+20 minutes' '+%Y-%m-%d %H:%M:%S+00')'" -c "CALL commerce.expire_pump(50)"
check "confirmed|released|expired|active" "$(q -c "SELECT count(*) FILTER (WHERE status='confirmed')||'|'||count(*) FILTER (WHERE status='released')||'|'||count(*) FILTER (WHERE status='expired')||'|'||count(*) FILTER (WHERE status='active') FROM commerce.reservation")" "600|200|200|0"
check "ended reservations with one ending movement" "$(q -c "SELECT count(*) FROM (SELECT reservation_id FROM commerce.stock_movement WHERE kind IN ('confirm','release','expire') GROUP BY reservation_id HAVING count(*) = 1) x")" "1000"
check "on_hand|reserved|sold|available after" "$(q -c "SELECT on_hand||'|'||reserved||'|'||sold||'|'||available FROM commerce.stock")" "1000|0|600|400"
check "invariant violations after" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
exit $FAILED

#!/usr/bin/env bash
# Mixed stress: 24 clients for 15 s run everything at once on 5 SKUs: carts
# of 1-3 lines with 1-3 second holds, payments and cancellations of open
# reservations, returns of sold goods, and the expiry pump. Expected races
# (a payment after expiry: PT410; a second ending: PT409; no stock: PT409)
# are counted; anything else fails the run. Afterwards every reservation has
# ended exactly once, nothing is negative or oversold, ledger = pool.
. "$(dirname "$0")/lib/common.sh"
fresh_db mixed
WORK="$(mktemp -d /tmp/mixed.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('mix', 'Mixed stress');
SELECT commerce.upsert_product(commerce.tenant_id('mix'), 'P', 'Product');
SELECT commerce.upsert_sku(commerce.tenant_id('mix'), 'P', 'S' || i, 'SKU ' || i, 1000) FROM generate_series(1, 5) i;
SELECT commerce.receive_stock(commerce.tenant_id('mix'), 'rcv-' || i, 'S' || i, 300) FROM generate_series(1, 5) i;
CREATE TABLE public.open_res (reservation_id bigint PRIMARY KEY);
CREATE TABLE public.outcome (what text, sqlstate text);

CREATE FUNCTION public.act_reserve() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r commerce.reservation_result; cart text;
BEGIN
    SELECT json_agg(json_build_object('sku', 'S' || (1 + floor(random() * 5))::int,
                                      'qty', 1 + floor(random() * 3)::int))::text
      INTO cart FROM generate_series(1, 1 + floor(random() * 3)::int);
    r := commerce.reserve(commerce.tenant_id('mix'), gen_random_uuid()::text, 'client', cart,
                          make_interval(secs => 1 + floor(random() * 3)));
    INSERT INTO public.open_res VALUES (r.reservation_id);
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    INSERT INTO public.outcome VALUES ('reserve', 'PT409');
END $$;

CREATE FUNCTION public.act_end() RETURNS void LANGUAGE plpgsql AS $$
DECLARE id bigint;
BEGIN
    DELETE FROM public.open_res WHERE reservation_id =
      (SELECT reservation_id FROM public.open_res ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING reservation_id INTO id;
    IF id IS NULL THEN RETURN; END IF;
    BEGIN
        IF random() < 0.6 THEN
            PERFORM commerce.confirm_reservation(commerce.tenant_id('mix'), id, 'pay-' || id);
        ELSE
            PERFORM commerce.release_reservation(commerce.tenant_id('mix'), id, 'cancel-' || id);
        END IF;
    EXCEPTION WHEN SQLSTATE 'PT410' OR SQLSTATE 'PT409' THEN
        INSERT INTO public.outcome VALUES ('end', SQLSTATE);
    END;
END $$;

CREATE FUNCTION public.act_return() RETURNS void LANGUAGE plpgsql AS $$
DECLARE l record;
BEGIN
    SELECT r.reservation_id, s.code INTO l
      FROM commerce.reservation r
      JOIN commerce.reservation_line x USING (tenant_id, reservation_id)
      JOIN commerce.sku s ON s.tenant_id = x.tenant_id AND s.sku_id = x.sku_id
     WHERE r.status = 'confirmed' AND x.returned_qty < x.qty
     ORDER BY random() LIMIT 1;
    IF NOT FOUND THEN RETURN; END IF;
    PERFORM commerce.return_stock(commerce.tenant_id('mix'), gen_random_uuid()::text,
                                  l.reservation_id, l.code, 1);
EXCEPTION WHEN SQLSTATE '22023' THEN
    INSERT INTO public.outcome VALUES ('return', SQLSTATE);  -- another client returned the last unit
END $$;
SQL
echo 'SELECT public.act_reserve();' > "$WORK/reserve.sql"
echo 'SELECT public.act_end();' > "$WORK/end.sql"
echo 'SELECT public.act_return();' > "$WORK/return.sql"
echo 'SELECT commerce.expire_reservations(200);' > "$WORK/pump.sql"

before=$(deadlocks)
pgbench -n -c 24 -j 2 -T 15 -f "$WORK/reserve.sql@6" -f "$WORK/end.sql@4" \
    -f "$WORK/return.sql@1" -f "$WORK/pump.sql@1" > "$WORK/pgbench.out" 2>&1 || true
sed -n 's/^number of transactions actually processed: /mixed: transactions: /p' "$WORK/pgbench.out"
q -c "SELECT what || ' ' || sqlstate || ': ' || count(*) FROM public.outcome GROUP BY what, sqlstate ORDER BY what, sqlstate" | sed 's/^/  expected refusals /'
check "pgbench failed transactions" "$(pgbench_failures "$WORK/pgbench.out")" "0"
check "deadlocks" "$(( $(deadlocks) - before ))" "0"
check "invariant violations under way" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"

sleep 3   # the longest hold is 3 seconds
q -c "CALL commerce.expire_pump()"
check "active reservations left" "$(q -c "SELECT count(*) FROM commerce.reservation WHERE status = 'active'")" "0"
check "reservations not ended exactly once" "$(q -c "SELECT count(*) FROM commerce.reservation r WHERE (SELECT count(DISTINCT m.kind) FROM commerce.stock_movement m WHERE m.tenant_id = r.tenant_id AND m.reservation_id = r.reservation_id AND m.kind IN ('confirm', 'release', 'expire')) <> 1")" "0"
check "negative or oversold slots" "$(q -c "SELECT count(*) FROM commerce.stock_slot WHERE reserved < 0 OR sold < 0 OR reserved + sold > on_hand")" "0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
q -c "SELECT 'mixed: ' || string_agg(status || ' ' || n, ', ' ORDER BY status) FROM (SELECT status, count(*) n FROM commerce.reservation GROUP BY status) x"
exit $FAILED

#!/usr/bin/env bash
# Group-buy stampede (issue 5): 250 groups of target 5 are opened, then
# 1,000 customers join at random groups from 40 concurrent clients
# (pgbench). No group ever has more than 5 members, every successful group
# has exactly 5 (and 5 assets), the joins refused are the ones that found
# their group over; then the deadline passes and every member of every
# unfilled group is refunded through the outbox exactly once, with its unit
# back in the play's stock.
. "$(dirname "$0")/lib/common.sh"
fresh_db group_stampede
WORK="$(mktemp -d /tmp/group-stampede.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SET commerce.now = '2026-11-20 10:00:00+08';
SELECT commerce.create_tenant('g', 'Groups');
SELECT commerce.upsert_store(commerce.tenant_id('g'), 'S', 'Store');
SELECT commerce.upsert_product(commerce.tenant_id('g'), 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(commerce.tenant_id('g'), 'P', 'C', 'Course', 10000);
SELECT commerce.receive_stock(commerce.tenant_id('g'), 'r', 'C', 2000);
SELECT commerce.ensure_play_templates(commerce.tenant_id('g'));
INSERT INTO commerce.customer (tenant_id, code) SELECT commerce.tenant_id('g'), 'c' || i FROM generate_series(1, 1250) i;
SELECT commerce.configure_play(commerce.tenant_id('g'), 'cfg', 'G5', 'GROUP_BUY', 'S', 'C', 'Group of five', 8000, 1500,
                               '2026-11-01', '2026-12-01', '{"target_size":5,"hours":2}', p_asset_type => 'COURSE',
                               p_units_per_sale => 10);
-- 250 leaders open their groups
SELECT count(commerce.join_group(commerce.tenant_id('g'), 'open-' || i, 'G5', 'c' || i, 'pay-open-' || i))
  FROM generate_series(1001, 1250) i;
CREATE TABLE public.refusal (customer int, sqlstate text);
-- one join: a refusal because the group is over or full is recorded; any other error aborts the client
CREATE FUNCTION public.join_one(p_customer int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_group bigint;
BEGIN
    PERFORM set_config('commerce.now', '2026-11-20 10:30:00+08', true);
    SELECT instance_id INTO v_group FROM commerce.play_instance ORDER BY instance_id
     OFFSET floor(random() * 250)::int LIMIT 1;
    PERFORM commerce.join_group(commerce.tenant_id('g'), 'join-' || p_customer, 'G5', 'c' || p_customer,
                                'pay-' || p_customer, v_group);
EXCEPTION WHEN SQLSTATE 'PT409' OR SQLSTATE 'PT409' THEN
    INSERT INTO public.refusal VALUES (p_customer, SQLSTATE);
END $$;
CREATE SEQUENCE public.next_customer;
SQL
cat > "$WORK/join.sql" <<'SQL'
SELECT public.join_one(nextval('public.next_customer')::int);
SQL
before=$(deadlocks)
start=$(date +%s%N)
pgbench -n -c 40 -j 2 -t 25 -f "$WORK/join.sql" > "$WORK/pgbench.out" 2>&1 || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
succeeded=$(q -c "SELECT count(*) FROM commerce.play_instance WHERE status = 'success'")
echo "group stampede: 1000 joins from 40 clients on 250 groups of 5 in ${ms} ms; ${succeeded} groups filled"
check "pgbench failed transactions" "$(pgbench_failures "$WORK/pgbench.out")" "0"
check "deadlocks" "$(( $(deadlocks) - before ))" "0"
check "joins = members added + refusals" "$(q -c "SELECT (SELECT count(*) FROM commerce.play_participant WHERE request_id LIKE 'join-%') + (SELECT count(*) FROM public.refusal)")" "1000"
check "groups above their target" "$(q -c "SELECT count(*) FROM commerce.play_instance WHERE current > target")" "0"
check "members = current in every group" "$(q -c "SELECT count(*) FROM commerce.play_instance i WHERE current <> (SELECT count(*) FROM commerce.play_participant p WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id)")" "0"
check "successful groups with exactly 5 members" "$(q -c "SELECT count(*) FROM commerce.play_instance i WHERE status = 'success' AND (SELECT count(*) FROM commerce.play_participant p WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id) = 5")" "$succeeded"
check "assets = members of successful groups" "$(q -c "SELECT count(*) FROM commerce.user_asset")" "$(( succeeded * 5 ))"
check "refusals only of full or ended groups" "$(q -c "SELECT count(*) FROM public.refusal WHERE sqlstate NOT IN ('PT409', 'PT409')")" "0"
check "units sold = members" "$(q -c "SELECT sold FROM commerce.stock WHERE activity = 'play:G5'")" "$(q -c "SELECT count(*) FROM commerce.play_participant")"

# the deadline passes: every unfilled group fails and each of its members is refunded once
q >/dev/null <<'SQL'
SET commerce.now = '2026-11-20 12:00:00+08';
CALL commerce.play_pump(50);
SQL
check "groups still open" "$(q -c "SELECT count(*) FROM commerce.play_instance WHERE status IN ('pending', 'active')")" "0"
check "members of failed groups refunding" "$(q -c "SELECT count(*) FROM commerce.play_participant p JOIN commerce.play_instance i USING (tenant_id, instance_id) WHERE i.status = 'failed' AND p.status = 'refunding'")" "$(q -c "SELECT coalesce(sum(current), 0) FROM commerce.play_instance WHERE status = 'failed'")"
check "one refund message per refunded member" "$(q -c "SELECT count(*) FROM commerce.outbox WHERE topic = 'payment.refund'")" "$(q -c "SELECT count(*) FROM commerce.play_participant WHERE status = 'refunding'")"
check "units sold = members of successful groups" "$(q -c "SELECT sold FROM commerce.stock WHERE activity = 'play:G5'")" "$(( succeeded * 5 ))"
check "stock invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
check "order invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_order_invariants()")" "0"
check "play invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_play_invariants()")" "0"
exit $FAILED

#!/usr/bin/env bash
# Coupon stampede: 10,000 claims from 40 concurrent clients (pgbench) on a
# batch of 1,000 coupons, one per customer; 4 of the 40 clients retry every
# claim with the same request_id in a new transaction, as a client does after
# a timeout. The oracle is this script's own record of every attempt:
# exactly 1,000 coupons to 1,000 customers, 9,000 PT409 refusals, every retry
# answered as its first attempt was (existing for a coupon, PT409 for a
# refusal, never a second coupon), no deadlock, the coupon invariants hold.
. "$(dirname "$0")/lib/common.sh"
fresh_db coupons_stampede
WORK="$(mktemp -d /tmp/coupons.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('fans', 'Fan coupons');
SELECT count(commerce.upsert_customer(commerce.tenant_id('fans'), 'c' || n)) FROM generate_series(1, 10000) n;
SELECT commerce.create_coupon_template(commerce.tenant_id('fans'), 'T20',
    '{"name":"20 off","kind":"amount","amount_fen":2000,"threshold_fen":9900,"valid_days":7,"per_customer_limit":1}');
SELECT commerce.create_coupon_batch(commerce.tenant_id('fans'), 'T20', 'HOT', 1000);
CREATE SEQUENCE public.attempt;
CREATE TABLE public.outcome (n bigint, retry boolean, outcome text, PRIMARY KEY (n, retry));
-- one claim of attempt n (customer cn, request req-n): its outcome recorded; any other error aborts the client
CREATE FUNCTION public.claim(p_n bigint, p_retry boolean) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    v := (commerce.issue_coupon(commerce.tenant_id('fans'), 'claim', 'req-' || p_n, 'HOT', 'c' || p_n)).outcome;
    INSERT INTO public.outcome VALUES (p_n, p_retry, v);
    RETURN p_n;
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    INSERT INTO public.outcome VALUES (p_n, p_retry, 'PT409');
    RETURN p_n;
END $$;
SQL
cat > "$WORK/claim.sql" <<'SQL'
SELECT public.claim(nextval('public.attempt'), false) AS n \gset
\if :client_id % 10 = 0
SELECT public.claim(:n, true);
\endif
SQL
before=$(deadlocks)
start=$(date +%s%N)
pgbench -n -c 40 -j 2 -t 250 -f "$WORK/claim.sql" > "$WORK/pgbench.out" 2>&1 || true
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "coupon stampede: 10000 claims (+ retries) from 40 clients in ${ms} ms, $(( 10000 * 1000 / (ms > 0 ? ms : 1) )) claims/s"
check "pgbench failed transactions" "$(pgbench_failures "$WORK/pgbench.out")" "0"
check "first attempts" "$(q -c "SELECT count(*) FROM public.outcome WHERE NOT retry")" "10000"
check "retries (4 of 40 clients)" "$(q -c "SELECT count(*) FROM public.outcome WHERE retry")" "1000"
check "coupons issued" "$(q -c "SELECT count(*) FROM commerce.coupon")" "1000"
check "customers holding one" "$(q -c "SELECT count(DISTINCT customer_id) FROM commerce.coupon")" "1000"
check "first attempts issued|refused (PT409)" "$(q -c "SELECT count(*) FILTER (WHERE outcome = 'issued')||'|'||count(*) FILTER (WHERE outcome = 'PT409') FROM public.outcome WHERE NOT retry")" "1000|9000"
check "coupons = attempts the oracle saw issued" "$(q -c "SELECT count(*) FROM commerce.coupon c JOIN public.outcome o ON 'req-' || o.n = c.source_key AND NOT o.retry AND o.outcome = 'issued'")" "1000"
check "retries answered as their first attempt" "$(q -c "SELECT count(*) FROM public.outcome r JOIN public.outcome f ON f.n = r.n AND NOT f.retry WHERE r.retry AND r.outcome <> CASE f.outcome WHEN 'issued' THEN 'existing' ELSE 'PT409' END")" "0"
check "slots issued = quota" "$(q -c "SELECT sum(issued)||'/'||sum(quota) FROM commerce.coupon_slot")" "1000/1000"
check "deadlocks" "$(( $(deadlocks) - before ))" "0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_coupon_invariants()")" "0"
exit $FAILED

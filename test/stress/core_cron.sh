#!/usr/bin/env bash
# pg_cron: schedule_jobs() registers the jobs (idempotently), pg_cron really
# runs them in the test cluster: a reservation whose hold ran out is expired
# by the job, not by us; a commission line redeemed 40 days ago is settled by
# the T+0.5 job, and the month-close job catches up on the months closed
# since the KOC joined (both rescheduled to every minute for the test).
# unschedule_jobs() removes them.
# Runs in the database pg_cron serves (cron.database_name, commerce_test).
. "$(dirname "$0")/lib/common.sh"
export PGDATABASE="${CRON_DATABASE:-commerce_test}"

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP SCHEMA IF EXISTS commerce CASCADE;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('cron', 'Cron test');
SELECT commerce.upsert_product(commerce.tenant_id('cron'), 'P', 'Product');
SELECT commerce.upsert_sku(commerce.tenant_id('cron'), 'P', 'SKU', 'SKU', 100);
SELECT commerce.receive_stock(commerce.tenant_id('cron'), 'rcv', 'SKU', 10);
SELECT commerce.reserve_sku(commerce.tenant_id('cron'), 'abandoned', 'cart-1', 'SKU', 3, '1 second');
-- a KOC who joined 40 days ago and sold then
SELECT set_config('commerce.now', (now() - interval '40 days')::text, false);
SELECT commerce.upsert_sku(commerce.tenant_id('cron'), 'P', 'SKU2', 'SKU 2', 100);
SELECT commerce.receive_stock(commerce.tenant_id('cron'), 'rcv-2', 'SKU2', 10);
SELECT commerce.upsert_customer(commerce.tenant_id('cron'), c) FROM unnest(ARRAY['u-k', 'b']) c;
SELECT commerce.upsert_koc(commerce.tenant_id('cron'), 'K', 'u-k', 'K');
UPDATE commerce.tenant SET koc_rate_bp = 1000;
SELECT commerce.sign_agreement(commerce.tenant_id('cron'), 'K', commerce.publish_agreement(commerce.tenant_id('cron'), 'A', 'text'), encode(sha256('text'), 'hex'), 'K');
SELECT commerce.record_click(commerce.tenant_id('cron'), commerce.tracking_link(commerce.tenant_id('cron'), 'K'), 'b');
SELECT commerce.pay_order(commerce.tenant_id('cron'), (commerce.place_order(commerce.tenant_id('cron'), 'o1', 'h5', '{"lines":[{"sku":"SKU2","qty":1}]}', 'b')).order_id, 'pay-1', 100);
SELECT commerce.complete_order(commerce.tenant_id('cron'), order_id) FROM commerce.orders;
UPDATE commerce.job SET schedule = '* * * * *' WHERE job_name IN ('commerce-settle-commissions', 'commerce-koc-levels');
SQL
sleep 1.2
check "abandoned cart still active before the job" "$(q -c "SELECT status FROM commerce.reservation WHERE holder = 'cart-1'")" "active"
# the jobs run as a dedicated role that is not a superuser
check "grant_jobs makes the job role" "$(q -c "SELECT commerce.grant_jobs()")" "commerce_jobs"
check "the job role is no superuser" "$(q -c "SELECT rolsuper || ' ' || rolbypassrls || ' ' || rolcanlogin FROM pg_roles WHERE rolname = 'commerce_jobs'")" "false true true"
q -c "SELECT commerce.schedule_jobs('commerce_jobs')" > /dev/null
JOBS="commerce-broadcasts,commerce-cancel-unpaid-orders,commerce-community-daily,commerce-coupons,commerce-crm,commerce-crm-insight,commerce-crm-nightly,commerce-end-expired-groups,commerce-expire-reservations,commerce-fission,commerce-flows,commerce-koc-levels,commerce-koc-risk,commerce-memberships,commerce-payroll,commerce-platform-check,commerce-points,commerce-potential,commerce-purge,commerce-service,commerce-settle-commissions,commerce-splits,commerce-tickets"
check "schedule_jobs returns its jobs" "$(q -c "SELECT string_agg(j, ',') FROM commerce.schedule_jobs('commerce_jobs') j")" "$JOBS"
check "each scheduled once, on its own schedule (the CRM's nightly rebuild at 02:30, the platform check at minute 7)" "$(q -c "SELECT count(*) || ' ' || count(DISTINCT jobname) || ' ' || count(*) FILTER (WHERE (jobname, schedule) IN (('commerce-crm-nightly', '30 2 * * *'), ('commerce-platform-check', '7 * * * *'))) FROM cron.job WHERE jobname LIKE 'commerce-%'")" "23 23 2"
check "every job runs as commerce_jobs" "$(q -c "SELECT string_agg(DISTINCT username, ',') FROM cron.job WHERE jobname LIKE 'commerce-%'")" "commerce_jobs"
check "cron_commands gives the same for another database" "$(q -c "SELECT count(*) FROM commerce.cron_commands('commerce_jobs') c WHERE c LIKE 'SELECT cron.schedule_in_database(%, ''commerce_jobs'');'")" "23"

# wait for pg_cron's next minute (at most ~75 s)
for _ in $(seq 1 90); do
    s=$(q -c "SELECT status FROM commerce.reservation WHERE holder = 'cart-1'")
    b=$(q -c "SELECT count(*) FROM commerce.settle_batch")
    m=$(q -c "SELECT count(*) FROM commerce.koc_level_run")
    [ "$s" = "expired" ] && [ "$b" = "1" ] && [ "$m" != "0" ] && break
    sleep 1
done
check "the job expired the reservation" "$s" "expired"
check "the job run succeeded" "$(q -c "SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'commerce-expire-reservations' AND d.status = 'succeeded'")" "t"
check "the T+0.5 job settled the line" "$(q -c "SELECT amount_fen || ' ' || status FROM commerce.settle_batch")" "10 paying"
check "the month-close job ran every closed month" "$(q -c "SELECT count(*) = (SELECT count(*) FROM generate_series(date_trunc('month', (now() - interval '40 days') AT TIME ZONE 'Asia/Shanghai'), date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - interval '1 month', interval '1 month')) FROM commerce.koc_level_run")" "t"
check "no job run failed" "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'")" "0"
check "the job runs were commerce_jobs's" "$(q -c "SELECT string_agg(DISTINCT d.username, ',') FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname LIKE 'commerce-%'")" "commerce_jobs"
check "the purge pump runs as the job role" "$(psql -X -q -At -U commerce_jobs -c "CALL commerce.purge_pump()" -c "SELECT 'done'" 2>&1 | tail -n 1)" "done"
check "the points pump runs as the job role" "$(psql -X -q -At -U commerce_jobs -c "CALL commerce.points_pump()" -c "SELECT 'done'" 2>&1 | tail -n 1)" "done"
check "the membership pump runs as the job role" "$(psql -X -q -At -U commerce_jobs -c "CALL commerce.membership_pump()" -c "SELECT 'done'" 2>&1 | tail -n 1)" "done"
check "the coupons pump runs as the job role" "$(psql -X -q -At -U commerce_jobs -c "CALL commerce.coupons_pump()" -c "SELECT 'done'" 2>&1 | tail -n 1)" "done"
check "stock returned" "$(q -c "SELECT reserved || '/' || available FROM commerce.stock WHERE sku = 'SKU'")" "0/10"
check "unschedule_jobs removes them" "$(q -c "SELECT string_agg(j, ',') FROM commerce.unschedule_jobs() j")" "$JOBS"
check "unschedule_jobs again is a no-op" "$(q -c "SELECT count(*) FROM commerce.unschedule_jobs()")" "0"
check "no job left" "$(q -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'commerce-%'")" "0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
check "money invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_koc_invariants()")" "0"
q -c "SET client_min_messages = warning" -c "DROP SCHEMA commerce CASCADE" >/dev/null
exit $FAILED

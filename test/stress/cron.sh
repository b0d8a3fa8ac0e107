#!/usr/bin/env bash
# pg_cron: schedule_jobs() registers the expiry pump (idempotently), pg_cron
# really runs it in the test cluster (a reservation whose hold ran out is
# expired by the job, not by us), and unschedule_jobs() removes it.
# Runs in the database pg_cron serves (cron.database_name, commerce_test).
. "$(dirname "$0")/lib/common.sh"
export PGDATABASE="${CRON_DATABASE:-commerce_test}"

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS commerce CASCADE;
CREATE EXTENSION commerce;
SELECT commerce.create_tenant('cron', 'Cron test');
SELECT commerce.upsert_product(commerce.tenant_id('cron'), 'P', 'Product');
SELECT commerce.upsert_sku(commerce.tenant_id('cron'), 'P', 'SKU', 'SKU', 100);
SELECT commerce.receive_stock(commerce.tenant_id('cron'), 'rcv', 'SKU', 10);
SELECT commerce.reserve_sku(commerce.tenant_id('cron'), 'abandoned', 'cart-1', 'SKU', 3, '1 second');
SQL
sleep 1.2
check "abandoned cart still active before the job" "$(q -c "SELECT status FROM commerce.reservation")" "active"
q -c "SELECT commerce.schedule_jobs()" > /dev/null
check "schedule_jobs returns its jobs" "$(q -c "SELECT string_agg(j, ',') FROM commerce.schedule_jobs() j")" "commerce-cancel-unpaid-orders,commerce-expire-reservations"
check "each scheduled once, every minute" "$(q -c "SELECT count(*) || ' ' || count(DISTINCT jobname) || ' ' || min(schedule) FROM cron.job WHERE jobname LIKE 'commerce-%'")" "2 2 * * * * *"

# wait for pg_cron's next minute (at most ~75 s)
for _ in $(seq 1 90); do
    s=$(q -c "SELECT status FROM commerce.reservation")
    [ "$s" = "expired" ] && break
    sleep 1
done
check "the job expired the reservation" "$s" "expired"
check "the job run succeeded" "$(q -c "SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'commerce-expire-reservations' AND d.status = 'succeeded'")" "t"
check "no job run failed" "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'")" "0"
check "stock returned" "$(q -c "SELECT reserved || '/' || available FROM commerce.stock")" "0/10"
check "unschedule_jobs removes them" "$(q -c "SELECT string_agg(j, ',') FROM commerce.unschedule_jobs() j")" "commerce-cancel-unpaid-orders,commerce-expire-reservations"
check "unschedule_jobs again is a no-op" "$(q -c "SELECT count(*) FROM commerce.unschedule_jobs()")" "0"
check "no job left" "$(q -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'commerce-%'")" "0"
check "invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_stock_invariants()")" "0"
q -c "DROP EXTENSION commerce CASCADE" >/dev/null
exit $FAILED

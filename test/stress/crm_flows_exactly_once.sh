#!/usr/bin/env bash
# Automation exactly once (issue 14): 10,000 people, each triggered by 5
# concurrent reports of a promotion (some the same event retried, some new
# events), while 2 flow pumps run at once and one pump's backend is killed
# with kill -9 in the middle (the server restarts). The flow gives a coupon
# and points and sends three SMS under a cap of two a day. Afterwards: one run
# per person, every step of every run once, every action once
# (count = count of distinct keys: coupons, points lots, outbox messages),
# the daily cap never exceeded, opt-outs respected, and the invariants hold.
. "$(dirname "$0")/lib/common.sh"
fresh_db crm_flows_once
PEOPLE=${FLOW_PEOPLE:-10000}
export PGOPTIONS="-c commerce.now=2030-06-15T12:00:00+08"
start=$(date +%s)

q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('fl', 'Flows');
SELECT commerce.create_coupon_template(commerce.tenant_id('fl'), 'P10', '{"name":"Promo","kind":"amount","amount_fen":1000,"valid_days":30,"stacking":"stackable"}');
SELECT commerce.create_coupon_batch(commerce.tenant_id('fl'), 'P10', 'PROMO', NULL, false);
SELECT commerce.set_contact_cap(commerce.tenant_id('fl'), 'sms', 2);
SELECT commerce.define_flow(commerce.tenant_id('fl'), 'promo', 'Promo', '{"trigger":{"on":"event","ref":"custom.promo"},"steps":[
  {"id":"coupon","action":{"coupon":"PROMO"}},
  {"id":"m1","action":{"message":{"channel":"sms","template":"promo-1"}}},
  {"id":"points","action":{"points":5}},
  {"id":"m2","action":{"message":{"channel":"sms","template":"promo-2"}}},
  {"id":"m3","action":{"message":{"channel":"sms","template":"promo-3"}}}]}');
INSERT INTO commerce.customer (tenant_id, code, phone)
SELECT commerce.tenant_id('fl'), 'c' || i, (13000000000 + i)::text FROM generate_series(1, $PEOPLE) i;
SELECT commerce.set_contact_optout(commerce.tenant_id('fl'), 'c' || i, 'sms', true, 'test') FROM generate_series(1, $PEOPLE, 100) i;
SQL

# 5 reporters: reporters 0, 2, 4 retry one event per person, 1 and 3 report new ones
report() {
    local r="$1"
    q -c "DO \$\$ BEGIN FOR b IN 0..$(( PEOPLE / 1000 - 1 )) LOOP
            PERFORM commerce.record_crm_event(commerce.tenant_id('fl'), 'c' || i, 'custom.promo',
                                              'promo-' || i || CASE WHEN $r % 2 = 0 THEN '' ELSE '-$r' END)
               FROM generate_series(b * 1000 + 1, b * 1000 + 1000) i;
            COMMIT; END LOOP; END \$\$" >/dev/null 2>&1 || true
}
pump() { for _ in $(seq 1 40); do q -c "CALL commerce.flow_pump(200)" >/dev/null 2>&1 || true; done; }
for r in 0 1 2 3 4; do report "$r" & done
pump & P1=$!
pump & P2=$!
# kill -9 one pump's backend in the middle of its work
killed=0
for _ in $(seq 1 100); do
    pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CALL commerce.flow_pump%' AND state = 'active' LIMIT 1" 2>/dev/null || true)
    runs=$(q -c "SELECT count(*) FROM commerce.flow_run" 2>/dev/null || echo 0)
    if [ -n "$pid" ] && [ "${runs:-0}" -gt $(( PEOPLE / 10 )) ]; then
        kill -9 "$pid" && killed=1
        break
    fi
    sleep 0.2
done
wait
# the server restarts after a backend is killed: wait for it, then let the reporters' work finish
for _ in $(seq 1 60); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
for r in 0 1 2 3 4; do report "$r"; done
# an hour later (the same day): runs whose coupon claim found the batch busy are due again
export PGOPTIONS="-c commerce.now=2030-06-15T13:00:00+08"
for _ in $(seq 1 20); do
    q -c "CALL commerce.flow_pump(1000)" >/dev/null
    left=$(q -c "SELECT (SELECT count(*) FROM commerce.flow_trigger) + (SELECT count(*) FROM commerce.flow_run WHERE status IN ('active', 'waiting'))")
    [ "$left" = "0" ] && break
done
check "a pump backend was killed with kill -9 mid-run" "$killed" "1"
check "triggers and runs left" "$left" "0"
check "runs = people (one each, whatever the duplicates)" "$(q -c "SELECT count(*) FROM commerce.flow_run")" "$PEOPLE"
check "people with more than one run" "$(q -c "SELECT count(*) FROM (SELECT person_id FROM commerce.flow_run GROUP BY 1 HAVING count(*) > 1) x")" "0"
check "runs done, each with its 5 steps" "$(q -c "SELECT count(*) FROM commerce.flow_run WHERE status = 'done' AND seq = 5")" "$PEOPLE"
check "step records = 5 per run" "$(q -c "SELECT count(*) FROM commerce.flow_step_run")" "$(( PEOPLE * 5 ))"
check "retried steps (a busy coupon batch), recorded once" "$(q -c "SELECT count(*) FROM commerce.flow_step_run WHERE outcome = 'failed'")" "0"
check "coupons: count = distinct keys = runs" "$(q -c "SELECT count(*) || '/' || count(DISTINCT source_key) FROM commerce.coupon WHERE source = 'flow'")" "$PEOPLE/$PEOPLE"
check "points lots: count = distinct keys = runs" "$(q -c "SELECT count(*) || '/' || count(DISTINCT source_key) FROM commerce.points_lot WHERE source_key LIKE 'flow:%'")" "$PEOPLE/$PEOPLE"
OPTED=$(( (PEOPLE + 99) / 100 ))
check "messages: count = distinct dedupe keys" "$(q -c "SELECT count(*) = count(DISTINCT dedupe_key) FROM commerce.outbox WHERE topic = 'crm.message'")" "t"
check "messages sent = 2 per person not opted out (the third capped)" "$(q -c "SELECT count(*) FROM commerce.outbox WHERE topic = 'crm.message'")" "$(( (PEOPLE - OPTED) * 2 ))"
check "capped = 1 per person not opted out" "$(q -c "SELECT count(*) FROM commerce.flow_step_run WHERE outcome = 'capped'")" "$(( PEOPLE - OPTED ))"
check "opted out: never sent" "$(q -c "SELECT count(*) FROM commerce.flow_step_run WHERE outcome = 'opted_out'")" "$(( OPTED * 3 ))"
check "the daily cap never exceeded" "$(q -c "SELECT coalesce(max(sent), 0) FROM commerce.contact_count")" "2"
check "contact counts = messages sent" "$(q -c "SELECT sum(sent) FROM commerce.contact_count")" "$(( (PEOPLE - OPTED) * 2 ))"
check "CRM invariant violations" "$(q -c "SELECT count(*) FROM commerce.check_crm_invariants()")" "0"
echo "  flows exactly once: $(( $(date +%s) - start )) s"
exit $FAILED

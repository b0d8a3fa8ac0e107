-- crm_flows.sql: automation (CRM10-CRM12): a welcome flow (coupon, wait 7
-- days, a condition, a wake-up message); triggers once per event and person;
-- re-entry only when allowed and numbered; versions kept by runs; splits
-- fixed per run; opt-outs, missing addresses and daily caps checked with the
-- send; a flow's own actions never start it again; archiving exits runs;
-- execution history and rate; bad definitions refused naming the JSON path,
-- nothing changed; who may call what.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(50);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null
-- the flow job's work, inside this test's transaction (commerce.flow_pump commits per batch)
CREATE FUNCTION pg_temp.pump() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._flow_birthdays();
    PERFORM commerce.flow_intake(1000);
    PERFORM commerce.flow_advance(1000);
END $$;

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('fl', 'Flows') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 30000);
SELECT commerce.receive_stock(:t, 'r', 'TEE', 100);
SELECT commerce.create_coupon_template(:t, 'W10', '{"name":"Welcome","kind":"amount","amount_fen":1000,"valid_days":30,"stacking":"stackable"}');
SELECT commerce.create_coupon_batch(:t, 'W10', 'WELCOME', NULL, false);
SELECT commerce.upsert_tag_category(:t, 'beh', 'Behaviour', 'behaviour');
SELECT commerce.create_tag(:t, 'woken', 'Woken', 'beh');
\o

-- a welcome flow: coupon, 7 days, bought? else a wake-up SMS and a tag
SELECT is(commerce.define_flow(:t, 'welcome', 'Welcome', '{"trigger":{"on":"registered"},"steps":[
  {"id":"coupon","action":{"coupon":"WELCOME"}},
  {"id":"wait7","wait":{"days":7}},
  {"id":"bought","if":{"field":"orders","op":">=","value":1},"then":"end","else":"wake"},
  {"id":"wake","action":{"message":{"channel":"sms","template":"wake-up"}}},
  {"id":"tag","action":{"tag":"woken"}}]}'), 1, 'a flow is defined: version 1');
\o /dev/null
SELECT commerce.upsert_customer(:t, 'a', 'Ann', '13800000001');
SELECT commerce.upsert_customer(:t, 'b', 'Bob', '13800000002');
SELECT commerce.upsert_customer(:t, 'c', 'Cat');
\o
SELECT is((SELECT count(*) FROM commerce.flow_trigger WHERE tenant_id = :t AND kind = 'registered'), 3::bigint,
          'three sign-ups queued three registered triggers');
SELECT pg_temp.pump() \gset
SELECT is((SELECT string_agg(status || '@' || step_no, ',' ORDER BY run_id) FROM commerce.flow_run WHERE tenant_id = :t),
          'waiting@2,waiting@2,waiting@2', 'each got the coupon and waits in the 7-day step');
SELECT is((SELECT count(*) FROM commerce.coupon WHERE tenant_id = :t AND source = 'flow'), 3::bigint, 'three welcome coupons, one each');
SELECT pg_temp.pump() \gset
SELECT is((SELECT count(*) FROM commerce.flow_step_run WHERE tenant_id = :t), 6::bigint, 'a second pump run does nothing more');
\o /dev/null
SELECT order_id AS ob FROM commerce.place_order(:t, 'ob', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'b') \gset
SELECT commerce.pay_order(:t, :ob, 'pay-b', 30000);
\o
SET LOCAL commerce.now = '2030-06-22 09:59:00+08';
SELECT pg_temp.pump() \gset
SELECT is((SELECT count(*) FROM commerce.flow_run WHERE tenant_id = :t AND status = 'waiting'), 3::bigint, 'a minute early: still waiting');
SET LOCAL commerce.now = '2030-06-22 10:00:00+08';
SELECT pg_temp.pump() \gset
SELECT is((SELECT string_agg(c.code || ':' || s.outcome, ',' ORDER BY c.code) FROM commerce.flow_step_run s
             JOIN commerce.flow_run r USING (tenant_id, run_id) JOIN commerce.customer c ON c.tenant_id = r.tenant_id AND c.person_id = r.person_id
            WHERE s.step_id = 'bought'), 'a:no,b:yes,c:no', 'after 7 days: b bought, a and c did not');
SELECT is((SELECT string_agg(c.code || ':' || s.outcome, ',' ORDER BY c.code) FROM commerce.flow_step_run s
             JOIN commerce.flow_run r USING (tenant_id, run_id) JOIN commerce.customer c ON c.tenant_id = r.tenant_id AND c.person_id = r.person_id
            WHERE s.step_id = 'wake'), 'a:done,c:no_address', 'a is sent the wake-up SMS; c has no phone');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'crm.message'), 1::bigint, 'one message in the outbox');
SELECT is((SELECT dedupe_key FROM commerce.outbox WHERE tenant_id = :t AND topic = 'crm.message'),
          (SELECT format('flow:%s:%s', run_id, seq) FROM commerce.flow_step_run WHERE step_id = 'wake' AND outcome = 'done'),
          'its dedupe key is the run and the step');
SELECT is((SELECT string_agg(status, ',' ORDER BY run_id) FROM commerce.flow_run WHERE tenant_id = :t), 'done,done,done', 'every run is done');
SELECT is((SELECT tagged_by FROM commerce.person_tag pt JOIN commerce.tag g USING (tenant_id, tag_id) JOIN commerce.customer c
            ON c.tenant_id = pt.tenant_id AND c.person_id = pt.person_id WHERE c.code = 'a'), 'flow:welcome', 'the tag is set by the flow');
SELECT is((SELECT action || ' ' || attempted || ' ' || delivered || ' ' || pending || ' ' || ineligible || ' ' || coalesce(execution_rate_bp::text, '-')
             FROM commerce.flow_stats(:t, 'welcome') WHERE action = 'message'), 'message 2 0 1 1 0',
          'message: 2 attempted, 1 not acknowledged yet, 1 ineligible (no phone)');
UPDATE commerce.outbox SET status = 'done' WHERE tenant_id = :t AND topic = 'crm.message';
SELECT is((SELECT execution_rate_bp FROM commerce.flow_stats(:t, 'welcome') WHERE action = 'message'), 10000,
          'once the sender acknowledges it: 1 delivered / (2 attempted - 1 ineligible) = 100%');

-- once per person: no re-entry unless the flow allows it; duplicate triggers start nothing
\o /dev/null
SELECT commerce._flow_trigger(:t, person_id, 'registered', NULL, 'registered:again:' || person_id) FROM commerce.customer WHERE tenant_id = :t;
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT count(*) FROM commerce.flow_run WHERE tenant_id = :t), 3::bigint, 'a second trigger of the same person starts no second run');

-- re-entry, numbered, after its interval; a run keeps its version
SELECT is(commerce.define_flow(:t, 'browse', 'Browsers', '{"trigger":{"on":"event","ref":"browse"},"reentry":{"after_days":1},
  "steps":[{"id":"hi","action":{"points":10}}]}'), 1, 'a re-entry flow on browsing');
\o /dev/null
SELECT commerce.record_crm_event(:t, 'a', 'browse', 'v-1', 'TEE');
SELECT commerce.record_crm_event(:t, 'a', 'browse', 'v-1', 'TEE');
SELECT commerce.record_crm_event(:t, 'a', 'browse', 'v-2', 'TEE');
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT count(*) FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id) WHERE f.code = 'browse'), 1::bigint,
          'two views within a day: one run (the second view is inside the re-entry interval)');
SET LOCAL commerce.now = '2030-06-23 10:01:00+08';
SELECT is(commerce.define_flow(:t, 'browse', 'Browsers', '{"trigger":{"on":"event","ref":"browse"},"reentry":{"after_days":1},
  "steps":[{"id":"hi","action":{"points":20}}]}'), 2, 'a new definition is version 2');
\o /dev/null
SELECT commerce.record_crm_event(:t, 'a', 'browse', 'v-3', 'TEE');
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT string_agg(run_no || ':v' || r.version, ',' ORDER BY run_no) FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id)
            WHERE f.code = 'browse'), '1:v1,2:v2', 'a day later: run 2, on version 2; run 1 kept version 1');
SELECT is((SELECT string_agg(points::text, ',' ORDER BY lot_id) FROM commerce.points_lot WHERE tenant_id = :t AND source_key LIKE 'flow:%'), '10,20',
          'each run gave the points of its version, once');

-- a split is fixed per run; caps and opt-outs are checked with the send
SELECT commerce.set_contact_cap(:t, 'sms', 1);
\o /dev/null
SELECT commerce.define_flow(:t, 'ab', 'A/B', '{"trigger":{"on":"purchase"},"reentry":{"after_days":1},"steps":[
  {"id":"s","split":[{"weight":50,"next":"a"},{"weight":50,"next":"b"}]},
  {"id":"a","action":{"message":{"channel":"sms","template":"thanks-a"}},"next":"end"},
  {"id":"b","action":{"message":{"channel":"sms","template":"thanks-b"}}}]}');
SELECT commerce.upsert_customer(:t, 'p' || i, 'P', (13900000000 + i)::text) FROM generate_series(1, 40) i;
SELECT commerce.pay_order(:t, o.order_id, 'pay-p' || i, o.payable_fen)
  FROM generate_series(1, 40) i, LATERAL commerce.place_order(:t, 'op' || i, 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'p' || i) o;
SELECT commerce.set_contact_optout(:t, 'p1', 'sms', true, 'sms reply TD');
\o
SELECT pg_temp.pump() \gset
SELECT ok((SELECT count(DISTINCT step_id) FROM commerce.flow_step_run s JOIN commerce.flow_run r USING (tenant_id, run_id)
            JOIN commerce.flow f USING (tenant_id, flow_id) WHERE f.code = 'ab' AND s.kind = 'message') = 2, 'the split sent people down both branches');
SELECT is((SELECT outcome FROM commerce.flow_step_run s JOIN commerce.flow_run r USING (tenant_id, run_id)
             JOIN commerce.customer c ON c.tenant_id = r.tenant_id AND c.person_id = r.person_id
             JOIN commerce.flow f ON f.tenant_id = r.tenant_id AND f.flow_id = r.flow_id
            WHERE f.code = 'ab' AND c.code = 'p1' AND s.kind = 'message'), 'opted_out', 'p1 opted out of SMS: nothing sent');
\o /dev/null
SELECT commerce.pay_order(:t, o.order_id, 'pay-q' || i, o.payable_fen)
  FROM generate_series(2, 5) i, LATERAL commerce.place_order(:t, 'oq' || i, 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'p' || i) o;
SET LOCAL commerce.now = '2030-06-24 10:02:00+08';
SELECT commerce.pay_order(:t, o.order_id, 'pay-r' || i, o.payable_fen)
  FROM generate_series(2, 5) i, LATERAL commerce.place_order(:t, 'or' || i, 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'p' || i) o;
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT max(sent) FROM commerce.contact_count WHERE tenant_id = :t AND channel = 'sms'), 1, 'never more than the cap of 1 SMS a day');
SELECT is((SELECT count(*) FROM commerce.flow_step_run WHERE tenant_id = :t AND outcome = 'capped'), 0::bigint,
          'the second purchase of the day was inside the re-entry interval; the next day''s run sends again');
SELECT is((SELECT count(*) FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id) WHERE f.code = 'ab'), 44::bigint,
          '40 first runs and 4 second ones a day later');
SELECT is((SELECT count(DISTINCT (run_id, step_id)) = count(*) FROM commerce.flow_step_run WHERE tenant_id = :t), true,
          'every step of every run once');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'crm.message'),
          (SELECT count(DISTINCT dedupe_key) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'crm.message'), 'each message once');
\o /dev/null
SELECT commerce.define_flow(:t, 'capped', 'Cap test', '{"trigger":{"on":"event","ref":"praise"},"steps":[
  {"id":"m1","action":{"message":{"channel":"sms","template":"t1"}}}]}');
SELECT commerce.record_crm_event(:t, 'p2', 'praise', 'pr-2');
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT outcome FROM commerce.flow_step_run s JOIN commerce.flow_run r USING (tenant_id, run_id) JOIN commerce.flow f USING (tenant_id, flow_id)
            WHERE f.code = 'capped'), 'capped', 'p2 already had today''s SMS: capped');

-- a flow's own actions do not start it; archiving exits runs
\o /dev/null
SELECT commerce.define_flow(:t, 'loop', 'Loop', '{"trigger":{"on":"event","ref":"custom.ping"},"reentry":{"after_days":1},"steps":[
  {"id":"w","wait":{"until":"09:00"}}]}');
SELECT commerce.record_crm_event(:t, 'a', 'custom.ping', 'ping-1');
SELECT set_config('commerce_flow.origin', (SELECT flow_id FROM commerce.flow WHERE code = 'loop')::text, true);
SELECT commerce.record_crm_event(:t, 'b', 'custom.ping', 'ping-2');
SELECT set_config('commerce_flow.origin', '', true);
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT count(*) FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id) WHERE f.code = 'loop'), 1::bigint,
          'an event raised inside the flow''s own action does not start it');
SELECT is((SELECT to_char(wake_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI') FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id)
            WHERE f.code = 'loop'), '06-25 09:00', 'wait until 09:00 local: the next morning');
SELECT is(commerce.set_flow_status(:t, 'loop', 'archived'), 1, 'archiving exits the run under way');
SELECT throws_ok(format($$SELECT commerce.set_flow_status(%s, 'loop', 'active')$$, :t), 'PT409', 'flow loop is archived', 'an archived flow stays archived');

-- birthdays: once a day per tenant, once per person and year; 29 February on the 28th
\o /dev/null
SELECT commerce.upsert_customer(:t, 'bd1', 'June');
SELECT commerce.upsert_customer(:t, 'bd2', 'Leap');
UPDATE commerce.customer SET birthday = '1990-06-24' WHERE tenant_id = :t AND code = 'bd1';
UPDATE commerce.customer SET birthday = '1992-02-29' WHERE tenant_id = :t AND code = 'bd2';
SELECT commerce.define_flow(:t, 'bday', 'Birthday', '{"trigger":{"on":"birthday"},"reentry":{"after_days":300},"steps":[{"id":"gift","action":{"points":88}}]}');
\o
SELECT pg_temp.pump() \gset
SELECT is((SELECT string_agg(c.code, ',') FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id)
             JOIN commerce.customer c ON c.tenant_id = r.tenant_id AND c.person_id = r.person_id WHERE f.code = 'bday'), 'bd1',
          'on 24 June (tenant-local) the June birthday starts the flow');
SELECT is(commerce._flow_birthdays(), 0, 'the same day again queues nothing (once a day per tenant)');
SET LOCAL commerce.now = '2031-02-28 09:00:00+08';
SELECT pg_temp.pump() \gset
SELECT is((SELECT string_agg(c.code, ',') FROM commerce.flow_run r JOIN commerce.flow f USING (tenant_id, flow_id)
             JOIN commerce.customer c ON c.tenant_id = r.tenant_id AND c.person_id = r.person_id WHERE f.code = 'bday' AND r.trigger_key LIKE 'birthday:2031:%'), 'bd2',
          'in 2031, a year without 29 February, the leap-day birthday comes on the 28th');
SELECT is((SELECT queued FROM commerce.flow_birthday_run WHERE tenant_id = :t AND day = '2031-02-28'), 1, 'one birthday queued that day');

-- bad definitions name the JSON path; nothing changes
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"nope"},"steps":[]}')$$, :t), '22023', NULL, 'an unknown trigger');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","wait":{"days":0}}]}')$$, :t),
                 '22023', NULL, 'a wait of nothing');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","if":{"field":"levle","op":">","value":1}}]}')$$, :t),
                 '22023', NULL, 'a bad condition');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","action":{"coupon":"NOPE"}}]}')$$, :t),
                 'PT404', NULL, 'an unknown coupon batch');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","exit":true,"next":"zz"}]}')$$, :t),
                 '22023', NULL, 'a next naming no step');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","split":[{"weight":50,"next":"a"},{"weight":40,"next":"a"}]}]}')$$, :t),
                 '22023', NULL, 'split weights that do not add up to 100');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","exit":true},{"id":"a","exit":true}]}')$$, :t),
                 '22023', NULL, 'two steps with one id');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'x', 'X', '{"trigger":{"on":"registered"},"steps":[{"id":"a","action":{"message":{"channel":"fax","template":"t"}}}]}')$$, :t),
                 '22023', NULL, 'an unknown channel');
SELECT throws_ok(format($$SELECT commerce.set_contact_cap(%s, 'sms', -1)$$, :t), '22023', NULL, 'a negative cap');
SELECT is(pg_temp.fingerprint(), :'fp', 'refused definitions changed nothing');

-- who may call what
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.opt_out('email')$$), 'ok', 'a customer opts out of e-mails');
SELECT matches(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.opt_out('email', true, 'b')$$), '^42501:', 'but not for someone else');
SELECT matches(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.define_flow('x', 'X', '{}')$$), '^42501:', 'a customer defines no flow');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT * FROM commerce_api.flow_history('a')$$), 'ok', 'HQ reads a customer''s flow history');
SELECT * FROM finish();
ROLLBACK;

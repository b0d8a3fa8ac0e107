-- crm_tickets.sql: service tickets (CRM05) from complaint to closed: opened
-- once per request_id, paid members first, assigned to staff or the supply
-- chain, moved only along the flow (the C state guard), the customer told of
-- every step through the outbox, SLA escalation by the pump once per level,
-- a customer sees and moves only its own tickets, bad input refused with
-- its SQLSTATE and nothing changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(45);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('tk', 'Tickets') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900);
SELECT commerce.receive_stock(:t, 'r', 'TEE', 100);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'm']) c;
SELECT commerce.upsert_staff(:t, 'cs1', 'Service', 'operator');
SELECT order_id AS oa FROM commerce.place_order(:t, 'oa', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'a') \gset
SELECT commerce.pay_order(:t, :oa, 'pay-a', 9900);
SELECT order_id AS ob FROM commerce.place_order(:t, 'ob', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'b') \gset
SELECT commerce.pay_order(:t, :ob, 'pay-b', 9900);
SELECT commerce._set_benefit(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'm'),
                             'priority_service', NULL, NULL, 'plan:test', '2030-01-01', '2031-01-01');
\o

-- a customer opens a complaint about its own order
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.open_ticket('tk-1', 'complaint', 'Torn tee', 'Torn at the seam', %s)$$, :oa)),
          'ok', 'a customer opens a complaint about its order');
SELECT ticket_id AS k1 FROM commerce.ticket WHERE tenant_id = :t AND request_id = 'tk-1' \gset
SELECT is((SELECT status || ' ' || priority || ' ' || opened_by FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :k1),
          'pending normal customer:a', 'pending, normal priority, opened by the customer');
SELECT is((SELECT respond_by - created_at || ' / ' || (due_at - created_at) FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :k1),
          '01:00:00 / 1 day', 'the default SLA: answer in 60 minutes, resolve in a day');
SELECT is(commerce.open_ticket(:t, 'tk-1', 'a', 'complaint', 'Torn tee'), :k1::bigint, 'the same request_id returns the same ticket');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'ticket.updated'), 1::bigint,
          'the customer is told once that the ticket is open');
SELECT is((SELECT kind || ':' || ref FROM commerce.crm_event WHERE tenant_id = :t AND request_id = 'ticket:' || :k1), 'complaint:' || :k1,
          'the complaint is an interaction of the person');
SELECT matches(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.open_ticket('tk-x', 'complaint', 'Not mine', NULL, %s)$$, :ob)),
               '^PT404:', 'another customer''s order reads as unknown');
SELECT matches(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.open_ticket('tk-y', 'complaint', 'Urgent!', NULL, NULL, NULL, NULL, 'urgent')$$),
               '^42501:', 'a customer does not set the priority');
SELECT matches(pg_temp.call_as('customer', 'a', $$SELECT commerce_api.open_ticket('tk-z', 'complaint', 'As b', NULL, NULL, NULL, 'b')$$),
               '^42501:', 'a customer opens tickets only for itself');

-- a paid member with priority service comes first
SELECT commerce.open_ticket(:t, 'tk-m', 'm', 'consultation', 'Sizes?') AS km \gset
SELECT is((SELECT priority || ' ' || (respond_by - created_at) FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :km),
          'high 00:30:00', 'a member with priority service: high priority, answered within 30 minutes');
SELECT commerce.set_ticket_sla(:t, 'repair', 'normal', 120, 4320);
SELECT commerce.open_ticket(:t, 'tk-r', 'b', 'repair', 'Zip broken', NULL, :ob, NULL, 'operator:cs1', 'urgent') AS kr \gset
SELECT is((SELECT priority || ' ' || (respond_by - created_at) FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :kr),
          'urgent 00:10:00', 'staff raise a ticket to urgent (the urgent default SLA)');
SELECT commerce.open_ticket(:t, 'tk-r2', 'b', 'repair', 'Button') AS kr2 \gset
SELECT is((SELECT respond_by - created_at || ' / ' || (due_at - created_at) FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :kr2),
          '02:00:00 / 3 days', 'the tenant''s SLA for repairs');

-- from complaint to closed
SELECT is(pg_temp.call_as('operator', 'cs1', format($$SELECT commerce_api.assign_ticket(%s, 'supply_chain', 'factory-7')$$, :k1)), 'ok',
          'customer service hands the ticket to the supply chain');
SELECT is(pg_temp.call_as('operator', 'cs1', format($$SELECT commerce_api.move_ticket(%s, 'processing', 'On it')$$, :k1)), 'ok', 'processing');
SELECT isnt((SELECT responded_at FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :k1), NULL, 'answered: responded_at is set');
SELECT is(pg_temp.call_as('operator', 'cs1', format($$SELECT commerce_api.move_ticket(%s, 'waiting_customer', 'Photo please')$$, :k1)), 'ok',
          'waiting for the customer');
SELECT matches(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.move_ticket(%s, 'done')$$, :k1)), '^42501:',
               'a customer cannot mark its ticket done');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.comment_ticket(%s, 'Photo attached')$$, :k1)), 'ok', 'the customer answers');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.move_ticket(%s, 'processing')$$, :k1)), 'ok',
          'and moves it back to processing');
SELECT is(pg_temp.call_as('operator', 'cs1', format($$SELECT commerce_api.move_ticket(%s, 'done', 'Replacement sent')$$, :k1)), 'ok', 'done');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT commerce_api.move_ticket(%s, 'closed', 'Thanks')$$, :k1)), 'ok',
          'the customer confirms: closed');
SELECT is((SELECT string_agg(coalesce(from_status, '') || '>' || coalesce(to_status, kind), ' ' ORDER BY seq) FROM commerce.ticket_event
            WHERE tenant_id = :t AND ticket_id = :k1),
          '>pending >assigned pending>processing processing>waiting_customer >comment waiting_customer>processing processing>done done>closed',
          'the whole history, step by step');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'ticket.updated' AND payload ->> 'ticket_id' = :k1::text),
          7::bigint, 'the customer was told of the opening, the supply chain hand-over and every move (not of its own comment)');
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT throws_ok(format($$SELECT commerce.move_ticket(%s, %s, 'processing', NULL, 'operator:cs1')$$, :t, :k1), 'PT409', NULL,
                 'a closed ticket never reopens (the state guard)');
SELECT throws_ok(format($$SELECT commerce.move_ticket(%s, %s, 'done', NULL, 'operator:cs1')$$, :t, :km), 'PT409', NULL,
                 'pending cannot jump to done');
SELECT throws_ok(format($$SELECT commerce.assign_ticket(%s, %s, 'staff', 'cs1', 'operator:cs1')$$, :t, :k1), 'PT409', NULL,
                 'a closed ticket is not assigned');
SELECT throws_ok(format($$SELECT commerce.assign_ticket(%s, %s, 'staff', 'ghost', 'operator:cs1')$$, :t, :km), 'PT404', NULL,
                 'an unknown staff member');
SELECT throws_ok($$UPDATE commerce.ticket_event SET note = 'x'$$, 'PT403', NULL, 'ticket history is append-only');
SELECT is(pg_temp.fingerprint(), :'fp1', 'the refused moves changed nothing');

-- a customer sees only its own tickets
SELECT is(pg_temp.call_as('customer', 'b', format($$SELECT commerce_api.ticket_history(%s)$$, :k1)),
          'PT404: ticket "' || :k1 || '" not found', 'another customer''s ticket reads as unknown');
SELECT is((SELECT count(*) FROM commerce.ticket WHERE tenant_id = :t AND person_id = (SELECT person_id FROM commerce.customer WHERE code = 'b')),
          2::bigint, 'b has two tickets');
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_customer', 'sub', 'b', 'tenant_id', :'t')::text, true) \gset
SET LOCAL ROLE commerce_customer;
SELECT is((SELECT count(*) FROM commerce_api.tickets()), 2::bigint, 'a customer lists its own tickets only');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', true) \gset

-- SLA escalation, once per level
SET LOCAL commerce.now = '2030-06-15 10:31:00+08';
SELECT is(commerce.escalate_tickets(100), 2, 'the member''s and the urgent ticket were not answered in time: escalated');
SELECT is(commerce.escalate_tickets(100), 0, 'a second run escalates nothing more');
SELECT is((SELECT count(*) FROM commerce.outbox WHERE tenant_id = :t AND topic = 'ticket.escalated'), 2::bigint,
          'supervisors are told once per level');
SELECT is((SELECT escalation || ' ' || to_char(next_escalation_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI') FROM commerce.ticket
            WHERE tenant_id = :t AND ticket_id = :km), '1 12:31', 'the next level of the unanswered member ticket: a quarter of its 8 hours later');
\o /dev/null
SET LOCAL commerce.now = '2030-06-16 10:31:00+08';
SELECT commerce.escalate_tickets(100);
SET LOCAL commerce.now = '2030-06-17 10:31:00+08';
SELECT commerce.escalate_tickets(100);
SET LOCAL commerce.now = '2030-06-18 10:31:00+08';
SELECT commerce.escalate_tickets(100);
\o
SELECT is((SELECT max(escalation) FROM commerce.ticket WHERE tenant_id = :t), 3, 'escalation stops at level 3');
SELECT is((SELECT count(*) FROM commerce.ticket WHERE tenant_id = :t AND escalation = 3 AND next_escalation_at IS NOT NULL), 0::bigint,
          'nothing is due after level 3');

-- bad input
SELECT pg_temp.fingerprint() AS fp2 \gset
SELECT throws_ok(format($$SELECT commerce.open_ticket(%s, 'bad-1', 'a', 'praise', 'x')$$, :t), '22023', NULL, 'an unknown type');
SELECT throws_ok(format($$SELECT commerce.open_ticket(%s, 'bad-2', 'a', 'complaint', '')$$, :t), '22023', NULL, 'an empty subject');
SELECT throws_ok(format($$SELECT commerce.open_ticket(%s, 'bad-3', 'ghost', 'complaint', 'x')$$, :t), 'PT404', NULL, 'an unknown customer');
SELECT throws_ok(format($$SELECT commerce.open_ticket(%s, NULL, 'a', 'complaint', 'x')$$, :t), '22004', NULL, 'no request_id');
SELECT throws_ok(format($$SELECT commerce.set_ticket_sla(%s, 'repair', 'normal', 100, 50)$$, :t), '22023', NULL,
                 'resolving sooner than answering');
SELECT is(pg_temp.fingerprint(), :'fp2', 'bad input changed nothing');
SELECT is((SELECT count(*) FROM commerce.check_crm_invariants(:t) WHERE invariant LIKE '%ticket%'), 0::bigint, 'the ticket invariants hold');
SELECT * FROM finish();
ROLLBACK;

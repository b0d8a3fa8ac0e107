-- metrics_bad_input.sql: front-end events, channel spend and the core
-- metrics (issue 16, H5.1, H5.2) refuse bad input with their SQLSTATE and
-- change nothing; a customer records only its own events, store staff and
-- customers read no metrics, no tenant sees another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(30);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('mb', 'Metrics bad input') AS t \gset
SELECT commerce.create_tenant('mb2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'fin1', 'Finance', 'finance');
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_customer(:t, 'c2', 'C2');
SELECT commerce.upsert_customer(:t2, 'x1', 'X1');
SELECT commerce.upsert_channel(:t2, 'only_t2', 'Other tenant''s channel', 'self_operated');
SELECT commerce.record_events(:t, 'b1', '[{"kind":"view","channel":"h5","visitor":"v1","at":"2030-06-01T09:00:00+08:00"}]');
SELECT commerce.set_channel_spend(:t, 'h5', '2030-06-01', 100);
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- events
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '{}')$$, :t), '22023', 'invalid value for p_events', 'record_events: not a list');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[]')$$, :t), '22023', 'invalid value for p_events', 'record_events: no event');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', (SELECT jsonb_agg(jsonb_build_object('kind', 'view', 'channel', 'h5', 'visitor', 'v', 'at', '2030-06-01T09:00:00+08:00')) FROM generate_series(1, 1001)))$$, :t), '22023', 'invalid value for p_events', 'record_events: 1001 events');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[7]')$$, :t), '22023', 'invalid value for p_events', 'record_events: an event that is not an object');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","visitor":"v","at":"2030-06-01T09:00:00+08:00","price":1}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: an unknown key');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"scroll","channel":"h5","visitor":"v","at":"2030-06-01T09:00:00+08:00"}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","at":"2030-06-01T09:00:00+08:00"}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: no visitor');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', jsonb_build_array(jsonb_build_object('kind', 'view', 'channel', 'h5', 'visitor', repeat('v', 201), 'at', '2030-06-01T09:00:00+08:00')))$$, :t), '22023', 'invalid value for p_events', 'record_events: a visitor id over 200 characters');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","visitor":"v","at":"yesterday"}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: a time that is not one');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","visitor":"v","at":"2030-02-30T09:00:00+08:00"}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: 30 February');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","visitor":"v","at":"infinity"}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: an infinite time');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","visitor":"v","at":"2030-06-01T11:00:00+08:00"}]')$$, :t), '22023', 'invalid value for p_events', 'record_events: an hour ahead of the clock');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"only_t2","visitor":"v","at":"2030-06-01T09:00:00+08:00"}]')$$, :t), 'PT404', NULL, 'record_events: another tenant''s channel');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b2', '[{"kind":"view","channel":"h5","visitor":"v","at":"2030-06-01T09:00:00+08:00"}]', 'x1')$$, :t), 'PT404', NULL, 'record_events: another tenant''s customer');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, '', '[{"kind":"view","channel":"h5","visitor":"v","at":"2030-06-01T09:00:00+08:00"}]')$$, :t), '22023', NULL, 'record_events: an empty batch id');
SELECT throws_ok(format($$SELECT commerce.record_events(%s, 'b1', '[{"kind":"pay","channel":"h5","visitor":"v1","at":"2030-06-01T09:00:00+08:00"}]')$$, :t), '23505', NULL, 'record_events: a batch id reused for other events');
-- spend and metrics
SELECT throws_ok(format($$SELECT commerce.set_channel_spend(%s, 'h5', '2030-06-02', 1)$$, :t), '22023', 'invalid value for p_month', 'set_channel_spend: a month not by its first day');
SELECT throws_ok(format($$SELECT commerce.set_channel_spend(%s, 'h5', 'infinity', 1)$$, :t), '22023', 'invalid value for p_month', 'set_channel_spend: an infinite month');
SELECT throws_ok(format($$SELECT commerce.set_channel_spend(%s, 'h5', '2030-06-01', -1)$$, :t), '22023', 'invalid value for p_spend_fen', 'set_channel_spend: a negative spend');
SELECT throws_ok(format($$SELECT commerce.set_channel_spend(%s, 'h5', '2030-06-01', 1, repeat('x', 501))$$, :t), '22023', 'invalid value for p_note', 'set_channel_spend: a note over 500 characters');
SELECT throws_ok(format($$SELECT commerce.set_channel_spend(%s, 'only_t2', '2030-06-01', 1)$$, :t), 'PT404', NULL, 'set_channel_spend: another tenant''s channel');
SELECT throws_ok(format($$SELECT commerce.sales_metrics(%s, '2030-06-01', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'sales_metrics: an empty span');
SELECT throws_ok(format($$SELECT commerce.sales_metrics(%s, '-infinity', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'sales_metrics: an infinite span');
SELECT is((commerce.sales_metrics(:t2, '2030-06-01', '2030-06-02') -> 'total' ->> 'visitors'), '0', 'sales_metrics: another tenant sees none of these visitors');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.record_events('b9', '[{"kind":"view","channel":"h5","visitor":"v","at":"2030-06-01T09:00:00+08:00"}]', 'c2')$$), '^42501: a customer acts only as itself', 'a customer records no events as another');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.sales_metrics('2030-06-01', '2030-06-02')$$), '^42501: op-s1 is staff of stores', 'store-level operators read no shop-wide metrics');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.sales_metrics('2030-06-01', '2030-06-02')$$), '^42501', 'a customer reads no metrics');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.set_channel_spend('h5', '2030-06-01', 1)$$), '^42501', 'a customer enters no spend');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;

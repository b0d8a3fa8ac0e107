-- orders_waybills_bad_input.sql: custom e-waybill templates (H3.3.1) refuse
-- bad carriers, logos, copy, senders, empty templates and unknown channels
-- with their SQLSTATE and change nothing; only HQ operators save, remove or
-- read templates, and no tenant sees or removes another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(24);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:20:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('wbb', 'Waybill bad input') AS t \gset
SELECT commerce.create_tenant('wbb2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.set_waybill_template(:t, 'h5', 'sf', 'https://cdn.example.com/logo.png', 'Thanks');
\o
SELECT pg_temp.fingerprint() AS fp \gset

SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'SF', 'https://cdn.example.com/a.png')$$, :t), '22023', 'invalid value for p_carrier', 'set_waybill_template: a carrier in capitals');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', '', 'https://cdn.example.com/a.png')$$, :t), '22023', 'invalid value for p_carrier', 'set_waybill_template: an empty carrier');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', 'http://cdn.example.com/a.png')$$, :t), '22023', 'invalid value for p_logo_url', 'set_waybill_template: a logo over http');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', 'https://cdn.example.com/a b.png')$$, :t), '22023', 'invalid value for p_logo_url', 'set_waybill_template: a logo URL with a space');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', 'https://' || repeat('x', 493))$$, :t), '22023', 'invalid value for p_logo_url', 'set_waybill_template: a logo URL over 500 characters');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', NULL, '')$$, :t), '22023', 'invalid value for p_message', 'set_waybill_template: empty copy');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', NULL, repeat('字', 201))$$, :t), '22023', 'invalid value for p_message', 'set_waybill_template: copy over 200 characters');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', NULL, NULL, repeat('x', 51))$$, :t), '22023', 'invalid value for p_sender_name', 'set_waybill_template: a sender name over 50 characters');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', NULL, NULL, NULL, '1234')$$, :t), '22023', 'invalid value for p_sender_phone', 'set_waybill_template: a phone of 4 characters');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', NULL, NULL, NULL, '0571;drop')$$, :t), '22023', 'invalid value for p_sender_phone', 'set_waybill_template: a phone with letters');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', NULL)$$, :t), '22023', 'invalid value for p_logo_url', 'set_waybill_template: nothing to print');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'nope', 'sf', 'https://cdn.example.com/a.png')$$, :t), 'PT404', 'channel "nope" not found', 'set_waybill_template: an unknown channel');
SELECT throws_ok($$SELECT commerce.set_waybill_template(999999, 'h5', 'sf', 'https://cdn.example.com/a.png')$$, 'PT404', NULL, 'set_waybill_template: an unknown tenant');
SELECT throws_ok($$SELECT commerce.set_waybill_template(NULL, 'h5', 'sf', 'https://cdn.example.com/a.png')$$, '22004', NULL, 'set_waybill_template: no tenant');
SELECT throws_ok(format($$SELECT commerce.set_waybill_template(%s, 'h5', 'sf', 'https://cdn.example.com/a.png', p_by => NULL)$$, :t), '22004', NULL, 'set_waybill_template: no author');
SELECT throws_ok(format($$SELECT commerce.remove_waybill_template(%s, 'nope', 'sf')$$, :t), 'PT404', 'channel "nope" not found', 'remove_waybill_template: an unknown channel');
SELECT is(commerce.remove_waybill_template(:t2, 'h5', 'sf'), false, 'remove_waybill_template: another tenant removes nothing of this tenant''s');
SELECT is(commerce.waybill_templates(:t2), '[]'::jsonb, 'waybill_templates: another tenant sees none of these templates');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.set_waybill_template('h5', 'sf', 'https://cdn.example.com/a.png')$$), '^42501: op-s1 is staff of stores', 'store-level operators save no template');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.remove_waybill_template('h5', 'sf')$$), '^42501', 'store-level operators remove no template');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.waybill_templates()$$), '^42501', 'a customer reads no template');
SELECT matches(pg_temp.call_as('operator', 'op1', $$SELECT commerce_api.remove_waybill_template('h5', 'sf')$$, :t2), '^42501', 'a token naming another tenant for this tenant''s operator is refused ...');
SELECT is(pg_temp.fingerprint(), :'fp', '... and the refused API calls changed nothing here');

SELECT * FROM finish();
ROLLBACK;

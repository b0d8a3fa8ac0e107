-- orders_freight_bad_input.sql: freight templates (H3.1.1) refuse bad codes,
-- names, bases, free-shipping amounts and rates (not a list, unknown keys,
-- no or two rates for everywhere else, a region twice, a price on a rate
-- that does not deliver, fractions, negatives) with their SQLSTATE and change
-- nothing; quotes and orders to a region a template leaves out are refused
-- and hold nothing; only HQ operators keep templates, no tenant sees or
-- uses another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(40);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:20:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('frb', 'Freight bad input') AS t \gset
SELECT commerce.create_tenant('frb2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_product(:t, 'RICE', 'Rice');
SELECT commerce.upsert_sku(:t, 'RICE', 'RICE5', 'Rice 5 kg', 5900, p_weight_g => 5000);
SELECT commerce.receive_stock(:t, 'r1', 'RICE5', 10);
SELECT commerce.upsert_product(:t2, 'RICE', 'Rice');
SELECT commerce.set_freight_template(:t, 'KG', 'By weight', 'weight',
    '[{"regions":["西藏自治区"],"ships":false},{"first":1000,"first_fen":1000,"step":1000,"step_fen":500}]');
SELECT commerce.set_product_freight(:t, 'RICE', 'KG');
\o
SELECT pg_temp.fingerprint() AS fp \gset
\set ok_rates '''[{"first":1000,"first_fen":1000,"step":1000,"step_fen":500}]'''

-- set_freight_template: the template
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, NULL, 'n', 'weight', %L)$$, :t, :ok_rates), '22004', NULL, 'set_freight_template: no code');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'a b', 'n', 'weight', %L)$$, :t, :ok_rates), '22023', 'invalid value for p_code', 'set_freight_template: a code with a space');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', '', 'weight', %L)$$, :t, :ok_rates), '22023', 'invalid value for p_name', 'set_freight_template: an empty name');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', repeat('n', 101), 'weight', %L)$$, :t, :ok_rates), '22023', 'invalid value for p_name', 'set_freight_template: a name over 100 characters');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'volume', %L)$$, :t, :ok_rates), '22023', 'invalid value for p_basis', 'set_freight_template: an unknown basis');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', %L, 0)$$, :t, :ok_rates), '22023', 'invalid value for p_free_over_fen', 'set_freight_template: free from 0 fen');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', %L, -5)$$, :t, :ok_rates), '22023', 'invalid value for p_free_over_fen', 'set_freight_template: free from a negative amount');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', NULL)$$, :t), '22004', NULL, 'set_freight_template: no rates');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '{}')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: rates not a list');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: no rate');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', (SELECT jsonb_agg(x) FROM generate_series(1, 101) i, LATERAL (SELECT jsonb_build_object('regions', jsonb_build_array('r' || i), 'ships', false)) y(x)))$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: 101 rates');
-- the rates
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[1]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: a rate not an object');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"first":1000,"first_fen":1000,"step":1000,"step_fen":500,"cod":true}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: an unknown key');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":["浙江省"],"first":1000,"first_fen":1000,"step":1000,"step_fen":500}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: no rate for everywhere else');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', %L::jsonb || %L::jsonb)$$, :t, :ok_rates, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: two rates for everywhere else');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"ships":false}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: everywhere else not delivered to');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":["浙江省"],"ships":false},{"regions":["江苏省","浙江省"],"ships":false}]'::jsonb || %L::jsonb)$$, :t, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: a region in two rates');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":[],"ships":false}]'::jsonb || %L::jsonb)$$, :t, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: an empty region list');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":[""],"ships":false}]'::jsonb || %L::jsonb)$$, :t, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: an empty region name');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":[1],"ships":false}]'::jsonb || %L::jsonb)$$, :t, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: a region that is not a string');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":["浙江省"],"ships":false,"first_fen":100}]'::jsonb || %L::jsonb)$$, :t, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: a price on a rate that does not deliver');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"regions":["浙江省"],"ships":"no"}]'::jsonb || %L::jsonb)$$, :t, :ok_rates), '22023', 'invalid value for p_rates', 'set_freight_template: ships not a boolean');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"first":1000,"first_fen":1000,"step":1000}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: no step fee');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"first":1000,"first_fen":1000,"step":0,"step_fen":500}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: a step of 0');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"first":1000,"first_fen":-1,"step":1000,"step_fen":500}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: a negative first fee');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"first":1000,"first_fen":1000.5,"step":1000,"step_fen":500}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: a fraction of a fen');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', '[{"first":"1000","first_fen":1000,"step":1000,"step_fen":500}]')$$, :t), '22023', 'invalid value for p_rates', 'set_freight_template: a number as a string');
SELECT throws_ok(format($$SELECT commerce.set_freight_template(%s, 'K2', 'n', 'weight', %L, p_by => NULL)$$, :t, :ok_rates), '22004', NULL, 'set_freight_template: no author');
-- products, quotes and orders
SELECT throws_ok(format($$SELECT commerce.set_product_freight(%s, 'NOPE', 'KG')$$, :t), 'PT404', 'product "NOPE" not found', 'set_product_freight: an unknown product');
SELECT throws_ok(format($$SELECT commerce.set_product_freight(%s, 'RICE', 'NOPE')$$, :t), 'PT404', 'freight template "NOPE" not found', 'set_product_freight: an unknown template');
SELECT throws_ok(format($$SELECT commerce.set_product_freight(%s, 'RICE', 'KG')$$, :t2), 'PT404', 'freight template "KG" not found', 'set_product_freight: another tenant''s template');
SELECT throws_ok(format($$SELECT commerce.freight_quote(%s, 'nope', '[{"sku":"RICE5","qty":1}]', '浙江省')$$, :t), 'PT404', 'channel "nope" not found', 'freight_quote: an unknown channel');
SELECT throws_ok(format($$SELECT commerce.freight_quote(%s, 'h5', '[{"sku":"RICE5","qty":0}]', '浙江省')$$, :t), '22023', NULL, 'freight_quote: a line of 0');
SELECT throws_ok(format($$SELECT commerce.freight_quote(%s, 'h5', '[{"sku":"RICE5","qty":1}]', repeat('x', 51))$$, :t), '22023', 'invalid value for p_region', 'freight_quote: a region over 50 characters');
SELECT throws_ok(format($$SELECT commerce.place_order(%s, 'tibet', 'h5', '{"lines":[{"sku":"RICE5","qty":1}],"receiver":{"region":"西藏自治区"}}')$$, :t), 'PT409', 'the goods of freight template KG are not delivered to "西藏自治区"', 'place_order: a region the template does not deliver to');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing (no order, no hold, no template)');

-- who may call
SELECT matches(pg_temp.call_as('operator', 'op-s1', format($$SELECT commerce_api.set_freight_template('K3', 'n', 'piece', %L)$$, :ok_rates)), '^42501: op-s1 is staff of stores', 'store-level operators save no template');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.set_product_freight('RICE', NULL)$$), '^42501', 'a customer changes no product''s template');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.freight_templates()$$), '^42501', 'a customer reads no template list');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;

-- orders_carriers_bad_input.sql: choosing carriers by cost, speed and
-- history (H3.3.2) refuses bad carrier codes, rate cards, weights and
-- delivery reports with their SQLSTATE and changes nothing; a delivery is
-- reported once; only HQ operators keep rate cards and weights, only a
-- service reports deliveries, no tenant reads or reports another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(37);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:20:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('cab', 'Carrier bad input') AS t \gset
SELECT commerce.create_tenant('cab2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_product(:t, 'P', 'Goods');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 9900, p_weight_g => 500);
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 10);
SELECT order_id AS o FROM commerce.place_order(:t, 'o1', 'h5', '{"lines":[{"sku":"TEE","qty":1}],"receiver":{"region":"浙江省"}}') \gset
SELECT commerce.pay_order(:t, :o, 'p1', 9900);
SELECT shipment_id AS s FROM commerce.ship_order(:t, :o, 's1', 'T1', 'zto') \gset
SELECT commerce.set_carrier_rates(:t, 'zto', '[{"first":1000,"first_fen":500,"step":1000,"step_fen":200,"days":3}]');
SELECT commerce.record_delivery(:t, :s, 'delivered', '2030-06-01 10:30:00+08');
\o
SELECT pg_temp.fingerprint() AS fp \gset
\set rate '''{"first":1000,"first_fen":500,"step":1000,"step_fen":200,"days":3}'''

-- rate cards
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'ZTO', '[]')$$, :t), '22023', 'invalid value for p_carrier', 'set_carrier_rates: a carrier in capitals');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, NULL, '[]')$$, :t), '22004', NULL, 'set_carrier_rates: no carrier');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', NULL)$$, :t), '22004', NULL, 'set_carrier_rates: no rates');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', '{}')$$, :t), '22023', 'invalid value for p_rates', 'set_carrier_rates: not a list');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', (SELECT jsonb_agg(%L::jsonb) FROM generate_series(1, 101)))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: 101 rates');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', '["x"]')$$, :t), '22023', 'invalid value for p_rates', 'set_carrier_rates: a rate not an object');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"cod":1}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: an unknown key');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"regions":[]}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: an empty region list');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"regions":[""]}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: an empty region');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"regions":"浙江省"}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: regions not a list');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb - 'days'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: no days');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"days":31}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: 31 days');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"first":0}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: a first weight of 0');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"step_fen":-1}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: a negative step fee');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"first_fen":1.5}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: a fraction of a fen');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"max_weight_g":0}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: a maximum weight of 0');
SELECT throws_ok(format($$SELECT commerce.set_carrier_rates(%s, 'zto', jsonb_build_array(%L::jsonb || '{"max_weight_g":"20kg"}'))$$, :t, :rate), '22023', 'invalid value for p_rates', 'set_carrier_rates: a maximum weight as text');
-- weights
SELECT throws_ok(format($$SELECT commerce.set_carrier_choice(%s, 5000, 2000, 2000)$$, :t), '22023', 'invalid value for p_cost_bp', 'set_carrier_choice: weights adding up to 9000');
SELECT throws_ok(format($$SELECT commerce.set_carrier_choice(%s, 11000, -1000, 0)$$, :t), '22023', 'invalid value for p_cost_bp', 'set_carrier_choice: a negative weight');
SELECT throws_ok(format($$SELECT commerce.set_carrier_choice(%s, 10000, NULL, 0)$$, :t), '22023', 'invalid value for p_cost_bp', 'set_carrier_choice: one weight missing');
SELECT throws_ok(format($$SELECT commerce.set_carrier_choice(%s, 10000, 0, 0, 6)$$, :t), '22023', 'invalid value for p_window_days', 'set_carrier_choice: a window of 6 days');
SELECT throws_ok(format($$SELECT commerce.set_carrier_choice(%s, 10000, 0, 0, 90, 0)$$, :t), '22023', 'invalid value for p_min_samples', 'set_carrier_choice: trusting 0 parcels');
SELECT throws_ok(format($$SELECT commerce.carrier_options(%s, '浙江省', -1)$$, :t), '22023', 'invalid value for p_weight_g', 'carrier_options: a negative weight');
-- delivery reports
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, %s, 'returned', '2030-06-01 10:30:00+08')$$, :t, :s), 'PT409', format('shipment %s was already reported delivered', :s), 'record_delivery: another report of a reported parcel');
SELECT is(commerce.record_delivery(:t, :s, 'delivered', '2030-06-01 10:30:00+08'), 'repeated', 'record_delivery: the same report again is a repeat');
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, %s, 'delivered', '2030-06-01 10:30:00+08')$$, :t2, :s), 'PT404', format('shipment "%s" not found', :s), 'record_delivery: another tenant''s shipment');
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, 999999, 'delivered', '2030-06-01 10:30:00+08')$$, :t), 'PT404', NULL, 'record_delivery: an unknown shipment');
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, %s, 'stolen', '2030-06-01 10:30:00+08')$$, :t, :s), '22023', 'invalid value for p_outcome', 'record_delivery: an unknown outcome');
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, %s, 'delivered', NULL)$$, :t, :s), '22004', NULL, 'record_delivery: no time');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');
-- a parcel reported before it was shipped, or in the future
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'h5', '{"lines":[{"sku":"TEE","qty":1}],"receiver":{"region":"浙江省"}}') \gset
\o /dev/null
SELECT commerce.pay_order(:t, :o2, 'p2', 9900);
\o
SELECT shipment_id AS s2 FROM commerce.ship_order(:t, :o2, 's2', 'T2', 'zto') \gset
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, %s, 'delivered', '2030-05-31 10:00:00+08')$$, :t, :s2), '22023', 'invalid value for p_at', 'record_delivery: before it was shipped');
SELECT throws_ok(format($$SELECT commerce.record_delivery(%s, %s, 'delivered', '2030-06-02 10:00:00+08')$$, :t, :s2), '22023', 'invalid value for p_at', 'record_delivery: in the future');

-- who may call
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.set_carrier_rates('zto', '[]')$$), '^42501: op-s1 is staff of stores', 'store-level operators keep no rate card');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.set_carrier_choice(10000, 0, 0)$$), '^42501', 'store-level operators set no weights');
SELECT matches(pg_temp.call_as('operator', 'op1', format($$SELECT commerce_api.record_delivery(%s, 'lost', '2030-06-01 10:15:00+08')$$, :s2)), '^42501', 'an operator reports no delivery (the carrier''s adapter does)');
SELECT matches(pg_temp.call_as('service', 'carrier', format($$SELECT commerce_api.record_delivery(%s, 'lost', '2030-06-01 10:15:00+08')$$, :s2), :t2), '^PT404', 'the adapter of another tenant cannot report this tenant''s parcel');
SELECT is((SELECT count(*) FROM commerce.shipment_delivery WHERE tenant_id = :t AND shipment_id = :s2), 0::bigint, 'the refused reports recorded nothing');

SELECT * FROM finish();
ROLLBACK;

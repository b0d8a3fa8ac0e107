-- orders_platform_checks_bad_input.sql: the hourly missing-order check
-- (H3.2.1) refuses bad answers and bad report spans with their SQLSTATE and
-- changes nothing; only the platform adapter (service) answers, only HQ
-- operators read the checks, no tenant sees or answers another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(22);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:20:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('pcb', 'Platform checks bad input') AS t \gset
SELECT commerce.create_tenant('pcb2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'op-tb', 'Taobao operator', 'operator', NULL, ARRAY['taobao']);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_product(:t, 'HOODIE', 'Hoodie');
SELECT commerce.upsert_sku(:t, 'HOODIE', 'HOODIE-L', 'L', 21900);
SELECT commerce.receive_stock(:t, 'r1', 'HOODIE-L', 10);
SELECT commerce.ingest_platform_order(:t, 'taobao', jsonb_build_object(
    'tid', 'T-1', 'status', 'WAIT_SELLER_SEND_GOODS', 'created', '2030-06-01 09:10:00', 'modified', '2030-06-01 09:11:00',
    'buyer_nick', 'tb', 'receiver_name', 'Z', 'receiver_mobile', '13800001234', 'receiver_state', 'Zhejiang',
    'receiver_city', 'Hangzhou', 'receiver_address', '1 Road', 'total_fee', '219.00', 'discount_fee', '0.00', 'post_fee', '0.00',
    'payment', '219.00', 'orders', jsonb_build_object('order', jsonb_build_array(jsonb_build_object(
      'oid', 'T-1-1', 'outer_sku_id', 'HOODIE-L', 'num', 1, 'price', '219.00', 'title', 'Hoodie')))));
SELECT commerce.platform_checks_due();
SELECT min(check_id) AS c FROM commerce.platform_check WHERE tenant_id = :t \gset
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- the adapter's answer
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, %s, NULL)$$, :t, :c), '22004', NULL, 'record_platform_listing: no list');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, NULL, ARRAY['T-1'])$$, :t), '22004', NULL, 'record_platform_listing: no check');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, %s, ARRAY['T-1', NULL])$$, :t, :c), '22023', 'invalid value for p_ids', 'record_platform_listing: a null id');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, %s, ARRAY[''])$$, :t, :c), '22023', 'invalid value for p_ids', 'record_platform_listing: an empty id');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, %s, ARRAY[repeat('x', 201)])$$, :t, :c), '22023', 'invalid value for p_ids', 'record_platform_listing: an id over 200 characters');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, %s, ARRAY(SELECT 'T-' || i FROM generate_series(1, 100001) i))$$, :t, :c), '22023', 'invalid value for p_ids', 'record_platform_listing: 100001 ids');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, 999999, ARRAY['T-1'])$$, :t), 'PT404', NULL, 'record_platform_listing: an unknown check');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(%s, %s, ARRAY['T-1'])$$, :t2, :c), 'PT404', NULL, 'record_platform_listing: another tenant''s check');
SELECT throws_ok(format($$SELECT commerce.record_platform_listing(999999, %s, ARRAY['T-1'])$$, :c), 'PT404', NULL, 'record_platform_listing: an unknown tenant');
-- the report
SELECT throws_ok(format($$SELECT commerce.platform_checks(%s, '2030-06-02', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'platform_checks: a span backwards');
SELECT throws_ok(format($$SELECT commerce.platform_checks(%s, '2030-06-01', '2030-07-03')$$, :t), '22023', 'invalid value for p_to', 'platform_checks: a span over 31 days');
SELECT throws_ok(format($$SELECT commerce.platform_checks(%s, '-infinity', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'platform_checks: an infinite span');
SELECT throws_ok(format($$SELECT commerce.platform_checks(%s, NULL, '2030-06-01')$$, :t), '22004', NULL, 'platform_checks: no start');
SELECT throws_ok(format($$SELECT commerce.platform_checks(%s, '2030-06-01', '2030-06-02', 'nope')$$, :t), 'PT404', NULL, 'platform_checks: an unknown channel');
SELECT is((commerce.platform_checks(:t2, '2030-06-01', '2030-06-02') -> 'checks'), '[]'::jsonb, 'platform_checks: another tenant sees none of these checks');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('customer', 'c1', format($$SELECT commerce_api.record_platform_listing(%s, ARRAY['T-1'])$$, :c)), '^42501', 'a customer answers no check');
SELECT matches(pg_temp.call_as('operator', 'op1', format($$SELECT commerce_api.record_platform_listing(%s, ARRAY['T-1'])$$, :c)), '^42501', 'an operator answers no check (the adapter does)');
SELECT matches(pg_temp.call_as('service', 'adapter', format($$SELECT commerce_api.record_platform_listing(%s, ARRAY['T-1'])$$, :c), :t2), '^PT404', 'the adapter of another tenant cannot answer this tenant''s check');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.platform_checks('2030-06-01', '2030-06-02')$$), '^42501: op-s1 is staff of stores', 'store-level operators read no checks');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.platform_checks('2030-06-01', '2030-06-02')$$), '^42501', 'a customer reads no checks');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;

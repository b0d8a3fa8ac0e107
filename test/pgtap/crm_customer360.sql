-- crm_customer360.sql: the customer 360 (CRM01-CRM05, PR02): one person found
-- by customer code, phone or WeCom external id; its profile across accounts
-- (masked unless the caller reads PII, an unmasked read audited), orders
-- newest first in pages, interactions and activities, KOC contribution,
-- tickets; open to store staff, HQ and services, never to customers; bad
-- lookups refused.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(32);
\ir lib/call_as.psql
\o /dev/null
-- json_as(kind, subject, sql): the JSON a commerce_api call returns to a gateway's token of that kind
CREATE FUNCTION pg_temp.json_as(p_kind text, p_sub text, p_sql text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v jsonb;
BEGIN
    PERFORM set_config('request.jwt.claims', json_build_object('role', 'commerce_' || p_kind, 'sub', p_sub,
                                                               'tenant_id', current_setting('act.t'))::text, true);
    EXECUTE format('SET LOCAL ROLE %I', 'commerce_' || p_kind);
    EXECUTE p_sql INTO v;
    RESET ROLE;
    PERFORM set_config('request.jwt.claims', '', true);
    RETURN v;
END $$;

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('c360', 'Customer 360') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.create_tenant('other', 'Other') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'Tee', 9900);
SELECT commerce.upsert_sku(:t, 'P', 'CAP', 'Cap', 4900);
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100);
SELECT commerce.receive_stock(:t, 'r2', 'CAP', 100);
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_staff(:t, 'st1', 'Store', 'store', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_customer(:t, 'mp:ann', 'Ann Lee', '13800001111');
SELECT commerce.upsert_customer(:t, 'h5:ann');
SELECT commerce.observe_identities(:t, 'mp:ann', '[{"type":"phone","value":"13800001111","verified":true},{"type":"wecom_external","value":"wm-ann"}]', 'mini_program');
SELECT commerce.observe_identities(:t, 'h5:ann', '[{"type":"phone","value":"13800001111","verified":true}]', 'h5');
SELECT commerce.upsert_customer(:t2, 'mp:ann', 'Other Ann', '13800001111');
SELECT commerce.set_growth_levels(:t, '[{"level":1,"name":"Silver","min_growth":100}]');
SELECT commerce.ensure_koc_levels(:t);
SELECT commerce.upsert_koc(:t, 'K-ANN', 'mp:ann', 'Ann', NULL, 'silver');
\o
SELECT isnt((SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'mp:ann'), NULL, 'set up');
SELECT is((SELECT count(DISTINCT person_id) FROM commerce.customer WHERE tenant_id = :t AND code IN ('mp:ann', 'h5:ann')), 1::bigint,
          'the two accounts are one person (same verified phone)');
\o /dev/null
-- 25 orders over both accounts, 12 of them paid
SELECT order_id FROM generate_series(1, 25) i,
       LATERAL commerce.place_order(:t, 'o' || i, 'wechat_mp',
                                    format('{"lines":[{"sku":"TEE","qty":1},{"sku":"CAP","qty":%s}]}', 1 + i % 2)::jsonb,
                                    CASE WHEN i % 2 = 0 THEN 'mp:ann' ELSE 'h5:ann' END);
SELECT commerce.pay_order(:t, o.order_id, 'pay-' || o.order_id, o.payable_fen)
  FROM commerce.orders o WHERE o.tenant_id = :t AND o.order_id % 2 = 0;
SELECT commerce.record_crm_event(:t, 'mp:ann', 'praise', 'e-1', NULL, 'Great service');
SELECT commerce.record_crm_event(:t, 'h5:ann', 'consultation', 'e-2', NULL, 'Sizes?');
SELECT commerce.open_ticket(:t, 'tk-1', 'mp:ann', 'exchange', 'Wrong size');
\o
SELECT commerce.find_person(:t, 'h5:ann') AS p \gset
SELECT is(commerce.find_person(:t, p_phone => '138 0000 1111'), :p::bigint, 'found by phone, however spelled');
SELECT is(commerce.find_person(:t, p_wecom_external => 'wm-ann'), :p::bigint, 'found by WeCom external id (the sidebar)');
SELECT pg_temp.json_as('operator', 'op1', $$SELECT commerce_api.customer_360('h5:ann')$$) AS doc \gset
SELECT is((:'doc'::jsonb -> 'profile' -> 'customers'), '["mp:ann", "h5:ann"]'::jsonb, 'both accounts');
SELECT is((:'doc'::jsonb -> 'profile' ->> 'phone'), '+86*******1111', 'the phone is masked');
SELECT is((:'doc'::jsonb -> 'profile' ->> 'name'), 'A**', 'the name is masked');
SELECT is((:'doc'::jsonb ->> 'masked')::boolean, true, 'the document says it is masked');
SELECT is((:'doc'::jsonb -> 'profile' ->> 'orders')::integer, 12, '12 paid orders across both accounts');
SELECT is((:'doc'::jsonb -> 'profile' ->> 'spent_fen')::bigint,
          (SELECT sum(paid_fen) FROM commerce.orders WHERE tenant_id = :t AND paid_at IS NOT NULL)::bigint, 'net spending of both accounts');
SELECT is((:'doc'::jsonb -> 'profile' ->> 'level')::integer, 1, 'level 1 (Silver)');
SELECT is((:'doc'::jsonb -> 'profile' ->> 'source'), 'wechat_mp', 'the source channel');
SELECT is(jsonb_array_length(:'doc'::jsonb -> 'orders' -> 'items'), 20, 'the first page: 20 orders');
SELECT is((:'doc'::jsonb -> 'orders' -> 'items' -> 0 ->> 'order_id')::bigint,
          (SELECT max(order_id) FROM commerce.orders WHERE tenant_id = :t), 'newest first');
SELECT is(jsonb_array_length(:'doc'::jsonb -> 'orders' -> 'items' -> 0 -> 'items'), 2, 'each order with its items');
SELECT is((:'doc'::jsonb -> 'orders' -> 'items' -> 1 ->> 'payment'), 'online', 'a paid order was paid online');
SELECT ok((:'doc'::jsonb -> 'orders' ->> 'next_before') IS NOT NULL, 'a next page');
SELECT pg_temp.json_as('operator', 'op1', format($$SELECT commerce_api.customer_360('h5:ann', orders_before => %s)$$,
                       :'doc'::jsonb -> 'orders' ->> 'next_before')) AS doc2 \gset
SELECT is(jsonb_array_length(:'doc2'::jsonb -> 'orders' -> 'items'), 5, 'the second page: the other 5');
SELECT ok((:'doc2'::jsonb -> 'orders' ->> 'next_before') IS NULL, 'no page after it');
SELECT is((SELECT count(DISTINCT x ->> 'order_id') FROM (SELECT jsonb_array_elements(:'doc'::jsonb -> 'orders' -> 'items') x
            UNION ALL SELECT jsonb_array_elements(:'doc2'::jsonb -> 'orders' -> 'items')) y), 25::bigint, 'the pages together: all 25, once each');
SELECT is((SELECT string_agg(e ->> 'kind', ',') FROM jsonb_array_elements(:'doc'::jsonb -> 'interactions' -> 'events') e),
          'consultation,praise', 'interactions of both accounts, newest first (at the same time: the later recorded first)');
SELECT is((:'doc'::jsonb -> 'koc' ->> 'koc'), 'K-ANN', 'the person is a KOC: its contribution');
SELECT is((:'doc'::jsonb -> 'tickets' -> 0 ->> 'type'), 'exchange', 'its ticket');

-- who may read it
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT commerce_api.customer_360(wecom_external => 'wm-ann')$$), 'ok',
          'store staff read it from the WeCom sidebar');
SELECT matches(pg_temp.call_as('customer', 'mp:ann', $$SELECT commerce_api.customer_360('mp:ann')$$), '^42501:',
               'a customer may not read the 360');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT commerce_api.customer_360('mp:ann')$$, :t2), '42501: "op1" is not active operator staff of tenant ' || :t2,
          'staff of one tenant are nobody in another');
SELECT throws_ok(format($$SELECT commerce.find_person(%s, 'mp:ann', '13800001111')$$, :t), '22023', NULL, 'two lookup keys');
SELECT throws_ok(format($$SELECT commerce.find_person(%s)$$, :t), '22023', NULL, 'no lookup key');
SELECT throws_ok(format($$SELECT commerce.find_person(%s, p_wecom_external => 'nobody')$$, :t), 'PT404', NULL, 'nobody with that id');
SELECT throws_ok(format($$SELECT commerce.customer_360(%s, %s, NULL, 0)$$, :t, :p), '22023', NULL, 'a page of 0');

-- an unmasked read (a superuser reads PII) is audited
SELECT commerce.customer_360(:t, :p) AS doc3 \gset
SELECT is((:'doc3'::jsonb -> 'profile' ->> 'phone'), '+8613800001111', 'a PII reader sees the phone');
SELECT is((SELECT count(*) FROM commerce.audit_log WHERE tenant_id = :t AND operation = 'pii.read' AND object_key = 'person:' || :p), 1::bigint,
          'the unmasked read is audited; the masked ones are not');
SELECT * FROM finish();
ROLLBACK;

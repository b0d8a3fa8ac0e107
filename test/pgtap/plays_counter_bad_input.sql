-- plays_counter_bad_input.sql: the store counter, the KOC workbench and HQ's
-- functions of commerce_api refuse what is not the caller's and bad input,
-- each with its SQLSTATE, and change nothing; store staff see their own
-- stores' plays and orders only; decisions are recorded under the caller.
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

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('ctr', 'Counter') AS t \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou'), commerce.upsert_store(:t, 'S2', 'Store two');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 100);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'ka']) c;
SELECT commerce.configure_play(:t, 'cfg-f1', 'F1', 'FLASH_SALE', 'S1', 'C10', 'Flash one', 5000, 5, '2030-01-01', '2030-02-01', '{}', p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT commerce.configure_play(:t, 'cfg-f2', 'F2', 'FLASH_SALE', 'S2', 'C10', 'Flash two', 5000, 5, '2030-01-01', '2030-02-01', '{}', p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT commerce.upsert_staff(:t, 'st1', 'Store one staff', 'store', ARRAY['S1']);
SELECT commerce.upsert_staff(:t, 'op1', 'HQ operator', 'operator');
SELECT commerce.upsert_staff(:t, 'fin1', 'Finance', 'finance');
-- a paid order in each store's play; one after-sale request on store two's
SELECT order_id AS o1 FROM commerce.buy_play(:t, 'b1', 'F1', 'a') \gset
SELECT commerce.pay_order(:t, :o1, 'p1', 5000);
SELECT order_id AS o2 FROM commerce.buy_play(:t, 'b2', 'F2', 'b') \gset
SELECT commerce.pay_order(:t, :o2, 'p2', 5000);
SELECT after_sale_id AS as2 FROM commerce.request_after_sale(:t, 'as-2', :o2, 'refund_only', 5000, 'changed my mind') \gset
SELECT commerce.publish_agreement(:t, 'v1', 'terms');
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- the store sees its own
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT 1/(count(*) = 1 AND bool_and(play = 'F1'))::int FROM commerce_api.store_plays()$$), 'ok',
          'store_plays: store staff see their own store''s plays only');
SELECT is(pg_temp.call_as('store', 'st1', format($$SELECT 1/(array_agg(order_id) = ARRAY[%s]::bigint[])::int FROM commerce_api.store_orders()$$, :o1)), 'ok',
          'store_orders: store staff see the orders of their store''s plays only');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT 1/(count(*) = 0)::int FROM commerce_api.after_sales()$$), 'ok',
          'after_sales: another store''s request is not listed for store staff');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT 1/(count(*) = 2)::int FROM commerce_api.store_plays()$$), 'ok',
          'store_plays: HQ sees every store''s plays');

-- another store's order does not exist for store staff; bad input
SELECT is(pg_temp.call_as('store', 'st1', format($$SELECT * FROM commerce_api.ship_order('sh-x', %s)$$, :o2)),
          format('PT404: order "%s" not found', :o2), 'ship_order: another store''s order -> PT404');
SELECT is(pg_temp.call_as('store', 'st1', format($$SELECT * FROM commerce_api.decide_after_sale(%s, true)$$, :as2)),
          format('PT404: order "%s" not found', :o2), 'decide_after_sale: another store''s request -> PT404');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT * FROM commerce_api.decide_after_sale(999999, true)$$),
          'PT404: after-sale request "999999" not found', 'decide_after_sale: an unknown request -> PT404');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT * FROM commerce_api.close_play('c-x', 'F2')$$),
          '42501: store S2 is outside the scope of st1', 'close_play: another store''s play -> 42501');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT * FROM commerce_api.configure_play('cfg-x', 'FX', 'FLASH_SALE', 'S2', 'C10', 'x', 100, 1, '2030-01-01', '2030-02-01')$$),
          '42501: store S2 is outside the scope of st1', 'configure_play: for another store -> 42501');
SELECT is(pg_temp.call_as('store', 'st1', $$SELECT * FROM commerce_api.store_orders(page_size => 101)$$),
          '22023: invalid value for page_size', 'store_orders: a page of 101 -> 22023');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT * FROM commerce_api.adjust_stock('adj-x', 'C10', -5, NULL)$$),
          '22004: argument note must not be null', 'adjust_stock: no reason -> 22004');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT * FROM commerce_api.adjust_stock('adj-x', 'C10', -1000, 'lost')$$) LIKE 'PT409: %', true,
          'adjust_stock: below what is held and sold -> PT409');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT commerce_api.set_price('C10', 'channel', 100, 'wechat_mp', valid_from => '2030-02-01', valid_to => '2030-01-01')$$) LIKE '2%', true,
          'set_price: a window that ends before it starts -> refused');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT * FROM commerce_api.review_risk_flag(999999, true, 'x')$$) LIKE 'PT404: %', true,
          'review_risk_flag: an unknown flag -> PT404');
SELECT is(pg_temp.call_as('finance', 'fin1', $$SELECT * FROM commerce_api.review_withdrawal(999999, true)$$) LIKE 'PT404: %', true,
          'review_withdrawal: an unknown withdrawal -> PT404');
SELECT is(pg_temp.call_as('operator', 'op1', $$SELECT * FROM commerce_api.review_koc_application(999999, true)$$) LIKE 'PT404: %', true,
          'review_koc_application: an unknown application -> PT404');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT * FROM commerce_api.apply_koc('ap-x', '{"douyin":"@a"}')$$),
          '22023: invalid value for p_social_accounts', 'apply_koc: social accounts not a list -> 22023');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT * FROM commerce_api.apply_koc('ap-x', '[]', customer => 'b')$$),
          '42501: a customer acts only as itself', 'apply_koc: for another customer -> 42501');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT * FROM commerce_api.record_refund(1)$$),
          '42501: permission denied for function record_refund', 'record_refund: a customer -> 42501');
SELECT is(pg_temp.fingerprint(), :'fp0', 'refused calls: nothing changed');

-- decisions under the caller's name
SELECT is(pg_temp.call_as('customer', 'ka', $$SELECT * FROM commerce_api.apply_koc('ap-ka', '[{"platform":"douyin","handle":"@ka","followers":10}]')$$), 'ok',
          'apply_koc: a customer applies');
SELECT is(pg_temp.call_as('customer', 'a', $$SELECT 1/(count(*) = 0)::int FROM commerce_api.koc_applications()$$), 'ok',
          'koc_applications: a customer sees only its own (none)');
SELECT max(application_id) AS app FROM commerce.koc_application WHERE tenant_id = :t \gset
SELECT is(pg_temp.call_as('operator', 'op1', format($$SELECT * FROM commerce_api.review_koc_application(%s, true, koc_code => 'KA')$$, :app)), 'ok',
          'review_koc_application: HQ approves');
SELECT is((SELECT reviewer || ' ' || status FROM commerce.koc_application WHERE tenant_id = :t), 'op1 approved',
          'the approval is recorded under the operator''s name');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.sign_agreement(1, repeat('0', 64), 'KA')$$) LIKE '2%', true,
          'sign_agreement: a hash that is not the text''s -> refused');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.sign_agreement(1, encode(sha256(convert_to('terms', 'UTF8')), 'hex'), 'Ka')$$), 'ok',
          'sign_agreement: the KOC signs what it was shown');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT 1/(count(*) = 1 AND bool_and(signed_at IS NOT NULL))::int FROM commerce_api.koc_agreement()$$), 'ok',
          'koc_agreement: shows when the KOC signed');
SELECT is(pg_temp.call_as('operator', 'op1', format($$SELECT * FROM commerce_api.decide_after_sale(%s, true, 'ok')$$, :as2)), 'ok',
          'decide_after_sale: HQ approves a refund');
SELECT is((SELECT status || ' ' || (SELECT l.params ->> 'approver' FROM commerce.audit_log l
                                     WHERE l.operation = 'after_sale.decide' ORDER BY l.audit_id DESC LIMIT 1)
             FROM commerce.after_sale WHERE after_sale_id = :as2), 'approved op1', 'the decision is audited under the operator''s name');
SELECT is(pg_temp.call_as('service', 'payments', format($$SELECT 1/(count(*) = 1 AND bool_and(status = 'refunded'))::int FROM commerce_api.record_refund(%s)$$, :as2)), 'ok',
          'record_refund: the provider''s callback completes the refund');
SELECT * FROM finish();
ROLLBACK;

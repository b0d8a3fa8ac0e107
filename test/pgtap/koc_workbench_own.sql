-- koc_workbench_own.sql: what is a KOC's or a customer's own through
-- commerce_api stays theirs: another KOC's account, links, task progress,
-- withdrawals and batches are refused (42501), another customer's asset and
-- its log do not exist (PT404), a group of another tenant does not exist;
-- nothing changes.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(12);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('own', 'Own') AS t \gset
SELECT commerce.create_tenant('own2', 'Own two') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 100);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'ka', 'kb']) c;
SELECT commerce.upsert_koc(:t, 'KA', 'ka', 'KOC A'), commerce.upsert_koc(:t, 'KB', 'kb', 'KOC B');
SELECT commerce.upsert_koc_task(:t, 'T1', 'Task one', '2030-01-01', '2030-02-01', 500, 0);
SELECT commerce.configure_play(:t, 'cfg-g', 'G', 'GROUP_BUY', 'S1', 'C10', 'Group', 8000, 5, '2030-01-01', '2030-02-01', '{"target_size":2}', p_asset_type => 'COURSE');
SELECT commerce.configure_play(:t, 'cfg-f', 'F', 'FLASH_SALE', 'S1', 'C10', 'Flash', 5000, 5, '2030-01-01', '2030-02-01', '{}', p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT order_id AS o FROM commerce.buy_play(:t, 'b1', 'F', 'a') \gset
SELECT commerce.pay_order(:t, :o, 'p1', 5000);
SELECT asset_id AS asset FROM commerce.user_asset WHERE tenant_id = :t \gset
SELECT instance_id AS g FROM commerce.join_group(:t, 'j1', 'G', 'a', NULL) \gset
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.koc_account('KB')$$),
          '42501: a koc acts only as itself', 'koc_account: another KOC''s -> 42501');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.tracking_link(koc => 'KB')$$),
          '42501: a koc acts only as itself', 'tracking_link: for another KOC -> 42501');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.koc_task_progress('T1', 'KB')$$),
          '42501: a koc acts only as itself', 'koc_task_progress: another KOC''s -> 42501');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.withdrawals(koc => 'KB')$$),
          '42501: a koc acts only as itself', 'withdrawals: another KOC''s -> 42501');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT * FROM commerce_api.settle_batches(koc => 'KB')$$),
          '42501: a koc acts only as itself', 'settle_batches: another KOC''s -> 42501');
SELECT is(pg_temp.call_as('customer', 'b', format($$SELECT * FROM commerce_api.asset_consumptions(%s)$$, :asset)),
          format('PT404: asset "%s" not found', :asset), 'asset_consumptions: another customer''s asset -> PT404');
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT 1/(count(*) = 0)::int FROM commerce_api.assets()$$), 'ok',
          'assets: a customer sees none of another''s');
SELECT is(pg_temp.call_as('customer', 'b', $$SELECT * FROM commerce_api.assets(customer => 'a')$$),
          '42501: a customer acts only as itself', 'assets: naming another customer -> 42501');
SELECT is(pg_temp.call_as('customer', 'a', format($$SELECT * FROM commerce_api.group_buy(%s)$$, :g), :t2),
          format('PT404: group "%s" not found', :g), 'group_buy: a group of another tenant does not exist');
SELECT is(pg_temp.call_as('customer', 'b', format($$SELECT 1/(count(*) = 1 AND bool_and(NOT mine AND held = 1))::int FROM commerce_api.group_buy(%s)$$, :g)), 'ok',
          'group_buy: another customer sees the group''s progress, not as its own');
SELECT is(pg_temp.fingerprint(), :'fp0', 'refused calls: nothing changed');
SELECT is(pg_temp.call_as('koc', 'KA', $$SELECT 1/(count(*) = 1 AND bool_and(koc = 'KA'))::int FROM commerce_api.tracking_link()$$), 'ok',
          'tracking_link: a KOC gets its own (the first call makes the tenant''s secret)');
SELECT * FROM finish();
ROLLBACK;

-- plays_api.sql: the commerce_api wrappers of the plays take the tenant from
-- the request's claims (42501 without one), never reach another tenant's
-- plays (PT404), pass the wrapped function's refusals through, work for the
-- tenant of the claims, and are not executable by PUBLIC.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(27);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('a1', 'Api one') AS t \gset
SELECT commerce.create_tenant('a2', 'Api two') AS t2 \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 20);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c']) c;
SELECT commerce.upsert_customer(:t2, 'a');
SELECT commerce.configure_play(:t, 'cfg-g', 'G', 'GROUP_BUY', 'S1', 'C10', 'Group', 8000, 4, '2030-01-01', '2030-02-01', '{"target_size":2}', p_asset_type => 'COURSE');
SELECT commerce.configure_play(:t, 'cfg-f', 'F', 'FLASH_SALE', 'S1', 'C10', 'Flash', 5000, 2, '2030-01-01', '2030-02-01', '{}');
SELECT commerce.configure_play(:t, 'cfg-b', 'B', 'BARGAIN', 'S1', 'C10', 'Bargain', 9000, 2, '2030-01-01', '2030-02-01', '{"floor_fen":7000,"cut_fen":2000}');
SELECT commerce.configure_play(:t, 'cfg-i', 'I', 'INVITE_REWARD', 'S1', 'C10', 'Invite', 9000, 2, '2030-01-01', '2030-02-01', '{"reward_fen":500}');
SELECT set_config('request.jwt.claims', '', true);
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- without a tenant in the request
SELECT throws_ok($$SELECT * FROM commerce_api.visible_plays('Hangzhou')$$, '42501', 'no tenant in the request', 'visible_plays: no claims -> 42501');
SELECT throws_ok($$SELECT commerce_api.join_group('j', 'G', 'a', 'p')$$, '42501', 'no tenant in the request', 'join_group: no claims -> 42501');
SELECT throws_ok($$SELECT commerce_api.buy_play('f', 'F', 'a')$$, '42501', 'no tenant in the request', 'buy_play: no claims -> 42501');
SELECT throws_ok($$SELECT commerce_api.play_dashboard('G')$$, '42501', 'no tenant in the request', 'play_dashboard: no claims -> 42501');
-- another tenant's claims: the plays of a1 do not exist there
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s"}', :t2), true) IS NOT NULL AS as_t2 \gset
SELECT is((SELECT count(*) FROM commerce_api.visible_plays('Hangzhou')), 0::bigint, 'visible_plays: another tenant sees none');
SELECT throws_ok($$SELECT commerce_api.join_group('j', 'G', 'a', 'p')$$, 'PT404', 'play config "G" not found', 'join_group: another tenant''s play -> PT404');
SELECT throws_ok($$SELECT commerce_api.buy_play('f', 'F', 'a')$$, 'PT404', 'play config "F" not found', 'buy_play: another tenant''s play -> PT404');
SELECT throws_ok($$SELECT commerce_api.record_play_view('G')$$, 'PT404', 'play config "G" not found', 'record_play_view: another tenant''s play -> PT404');
SELECT throws_ok($$SELECT commerce_api.play_dashboard('G')$$, 'PT404', 'play config "G" not found', 'play_dashboard: another tenant''s play -> PT404');
SELECT throws_ok($$SELECT commerce_api.apply_play_settlement('s', 'G')$$, 'PT404', 'play config "G" not found', 'apply_play_settlement: another tenant''s play -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'refused API calls: nothing changed');

-- the tenant of the claims
SELECT set_config('request.jwt.claims', format('{"tenant_id":"%s"}', :t), true) IS NOT NULL AS as_t \gset
SELECT is((SELECT array_agg(code ORDER BY code) FROM commerce_api.visible_plays('Hangzhou')), ARRAY['B', 'F', 'G', 'I'], 'visible_plays: the tenant''s plays');
SELECT ok(commerce_api.record_play_view('G', 'a', '10.0.0.1') > 0, 'record_play_view: recorded');
SELECT is((commerce_api.join_group('j-a', 'G', 'a', 'pay-a')).outcome, 'opened', 'join_group: opened');
SELECT is((commerce_api.join_group('j-b', 'G', 'b', 'pay-b', (SELECT max(instance_id) FROM commerce.play_instance))).outcome, 'succeeded', 'join_group: the second member completes the group');
SELECT throws_ok($$SELECT commerce_api.join_group('j-c', 'G', 'c', 'pay-c', (SELECT max(instance_id) FROM commerce.play_instance))$$, 'PT409', NULL, 'join_group: a finished group -> PT409');
SELECT is((commerce_api.buy_play('f-a', 'F', 'a')).status, 'pending_payment', 'buy_play: an order held for payment');
SELECT throws_ok($$SELECT commerce_api.buy_play('f-b', 'F', 'b', 2)$$, '22023', 'invalid value for p_qty', 'buy_play: above the per-order limit -> 22023');
SELECT is((commerce_api.start_bargain('b-a', 'B', 'a')).helps_needed, 1, 'start_bargain: one help needed');
SELECT is((commerce_api.help_bargain('h-b', (SELECT max(instance_id) FROM commerce.play_instance WHERE price_fen IS NOT NULL), 'b')).status, 'success', 'help_bargain: at the floor');
SELECT is((commerce_api.buy_bargain('bb-a', (SELECT max(instance_id) FROM commerce.play_instance WHERE price_fen IS NOT NULL), 'a')).payable_fen, 7000::bigint, 'buy_bargain: at the floor price');
SELECT is((commerce_api.invite('i-1', 'I', 'a', 'c')).status, 'invited', 'invite: recorded');
SELECT is((commerce_api.consume_asset('u-1', (SELECT min(asset_id) FROM commerce.user_asset), 1, 'S1', 'coach')).remaining, 0::bigint, 'consume_asset: consumed');
SELECT is(commerce_api.play_dashboard('G') #>> '{group_buy,succeeded}', '1', 'play_dashboard: one group succeeded');
SELECT throws_ok($$SELECT commerce_api.apply_play_settlement('st-1', 'G')$$, 'PT409', 'no split rule for play "G"', 'apply_play_settlement: no split rule -> PT409');

-- privileges
CREATE ROLE commerce_test_api_anon NOLOGIN;
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'commerce_api'
              AND p.proname IN ('visible_plays', 'record_play_view', 'join_group', 'buy_play', 'start_bargain', 'help_bargain',
                                'buy_bargain', 'invite', 'consume_asset', 'play_dashboard', 'apply_play_settlement')
              AND has_function_privilege('commerce_test_api_anon', p.oid, 'EXECUTE')), 0::bigint,
          'play API functions: not executable by PUBLIC');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'commerce_api'
              AND p.proname IN ('visible_plays', 'record_play_view', 'join_group', 'buy_play', 'start_bargain', 'help_bargain',
                                'buy_bargain', 'invite', 'consume_asset', 'play_dashboard', 'apply_play_settlement')), 11::bigint,
          'play API functions: all eleven exist');

SELECT * FROM finish();
ROLLBACK;

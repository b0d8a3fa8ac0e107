-- site_bad_input.sql: the creator's site and live rooms (issue 16, H3.5)
-- refuse bad input with their SQLSTATE and change nothing; page versions are
-- append-only and live rooms guarded; store staff, customers and other
-- tenants reach none of the editing, a fan subscribes only as itself, and
-- no tenant sees another's pages or rooms.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(62);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('st', 'Site bad input') AS t \gset
SELECT commerce.create_tenant('st2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'P-M', 'M', 9900);
SELECT commerce.upsert_sku(:t, 'P', 'P-OLD', 'Old', 9900);
SELECT commerce.upsert_product(:t2, 'Q', 'Other tee');
SELECT commerce.upsert_sku(:t2, 'Q', 'Q-M', 'M', 9900);
UPDATE commerce.sku SET active = false WHERE code = 'P-OLD';
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_customer(:t, 'c2', 'C2');
SELECT commerce.upsert_customer(:t2, 'x1', 'X1');
SELECT commerce.create_coupon_template(:t, 'T10', '{"name":"10 off","kind":"amount","amount_fen":1000,"valid_days":7}');
SELECT commerce.create_coupon_batch(:t, 'T10', 'b-open', 100);
SELECT commerce.create_coupon_batch(:t, 'T10', 'b-issued', 100, false);
SELECT commerce.create_coupon_batch(:t, 'T10', 'b-over', 100, true, NULL, '2030-06-01 09:00+08');
SELECT commerce.upsert_material(:t, 'EMPTY', 'image', 'No version yet');
SELECT commerce.upsert_channel(:t, 'live', 'Live', 'self_operated');
SELECT commerce.upsert_channel(:t2, 'live', 'Live', 'self_operated');
SELECT commerce.upsert_live_room(:t, 'R1', 'Room one', 'live', '2030-06-01 20:00+08', '2030-06-01 22:00+08');
SELECT commerce.upsert_live_room(:t, 'R-DONE', 'Over', 'live', '2030-06-01 20:00+08', '2030-06-01 22:00+08');
SELECT commerce.end_live_room(:t, 'R-DONE');
SELECT commerce.upsert_live_room(:t2, 'R2', 'Other room', 'live', '2030-06-01 20:00+08', '2030-06-01 22:00+08');
SELECT commerce.save_site_page(:t, 'home', 'Home', '{"components":[{"type":"product_card","props":{"product":"P"}}]}');
SELECT commerce.save_site_page(:t2, 'secret', 'Other', '{"components":[{"type":"product_card","props":{"product":"Q"}}]}');
SELECT commerce.publish_site_page(:t2, 'secret');
SELECT commerce.save_site_page(:t, 'bad', 'Broken', '{"components":[{"type":"product_card","props":{"product":"NOPE"}},{"type":"product_card","props":{"product":"P","sku":"P-OLD"}},{"type":"coupon","props":{"batch":"b-issued"}},{"type":"coupon","props":{"batch":"b-over"}},{"type":"banner","props":{"material":"EMPTY"}},{"type":"live_floating_list","props":{"room":"R-DONE"}},{"type":"product_card","props":{"product":"Q"}}]}');
SELECT commerce.upsert_site_template(:t, 'tpl', 'Template', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}');
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- page documents
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '[]')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a document that is not an object');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[],"theme":"dark"}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: an unknown key');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: no component');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', jsonb_build_object('components', (SELECT jsonb_agg('{"type":"follow_button","props":{"target":"wecom"}}'::jsonb) FROM generate_series(1, 101))))$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: 101 components');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[7]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a component that is not an object');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"banner","props":{"material":"M"},"style":"x"}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a component with an unknown key');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"popup","props":{}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: an unknown component');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"props":{}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a component without a type');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"banner","props":{}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a banner without its material');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"banner","props":{"material":""}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: an empty material code');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"product_card","props":{"product":"P","show_price":"yes"}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: show_price not a boolean');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"live_floating_list","props":{"room":"R1","max_items":51}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a floating list of 51');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"video_feed","props":{"videos":"V1"}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: videos not a list');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', jsonb_build_object('components', jsonb_build_array(jsonb_build_object('type', 'article', 'props', jsonb_build_object('title', 'T', 'body', repeat('x', 20001))))))$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: an article body over 20,000 characters');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"follow_button","props":{"target":"wecom","label":null}}]}')$$, :t), '22023', 'invalid value for p_doc', 'save_site_page: a null label');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', NULL)$$, :t), '22004', NULL, 'save_site_page: no document');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, '-p', 'P', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}')$$, :t), '22023', 'invalid value for p_slug', 'save_site_page: a slug starting with -');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', '', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}')$$, :t), '22023', 'invalid value for p_title', 'save_site_page: an empty title');
SELECT throws_ok(format($$SELECT commerce.save_site_page(%s, 'p', 'P', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}')$$, 999999), 'PT404', NULL, 'save_site_page: an unknown tenant');

-- publishing
SELECT throws_ok(format($$SELECT commerce.publish_site_page(%s, 'nope')$$, :t), 'PT404', NULL, 'publish_site_page: an unknown page');
SELECT throws_ok(format($$SELECT commerce.publish_site_page(%s, 'secret')$$, :t), 'PT404', NULL, 'publish_site_page: another tenant''s page');
SELECT throws_ok(format($$SELECT commerce.publish_site_page(%s, 'home', 2)$$, :t), 'PT404', NULL, 'publish_site_page: a version that does not exist');
SELECT is((SELECT x -> 'draft_broken_refs' FROM jsonb_array_elements(commerce.site_pages(:t)) x WHERE x ->> 'slug' = 'bad'),
          '{"skus": ["P-OLD"], "rooms": ["R-DONE"], "products": ["NOPE", "Q"], "materials": ["EMPTY"], "coupon_batches": ["b-issued", "b-over"]}'::jsonb,
          'a draft may refer to what does not resolve; each broken reference is named: an unknown product, an inactive SKU, a batch only issued, a batch past its claim window, a material without a version, an ended room, another tenant''s product');
SELECT throws_ok(format($$SELECT commerce.publish_site_page(%s, 'bad')$$, :t), 'PT409', 'page bad version 1 refers to what cannot be shown', 'publish_site_page: broken references refused');
SELECT is((SELECT published_version FROM commerce.site_page WHERE tenant_id = :t AND slug = 'bad'), NULL, 'nothing was published');
SELECT throws_ok($$UPDATE commerce.site_page_version SET doc = '{}'$$, NULL, NULL, 'site_page_version: never updated');
SELECT throws_ok($$DELETE FROM commerce.site_page_version$$, NULL, NULL, 'site_page_version: never deleted');
SELECT throws_ok(format($$SELECT commerce.unpublish_site_page(%s, 'secret')$$, :t), 'PT404', NULL, 'unpublish_site_page: another tenant''s page');
SELECT throws_ok(format($$SELECT commerce.site_page(%s, 'home')$$, :t), 'PT404', NULL, 'site_page: an unpublished page is not shown');
SELECT throws_ok(format($$SELECT commerce.site_page(%s, 'secret')$$, :t), 'PT404', NULL, 'site_page: another tenant''s page is not shown');

-- templates
SELECT throws_ok(format($$SELECT commerce.upsert_site_template(%s, 'Bad Code', 'T', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}')$$, :t), '22023', 'invalid value for p_code', 'upsert_site_template: a bad code');
SELECT throws_ok(format($$SELECT commerce.upsert_site_template(%s, 't2', 'T', '{"components":[{"type":"follow_button","props":{}}]}')$$, :t), '22023', 'invalid value for p_doc', 'upsert_site_template: a component without its target');
SELECT throws_ok(format($$SELECT commerce.apply_site_template(%s, 'nope', 'p', 'P')$$, :t), 'PT404', NULL, 'apply_site_template: an unknown template');
SELECT throws_ok(format($$SELECT commerce.apply_site_template(%s, 'tpl', 'p', 'P')$$, :t2), 'PT404', NULL, 'apply_site_template: another tenant''s template');
SELECT throws_ok(format($$SELECT commerce.apply_site_template(%s, 'tpl', 'Bad Slug', 'P')$$, :t), '22023', 'invalid value for p_slug', 'apply_site_template: a bad slug');

-- live rooms
SELECT throws_ok(format($$SELECT commerce.upsert_live_room(%s, 'bad code', 'T', 'live', '2030-06-02 20:00+08', '2030-06-02 21:00+08')$$, :t), '22023', 'invalid value for p_code', 'upsert_live_room: a bad code');
SELECT throws_ok(format($$SELECT commerce.upsert_live_room(%s, 'R9', 'T', 'live', '2030-06-02 20:00+08', '2030-06-10 21:00+08')$$, :t), '22023', 'invalid value for p_ends_at', 'upsert_live_room: a window over 7 days');
SELECT throws_ok(format($$SELECT commerce.upsert_live_room(%s, 'R9', 'T', 'live', '-infinity', '2030-06-02 21:00+08')$$, :t), '22023', 'invalid value for p_ends_at', 'upsert_live_room: an infinite start');
SELECT throws_ok(format($$SELECT commerce.upsert_live_room(%s, 'R9', 'T', 'nope', '2030-06-02 20:00+08', '2030-06-02 21:00+08')$$, :t), 'PT404', NULL, 'upsert_live_room: an unknown channel');
SELECT throws_ok(format($$SELECT commerce.upsert_live_room(%s, 'R-DONE', 'T', 'live', '2030-06-02 20:00+08', '2030-06-02 21:00+08')$$, :t), 'PT409', 'live room R-DONE is ended', 'upsert_live_room: an ended room is not changed');
SELECT throws_ok(format($$SELECT commerce.upsert_live_room(%s, 'R9', 'T', 'live', '2030-06-02 20:00+08', '2030-06-02 21:00+08', '')$$, :t), '22023', 'invalid value for p_activity', 'upsert_live_room: an empty activity');
SELECT throws_ok(format($$SELECT commerce.set_live_room_items(%s, 'R1', ARRAY[]::text[])$$, :t), '22023', 'invalid value for p_skus', 'set_live_room_items: an empty list');
SELECT throws_ok(format($$SELECT commerce.set_live_room_items(%s, 'R1', ARRAY['P-M', 'P-M'])$$, :t), '22023', 'invalid value for p_skus', 'set_live_room_items: a SKU twice');
SELECT throws_ok(format($$SELECT commerce.set_live_room_items(%s, 'R1', ARRAY['P-M', NULL])$$, :t), '22023', 'invalid value for p_skus', 'set_live_room_items: a null SKU');
SELECT throws_ok(format($$SELECT commerce.set_live_room_items(%s, 'R1', ARRAY['P-OLD'])$$, :t), 'PT404', NULL, 'set_live_room_items: an inactive SKU');
SELECT throws_ok(format($$SELECT commerce.set_live_room_items(%s, 'R1', ARRAY['Q-M'])$$, :t), 'PT404', NULL, 'set_live_room_items: another tenant''s SKU');
SELECT throws_ok(format($$SELECT commerce.set_live_room_items(%s, 'R-DONE', ARRAY['P-M'])$$, :t), 'PT409', 'live room R-DONE ended', 'set_live_room_items: an ended room');
SELECT throws_ok(format($$SELECT commerce.live_room_products(%s, 'R2')$$, :t), 'PT404', NULL, 'live_room_products: another tenant''s room');
SELECT throws_ok(format($$SELECT commerce.subscribe_live_room(%s, 'R1', 'x1')$$, :t), 'PT404', NULL, 'subscribe_live_room: another tenant''s customer');
SELECT throws_ok(format($$SELECT commerce.subscribe_live_room(%s, 'R-DONE', 'c1')$$, :t), 'PT409', 'live room R-DONE is ended', 'subscribe_live_room: an ended room');
SELECT throws_ok(format($$SELECT commerce.start_live_room(%s, 'R-DONE')$$, :t), 'PT409', 'live room R-DONE is over', 'start_live_room: an ended room');
SELECT throws_ok(format($$UPDATE commerce.live_room SET status = 'scheduled', ended_at = NULL WHERE tenant_id = %s AND code = 'R-DONE'$$, :t), NULL, NULL, 'live_room: an ended room never reopens');
SELECT throws_ok(format($$SELECT commerce.send_subscription_message(%s, 'c1', 'live_start', '[]', 'k1')$$, :t), '22023', 'invalid value for p_data', 'send_subscription_message: data not an object');
SELECT throws_ok(format($$SELECT commerce.send_subscription_message(%s, 'c1', 'live_start', '{}', '')$$, :t), '22023', NULL, 'send_subscription_message: an empty key');
SELECT throws_ok(format($$SELECT commerce.send_subscription_message(%s, 'c1', 'live_start', '{}', 'k1')$$, :t), 'PT409', 'customer c1 holds no live_start subscription credit', 'send_subscription_message: no credit, refused before the gateway');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.save_site_page('p', 'P', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}')$$), '^42501: op-s1 is staff of stores', 'store-level operators do not edit the site');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.start_live_room('R1')$$), '^42501', 'a customer cannot start a room');
SELECT matches(pg_temp.call_as('anonymous', 'anon', $$SELECT commerce_api.subscribe_live_room('R1')$$), '^42501', 'an anonymous visitor cannot subscribe');
SELECT matches(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.send_subscription_message('c2', 'live_start', '{}', 'k')$$), '^42501', 'a customer cannot message another');
SELECT is(pg_temp.call_as('customer', 'c1', $$SELECT commerce_api.site_page('secret')$$) ~ '^PT404', true, 'a fan of one tenant never reads another''s page');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;

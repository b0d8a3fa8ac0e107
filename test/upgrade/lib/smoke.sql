-- test/upgrade/lib/smoke.sql: a short flow through every module of the
-- current version, on a tenant of its own ('smoke'), run after an upgrade.
-- Each SELECT returns one boolean column; every value must be t. The runner
-- counts the lines.
\set ON_ERROR_STOP 1
SET commerce.now = '2026-12-01 10:00:00+08';
SELECT commerce.create_tenant('smoke', 'Smoke test shop') > 0 AS tenant_created;
SELECT commerce.upsert_store(commerce.tenant_id('smoke'), 'S1', 'Store one', 'East', 'Hangzhou') > 0 AS store;
SELECT commerce.upsert_product(commerce.tenant_id('smoke'), 'TEE', 'Tee', 'physical') > 0 AS product;
SELECT commerce.upsert_sku(commerce.tenant_id('smoke'), 'TEE', 'TEE-M', 'Tee M', 9900, 5900, 3000, 200, 100) > 0 AS sku;
SELECT commerce.upsert_product(commerce.tenant_id('smoke'), 'YOGA', 'Yoga course', 'virtual', 'course') > 0 AS course;
SELECT commerce.upsert_sku(commerce.tenant_id('smoke'), 'YOGA', 'YOGA-10', '10 yoga lessons', 99900, p_floor_fen => 40000) > 0 AS course_sku;
SELECT commerce.receive_stock(commerce.tenant_id('smoke'), 'smoke-in', 'TEE-M', 20) > 0 AS received;
SELECT commerce.receive_stock(commerce.tenant_id('smoke'), 'smoke-in-yoga', 'YOGA-10', 20) > 0 AS received_yoga;
SELECT (commerce.resolve_price(commerce.tenant_id('smoke'), 'TEE-M', 'wechat_mp', NULL, commerce.now())).price_fen = 9900 AS price;
-- a reservation that is confirmed
SELECT (commerce.confirm_reservation(commerce.tenant_id('smoke'), r.reservation_id, 'smoke-pay-r')).status = 'confirmed' AS reserved_and_sold
  FROM commerce.reserve_sku(commerce.tenant_id('smoke'), 'smoke-r1', 'smoke-holder', 'TEE-M', 2) r;
-- a KOC, a link, a click, an attributed order, redeemed, commission, T+0.5 settlement
SELECT commerce.upsert_customer(commerce.tenant_id('smoke'), 'smoke-koc', 'K') > 0 AS koc_customer;
SELECT commerce.upsert_customer(commerce.tenant_id('smoke'), 'smoke-fan', 'F') > 0 AS fan_customer;
SELECT (commerce.review_koc_application(commerce.tenant_id('smoke'), a.application_id, true, 'op', NULL, 'SMOKE-KOC')).status = 'approved' AS koc_approved
  FROM commerce.apply_koc(commerce.tenant_id('smoke'), 'smoke-apply', 'smoke-koc', '[{"platform":"wechat","handle":"k","followers":10}]') a;
SELECT commerce.publish_agreement(commerce.tenant_id('smoke'), 'v1', 'terms') AS v \gset
SELECT (commerce.sign_agreement(commerce.tenant_id('smoke'), 'SMOKE-KOC', :v,
        encode(sha256(convert_to('terms', 'UTF8')), 'hex'), 'K', '10.0.0.1')).version = :v AS signed;
SELECT commerce.upsert_koc_task(commerce.tenant_id('smoke'), 'SMOKE-TASK', 'Push', commerce.now() - interval '1 day',
                                commerce.now() + interval '30 days', 1000) > 0 AS task;
SELECT commerce.tracking_link(commerce.tenant_id('smoke'), 'SMOKE-KOC', 'SMOKE-TASK', 'wechat_mp') AS code \gset
SELECT (commerce.record_click(commerce.tenant_id('smoke'), :'code', 'smoke-fan', '10.0.0.2', 'UA')).counted AS clicked;
SELECT order_id AS o, payable_fen AS fen FROM commerce.place_order(commerce.tenant_id('smoke'), 'smoke-o1', 'wechat_mp',
       '{"lines":[{"sku":"TEE-M","qty":1}]}', 'smoke-fan') \gset
SELECT (commerce.pay_order(commerce.tenant_id('smoke'), :o, 'smoke-pay-1', :fen)).status = 'paid' AS paid;
SELECT koc_id IS NOT NULL AS attributed FROM commerce.orders WHERE tenant_id = commerce.tenant_id('smoke') AND order_id = :o;
SELECT commerce.ship_order(commerce.tenant_id('smoke'), :o, 'smoke-ship', 'ZT1') IS NOT NULL AS shipped;
SELECT (commerce.complete_order(commerce.tenant_id('smoke'), :o)).status = 'completed' AS completed;
SELECT amount_fen = 990 AS commission_10_percent FROM commerce.commission_line WHERE tenant_id = commerce.tenant_id('smoke');
SET commerce.now = '2026-12-02 10:00:00+08';
SELECT commerce.settle_commissions(100) >= 1 AS settled;
SELECT count(*) = 1 AS one_batch FROM commerce.settle_batch WHERE tenant_id = commerce.tenant_id('smoke');
-- a play: a group-buy template, a store config, a group of two that fills
SET commerce.now = '2026-12-01 10:00:00+08';
SELECT code = 'SMOKE_GROUP' AS template FROM commerce.upsert_play_template(commerce.tenant_id('smoke'), 'SMOKE_GROUP', 'group_buy',
       'Together', 'lessons', '{"type":"object","required":["target_size"],"properties":{"target_size":{"type":"integer","minimum":2,"maximum":6}}}');
SELECT code = 'YOGA2' AS configured FROM commerce.configure_play(commerce.tenant_id('smoke'), 'smoke-cfg', 'YOGA2', 'SMOKE_GROUP', 'S1',
       'YOGA-10', 'Yoga for two', 59900, 10, '2026-11-30 00:00+08', '2026-12-31 00:00+08', '{"target_size":2}',
       p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT count(commerce.upsert_customer(commerce.tenant_id('smoke'), c)) = 2 AS members FROM unnest(ARRAY['ya', 'yb']) c;
SELECT outcome IS NOT NULL AS group_opened FROM commerce.join_group(commerce.tenant_id('smoke'), 'smoke-j1', 'YOGA2', 'ya', 'smoke-wx-1');
SELECT status = 'success' AS group_filled FROM commerce.join_group(commerce.tenant_id('smoke'), 'smoke-j2', 'YOGA2', 'yb', 'smoke-wx-2',
       (SELECT max(instance_id) FROM commerce.play_instance WHERE tenant_id = commerce.tenant_id('smoke')));
SELECT count(*) = 2 AS assets_issued FROM commerce.user_asset WHERE tenant_id = commerce.tenant_id('smoke');
-- the outbox carries the effects
SELECT count(*) > 0 AS outbox_has_messages FROM commerce.outbox WHERE tenant_id = commerce.tenant_id('smoke');
RESET commerce.now;

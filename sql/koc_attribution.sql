-- KOC tracking and attribution (K12): signed tracking codes (a forged or
-- altered code is refused), clicks deduplicated per visitor, and orders
-- attributed to the last click within the window (edges exact), the
-- self-referral rule, frozen KOCs, and the attribution frozen on the order.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-01 10:00:00+08';
SELECT commerce.create_tenant('brand', 'A brand') AS t \gset
SELECT commerce.create_tenant('other', 'Another brand') AS o \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 9900) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100) > 0 AS received;
SELECT commerce.upsert_customer(:t, code) > 0 AS customer FROM unnest(ARRAY['u-koc-1', 'u-koc-2', 'u-buyer', 'u-late']) code;
SELECT commerce.upsert_koc(:t, 'K1', 'u-koc-1', 'Xiao Li', 'Hangzhou') AS k1 \gset
SELECT commerce.upsert_koc(:t, 'K2', 'u-koc-2', 'Xiao Wang', 'Chengdu') > 0 AS k2;
SELECT code, rank, bonus_bp FROM commerce.koc_level WHERE tenant_id = :t ORDER BY rank;
SELECT code, level_code, status FROM commerce.koc WHERE tenant_id = :t ORDER BY koc_id;
SELECT commerce.upsert_koc_task(:t, 'T11', 'Double 11 hoodie push', '2026-11-01 00:00+08', '2026-11-12 00:00+08', 500) > 0 AS task;

-- a signed code: tenant, KOC, task, channel in base 36, then the signature
-- (the secret is random per tenant; this test fixes it so the codes are stable)
INSERT INTO commerce.tenant_secret (tenant_id, link_secret) VALUES (:t, decode(repeat('5a', 32), 'hex'));
SELECT commerce.tracking_link(:t, 'K1', 'T11', 'wechat_mp') AS k1_code \gset
SELECT commerce.tracking_link(:t, 'K2') AS k2_code \gset
SELECT :'k1_code' ~ '^[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+\.[a-z2-9]{13}$' AS well_formed,
       :'k1_code' = commerce.tracking_link(:t, 'K1', 'T11', 'wechat_mp') AS stable;
-- clicks: a repeat within 10 minutes counts once
SELECT counted, koc_id = :k1 AS k1, task_id IS NOT NULL AS task FROM commerce.record_click(:t, :'k1_code', 'u-buyer', '10.1.2.3', 'WeChat/8.0');
SELECT counted FROM commerce.record_click(:t, :'k1_code', 'u-buyer');
SET commerce.now = '2026-11-01 10:11:00+08';
SELECT counted FROM commerce.record_click(:t, :'k1_code', 'u-buyer');
-- forged and altered codes are refused
SELECT * FROM commerce.record_click(:t, regexp_replace(:'k1_code', '^([0-9a-z]+)\.([0-9a-z]+)', '\1.zz'), 'u-buyer');
SELECT * FROM commerce.record_click(:t, left(:'k1_code', -1) || CASE right(:'k1_code', 1) WHEN 'a' THEN 'b' ELSE 'a' END, 'u-buyer');
SELECT * FROM commerce.record_click(:o, :'k1_code', 'u-buyer');
SELECT * FROM commerce.record_click(:t, 'not-a-code', 'u-buyer');
SELECT count(*) AS clicks FROM commerce.click;

-- the order is attributed to the last click within the window
SET commerce.now = '2026-11-03 09:00:00+08';
SELECT counted FROM commerce.record_click(:t, :'k2_code', 'u-late');
SELECT counted FROM commerce.record_click(:t, :'k1_code', 'u-late');
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}', 'u-buyer') \gset
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'u-late') \gset
SELECT o.external_order_id, k.code AS koc, t.code AS task, o.attributed_at
  FROM commerce.orders o LEFT JOIN commerce.koc k USING (tenant_id, koc_id)
  LEFT JOIN commerce.koc_task t ON t.tenant_id = o.tenant_id AND t.task_id = o.koc_task_id
 WHERE o.order_id IN (:o1, :o2) ORDER BY o.order_id;
-- window edges: 7 days after the last click is too late, a second before is not
SELECT (commerce.attribution_for(:t, 'u-buyer', '2026-11-08 10:10:59.999999+08')).koc_id = :k1 AS just_inside,
       commerce.attribution_for(:t, 'u-buyer', '2026-11-08 10:11:00+08') IS NULL AS at_the_edge;
SET commerce.now = '2026-11-08 10:11:00+08';
SELECT order_id AS o3 FROM commerce.place_order(:t, 'o3', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'u-buyer') \gset
SELECT koc_id IS NULL AS not_attributed FROM commerce.orders WHERE order_id = :o3;

-- self-referral: a KOC buying through their own link is not attributed unless allowed
SELECT counted FROM commerce.record_click(:t, :'k1_code', 'u-koc-1');
SELECT order_id AS o4 FROM commerce.place_order(:t, 'o4', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'u-koc-1') \gset
SELECT koc_id IS NULL AS self_referral_denied FROM commerce.orders WHERE order_id = :o4;
UPDATE commerce.tenant SET self_referral = 'allow' WHERE tenant_id = :t;
SELECT order_id AS o5 FROM commerce.place_order(:t, 'o5', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}', 'u-koc-1') \gset
SELECT koc_id = :k1 AS self_referral_allowed FROM commerce.orders WHERE order_id = :o5;

-- a frozen KOC neither shares links nor gets orders attributed
UPDATE commerce.koc SET status = 'frozen' WHERE tenant_id = :t AND code = 'K1';
SELECT commerce.tracking_link(:t, 'K1');
SELECT commerce.attribution_for(:t, 'u-koc-1') IS NULL AS frozen_not_attributed;

-- the attribution of an order never changes
UPDATE commerce.orders SET koc_id = NULL WHERE order_id = :o1;
UPDATE commerce.orders SET koc_task_id = NULL WHERE order_id = :o1;
-- unknown KOC, task, channel
SELECT commerce.tracking_link(:t, 'K9');
SELECT commerce.tracking_link(:t, 'K2', 'T99');
SELECT commerce.tracking_link(:t, 'K2', NULL, 'kuaishou');

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

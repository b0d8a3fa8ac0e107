-- catalog: tenants and their default channels and warehouse, stores,
-- products (physical and virtual), SKUs, and prices: channel, member and
-- flash prices resolved for a channel, tier and moment, with the floor
-- guard refusing any price below the floor when it is set.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 12:00:00+08';

SELECT commerce.create_tenant('up', 'A creator''s shop') AS t \gset
SELECT commerce.create_tenant('up', 'A creator''s shop, renamed') = :t AS same_tenant;
SELECT commerce.tenant_id('up') = :t AS lookup;
SELECT code, name, kind FROM commerce.channel WHERE tenant_id = :t ORDER BY channel_id;
SELECT code FROM commerce.warehouse WHERE tenant_id = :t;
-- a channel is a row, not code
SELECT commerce.upsert_channel(:t, 'bilibili', 'Bilibili shop', 'platform') > 0 AS new_channel;
SELECT commerce.upsert_store(:t, 'SH-01', 'Shanghai flagship', 'East', 'Shanghai') > 0 AS store;
SELECT commerce.upsert_warehouse(:t, 'gz', 'Guangzhou', 'South') > 0 AS warehouse;
SELECT commerce.upsert_member_tier(:t, 'monthly', 'Monthly card', 1);
SELECT commerce.upsert_member_tier(:t, 'annual', 'Annual card', 2);

-- products: physical goods and the four kinds of virtual goods
SELECT commerce.upsert_product(:t, 'MERCH', 'Hoodie', 'physical', NULL, 'Up', 'apparel') > 0;
SELECT commerce.upsert_product(:t, 'COURSE', 'Video course', 'virtual', 'course') > 0;
SELECT commerce.upsert_product(:t, 'CODE', 'Activation code', 'virtual', 'activation_code') > 0;
SELECT commerce.upsert_product(:t, 'CARD', 'Membership card', 'virtual', 'membership_card') > 0;
SELECT commerce.upsert_product(:t, 'TICKET', 'Live-room ticket', 'virtual', 'live_ticket') > 0;
SELECT commerce.upsert_product(:t, 'BAD', 'Virtual without kind', 'virtual');
SELECT code, kind, virtual_kind FROM commerce.product WHERE tenant_id = :t ORDER BY product_id;

-- SKUs carry MSRP (the unified price), cost, floor, weight and volume
SELECT commerce.upsert_sku(:t, 'MERCH', 'HOODIE-L', 'Hoodie L', p_msrp_fen => 10000,
       p_floor_fen => 8000, p_cost_fen => 4500, p_weight_g => 650, p_volume_cm3 => 3000,
       p_spec => '{"color":"black","size":"L"}') > 0 AS sku;
SELECT commerce.upsert_sku(:t, 'MERCH', 'HOODIE-XL', 'Hoodie XL', 7000, 8000);
SELECT code, msrp_fen, cost_fen, floor_fen, weight_g, volume_cm3, spec FROM commerce.sku WHERE tenant_id = :t;

-- prices (H3.1.2): 100 yuan in the mini-program, 110 on Taobao,
-- 105 on Xiaohongshu; members and a time-boxed flash sale pay less
SELECT commerce.set_price(:t, 'HOODIE-L', 'channel', 11000, 'taobao') > 0;
SELECT commerce.set_price(:t, 'HOODIE-L', 'channel', 10500, 'xiaohongshu') > 0;
SELECT commerce.set_price(:t, 'HOODIE-L', 'member', 9500, p_member_tier => 'monthly') > 0;
SELECT commerce.set_price(:t, 'HOODIE-L', 'member', 9000, p_member_tier => 'annual') > 0;
SELECT commerce.set_price(:t, 'HOODIE-L', 'member', 9900, 'taobao', 'annual') > 0;
SELECT commerce.set_price(:t, 'HOODIE-L', 'flash', 8800, 'wechat_mp', NULL,
       '2026-11-11 20:00+08', '2026-11-11 22:00+08') > 0;
-- setting the same price key again updates it
SELECT commerce.set_price(:t, 'HOODIE-L', 'channel', 10800, 'taobao') =
       commerce.set_price(:t, 'HOODIE-L', 'channel', 10800, 'taobao') AS same_row;

SELECT c.channel, tier, at, (p).price_fen, (p).source
  FROM (VALUES ('wechat_mp'), ('taobao'), ('xiaohongshu')) c(channel),
       (VALUES (NULL), ('monthly'), ('annual')) m(tier),
       (VALUES ('2026-11-11 12:00+08'::timestamptz), ('2026-11-11 21:00+08')) w(at),
       LATERAL (SELECT commerce.resolve_price(:t, 'HOODIE-L', c.channel, m.tier, w.at) AS p) r
 ORDER BY 1, 2 NULLS FIRST, 3;
-- the clock decides when no moment is given
SELECT price_fen, source FROM commerce.resolve_price(:t, 'HOODIE-L', 'wechat_mp');
SET commerce.now = '2026-11-11 21:30:00+08';
SELECT price_fen, source FROM commerce.resolve_price(:t, 'HOODIE-L', 'wechat_mp');

-- the floor guard: a price below the floor is refused when it is set
SELECT commerce.set_price(:t, 'HOODIE-L', 'flash', 7999, NULL, NULL, '2026-12-12 00:00+08', '2026-12-13 00:00+08');
UPDATE commerce.price SET price_fen = 100 WHERE tenant_id = :t AND kind = 'channel';
-- ... and the floor cannot be raised above a price that is still valid
SELECT commerce.upsert_sku(:t, 'MERCH', 'HOODIE-L', 'Hoodie L', 10000, 9000);
-- once the flash sale is over its price no longer binds the floor
SET commerce.now = '2026-11-12 00:00:00+08';
SELECT commerce.upsert_sku(:t, 'MERCH', 'HOODIE-L', 'Hoodie L', 10000, 8900) > 0 AS floor_raised;
SELECT floor_fen FROM commerce.sku WHERE tenant_id = :t AND code = 'HOODIE-L';

-- tenants see only their own catalog
SELECT commerce.create_tenant('other', 'Another brand') AS o \gset
SELECT * FROM commerce.resolve_price(:o, 'HOODIE-L', 'taobao');
SELECT * FROM commerce.resolve_price(:t, 'HOODIE-L', 'kuaishou');
SELECT * FROM commerce.resolve_price(:t, 'HOODIE-L', 'taobao', 'diamond');
SELECT commerce.tenant_id('nobody');

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- fulfilment: logistics routing rules evaluated in C, shipping paid orders
-- (shipment, waybill print job, platform write-back), merge and split
-- suggestions (H3.2.2, H3.3).
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 20:00:00+08';
SELECT commerce.create_tenant('ship', 'Shipping test') AS t \gset
SELECT commerce.upsert_warehouse(:t, 'gz', 'Guangzhou') > 0 AS warehouse;
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 9900, p_weight_g => 300) > 0 AS tee;
SELECT commerce.upsert_sku(:t, 'P', 'RICE', 'Rice 10 kg', 9900, p_weight_g => 10000) > 0 AS rice;
SELECT commerce.upsert_sku(:t, 'P', 'PRE', 'Presale figure', 9900, p_weight_g => 500) > 0 AS presale;
UPDATE commerce.sku SET presale = true WHERE tenant_id = :t AND code = 'PRE';
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100, 'main') > 0,
       commerce.receive_stock(:t, 'r2', 'RICE', 10, 'gz') > 0,
       commerce.receive_stock(:t, 'r3', 'PRE', 10, 'main') > 0;

-- routing: heavy first, then remote areas, then regions, then the default
SELECT region, weight_g, commerce.route_carrier(:t, region, weight_g) AS carrier
  FROM (VALUES ('浙江省', 500), ('广东省', 500), ('新疆维吾尔自治区', 500), ('北京市', 500),
               ('浙江省', 25000), ('新疆维吾尔自治区', 25000)) v(region, weight_g);
-- a tenant's own rules replace the defaults
INSERT INTO commerce.routing_rule (tenant_id, priority, carrier) VALUES (:t, 1, 'jd');
SELECT commerce.route_carrier(:t, '浙江省', 500) AS own_rule;
DELETE FROM commerce.routing_rule WHERE tenant_id = :t;
SELECT commerce.route_carrier(:t, '北京市', -1);

-- three paid orders to one phone and address within two hours
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":2}],
  "receiver":{"name":"张三","phone":"13800001234","region":"浙江省","city":"杭州市","address":"文三路1号"}}') \gset
SELECT status FROM commerce.pay_order(:t, :o1, 'p1', 19800);
SET commerce.now = '2026-11-11 21:00:00+08';
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'h5', '{"lines":[{"sku":"TEE","qty":1}],
  "receiver":{"name":"张三","phone":"13800001234","region":"浙江省","city":"杭州市","address":"文三路1号"}}') \gset
SELECT order_id AS o3 FROM commerce.place_order(:t, 'o3', 'h5', '{"lines":[{"sku":"RICE","qty":1,"warehouse":"gz"}],
  "receiver":{"name":"张三","phone":"13800001234","region":"浙江省","city":"杭州市","address":"文三路1号"}}') \gset
SELECT order_id AS o4 FROM commerce.place_order(:t, 'o4', 'h5', '{"lines":[{"sku":"TEE","qty":1},{"sku":"PRE","qty":1},{"sku":"RICE","qty":3,"warehouse":"gz"}],
  "receiver":{"name":"李四","phone":"13900005678","region":"广东省","city":"广州市","address":"天河路1号"}}') \gset
SELECT status FROM commerce.pay_order(:t, :o2, 'p2', 9900)
UNION ALL SELECT status FROM commerce.pay_order(:t, :o3, 'p3', 9900)
UNION ALL SELECT status FROM commerce.pay_order(:t, :o4, 'p4', 49500);
-- merge: o1 + o2 (900 g); adding the 10 kg bag of rice would make the parcel too heavy
SELECT receiver_phone, order_ids = ARRAY[:o1, :o2]::bigint[] AS o1_and_o2, weight_g FROM commerce.merge_suggestions(:t);
-- split: two warehouses, presale with in-stock goods, 30.8 kg
SELECT * FROM commerce.split_suggestions(:t, :o4);
SELECT count(*) AS no_reason_to_split FROM commerce.split_suggestions(:t, :o1);

-- ship: routed carrier, scanned tracking number, waybill job; idempotent
SELECT order_id = :o1 AS o1, carrier, tracking_no, weight_g FROM commerce.ship_order(:t, :o1, 'ship-1', 'ZT123456789');
SELECT shipment_id = (SELECT shipment_id FROM commerce.shipment WHERE request_id = 'ship-1') AS same
  FROM commerce.ship_order(:t, :o1, 'ship-1', 'ZT123456789');
SELECT carrier, weight_g FROM commerce.ship_order(:t, :o4, 'ship-4', 'DB0001');
SELECT status FROM commerce.orders WHERE order_id IN (:o1, :o4) ORDER BY order_id;
SELECT * FROM commerce.ship_order(:t, :o1, 'ship-1b');
SELECT * FROM commerce.ship_order(:t, :o2, 'ship-1');
-- a platform order ships with a write-back of its tracking number
\set taobao `cat test/fixtures/platform/taobao.json`
SELECT order_id AS tb FROM commerce.ingest_platform_order(:t, 'taobao',
  jsonb_set(:'taobao', '{orders,order,0,outer_sku_id}', '"TEE"')) \gset
SELECT carrier FROM commerce.ship_order(:t, :tb, 'ship-tb', 'ZT999');
SELECT topic, payload - 'receiver' - 'shipment_id' - 'order_id' AS payload FROM commerce.outbox
 WHERE tenant_id = :t ORDER BY message_id;
-- an unpaid order does not ship
SELECT order_id AS o5 FROM commerce.place_order(:t, 'o5', 'h5', '{"lines":[{"sku":"TEE","qty":1}]}') \gset
SELECT * FROM commerce.ship_order(:t, :o5, 'ship-5');

-- custom e-waybill templates (H3.3.1): the most specific for the channel and carrier goes into the print job
SELECT commerce.set_waybill_template(:t, NULL, NULL, 'https://cdn.example.com/logo.png', 'Thank you for shopping with us') ->> 'message' AS all_waybills;
SELECT commerce.set_waybill_template(:t, 'h5', 'sf', 'https://cdn.example.com/logo-h5.png', 'H5 and SF',
                                     p_sender_name => '品牌仓', p_sender_phone => '0571-88880000') ->> 'carrier' AS h5_sf;
SELECT commerce.set_waybill_template(:t, NULL, NULL, 'https://cdn.example.com/logo2.png', 'Thank you, again') ->> 'logo_url' AS replaced;
SELECT channel, carrier, logo_url, message, sender_name, sender_phone FROM jsonb_to_recordset(commerce.waybill_templates(:t))
    AS x(channel text, carrier text, logo_url text, message text, sender_name text, sender_phone text);
SELECT carrier FROM commerce.ship_order(:t, :o2, 'ship-2', 'ZT2', 'zto');
SELECT carrier FROM commerce.ship_order(:t, :o3, 'ship-3', 'SF3', 'sf');
SELECT payload ->> 'carrier' AS carrier, (payload -> 'template') - 'template_id' AS template FROM commerce.outbox
 WHERE tenant_id = :t AND topic = 'waybill.print' AND (payload ->> 'order_id')::bigint IN (:o1, :o2, :o3) ORDER BY message_id;
-- bad input changes nothing
SELECT commerce.set_waybill_template(:t, 'h5', 'SF!', 'https://cdn.example.com/a.png');
SELECT commerce.set_waybill_template(:t, 'h5', 'sf', 'http://cdn.example.com/a.png');
SELECT commerce.set_waybill_template(:t, 'h5', 'sf', NULL);
SELECT commerce.set_waybill_template(:t, 'h5', 'sf', NULL, repeat('x', 201));
SELECT commerce.set_waybill_template(:t, 'h5', 'sf', NULL, p_sender_phone => 'call me');
SELECT commerce.set_waybill_template(:t, 'nowhere', 'sf', 'https://cdn.example.com/a.png');
SELECT jsonb_array_length(commerce.waybill_templates(:t)) AS still_two;
-- removed: the next parcel falls back to the template for all
SELECT commerce.remove_waybill_template(:t, 'h5', 'sf') AS removed, commerce.remove_waybill_template(:t, 'h5', 'sf') AS again;
SELECT commerce._waybill_template(:t, (SELECT channel_id FROM commerce.channel WHERE tenant_id = :t AND code = 'h5'), 'sf') ->> 'message' AS fallback;
SELECT commerce.remove_waybill_template(:t, NULL, NULL) AS removed_all;
SELECT commerce._waybill_template(:t, NULL, 'sf') IS NULL AS standard_waybill;

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- freight templates (H3.1.1): what the buyer pays for delivery, by weight or
-- by pieces, per region group, free from an amount on, regions not delivered
-- to; several templates in one order combined; quotes equal what the order
-- is charged; an order that names its shipping keeps it.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 20:00:00+08';
SELECT commerce.create_tenant('freight', 'Freight test') AS t \gset
SELECT commerce.upsert_product(:t, 'TEES', 'T-shirts') > 0 AS tees,
       commerce.upsert_product(:t, 'RICE', 'Rice') > 0 AS rice,
       commerce.upsert_product(:t, 'MUGS', 'Mugs') > 0 AS mugs,
       commerce.upsert_product(:t, 'COURSE', 'Course', 'virtual', 'course') > 0 AS course;
SELECT commerce.upsert_sku(:t, 'TEES', 'TEE', 'T-shirt', 9900, p_weight_g => 300) > 0,
       commerce.upsert_sku(:t, 'RICE', 'RICE5', 'Rice 5 kg', 5900, p_weight_g => 5000) > 0,
       commerce.upsert_sku(:t, 'MUGS', 'MUG', 'Mug', 3900, p_weight_g => 400) > 0,
       commerce.upsert_sku(:t, 'COURSE', 'LESSON', 'Lesson', 19900) > 0;
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100, 'main') > 0, commerce.receive_stock(:t, 'r2', 'RICE5', 100, 'main') > 0,
       commerce.receive_stock(:t, 'r3', 'MUG', 100, 'main') > 0, commerce.receive_stock(:t, 'r4', 'LESSON', 100, 'main') > 0;

-- without templates an order's shipping is what it names (0 when it names none)
SELECT payable_fen FROM commerce.place_order(:t, 'o0', 'h5', '{"lines":[{"sku":"TEE","qty":1}],"receiver":{"region":"浙江省"}}');

-- by weight: 1 kg first, then each kg or part of one; Xinjiang dearer, Tibet not delivered to; free from 199 yuan
SELECT commerce.set_freight_template(:t, 'KG', 'By weight', 'weight', '[
   {"regions":["浙江省","江苏省","上海市"], "first":1000, "first_fen":600, "step":1000, "step_fen":200},
   {"regions":["新疆维吾尔自治区"], "first":1000, "first_fen":2000, "step":1000, "step_fen":1500},
   {"regions":["西藏自治区"], "ships":false},
   {"first":1000, "first_fen":1000, "step":1000, "step_fen":500}]', 19900) > 0 AS kg;
-- by pieces: 8 yuan for the first, 2 per further piece
SELECT commerce.set_freight_template(:t, 'PC', 'By piece', 'piece', '[{"first":1, "first_fen":800, "step":1, "step_fen":200}]') > 0 AS pc;
SELECT commerce.set_product_freight(:t, 'TEES', 'KG'), commerce.set_product_freight(:t, 'RICE', 'KG'),
       commerce.set_product_freight(:t, 'MUGS', 'PC'), commerce.set_product_freight(:t, 'COURSE', 'PC');
SELECT code, basis, free_over_fen, jsonb_array_length(rates) AS rates, products
  FROM jsonb_to_recordset(commerce.freight_templates(:t)) AS x(code text, basis text, free_over_fen bigint, rates jsonb, products jsonb);

-- quotes: one T-shirt (300 g) to Zhejiang: 6 yuan; 5 kg of rice: 6 + 4 x 2; to Xinjiang: 20 + 4 x 15; elsewhere 10 + 4 x 5
SELECT region, q ->> 'goods_fen' AS goods, q ->> 'shipping_fen' AS shipping
  FROM (VALUES ('浙江省', '[{"sku":"TEE","qty":1}]'), ('浙江省', '[{"sku":"RICE5","qty":1}]'),
               ('新疆维吾尔自治区', '[{"sku":"RICE5","qty":1}]'), ('北京市', '[{"sku":"RICE5","qty":1}]'),
               (NULL, '[{"sku":"RICE5","qty":1}]')) v(region, lines),
       LATERAL commerce.freight_quote(:t, 'h5', v.lines::jsonb, v.region) q;
-- free from 199 yuan of the template's goods: 2 T-shirts (198 yuan) pay, 3 do not
SELECT commerce.freight_quote(:t, 'h5', '[{"sku":"TEE","qty":2}]', '北京市') ->> 'shipping_fen' AS two_tees,
       commerce.freight_quote(:t, 'h5', '[{"sku":"TEE","qty":3}]', '北京市') ->> 'shipping_fen' AS three_tees;
-- two templates: the highest first fee (KG, 10 yuan to Beijing) charges its first kg, the mugs only steps (3 x 2 yuan);
-- the virtual course ships nothing
SELECT jsonb_pretty(commerce.freight_quote(:t, 'h5', '[{"sku":"RICE5","qty":1},{"sku":"MUG","qty":3},{"sku":"LESSON","qty":1}]', '北京市'));
-- the order is charged what the quote said
SELECT payable_fen, payable_fen - 5900 - 3 * 3900 - 19900 AS shipping
  FROM commerce.place_order(:t, 'o1', 'h5', '{"lines":[{"sku":"RICE5","qty":1},{"sku":"MUG","qty":3},{"sku":"LESSON","qty":1}],
       "receiver":{"name":"王五","phone":"13700001111","region":"北京市","city":"北京市","address":"长安街1号"}}');
SELECT goods_fen, shipping_fen, payable_fen FROM commerce.orders WHERE tenant_id = :t AND request_id = 'o1';
-- an order that names its shipping (a back office, a points redemption) keeps it
SELECT payable_fen FROM commerce.place_order(:t, 'o2', 'h5', '{"lines":[{"sku":"RICE5","qty":1}],"shipping_fen":0,"receiver":{"region":"北京市"}}');
-- Tibet is not delivered to by KG: refused, nothing held
SELECT commerce.freight_quote(:t, 'h5', '[{"sku":"RICE5","qty":1},{"sku":"MUG","qty":1}]', '西藏自治区') -> 'not_delivered' AS not_delivered;
SELECT * FROM commerce.place_order(:t, 'o3', 'h5', '{"lines":[{"sku":"RICE5","qty":1}],"receiver":{"region":"西藏自治区"}}');
SELECT count(*) AS orders, (SELECT count(*) FROM commerce.reservation WHERE tenant_id = :t) AS reservations
  FROM commerce.orders WHERE tenant_id = :t;
-- through the API: a visitor's quote, a customer's order charged the same
SELECT count(*) > 0 AS api FROM commerce.grant_api();
SELECT commerce.upsert_customer(:t, 'c1', 'Fan') > 0 AS customer;
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_anonymous', 'tenant_id', :t::text)::text, false) IS NOT NULL AS visitor;
SET ROLE commerce_anonymous;
SELECT commerce_api.freight_quote('h5', '[{"sku":"RICE5","qty":2}]', '浙江省') ->> 'shipping_fen' AS visitor_quote;
RESET ROLE;
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_customer', 'sub', 'c1', 'tenant_id', :t::text)::text, false) IS NOT NULL AS fan;
SET ROLE commerce_customer;
SELECT payable_fen - 2 * 5900 AS shipping FROM commerce_api.place_order('o4', 'h5', '[{"sku":"RICE5","qty":2}]', '{"region":"浙江省"}');
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS done;
-- a template saved again replaces its rates; placed orders keep their shipping
SELECT commerce.set_freight_template(:t, 'PC', 'By piece', 'piece', '[{"first":1, "first_fen":1000, "step":2, "step_fen":100}]') > 0 AS pc_again;
SELECT commerce.freight_quote(:t, 'h5', '[{"sku":"MUG","qty":4}]', '北京市') ->> 'shipping_fen' AS four_mugs;
SELECT shipping_fen FROM commerce.orders WHERE tenant_id = :t AND request_id = 'o1';
-- a product without a template adds nothing
SELECT commerce.set_product_freight(:t, 'MUGS', NULL) AS unset, commerce.set_product_freight(:t, 'MUGS', NULL) AS again;
SELECT commerce.freight_quote(:t, 'h5', '[{"sku":"MUG","qty":4}]', '北京市') ->> 'shipping_fen' AS mugs_free;

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

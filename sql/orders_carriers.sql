-- choosing the carrier by cost, speed and history (H3.3.2): rate cards per
-- carrier, weights for cost, speed and quality, deliveries reported by the
-- carriers, the choice ship_order makes; without weights the routing rules
-- alone choose.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-01 10:00:00+08';
SELECT commerce.create_tenant('carriers', 'Carrier test') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 9900, p_weight_g => 500) > 0 AS tee;
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 100, 'main') > 0 AS received;
-- eight paid orders to Zhejiang
SELECT count(*) AS paid FROM generate_series(1, 8) i,
       LATERAL commerce.place_order(:t, 'o' || i, 'h5', '{"lines":[{"sku":"TEE","qty":1}],"receiver":{"region":"浙江省"}}') o,
       LATERAL commerce.pay_order(:t, o.order_id, 'p' || i, 9900) p;

-- rate cards: ZTO anywhere, 3 days; SF dearer and next day; YTO cheapest in Zhejiang up to 20 kg
SELECT commerce.set_carrier_rates(:t, 'zto', '[{"first":1000,"first_fen":500,"step":1000,"step_fen":200,"days":3}]') AS zto,
       commerce.set_carrier_rates(:t, 'sf', '[{"first":1000,"first_fen":1200,"step":1000,"step_fen":400,"days":1}]') AS sf,
       commerce.set_carrier_rates(:t, 'yto', '[{"regions":["浙江省","江苏省"],"max_weight_g":20000,"first":1000,"first_fen":450,"step":1000,"step_fen":150,"days":3}]') AS yto;
-- without weights the rules choose (ZTO for Zhejiang); the options are ranked by cost
SELECT o ->> 'rule' AS rule, o ->> 'weighed' AS weighed, o ->> 'choice' AS choice,
       (SELECT string_agg(x ->> 'carrier', ' > ') FROM jsonb_array_elements(o -> 'options') x) AS ranked
  FROM commerce.carrier_options(:t, '浙江省', 500) o;
SELECT commerce.choose_carrier(:t, '浙江省', 500) AS ship_order_uses;
-- half on cost, a fifth on speed, three tenths on delivering on time; history from 3 parcels on
SELECT commerce.set_carrier_choice(:t, 5000, 2000, 3000, 90, 3);
SELECT commerce.choose_carrier(:t, '浙江省', 500) AS weighed_choice;
SELECT x.* FROM jsonb_to_recordset(commerce.carrier_options(:t, '浙江省', 500) -> 'options')
    AS x(carrier text, fee_fen numeric, promised_days int, days numeric, days_observed boolean, parcels int, on_time_share numeric, score numeric);
-- 25 kg: YTO's card stops at 20 kg; SF's steps make it dear
SELECT x.carrier, x.fee_fen, x.score FROM jsonb_to_recordset(commerce.carrier_options(:t, '浙江省', 25000) -> 'options')
    AS x(carrier text, fee_fen numeric, score numeric);
-- to a region no card names only the cards for anywhere count
SELECT commerce.carrier_options(:t, '广东省', 500) ->> 'choice' AS guangdong;

-- history: three parcels each with YTO and ZTO; YTO loses one and is late with two, ZTO delivers in 2 days
SELECT string_agg(s.carrier, ' ' ORDER BY s.shipment_id) AS shipped
  FROM generate_series(1, 6) i,
       LATERAL commerce.ship_order(:t, (SELECT order_id FROM commerce.orders WHERE tenant_id = :t AND request_id = 'o' || i),
                                   's' || i, 'T' || i, CASE WHEN i <= 3 THEN 'yto' ELSE 'zto' END) s;
SET commerce.now = '2026-11-07 10:00:00+08';
SELECT s.carrier, commerce.record_delivery(:t, s.shipment_id, x.outcome, x.at::timestamptz) AS report
  FROM (VALUES ('s1', 'lost', '2026-11-06 10:00+08'), ('s2', 'delivered', '2026-11-06 10:00+08'), ('s3', 'delivered', '2026-11-06 12:00+08'),
               ('s4', 'delivered', '2026-11-03 10:00+08'), ('s5', 'delivered', '2026-11-03 10:00+08'), ('s6', 'delivered', '2026-11-03 16:00+08'))
       x(request, outcome, at)
  JOIN commerce.shipment s ON s.tenant_id = :t AND s.request_id = x.request ORDER BY s.shipment_id;
SELECT carrier, region, parcels, delivered, on_time, days_sum FROM commerce.carrier_day WHERE tenant_id = :t ORDER BY carrier;
-- now ZTO is observed at 2.08 days and always on time; YTO's two deliveries are too few for its days, its on-time share is 0
SELECT x.* FROM jsonb_to_recordset(commerce.carrier_options(:t, '浙江省', 500) -> 'options')
    AS x(carrier text, fee_fen numeric, days numeric, days_observed boolean, parcels int, on_time_share numeric, score numeric);
-- ship_order without a carrier takes the choice
SELECT carrier FROM commerce.ship_order(:t, (SELECT order_id FROM commerce.orders WHERE tenant_id = :t AND request_id = 'o7'), 's7', 'T7');
-- a report is kept once: the same again is a repeat, another is refused
SELECT commerce.record_delivery(:t, (SELECT shipment_id FROM commerce.shipment WHERE tenant_id = :t AND request_id = 's4'),
                                'delivered', '2026-11-03 10:00+08') AS again;
SELECT commerce.record_delivery(:t, (SELECT shipment_id FROM commerce.shipment WHERE tenant_id = :t AND request_id = 's4'),
                                'returned', '2026-11-05 10:00+08');
-- bad input changes nothing
SELECT commerce.record_delivery(:t, (SELECT shipment_id FROM commerce.shipment WHERE tenant_id = :t AND request_id = 's7'),
                                'delivered', '2026-10-01 10:00+08');
SELECT commerce.record_delivery(:t, (SELECT shipment_id FROM commerce.shipment WHERE tenant_id = :t AND request_id = 's7'),
                                'stolen', '2026-11-07 09:00+08');
SELECT commerce.record_delivery(:t, 999999, 'delivered', '2026-11-07 09:00+08');
SELECT commerce.set_carrier_choice(:t, 5000, 2000, 2000);
SELECT commerce.set_carrier_rates(:t, 'zto', '[{"first":0,"first_fen":500,"step":1000,"step_fen":200,"days":3}]');
SELECT count(*) AS deliveries, (SELECT count(*) FROM commerce.carrier_rate WHERE tenant_id = :t) AS rates
  FROM commerce.shipment_delivery WHERE tenant_id = :t;
-- the choice turned off: the rules choose again (over 20 kg: Deppon, which has no card)
SELECT commerce.choose_carrier(:t, '浙江省', 25000) AS weighed_heavy;
SELECT commerce.set_carrier_choice(:t, NULL, NULL, NULL) AS off;
SELECT commerce.choose_carrier(:t, '浙江省', 25000) AS rules_heavy, commerce.choose_carrier(:t, '浙江省', 500) AS rules;

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- The shop's core metrics (H5.1) and front-end events (H5.2): a week of
-- orders on two channels (one refunded, one shipped late, one complaint),
-- the front end's events folded per visitor and day (a retried batch counted
-- once, a bad event refusing the whole batch), a month's spend per channel;
-- then GMV, order value, return rate, GMV share, conversion, ROI, on-time
-- shipping and complaints, shop-wide and per channel, checked by hand.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET client_min_messages = warning;
SET commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.create_tenant('met', 'Metrics test') AS t \gset
SELECT commerce.upsert_product(:t, 'TEE', 'Tee') > 0 AS product, commerce.upsert_sku(:t, 'TEE', 'TEE-M', 'M', 10000) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'TEE-M', 100) > 0 AS received;
SELECT commerce.upsert_customer(:t, c, c) > 0 AS customer FROM unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c;
CREATE FUNCTION pg_temp.buy(p_t bigint, p_req text, p_channel text, p_customer text, p_qty int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE o record;
BEGIN
    SELECT * INTO o FROM commerce.place_order(p_t, p_req, p_channel, jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', 'TEE-M', 'qty', p_qty))), p_customer);
    PERFORM commerce.pay_order(p_t, o.order_id, 'pay-' || p_req, o.payable_fen);
    RETURN o.order_id;
END $$;
-- four orders on the mini-program, one on the H5 site
SELECT pg_temp.buy(:t, 'o1', 'wechat_mp', 'c1', 1) AS o1 \gset
SELECT pg_temp.buy(:t, 'o2', 'wechat_mp', 'c2', 2) AS o2 \gset
SELECT pg_temp.buy(:t, 'o3', 'wechat_mp', 'c2', 1) AS o3 \gset
SELECT pg_temp.buy(:t, 'o4', 'h5', 'c3', 3) AS o4 \gset
-- o1 ships the next day, o2 three days later (past its 48 hours), o4 the same day; o3 waits
SET commerce.now = '2030-06-02 10:00:00+08';
SELECT commerce.ship_order(:t, :o1, 'ship-1', 'SF1', 'SF') IS NOT NULL AS shipped;
SET commerce.now = '2030-06-01 18:00:00+08';
SELECT commerce.ship_order(:t, :o4, 'ship-4', 'SF4', 'SF') IS NOT NULL AS shipped;
SET commerce.now = '2030-06-04 12:00:00+08';
SELECT commerce.ship_order(:t, :o2, 'ship-2', 'SF2', 'SF') IS NOT NULL AS shipped;
-- c2's first order is refunded in part, and she complains
SELECT after_sale_id AS a1 FROM commerce.request_after_sale(:t, 'as-1', :o2, 'refund_only', 5000, 'one was torn') \gset
SELECT status FROM commerce.decide_after_sale(:t, :a1, true);
SELECT status FROM commerce.complete_refund(:t, :a1);
SELECT commerce.open_ticket(:t, 'tk-1', 'c2', 'complaint', 'Torn tee', NULL, :o2) > 0 AS complaint;
-- what the channels cost in June
SELECT commerce.set_channel_spend(:t, 'wechat_mp', '2030-06-01', 30000, 'June ads') AS spend;
SELECT commerce.set_channel_spend(:t, 'wechat_mp', '2030-06-01', 60000, 'June ads and a host') ->> 'spend_fen' AS replaced;
SELECT commerce.set_channel_spend(:t, 'h5', '2030-06-01', 15000) ->> 'spend_fen' AS h5_spend;
SELECT commerce.set_channel_spend(:t, 'h5', '2030-06-15', 1);
SELECT commerce.set_channel_spend(:t, 'nope', '2030-06-01', 1);

-- the front end's events: eight visitors on the mini-program over two days, two on the H5 site
SELECT commerce.record_events(:t, 'b1', jsonb_build_array(
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v1', 'at', '2030-06-01T09:00:00+08:00'),
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v1', 'at', '2030-06-01T09:01:00+08:00'),
    jsonb_build_object('kind', 'add_to_cart', 'channel', 'wechat_mp', 'visitor', 'v1', 'at', '2030-06-01T09:02:00+08:00', 'sku', 'TEE-M'),
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v2', 'at', '2030-06-01T23:59:00+08:00'),
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v2', 'at', '2030-06-02T00:01:00+08:00'),
    jsonb_build_object('kind', 'view', 'channel', 'h5', 'visitor', 'w1', 'at', '2030-06-01T12:00:00+08:00'),
    jsonb_build_object('kind', 'pay', 'channel', 'h5', 'visitor', 'w1', 'at', '2030-06-01T12:05:00+08:00'))) AS batch;
SELECT commerce.record_events(:t, 'b2', (SELECT jsonb_agg(jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v' || i,
                                                                      'at', '2030-06-02T10:00:00+08:00')) FROM generate_series(3, 8) i)) AS batch;
SELECT commerce.record_events(:t, 'b3', '[{"kind":"view","channel":"h5","visitor":"w2","at":"2030-06-03T08:00:00+08:00"}]', 'c4') ->> 'visits' AS signed_in;
-- the SDK retries b1: counted once
SELECT commerce.record_events(:t, 'b1', jsonb_build_array(
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v1', 'at', '2030-06-01T09:00:00+08:00'),
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v1', 'at', '2030-06-01T09:01:00+08:00'),
    jsonb_build_object('kind', 'add_to_cart', 'channel', 'wechat_mp', 'visitor', 'v1', 'at', '2030-06-01T09:02:00+08:00', 'sku', 'TEE-M'),
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v2', 'at', '2030-06-01T23:59:00+08:00'),
    jsonb_build_object('kind', 'view', 'channel', 'wechat_mp', 'visitor', 'v2', 'at', '2030-06-02T00:01:00+08:00'),
    jsonb_build_object('kind', 'view', 'channel', 'h5', 'visitor', 'w1', 'at', '2030-06-01T12:00:00+08:00'),
    jsonb_build_object('kind', 'pay', 'channel', 'h5', 'visitor', 'w1', 'at', '2030-06-01T12:05:00+08:00'))) ->> 'outcome' AS retried;
-- refused whole, nothing recorded: an unknown kind, a time without a zone, a week late, an unknown channel, a batch id reused
SELECT commerce.record_events(:t, 'b4', '[{"kind":"view","channel":"h5","visitor":"x","at":"2030-06-03T08:00:00+08:00"},{"kind":"like","channel":"h5","visitor":"x","at":"2030-06-03T08:00:00+08:00"}]');
SELECT commerce.record_events(:t, 'b4', '[{"kind":"view","channel":"h5","visitor":"x","at":"2030-06-03 08:00"}]');
SELECT commerce.record_events(:t, 'b4', '[{"kind":"view","channel":"h5","visitor":"x","at":"2030-05-20T08:00:00+08:00"}]');
SELECT commerce.record_events(:t, 'b4', '[{"kind":"view","channel":"wechat","visitor":"x","at":"2030-06-03T08:00:00+08:00"}]');
SELECT commerce.record_events(:t, 'b1', '[{"kind":"view","channel":"h5","visitor":"x","at":"2030-06-03T08:00:00+08:00"}]');
SELECT d.day, c.code AS channel, d.visitor, cu.code AS customer, d.views, d.carts, d.pays
  FROM commerce.visit_day d JOIN commerce.channel c USING (tenant_id, channel_id) LEFT JOIN commerce.customer cu USING (tenant_id, customer_id)
 ORDER BY d.day, c.code, d.visitor;

-- the first week of June: 4 orders, 7 units at 100.00 = 700.00 paid; 50.00 refunded on 1 order of 4 (25%);
-- mini-program 400.00 of 700.00 (57.14%), 2 buyers of 8 visitors (25%), spend 7/30 of 600.00 = 140.00 (ROI 285.71%);
-- shipping: o1 and o4 on time, o2 late, o3 still waiting past 48 hours: 2 of 4 (50%); one complaint
SELECT jsonb_pretty(commerce.sales_metrics(:t, '2030-06-01', '2030-06-08') -> 'total') AS total;
SELECT c ->> 'channel' AS channel, c ->> 'orders' AS orders, c ->> 'gmv_fen' AS gmv_fen, c ->> 'gmv_share_bp' AS share_bp,
       c ->> 'order_value_fen' AS aov_fen, c ->> 'return_rate_bp' AS return_bp, c ->> 'visitors' AS visitors, c ->> 'carted' AS carted,
       c ->> 'conversion_bp' AS conv_bp, c ->> 'spend_fen' AS spend_fen, c ->> 'roi_bp' AS roi_bp,
       c ->> 'on_time_ship_bp' AS on_time_bp, c ->> 'complaints' AS complaints
  FROM jsonb_array_elements(commerce.sales_metrics(:t, '2030-06-01', '2030-06-08') -> 'channels') c;
-- a day with nothing: zeros and no ratios
SELECT commerce.sales_metrics(:t, '2030-07-01', '2030-07-02') AS empty_day;
-- refused
SELECT commerce.sales_metrics(:t, '2030-06-08', '2030-06-01');
SELECT commerce.sales_metrics(:t, '2030-01-01', '2031-06-01');
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

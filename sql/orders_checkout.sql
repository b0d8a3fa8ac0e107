-- orders: self-operated checkout (prices, stock hold, payment, late and
-- duplicate payments, cancellation, the unpaid-order pump), the state
-- machine, platform payload ingestion from four platforms (upsert by
-- modification time, status mapping, oversell exception), the missing-order
-- check, and the upgrade from 0.1.0.
CREATE EXTENSION commerce VERSION '0.1.0';
ALTER EXTENSION commerce UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'commerce';
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 20:00:00+08';

SELECT commerce.create_tenant('up', 'Up shop') AS t \gset
SELECT commerce.upsert_product(:t, 'HOODIE', 'Logo hoodie') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'HOODIE', 'HOODIE-L', 'Logo hoodie L', 19900, 12900) > 0 AS sku;
SELECT commerce.upsert_member_tier(:t, 'annual', 'Annual card');
SELECT commerce.set_price(:t, 'HOODIE-L', 'member', 17900, p_member_tier => 'annual') > 0 AS member_price;
SELECT commerce.upsert_customer(:t, 'wx-user-1', 'A fan', '13800001234', 'annual') > 0 AS customer;
SELECT commerce.receive_stock(:t, 'grn-1', 'HOODIE-L', 12) > 0 AS received;
CREATE TEMP VIEW s AS SELECT on_hand, reserved, sold, available FROM commerce.stock WHERE tenant_id = :t;

-- self-operated: member price, shipping, a 15-minute hold
SELECT * FROM commerce.place_order(:t, 'mp-1001', 'wechat_mp',
  '{"lines":[{"sku":"HOODIE-L","qty":2}],"shipping_fen":1000,
    "receiver":{"name":"张三","phone":"13800001234","region":"浙江省","city":"杭州市","address":"文三路1号"}}',
  'wx-user-1');
SELECT line_no, qty, unit_price_fen, price_source, amount_fen FROM commerce.order_line ORDER BY line_no;
SELECT outcome FROM commerce.place_order(:t, 'mp-1001', 'wechat_mp', '{"lines":[{"sku":"HOODIE-L","qty":2}]}', 'wx-user-1');
SELECT * FROM s;
-- payment: the amount must match; then paid, retry, a second payment is refunded
SELECT * FROM commerce.pay_order(:t, 1, 'wxpay-1', 30000);
SELECT status, outcome FROM commerce.pay_order(:t, 1, 'wxpay-1', 36800);
SELECT status, outcome FROM commerce.pay_order(:t, 1, 'wxpay-1', 36800);
SELECT status, outcome FROM commerce.pay_order(:t, 1, 'wxpay-2', 36800);
SELECT * FROM s;

-- cancellation, and a payment after it: recorded for refund, never accepted
SELECT status, outcome FROM commerce.place_order(:t, 'h5-2001', 'h5', '{"lines":[{"sku":"HOODIE-L","qty":1}]}');
SELECT status, outcome FROM commerce.cancel_order(:t, 2, 'buyer changed mind');
SELECT status, outcome FROM commerce.cancel_order(:t, 2);
SELECT status, outcome FROM commerce.pay_order(:t, 2, 'alipay-9', 19900);
-- the unpaid-order pump at the deadline, and a payment that arrives too late
SELECT status, pay_deadline FROM commerce.place_order(:t, 'mp-1002', 'wechat_mp', '{"lines":[{"sku":"HOODIE-L","qty":3}]}');
SET commerce.now = '2026-11-11 20:15:00+08';
SELECT commerce.cancel_unpaid_orders() AS cancelled;
SELECT status, outcome FROM commerce.pay_order(:t, 3, 'wxpay-3', 59700);
SELECT payment_id, order_id, amount_fen, kind FROM commerce.payment_exception ORDER BY payment_id;
SELECT topic, payload ->> 'payment_id' AS payment, payload ->> 'reason' AS reason FROM commerce.outbox ORDER BY message_id;
SELECT * FROM s;

-- the state machine refuses illegal changes, whoever writes
UPDATE commerce.orders SET status = 'pending_payment' WHERE order_id = 1;
UPDATE commerce.orders SET status = 'paid' WHERE order_id = 2;
-- (a DBA records why with SET LOCAL commerce.reason)
BEGIN;
SET LOCAL commerce.reason = 'fixed by hand';
UPDATE commerce.orders SET status = 'shipped' WHERE order_id = 1;
UPDATE commerce.orders SET status = 'after_sale' WHERE order_id = 1;
UPDATE commerce.orders SET status = 'shipped' WHERE order_id = 1;
UPDATE commerce.orders SET status = 'completed' WHERE order_id = 1;
COMMIT;
SELECT order_id, from_status, to_status, changed_at, reason FROM commerce.order_status_history ORDER BY history_id;

-- platform orders: four payload shapes, one model
\set taobao `cat test/fixtures/platform/taobao.json`
\set douyin `cat test/fixtures/platform/douyin.json`
\set xhs `cat test/fixtures/platform/xiaohongshu.json`
\set pdd `cat test/fixtures/platform/pdd.json`
SELECT status, payable_fen, outcome FROM commerce.ingest_platform_order(:t, 'taobao', :'taobao');
SELECT status, payable_fen, outcome FROM commerce.ingest_platform_order(:t, 'douyin', :'douyin');
SELECT status, payable_fen, outcome FROM commerce.ingest_platform_order(:t, 'xiaohongshu', :'xhs');
SELECT status, payable_fen, outcome FROM commerce.ingest_platform_order(:t, 'pdd', :'pdd');
SELECT channel, external_order_id, status, payable_fen FROM commerce.order_overview
 WHERE tenant_id = :t AND channel NOT IN ('wechat_mp', 'h5') ORDER BY order_id;
SELECT o.receiver_name, o.receiver_region, o.receiver_city, o.goods_fen, o.discount_fen, o.shipping_fen,
       l.qty, l.unit_price_fen, o.platform_modified_at
  FROM commerce.orders o JOIN commerce.order_line l USING (tenant_id, order_id)
 WHERE o.tenant_id = :t AND l.price_source = 'platform' ORDER BY o.order_id;
-- the same payload again changes nothing; a newer one moves the order; an older one is ignored
SELECT outcome FROM commerce.ingest_platform_order(:t, 'taobao', :'taobao');
SELECT status, outcome FROM commerce.ingest_platform_order(:t, 'taobao',
  jsonb_set(jsonb_set(:'taobao', '{status}', '"WAIT_BUYER_CONFIRM_GOODS"'), '{modified}', '"2026-11-12 09:00:00"'));
SELECT status, outcome FROM commerce.ingest_platform_order(:t, 'taobao',
  jsonb_set(jsonb_set(:'taobao', '{status}', '"WAIT_BUYER_PAY"'), '{modified}', '"2026-11-11 20:00:00"'));
-- a platform refund after payment goes through after_sale
SELECT status, outcome FROM commerce.ingest_platform_order(:t, 'douyin',
  jsonb_set(jsonb_set(:'douyin', '{order_status}', '22'), '{update_time}', '1794434400'));
SELECT * FROM s;
-- stock ran out elsewhere: the order is kept and flagged, with an alert
SELECT status, outcome FROM commerce.ingest_platform_order(:t, 'pdd',
  jsonb_set(jsonb_set(:'pdd', '{order_sn}', '"261111-999"'), '{item_list,0,goods_count}', '9'));
SELECT external_order_id, oversell, reservation_id IS NULL AS no_stock_taken FROM commerce.orders WHERE external_order_id = '261111-999';
SELECT topic, payload ->> 'external_order_id' AS order FROM commerce.outbox WHERE topic = 'order.oversell';
SELECT * FROM s;
-- an unknown status word, an unknown platform, a payload without an order id
SELECT * FROM commerce.ingest_platform_order(:t, 'taobao', jsonb_set(:'taobao', '{status}', '"WAIT_SELLER_DANCE"'));
SELECT * FROM commerce.ingest_platform_order(:t, 'h5', :'taobao');
SELECT * FROM commerce.ingest_platform_order(:t, 'douyin', '{"order_status": 2}');
-- the hourly missing-order check
SELECT * FROM commerce.missing_platform_orders(:t, 'taobao', ARRAY['2983749283749001', 'T-404', 'T-405']);

SELECT count(*) AS invariant_violations FROM commerce.check_stock_invariants(:t);
SELECT * FROM commerce.check_order_invariants(:t);
-- the checker sees tampering: a line without its order, a goods total that does not add up
INSERT INTO commerce.order_line VALUES (:t, 999999, 1, (SELECT sku_id FROM commerce.sku WHERE code = 'HOODIE-L'), 1, 100, 'x', 100);
UPDATE commerce.orders SET goods_fen = goods_fen + 1, payable_fen = payable_fen + 1 WHERE order_id = 2;
SELECT check_name, order_id, detail FROM commerce.check_order_invariants(:t) ORDER BY check_name;
DELETE FROM commerce.order_line WHERE order_id = 999999;
UPDATE commerce.orders SET goods_fen = goods_fen - 1, payable_fen = payable_fen - 1 WHERE order_id = 2;
DROP VIEW s;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

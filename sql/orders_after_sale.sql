-- after-sale and reconciliation: refund only, return and refund (goods back
-- into stock), exchange; the refund event for the commission module; a
-- day's bill compared with our orders (re-run replaces); masked PII.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 20:00:00+08';
SELECT commerce.create_tenant('as', 'After-sale test') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'P', 'TEE', 'T-shirt', 9900) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'TEE', 10) > 0 AS received;
CREATE TEMP VIEW s AS SELECT on_hand, reserved, sold, available FROM commerce.stock WHERE tenant_id = :t;
SELECT order_id AS o1 FROM commerce.place_order(:t, 'o1', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":3}],
  "receiver":{"name":"张三","phone":"13800001234","region":"浙江省","city":"杭州市","address":"西湖区文三路1号"}}') \gset
SELECT status FROM commerce.pay_order(:t, :o1, 'wx-1', 29700);
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}') \gset
SELECT status FROM commerce.pay_order(:t, :o2, 'wx-2', 9900);
SELECT order_id AS o3 FROM commerce.place_order(:t, 'o3', 'wechat_mp', '{"lines":[{"sku":"TEE","qty":1}]}') \gset
SELECT status FROM commerce.pay_order(:t, :o3, 'wx-3', 9900);
SELECT * FROM s;

-- return and refund of 2 of the 3 shirts: the order is after_sale meanwhile
SELECT after_sale_id AS a1, status FROM commerce.request_after_sale(:t, 'as-1', :o1, 'return_refund', 19800,
  'wrong size', '[{"sku":"TEE","qty":2}]') \gset
SELECT :'status' AS requested, (SELECT status FROM commerce.orders WHERE order_id = :o1) AS order_status;
SELECT * FROM commerce.request_after_sale(:t, 'as-1b', :o1, 'refund_only', 100);
SELECT status FROM commerce.decide_after_sale(:t, :a1, true, 'ok');
SELECT status FROM commerce.receive_returned_goods(:t, :a1);
SELECT * FROM s;
SELECT status FROM commerce.complete_refund(:t, :a1);
SELECT status, paid_fen, refunded_fen FROM commerce.orders WHERE order_id = :o1;
-- a refund only of the rest: fully refunded now
SELECT after_sale_id AS a2 FROM commerce.request_after_sale(:t, 'as-2', :o1, 'refund_only', 9900, 'late') \gset
SELECT status FROM commerce.decide_after_sale(:t, :a2, true);
SELECT status FROM commerce.complete_refund(:t, :a2);
SELECT status FROM commerce.complete_refund(:t, :a2);
SELECT status, refunded_fen FROM commerce.orders WHERE order_id = :o1;
SELECT order_id = :o1 AS o1, kind, source_key ~ '^after_sale:' AS per_request, amount_fen, lines FROM commerce.order_event ORDER BY event_id;
-- a rejected request puts the order back
SELECT after_sale_id AS a3 FROM commerce.request_after_sale(:t, 'as-3', :o2, 'refund_only', 9900) \gset
SELECT status FROM commerce.decide_after_sale(:t, :a3, false, 'used');
SELECT status FROM commerce.orders WHERE order_id = :o2;
-- an exchange: the shirt comes back, a new one goes out
SELECT after_sale_id AS a4 FROM commerce.request_after_sale(:t, 'as-4', :o3, 'exchange', 0, 'defect', '[{"sku":"TEE","qty":1}]') \gset
SELECT status FROM commerce.decide_after_sale(:t, :a4, true);
SELECT status FROM commerce.receive_returned_goods(:t, :a4);
SELECT status FROM commerce.complete_exchange(:t, :a4);
SELECT status FROM commerce.orders WHERE order_id = :o3;
SELECT * FROM s;
-- illegal: refund a rejected request, a state change by hand, a return of goods not bought
SELECT * FROM commerce.complete_refund(:t, :a3);
UPDATE commerce.after_sale SET status = 'requested' WHERE after_sale_id = :a4;
SELECT * FROM commerce.request_after_sale(:t, 'as-5', :o2, 'return_refund', 100, NULL, '[{"sku":"TEE","qty":5}]');
SELECT topic, payload ->> 'amount_fen' AS amount, payload ->> 'reason' AS reason FROM commerce.outbox ORDER BY message_id;
SELECT count(*) AS invariant_violations FROM commerce.check_stock_invariants(:t);
SELECT * FROM commerce.check_order_invariants(:t);

-- reconciliation of the WeChat Pay bill of 2026-11-11
SELECT our_orders, bill_orders, our_fen, bill_fen, our_refund, bill_refund, differences
  FROM commerce.reconcile_bill(:t, 'wechat_mp', '2026-11-11', '[
    {"order_id":"o1","amount_fen":29700,"refund_fen":29700},
    {"order_id":"o2","amount_fen":9000},
    {"order_id":"o9","amount_fen":500}]');
SELECT external_order_id, kind, our_fen, bill_fen FROM commerce.recon_difference ORDER BY external_order_id, kind;
-- a corrected bill: the re-run replaces the differences
SELECT differences FROM commerce.reconcile_bill(:t, 'wechat_mp', '2026-11-11', '[
    {"order_id":"o1","amount_fen":29700,"refund_fen":29700},
    {"order_id":"o2","amount_fen":9900},
    {"order_id":"o3","amount_fen":9900}]');
SELECT count(*) AS bill_lines FROM commerce.bill_line;
SELECT * FROM commerce.reconcile_bill(:t, 'wechat_mp', '2026-11-11', '{"order_id":"o1"}');

-- PII: masked for roles without commerce_pii_reader
SELECT commerce.mask_phone('13800001234') AS phone, commerce.mask_address('西湖区文三路1号') AS address;
CREATE ROLE commerce_test_clerk;
GRANT USAGE ON SCHEMA commerce TO commerce_test_clerk;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA commerce TO commerce_test_clerk;
GRANT SELECT ON commerce.orders TO commerce_test_clerk;
-- row level security shows the clerk its verified tenant's rows (in this superuser session: the setting)
SET commerce.tenant_id = :t;
SET ROLE commerce_test_clerk;
SELECT * FROM commerce.order_contact(:t, :o1);
RESET ROLE;
RESET commerce.tenant_id;
SELECT * FROM commerce.order_contact(:t, :o1);
REVOKE ALL ON commerce.orders FROM commerce_test_clerk;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA commerce FROM commerce_test_clerk;
REVOKE ALL ON SCHEMA commerce FROM commerce_test_clerk;
DROP ROLE commerce_test_clerk;

DROP VIEW s;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

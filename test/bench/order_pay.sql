\set c :client_id + 1
BEGIN;
SELECT order_id, payable_fen FROM commerce.place_order(:tenant, gen_random_uuid()::text, 'wechat_mp',
  jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', 'C' || :c, 'qty', 1))), 'b' || :c) \gset
SELECT status FROM commerce.pay_order(:tenant, :order_id, gen_random_uuid()::text, :payable_fen);
COMMIT;

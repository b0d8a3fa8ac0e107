SELECT outcome FROM commerce.ingest_platform_order(:tenant, 'taobao', jsonb_build_object(
  'tid', gen_random_uuid()::text, 'status', 'WAIT_SELLER_SEND_GOODS', 'modified', '2026-11-11 20:00:00',
  'total_fee', '99.00', 'receiver_name', '张三', 'receiver_mobile', '13800001234',
  'orders', jsonb_build_object('order', jsonb_build_array(
    jsonb_build_object('outer_sku_id', 'C' || (:client_id + 1), 'num', 1, 'price', '99.00')))));

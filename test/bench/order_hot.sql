SELECT order_id FROM commerce.place_order(:tenant, gen_random_uuid()::text, 'wechat_mp',
  jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', 'HOT', 'qty', 1))));

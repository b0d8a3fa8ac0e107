SELECT reservation_id FROM commerce.reserve_sku(:tenant, gen_random_uuid()::text, 'bench', 'HOT', 1);
\sleep 500 us

SELECT reservation_id FROM commerce.reserve_sku(:tenant, gen_random_uuid()::text, 'bench', 'C' || :client_id + 1, 1);

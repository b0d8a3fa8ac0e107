SELECT (commerce.join_group(:tenant, gen_random_uuid()::text, 'G' || (:client_id + 1), 'c' || nextval('public.bench_customer_seq'),
                            gen_random_uuid()::text, (SELECT instance_id FROM public.bench_group WHERE code = 'G' || (:client_id + 1)))).outcome;

SELECT (commerce.join_group(:tenant, gen_random_uuid()::text, 'HOTG', 'c' || nextval('public.bench_customer_seq'),
                            gen_random_uuid()::text, (SELECT instance_id FROM public.bench_group WHERE code = 'HOTG'))).outcome;

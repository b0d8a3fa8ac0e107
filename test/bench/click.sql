SELECT click_id FROM commerce.record_click(:tenant, (SELECT code FROM public.bench_code), gen_random_uuid()::text, '10.1.2.3', 'WeChat/8.0');

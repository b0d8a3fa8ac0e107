INSERT INTO public.click_ceiling (tenant_id, koc_id, channel_id, visitor_id, ip, user_agent, clicked_at)
SELECT :tenant, 1, 1, gen_random_uuid()::text, '10.1.2.3', 'WeChat/8.0', now() FROM public.bench_code;

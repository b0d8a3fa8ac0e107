SELECT public.bench_try_reserve(:tenant, 'GONE');

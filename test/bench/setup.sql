-- make bench fixtures: one hot SKU, one SKU per client, a sold-out SKU, and
-- the naive ORM tables.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS commerce;
SELECT commerce.create_tenant('bench', 'Bench tenant') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Bench product');
SELECT commerce.upsert_sku(:t, 'P', 'HOT', 'Hot SKU', 9900);
SELECT commerce.set_stock_policy(:t, 'HOT', p_slots => 32);
SELECT commerce.receive_stock(:t, 'bench-hot', 'HOT', 100000000);
SELECT commerce.upsert_sku(:t, 'P', 'C' || c, 'Ceiling SKU ' || c, 9900)
  FROM generate_series(1, :clients) c;
SELECT commerce.set_stock_policy(:t, 'C' || c, p_slots => 32) FROM generate_series(1, :clients) c;
SELECT commerce.receive_stock(:t, 'bench-c' || c, 'C' || c, 100000000)
  FROM generate_series(1, :clients) c;
SELECT commerce.upsert_sku(:t, 'P', 'GONE', 'Sold-out SKU', 9900);
SELECT commerce.receive_stock(:t, 'bench-gone', 'GONE', 1);
SELECT commerce.reserve_sku(:t, 'bench-gone-1', 'bench', 'GONE', 1, '1 day');

CREATE TABLE IF NOT EXISTS public.naive_stock (
    sku text PRIMARY KEY, on_hand bigint NOT NULL, reserved bigint NOT NULL);
CREATE TABLE IF NOT EXISTS public.naive_reservation (
    id bigserial PRIMARY KEY, request_id text NOT NULL UNIQUE, sku text NOT NULL,
    qty bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.naive_stock VALUES ('N', 100000000, 0) ON CONFLICT DO NOTHING;

-- a refusal counts as a completed try (pgbench aborts a client on errors)
CREATE OR REPLACE FUNCTION public.bench_try_reserve(p_tenant bigint, p_sku text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce.reserve_sku(p_tenant, gen_random_uuid()::text, 'bench', p_sku, 1);
    RETURN true;
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    RETURN false;
END $$;

-- 80,000 waybill print jobs for the print workers (claim 50, ack each)
SELECT count(commerce.enqueue(:t, 'waybill.print',
         jsonb_build_object('shipment_id', n, 'carrier', 'zto', 'tracking_no', 'ZT' || n)))
  FROM generate_series(1, 80000) n;

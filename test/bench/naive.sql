BEGIN;
SELECT on_hand, reserved FROM public.naive_stock WHERE sku = 'N' FOR UPDATE;
UPDATE public.naive_stock SET reserved = reserved + 1 WHERE sku = 'N' AND on_hand - reserved >= 1;
INSERT INTO public.naive_reservation (request_id, sku, qty) VALUES (gen_random_uuid()::text, 'N', 1);
COMMIT;

BEGIN;
\sleep 500 us
SELECT on_hand, reserved FROM public.naive_stock WHERE sku = 'N' FOR UPDATE;
\sleep 500 us
UPDATE public.naive_stock SET reserved = reserved + 1 WHERE sku = 'N' AND on_hand - reserved >= 1;
\sleep 500 us
INSERT INTO public.naive_reservation (request_id, sku, qty) VALUES (gen_random_uuid()::text, 'N', 1);
\sleep 500 us
COMMIT;
\sleep 500 us

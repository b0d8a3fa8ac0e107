-- make demo fixtures: a creator's shop ("Up主") with two stores, two
-- warehouses, the default channels, member tiers, physical and virtual
-- products, prices, and the buyer function the flash sale runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS commerce;
SELECT commerce.create_tenant('up', 'Up主 official shop') AS t \gset
SELECT commerce.upsert_store(:t, 'SH-01', 'Shanghai pop-up', 'East', 'Shanghai') > 0 AS store_sh,
       commerce.upsert_store(:t, 'BJ-01', 'Beijing pop-up', 'North', 'Beijing') > 0 AS store_bj,
       commerce.upsert_warehouse(:t, 'gz', 'Guangzhou warehouse', 'South') > 0 AS warehouse_gz;
SELECT commerce.upsert_member_tier(:t, 'monthly', 'Monthly card', 1),
       commerce.upsert_member_tier(:t, 'annual', 'Annual card', 2);
SELECT commerce.upsert_product(:t, 'HOODIE', 'Logo hoodie', 'physical', NULL, 'Up', 'apparel') > 0 AS hoodie,
       commerce.upsert_product(:t, 'COURSE', 'Editing course', 'virtual', 'course') > 0 AS course,
       commerce.upsert_product(:t, 'LIVE', 'Live-room ticket', 'virtual', 'live_ticket') > 0 AS ticket;
SELECT commerce.upsert_sku(:t, 'HOODIE', 'HOODIE-L', 'Logo hoodie L', 19900, 12900, 7000, 650, 3000,
                           '{"size":"L","color":"black"}') > 0 AS sku_l,
       commerce.upsert_sku(:t, 'HOODIE', 'HOODIE-XL', 'Logo hoodie XL', 19900, 12900, 7000, 700, 3200,
                           '{"size":"XL","color":"black"}') > 0 AS sku_xl,
       commerce.upsert_sku(:t, 'COURSE', 'COURSE-101', 'Editing 101', 29900, 9900) > 0 AS sku_course,
       commerce.upsert_sku(:t, 'LIVE', 'TICKET-1111', 'Live 11.11 ticket', 990, 990) > 0 AS sku_ticket;
SELECT commerce.set_price(:t, 'HOODIE-L', 'channel', 21900, 'taobao') > 0 AS taobao_price,
       commerce.set_price(:t, 'HOODIE-L', 'channel', 20900, 'douyin') > 0 AS douyin_price,
       commerce.set_price(:t, 'HOODIE-L', 'member', 17900, p_member_tier => 'annual') > 0 AS member_price,
       commerce.set_price(:t, 'HOODIE-L', 'flash', 14900, NULL, NULL,
                          date_trunc('day', now()) + interval '20 hours',
                          date_trunc('day', now()) + interval '22 hours') > 0 AS flash_price;
SELECT code, name, msrp_fen, floor_fen FROM commerce.sku WHERE tenant_id = :t ORDER BY sku_id;
SELECT code, kind FROM commerce.channel WHERE tenant_id = :t ORDER BY channel_id;

CREATE TABLE public.demo_try (client int, outcome text);
-- one buyer: reserve one hoodie from the live-stream pool; 70% pay at once
CREATE FUNCTION public.demo_buy(p_client int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r commerce.reservation_result;
BEGIN
    r := commerce.reserve_sku(commerce.tenant_id('up'), gen_random_uuid()::text,
                              'fan-' || p_client, 'HOODIE-L', 1, p_activity => 'live-1111');
    IF random() < 0.7 THEN
        PERFORM commerce.confirm_reservation(commerce.tenant_id('up'), r.reservation_id,
                                             'pay-' || r.reservation_id);
        INSERT INTO public.demo_try VALUES (p_client, 'paid');
    ELSE
        INSERT INTO public.demo_try VALUES (p_client, 'abandoned');
    END IF;
EXCEPTION WHEN SQLSTATE 'PT409' THEN
    INSERT INTO public.demo_try VALUES (p_client, 'rejected');
END $$;

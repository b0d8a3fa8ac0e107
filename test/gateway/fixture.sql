-- test/gateway/fixture.sql: the shop the gateway suites run against: one
-- tenant with a store, a course sold by flash sale and by group buy, a
-- hoodie, a KOC who signed the agreement, store and HQ staff, and the actor
-- roles with the gateway's login role gw_auth (commerce.grant_api). The
-- plays run from yesterday to a month from now (real time: the gateways'
-- sessions cannot set commerce.now).
SET client_min_messages = warning;
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('shop', 'Gateway test shop') > 0 AS tenant;
SELECT commerce.create_tenant('other', 'Another tenant') > 0 AS other_tenant;
SELECT commerce.upsert_store(commerce.tenant_id('shop'), 'SH-01', 'Shanghai studio', 'East', 'Shanghai') > 0 AS store;
SELECT commerce.upsert_product(commerce.tenant_id('shop'), 'YOGA', 'Yoga course', 'virtual', 'course') > 0,
       commerce.upsert_sku(commerce.tenant_id('shop'), 'YOGA', 'YOGA-10', '10 yoga lessons', 99900, p_floor_fen => 10000) > 0,
       commerce.upsert_product(commerce.tenant_id('shop'), 'HOODIE', 'Logo hoodie', 'physical', NULL, 'Up', 'apparel') > 0,
       commerce.upsert_sku(commerce.tenant_id('shop'), 'HOODIE', 'HOODIE-L', 'Logo hoodie L', 19900, 12900, 7000, 650, 3000) > 0;
SELECT commerce.receive_stock(commerce.tenant_id('shop'), 'in-yoga', 'YOGA-10', 100) > 0,
       commerce.receive_stock(commerce.tenant_id('shop'), 'in-hoodie', 'HOODIE-L', 50) > 0;
SELECT commerce.ensure_play_templates(commerce.tenant_id('shop')) AS templates;
SELECT code FROM commerce.configure_play(commerce.tenant_id('shop'), 'cfg-flash', 'FLASH10', 'FLASH_SALE', 'SH-01', 'YOGA-10',
       '10 lessons flash sale', 39900, 10, now() - interval '1 day', now() + interval '30 days', '{}',
       p_per_user_limit => 1, p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT code FROM commerce.configure_play(commerce.tenant_id('shop'), 'cfg-group', 'DUO', 'GROUP_BUY', 'SH-01', 'YOGA-10',
       'Yoga for two', 59900, 10, now() - interval '1 day', now() + interval '30 days', '{"target_size":2}',
       p_asset_type => 'COURSE', p_units_per_sale => 10);
-- the KOC programme: 10% commission, a signed agreement, KOC li (a customer too)
SELECT commerce.set_koc_settings(commerce.tenant_id('shop'), p_koc_rate_bp => 1000, p_withdraw_min_fen => 100,
                                 p_withdraw_fee_bp => 0, p_withdraw_fee_min_fen => 0) IS NOT NULL AS settings;
SELECT commerce.upsert_customer(commerce.tenant_id('shop'), 'li') > 0 AS koc_customer;
SELECT commerce.upsert_koc(commerce.tenant_id('shop'), 'koc-li', 'li', 'Li the yogi', 'East') > 0 AS koc;
SELECT commerce.publish_agreement(commerce.tenant_id('shop'), 'KOC agreement', 'text') IS NOT NULL AS agreement;
SELECT commerce.sign_agreement(commerce.tenant_id('shop'), 'koc-li', 1, encode(sha256('text'), 'hex'), 'Li') IS DISTINCT FROM NULL AS signed;
SELECT store_share_bp FROM commerce.set_split_rule(commerce.tenant_id('shop'), NULL, 7000);
-- staff: a clerk of SH-01, an HQ operator, HQ finance
SELECT commerce.upsert_staff(commerce.tenant_id('shop'), 'clerk-wang', 'Wang', 'store', ARRAY['SH-01']) > 0,
       commerce.upsert_staff(commerce.tenant_id('shop'), 'ops-chen', 'Chen', 'operator') > 0,
       commerce.upsert_staff(commerce.tenant_id('shop'), 'fin-zhao', 'Zhao', 'finance') > 0;
-- the gateway's login role
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gw_auth') THEN
        CREATE ROLE gw_auth LOGIN NOINHERIT;
    END IF;
END $$;
SELECT count(*) AS actor_roles FROM commerce.grant_api('gw_auth');
SELECT commerce.tenant_id('shop') AS shop_tenant, commerce.tenant_id('other') AS other_tenant;

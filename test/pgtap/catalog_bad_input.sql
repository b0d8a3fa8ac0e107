-- catalog_bad_input.sql: bad calls of the catalog entry points (products,
-- SKUs, prices, price resolution) and of the floor guards are refused with
-- the documented SQLSTATE and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(72);

\ir lib/fingerprint.psql

-- fixtures: tenant t1 with product P1, SKU A1 (MSRP 1000, floor 500), a
-- taobao price of 900, tier gold; tenant t2 with product Q1, SKU B1, a
-- channel and a tier of its own.
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one', 'physical', NULL, 'Brand', 'Food') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A1', 'SKU A1', 1000, 500, 300, 250, 1000) AS a1 \gset
SELECT commerce.upsert_member_tier(:t, 'gold', 'Gold card') AS gold \gset
SELECT commerce.set_price(:t, 'A1', 'channel', 900, 'taobao') AS price_tb \gset
SELECT commerce.upsert_product(:t2, 'Q1', 'Product of t2') AS q1 \gset
SELECT commerce.upsert_sku(:t2, 'Q1', 'B1', 'SKU of t2', 2000) AS b1 \gset
SELECT commerce.upsert_channel(:t2, 'kuaishou', 'Kuaishou') AS ks2 \gset
SELECT commerce.upsert_member_tier(:t2, 'platinum', 'Platinum card') AS plat2 \gset
SELECT pg_temp.fingerprint() AS fp0 \gset

-- upsert_product ---------------------------------------------------------
SELECT throws_ok($$SELECT commerce.upsert_product(NULL, 'P2', 'Product')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_product: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_product(999999, 'P2', 'Product')$$,
    'PT404', 'tenant "999999" not found', 'upsert_product: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, NULL, 'Product')$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_product: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P2', NULL)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_product: NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P2', 'Product', 'digital')$$, :t),
    '22023', 'invalid value for p_kind', 'upsert_product: unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P2', 'Product', 'virtual')$$, :t),
    '22023', 'invalid value for p_virtual_kind', 'upsert_product: virtual without virtual_kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P2', 'Product', 'physical', 'course')$$, :t),
    '22023', 'invalid value for p_virtual_kind', 'upsert_product: physical with a virtual_kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P2', 'Product', 'virtual', 'ebook')$$, :t),
    '22023', 'invalid value for p_virtual_kind', 'upsert_product: unknown virtual_kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P 2', 'Product')$$, :t),
    '23514', 'new row for relation "product" violates check constraint "product_code_check"',
    'upsert_product: code with a space -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.upsert_product(%s, 'P1', 'Renamed', 'virtual')$$, :t),
    '22023', 'invalid value for p_virtual_kind', 'upsert_product: existing code turned virtual without virtual_kind -> 22023');
SELECT is((SELECT count(*) FROM commerce.product), 2::bigint, 'upsert_product: no product created by bad calls');
SELECT is((SELECT name || '/' || kind || '/' || brand FROM commerce.product WHERE tenant_id = :t AND product_id = :p1),
    'Product one/physical/Brand', 'upsert_product: existing product unchanged');

-- upsert_sku -------------------------------------------------------------
SELECT throws_ok($$SELECT commerce.upsert_sku(NULL, 'P1', 'A2', 'SKU', 100)$$,
    '22004', 'argument p_tenant must not be null', 'upsert_sku: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_sku(999999, 'P1', 'A2', 'SKU', 100)$$,
    'PT404', 'tenant "999999" not found', 'upsert_sku: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, NULL, 'A2', 'SKU', 100)$$, :t),
    '22004', 'argument p_product must not be null', 'upsert_sku: NULL product -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', NULL, 'SKU', 100)$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_sku: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', NULL, 100)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_sku: NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', NULL)$$, :t),
    '22004', 'argument p_msrp_fen must not be null', 'upsert_sku: NULL MSRP -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'NOPE', 'A2', 'SKU', 100)$$, :t),
    'PT404', 'product "NOPE" not found', 'upsert_sku: unknown product -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'Q1', 'A2', 'SKU', 100)$$, :t),
    'PT404', 'product "Q1" not found', 'upsert_sku: other tenant''s product -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', -1)$$, :t),
    '22023', 'invalid value for SKU amounts', 'upsert_sku: negative MSRP -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', 100, -1)$$, :t),
    '22023', 'invalid value for SKU amounts', 'upsert_sku: negative floor -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', 100, 0, -1)$$, :t),
    '22023', 'invalid value for SKU amounts', 'upsert_sku: negative cost -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', 100, 0, NULL, -1)$$, :t),
    '22023', 'invalid value for SKU amounts', 'upsert_sku: negative weight -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', 100, 0, NULL, NULL, -1)$$, :t),
    '22023', 'invalid value for SKU amounts', 'upsert_sku: negative volume -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', 100, 200)$$, :t),
    '23514', 'MSRP 100 fen is below the floor of SKU "A2"', 'upsert_sku: MSRP below floor -> 23514');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A2', 'SKU', 100, 0, NULL, NULL, NULL, '[1]')$$, :t),
    '23514', 'new row for relation "sku" violates check constraint "sku_spec_check"',
    'upsert_sku: spec not an object -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A 2', 'SKU', 100)$$, :t),
    '23514', 'new row for relation "sku" violates check constraint "sku_code_check"',
    'upsert_sku: code with a space -> 23514 (table CHECK)');
-- changing an existing SKU: MSRP under its floor, or a floor above a live price
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A1', 'SKU A1', 400, 500)$$, :t),
    '23514', 'MSRP 400 fen is below the floor of SKU "A1"', 'upsert_sku: existing SKU, MSRP lowered below floor -> 23514');
SELECT throws_ok(format($$SELECT commerce.upsert_sku(%s, 'P1', 'A1', 'SKU A1', 1000, 950)$$, :t),
    '23514', 'floor 950 fen of SKU "A1" is above a price that is still valid',
    'upsert_sku: floor raised above the live taobao price (900) -> 23514');
SELECT throws_ok(format($$UPDATE commerce.sku SET floor_fen = 950 WHERE tenant_id = %s AND sku_id = %s$$, :t, :a1),
    '23514', 'floor 950 fen of SKU "A1" is above a price that is still valid',
    'direct UPDATE of sku.floor_fen above a live price -> 23514 (sku_floor_guard)');
SELECT is((SELECT count(*) FROM commerce.sku), 2::bigint, 'upsert_sku: no SKU created by bad calls');
SELECT is((SELECT format('%s/%s/%s/%s/%s/%s', name, msrp_fen, floor_fen, cost_fen, weight_g, volume_cm3)
             FROM commerce.sku WHERE tenant_id = :t AND sku_id = :a1),
    'SKU A1/1000/500/300/250/1000', 'upsert_sku: existing SKU unchanged');

-- set_price --------------------------------------------------------------
SELECT throws_ok($$SELECT commerce.set_price(NULL, 'A1', 'channel', 800, 'h5')$$,
    '22004', 'argument p_tenant must not be null', 'set_price: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.set_price(999999, 'A1', 'channel', 800, 'h5')$$,
    'PT404', 'tenant "999999" not found', 'set_price: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, NULL, 'channel', 800, 'h5')$$, :t),
    '22004', 'argument p_sku must not be null', 'set_price: NULL SKU -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', NULL, 800, 'h5')$$, :t),
    '22004', 'argument p_kind must not be null', 'set_price: NULL kind -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', NULL, 'h5')$$, :t),
    '22004', 'argument p_price_fen must not be null', 'set_price: NULL price -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'msrp', 800)$$, :t),
    '22023', 'invalid value for p_kind', 'set_price: unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', -1, 'h5')$$, :t),
    '22023', 'invalid value for p_price_fen', 'set_price: negative price -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 800, 'h5', NULL, '2030-02-01', '2030-02-01')$$, :t),
    '22023', 'invalid value for p_valid_to', 'set_price: empty window (from = to) -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 800, 'h5', NULL, '2030-03-01', '2030-02-01')$$, :t),
    '22023', 'invalid value for p_valid_to', 'set_price: window ending before it starts -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 800)$$, :t),
    '22023', 'invalid value for p_channel', 'set_price: channel price without a channel -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 800, 'h5', 'gold')$$, :t),
    '22023', 'invalid value for p_channel', 'set_price: channel price with a member tier -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'member', 800)$$, :t),
    '22023', 'invalid value for p_member_tier', 'set_price: member price without a tier -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'flash', 600)$$, :t),
    '22023', 'invalid value for p_valid_from', 'set_price: flash price without a window -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'flash', 600, NULL, NULL, '2030-01-01 10:00')$$, :t),
    '22023', 'invalid value for p_valid_from', 'set_price: flash price without an end -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'flash', 600, NULL, 'gold', '2030-01-01 10:00', '2030-01-01 12:00')$$, :t),
    '22023', 'invalid value for p_valid_from', 'set_price: flash price with a member tier -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'NOPE', 'channel', 800, 'h5')$$, :t),
    'PT404', 'SKU "NOPE" not found', 'set_price: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 800, 'nope')$$, :t),
    'PT404', 'channel "nope" not found', 'set_price: unknown channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'member', 800, NULL, 'silver')$$, :t),
    'PT404', 'member tier "silver" not found', 'set_price: unknown member tier -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'B1', 'channel', 1800, 'h5')$$, :t),
    'PT404', 'SKU "B1" not found', 'set_price: other tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 800, 'kuaishou')$$, :t),
    'PT404', 'channel "kuaishou" not found', 'set_price: other tenant''s channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'member', 800, NULL, 'platinum')$$, :t),
    'PT404', 'member tier "platinum" not found', 'set_price: other tenant''s member tier -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 499, 'h5')$$, :t),
    '23514', 'price 499 fen is below the floor of SKU "A1"', 'set_price: new price below floor -> 23514');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'channel', 400, 'taobao')$$, :t),
    '23514', 'price 400 fen is below the floor of SKU "A1"', 'set_price: existing price lowered below floor -> 23514');
SELECT throws_ok(format($$SELECT commerce.set_price(%s, 'A1', 'flash', 100, NULL, NULL, '2030-01-01 10:00', '2030-01-01 12:00')$$, :t),
    '23514', 'price 100 fen is below the floor of SKU "A1"', 'set_price: flash price below floor -> 23514');
SELECT throws_ok(format($$UPDATE commerce.price SET price_fen = 1 WHERE tenant_id = %s AND price_id = %s$$, :t, :price_tb),
    '23514', 'price 1 fen is below the floor of SKU "A1"', 'direct UPDATE of a price below floor -> 23514 (price_floor_guard)');
SELECT is((SELECT count(*) FROM commerce.price), 1::bigint, 'set_price: no price created by bad calls');
SELECT is((SELECT price_fen FROM commerce.price WHERE tenant_id = :t AND price_id = :price_tb), 900::bigint,
    'set_price: existing taobao price still 900');

-- resolve_price ----------------------------------------------------------
SELECT throws_ok($$SELECT commerce.resolve_price(NULL, 'A1', 'taobao')$$,
    '22004', 'argument p_tenant must not be null', 'resolve_price: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, NULL, 'taobao')$$, :t),
    '22004', 'argument p_sku must not be null', 'resolve_price: NULL SKU -> 22004');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'A1', NULL)$$, :t),
    '22004', 'argument p_channel must not be null', 'resolve_price: NULL channel -> 22004');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'NOPE', 'taobao')$$, :t),
    'PT404', 'SKU "NOPE" not found', 'resolve_price: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'A1', 'nope')$$, :t),
    'PT404', 'channel "nope" not found', 'resolve_price: unknown channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'A1', 'taobao', 'silver')$$, :t),
    'PT404', 'member tier "silver" not found', 'resolve_price: unknown member tier -> PT404');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'B1', 'taobao')$$, :t),
    'PT404', 'SKU "B1" not found', 'resolve_price: other tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'A1', 'kuaishou')$$, :t),
    'PT404', 'channel "kuaishou" not found', 'resolve_price: other tenant''s channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.resolve_price(%s, 'A1', 'taobao', 'platinum')$$, :t),
    'PT404', 'member tier "platinum" not found', 'resolve_price: other tenant''s member tier -> PT404');
SELECT throws_ok($$SELECT commerce.resolve_price(999999, 'A1', 'taobao')$$,
    'PT404', 'tenant "999999" not found', 'resolve_price: unknown tenant -> PT404');
SELECT is((SELECT (r).price_fen || '/' || (r).source FROM (SELECT commerce.resolve_price(:t, 'A1', 'taobao') AS r) x),
    '900/channel', 'resolve_price: a good call still resolves the taobao price');

-- nothing changed --------------------------------------------------------
SELECT is(pg_temp.fingerprint(), :'fp0', 'catalog: no commerce table changed');

SELECT * FROM finish();
ROLLBACK;

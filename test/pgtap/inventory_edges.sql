-- Edge cases found in review: scalar carts, the ledger under TRUNCATE, NULL
-- job arguments, and the idempotent retry of a cart that names one SKU in
-- two warehouses (lines compared per SKU on both sides); a retry answered
-- with the first reservation even where a new call would now fail, and the
-- pool cache keeping a NULL warehouse apart from an empty one (issue 17).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(20);

SELECT commerce.create_tenant('edge', 'Edges') AS t \gset
SELECT commerce.upsert_warehouse(:t, 'gz', 'Guangzhou') IS NOT NULL AS wh \gset
SELECT commerce.upsert_product(:t, 'P', 'Product') IS NOT NULL AS p \gset
SELECT commerce.upsert_sku(:t, 'P', 'A1', 'A1', 100) IS NOT NULL AS s \gset
SELECT commerce.receive_stock(:t, 'rcv-main', 'A1', 5, 'main') IS NOT NULL AS r1 \gset
SELECT commerce.receive_stock(:t, 'rcv-gz', 'A1', 5, 'gz') IS NOT NULL AS r2 \gset

SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'c1', 'h', '1')$$, :t),
    '22023', 'invalid cart: $: expected an object or an array', 'a scalar cart -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'c1', 'h', '"A1"')$$, :t),
    '22023', 'invalid cart: $: expected an object or an array', 'a string cart -> 22023');

SELECT lives_ok(format($$SELECT commerce.reserve(%s, 'two-wh', 'h',
    '[{"sku":"A1","qty":2,"warehouse":"main"},{"sku":"A1","qty":1,"warehouse":"gz"}]')$$, :t),
    'a cart naming one SKU in two warehouses');
SELECT lives_ok(format($$SELECT commerce.reserve(%s, 'two-wh', 'h',
    '[{"sku":"A1","qty":2,"warehouse":"main"},{"sku":"A1","qty":1,"warehouse":"gz"}]')$$, :t),
    'its identical retry returns the first reservation');
SELECT is((SELECT count(*) FROM commerce.reservation WHERE tenant_id = :t), 1::bigint,
    'one reservation for the two calls');
SELECT is((SELECT sum(reserved) FROM commerce.stock WHERE tenant_id = :t), 3::numeric,
    'stock taken once');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'two-wh', 'h', '[{"sku":"A1","qty":4}]')$$, :t),
    '23505', NULL, 'the request_id with other lines -> 23505');

SELECT throws_ok($$TRUNCATE commerce.stock_movement$$, 'PT403', 'stock_movement is append-only',
    'TRUNCATE of the stock ledger -> PT403');
SELECT is((SELECT count(*) FROM commerce.stock_movement WHERE tenant_id = :t), 4::bigint,
    'the ledger is intact (2 receipts, 2 reservation lines)');

SELECT throws_ok($$CALL commerce.expire_pump(NULL)$$, '22004', 'argument p_batch must not be null',
    'expire_pump(NULL) -> 22004 (does not loop)');
SELECT throws_ok($$SELECT * FROM commerce.claim('t.x', 'w', NULL)$$, '22004',
    'argument p_limit must not be null', 'claim with a NULL limit -> 22004');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants(:t)), 0::bigint, 'invariants hold');
-- the checker sees a slot changed behind the ledger's back
UPDATE commerce.stock_slot SET reserved = reserved + 1
 WHERE tenant_id = :t AND (pool_id, slot_no) = (SELECT pool_id, min(slot_no) FROM commerce.stock_slot
                                                 WHERE tenant_id = :t AND on_hand > reserved + sold GROUP BY pool_id LIMIT 1);
SELECT bag_eq($$SELECT DISTINCT check_name FROM commerce.check_stock_invariants()$$,
              $$VALUES ('ledger'), ('reservations')$$, 'tampering shows as ledger and reservation mismatches');
SELECT throws_ok(format('UPDATE commerce.stock_slot SET sold = sold + 1000 WHERE tenant_id = %s', :t),
    '23514', NULL, 'the slot check refuses an oversell, whoever writes');

-- a retry gets the first answer even when the call would now be refused
SELECT commerce.upsert_sku(:t, 'P', 'B1', 'B1', 100) IS NOT NULL AS s2 \gset
SELECT commerce.receive_stock(:t, 'rcv-b1', 'B1', 10) IS NOT NULL AS r3 \gset
SELECT reservation_id AS long_hold FROM commerce.reserve_sku(:t, 'long', 'h', 'B1', 1, '1 hour') \gset
UPDATE commerce.tenant SET max_hold = '30 minutes' WHERE tenant_id = :t;
SELECT is((SELECT reservation_id FROM commerce.reserve_sku(:t, 'long', 'h', 'B1', 1, '1 hour')), :long_hold::bigint,
    'a retry after the tenant lowered max_hold returns the first reservation');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'long-2', 'h', 'B1', 1, '1 hour')$$, :t),
    '22023', 'invalid value for p_ttl', 'a new call with that hold is refused -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'long', 'h', '[{"sku":"B1","qty":600000},{"sku":"B1","qty":600000}]')$$, :t),
    '23505', NULL, 'the request_id with a cart over the unit cap -> 23505, not 22023');
UPDATE commerce.stock_slot SET reserved = reserved + on_hand - reserved - sold
 WHERE tenant_id = :t AND pool_id = (SELECT pool_id FROM commerce.stock_pool p JOIN commerce.sku k USING (tenant_id, sku_id) WHERE k.tenant_id = :t AND k.code = 'B1');
SELECT is((SELECT reservation_id FROM commerce.reserve_sku(:t, 'long', 'h', 'B1', 1, '1 hour')), :long_hold::bigint,
    'a retry after the pool sold out returns the first reservation');

-- the pool cache: a NULL warehouse (any) and an empty warehouse code are two lookups
SELECT commerce.upsert_sku(:t, 'P', 'C1', 'C1', 100) IS NOT NULL AS s3 \gset
SELECT commerce.receive_stock(:t, 'rcv-c1', 'C1', 10) IS NOT NULL AS r4 \gset
SELECT lives_ok(format($$SELECT commerce.reserve_sku(%s, 'c-any', 'h', 'C1', 1)$$, :t),
    'a reservation naming no warehouse (its lookup kept)');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'c-empty', 'h', 'C1', 1, p_warehouse => '')$$, :t),
    'PT404', NULL, 'then one naming the warehouse '''' -> PT404, not the kept pool');

SELECT * FROM finish();
ROLLBACK;

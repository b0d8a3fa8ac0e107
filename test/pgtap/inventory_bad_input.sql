-- inventory_bad_input.sql: bad calls of the stock entry points (receive,
-- adjust, stock-take, policy, allocation to activities) and writes to the
-- append-only ledger are refused with the documented SQLSTATE and change
-- nothing; idempotent retries count once.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(99);

\ir lib/fingerprint.psql

-- Figures of every pool: sku@warehouse[activity] on_hand/reserved/sold/available status slots threshold.
CREATE FUNCTION pg_temp.stock() RETURNS text LANGUAGE sql AS $st$
    SELECT coalesce(string_agg(format('%s@%s%s %s/%s/%s/%s %s s%s t%s', sku, warehouse,
                                      coalesce('[' || activity || ']', ''), on_hand, reserved,
                                      sold, available, status, slot_count, low_stock_threshold),
                               '; ' ORDER BY pool_id), '')
      FROM commerce.stock;
$st$;

-- fixtures: tenant t1 with SKUs A1 (100 received in main), A2 (never
-- received), warehouse east; A1 has 30 units reserved. Tenant t2 with SKU B1.
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.upsert_warehouse(:t, 'east', 'East warehouse') AS east \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A1', 'SKU A1', 1000) AS a1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A2', 'SKU A2', 1000) AS a2 \gset
SELECT commerce.upsert_product(:t2, 'Q1', 'Product of t2') AS q1 \gset
SELECT commerce.upsert_sku(:t2, 'Q1', 'B1', 'SKU of t2', 2000) AS b1 \gset
SELECT commerce.receive_stock(:t2, 'rcv-b1', 'B1', 10) AS pool_b1 \gset
SELECT commerce.receive_stock(:t, 'rcv-1', 'A1', 100) AS pool_a1 \gset
SELECT (commerce.reserve_sku(:t, 'res-1', 'cart-1', 'A1', 30)).reservation_id AS r1 \gset
SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT pg_temp.stock() AS st0 \gset
SELECT count(*) AS log0 FROM commerce.request_log \gset

SELECT is(:'st0'::text, 'B1@main 10/0/0/10 open s8 t0; A1@main 100/30/0/70 open s8 t0', 'fixture stock as expected');

-- receive_stock ----------------------------------------------------------
SELECT throws_ok($$SELECT commerce.receive_stock(NULL, 'rcv-x', 'A1', 5)$$,
    '22004', 'argument p_tenant must not be null', 'receive_stock: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.receive_stock(999999, 'rcv-x', 'A1', 5)$$,
    'PT404', 'tenant "999999" not found', 'receive_stock: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'A1', 0)$$, :t),
    '22023', 'invalid value for p_qty', 'receive_stock: qty 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'A1', -5)$$, :t),
    '22023', 'invalid value for p_qty', 'receive_stock: negative qty -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'A1', 1000000001)$$, :t),
    '22023', 'invalid value for p_qty', 'receive_stock: qty above 1000000000 -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'A1', NULL)$$, :t),
    '22004', 'argument p_qty must not be null', 'receive_stock: NULL qty -> 22004');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', NULL, 5)$$, :t),
    '22004', 'argument p_sku must not be null', 'receive_stock: NULL SKU -> 22004');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'NOPE', 5)$$, :t),
    'PT404', 'SKU "NOPE" not found', 'receive_stock: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'B1', 5)$$, :t),
    'PT404', 'SKU "B1" not found', 'receive_stock: other tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'A1', 5, 'nowhere')$$, :t),
    'PT404', 'warehouse "nowhere" not found', 'receive_stock: unknown warehouse -> PT404');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, NULL, 'A1', 5)$$, :t),
    '22004', 'argument p_request_id must not be null', 'receive_stock: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, '', 'A1', 5)$$, :t),
    '22023', 'invalid value for p_request_id', 'receive_stock: empty request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, repeat('r', 201), 'A1', 5)$$, :t),
    '22023', 'invalid value for p_request_id', 'receive_stock: 201-character request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-1', 'A1', 50)$$, :t),
    '23505', 'request_id "rcv-1" was already used for a different receive_stock',
    'receive_stock: request_id reused with another qty -> 23505');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-1', 'A2', 100)$$, :t),
    '23505', 'request_id "rcv-1" was already used for a different receive_stock',
    'receive_stock: request_id reused for another SKU -> 23505');
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-1', 'A1', 100, 'east')$$, :t),
    '23505', 'request_id "rcv-1" was already used for a different receive_stock',
    'receive_stock: request_id reused for another warehouse -> 23505');
SELECT is(pg_temp.stock(), :'st0', 'receive_stock: stock unchanged after bad calls');
SELECT is((SELECT count(*) FROM commerce.request_log), :log0::bigint, 'receive_stock: request_log unchanged');
SELECT is(pg_temp.fingerprint(), :'fp0', 'receive_stock: no commerce table changed');
-- a retry with the same parameters returns the same pool and counts once
SELECT is(commerce.receive_stock(:t, 'rcv-1', 'A1', 100), :pool_a1::bigint,
    'receive_stock: same request_id, same parameters -> same pool');
SELECT is(pg_temp.stock(), :'st0', 'receive_stock: the retry did not count the stock twice');
SELECT is(pg_temp.fingerprint(), :'fp0', 'receive_stock: the retry changed nothing');

-- adjust_stock -----------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', 0)$$, :t),
    '22023', 'invalid value for p_delta', 'adjust_stock: delta 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', NULL)$$, :t),
    '22004', 'argument p_delta must not be null', 'adjust_stock: NULL delta -> 22004');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', -1000000001)$$, :t),
    '22023', 'invalid value for p_delta', 'adjust_stock: delta beyond 1000000000 -> 22023');
SELECT throws_ok($$SELECT commerce.adjust_stock(999999, 'adj-x', 'A1', 1)$$,
    'PT404', 'tenant "999999" not found', 'adjust_stock: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', -71)$$, :t),
    'PT409', 'insufficient stock to remove 71 units',
    'adjust_stock: removing more than available (70 of 100, 30 reserved) -> PT409');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', -101)$$, :t),
    'PT409', 'insufficient stock to remove 101 units', 'adjust_stock: removing more than on hand -> PT409');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A2', 5)$$, :t),
    'PT404', 'stock pool "A2@main" not found', 'adjust_stock: SKU without a pool yet -> PT404');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', 5, 'east')$$, :t),
    'PT404', 'stock pool "A1@east" not found', 'adjust_stock: no pool in that warehouse -> PT404');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'NOPE', 5)$$, :t),
    'PT404', 'SKU "NOPE" not found', 'adjust_stock: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'B1', 5)$$, :t),
    'PT404', 'SKU "B1" not found', 'adjust_stock: other tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, '', 'A1', 5)$$, :t),
    '22023', 'invalid value for p_request_id', 'adjust_stock: empty request_id -> 22023');

-- stock_take -------------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.stock_take(%s, 'take-x', 'A1', -1)$$, :t),
    '22023', 'invalid value for p_counted', 'stock_take: negative count -> 22023');
SELECT throws_ok(format($$SELECT commerce.stock_take(%s, 'take-x', 'A1', NULL)$$, :t),
    '22004', 'argument p_counted must not be null', 'stock_take: NULL count -> 22004');
SELECT throws_ok(format($$SELECT commerce.stock_take(%s, 'take-x', 'A1', 29)$$, :t),
    'PT409', 'insufficient stock to write off 71 units', 'stock_take: count below reserved + sold (30) -> PT409');
SELECT throws_ok(format($$SELECT commerce.stock_take(%s, 'take-x', 'A2', 5)$$, :t),
    'PT404', 'stock pool "A2@main" not found', 'stock_take: SKU without a pool yet -> PT404');
SELECT throws_ok(format($$SELECT commerce.stock_take(%s, NULL, 'A1', 100)$$, :t),
    '22004', 'argument p_request_id must not be null', 'stock_take: NULL request_id -> 22004');

-- set_stock_policy -------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'A1', NULL, 0)$$, :t),
    '22023', 'invalid value for p_slots', 'set_stock_policy: 0 slots -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'A1', NULL, 300)$$, :t),
    '22023', 'invalid value for p_slots', 'set_stock_policy: 300 slots -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'A1', NULL, 4)$$, :t),
    '22023', 'invalid value for p_slots', 'set_stock_policy: shrinking 8 slots to 4 -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'A1', 5, 4)$$, :t),
    '22023', 'invalid value for p_slots', 'set_stock_policy: valid threshold with shrinking slots -> 22023 (threshold not applied)');
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'A1', -1)$$, :t),
    '22023', 'invalid value for p_low_stock_threshold', 'set_stock_policy: negative threshold -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'NOPE', 5)$$, :t),
    'PT404', 'SKU "NOPE" not found', 'set_stock_policy: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_stock_policy(%s, 'A1', 5, NULL, 'nowhere')$$, :t),
    'PT404', 'warehouse "nowhere" not found', 'set_stock_policy: unknown warehouse -> PT404');
SELECT throws_ok($$SELECT commerce.set_stock_policy(999999, 'A1', 5)$$,
    'PT404', 'tenant "999999" not found', 'set_stock_policy: unknown tenant -> PT404');
SELECT throws_ok($$SELECT commerce.set_stock_policy(NULL, 'A1', 5)$$,
    '22004', 'argument p_tenant must not be null', 'set_stock_policy: NULL tenant -> 22004');
SELECT is((SELECT count(*) FROM commerce.stock_slot WHERE tenant_id = :t AND pool_id = :pool_a1), 8::bigint,
    'set_stock_policy: A1 still has 8 slot rows');

-- allocate_stock / end_allocation ----------------------------------------
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'auction', 'A1', 10)$$, :t),
    '22023', 'invalid value for p_activity_kind', 'allocate_stock: unknown activity kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', 0)$$, :t),
    '22023', 'invalid value for p_qty', 'allocate_stock: qty 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', -3)$$, :t),
    '22023', 'invalid value for p_qty', 'allocate_stock: negative qty -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', 71)$$, :t),
    'PT409', 'insufficient stock to allocate 71 units', 'allocate_stock: more than available (70) -> PT409');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', 10, NULL, '2 days')$$, :t),
    '22023', 'invalid value for p_hold', 'allocate_stock: hold beyond max_hold (1 day) -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', 10, NULL, '0 seconds')$$, :t),
    '22023', 'invalid value for p_hold', 'allocate_stock: hold of 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', 10, NULL, NULL, 0)$$, :t),
    '22023', 'invalid value for p_slots', 'allocate_stock: 0 slots -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', NULL, 'flash_sale', 'A1', 10)$$, :t),
    '22004', 'argument p_activity must not be null', 'allocate_stock: NULL activity -> 22004');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', NULL, 'A1', 10)$$, :t),
    '22004', 'argument p_activity_kind must not be null', 'allocate_stock: NULL activity kind -> 22004');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A1', NULL)$$, :t),
    '22004', 'argument p_qty must not be null', 'allocate_stock: NULL qty -> 22004');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'A2', 10)$$, :t),
    'PT404', 'stock pool "A2@main" not found', 'allocate_stock: SKU never received -> PT404');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'NOPE', 10)$$, :t),
    'PT404', 'SKU "NOPE" not found', 'allocate_stock: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs1', 'flash_sale', 'B1', 10)$$, :t),
    'PT404', 'SKU "B1" not found', 'allocate_stock: other tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.end_allocation(%s, 'end-x', 'nope')$$, :t),
    'PT404', 'activity "nope" not found', 'end_allocation: unknown activity -> PT404');
SELECT throws_ok(format($$SELECT commerce.end_allocation(%s, 'end-x', NULL)$$, :t),
    '22004', 'argument p_activity must not be null', 'end_allocation: NULL activity -> 22004');
SELECT throws_ok(format($$SELECT commerce.end_allocation(%s, NULL, 'fs1')$$, :t),
    '22004', 'argument p_request_id must not be null', 'end_allocation: NULL request_id -> 22004');
SELECT throws_ok($$SELECT commerce.end_allocation(999999, 'end-x', 'fs1')$$,
    'PT404', 'tenant "999999" not found', 'end_allocation: unknown tenant -> PT404');

-- the append-only ledger and the slot CHECK ------------------------------
SELECT throws_ok(format($$UPDATE commerce.stock_movement SET d_on_hand = 1000 WHERE tenant_id = %s$$, :t),
    'PT403', 'stock_movement is append-only', 'direct UPDATE of stock_movement -> PT403');
SELECT throws_ok(format($$DELETE FROM commerce.stock_movement WHERE tenant_id = %s$$, :t),
    'PT403', 'stock_movement is append-only', 'direct DELETE from stock_movement -> PT403');
SELECT throws_ok(format($$UPDATE commerce.stock_slot SET reserved = on_hand + 1 WHERE tenant_id = %s AND pool_id = %s AND slot_no = 0$$, :t, :pool_a1),
    '23514', 'new row for relation "stock_slot" violates check constraint "stock_slot_no_oversell"',
    'direct UPDATE of a slot into oversell -> 23514');
-- the slot and line checks are C triggers (issue 17): every figure, INSERT
-- and UPDATE alike
SELECT throws_ok(format($$UPDATE commerce.stock_slot SET sold = -1 WHERE tenant_id = %s AND pool_id = %s AND slot_no = 0$$, :t, :pool_a1),
    '23514', 'new row for relation "stock_slot" violates check constraint "stock_slot_no_oversell"',
    'direct UPDATE of a slot to negative sold -> 23514');
SELECT throws_ok(format($$UPDATE commerce.stock_slot SET reserved = -1, on_hand = on_hand - 1 WHERE tenant_id = %s AND pool_id = %s AND slot_no = 0$$, :t, :pool_a1),
    '23514', 'new row for relation "stock_slot" violates check constraint "stock_slot_no_oversell"',
    'direct UPDATE of a slot to negative reserved -> 23514');
SELECT throws_ok(format($$UPDATE commerce.stock_slot SET reserved = 9223372036854775807, sold = 9223372036854775807 WHERE tenant_id = %s AND pool_id = %s AND slot_no = 0$$, :t, :pool_a1),
    '23514', 'new row for relation "stock_slot" violates check constraint "stock_slot_no_oversell"',
    'direct UPDATE of a slot whose reserved + sold overflows -> 23514');
SELECT throws_ok(format($$INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no, on_hand, reserved) VALUES (%s, %s, 999, 1, 2)$$, :t, :pool_a1),
    '23514', 'new row for relation "stock_slot" violates check constraint "stock_slot_no_oversell"',
    'direct INSERT of an oversold slot -> 23514');
SELECT throws_ok(format($$INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no) VALUES (%s, %s, -1)$$, :t, :pool_a1),
    '23514', 'new row for relation "stock_slot" violates check constraint "stock_slot_no_oversell"',
    'direct INSERT of a negative slot number -> 23514');
SELECT throws_ok(format($$UPDATE commerce.stock_slot SET reserved = NULL WHERE tenant_id = %s AND pool_id = %s AND slot_no = 0$$, :t, :pool_a1),
    '23502', NULL, 'direct UPDATE of a slot to NULL reserved: the trigger lets NOT NULL refuse it -> 23502');
SELECT throws_ok(format($$UPDATE commerce.reservation_line SET returned_qty = qty + 1 WHERE tenant_id = %s$$, :t),
    '23514', 'new row for relation "reservation_line" violates check constraint "reservation_line_check"',
    'reservation_line returned_qty above qty -> 23514');
SELECT throws_ok(format($$UPDATE commerce.reservation_line SET returned_qty = -1 WHERE tenant_id = %s$$, :t),
    '23514', 'new row for relation "reservation_line" violates check constraint "reservation_line_check"',
    'reservation_line negative returned_qty -> 23514');
SELECT throws_ok(format($$INSERT INTO commerce.reservation_line (tenant_id, reservation_id, line_no, sku_id, pool_id, slot_no, qty) VALUES (%s, 999999, 1, 1, %s, 0, 0)$$, :t, :pool_a1),
    '23514', 'new row for relation "reservation_line" violates check constraint "reservation_line_check"',
    'reservation_line of qty 0 -> 23514');
SELECT throws_ok($$SELECT commerce.stock_slot_guard()$$, '39P01', 'stock_slot_guard: not called by trigger manager',
    'the slot guard cannot be called as a function');

SELECT is(pg_temp.stock(), :'st0', 'inventory: stock figures unchanged after all bad calls');
SELECT is((SELECT count(*) FROM commerce.request_log), :log0::bigint, 'inventory: request_log unchanged');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'inventory: stock invariants hold');
SELECT is(pg_temp.fingerprint(), :'fp0', 'inventory: no commerce table changed');

-- request_id reuse on the other idempotent entry points ------------------
SELECT is(commerce.adjust_stock(:t, 'adj-1', 'A1', 5), 105::bigint, 'adjust_stock: a valid adjustment works');
SELECT is(commerce.stock_take(:t, 'take-1', 'A1', 100), 100::bigint, 'stock_take: a valid count works');
SELECT commerce.allocate_stock(:t, 'alloc-1', 'fs1', 'flash_sale', 'A1', 10) AS pool_fs1 \gset
SELECT is(commerce.end_allocation(:t, 'end-1', 'fs1'), 10::bigint, 'end_allocation: a valid end returns the 10 units');
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT pg_temp.stock() AS st1 \gset
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-1', 'A1', 6)$$, :t),
    '23505', 'request_id "adj-1" was already used for a different adjust_stock',
    'adjust_stock: request_id reused with another delta -> 23505');
SELECT throws_ok(format($$SELECT commerce.stock_take(%s, 'take-1', 'A1', 90)$$, :t),
    '23505', 'request_id "take-1" was already used for a different stock_take',
    'stock_take: request_id reused with another count -> 23505');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-1', 'fs1', 'flash_sale', 'A1', 11)$$, :t),
    '23505', 'request_id "alloc-1" was already used for a different allocate_stock',
    'allocate_stock: request_id reused with another qty -> 23505');
SELECT throws_ok(format($$SELECT commerce.end_allocation(%s, 'end-1', 'fs2')$$, :t),
    '23505', 'request_id "end-1" was already used for a different end_allocation',
    'end_allocation: request_id reused for another activity -> 23505');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-2', 'fs1', 'flash_sale', 'A1', 5)$$, :t),
    'PT409', 'activity "fs1" already has a pool for SKU "A1" (status closed)',
    'allocate_stock: allocating to an ended activity -> PT409');
SELECT is(commerce.adjust_stock(:t, 'adj-1', 'A1', 5), 105::bigint, 'adjust_stock: same request_id, same delta -> first result');
-- once a SKU is stocked in two warehouses, calls must name one
SELECT commerce.receive_stock(:t, 'rcv-east', 'A1', 7, 'east') AS pool_a1_east \gset
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT pg_temp.stock() AS st1 \gset
SELECT throws_ok(format($$SELECT commerce.receive_stock(%s, 'rcv-x', 'A1', 5)$$, :t),
    '22023', 'invalid value for p_warehouse', 'receive_stock: SKU in two warehouses, none named -> 22023');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', -1)$$, :t),
    '22023', 'invalid value for p_warehouse', 'adjust_stock: SKU in two warehouses, none named -> 22023');
SELECT throws_ok(format($$SELECT commerce.allocate_stock(%s, 'alloc-x', 'fs3', 'play', 'A1', 1)$$, :t),
    '22023', 'invalid value for p_warehouse', 'allocate_stock: SKU in two warehouses, none named -> 22023');
SELECT throws_ok(format($$SELECT commerce.adjust_stock(%s, 'adj-x', 'A1', -8, 'east')$$, :t),
    'PT409', 'insufficient stock to remove 8 units', 'adjust_stock: more than the east pool holds (7) -> PT409');
SELECT is(pg_temp.stock(), :'st1', 'idempotency: stock unchanged by refused and repeated calls');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'idempotency: stock invariants hold');
SELECT is(pg_temp.fingerprint(), :'fp1', 'idempotency: no commerce table changed');

SELECT * FROM finish();
ROLLBACK;

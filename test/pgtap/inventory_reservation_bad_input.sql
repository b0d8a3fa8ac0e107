-- inventory_reservation_bad_input.sql: bad calls of reserve, reserve_sku,
-- confirm/release/extend_reservation, return_stock and expire_reservations,
-- and direct writes that break the reservation state machine, are refused
-- with the documented SQLSTATE and change nothing (a cart is reserved all or
-- nothing).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(153);

\ir lib/fingerprint.psql

-- Figures of every pool: sku@warehouse[activity] on_hand/reserved/sold/available status.
CREATE FUNCTION pg_temp.stock() RETURNS text LANGUAGE sql AS $st$
    SELECT coalesce(string_agg(format('%s@%s%s %s/%s/%s/%s %s', sku, warehouse,
                                      coalesce('[' || activity || ']', ''), on_hand, reserved,
                                      sold, available, status),
                               '; ' ORDER BY pool_id), '')
      FROM commerce.stock;
$st$;

-- Reservation states: id:status:expires_at, in id order.
CREATE FUNCTION pg_temp.reservations() RETURNS text LANGUAGE sql AS $rs$
    SELECT coalesce(string_agg(format('%s:%s:%s', reservation_id, status, expires_at), ' '
                               ORDER BY tenant_id, reservation_id), '')
      FROM commerce.reservation;
$rs$;

-- fixtures, at 2030-01-01 00:00 UTC. Tenant t1: A1 100 received in main,
-- 10 allocated to live room 'live1', 5 allocated to 'old' and ended; A2
-- never received; A3 5 received; A4 5 in main and 5 in east. Reservations:
-- r1 (A1 x2, active until 00:15), r2 (A1 x3, confirmed), r3 (A3 x1, active
-- until 00:05). Tenant t2: B1 10 received, reservation rb (B1 x1, active).
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SET LOCAL TimeZone = 'UTC';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.create_tenant('t2', 'Tenant two') AS t2 \gset
SELECT commerce.upsert_warehouse(:t, 'east', 'East warehouse') AS east \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A1', 'SKU A1', 1000) AS a1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A2', 'SKU A2', 1000) AS a2 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A3', 'SKU A3', 1000) AS a3 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A4', 'SKU A4', 1000) AS a4 \gset
SELECT commerce.receive_stock(:t, 'rcv-a1', 'A1', 100) AS pool_a1 \gset
SELECT commerce.receive_stock(:t, 'rcv-a3', 'A3', 5) AS pool_a3 \gset
SELECT commerce.receive_stock(:t, 'rcv-a4m', 'A4', 5) AS pool_a4m \gset
SELECT commerce.receive_stock(:t, 'rcv-a4e', 'A4', 5, 'east') AS pool_a4e \gset
SELECT commerce.allocate_stock(:t, 'alloc-live1', 'live1', 'live_room', 'A1', 10) AS pool_live1 \gset
SELECT commerce.allocate_stock(:t, 'alloc-old', 'old', 'flash_sale', 'A1', 5) AS pool_old \gset
SELECT commerce.end_allocation(:t, 'end-old', 'old') AS old_returned \gset
SELECT (commerce.reserve_sku(:t, 'res-1', 'cart-1', 'A1', 2)).reservation_id AS r1 \gset
SELECT (commerce.reserve_sku(:t, 'res-2', 'cart-2', 'A1', 3)).reservation_id AS r2 \gset
SELECT (commerce.confirm_reservation(:t, :r2, 'conf-2')).status AS r2_status \gset
SELECT (commerce.reserve(:t, 'res-3', 'cart-3', '{"lines":[{"sku":"A3","qty":1}]}', '5 minutes')).reservation_id AS r3 \gset
SELECT commerce.upsert_product(:t2, 'Q1', 'Product of t2') AS q1 \gset
SELECT commerce.upsert_sku(:t2, 'Q1', 'B1', 'SKU of t2', 2000) AS b1 \gset
SELECT commerce.receive_stock(:t2, 'rcv-b1', 'B1', 10) AS pool_b1 \gset
SELECT (commerce.reserve_sku(:t2, 'res-b', 'cart-b', 'B1', 1)).reservation_id AS rb \gset

SELECT pg_temp.fingerprint() AS fp0 \gset
SELECT pg_temp.stock() AS st0 \gset
SELECT pg_temp.reservations() AS rs0 \gset
SELECT is(:'st0'::text,
    'A1@main 90/2/3/85 open; A3@main 5/1/0/4 open; A4@main 5/0/0/5 open; A4@east 5/0/0/5 open; '
    || 'A1@main[live1] 10/0/0/10 open; A1@main[old] 0/0/0/0 closed; B1@main 10/1/0/9 open',
    'fixture stock as expected');

-- reserve / reserve_sku: NULL and malformed arguments ---------------------
SELECT throws_ok($$SELECT commerce.reserve(NULL, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1}]}')$$,
    '22004', 'argument p_tenant must not be null', 'reserve: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, NULL, 'h', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22004', 'argument p_request_id must not be null', 'reserve: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', NULL, '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22004', 'argument p_holder must not be null', 'reserve: NULL holder -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', NULL)$$, :t),
    '22004', 'argument p_cart must not be null', 'reserve: NULL cart -> 22004');
SELECT throws_ok($$SELECT commerce.reserve_sku(NULL, 'rx', 'h', 'A1', 1)$$,
    '22004', 'argument p_tenant must not be null', 'reserve_sku: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, NULL, 'h', 'A1', 1)$$, :t),
    '22004', 'argument p_request_id must not be null', 'reserve_sku: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', NULL, 'A1', 1)$$, :t),
    '22004', 'argument p_holder must not be null', 'reserve_sku: NULL holder -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', NULL, 1)$$, :t),
    '22004', 'argument p_sku must not be null', 'reserve_sku: NULL SKU -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', NULL)$$, :t),
    '22004', 'argument p_qty must not be null', 'reserve_sku: NULL qty -> 22004');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, '', 'h', 'A1', 1)$$, :t),
    '22023', 'invalid value for p_request_id', 'reserve_sku: empty request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, repeat('r', 201), 'h', 'A1', 1)$$, :t),
    '22023', 'invalid value for p_request_id', 'reserve_sku: 201-character request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', '', '{"lines":[{"sku":"A1","qty":1}]}')$$, :t),
    '22023', 'invalid value for p_holder', 'reserve: empty holder -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', repeat('h', 201), 'A1', 1)$$, :t),
    '22023', 'invalid value for p_holder', 'reserve_sku: 201-character holder -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 0)$$, :t),
    '22023', 'invalid value for p_qty', 'reserve_sku: qty 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', -1)$$, :t),
    '22023', 'invalid value for p_qty', 'reserve_sku: qty -1 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 1000001)$$, :t),
    '22023', 'invalid value for p_qty', 'reserve_sku: qty 1000001 -> 22023');
SELECT throws_ok($$SELECT commerce.reserve_sku(999999, 'rx', 'h', 'A1', 1)$$,
    'PT404', 'tenant "999999" not found', 'reserve_sku: unknown tenant -> PT404');

-- reserve: the cart JSON ---------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[')$$, :t),
    '22P02', 'malformed cart JSON', 'reserve: truncated JSON -> 22P02');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', 'not json')$$, :t),
    '22P02', 'malformed cart JSON', 'reserve: not JSON at all -> 22P02');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '')$$, :t),
    '22P02', 'malformed cart JSON', 'reserve: empty text -> 22P02');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","sku":"A3","qty":1}]}')$$, :t),
    '22P02', 'malformed cart JSON', 'reserve: duplicate key in a line -> 22P02');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":{"sku":"A1","qty":1}}')$$, :t),
    '22023', 'invalid cart: lines: expected an array of lines', 'reserve: lines not an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"items":[{"sku":"A1","qty":1}]}')$$, :t),
    '22023', 'invalid cart: items: unknown key', 'reserve: no lines key, another key -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{}')$$, :t),
    '22023', 'invalid cart: lines: expected an array of lines', 'reserve: empty object -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[]}')$$, :t),
    '22023', 'invalid cart: lines: empty', 'reserve: empty lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '[]')$$, :t),
    '22023', 'invalid cart: lines: empty', 'reserve: empty bare array -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', (SELECT json_build_object('lines', json_agg(json_build_object('sku', 'A1', 'qty', 1)))::text FROM generate_series(1, 201)))$$, :t),
    '22023', 'invalid cart: lines: too many lines', 'reserve: 201 lines -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1}],"coupon":"X"}')$$, :t),
    '22023', 'invalid cart: coupon: unknown key', 'reserve: unknown key in the cart -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1,"price":100}]}')$$, :t),
    '22023', 'invalid cart: lines[0].price: unknown key', 'reserve: unknown key in a line -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[1]}')$$, :t),
    '22023', 'invalid cart: lines[0]: expected an object', 'reserve: a line that is not an object -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"qty":1}]}')$$, :t),
    '22023', 'invalid cart: lines[0].sku: missing', 'reserve: line without sku -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":7,"qty":1}]}')$$, :t),
    '22023', 'invalid cart: lines[0].sku: expected a code (a string of 1 to 63 characters)',
    'reserve: sku not a string -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"","qty":1}]}')$$, :t),
    '22023', 'invalid cart: lines[0].sku: expected a code (a string of 1 to 63 characters)',
    'reserve: empty sku -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1"}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: missing', 'reserve: line without qty -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":"2"}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: expected an integer', 'reserve: qty as a string "2" -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":2.5}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: expected an integer', 'reserve: qty 2.5 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":null}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: expected an integer', 'reserve: qty null -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":0}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: out of range', 'reserve: qty 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":-1}]}')$$, :t),
    '22023', 'invalid cart: lines[0].qty: out of range', 'reserve: qty -1 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1},{"sku":"A3","qty":1000001}]}')$$, :t),
    '22023', 'invalid cart: lines[1].qty: out of range', 'reserve: qty 1000001 on the second line -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":600000},{"sku":"A1","qty":600000}]}')$$, :t),
    '22023', 'invalid cart: SKU "A1" totals more than 1000000 units', 'reserve: one SKU summing past 1000000 -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1,"warehouse":5}]}')$$, :t),
    '22023', 'invalid cart: lines[0].warehouse: expected a code (a string of 1 to 63 characters)',
    'reserve: warehouse not a string -> 22023');

-- reserve / reserve_sku: what the cart names -----------------------------
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"NOPE","qty":1}]}')$$, :t),
    'PT404', 'SKU "NOPE" not found', 'reserve: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'NOPE', 1)$$, :t),
    'PT404', 'SKU "NOPE" not found', 'reserve_sku: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'B1', 1)$$, :t),
    'PT404', 'SKU "B1" not found', 'reserve_sku: other tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1},{"sku":"B1","qty":1}]}')$$, :t),
    'PT404', 'SKU "B1" not found', 'reserve: cart with another tenant''s SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A2', 1)$$, :t),
    'PT409', 'insufficient stock for SKU "A2"', 'reserve_sku: SKU never received -> PT409');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A3', 5)$$, :t),
    'PT409', 'insufficient stock for SKU "A3"', 'reserve_sku: more than available (4) -> PT409');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 86)$$, :t),
    'PT409', 'insufficient stock for SKU "A1"', 'reserve_sku: 86 of A1 (85 available, spread over slots) -> PT409');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":2},{"sku":"A3","qty":5}]}')$$, :t),
    'PT409', 'insufficient stock for SKU "A3"', 'reserve: 2-line cart, second line short -> PT409');
SELECT is((SELECT format('%s/%s/%s', on_hand, reserved, sold) FROM commerce.stock WHERE tenant_id = :t AND pool_id = :pool_a1),
    '90/2/3', 'reserve: the refused 2-line cart left the first line''s A1 stock untouched (all or nothing)');
SELECT is((SELECT count(*) FROM commerce.stock_movement WHERE tenant_id = :t AND kind = 'reserve'), 3::bigint,
    'reserve: the refused 2-line cart left no reserve movement');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A3","qty":1},{"sku":"A1","qty":86}]}')$$, :t),
    'PT409', 'insufficient stock for SKU "A1"', 'reserve: 2-line cart, first line short -> PT409');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A4', 1)$$, :t),
    '22023', 'SKU "A4" is stocked in several warehouses', 'reserve_sku: SKU in two warehouses, none named -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 1, NULL, NULL, 'nowhere')$$, :t),
    'PT404', NULL, 'reserve_sku: unknown warehouse -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 1, '0 seconds')$$, :t),
    '22023', 'invalid value for p_ttl', 'reserve_sku: ttl 0 seconds -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 1, '-5 minutes')$$, :t),
    '22023', 'invalid value for p_ttl', 'reserve_sku: negative ttl -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1}]}', '2 days')$$, :t),
    '22023', 'invalid value for p_ttl', 'reserve: ttl 2 days (max_hold 1 day) -> 22023');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 1, NULL, 'nope')$$, :t),
    'PT404', 'activity "nope" has no stock of SKU "A1"', 'reserve_sku: unknown activity -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A3', 1, NULL, 'live1')$$, :t),
    'PT404', 'activity "live1" has no stock of SKU "A3"', 'reserve_sku: activity without that SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'rx', 'h', '{"lines":[{"sku":"A1","qty":1}]}', NULL, 'old')$$, :t),
    'PT409', 'activity "old" has ended', 'reserve: closed activity -> PT409');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'rx', 'h', 'A1', 11, NULL, 'live1')$$, :t),
    'PT409', 'insufficient stock for SKU "A1"', 'reserve_sku: more than the activity holds (10) -> PT409');
-- request_id reuse
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'res-1', 'cart-1', 'A1', 3)$$, :t),
    '23505', 'request_id "res-1" was already used for a different reservation',
    'reserve_sku: request_id reused with another qty -> 23505');
SELECT throws_ok(format($$SELECT commerce.reserve_sku(%s, 'res-1', 'cart-9', 'A1', 2)$$, :t),
    '23505', 'request_id "res-1" was already used for a different reservation',
    'reserve_sku: request_id reused by another holder -> 23505');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'res-1', 'cart-1', '{"lines":[{"sku":"A1","qty":2},{"sku":"A3","qty":1}]}')$$, :t),
    '23505', 'request_id "res-1" was already used for a different reservation',
    'reserve: request_id reused with a different cart -> 23505');
SELECT throws_ok(format($$SELECT commerce.reserve(%s, 'res-2', 'cart-2', '{"lines":[{"sku":"A3","qty":3}]}')$$, :t),
    '23505', 'request_id "res-2" was already used for a different reservation',
    'reserve: request_id of a confirmed reservation reused with a different cart -> 23505');

SELECT is(pg_temp.stock(), :'st0', 'reserve: stock figures unchanged (nothing reserved by refused carts)');
SELECT is((SELECT count(*) FROM commerce.reservation), 4::bigint, 'reserve: no reservation created');
SELECT is((SELECT count(*) FROM commerce.reservation_line), 4::bigint, 'reserve: no reservation line created');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'reserve: stock invariants hold');
SELECT is(pg_temp.fingerprint(), :'fp0', 'reserve: no commerce table changed');
-- retries of the first calls return the first reservation and take nothing more
SELECT is((commerce.reserve_sku(:t, 'res-1', 'cart-1', 'A1', 2)).reservation_id, :r1::bigint,
    'reserve_sku: same request_id, same call -> same reservation');
SELECT is((SELECT (r).reservation_id || ':' || (r).status
             FROM (SELECT commerce.reserve(:t, 'res-1', 'cart-1', '{"lines":[{"sku":"A1","qty":1},{"sku":"A1","qty":1}]}') AS r) x),
    :r1 || ':active', 'reserve: same request_id, the same units as two lines -> same reservation');
SELECT is(pg_temp.fingerprint(), :'fp0', 'reserve: retries changed nothing');

-- confirm / release / extend: NULLs, unknown ids, bad intervals, ended reservations
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(NULL, %s, 'c-x')$$, :r1),
    '22004', 'argument p_tenant must not be null', 'confirm_reservation: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, NULL, 'c-x')$$, :t),
    '22004', 'argument p_reservation must not be null', 'confirm_reservation: NULL reservation -> 22004');
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, %s, NULL)$$, :t, :r1),
    '22004', 'argument p_request_id must not be null', 'confirm_reservation: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, %s, '')$$, :t, :r1),
    '22023', 'invalid value for p_request_id', 'confirm_reservation: empty request_id -> 22023');
SELECT throws_ok(format($$SELECT commerce.release_reservation(NULL, %s, 'rel-x')$$, :r1),
    '22004', 'argument p_tenant must not be null', 'release_reservation: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, NULL, 'rel-x')$$, :t),
    '22004', 'argument p_reservation must not be null', 'release_reservation: NULL reservation -> 22004');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, %s, NULL)$$, :t, :r1),
    '22004', 'argument p_request_id must not be null', 'release_reservation: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(NULL, %s, 'ext-x', '5 minutes')$$, :r1),
    '22004', 'argument p_tenant must not be null', 'extend_reservation: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, NULL, 'ext-x', '5 minutes')$$, :t),
    '22004', 'argument p_reservation must not be null', 'extend_reservation: NULL reservation -> 22004');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, NULL, '5 minutes')$$, :t, :r1),
    '22004', 'argument p_request_id must not be null', 'extend_reservation: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-x', NULL)$$, :t, :r1),
    '22004', 'argument p_by must not be null', 'extend_reservation: NULL interval -> 22004');
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, 999999, 'c-x')$$, :t),
    'PT404', 'reservation 999999 not found', 'confirm_reservation: unknown id -> PT404');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, 999999, 'rel-x')$$, :t),
    'PT404', 'reservation 999999 not found', 'release_reservation: unknown id -> PT404');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, 999999, 'ext-x', '5 minutes')$$, :t),
    'PT404', 'reservation 999999 not found', 'extend_reservation: unknown id -> PT404');
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, %s, 'c-x')$$, :t2, :r1),
    'PT404', format('reservation %s not found', :r1), 'confirm_reservation: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, %s, 'rel-x')$$, :t, :rb),
    'PT404', format('reservation %s not found', :rb), 'release_reservation: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-x', '5 minutes')$$, :t, :rb),
    'PT404', format('reservation %s not found', :rb), 'extend_reservation: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-x', '-1 minute')$$, :t, :r1),
    '22023', 'invalid value for p_by', 'extend_reservation: negative interval -> 22023');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-x', '0 seconds')$$, :t, :r1),
    '22023', 'invalid value for p_by', 'extend_reservation: zero interval -> 22023');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-x', '1 day')$$, :t, :r1),
    '22023', 'invalid value for p_by', 'extend_reservation: past max_hold (1 day after creation) -> 22023');
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, %s, 'conf-2b')$$, :t, :r2),
    'PT409', format('cannot confirm reservation %s: it is already confirmed', :r2),
    'confirm_reservation: confirming again with another request_id -> PT409');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, %s, 'rel-2')$$, :t, :r2),
    'PT409', format('cannot release reservation %s: it is already confirmed', :r2),
    'release_reservation: release after confirm -> PT409');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, %s, 'conf-2')$$, :t, :r2),
    'PT409', format('cannot release reservation %s: it is already confirmed', :r2),
    'release_reservation: release after confirm, with the confirm''s request_id -> PT409');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-2', '5 minutes')$$, :t, :r2),
    'PT409', format('cannot extend reservation %s: it is already confirmed', :r2),
    'extend_reservation: extending a confirmed reservation -> PT409');
SELECT is((commerce.confirm_reservation(:t, :r2, 'conf-2')).status, 'confirmed',
    'confirm_reservation: a retry of the confirming call returns confirmed');
SELECT is(pg_temp.reservations(), :'rs0', 'confirm/release/extend: reservation states and deadlines unchanged');
SELECT is(pg_temp.stock(), :'st0', 'confirm/release/extend: stock figures unchanged');
SELECT is(pg_temp.fingerprint(), :'fp0', 'confirm/release/extend: no commerce table changed');

-- expiry: r3 (deadline 00:05) at 00:10, first before the pump ran, then after
SET LOCAL commerce.now = '2030-01-01 00:10:00+00';
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, %s, 'conf-3')$$, :t, :r3),
    'PT410', format('reservation %s has expired', :r3),
    'confirm_reservation: active but past its deadline, not yet expired by the pump -> PT410');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-3', '5 minutes')$$, :t, :r3),
    'PT410', format('reservation %s has expired', :r3),
    'extend_reservation: active but past its deadline -> PT410');
SELECT is(pg_temp.fingerprint(), :'fp0', 'expiry: refused calls past the deadline changed nothing');
SELECT is(commerce.expire_reservations(), 1, 'expire_reservations: the pump expires r3 only');
SELECT pg_temp.fingerprint() AS fp1 \gset
SELECT pg_temp.stock() AS st1 \gset
SELECT throws_ok(format($$SELECT commerce.confirm_reservation(%s, %s, 'conf-3')$$, :t, :r3),
    'PT410', format('reservation %s has expired', :r3), 'confirm_reservation: expired -> PT410');
SELECT throws_ok(format($$SELECT commerce.release_reservation(%s, %s, 'rel-3')$$, :t, :r3),
    'PT410', format('reservation %s has expired', :r3), 'release_reservation: expired -> PT410');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-3', '5 minutes')$$, :t, :r3),
    'PT410', format('reservation %s has expired', :r3), 'extend_reservation: expired -> PT410');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-x', '1 day')$$, :t, :r1),
    '22023', 'invalid value for p_by', 'extend_reservation: still past max_hold at 00:10 -> 22023');
SELECT throws_ok($$SELECT commerce.expire_reservations(0)$$,
    '22023', 'invalid value for p_limit', 'expire_reservations(0) -> 22023');
SELECT throws_ok($$SELECT commerce.expire_reservations(-1)$$,
    '22023', 'invalid value for p_limit', 'expire_reservations(-1) -> 22023');
SELECT throws_ok($$SELECT commerce.expire_reservations(100001)$$,
    '22023', 'invalid value for p_limit', 'expire_reservations(100001) -> 22023');
SELECT is((SELECT status FROM commerce.reservation WHERE tenant_id = :t AND reservation_id = :r3), 'expired',
    'expiry: r3 stays expired');
SELECT is(pg_temp.stock(), :'st1', 'expiry: stock figures unchanged by refused calls');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'expiry: stock invariants hold');
SELECT is(pg_temp.fingerprint(), :'fp1', 'expiry: no commerce table changed by refused calls');

-- return_stock -------------------------------------------------------------
SELECT throws_ok(format($$SELECT commerce.return_stock(NULL, 'ret-x', %s, 'A1', 1)$$, :r2),
    '22004', 'argument p_tenant must not be null', 'return_stock: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, NULL, %s, 'A1', 1)$$, :t, :r2),
    '22004', 'argument p_request_id must not be null', 'return_stock: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', NULL, 'A1', 1)$$, :t),
    '22004', 'argument p_reservation must not be null', 'return_stock: NULL reservation -> 22004');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, NULL, 1)$$, :t, :r2),
    '22004', 'argument p_sku must not be null', 'return_stock: NULL SKU -> 22004');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A1', NULL)$$, :t, :r2),
    '22004', 'argument p_qty must not be null', 'return_stock: NULL qty -> 22004');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A1', 0)$$, :t, :r2),
    '22023', 'invalid value for p_qty', 'return_stock: qty 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', 999999, 'A1', 1)$$, :t),
    'PT404', 'reservation 999999 not found', 'return_stock: unknown reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A1', 1)$$, :t2, :r2),
    'PT404', format('reservation %s not found', :r2), 'return_stock: other tenant''s reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A1', 1)$$, :t, :r1),
    'PT409', format('cannot return goods of reservation %s: it is active', :r1),
    'return_stock: reservation not confirmed (active) -> PT409');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A3', 1)$$, :t, :r3),
    'PT409', format('cannot return goods of reservation %s: it is expired', :r3),
    'return_stock: reservation not confirmed (expired) -> PT409');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A3', 1)$$, :t, :r2),
    'PT404', format('reservation %s has no line for SKU "A3"', :r2), 'return_stock: SKU not in the reservation -> PT404');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-x', %s, 'A1', 4)$$, :t, :r2),
    '22023', 'cannot return 4 units of SKU "A1"', 'return_stock: more than sold (3) -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp1', 'return_stock: no commerce table changed by refused calls');
SELECT is(commerce.return_stock(:t, 'ret-1', :r2, 'A1', 2), 1::bigint, 'return_stock: returning 2 of 3 works, 1 left');
SELECT pg_temp.fingerprint() AS fp2 \gset
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-2', %s, 'A1', 2)$$, :t, :r2),
    '22023', 'cannot return 2 units of SKU "A1"', 'return_stock: more than left to return (1) -> 22023');
SELECT throws_ok(format($$SELECT commerce.return_stock(%s, 'ret-1', %s, 'A1', 1)$$, :t, :r2),
    '23505', 'request_id "ret-1" was already used for a different return_stock',
    'return_stock: request_id reused with another qty -> 23505');
SELECT is(commerce.return_stock(:t, 'ret-1', :r2, 'A1', 2), 1::bigint, 'return_stock: a retry returns the first result');
SELECT is((SELECT sold FROM commerce.stock WHERE tenant_id = :t AND pool_id = :pool_a1), 1::bigint,
    'return_stock: A1 sold counts the return once (3 - 2)');
SELECT is(pg_temp.fingerprint(), :'fp2', 'return_stock: refused calls and the retry changed nothing');

-- the state machine trigger on direct writes --------------------------------
SELECT throws_ok(format($$UPDATE commerce.reservation SET status = 'active', ended_at = NULL WHERE tenant_id = %s AND reservation_id = %s$$, :t, :r2),
    'PT409', format('reservation %s is already confirmed', :r2),
    'direct UPDATE of a confirmed reservation back to active -> PT409');
SELECT throws_ok(format($$UPDATE commerce.reservation SET status = 'active' WHERE tenant_id = %s AND reservation_id = %s$$, :t, :r2),
    'PT409', format('reservation %s is already confirmed', :r2),
    'direct UPDATE of a confirmed reservation''s status only -> PT409');
SELECT throws_ok(format($$UPDATE commerce.reservation SET status = 'released' WHERE tenant_id = %s AND reservation_id = %s$$, :t, :r3),
    'PT409', format('reservation %s is already expired', :r3),
    'direct UPDATE of an expired reservation to released -> PT409');
SELECT throws_ok(format($$UPDATE commerce.reservation SET expires_at = expires_at - interval '1 minute' WHERE tenant_id = %s AND reservation_id = %s$$, :t, :r1),
    'PT409', 'the deadline of an active reservation can only move later',
    'direct UPDATE moving an active deadline earlier -> PT409');
SELECT throws_ok(format($$UPDATE commerce.reservation SET holder = 'someone-else' WHERE tenant_id = %s AND reservation_id = %s$$, :t, :r1),
    'PT409', 'column holder of a reservation cannot change', 'direct UPDATE of a reservation''s holder -> PT409');
SELECT throws_ok(format($$INSERT INTO commerce.reservation (tenant_id, request_id, holder, status, expires_at, ended_at) VALUES (%s, 'ins-1', 'h', 'confirmed', '2030-01-02', '2030-01-01')$$, :t),
    'PT409', 'a reservation starts active and not ended', 'direct INSERT of a confirmed reservation -> PT409');
SELECT throws_ok(format($$INSERT INTO commerce.reservation (tenant_id, request_id, holder, status, expires_at, ended_at) VALUES (%s, 'ins-2', 'h', 'expired', '2030-01-02', '2030-01-01')$$, :t),
    'PT409', 'a reservation starts active and not ended', 'direct INSERT of an expired reservation -> PT409');
SELECT is(pg_temp.fingerprint(), :'fp2', 'state machine: no commerce table changed');
SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'state machine: stock invariants hold');

-- extend_reservation's request_id: a retry must not extend twice, and a
-- reuse with another interval is refused. Now 00:10, r1 is due at 00:15.
SELECT is((commerce.extend_reservation(:t, :r1, 'ext-A', '5 minutes')).expires_at, '2030-01-01 00:20:00+00'::timestamptz,
    'extend_reservation: ext-A moves r1 to 00:20');
SELECT is((commerce.extend_reservation(:t, :r1, 'ext-B', '5 minutes')).expires_at, '2030-01-01 00:25:00+00'::timestamptz,
    'extend_reservation: ext-B moves r1 to 00:25');
SELECT throws_ok(format($$SELECT commerce.extend_reservation(%s, %s, 'ext-B', '1 hour')$$, :t, :r1),
    '23505', NULL, 'extend_reservation: request_id reused with another interval -> 23505');
SELECT commerce.extend_reservation(:t, :r1, 'ext-A', '5 minutes') AS ext_a_retry \gset
SELECT is((SELECT expires_at FROM commerce.reservation WHERE tenant_id = :t AND reservation_id = :r1),
    '2030-01-01 00:25:00+00'::timestamptz, 'extend_reservation: a retry of ext-A after ext-B does not extend again');

-- expire_pump takes the same batch size check
SELECT throws_ok($$CALL commerce.expire_pump(0)$$,
    '22023', 'invalid value for p_batch', 'expire_pump(0) -> 22023');

-- boundaries: request_id and holder are limited to 200 characters, not bytes
SELECT lives_ok(format($$SELECT commerce.reserve_sku(%s, repeat('é', 200), 'h', 'A1', 1)$$, :t),
    'reserve_sku: a 200-character multibyte request_id is accepted');
SELECT lives_ok(format($$SELECT commerce.reserve_sku(%s, 'res-mb-holder', repeat('é', 200), 'A1', 1)$$, :t),
    'reserve_sku: a 200-character multibyte holder is accepted');

SELECT * FROM finish();
ROLLBACK;

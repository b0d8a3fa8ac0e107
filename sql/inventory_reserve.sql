-- inventory: receive, reserve (one slot, gathered from several, carts),
-- confirm, release, extend, expiry with controlled time, returns,
-- adjustments and stock-take, pre-allocation to an activity, the low-stock
-- alert, and ledger = pool at the end.
-- Each regress test creates the extension and drops it at the end, so ids
-- in messages do not depend on which tests ran before.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-11 20:00:00+08';

SELECT commerce.create_tenant('inv', 'Inventory test') AS t \gset
SELECT commerce.upsert_product(:t, 'TEE', 'T-shirt') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'TEE', 'TEE-S', 'T-shirt S', 9900, 5000) > 0 AS sku_s;
SELECT commerce.upsert_sku(:t, 'TEE', 'TEE-M', 'T-shirt M', 9900, 5000) > 0 AS sku_m;
CREATE TEMP VIEW s AS
SELECT sku, activity, status, on_hand, reserved, sold, available
  FROM commerce.stock WHERE tenant_id = :t ORDER BY pool_id;
CREATE TEMP VIEW r AS
SELECT r.request_id, r.holder, r.status, r.expires_at, r.ended_at,
       string_agg(k.code || ' x' || l.qty, ', ' ORDER BY l.line_no) AS lines
  FROM commerce.reservation r
  JOIN commerce.reservation_line l USING (tenant_id, reservation_id)
  JOIN commerce.sku k ON k.tenant_id = l.tenant_id AND k.sku_id = l.sku_id
 WHERE r.tenant_id = :t
 GROUP BY r.tenant_id, r.reservation_id ORDER BY r.reservation_id;

-- receiving creates the pool; a retry of the same request counts once
SELECT commerce.receive_stock(:t, 'rcv-1', 'TEE-S', 10) = commerce.receive_stock(:t, 'rcv-1', 'TEE-S', 10) AS same_pool;
SELECT commerce.receive_stock(:t, 'rcv-2', 'TEE-M', 5) > 0 AS received;
SELECT * FROM s;

-- one SKU: 3 units out of 10 spread over 8 slots are gathered into one slot
SELECT status, expires_at FROM commerce.reserve_sku(:t, 'res-a', 'order:A', 'TEE-S', 3) \gset a_
SELECT reservation_id AS a FROM commerce.reservation WHERE tenant_id = :t AND request_id = 'res-a' \gset
SELECT :'a_status' AS status, :'a_expires_at' AS expires_at;
-- a cart: lines on the same SKU are summed, all lines or none
SELECT reservation_id AS b, status FROM commerce.reserve(:t, 'res-b', 'order:B',
  '{"lines":[{"sku":"TEE-S","qty":2},{"sku":"TEE-M","qty":1},{"sku":"TEE-S","qty":1}]}') \gset
SELECT :'status' AS status;
-- the same request again returns the first reservation
SELECT reservation_id = :b AS same_reservation FROM commerce.reserve(:t, 'res-b', 'order:B',
  '{"lines":[{"sku":"TEE-S","qty":2},{"sku":"TEE-M","qty":1},{"sku":"TEE-S","qty":1}]}');
-- ... but not with other lines
SELECT * FROM commerce.reserve(:t, 'res-b', 'order:B', '{"lines":[{"sku":"TEE-S","qty":9}]}');
SELECT * FROM r;
SELECT * FROM s;

-- short stock: refused, nothing taken, also for the other lines of a cart
SELECT * FROM commerce.reserve_sku(:t, 'res-x', 'order:X', 'TEE-S', 5);
SELECT * FROM commerce.reserve(:t, 'res-y', 'order:Y', '[{"sku":"TEE-S","qty":4},{"sku":"TEE-M","qty":5}]');
SELECT * FROM s;

-- confirm: reserved becomes sold; a retry returns the same result
SELECT status FROM commerce.confirm_reservation(:t, :a, 'pay-a');
SELECT status FROM commerce.confirm_reservation(:t, :a, 'pay-a');
-- a second, different confirm or a release is refused: it ended once
SELECT * FROM commerce.confirm_reservation(:t, :a, 'pay-a-again');
SELECT * FROM commerce.release_reservation(:t, :a, 'cancel-a');
-- release gives stock back
SELECT status FROM commerce.release_reservation(:t, :b, 'cancel-b');
SELECT * FROM s;

-- extend: the deadline moves later, once per request
SELECT reservation_id AS c FROM commerce.reserve_sku(:t, 'res-c', 'cart:C', 'TEE-S', 1) \gset
SELECT expires_at FROM commerce.extend_reservation(:t, :c, 'ext-c', '10 minutes');
SELECT expires_at FROM commerce.extend_reservation(:t, :c, 'ext-c', '10 minutes');
SELECT * FROM commerce.extend_reservation(:t, :c, 'ext-c2', '2 days');
-- an explicit hold
SELECT expires_at FROM commerce.reserve_sku(:t, 'res-d', 'cart:D', 'TEE-M', 2, '30 minutes');

-- time passes: C is past its deadline; confirm refuses before the pump runs
SET commerce.now = '2026-11-11 20:26:00+08';
SELECT * FROM commerce.confirm_reservation(:t, :c, 'pay-c');
SELECT commerce.expire_reservations() AS expired;
SELECT commerce.expire_reservations() AS expired_again;
SELECT * FROM commerce.release_reservation(:t, :c, 'cancel-c');
SELECT * FROM r;
SELECT * FROM s;

-- returns: sold goods come back and are available again
SELECT commerce.return_stock(:t, 'ret-1', :a, 'TEE-S', 2) AS still_returnable;
SELECT commerce.return_stock(:t, 'ret-1', :a, 'TEE-S', 2) AS retried;
SELECT commerce.return_stock(:t, 'ret-2', :a, 'TEE-S', 2);
SELECT * FROM s;

-- adjustments and stock-take change on_hand, never below reserved + sold
SELECT commerce.adjust_stock(:t, 'adj-1', 'TEE-S', 5, p_note => 'found in back room') AS on_hand;
SELECT commerce.adjust_stock(:t, 'adj-2', 'TEE-S', -3, p_note => 'damaged') AS on_hand;
SELECT commerce.adjust_stock(:t, 'adj-3', 'TEE-S', -100);
SELECT commerce.stock_take(:t, 'take-1', 'TEE-M', 3) AS on_hand;
SELECT commerce.stock_take(:t, 'take-2', 'TEE-M', 1);
SELECT * FROM s;

-- pre-allocation: a flash sale draws from its own pool with a 5-minute hold
SELECT commerce.allocate_stock(:t, 'alloc-1', 'flash-1111', 'flash_sale', 'TEE-S', 4) > 0 AS allocated;
SELECT * FROM s;
SELECT reservation_id AS f, expires_at FROM commerce.reserve_sku(:t, 'res-f', 'flash:F', 'TEE-S', 1, p_activity => 'flash-1111') \gset
SELECT :'expires_at' AS flash_expires_at;
SELECT * FROM commerce.reserve_sku(:t, 'res-g', 'flash:G', 'TEE-S', 4, p_activity => 'flash-1111');
-- the sale ends: what is left goes back now, what is released later by the pump
SELECT commerce.end_allocation(:t, 'end-1', 'flash-1111') AS returned;
SELECT * FROM commerce.reserve_sku(:t, 'res-h', 'flash:H', 'TEE-S', 1, p_activity => 'flash-1111');
SELECT status FROM commerce.release_reservation(:t, :f, 'cancel-f');
SELECT * FROM s;
SELECT commerce.sweep_closed_pools() AS swept;
SELECT * FROM s;

-- low stock: one alert when the threshold is crossed, not one per reservation
SELECT low_stock_threshold FROM commerce.set_stock_policy(:t, 'TEE-M', p_low_stock_threshold => 3);
SELECT commerce.receive_stock(:t, 'rcv-3', 'TEE-M', 4) > 0 AS received;
SELECT available FROM s WHERE sku = 'TEE-M';
SELECT status FROM commerce.reserve_sku(:t, 'res-m1', 'order:M1', 'TEE-M', 1);
SELECT status FROM commerce.reserve_sku(:t, 'res-m2', 'order:M2', 'TEE-M', 1);
SELECT status FROM commerce.reserve_sku(:t, 'res-m3', 'order:M3', 'TEE-M', 1);
SELECT topic, payload - 'pool_id' AS payload FROM commerce.outbox WHERE tenant_id = :t ORDER BY message_id;
-- restocking re-arms it
SELECT commerce.receive_stock(:t, 'rcv-4', 'TEE-M', 10) > 0 AS received;
SELECT status FROM commerce.reserve_sku(:t, 'res-m4', 'order:M4', 'TEE-M', 9);
SELECT count(*) AS alerts FROM commerce.outbox WHERE tenant_id = :t AND topic = 'stock.low';

-- ledgers are append-only
UPDATE commerce.stock_movement SET d_on_hand = 0 WHERE tenant_id = :t;
DELETE FROM commerce.stock_movement WHERE tenant_id = :t;

-- the ledger by kind, and every invariant
SELECT kind, sum(d_on_hand) AS on_hand, sum(d_reserved) AS reserved, sum(d_sold) AS sold
  FROM commerce.stock_movement WHERE tenant_id = :t GROUP BY kind ORDER BY kind;
SELECT * FROM commerce.check_stock_invariants(:t);

DROP VIEW r, s;
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- sql/src/inventory/reserve.sql: reservations: reserve (cart or one SKU),
-- confirm, release, extend, return, expiry and its pump (C in
-- src/inventory_*.c).

-- Reservation state machine: active -> confirmed | released | expired.
CREATE FUNCTION commerce.reservation_state_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_reservation_state_guard' LANGUAGE C;

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.reservation
    FOR EACH ROW EXECUTE FUNCTION commerce.reservation_state_guard();

CREATE FUNCTION commerce.reserve(p_tenant bigint, p_request_id text, p_holder text,
                                 p_cart text, p_ttl interval DEFAULT NULL,
                                 p_activity text DEFAULT NULL)
RETURNS commerce.reservation_result
    AS 'MODULE_PATHNAME', 'commerce_reserve' LANGUAGE C;
COMMENT ON FUNCTION commerce.reserve(bigint, text, text, text, interval, text) IS
  'Reserve a JSON cart ({"lines":[{"sku":"A1","qty":2},...]}) all or nothing, for p_ttl (default: the activity pool''s hold, else the tenant''s order_hold). Idempotent by request_id. PT409 when stock is short.';

CREATE FUNCTION commerce.reserve_sku(p_tenant bigint, p_request_id text, p_holder text,
                                     p_sku text, p_qty bigint, p_ttl interval DEFAULT NULL,
                                     p_activity text DEFAULT NULL,
                                     p_warehouse text DEFAULT NULL)
RETURNS commerce.reservation_result
    AS 'MODULE_PATHNAME', 'commerce_reserve_sku' LANGUAGE C;
COMMENT ON FUNCTION commerce.reserve_sku(bigint, text, text, text, bigint, interval, text, text) IS
  'Reserve p_qty units of one SKU (the one-line form of reserve, without JSON).';

CREATE FUNCTION commerce.confirm_reservation(p_tenant bigint, p_reservation bigint,
                                             p_request_id text)
RETURNS commerce.reservation_result
    AS 'MODULE_PATHNAME', 'commerce_confirm_reservation' LANGUAGE C;
COMMENT ON FUNCTION commerce.confirm_reservation(bigint, bigint, text) IS
  'Turn an active, unexpired reservation into sold stock. PT410 if it expired, PT409 if it already ended.';

CREATE FUNCTION commerce.release_reservation(p_tenant bigint, p_reservation bigint,
                                             p_request_id text)
RETURNS commerce.reservation_result
    AS 'MODULE_PATHNAME', 'commerce_release_reservation' LANGUAGE C;
COMMENT ON FUNCTION commerce.release_reservation(bigint, bigint, text) IS
  'Give an active reservation''s stock back. PT410 if it expired, PT409 if it already ended.';

CREATE FUNCTION commerce.extend_reservation(p_tenant bigint, p_reservation bigint,
                                            p_request_id text, p_by interval)
RETURNS commerce.reservation_result
    AS 'MODULE_PATHNAME', 'commerce_extend_reservation' LANGUAGE C;
COMMENT ON FUNCTION commerce.extend_reservation(bigint, bigint, text, interval) IS
  'Push an active, unexpired reservation''s deadline out by p_by (at most max_hold after it was made).';

CREATE FUNCTION commerce.return_stock(p_tenant bigint, p_request_id text, p_reservation bigint,
                                      p_sku text, p_qty bigint)
RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_return_stock' LANGUAGE C;
COMMENT ON FUNCTION commerce.return_stock(bigint, text, bigint, text, bigint) IS
  'Goods of a confirmed reservation came back: sold decreases and the units are available again. Returns the units of that line still returnable.';

CREATE FUNCTION commerce.expire_reservations(p_limit integer DEFAULT 1000)
RETURNS integer
    AS 'MODULE_PATHNAME', 'commerce_expire_reservations' LANGUAGE C;
COMMENT ON FUNCTION commerce.expire_reservations(integer) IS
  'Expire up to p_limit active reservations past their deadline (SKIP LOCKED, so concurrent runs and confirms never double-end one). Returns how many ended.';

-- The expiry job of 0.1.0 through the same pump, then the sweep of closed activity pools.
CREATE PROCEDURE commerce.expire_pump(p_batch integer DEFAULT 1000,
                                                 p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.expire_reservations', p_batch, p_max_batches);
    PERFORM commerce.sweep_closed_pools();
    COMMIT;
END $$;
COMMENT ON PROCEDURE commerce.expire_pump(integer, integer) IS
  'The expiry job (pg_cron, every minute): expires all due reservations in committed batches, then returns stock released in closed activity pools to their root pools.';

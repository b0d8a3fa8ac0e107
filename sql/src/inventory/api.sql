-- sql/src/inventory/api.sql: reservations and stock for HTTP clients. A
-- customer holds stock for itself only, for at most 30 minutes, at most 20
-- units a line and 5 reservations at once; confirming a reservation is the
-- payment service's.

-- The shape of a reservation call's outcome (an API row type: selects nothing itself).
CREATE VIEW commerce_api.reservation AS
SELECT NULL::bigint AS reservation_id, NULL::text AS status, NULL::timestamptz AS expires_at WHERE false;
COMMENT ON VIEW commerce_api.reservation IS
  E'@omit all\nA reservation as a call leaves it: its id, status (active: holding the stock; confirmed: sold; released; expired) and until when it holds.';

CREATE FUNCTION commerce_api.reserve(cart text, request_id text, holder text DEFAULT NULL,
                                     ttl interval DEFAULT NULL, activity text DEFAULT NULL)
RETURNS SETOF commerce_api.reservation LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reserve', '{customer,service}');
        v_holder text := commerce._actor_subject(a, holder, 'holder'); v_big text; v_n bigint;
BEGIN
    IF a.kind = 'customer' THEN
        IF ttl > interval '30 minutes' THEN
            PERFORM commerce._invalid('ttl', format('%s', ttl), 'A customer holds stock for at most 30 minutes.');
        END IF;
        SELECT string_agg(format('%s x %s', l.sku, l.qty), ', ') INTO v_big
          FROM commerce._cart_lines(cart) l WHERE l.qty > 20;
        IF v_big IS NOT NULL THEN
            PERFORM commerce._invalid('cart', left(v_big, 200), 'A customer holds at most 20 units of a SKU.');
        END IF;
        SELECT count(*) INTO v_n FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'
           AND r.request_id IS DISTINCT FROM reserve.request_id;
        IF v_n >= 5 THEN   -- too many at once: retry when the first hold ends (HTTP 429 with Retry-After)
            PERFORM commerce._too_many(format('customer "%s" already holds %s reservations', left(v_holder, 64), v_n),
                'A customer holds at most 5 reservations at once.',
                'Release or buy one first; unpaid holds expire.',
                (SELECT ceil(extract(epoch FROM min(r.expires_at) - commerce.now()))::integer
                   FROM commerce.reservation r
                  WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'));
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.reserve(a.tenant_id, request_id, v_holder, cart, ttl, activity);
END $$;
REVOKE ALL ON FUNCTION commerce_api.reserve(text, text, text, interval, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reserve(text, text, text, interval, text) IS
  'Hold the stock of a cart ({"lines":[{"sku":"A1","qty":2}]}) all or nothing. A customer holds it for itself (holder is its own code), for at most 30 minutes (22023), at most 20 units a line (22023) and 5 active reservations (PT429); a service names the holder. Idempotent by request_id; PT409 when stock is short.';

-- The reservation as a customer caller may see it: its own (else PT404, as if it did not exist).
CREATE FUNCTION commerce._api_own_reservation(a commerce.actor, p_reservation bigint) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind = 'customer' AND NOT EXISTS (SELECT 1 FROM commerce.reservation r
                                            WHERE r.tenant_id = a.tenant_id AND r.reservation_id = p_reservation
                                              AND r.holder = a.subject) THEN
        -- the same error as a reservation that does not exist (src/inventory_end.c)
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('reservation %s not found', p_reservation),
            DETAIL  = format('No reservation with that id exists in tenant %s.', a.tenant_id),
            HINT    = 'Check the id and the tenant; rows of other tenants are never visible.';
    END IF;
END $$;

CREATE FUNCTION commerce_api.confirm_reservation(reservation_id bigint, request_id text)
RETURNS SETOF commerce_api.reservation LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.confirm_reservation', '{service}') a,
           LATERAL commerce.confirm_reservation(a.tenant_id, reservation_id, request_id) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.confirm_reservation(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.confirm_reservation(bigint, text) IS
  'Confirm (sell) a reservation: the payment service''s call once a payment has succeeded. Idempotent by request_id; PT410 when it expired, PT409 when it ended otherwise.';

CREATE FUNCTION commerce_api.release_reservation(reservation_id bigint, request_id text)
RETURNS SETOF commerce_api.reservation LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.release_reservation', '{customer,service}');
BEGIN
    PERFORM commerce._api_own_reservation(a, reservation_id);
    RETURN QUERY SELECT * FROM commerce.release_reservation(a.tenant_id, reservation_id, request_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.release_reservation(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.release_reservation(bigint, text) IS
  'Give a reservation''s stock back. A customer releases its own reservations only (another''s is PT404); a service any. Idempotent by request_id.';

CREATE FUNCTION commerce_api.extend_reservation(reservation_id bigint, request_id text, by interval)
RETURNS SETOF commerce_api.reservation LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.extend_reservation', '{customer,service}');
        v_until timestamptz;
BEGIN
    PERFORM commerce._api_own_reservation(a, reservation_id);
    IF a.kind = 'customer' THEN
        SELECT r.expires_at + $3 INTO v_until FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.reservation_id = extend_reservation.reservation_id;
        IF v_until > commerce.now() + interval '30 minutes' THEN
            PERFORM commerce._invalid('by', format('%s (until %s)', $3, v_until),
                                      'A customer holds stock for at most 30 minutes from now.');
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.extend_reservation(a.tenant_id, $1, $2, $3);
END $$;
REVOKE ALL ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) IS
  'Extend an active reservation by an interval. A customer extends its own only (another''s is PT404), to at most 30 minutes from now (22023); a service any. Idempotent by request_id.';

-- The shape of what is available of a SKU in a pool.
CREATE VIEW commerce_api.stock_available AS
SELECT NULL::text AS warehouse, NULL::text AS activity, NULL::bigint AS available WHERE false;
COMMENT ON VIEW commerce_api.stock_available IS
  E'@omit all\nThe units of a SKU available to order in one open pool: its warehouse and the activity the pool is allocated to (NULL: the shared pool every channel sells from).';

CREATE FUNCTION commerce_api.stock(sku text)
RETURNS SETOF commerce_api.stock_available LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT s.warehouse, s.activity, s.available
      FROM commerce._api_actor('commerce_api.stock', '{anonymous,customer,koc,store,operator,finance,service}') a
      JOIN commerce.stock s ON s.tenant_id = a.tenant_id
     WHERE s.sku = $1 AND s.status = 'open'
     ORDER BY s.warehouse, s.activity NULLS FIRST;
$$;
REVOKE ALL ON FUNCTION commerce_api.stock(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.stock(text) IS
  'The available units of a SKU per warehouse and activity pool (open pools only). Open to every caller.';

-- The shape of a pool's figures.
CREATE VIEW commerce_api.stock_level AS
SELECT NULL::text AS sku, NULL::text AS warehouse, NULL::text AS activity, NULL::text AS status, NULL::bigint AS on_hand,
       NULL::bigint AS reserved, NULL::bigint AS sold, NULL::bigint AS available, NULL::bigint AS low_stock_threshold
 WHERE false;
COMMENT ON VIEW commerce_api.stock_level IS
  E'@omit all\nThe figures of a stock pool (H3.1.3): SKU, warehouse, the activity it is allocated to (NULL: the shared pool every channel sells from), status (open, closed), on hand, reserved, sold, available (on hand - reserved - sold) and the low-stock threshold.';

CREATE FUNCTION commerce_api.stock_levels(sku text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.stock_levels', '{store,operator,finance,service}');
BEGIN
    RETURN QUERY SELECT s.sku, s.warehouse, s.activity, s.status, s.on_hand, s.reserved, s.sold, s.available,
                        s.low_stock_threshold
                   FROM commerce.stock s
                  WHERE s.tenant_id = a.tenant_id AND (stock_levels.sku IS NULL OR s.sku = stock_levels.sku)
                  ORDER BY s.sku, s.warehouse, s.activity NULLS FIRST;
END $$;
REVOKE ALL ON FUNCTION commerce_api.stock_levels(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.stock_levels(text) IS
  'Every stock pool of the tenant, or of one SKU, with on hand, reserved, sold and available (stock_level). Staff and services.';

CREATE FUNCTION commerce_api.receive_stock(request_id text, sku text, qty bigint, warehouse text DEFAULT NULL,
                                           note text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.receive_stock', '{operator,service}');
BEGIN
    PERFORM commerce.receive_stock(a.tenant_id, receive_stock.request_id, receive_stock.sku, receive_stock.qty,
                                   receive_stock.warehouse, left(coalesce(receive_stock.note, 'received by ' || a.subject), 200));
    RETURN QUERY SELECT * FROM commerce_api.stock_levels(receive_stock.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_api.receive_stock(text, text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.receive_stock(text, text, bigint, text, text) IS
  'HQ receives stock of a SKU into its shared pool at a warehouse (the only one when left out): qty units, with a note (default: who received it). HQ operators and services. Idempotent by request_id. Returns the SKU''s pools (stock_level).';

CREATE FUNCTION commerce_api.adjust_stock(request_id text, sku text, delta bigint, note text, warehouse text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.adjust_stock', '{operator,service}');
BEGIN
    PERFORM commerce._require(adjust_stock.note, 'note');
    PERFORM commerce.adjust_stock(a.tenant_id, adjust_stock.request_id, adjust_stock.sku, adjust_stock.delta,
                                  adjust_stock.warehouse, left(adjust_stock.note || ' (' || coalesce(a.subject, a.kind) || ')', 200));
    RETURN QUERY SELECT * FROM commerce_api.stock_levels(adjust_stock.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_api.adjust_stock(text, text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.adjust_stock(text, text, bigint, text, text) IS
  'HQ corrects the stock on hand of a SKU (a count, damage, loss) by delta units, with the reason (note, required; the operator''s code is added). Never below what is reserved and sold (PT409). HQ operators and services. Idempotent by request_id. Returns the SKU''s pools (stock_level).';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.stock(hasura_session json, sku text)
RETURNS SETOF commerce_api.stock_available LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.stock(stock.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.stock(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.stock(json, text) IS
  'Hasura: commerce_api.stock for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.stock_levels(hasura_session json, sku text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.stock_levels(stock_levels.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.stock_levels(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.stock_levels(json, text) IS
  'Hasura: commerce_api.stock_levels for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

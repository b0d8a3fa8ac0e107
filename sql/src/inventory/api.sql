-- sql/src/inventory/api.sql: reservations and stock for HTTP clients.

CREATE FUNCTION commerce_api.reserve(cart text, request_id text, holder text,
                                     ttl interval DEFAULT NULL, activity text DEFAULT NULL)
RETURNS commerce.reservation_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.reserve(commerce.current_tenant(), request_id, holder, cart, ttl, activity);
$$;
REVOKE ALL ON FUNCTION commerce_api.reserve(text, text, text, interval, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.confirm_reservation(reservation_id bigint, request_id text)
RETURNS commerce.reservation_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.confirm_reservation(commerce.current_tenant(), reservation_id, request_id);
$$;
REVOKE ALL ON FUNCTION commerce_api.confirm_reservation(bigint, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.release_reservation(reservation_id bigint, request_id text)
RETURNS commerce.reservation_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.release_reservation(commerce.current_tenant(), reservation_id, request_id);
$$;
REVOKE ALL ON FUNCTION commerce_api.release_reservation(bigint, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.extend_reservation(reservation_id bigint, request_id text, by interval)
RETURNS commerce.reservation_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.extend_reservation(commerce.current_tenant(), reservation_id, request_id, by);
$$;
REVOKE ALL ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) FROM PUBLIC;

CREATE FUNCTION commerce_api.stock(sku text)
RETURNS TABLE (warehouse text, activity text, available bigint) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT warehouse, activity, available FROM commerce.stock
     WHERE tenant_id = commerce.current_tenant() AND stock.sku = $1 AND status = 'open'
     ORDER BY warehouse, activity NULLS FIRST;
$$;
REVOKE ALL ON FUNCTION commerce_api.stock(text) FROM PUBLIC;

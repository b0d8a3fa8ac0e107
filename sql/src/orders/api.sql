-- sql/src/orders/api.sql: an order's contact for HTTP clients (masked unless
-- allowed).

CREATE FUNCTION commerce_api.order_contact(order_id bigint)
RETURNS TABLE (receiver_name text, receiver_phone text, receiver_region text, receiver_city text,
               receiver_address text, masked boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.order_contact(commerce.current_tenant(), order_id);
$$;
REVOKE ALL ON FUNCTION commerce_api.order_contact(bigint) FROM PUBLIC;

-- sql/src/catalog/api.sql: the price of a SKU for HTTP clients.

CREATE FUNCTION commerce_api.price(sku text, channel text, member_tier text DEFAULT NULL)
RETURNS commerce.resolved_price LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.resolve_price(commerce.current_tenant(), sku, channel, member_tier, NULL);
$$;
REVOKE ALL ON FUNCTION commerce_api.price(text, text, text) FROM PUBLIC;

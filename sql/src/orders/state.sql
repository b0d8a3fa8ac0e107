-- sql/src/orders/state.sql: the order state machine (C trigger) and the order
-- lock.

CREATE FUNCTION commerce.order_state_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_order_state_guard' LANGUAGE C;

CREATE TRIGGER before_20_state_guard BEFORE INSERT OR UPDATE ON commerce.orders
    FOR EACH ROW EXECUTE FUNCTION commerce.order_state_guard();

-- Lock an order of a tenant; PT404 if there is none.
CREATE FUNCTION commerce._lock_order(p_tenant bigint, p_order bigint)
RETURNS commerce.orders_row LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('order', p_order::text, p_tenant);
    END IF;
    RETURN o;
END $$;

-- sql/src/orders/complete.sql: completion (redemption) of an order, which the
-- KOC commission follows.

-- Redeem an order: the buyer confirmed receipt or the service was used (核销).
CREATE FUNCTION commerce.complete_order(p_tenant bigint, p_order bigint)
RETURNS commerce.orders_row LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    o := commerce._lock_order(p_tenant, p_order);
    IF o.status = 'completed' THEN
        RETURN o;
    END IF;
    IF o.status NOT IN ('paid', 'shipped') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be completed from %s', p_order, o.status),
            DETAIL  = 'Only a paid or shipped order is redeemed.',
            HINT    = 'Wait for payment; a cancelled or refunded order stays so.';
    END IF;
    UPDATE commerce.orders SET status = 'completed', status_reason = 'redeemed'
     WHERE tenant_id = p_tenant AND order_id = p_order RETURNING * INTO o;
    RETURN o;
END $$;
COMMENT ON FUNCTION commerce.complete_order(bigint, bigint) IS
  'Redeem a paid or shipped order (receipt confirmed, service used: 核销). An attributed order gets its commission line. Completing again is a no-op.';

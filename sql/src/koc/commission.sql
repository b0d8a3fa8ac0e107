-- sql/src/koc/commission.sql: commission lines on redemption and reversal on
-- refund (K13, K15), C in src/koc_commission.c.

-- An account held by settlement (frozen KOC, agreement not signed) is looked at again when that changes.
CREATE FUNCTION commerce._koc_account_rearm() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE commerce.koc_account
       SET due_at = least(due_at, commerce.now())
     WHERE tenant_id = NEW.tenant_id AND koc_id = NEW.koc_id AND next_seq - 1 > settled_seq;
    RETURN NULL;
END $$;

CREATE TRIGGER after_10_koc_account_rearm AFTER INSERT ON commerce.agreement_signature
    FOR EACH ROW EXECUTE FUNCTION commerce._koc_account_rearm();

CREATE TRIGGER after_10_account_rearm AFTER UPDATE OF status ON commerce.koc
    FOR EACH ROW WHEN (NEW.status = 'active' AND OLD.status IS DISTINCT FROM 'active')
    EXECUTE FUNCTION commerce._koc_account_rearm();

-- C: the commission line of a redemption (orders: status becomes completed).
CREATE FUNCTION commerce.commission_on_redeem() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_commission_on_redeem' LANGUAGE C;

CREATE TRIGGER after_10_commission_on_redeem AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed'
                       AND NEW.koc_id IS NOT NULL)
    EXECUTE FUNCTION commerce.commission_on_redeem();

-- C: the reversing line of a refund event.
CREATE FUNCTION commerce.commission_on_refund() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_commission_on_refund' LANGUAGE C;

CREATE TRIGGER after_10_commission_on_refund AFTER INSERT ON commerce.order_event
    FOR EACH ROW WHEN (NEW.kind = 'refund')
    EXECUTE FUNCTION commerce.commission_on_refund();

-- sql/src/plays/order_effects.sql: what a paid or refunded play order does:
-- assets, invite rewards, participants.

-- Issue the asset of a paid flash-sale, bargain or invite-reward order (group buys issue at success).
CREATE FUNCTION commerce._issue_order_asset(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$   -- PL/pgSQL for a plan cached per session (an SQL function is planned per call)
BEGIN
    INSERT INTO commerce.user_asset (tenant_id, customer_id, asset_type, unit_name, total, remaining,
                                     source_activity, source_instance_id, order_id, created_at)
    SELECT o.tenant_id, o.customer_id, c.asset_type, t.unit_name, c.units_per_sale * q.qty,
           c.units_per_sale * q.qty, c.activity, o.source_instance_id, o.order_id, commerce.now()
      FROM commerce.play_config c
      JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
      CROSS JOIN LATERAL (SELECT sum(l.qty)::bigint AS qty FROM commerce.order_line l
                           WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id AND l.sku_id = c.sku_id) q
     WHERE c.tenant_id = o.tenant_id AND c.activity = o.source_activity AND c.asset_type IS NOT NULL
       AND t.kind <> 'group_buy' AND o.customer_id IS NOT NULL AND q.qty > 0
    ON CONFLICT (tenant_id, order_id) DO NOTHING;
END $$;

-- Orders trigger: a payment issues play assets, ends invites and fills a held group place; an unpaid
-- cancellation gives a held place back; a full refund voids the asset.
CREATE FUNCTION commerce._play_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'commerce._play_order_changed must fire AFTER ... FOR EACH ROW';
    END IF;
    IF NEW.paid_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.paid_at IS NULL) THEN
        o := NEW;  -- the order as the row type the helpers take
        IF NEW.customer_id IS NOT NULL THEN
            PERFORM commerce._reward_invite(o);
        END IF;
        IF NEW.source_activity LIKE 'play:%' THEN
            PERFORM commerce._issue_order_asset(o);
        END IF;
        IF NEW.source_instance_id IS NOT NULL THEN
            PERFORM commerce._group_place_paid(o);
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.source_instance_id IS NOT NULL THEN
        o := NEW;
        PERFORM commerce._group_place_lapsed(o);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status = 'refunded' AND OLD.status <> 'refunded' THEN
        UPDATE commerce.user_asset SET remaining = 0, voided_at = commerce.now()
         WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND voided_at IS NULL;
        IF NEW.source_instance_id IS NOT NULL THEN
            UPDATE commerce.play_participant SET status = 'refunded'
             WHERE tenant_id = NEW.tenant_id AND instance_id = NEW.source_instance_id AND order_id = NEW.order_id;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER after_20_play_paid AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN (OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
    EXECUTE FUNCTION commerce._play_order_changed();

CREATE TRIGGER after_21_play_paid_insert AFTER INSERT ON commerce.orders
    FOR EACH ROW WHEN (NEW.paid_at IS NOT NULL)
    EXECUTE FUNCTION commerce._play_order_changed();

CREATE TRIGGER after_30_play_refunded AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'refunded' AND OLD.status <> 'refunded')
    EXECUTE FUNCTION commerce._play_order_changed();

CREATE TRIGGER after_31_play_cancelled AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.source_instance_id IS NOT NULL)
    EXECUTE FUNCTION commerce._play_order_changed();

-- sql/src/plays/deadline.sql: the deadline job: groups and bargains that ran
-- out of time, with stock back and refunds.

-- End the groups and bargains past their deadline.
CREATE FUNCTION commerce.end_expired_groups(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; p record; n integer := 0; a commerce.after_sale_row;
        o commerce.orders_row; v_now timestamptz := commerce.now(); v_kind text;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'End 1 to 100000 groups per run.');
    END IF;
    FOR i IN SELECT * FROM commerce.play_instance
              WHERE status IN ('pending', 'active') AND deadline <= v_now
              ORDER BY deadline, tenant_id, instance_id
              LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        SELECT * INTO c FROM commerce.play_config WHERE tenant_id = i.tenant_id AND config_id = i.config_id;
        SELECT kind INTO v_kind FROM commerce.play_template WHERE tenant_id = c.tenant_id AND code = c.template_code;
        -- a group with places still awaiting payment waits: their orders' pay deadline is the group's,
        -- so the unpaid-order job cancels them (giving the places back) or they are paid first
        IF v_kind = 'group_buy' AND EXISTS (SELECT 1 FROM commerce.play_participant x
                                             WHERE x.tenant_id = i.tenant_id AND x.instance_id = i.instance_id
                                               AND x.status = 'held') THEN
            CONTINUE;
        END IF;
        n := n + 1;
        IF v_kind = 'bargain' THEN
            -- a bargain that did not reach its floor in time: nothing was sold, nothing to refund
            UPDATE commerce.play_instance SET status = 'failed', ended_at = v_now
             WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
            PERFORM commerce.enqueue(i.tenant_id, 'play.bargain_failed',
                jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'helps', i.current,
                                   'helps_needed', i.target, 'price_fen', i.price_fen), 'bargain:' || i.instance_id);
            CONTINUE;
        END IF;
        IF i.status = 'active' AND coalesce((c.rules ->> 'virtual_fill')::boolean, false) THEN
            INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, joined_at)
            SELECT i.tenant_id, i.instance_id, -k, 'virtual:' || i.instance_id || ':' || k, 'virtual', v_now
              FROM generate_series(1, i.target - i.current) k;
            UPDATE commerce.play_instance SET current = target, status = 'success', ended_at = v_now
             WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
            PERFORM commerce._issue_group_assets(i.tenant_id, i.instance_id);
            PERFORM commerce.enqueue(i.tenant_id, 'play.group_succeeded',
                jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'members', i.current,
                                   'virtual', i.target - i.current), 'group:' || i.instance_id);
            CONTINUE;
        END IF;
        UPDATE commerce.play_instance SET status = 'failed', ended_at = v_now
         WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
        -- every paying member: the unit goes back to the play's stock, and an approved refund-only
        -- request sends the payment back through the outbox (payment.refund: retried now, in 1 minute,
        -- in 1 hour, then a dead letter and an alert)
        FOR p IN SELECT * FROM commerce.play_participant
                  WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id AND order_id IS NOT NULL
                  ORDER BY customer_id LOOP
            SELECT * INTO o FROM commerce.orders WHERE tenant_id = i.tenant_id AND order_id = p.order_id;
            a := commerce.request_after_sale(i.tenant_id, 'group-failed:' || i.instance_id || ':' || p.customer_id,
                                             p.order_id, 'refund_only', o.paid_fen, 'group failed');
            a := commerce.decide_after_sale(i.tenant_id, a.after_sale_id, true, 'group failed');
            PERFORM commerce.return_stock(i.tenant_id, 'group-failed:' || i.instance_id || ':' || p.customer_id,
                                          o.reservation_id, (SELECT code FROM commerce.sku WHERE tenant_id = i.tenant_id
                                                                                            AND sku_id = c.sku_id), 1);
            UPDATE commerce.play_participant SET status = 'refunding'
             WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id AND customer_id = p.customer_id;
        END LOOP;
        PERFORM commerce.enqueue(i.tenant_id, 'play.group_failed',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'members', i.current, 'target', i.target),
            'group:' || i.instance_id);
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.end_expired_groups(integer) IS
  'The play deadline job (one batch, SKIP LOCKED). A group past its deadline is completed with virtual members when its rules say virtual_fill, else failed (a group with a place still awaiting payment waits until the unpaid-order job has cancelled it, at most a minute later); in a failed group each paying member''s unit goes back to the play''s stock and the payment is refunded through the outbox (payment.refund, retried now, after 1 minute and 1 hour, then a dead letter and an outbox.dead alert; the provider confirms with commerce.complete_refund, and the member becomes refunded). A bargain past its deadline that did not reach its floor is failed (play.bargain_failed). Returns the number of instances ended.';

CREATE PROCEDURE commerce.play_pump(p_batch integer DEFAULT 100, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.end_expired_groups', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.play_pump(integer, integer) IS
  'The play job (pg_cron, every minute): ends every group past its deadline, committed per batch.';

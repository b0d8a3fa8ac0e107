-- sql/src/plays/invite.sql: invite rewards: an invitee's first paid order
-- rewards the inviter.

-- An inviter brings a new customer.
CREATE FUNCTION commerce.invite(p_tenant bigint, p_request_id text, p_config text, p_inviter text, p_invitee text,
                                p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.play_invite_row LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; ir commerce.customer; ie commerce.customer;
        v commerce.play_invite_row; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_inviter, 'p_inviter');
    PERFORM commerce._require(p_invitee, 'p_invitee');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO v FROM commerce.play_invite WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN v;
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['invite_reward'], 'Invite through invite-reward plays only.');
    SELECT * INTO ir FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_inviter;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_inviter, p_tenant);
    END IF;
    SELECT * INTO ie FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_invitee;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_invitee, p_tenant);
    END IF;
    IF ir.customer_id = ie.customer_id THEN
        PERFORM commerce._invalid('p_invitee', 'A customer cannot invite themselves.', 'Invite someone else.');
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Invite through a play that is open now.');
    IF EXISTS (SELECT 1 FROM commerce.orders WHERE tenant_id = p_tenant AND customer_id = ie.customer_id
                                               AND paid_at IS NOT NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('customer "%s" is not a new customer', p_invitee),
            DETAIL  = 'The customer has paid orders.',
            HINT    = 'Invite rewards are for bringing new customers.';
    END IF;
    PERFORM commerce._play_admit(p_tenant, c.config_id, ir.customer_id, 'invite', p_ip, p_device);
    INSERT INTO commerce.play_invite (tenant_id, config_id, request_id, inviter_id, invitee_id, status, invited_at)
    VALUES (p_tenant, c.config_id, p_request_id, ir.customer_id, ie.customer_id, 'invited', v_now)
    ON CONFLICT (tenant_id, invitee_id) DO NOTHING
    RETURNING * INTO v;
    IF v.invite_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" was already invited', p_invitee),
            DETAIL  = format('By customer %s.', (SELECT cu.code FROM commerce.play_invite x
                                                   JOIN commerce.customer cu ON cu.tenant_id = x.tenant_id
                                                                            AND cu.customer_id = x.inviter_id
                                                  WHERE x.tenant_id = p_tenant AND x.invitee_id = ie.customer_id)),
            HINT    = 'The first invitation counts.';
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.invite(bigint, text, text, text, text, text, text) IS
  'Invite-reward (老带新): the inviter brings a customer who has never paid (PT403 otherwise); a customer is invited once (PT409, the first invitation counts). The reward follows the invitee''s first paid order, exactly once. The inviter passes the eligibility rules. Idempotent by request_id.';

-- The invitee's first paid order ends the invite: rewarded, capped or lapsed, exactly once.
CREATE FUNCTION commerce._reward_invite(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v commerce.play_invite_row; c commerce.play_config_row; v_now timestamptz := commerce.now(); v_n bigint;
        v_status text;
BEGIN
    SELECT * INTO v FROM commerce.play_invite WHERE tenant_id = o.tenant_id AND invitee_id = o.customer_id
       FOR UPDATE;
    IF NOT FOUND OR v.status <> 'invited' THEN
        RETURN;
    END IF;
    -- only the first paid order (a concurrent first payment waits on the invite row, then sees it ended)
    IF EXISTS (SELECT 1 FROM commerce.orders x WHERE x.tenant_id = o.tenant_id AND x.customer_id = o.customer_id
                                                 AND x.paid_at IS NOT NULL AND x.order_id <> o.order_id) THEN
        v_status := 'lapsed';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = o.tenant_id AND config_id = v.config_id;
    IF v_status IS NULL AND (c.status <> 'active' OR v_now >= c.ends_at) THEN
        v_status := 'lapsed';
    END IF;
    IF v_status IS NULL THEN
        -- the inviter's rewards are counted under a lock per play and inviter
        PERFORM pg_advisory_xact_lock(v.config_id::integer, v.inviter_id::integer);
        SELECT count(*) INTO v_n FROM commerce.play_invite
         WHERE tenant_id = o.tenant_id AND config_id = v.config_id AND inviter_id = v.inviter_id AND status = 'rewarded';
        v_status := CASE WHEN v_n >= coalesce((c.rules ->> 'max_rewards')::bigint, 100) THEN 'capped' ELSE 'rewarded' END;
    END IF;
    UPDATE commerce.play_invite
       SET status = v_status, order_id = o.order_id,
           rewarded_at = CASE WHEN v_status = 'rewarded' THEN v_now END,
           reward_fen = CASE WHEN v_status = 'rewarded' THEN (c.rules ->> 'reward_fen')::bigint END,
           invitee_reward_fen = CASE WHEN v_status = 'rewarded' THEN coalesce((c.rules ->> 'invitee_reward_fen')::bigint, 0) END
     WHERE tenant_id = v.tenant_id AND invite_id = v.invite_id RETURNING * INTO v;
    IF v_status = 'rewarded' THEN
        PERFORM commerce.enqueue(o.tenant_id, 'play.invite_reward',
            jsonb_build_object('invite_id', v.invite_id, 'play', c.code,
                               'inviter', (SELECT code FROM commerce.customer WHERE tenant_id = o.tenant_id AND customer_id = v.inviter_id),
                               'invitee', (SELECT code FROM commerce.customer WHERE tenant_id = o.tenant_id AND customer_id = v.invitee_id),
                               'order_id', o.order_id, 'reward_fen', v.reward_fen,
                               'invitee_reward_fen', v.invitee_reward_fen),
            'invite:' || v.invite_id);
    END IF;
END $$;

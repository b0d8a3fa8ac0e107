-- sql/src/plays/settlement.sql: store settlement of activity income: split
-- rules, applications, decisions, payouts.

-- Set the store's share of a template's income (NULL template: the tenant's default).
CREATE FUNCTION commerce.set_split_rule(p_tenant bigint, p_template text, p_store_share_bp integer)
RETURNS commerce.play_split_rule_row LANGUAGE plpgsql AS $$
DECLARE r commerce.play_split_rule_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_store_share_bp, 'p_store_share_bp');
    IF p_template IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.play_template
                                               WHERE tenant_id = p_tenant AND code = p_template) THEN
        PERFORM commerce._not_found('play template', p_template, p_tenant);
    END IF;
    IF p_store_share_bp NOT BETWEEN 0 AND commerce._limit('bp_scale') THEN
        PERFORM commerce._invalid('p_store_share_bp', format('%s', p_store_share_bp),
                                  'A share is 0 to 10000 basis points (7000 = 70% to the store).');
    END IF;
    INSERT INTO commerce.play_split_rule (tenant_id, template_code, store_share_bp, updated_at)
    VALUES (p_tenant, coalesce(p_template, '*'), p_store_share_bp, commerce.now())
    ON CONFLICT (tenant_id, template_code) DO UPDATE
       SET store_share_bp = EXCLUDED.store_share_bp, updated_at = EXCLUDED.updated_at
    RETURNING * INTO r;
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.set_split_rule(bigint, text, integer) IS
  'HQ sets the store''s share (basis points) of the income of a template''s plays, or the default (NULL template). Settlements copy the rule at application.';

-- A store applies for settlement of a play's completed income.
CREATE FUNCTION commerce.apply_play_settlement(p_tenant bigint, p_request_id text, p_config text)
RETURNS commerce.play_settlement_row LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; s commerce.play_settlement_row; v_bp integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    -- one application of a play at a time
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    SELECT * INTO s FROM commerce.play_settlement WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF s.config_id <> c.config_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another settlement', p_request_id),
                HINT = 'Use a new request_id for a new application.';
        END IF;
        RETURN s;
    END IF;
    SELECT store_share_bp INTO v_bp FROM commerce.play_split_rule
     WHERE tenant_id = p_tenant AND template_code IN (c.template_code, '*')
     ORDER BY template_code = '*' LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('no split rule for play "%s"', p_config),
            DETAIL  = format('Neither template %s nor the tenant has a split rule.', c.template_code),
            HINT    = 'HQ sets one with commerce.set_split_rule.';
    END IF;
    -- one statement, one snapshot: the completed orders not in a live settlement, their sum split, the
    -- settlement and its orders written together (nothing when there is nothing to settle)
    WITH due AS (
        SELECT o.order_id, o.paid_fen - o.refunded_fen AS amount_fen
          FROM commerce.orders o
         WHERE o.tenant_id = p_tenant AND o.source_activity = c.activity AND o.status = 'completed'
           AND o.paid_fen > o.refunded_fen
           AND NOT EXISTS (SELECT 1 FROM commerce.play_settlement_order so
                            WHERE so.tenant_id = p_tenant AND so.order_id = o.order_id AND NOT so.released)),
    total AS (SELECT count(*)::integer AS n, sum(amount_fen)::bigint AS income FROM due),
    st AS (
        INSERT INTO commerce.play_settlement (tenant_id, request_id, config_id, store_id, status, orders, income_fen,
                                              store_share_bp, store_fen, hq_fen, applied_at)
        SELECT p_tenant, p_request_id, c.config_id, c.store_id, 'applied', t.n, t.income, v_bp,
               x.share_fen, x.rest_fen, commerce.now()
          FROM total t CROSS JOIN LATERAL commerce.split_fen(t.income, v_bp) x
         WHERE t.n > 0
        RETURNING *),
    lines AS (
        INSERT INTO commerce.play_settlement_order (tenant_id, settlement_id, order_id, amount_fen)
        SELECT p_tenant, st.settlement_id, due.order_id, due.amount_fen FROM st CROSS JOIN due)
    SELECT * INTO s FROM st;
    IF s.settlement_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('play "%s" has no income to settle', p_config),
            DETAIL  = 'Every completed order of the play is settled or under review.',
            HINT    = 'Orders count once they are completed (the first consumption of their asset).';
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.apply_play_settlement(bigint, text, text) IS
  'A store applies for settlement of a play (M7): every completed order of the play not yet in a settlement (paid less refunded), split by the split rule of the template (or the default) into store_fen and hq_fen, which add up exactly (largest remainder). PT409 without a rule or without income to settle. Idempotent by request_id; applications of one play are serialized.';

-- HQ finance approves (the store's part is paid out through the outbox) or rejects an application.
CREATE FUNCTION commerce.decide_play_settlement(p_tenant bigint, p_settlement bigint, p_approve boolean,
                                                p_decided_by text, p_reason text DEFAULT NULL)
RETURNS commerce.play_settlement_row LANGUAGE plpgsql AS $$
DECLARE s commerce.play_settlement_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_settlement, 'p_settlement');
    PERFORM commerce._require(p_approve, 'p_approve');
    PERFORM commerce._require(p_decided_by, 'p_decided_by');
    SELECT * INTO s FROM commerce.play_settlement WHERE tenant_id = p_tenant AND settlement_id = p_settlement FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('settlement', p_settlement::text, p_tenant);
    END IF;
    -- the same decision again is a no-op
    IF (p_approve AND s.status IN ('approved', 'paid')) OR (NOT p_approve AND s.status = 'rejected') THEN
        RETURN s;
    END IF;
    IF NOT p_approve AND coalesce(length(p_reason), 0) NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_reason', 'A rejection needs a reason of 1 to 500 characters.', 'Tell the store why.');
    END IF;
    IF s.status NOT IN ('applied', 'failed') OR (NOT p_approve AND s.status <> 'applied') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('settlement %s is %s', p_settlement, s.status),
            HINT    = 'Approve or reject an application; approve a failed payout again to retry it.';
    END IF;
    IF p_approve THEN
        UPDATE commerce.play_settlement
           SET status = 'approved', decided_at = coalesce(decided_at, commerce.now()), decided_by = p_decided_by,
               reason = coalesce(p_reason, reason), payout_attempt = payout_attempt + 1
         WHERE tenant_id = p_tenant AND settlement_id = p_settlement RETURNING * INTO s;
        IF s.store_fen > 0 THEN
            PERFORM commerce.enqueue(p_tenant, 'store.settlement_payout',
                jsonb_build_object('settlement_id', s.settlement_id,
                                   'store', (SELECT code FROM commerce.store WHERE tenant_id = p_tenant AND store_id = s.store_id),
                                   'play', (SELECT code FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = s.config_id),
                                   'amount_fen', s.store_fen, 'attempt', s.payout_attempt),
                'settlement:' || s.settlement_id || ':' || s.payout_attempt);
        ELSE
            UPDATE commerce.play_settlement SET status = 'paid', paid_at = commerce.now()
             WHERE tenant_id = p_tenant AND settlement_id = p_settlement RETURNING * INTO s;
        END IF;
    ELSE
        UPDATE commerce.play_settlement
           SET status = 'rejected', decided_at = commerce.now(), decided_by = p_decided_by, reason = p_reason
         WHERE tenant_id = p_tenant AND settlement_id = p_settlement RETURNING * INTO s;
        UPDATE commerce.play_settlement_order SET released = true
         WHERE tenant_id = p_tenant AND settlement_id = p_settlement;
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.decide_play_settlement(bigint, bigint, boolean, text, text) IS
  'HQ finance decides a settlement: approve (the store''s part goes out as a store.settlement_payout outbox message; a zero part is paid at once) or reject with a reason (its orders are released for a new application). Approving a failed payout again retries it; the same decision twice is a no-op; anything else is PT409.';

-- The payment provider's answer for a store payout.
CREATE FUNCTION commerce.record_settlement_payout(p_tenant bigint, p_settlement bigint, p_paid boolean,
                                                  p_provider_ref text DEFAULT NULL, p_reason text DEFAULT NULL)
RETURNS commerce.play_settlement_row LANGUAGE plpgsql AS $$
DECLARE s commerce.play_settlement_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_settlement, 'p_settlement');
    PERFORM commerce._require(p_paid, 'p_paid');
    SELECT * INTO s FROM commerce.play_settlement WHERE tenant_id = p_tenant AND settlement_id = p_settlement FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('settlement', p_settlement::text, p_tenant);
    END IF;
    IF (p_paid AND s.status = 'paid') OR (NOT p_paid AND s.status = 'failed') THEN
        RETURN s;
    END IF;
    IF s.status <> 'approved' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('settlement %s is %s, not waiting for a payout', p_settlement, s.status),
            HINT    = 'Record the result of an approved settlement''s payout.';
    END IF;
    UPDATE commerce.play_settlement
       SET status = CASE WHEN p_paid THEN 'paid' ELSE 'failed' END,
           paid_at = CASE WHEN p_paid THEN commerce.now() END,
           provider_ref = coalesce(p_provider_ref, provider_ref),
           reason = CASE WHEN p_paid THEN reason ELSE coalesce(p_reason, 'payout failed') END
     WHERE tenant_id = p_tenant AND settlement_id = p_settlement RETURNING * INTO s;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.record_settlement_payout(bigint, bigint, boolean, text, text) IS
  'Record the payment provider''s answer for an approved settlement: paid, or failed (HQ approves it again to retry). The same answer twice is a no-op; a settlement not waiting for a payout is PT409.';

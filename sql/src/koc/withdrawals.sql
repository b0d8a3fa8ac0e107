-- sql/src/koc/withdrawals.sql: withdrawals and their fee (K14).

-- The fee of a withdrawal under the tenant's rule.
CREATE FUNCTION commerce.withdrawal_fee(p_tenant bigint, p_amount_fen bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT commerce.fee_fen(greatest(coalesce(p_amount_fen, 0), 0), withdraw_fee_bp, withdraw_fee_min_fen)
      FROM commerce.tenant WHERE tenant_id = p_tenant;
$$;
COMMENT ON FUNCTION commerce.withdrawal_fee(bigint, bigint) IS
  'The fee of a withdrawal: amount x withdraw_fee_bp / 10000 rounded down, at least withdraw_fee_min_fen (commerce.fee_fen).';

-- A KOC asks to withdraw part of the balance.
CREATE FUNCTION commerce.request_withdrawal(p_tenant bigint, p_request_id text, p_koc text, p_amount_fen bigint,
                                            p_method text, p_payee jsonb)
RETURNS commerce.withdrawal_row LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row; k commerce.koc_row; a commerce.koc_account_row; w commerce.withdrawal_row; v_fee bigint;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_amount_fen, 'p_amount_fen');
    PERFORM commerce._require(p_method, 'p_method');
    PERFORM commerce._require(p_payee, 'p_payee');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    a := commerce._lock_koc_account(p_tenant, k.koc_id);
    SELECT * INTO w FROM commerce.withdrawal WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF w.koc_id <> k.koc_id OR w.amount_fen <> p_amount_fen OR w.method <> p_method OR w.payee <> p_payee THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another withdrawal', p_request_id),
                DETAIL  = format('Withdrawal %s: %s fen by %s.', w.withdrawal_id, w.amount_fen, w.method),
                HINT    = 'Use a new request_id for a new withdrawal.';
        END IF;
        RETURN w;
    END IF;
    IF p_amount_fen <= 0 OR p_amount_fen < t.withdraw_min_fen THEN
        PERFORM commerce._invalid('p_amount_fen',
            format('%s fen; the minimum withdrawal is %s fen.', p_amount_fen, t.withdraw_min_fen),
            'Withdraw at least the minimum.');
    END IF;
    IF p_method NOT IN ('wechat', 'alipay', 'bank_card') THEN
        PERFORM commerce._invalid('p_method', format('"%s"', p_method), 'Use wechat, alipay or bank_card.');
    END IF;
    IF jsonb_typeof(p_payee) <> 'object'
       OR (p_method = 'wechat' AND coalesce(length(p_payee ->> 'openid'), 0) NOT BETWEEN 1 AND 128)
       OR (p_method = 'alipay' AND coalesce(length(p_payee ->> 'account'), 0) NOT BETWEEN 1 AND 128)
       OR (p_method = 'bank_card' AND (coalesce(p_payee ->> 'card_no', '') !~ '^[0-9]{12,19}$'
                                       OR coalesce(length(p_payee ->> 'holder'), 0) NOT BETWEEN 1 AND 100
                                       OR coalesce(length(p_payee ->> 'bank'), 0) NOT BETWEEN 1 AND 100)) THEN
        PERFORM commerce._invalid('p_payee', format('%s for %s', p_payee, p_method),
            'wechat: {"openid":...}; alipay: {"account":...}; bank_card: {"bank":...,"card_no":"12-19 digits","holder":...}.');
    END IF;
    v_fee := commerce.withdrawal_fee(p_tenant, p_amount_fen);
    IF v_fee >= p_amount_fen THEN
        PERFORM commerce._invalid('p_amount_fen', format('%s fen leaves nothing after the fee of %s fen.', p_amount_fen, v_fee),
                                  'Withdraw more than the fee.');
    END IF;
    IF k.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('KOC "%s" is %s', p_koc, k.status),
            DETAIL  = 'A frozen or suspended KOC cannot withdraw.',
            HINT    = 'A reviewer must clear the KOC first.';
    END IF;
    IF a.balance_fen < p_amount_fen THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('KOC "%s" has %s fen to withdraw, not %s', p_koc, a.balance_fen, p_amount_fen),
            DETAIL  = format('Balance %s fen; in flight %s fen.', a.balance_fen, a.in_flight_fen),
            HINT    = 'Withdraw at most the balance.';
    END IF;
    INSERT INTO commerce.withdrawal (tenant_id, request_id, koc_id, amount_fen, fee_fen, method, payee, status,
                                     requested_at)
    VALUES (p_tenant, p_request_id, k.koc_id, p_amount_fen, v_fee, p_method, p_payee, 'requested', commerce.now())
    RETURNING * INTO w;
    PERFORM commerce._koc_post(p_tenant, k.koc_id, 'withdraw', NULL, w.withdrawal_id, 0, -p_amount_fen,
                               p_amount_fen, 0, 0);
    RETURN w;
END $$;
COMMENT ON FUNCTION commerce.request_withdrawal(bigint, text, text, bigint, text, jsonb) IS
  'A KOC asks to withdraw from the balance (WeChat, Alipay, bank card): at least the minimum, at most the balance (PT409), more than the fee; the amount leaves the balance at once and waits for review. Idempotent by request_id.';

-- A reviewer approves (payout request through the outbox) or rejects (money back) a withdrawal.
CREATE FUNCTION commerce.review_withdrawal(p_tenant bigint, p_withdrawal bigint, p_approve boolean,
                                           p_reviewer text, p_reason text DEFAULT NULL)
RETURNS commerce.withdrawal_row LANGUAGE plpgsql AS $$
DECLARE w commerce.withdrawal_row; k commerce.koc_row; v_target text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_withdrawal, 'p_withdrawal');
    PERFORM commerce._require(p_approve, 'p_approve');
    PERFORM commerce._require(p_reviewer, 'p_reviewer');
    SELECT * INTO w FROM commerce.withdrawal WHERE tenant_id = p_tenant AND withdrawal_id = p_withdrawal;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('withdrawal', p_withdrawal::text, p_tenant);
    END IF;
    PERFORM commerce._lock_koc_account(p_tenant, w.koc_id);
    SELECT * INTO w FROM commerce.withdrawal WHERE tenant_id = p_tenant AND withdrawal_id = p_withdrawal FOR UPDATE;
    v_target := CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END;
    IF w.status = v_target OR (p_approve AND w.status IN ('paid', 'failed')) THEN
        RETURN w;
    END IF;
    -- (a decision the state machine refuses gets PT409 from its trigger, whatever the reason)
    IF NOT p_approve AND w.status = 'requested' AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A rejection gives a reason.', 'Tell the KOC why.');
    END IF;
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND koc_id = w.koc_id;
    IF p_approve AND k.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('KOC "%s" is %s', k.code, k.status),
            DETAIL  = 'A withdrawal of a frozen or suspended KOC is not paid.',
            HINT    = 'Clear the KOC first, or reject the withdrawal.';
    END IF;
    UPDATE commerce.withdrawal
       SET status = v_target, reviewer = p_reviewer, reason = p_reason, reviewed_at = commerce.now(),
           finished_at = CASE WHEN p_approve THEN NULL ELSE commerce.now() END
     WHERE tenant_id = p_tenant AND withdrawal_id = p_withdrawal RETURNING * INTO w;
    IF p_approve THEN
        PERFORM commerce.enqueue(p_tenant, 'koc.payout',
            jsonb_build_object('payout_ref', 'withdrawal:' || w.withdrawal_id, 'koc', k.code,
                               'amount_fen', w.amount_fen - w.fee_fen, 'fee_fen', w.fee_fen,
                               'method', w.method, 'payee', w.payee),
            'withdrawal:' || w.withdrawal_id);
    ELSE
        PERFORM commerce._koc_post(p_tenant, w.koc_id, 'withdraw_returned', NULL, w.withdrawal_id, 0,
                                   w.amount_fen, -w.amount_fen, 0, 0);
    END IF;
    RETURN w;
END $$;
COMMENT ON FUNCTION commerce.review_withdrawal(bigint, bigint, boolean, text, text) IS
  'Approve a withdrawal (a koc.payout message goes to the payment provider) or reject it with a reason (the money goes back to the balance). The same decision again is a no-op; the other one is refused (PT409).';

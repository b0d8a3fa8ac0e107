-- sql/src/koc/settlement.sql: T+0.5 settlement batches, payouts and their
-- results (K13), C in src/koc_settlement.c.

-- C: settle up to p_limit KOCs whose lines are due; returns how many KOCs it looked at.
CREATE FUNCTION commerce.settle_commissions(p_limit integer DEFAULT 1000) RETURNS integer
    AS 'MODULE_PATHNAME', 'commerce_settle_commissions' LANGUAGE C;
COMMENT ON FUNCTION commerce.settle_commissions(integer) IS
  'The T+0.5 settlement (one batch): for up to p_limit KOCs with due lines (SKIP LOCKED; a KOC not active or not signed to the current agreement is held until that changes), nets the longest run of payable lines after the last settled one into a batch: positive -> paying with a koc.payout message; zero -> netted; negative -> netted against the balance when it covers it, else carried forward. Returns the number of KOCs looked at.';

CREATE PROCEDURE commerce.settle_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.settle_commissions', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.settle_pump(integer, integer) IS
  'The T+0.5 settlement job (pg_cron, every 10 minutes): settles every due KOC, committed per batch of KOCs.';

-- Lock a KOC's account (creating it); the row orders every movement of its money.
CREATE FUNCTION commerce._lock_koc_account(p_tenant bigint, p_koc bigint)
RETURNS commerce.koc_account_row LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_account_row;
BEGIN
    INSERT INTO commerce.koc_account (tenant_id, koc_id) VALUES (p_tenant, p_koc) ON CONFLICT DO NOTHING;
    SELECT * INTO a FROM commerce.koc_account WHERE tenant_id = p_tenant AND koc_id = p_koc FOR UPDATE;
    RETURN a;
END $$;

-- Apply one ledger entry to a KOC's account (the caller holds the account lock).
CREATE FUNCTION commerce._koc_post(p_tenant bigint, p_koc bigint, p_kind text, p_batch bigint, p_withdrawal bigint,
                                   p_settled bigint, p_balance bigint, p_in_flight bigint, p_paid bigint,
                                   p_fee bigint)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO commerce.koc_ledger (tenant_id, koc_id, kind, batch_id, withdrawal_id, settled_delta,
                                     balance_delta, in_flight_delta, paid_delta, fee_delta, created_at)
    VALUES (p_tenant, p_koc, p_kind, p_batch, p_withdrawal, p_settled, p_balance, p_in_flight, p_paid,
            p_fee, commerce.now());
    UPDATE commerce.koc_account
       SET settled_fen = settled_fen + p_settled, balance_fen = balance_fen + p_balance,
           in_flight_fen = in_flight_fen + p_in_flight, paid_fen = paid_fen + p_paid, fee_fen = fee_fen + p_fee,
           -- money back in the balance may let a carried-forward negative run net
           due_at = CASE WHEN p_balance > 0 AND next_seq - 1 > settled_seq
                         THEN least(due_at, commerce.now()) ELSE due_at END
     WHERE tenant_id = p_tenant AND koc_id = p_koc;
$$;

-- A failed payout carries the provider's reason (22023 otherwise).
CREATE FUNCTION commerce._payout_reason(p_status text, p_reason text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_status = 'failed' AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A failed payout gives the provider''s reason.', 'Pass the reason.');
    END IF;
END $$;

-- The result of a payout (a settlement batch or a withdrawal) from the payment provider.
CREATE FUNCTION commerce.record_payout(p_tenant bigint, p_payout_ref text, p_status text,
                                       p_provider_ref text DEFAULT NULL, p_reason text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE b commerce.settle_batch; w commerce.withdrawal_row; v_kind text; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_payout_ref, 'p_payout_ref');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('paid', 'failed') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', p_status), 'A payout is paid or failed.');
    END IF;
    IF p_payout_ref !~ '^(batch|withdrawal):[0-9]{1,18}$' THEN
        PERFORM commerce._invalid('p_payout_ref', format('"%s"', p_payout_ref),
                                  'Pass the payout_ref of the koc.payout message: batch:<id> or withdrawal:<id>.');
    END IF;
    v_kind := split_part(p_payout_ref, ':', 1);
    v_id := split_part(p_payout_ref, ':', 2)::bigint;
    IF v_kind = 'batch' THEN
        SELECT * INTO b FROM commerce.settle_batch WHERE tenant_id = p_tenant AND batch_id = v_id;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('settlement batch', v_id::text, p_tenant);
        END IF;
        PERFORM commerce._lock_koc_account(p_tenant, b.koc_id);
        SELECT * INTO b FROM commerce.settle_batch WHERE tenant_id = p_tenant AND batch_id = v_id FOR UPDATE;
        IF b.status = p_status THEN
            RETURN b.status;
        END IF;
        PERFORM commerce._payout_reason(p_status, p_reason);
        UPDATE commerce.settle_batch
           SET status = p_status, provider_ref = p_provider_ref, failure_reason = p_reason,
               finished_at = commerce.now()
         WHERE tenant_id = p_tenant AND batch_id = v_id;
        IF p_status = 'paid' THEN
            PERFORM commerce._koc_post(p_tenant, b.koc_id, 'payout_paid', v_id, NULL, 0, 0, -b.amount_fen, b.amount_fen, 0);
        ELSE
            PERFORM commerce._koc_post(p_tenant, b.koc_id, 'payout_failed', v_id, NULL, 0, b.amount_fen, -b.amount_fen, 0, 0);
        END IF;
        RETURN p_status;
    END IF;
    SELECT * INTO w FROM commerce.withdrawal WHERE tenant_id = p_tenant AND withdrawal_id = v_id;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('withdrawal', v_id::text, p_tenant);
    END IF;
    PERFORM commerce._lock_koc_account(p_tenant, w.koc_id);
    SELECT * INTO w FROM commerce.withdrawal WHERE tenant_id = p_tenant AND withdrawal_id = v_id FOR UPDATE;
    IF w.status = p_status THEN
        RETURN w.status;
    END IF;
    PERFORM commerce._payout_reason(p_status, p_reason);
    IF w.status = 'requested' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('withdrawal %s has not been approved', v_id),
            DETAIL  = 'Only an approved withdrawal is sent to the provider.',
            HINT    = 'Review it with commerce.review_withdrawal first.';
    END IF;
    UPDATE commerce.withdrawal
       SET status = p_status, provider_ref = p_provider_ref, reason = coalesce(p_reason, reason),
           finished_at = commerce.now()
     WHERE tenant_id = p_tenant AND withdrawal_id = v_id;
    IF p_status = 'paid' THEN
        PERFORM commerce._koc_post(p_tenant, w.koc_id, 'withdraw_paid', NULL, v_id, 0, 0, -w.amount_fen,
                                   w.amount_fen - w.fee_fen, w.fee_fen);
    ELSE
        PERFORM commerce._koc_post(p_tenant, w.koc_id, 'withdraw_returned', NULL, v_id, 0, w.amount_fen,
                                   -w.amount_fen, 0, 0);
    END IF;
    RETURN p_status;
END $$;
COMMENT ON FUNCTION commerce.record_payout(bigint, text, text, text, text) IS
  'The payment provider''s answer to a koc.payout message (payout_ref batch:<id> or withdrawal:<id>): paid, or failed with a reason (the money goes back to the KOC''s balance). The same answer again is a no-op; the other answer after a final one is refused (PT409).';

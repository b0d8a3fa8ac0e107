/*
 * commerce 0.3.0 -> 0.4.0: KOCs (issue 4), second part: commission lines on
 * redemption and reversal (K13, K15), T+0.5 settlement batches, payouts and
 * withdrawals (K14), and the monthly level recalculation (K07).
 *
 * Money model (DESIGN.md invariants 2 and 3):
 *   commission_line  append-only, one per source event (the redemption of an
 *                    order, each refund of it); numbered 1, 2, ... per KOC.
 *   settle_batch     a run of a KOC's lines (from_seq..to_seq) netted into
 *                    one amount: paid out through the outbox, or netted
 *                    against the balance when negative.
 *   koc_account      per KOC: settled_seq (lines up to it are settled),
 *                    balance (withdrawable), in flight, paid, fees.
 *   koc_ledger       append-only deltas; their sums equal the account.
 * Lines are never updated: whether a line is settled is seq <= settled_seq.
 */

\echo Use "ALTER EXTENSION commerce UPDATE TO '0.4.0'" to load this file. \quit

ALTER TABLE commerce.tenant
    ADD COLUMN koc_rate_bp integer NOT NULL DEFAULT 0 CHECK (koc_rate_bp BETWEEN 0 AND 10000),
    ADD COLUMN settle_hold interval NOT NULL DEFAULT '12 hours' CHECK (settle_hold >= '0'::interval),
    ADD COLUMN withdraw_min_fen bigint NOT NULL DEFAULT 100 CHECK (withdraw_min_fen > 0),
    ADD COLUMN withdraw_fee_bp integer NOT NULL DEFAULT 0 CHECK (withdraw_fee_bp BETWEEN 0 AND 10000),
    ADD COLUMN withdraw_fee_min_fen bigint NOT NULL DEFAULT 0 CHECK (withdraw_fee_min_fen >= 0),
    ADD COLUMN level_demotion text NOT NULL DEFAULT 'one_step'
        CHECK (level_demotion IN ('none', 'one_step', 'to_met'));
COMMENT ON COLUMN commerce.tenant.koc_rate_bp IS 'Commission rate of an attributed order without a task (before the level bonus).';
COMMENT ON COLUMN commerce.tenant.settle_hold IS 'T+0.5: how long after its redemption a commission line becomes payable (default 12 hours).';
COMMENT ON COLUMN commerce.tenant.withdraw_min_fen IS 'The smallest withdrawal, in fen.';
COMMENT ON COLUMN commerce.tenant.withdraw_fee_bp IS 'Withdrawal fee: this share of the amount, rounded down, but at least withdraw_fee_min_fen.';
COMMENT ON COLUMN commerce.tenant.withdraw_fee_min_fen IS 'The smallest withdrawal fee, in fen.';
COMMENT ON COLUMN commerce.tenant.level_demotion IS 'Monthly recalculation: none (levels never drop), one_step (a KOC missing its level''s rule drops one level) or to_met (to the highest level whose rule is met).';

-- The outbox loses its foreign key to the tenant, as the order and stock tables
-- did: every check locked the tenant row (FOR KEY SHARE), so all producers of
-- a tenant queued on one row; the producers check the tenant themselves
-- (commerce.enqueue calls _tenant, C producers run for rows of a known tenant).
ALTER TABLE commerce.outbox DROP CONSTRAINT outbox_tenant_id_fkey;

-- the new-customer test of a redemption looks at the buyer's earlier orders
CREATE INDEX orders_customer ON commerce.orders (tenant_id, customer_id, paid_at)
    WHERE customer_id IS NOT NULL;

-- ===========================================================================
-- commission lines (K13, K15)
-- ===========================================================================

CREATE TABLE commerce.koc_account (
    tenant_id     bigint NOT NULL,
    koc_id        bigint NOT NULL,
    next_seq      bigint NOT NULL DEFAULT 1,
    settled_seq   bigint NOT NULL DEFAULT 0,
    settled_fen   bigint NOT NULL DEFAULT 0,
    balance_fen   bigint NOT NULL DEFAULT 0 CHECK (balance_fen >= 0),
    in_flight_fen bigint NOT NULL DEFAULT 0 CHECK (in_flight_fen >= 0),
    paid_fen      bigint NOT NULL DEFAULT 0 CHECK (paid_fen >= 0),
    fee_fen       bigint NOT NULL DEFAULT 0 CHECK (fee_fen >= 0),
    unsettled_fen bigint NOT NULL DEFAULT 0,
    last_payable_at timestamptz,
    due_at        timestamptz,
    PRIMARY KEY (tenant_id, koc_id),
    FOREIGN KEY (tenant_id, koc_id) REFERENCES commerce.koc,
    CHECK (settled_seq >= 0 AND settled_seq < next_seq)
);
CREATE INDEX koc_account_due ON commerce.koc_account (due_at) WHERE due_at IS NOT NULL;
COMMENT ON TABLE commerce.koc_account IS
  'The money of a KOC: lines 1..settled_seq are settled (settled_fen in all); the settled money is withdrawable (balance), in flight to the payment provider, paid, or taken as fees. unsettled_fen and last_payable_at sum up the lines after settled_seq (when last_payable_at has passed, all of them are payable and settlement reads no line). due_at: when the settlement pump should look again (NULL: nothing to do, or held until the KOC is active and has signed). The row is the lock that orders the KOC''s lines, settlements and withdrawals.';

-- An account held by settlement (frozen KOC, agreement not signed) is looked at again when that changes.
CREATE FUNCTION commerce._koc_account_rearm() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE commerce.koc_account
       SET due_at = least(due_at, commerce.now())
     WHERE tenant_id = NEW.tenant_id AND koc_id = NEW.koc_id AND next_seq - 1 > settled_seq;
    RETURN NULL;
END $$;
CREATE TRIGGER koc_account_rearm_on_sign AFTER INSERT ON commerce.agreement_signature
    FOR EACH ROW EXECUTE FUNCTION commerce._koc_account_rearm();
CREATE TRIGGER koc_account_rearm_on_active AFTER UPDATE OF status ON commerce.koc
    FOR EACH ROW WHEN (NEW.status = 'active' AND OLD.status IS DISTINCT FROM 'active')
    EXECUTE FUNCTION commerce._koc_account_rearm();

CREATE TABLE commerce.commission_line (
    tenant_id      bigint NOT NULL,
    koc_id         bigint NOT NULL,
    seq            bigint NOT NULL CHECK (seq > 0),
    kind           text NOT NULL CHECK (kind IN ('earn', 'reverse')),
    source_key     text NOT NULL,
    order_id       bigint,
    task_id        bigint,
    customer_id    bigint,
    new_customer   boolean NOT NULL DEFAULT false,
    base_fen       bigint NOT NULL,
    task_rate_bp   integer NOT NULL,
    level_code     text NOT NULL,
    level_bonus_bp integer NOT NULL,
    rate_bp        integer NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
    bounty_fen     bigint NOT NULL,
    amount_fen     bigint NOT NULL,
    rule           text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    payable_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, koc_id, seq),
    UNIQUE (tenant_id, source_key),
    CHECK ((kind = 'earn' AND base_fen >= 0 AND amount_fen >= 0 AND bounty_fen >= 0)
        OR (kind = 'reverse' AND base_fen <= 0 AND amount_fen <= 0 AND bounty_fen <= 0))
);
CREATE INDEX commission_line_order ON commerce.commission_line (tenant_id, order_id);
CREATE INDEX commission_line_time ON commerce.commission_line (tenant_id, occurred_at);
CREATE TRIGGER commission_line_append_only BEFORE UPDATE OR DELETE ON commerce.commission_line
    FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard();
CREATE TRIGGER commission_line_no_truncate BEFORE TRUNCATE ON commerce.commission_line
    FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard();
COMMENT ON TABLE commerce.commission_line IS
  'The commission ledger (append-only): an earn line when an attributed order is redeemed (completed), base x (task rate + level bonus) rounded down to the fen, plus the task bounty; a reverse line (negative) for each refund. Rate, level and rule are snapshotted. Unique per source event; numbered per KOC (seq) so settlement can take a prefix.';
COMMENT ON COLUMN commerce.commission_line.rule IS 'The formula version: floor-v1 = floor(base_fen x rate_bp / 10000) + bounty_fen; a reversal takes back the difference of that formula before and after the refund.';
COMMENT ON COLUMN commerce.commission_line.payable_at IS 'Earn: redemption + the tenant''s settle_hold (T+0.5). Reverse: at once.';

CREATE TABLE commerce.settle_batch (
    tenant_id      bigint NOT NULL,
    batch_id       bigint GENERATED BY DEFAULT AS IDENTITY,
    koc_id         bigint NOT NULL,
    from_seq       bigint NOT NULL,
    to_seq         bigint NOT NULL,
    line_count     integer NOT NULL CHECK (line_count > 0),
    amount_fen     bigint NOT NULL,
    status         text NOT NULL,
    provider_ref   text,
    failure_reason text,
    created_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    PRIMARY KEY (tenant_id, batch_id),
    UNIQUE (tenant_id, koc_id, from_seq),
    CHECK (from_seq > 0 AND from_seq <= to_seq),
    CHECK (status IN ('paying', 'paid', 'failed', 'netted')),
    CHECK (status <> 'paying' OR (amount_fen > 0 AND finished_at IS NULL)),
    CHECK (status NOT IN ('paid', 'failed') OR (amount_fen > 0 AND finished_at IS NOT NULL)),
    CHECK (status <> 'netted' OR amount_fen <= 0)
);
CREATE TRIGGER settle_batch_state BEFORE INSERT OR UPDATE ON commerce.settle_batch
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'paying,netted',
        'paying>paid', 'paying>failed');
COMMENT ON TABLE commerce.settle_batch IS
  'A settlement of a KOC''s payable lines from_seq..to_seq netted into one amount. Positive: paying -> paid | failed (failed money goes to the balance). Zero or negative: netted at once (a negative amount is taken from the balance). Ends exactly once.';

CREATE TABLE commerce.withdrawal (
    tenant_id     bigint NOT NULL,
    withdrawal_id bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id    text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    koc_id        bigint NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    fee_fen       bigint NOT NULL CHECK (fee_fen >= 0 AND fee_fen < amount_fen),
    method        text NOT NULL CHECK (method IN ('wechat', 'alipay', 'bank_card')),
    payee         jsonb NOT NULL,
    status        text NOT NULL,
    reviewer      text,
    reason        text,
    provider_ref  text,
    requested_at  timestamptz NOT NULL,
    reviewed_at   timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (tenant_id, withdrawal_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, koc_id) REFERENCES commerce.koc,
    CHECK (status IN ('requested', 'approved', 'rejected', 'paid', 'failed')),
    CHECK (status = 'requested' OR reviewed_at IS NOT NULL),
    CHECK ((status IN ('rejected', 'paid', 'failed')) = (finished_at IS NOT NULL))
);
CREATE TRIGGER withdrawal_state BEFORE INSERT OR UPDATE ON commerce.withdrawal
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'requested',
        'requested>approved', 'requested>rejected', 'approved>paid', 'approved>failed');
COMMENT ON TABLE commerce.withdrawal IS
  'A KOC takes money out of the balance to WeChat, Alipay or a bank card (K14): requested (the amount leaves the balance) -> approved (payout request in the outbox) -> paid | failed, or requested -> rejected; rejected and failed money goes back to the balance. The fee is kept from the amount paid.';

CREATE TABLE commerce.koc_ledger (
    tenant_id       bigint NOT NULL,
    entry_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    koc_id          bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('settle', 'settle_netted', 'payout_paid', 'payout_failed',
                                                  'withdraw', 'withdraw_returned', 'withdraw_paid')),
    batch_id        bigint,
    withdrawal_id   bigint,
    settled_delta   bigint NOT NULL DEFAULT 0,
    balance_delta   bigint NOT NULL DEFAULT 0,
    in_flight_delta bigint NOT NULL DEFAULT 0,
    paid_delta      bigint NOT NULL DEFAULT 0,
    fee_delta       bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, entry_id),
    CHECK ((batch_id IS NULL) <> (withdrawal_id IS NULL)),
    CHECK (settled_delta = balance_delta + in_flight_delta + paid_delta + fee_delta)
);
CREATE INDEX koc_ledger_koc ON commerce.koc_ledger (tenant_id, koc_id);
CREATE TRIGGER koc_ledger_append_only BEFORE UPDATE OR DELETE ON commerce.koc_ledger
    FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard();
CREATE TRIGGER koc_ledger_no_truncate BEFORE TRUNCATE ON commerce.koc_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard();
COMMENT ON TABLE commerce.koc_ledger IS
  'Every movement of a KOC''s settled money (append-only): the sums of the deltas equal koc_account''s columns, and each entry keeps settled = balance + in flight + paid + fees.';

-- C: the commission line of a redemption (orders: status becomes completed).
CREATE FUNCTION commerce.commission_on_redeem() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_commission_on_redeem' LANGUAGE C;
CREATE TRIGGER commission_on_redeem AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed'
                       AND NEW.koc_id IS NOT NULL)
    EXECUTE FUNCTION commerce.commission_on_redeem();

-- C: the reversing line of a refund event.
CREATE FUNCTION commerce.commission_on_refund() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_commission_on_refund' LANGUAGE C;
CREATE TRIGGER commission_on_refund AFTER INSERT ON commerce.order_event
    FOR EACH ROW WHEN (NEW.kind = 'refund')
    EXECUTE FUNCTION commerce.commission_on_refund();

-- Redeem an order: the buyer confirmed receipt or the service was used (核销).
CREATE FUNCTION commerce.complete_order(p_tenant bigint, p_order bigint)
RETURNS commerce.orders LANGUAGE plpgsql AS $$
DECLARE o commerce.orders;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    o := commerce._lock_order(p_tenant, p_order);
    IF o.status = 'completed' THEN
        RETURN o;
    END IF;
    IF o.status NOT IN ('paid', 'shipped') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('order %s cannot be completed from %s', p_order, o.status),
            DETAIL  = 'Only a paid or shipped order is redeemed.',
            HINT    = 'Wait for payment; a cancelled or refunded order stays so.';
    END IF;
    PERFORM commerce._reason('redeemed');
    UPDATE commerce.orders SET status = 'completed'
     WHERE tenant_id = p_tenant AND order_id = p_order RETURNING * INTO o;
    RETURN o;
END $$;
COMMENT ON FUNCTION commerce.complete_order(bigint, bigint) IS
  'Redeem a paid or shipped order (receipt confirmed, service used: 核销). An attributed order gets its commission line. Completing again is a no-op.';

-- ===========================================================================
-- settings
-- ===========================================================================

-- Set the KOC money settings of a tenant; NULL leaves a setting unchanged.
CREATE FUNCTION commerce.set_koc_settings(p_tenant bigint,
                                          p_koc_rate_bp integer DEFAULT NULL,
                                          p_settle_hold interval DEFAULT NULL,
                                          p_withdraw_min_fen bigint DEFAULT NULL,
                                          p_withdraw_fee_bp integer DEFAULT NULL,
                                          p_withdraw_fee_min_fen bigint DEFAULT NULL,
                                          p_level_demotion text DEFAULT NULL,
                                          p_attribution_window interval DEFAULT NULL,
                                          p_self_referral text DEFAULT NULL)
RETURNS commerce.tenant LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_koc_rate_bp IS NOT NULL AND p_koc_rate_bp NOT BETWEEN 0 AND 10000 THEN
        PERFORM commerce._invalid('p_koc_rate_bp', format('%s bp', p_koc_rate_bp), 'A rate is 0 to 10000 basis points.');
    END IF;
    IF p_settle_hold IS NOT NULL AND (p_settle_hold < '0'::interval OR p_settle_hold > '90 days'::interval) THEN
        PERFORM commerce._invalid('p_settle_hold', format('%s', p_settle_hold), 'A hold is 0 to 90 days (T+0.5 = 12 hours).');
    END IF;
    IF p_withdraw_min_fen IS NOT NULL AND p_withdraw_min_fen <= 0 THEN
        PERFORM commerce._invalid('p_withdraw_min_fen', format('%s fen', p_withdraw_min_fen), 'The minimum withdrawal is a positive amount in fen.');
    END IF;
    IF p_withdraw_fee_bp IS NOT NULL AND p_withdraw_fee_bp NOT BETWEEN 0 AND 10000 THEN
        PERFORM commerce._invalid('p_withdraw_fee_bp', format('%s bp', p_withdraw_fee_bp), 'A fee rate is 0 to 10000 basis points.');
    END IF;
    IF p_withdraw_fee_min_fen IS NOT NULL AND p_withdraw_fee_min_fen < 0 THEN
        PERFORM commerce._invalid('p_withdraw_fee_min_fen', format('%s fen', p_withdraw_fee_min_fen), 'The minimum fee is 0 or more fen.');
    END IF;
    IF p_level_demotion IS NOT NULL AND p_level_demotion NOT IN ('none', 'one_step', 'to_met') THEN
        PERFORM commerce._invalid('p_level_demotion', format('"%s"', p_level_demotion), 'Use none, one_step or to_met.');
    END IF;
    IF p_attribution_window IS NOT NULL AND (p_attribution_window <= '0'::interval OR p_attribution_window > '90 days'::interval) THEN
        PERFORM commerce._invalid('p_attribution_window', format('%s', p_attribution_window), 'An attribution window is more than 0 and at most 90 days.');
    END IF;
    IF p_self_referral IS NOT NULL AND p_self_referral NOT IN ('deny', 'allow') THEN
        PERFORM commerce._invalid('p_self_referral', format('"%s"', p_self_referral), 'Use deny or allow.');
    END IF;
    UPDATE commerce.tenant
       SET koc_rate_bp = coalesce(p_koc_rate_bp, koc_rate_bp),
           settle_hold = coalesce(p_settle_hold, settle_hold),
           withdraw_min_fen = coalesce(p_withdraw_min_fen, withdraw_min_fen),
           withdraw_fee_bp = coalesce(p_withdraw_fee_bp, withdraw_fee_bp),
           withdraw_fee_min_fen = coalesce(p_withdraw_fee_min_fen, withdraw_fee_min_fen),
           level_demotion = coalesce(p_level_demotion, level_demotion),
           attribution_window = coalesce(p_attribution_window, attribution_window),
           self_referral = coalesce(p_self_referral, self_referral)
     WHERE tenant_id = p_tenant RETURNING * INTO t;
    RETURN t;
END $$;
COMMENT ON FUNCTION commerce.set_koc_settings(bigint, integer, interval, bigint, integer, bigint, text, interval, text) IS
  'Set a tenant''s KOC settings (base rate, T+0.5 hold, withdrawal minimum and fee, demotion rule, attribution window, self-referral); NULL leaves one unchanged.';

-- ===========================================================================
-- settlement (T+0.5) and payouts
-- ===========================================================================

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

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-settle-commissions', '*/10 * * * *', 'CALL commerce.settle_pump()');

-- Lock a KOC's account (creating it); the row orders every movement of its money.
CREATE FUNCTION commerce._lock_koc_account(p_tenant bigint, p_koc bigint)
RETURNS commerce.koc_account LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_account;
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
DECLARE b commerce.settle_batch; w commerce.withdrawal; v_kind text; v_id bigint;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
  'The payment provider''s answer to a koc.payout message (payout_ref batch:<id> or withdrawal:<id>): paid, or failed with a reason (the money goes back to the KOC''s balance). The same answer again is a no-op; the other answer after a final one is refused (PT412).';

-- ===========================================================================
-- withdrawals (K14)
-- ===========================================================================

-- The fee of a withdrawal under the tenant's rule.
CREATE FUNCTION commerce.withdrawal_fee(p_tenant bigint, p_amount_fen bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT greatest(floor(p_amount_fen::numeric * withdraw_fee_bp / 10000)::bigint, withdraw_fee_min_fen)
      FROM commerce.tenant WHERE tenant_id = p_tenant;
$$;
COMMENT ON FUNCTION commerce.withdrawal_fee(bigint, bigint) IS
  'The fee of a withdrawal: amount x withdraw_fee_bp / 10000 rounded down, at least withdraw_fee_min_fen.';

-- A KOC asks to withdraw part of the balance.
CREATE FUNCTION commerce.request_withdrawal(p_tenant bigint, p_request_id text, p_koc text, p_amount_fen bigint,
                                            p_method text, p_payee jsonb)
RETURNS commerce.withdrawal LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant; k commerce.koc; a commerce.koc_account; w commerce.withdrawal; v_fee bigint;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_amount_fen, 'p_amount_fen');
    PERFORM commerce._require(p_method, 'p_method');
    PERFORM commerce._require(p_payee, 'p_payee');
    IF length(p_request_id) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_request_id', 'A request_id is 1 to 200 characters.', 'Use a UUID.');
    END IF;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
RETURNS commerce.withdrawal LANGUAGE plpgsql AS $$
DECLARE w commerce.withdrawal; k commerce.koc; v_target text;
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
    -- (a decision the state machine refuses gets PT412 from its trigger, whatever the reason)
    IF NOT p_approve AND w.status = 'requested' AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A rejection gives a reason.', 'Tell the KOC why.');
    END IF;
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND koc_id = w.koc_id;
    IF p_approve AND k.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
  'Approve a withdrawal (a koc.payout message goes to the payment provider) or reject it with a reason (the money goes back to the balance). The same decision again is a no-op; the other one is refused (PT412).';

-- ===========================================================================
-- level recalculation (K07)
-- ===========================================================================

CREATE TABLE commerce.koc_level_run (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    month      date NOT NULL CHECK (extract(day FROM month) = 1),
    koc_count  integer NOT NULL,
    promoted   integer NOT NULL,
    demoted    integer NOT NULL,
    ran_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, month)
);
COMMENT ON TABLE commerce.koc_level_run IS
  'One row per tenant and closed month whose levels were recalculated: running a month again changes nothing.';

CREATE TABLE commerce.koc_level_change (
    tenant_id  bigint NOT NULL,
    change_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    koc_id     bigint NOT NULL,
    month      date NOT NULL,
    from_level text NOT NULL,
    to_level   text NOT NULL,
    direction  text NOT NULL CHECK (direction IN ('promote', 'demote')),
    figures    jsonb NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, change_id),
    UNIQUE (tenant_id, koc_id, month)
);
CREATE TRIGGER koc_level_change_append_only BEFORE UPDATE OR DELETE ON commerce.koc_level_change
    FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard();
COMMENT ON TABLE commerce.koc_level_change IS
  'Level changes made by the monthly recalculation, with the month''s figures that justified them (append-only).';

-- C: recalculate the levels of a tenant's KOCs for one closed month.
CREATE FUNCTION commerce.recalculate_levels(p_tenant bigint, p_month date,
                                            OUT koc_count integer, OUT promoted integer, OUT demoted integer,
                                            OUT already_done boolean)
    AS 'MODULE_PATHNAME', 'commerce_recalculate_levels' LANGUAGE C;
COMMENT ON FUNCTION commerce.recalculate_levels(bigint, date) IS
  'Month close (K07): computes each KOC''s figures for the tenant-local month (redemptions, new customers, repurchase rate in bp, GMV in fen), promotes to the highest level whose rule they meet, demotes by the tenant''s rule, records the changes with the figures and notifies koc.level_changed. Once per month: a second run returns already_done.';

-- A KOC's figures for a tenant-local month, as the recalculation sees them.
CREATE FUNCTION commerce.koc_month_figures(p_tenant bigint, p_month date)
RETURNS TABLE (koc_id bigint, redemptions bigint, new_customers bigint, repurchase_rate_bp bigint, gmv_fen bigint)
LANGUAGE sql STABLE AS $$
    WITH b AS (SELECT (date_trunc('month', p_month::timestamp) AT TIME ZONE t.time_zone) AS lo,
                      ((date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE t.time_zone) AS hi
                 FROM commerce.tenant t WHERE t.tenant_id = p_tenant),
         c AS (SELECT l.koc_id, l.customer_id,
                      count(*) FILTER (WHERE l.kind = 'earn') AS earns,
                      bool_or(l.new_customer) AS new_customer,
                      sum(l.base_fen) AS gmv
                 FROM b, commerce.commission_line l
                WHERE l.tenant_id = p_tenant AND l.occurred_at >= b.lo AND l.occurred_at < b.hi
                GROUP BY l.koc_id, l.customer_id)
    SELECT c.koc_id, sum(earns)::bigint,
           count(*) FILTER (WHERE new_customer)::bigint,
           CASE WHEN count(*) FILTER (WHERE earns > 0) = 0 THEN 0
                ELSE (10000 * count(*) FILTER (WHERE earns >= 2) / count(*) FILTER (WHERE earns > 0))::bigint END,
           sum(gmv)::bigint
      FROM c GROUP BY c.koc_id;
$$;
COMMENT ON FUNCTION commerce.koc_month_figures(bigint, date) IS
  'Per KOC, for the tenant-local month: redemptions (earn lines), new customers (buyers whose first paid order it was), repurchase rate (buyers with two or more redemptions / buyers, bp, rounded down) and GMV (commission base net of refunds in the month, fen). KOCs without lines in the month are absent (all figures 0).';

-- Recalculate every closed month that is due, for every tenant (or one), oldest first.
CREATE FUNCTION commerce.recalculate_due_levels(p_tenant bigint DEFAULT NULL, p_max_months integer DEFAULT 24)
RETURNS TABLE (tenant_id bigint, month date, koc_count integer, promoted integer, demoted integer)
LANGUAGE plpgsql AS $$
DECLARE t record; m date; r record; v_local timestamp; n integer;
BEGIN
    FOR t IN SELECT tn.tenant_id, tn.time_zone FROM commerce.tenant tn
              WHERE p_tenant IS NULL OR tn.tenant_id = p_tenant ORDER BY tn.tenant_id LOOP
        v_local := commerce.now() AT TIME ZONE t.time_zone;
        SELECT (max(lr.month) + interval '1 month')::date INTO m
          FROM commerce.koc_level_run lr WHERE lr.tenant_id = t.tenant_id;
        IF m IS NULL THEN
            SELECT date_trunc('month', min(k.joined_at) AT TIME ZONE t.time_zone)::date INTO m
              FROM commerce.koc k WHERE k.tenant_id = t.tenant_id;
        END IF;
        n := 0;
        WHILE m IS NOT NULL AND (m + interval '1 month') <= v_local AND n < p_max_months LOOP
            SELECT * INTO r FROM commerce.recalculate_levels(t.tenant_id, m);
            IF NOT r.already_done THEN
                tenant_id := t.tenant_id; month := m; koc_count := r.koc_count;
                promoted := r.promoted; demoted := r.demoted;
                RETURN NEXT;
            END IF;
            m := (m + interval '1 month')::date;
            n := n + 1;
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.recalculate_due_levels(bigint, integer) IS
  'The month-close job (pg_cron, hourly): for each tenant, every month closed in its time zone and not yet recalculated, oldest first (a late run catches up, at most p_max_months per call).';

CREATE PROCEDURE commerce.level_pump()
LANGUAGE plpgsql AS $$
DECLARE t bigint;
BEGIN
    FOR t IN SELECT tenant_id FROM commerce.tenant ORDER BY tenant_id LOOP
        PERFORM commerce.recalculate_due_levels(t);
        COMMIT;
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.level_pump() IS
  'The monthly level job: recalculate_due_levels tenant by tenant, committing after each.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-koc-levels', '7 * * * *', 'CALL commerce.level_pump()');

-- ===========================================================================
-- checks
-- ===========================================================================

-- Every KOC money invariant; one row per violation.
CREATE FUNCTION commerce.check_koc_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (tenant_id bigint, koc_id bigint, problem text)
LANGUAGE sql STABLE AS $$
    -- the ledger sums equal the account
    SELECT a.tenant_id, a.koc_id, format('account %s/%s/%s/%s/%s <> ledger %s/%s/%s/%s/%s',
               a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen,
               coalesce(g.s, 0), coalesce(g.b, 0), coalesce(g.i, 0), coalesce(g.p, 0), coalesce(g.f, 0))
      FROM commerce.koc_account a
      LEFT JOIN (SELECT l.tenant_id, l.koc_id, sum(settled_delta) s, sum(balance_delta) b, sum(in_flight_delta) i,
                        sum(paid_delta) p, sum(fee_delta) f
                   FROM commerce.koc_ledger l GROUP BY 1, 2) g USING (tenant_id, koc_id)
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen)
           IS DISTINCT FROM (coalesce(g.s, 0), coalesce(g.b, 0), coalesce(g.i, 0), coalesce(g.p, 0), coalesce(g.f, 0))
    UNION ALL
    -- settled money is balance + in flight + paid + fees
    SELECT a.tenant_id, a.koc_id, format('settled %s <> balance %s + in flight %s + paid %s + fees %s',
               a.settled_fen, a.balance_fen, a.in_flight_fen, a.paid_fen, a.fee_fen)
      FROM commerce.koc_account a
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND a.settled_fen <> a.balance_fen + a.in_flight_fen + a.paid_fen + a.fee_fen
    UNION ALL
    -- the settled lines are the batches, and add up to settled_fen
    SELECT a.tenant_id, a.koc_id, format('settled_seq %s, %s fen; lines say %s fen; batches %s fen ending at %s',
               a.settled_seq, a.settled_fen, x.lines, y.amount, y.last_seq)
      FROM commerce.koc_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(l.amount_fen), 0) lines FROM commerce.commission_line l
                           WHERE l.tenant_id = a.tenant_id AND l.koc_id = a.koc_id AND l.seq <= a.settled_seq) x
      CROSS JOIN LATERAL (SELECT coalesce(sum(b.amount_fen), 0) amount, coalesce(max(b.to_seq), 0) last_seq,
                                 coalesce(sum(b.to_seq - b.from_seq + 1), 0) covered
                            FROM commerce.settle_batch b
                           WHERE b.tenant_id = a.tenant_id AND b.koc_id = a.koc_id) y
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (x.lines <> a.settled_fen OR y.amount <> a.settled_fen OR y.last_seq <> a.settled_seq
            OR y.covered <> a.settled_seq)
    UNION ALL
    -- money in flight is the paying batches and the open withdrawals
    SELECT a.tenant_id, a.koc_id, format('in flight %s <> paying batches %s + open withdrawals %s',
               a.in_flight_fen, b.s, w.s)
      FROM commerce.koc_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) s FROM commerce.settle_batch b
                           WHERE b.tenant_id = a.tenant_id AND b.koc_id = a.koc_id AND b.status = 'paying') b
      CROSS JOIN LATERAL (SELECT coalesce(sum(amount_fen), 0) s FROM commerce.withdrawal w
                           WHERE w.tenant_id = a.tenant_id AND w.koc_id = a.koc_id
                             AND w.status IN ('requested', 'approved')) w
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.in_flight_fen <> b.s + w.s
    UNION ALL
    -- the running sums of the unsettled lines
    SELECT a.tenant_id, a.koc_id, format('unsettled %s fen, last payable %s; lines say %s fen, %s',
               a.unsettled_fen, a.last_payable_at, x.s, x.m)
      FROM commerce.koc_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(l.amount_fen), 0) s, max(l.payable_at) m FROM commerce.commission_line l
                           WHERE l.tenant_id = a.tenant_id AND l.koc_id = a.koc_id AND l.seq > a.settled_seq) x
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.unsettled_fen <> x.s OR a.last_payable_at IS DISTINCT FROM x.m)
    UNION ALL
    -- lines are numbered below next_seq
    SELECT l.tenant_id, l.koc_id, format('line %s at or above next_seq %s', l.seq, a.next_seq)
      FROM commerce.commission_line l
      JOIN commerce.koc_account a USING (tenant_id, koc_id)
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant) AND l.seq >= a.next_seq
    UNION ALL
    -- per order: one earn line; reversals never take back more than was earned
    SELECT l.tenant_id, min(l.koc_id), format('order %s: %s earn lines, net base %s, net amount %s',
               l.order_id, count(*) FILTER (WHERE kind = 'earn'), sum(base_fen), sum(amount_fen))
      FROM commerce.commission_line l
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant) AND l.order_id IS NOT NULL
     GROUP BY l.tenant_id, l.order_id
    HAVING count(*) FILTER (WHERE kind = 'earn') <> 1 OR sum(base_fen) < 0 OR sum(amount_fen) < 0
    UNION ALL
    -- an attributed completed order has its earn line
    SELECT o.tenant_id, o.koc_id, format('completed order %s has no commission line', o.order_id)
      FROM commerce.orders o
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND o.koc_id IS NOT NULL AND o.completed_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM commerce.commission_line l
                        WHERE l.tenant_id = o.tenant_id AND l.source_key = 'order:' || o.order_id);
$$;
COMMENT ON FUNCTION commerce.check_koc_invariants(bigint) IS
  'Checks the KOC money: ledger sums = account, settled = balance + in flight + paid + fees, settled lines = batches = settled_fen with batches covering 1..settled_seq once, in flight = paying batches + open withdrawals, one earn line per redeemed attributed order and no over-reversal. One row per violation; none when healthy.';

-- ===========================================================================
-- commerce_api
-- ===========================================================================

CREATE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS commerce.withdrawal LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce AS $$
    SELECT * FROM commerce.request_withdrawal(commerce.current_tenant(), request_id, koc, amount_fen, method, payee);
$$;
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;

CREATE FUNCTION commerce_api.record_payout(payout_ref text, status text, provider_ref text DEFAULT NULL,
                                           reason text DEFAULT NULL)
RETURNS text LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce AS $$
    SELECT commerce.record_payout(commerce.current_tenant(), payout_ref, status, provider_ref, reason);
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payout(text, text, text, text) FROM PUBLIC;

-- ===========================================================================
-- reports: KOC stats (K13), task progress and analysis (K11, K21),
-- leaderboard (K18), overview (K19), KOC list and CSV export (K20)
-- ===========================================================================

CREATE INDEX click_koc ON commerce.click (tenant_id, koc_id, clicked_at);
-- The click dedupe lookup (visitor, KOC, recent) must never walk click_koc: on a hot KOC that is
-- every recent click of the KOC. With the KOC in the visitor index it matches one more column, so
-- the planner takes it even before the table has statistics (a plan kept for the backend's life).
DROP INDEX commerce.click_visitor;
CREATE INDEX click_visitor ON commerce.click (tenant_id, visitor_id, koc_id, clicked_at);
CREATE INDEX orders_koc_task ON commerce.orders (tenant_id, koc_id, koc_task_id) WHERE koc_id IS NOT NULL;

-- The [lo, hi) instants of a tenant-local date range; 22023 for a bad range.
CREATE FUNCTION commerce._local_range(p_tenant bigint, p_from date, p_to date, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE t commerce.tenant;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF p_from > p_to OR p_to - p_from > 366 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to),
                                  'Give a range of 1 to 367 days, the first date not after the last.');
    END IF;
    lo := p_from::timestamp AT TIME ZONE t.time_zone;
    hi := (p_to + 1)::timestamp AT TIME ZONE t.time_zone;
END $$;

-- Yuan with two decimals from fen, exactly (a JSON number, never a float).
CREATE FUNCTION commerce._yuan(p_fen bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$ SELECT round(coalesce(p_fen, 0)::numeric / 100, 2) $$;

-- K13: a KOC's figures for a tenant-local date range, in the PRD's shape.
CREATE FUNCTION commerce.koc_stats(p_tenant bigint, p_koc text, p_from date, p_to date)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE r record; k commerce.koc; v_clicks bigint; v_red bigint; v_gmv bigint; v_com bigint;
        v_tasks jsonb; v_channels jsonb;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    PERFORM commerce._require(p_koc, 'p_koc');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT count(*) INTO v_clicks FROM commerce.click
     WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND clicked_at >= r.lo AND clicked_at < r.hi;
    SELECT count(*) FILTER (WHERE kind = 'earn'), coalesce(sum(base_fen), 0), coalesce(sum(amount_fen), 0)
      INTO v_red, v_gmv, v_com
      FROM commerce.commission_line
     WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND occurred_at >= r.lo AND occurred_at < r.hi;
    SELECT coalesce(jsonb_agg(jsonb_build_object('taskId', x.task_id, 'task', t.code, 'clicks', x.clicks,
                                                 'redemptions', x.redemptions) ORDER BY x.task_id), '[]')
      INTO v_tasks
      FROM (SELECT task_id, sum(c) AS clicks, sum(n) AS redemptions FROM (
                SELECT task_id, count(*) AS c, 0 AS n FROM commerce.click
                 WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND clicked_at >= r.lo AND clicked_at < r.hi
                   AND task_id IS NOT NULL GROUP BY task_id
                UNION ALL
                SELECT task_id, 0, count(*) FILTER (WHERE kind = 'earn') FROM commerce.commission_line
                 WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND occurred_at >= r.lo AND occurred_at < r.hi
                   AND task_id IS NOT NULL GROUP BY task_id) u GROUP BY task_id) x
      JOIN commerce.koc_task t ON t.tenant_id = p_tenant AND t.task_id = x.task_id;
    SELECT coalesce(jsonb_agg(jsonb_build_object('channel', coalesce(ch.code, 'direct'), 'clicks', x.clicks,
                                                 'visitors', x.visitors, 'redemptions', x.redemptions)
                              ORDER BY coalesce(ch.code, 'direct')), '[]')
      INTO v_channels
      FROM (SELECT channel_id, sum(c) AS clicks, sum(v) AS visitors, sum(n) AS redemptions FROM (
                SELECT channel_id, count(*) AS c, count(DISTINCT visitor_id) AS v, 0 AS n FROM commerce.click
                 WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND clicked_at >= r.lo AND clicked_at < r.hi
                 GROUP BY channel_id
                UNION ALL
                SELECT c.channel_id, 0, 0, count(*) FROM commerce.commission_line l
                  JOIN commerce.orders o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
                  LEFT JOIN commerce.click c ON c.tenant_id = o.tenant_id AND c.click_id = o.click_id
                 WHERE l.tenant_id = p_tenant AND l.koc_id = k.koc_id AND l.kind = 'earn'
                   AND l.occurred_at >= r.lo AND l.occurred_at < r.hi
                 GROUP BY c.channel_id) u GROUP BY channel_id) x
      LEFT JOIN commerce.channel ch ON ch.tenant_id = p_tenant AND ch.channel_id = x.channel_id;
    RETURN jsonb_build_object(
        'kocId', k.koc_id, 'koc', k.code, 'startDate', p_from, 'endDate', p_to,
        'totalClicks', v_clicks, 'totalRedemptions', v_red,
        'estimatedRevenue', commerce._yuan(v_gmv), 'commission', commerce._yuan(v_com),
        'estimatedRevenueFen', v_gmv, 'commissionFen', v_com,
        'tasks', v_tasks, 'channels', v_channels);
END $$;
COMMENT ON FUNCTION commerce.koc_stats(bigint, text, date, date) IS
  'K13 (GET /api/koc/stats): a KOC''s clicks, redemptions, estimatedRevenue (GMV net of refunds, yuan with 2 decimals) and commission (yuan) for tenant-local dates p_from..p_to, per task (taskId, clicks, redemptions) and per share channel (clicks, distinct visitors, redemptions); the same amounts in fen as estimatedRevenueFen and commissionFen.';

-- K11: a KOC's progress on a task.
CREATE FUNCTION commerce.koc_task_progress(p_tenant bigint, p_koc text, p_task text)
RETURNS TABLE (koc text, task text, clicks bigint, visitors bigint, new_customers bigint,
               pending_redemptions bigint, done_redemptions bigint, goal integer, goal_reached boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc; t commerce.koc_task;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_task, 'p_task');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO t FROM commerce.koc_task WHERE tenant_id = p_tenant AND code = p_task;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC task', p_task, p_tenant);
    END IF;
    RETURN QUERY
    SELECT k.code, t.code, c.clicks, c.visitors, l.new_customers, o.pending, l.done, t.goal,
           t.goal IS NOT NULL AND l.done >= t.goal
      FROM (SELECT count(*) AS clicks, count(DISTINCT visitor_id) AS visitors FROM commerce.click
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND task_id = t.task_id) c,
           (SELECT count(*) FILTER (WHERE kind = 'earn') AS done,
                   count(*) FILTER (WHERE kind = 'earn' AND new_customer) AS new_customers
              FROM commerce.commission_line
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND task_id = t.task_id) l,
           (SELECT count(*) AS pending FROM commerce.orders
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND koc_task_id = t.task_id
               AND status IN ('paid', 'shipped')) o;
END $$;
COMMENT ON FUNCTION commerce.koc_task_progress(bigint, text, text) IS
  'K11: a KOC''s progress on a task: clicks, distinct visitors, new customers, redemptions pending (paid or shipped orders) and done, against the goal.';

-- K21: every task's (or one task's) effect.
CREATE FUNCTION commerce.koc_task_analysis(p_tenant bigint, p_task text DEFAULT NULL)
RETURNS TABLE (task text, title text, starts_at timestamptz, ends_at timestamptz, goal integer,
               kocs bigint, kocs_at_goal bigint, completion_rate_bp bigint, clicks bigint, redemptions bigint,
               gmv_fen bigint, cost_fen bigint, roi_bp bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_task IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.koc_task t
                                           WHERE t.tenant_id = p_tenant AND t.code = p_task) THEN
        PERFORM commerce._not_found('KOC task', p_task, p_tenant);
    END IF;
    RETURN QUERY
    WITH per_koc AS (
        SELECT x.task_id, x.koc_id, sum(x.c)::bigint AS clicks, sum(x.n)::bigint AS redemptions,
               sum(x.g)::bigint AS gmv, sum(x.a)::bigint AS cost
          FROM (SELECT c.task_id, c.koc_id, count(*) AS c, 0 AS n, 0 AS g, 0 AS a FROM commerce.click c
                 WHERE c.tenant_id = p_tenant AND c.task_id IS NOT NULL GROUP BY 1, 2
                UNION ALL
                SELECT l.task_id, l.koc_id, 0, count(*) FILTER (WHERE l.kind = 'earn'), sum(l.base_fen), sum(l.amount_fen)
                  FROM commerce.commission_line l
                 WHERE l.tenant_id = p_tenant AND l.task_id IS NOT NULL GROUP BY 1, 2) x
         GROUP BY 1, 2)
    SELECT t.code, t.title, t.starts_at, t.ends_at, t.goal,
           count(p.koc_id), count(p.koc_id) FILTER (WHERE t.goal IS NOT NULL AND p.redemptions >= t.goal),
           CASE WHEN t.goal IS NULL OR count(p.koc_id) = 0 THEN NULL
                ELSE 10000 * count(p.koc_id) FILTER (WHERE p.redemptions >= t.goal) / count(p.koc_id) END,
           coalesce(sum(p.clicks), 0)::bigint, coalesce(sum(p.redemptions), 0)::bigint,
           coalesce(sum(p.gmv), 0)::bigint, coalesce(sum(p.cost), 0)::bigint,
           CASE WHEN coalesce(sum(p.cost), 0) <= 0 THEN NULL ELSE floor(10000 * sum(p.gmv) / sum(p.cost))::bigint END
      FROM commerce.koc_task t
      LEFT JOIN per_koc p ON p.task_id = t.task_id
     WHERE t.tenant_id = p_tenant AND (p_task IS NULL OR t.code = p_task)
     GROUP BY t.task_id, t.code, t.title, t.starts_at, t.ends_at, t.goal
     ORDER BY t.starts_at, t.code;
END $$;
COMMENT ON FUNCTION commerce.koc_task_analysis(bigint, text) IS
  'K21 (GET /api/koc/tasks/analysis): per task, the KOCs taking part (clicks or redemptions), those at the goal and the completion rate (bp), clicks, redemptions, GMV and cost (commission, net of refunds) in fen, ROI = GMV / cost in bp (NULL without cost).';

-- Per KOC figures for a range: the rows of the leaderboard, the list and the overview.
CREATE FUNCTION commerce._koc_figures(p_tenant bigint, p_lo timestamptz, p_hi timestamptz)
RETURNS TABLE (koc_id bigint, clicks bigint, redemptions bigint, gmv_fen bigint, commission_fen bigint)
LANGUAGE sql STABLE AS $$
    SELECT x.koc_id, sum(x.c)::bigint, sum(x.n)::bigint, sum(x.g)::bigint, sum(x.a)::bigint
      FROM (SELECT c.koc_id, count(*) AS c, 0 AS n, 0 AS g, 0 AS a FROM commerce.click c
             WHERE c.tenant_id = p_tenant AND c.clicked_at >= p_lo AND c.clicked_at < p_hi GROUP BY 1
            UNION ALL
            SELECT l.koc_id, 0, count(*) FILTER (WHERE l.kind = 'earn'), sum(l.base_fen), sum(l.amount_fen)
              FROM commerce.commission_line l
             WHERE l.tenant_id = p_tenant AND l.occurred_at >= p_lo AND l.occurred_at < p_hi GROUP BY 1) x
     GROUP BY x.koc_id;
$$;

-- K18: the leaderboard of a period, nationally or for a region.
CREATE FUNCTION commerce.koc_rank(p_tenant bigint, p_from date, p_to date, p_region text DEFAULT NULL,
                                  p_metric text DEFAULT 'gmv', p_limit integer DEFAULT 100)
RETURNS TABLE (rank bigint, koc text, name text, region text, level text, clicks bigint, redemptions bigint,
               gmv_fen bigint, commission_fen bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE r record;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    PERFORM commerce._require(p_metric, 'p_metric');
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_metric NOT IN ('gmv', 'redemptions', 'clicks', 'commission') THEN
        PERFORM commerce._invalid('p_metric', format('"%s"', p_metric), 'Rank by gmv, redemptions, clicks or commission.');
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'Show 1 to 1000 KOCs.');
    END IF;
    RETURN QUERY
    SELECT s.rnk, s.code, s.name, s.region, s.level_code, s.clicks, s.redemptions, s.gmv_fen, s.commission_fen
      FROM (SELECT rank() OVER (ORDER BY CASE p_metric WHEN 'gmv' THEN f.gmv_fen WHEN 'redemptions' THEN f.redemptions
                                                       WHEN 'clicks' THEN f.clicks ELSE f.commission_fen END DESC) AS rnk,
                   k.code, k.name, k.region, k.level_code, f.clicks, f.redemptions, f.gmv_fen, f.commission_fen
              FROM commerce._koc_figures(p_tenant, r.lo, r.hi) f
              JOIN commerce.koc k ON k.tenant_id = p_tenant AND k.koc_id = f.koc_id
             WHERE k.status <> 'suspended' AND (p_region IS NULL OR k.region = p_region)) s
     ORDER BY s.rnk, s.code
     LIMIT p_limit;
END $$;
COMMENT ON FUNCTION commerce.koc_rank(bigint, date, date, text, text, integer) IS
  'K18 (GET /api/koc/rank): KOCs of a tenant-local period ranked by gmv (default), redemptions, clicks or commission, nationally or in one region; ties share a rank. Suspended KOCs are left out.';

-- K19: the programme at a glance, with a daily trend.
CREATE FUNCTION commerce.koc_overview(p_tenant bigint, p_from date, p_to date)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE r record; t commerce.tenant; v jsonb; v_trend jsonb;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    t := commerce._tenant(p_tenant);
    SELECT jsonb_build_object(
               'kocCount', (SELECT count(*) FROM commerce.koc k WHERE k.tenant_id = p_tenant AND k.status <> 'suspended'),
               'activeKocs', count(*) FILTER (WHERE f.clicks > 0 OR f.redemptions > 0),
               'clicks', coalesce(sum(f.clicks), 0), 'redemptions', coalesce(sum(f.redemptions), 0),
               'revenueFen', coalesce(sum(f.gmv_fen), 0), 'commissionFen', coalesce(sum(f.commission_fen), 0),
               'revenue', commerce._yuan(sum(f.gmv_fen)::bigint), 'commission', commerce._yuan(sum(f.commission_fen)::bigint),
               'roiBp', CASE WHEN coalesce(sum(f.commission_fen), 0) > 0
                             THEN floor(10000 * sum(f.gmv_fen) / sum(f.commission_fen))::bigint END,
               'averageRoiBp', floor(avg(10000 * f.gmv_fen / f.commission_fen) FILTER (WHERE f.commission_fen > 0))::bigint)
      INTO v FROM commerce._koc_figures(p_tenant, r.lo, r.hi) f;
    SELECT jsonb_agg(jsonb_build_object('date', d.day, 'clicks', coalesce(c.n, 0), 'redemptions', coalesce(l.n, 0),
                                        'revenueFen', coalesce(l.g, 0)) ORDER BY d.day)
      INTO v_trend
      FROM generate_series(p_from, p_to, interval '1 day') d0
      CROSS JOIN LATERAL (SELECT d0::date AS day) d
      LEFT JOIN (SELECT (clicked_at AT TIME ZONE t.time_zone)::date AS day, count(*) AS n FROM commerce.click
                  WHERE tenant_id = p_tenant AND clicked_at >= r.lo AND clicked_at < r.hi GROUP BY 1) c USING (day)
      LEFT JOIN (SELECT (occurred_at AT TIME ZONE t.time_zone)::date AS day, count(*) FILTER (WHERE kind = 'earn') AS n,
                        sum(base_fen) AS g FROM commerce.commission_line
                  WHERE tenant_id = p_tenant AND occurred_at >= r.lo AND occurred_at < r.hi GROUP BY 1) l USING (day);
    RETURN v || jsonb_build_object('startDate', p_from, 'endDate', p_to, 'trend', v_trend);
END $$;
COMMENT ON FUNCTION commerce.koc_overview(bigint, date, date) IS
  'K19: KOC count, active KOCs (a click or a redemption in the period), clicks, redemptions, revenue (GMV net of refunds) and commission (fen and yuan), ROI of the programme and the average ROI of the KOCs (GMV / commission, bp), and the trend per tenant-local day.';

-- K20: the KOC list with filters.
CREATE FUNCTION commerce.koc_list(p_tenant bigint, p_from date, p_to date, p_level text DEFAULT NULL,
                                  p_region text DEFAULT NULL, p_status text DEFAULT NULL)
RETURNS TABLE (koc text, name text, region text, level text, status text, joined_at timestamptz,
               clicks bigint, redemptions bigint, gmv_fen bigint, commission_fen bigint,
               balance_fen bigint, paid_fen bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE r record;
BEGIN
    r := commerce._local_range(p_tenant, p_from, p_to);
    IF p_status IS NOT NULL AND p_status NOT IN ('active', 'frozen', 'suspended') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', p_status), 'Filter by active, frozen or suspended.');
    END IF;
    RETURN QUERY
    SELECT k.code, k.name, k.region, k.level_code, k.status, k.joined_at,
           coalesce(f.clicks, 0), coalesce(f.redemptions, 0), coalesce(f.gmv_fen, 0), coalesce(f.commission_fen, 0),
           coalesce(a.balance_fen, 0), coalesce(a.paid_fen, 0)
      FROM commerce.koc k
      LEFT JOIN commerce._koc_figures(p_tenant, r.lo, r.hi) f ON f.koc_id = k.koc_id
      LEFT JOIN commerce.koc_account a ON a.tenant_id = k.tenant_id AND a.koc_id = k.koc_id
     WHERE k.tenant_id = p_tenant
       AND (p_level IS NULL OR k.level_code = p_level)
       AND (p_region IS NULL OR k.region = p_region)
       AND (p_status IS NULL OR k.status = p_status)
     ORDER BY k.code;
END $$;
COMMENT ON FUNCTION commerce.koc_list(bigint, date, date, text, text, text) IS
  'K20 (GET /api/koc/list): every KOC (filtered by level, region, status) with its clicks, redemptions, GMV and commission in the tenant-local period, its balance and what it was paid.';

-- One CSV field: quoted when it holds a comma, quote or line break; a leading =+-@ is neutralized.
CREATE FUNCTION commerce._csv(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p IS NULL THEN ''
                WHEN p ~ '[",\r\n]' OR p ~ '^[=+@-]'
                THEN '"' || replace(CASE WHEN p ~ '^[=+@-]' THEN '''' || p ELSE p END, '"', '""') || '"'
                ELSE p END
$$;

-- K20: the same list as CSV (RFC 4180), with a header row.
CREATE FUNCTION commerce.koc_list_csv(p_tenant bigint, p_from date, p_to date, p_level text DEFAULT NULL,
                                      p_region text DEFAULT NULL, p_status text DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'koc,name,region,level,status,joined_at,clicks,redemptions,gmv_fen,commission_fen,balance_fen,paid_fen' || E'\r\n'
        || coalesce(string_agg(concat_ws(',',
               commerce._csv(l.koc), commerce._csv(l.name), commerce._csv(l.region), l.level, l.status,
               to_char(l.joined_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               l.clicks, l.redemptions, l.gmv_fen, l.commission_fen, l.balance_fen, l.paid_fen), E'\r\n'), '')
      FROM commerce.koc_list(p_tenant, p_from, p_to, p_level, p_region, p_status) l;
$$;
COMMENT ON FUNCTION commerce.koc_list_csv(bigint, date, date, text, text, text) IS
  'K20 export: koc_list as CSV text (header row, CRLF, fields quoted when needed, amounts in fen, times in UTC).';

-- API: what the KOC workbench and the admin console call.
CREATE FUNCTION commerce_api.koc_stats("kocId" bigint, "startDate" date, "endDate" date)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce AS $$
    SELECT commerce.koc_stats(commerce.current_tenant(),
                              coalesce((SELECT code FROM commerce.koc WHERE tenant_id = commerce.current_tenant()
                                                                        AND koc_id = "kocId"), '#' || "kocId"),
                              "startDate", "endDate");
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_stats(bigint, date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_stats(bigint, date, date) IS
  'GET /rpc/koc_stats?kocId=&startDate=&endDate= (PostgREST): commerce.koc_stats for the caller''s tenant.';

CREATE FUNCTION commerce_api.koc_rank(start_date date, end_date date, region text DEFAULT NULL,
                                      metric text DEFAULT 'gmv', "limit" integer DEFAULT 100)
RETURNS TABLE (rank bigint, koc text, name text, region text, level text, clicks bigint, redemptions bigint,
               gmv_fen bigint, commission_fen bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce AS $$
    SELECT * FROM commerce.koc_rank(commerce.current_tenant(), start_date, end_date, region, metric, "limit");
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) IS
  'GET /rpc/koc_rank (PostgREST): commerce.koc_rank for the caller''s tenant.';

-- ===========================================================================
-- risk control (K22): rules flag abnormal promotion, a flagged KOC is frozen
-- (commission held) until a reviewer clears or confirms; all decisions audited
-- ===========================================================================

ALTER TABLE commerce.tenant
    ADD COLUMN risk_burst_clicks integer NOT NULL DEFAULT 30 CHECK (risk_burst_clicks >= 2),
    ADD COLUMN risk_max_conversion_bp integer NOT NULL DEFAULT 5000 CHECK (risk_max_conversion_bp > 0),
    ADD COLUMN risk_min_redemptions integer NOT NULL DEFAULT 20 CHECK (risk_min_redemptions > 0);
COMMENT ON COLUMN commerce.tenant.risk_burst_clicks IS 'Risk rule click_burst: this many clicks on one KOC''s links from one IP within a 10-minute slot.';
COMMENT ON COLUMN commerce.tenant.risk_max_conversion_bp IS 'Risk rule conversion: redemptions per distinct clicking visitor above this (bp) over 7 days ...';
COMMENT ON COLUMN commerce.tenant.risk_min_redemptions IS '... once the KOC has at least this many redemptions in those 7 days.';

CREATE TABLE commerce.koc_risk_flag (
    tenant_id  bigint NOT NULL,
    flag_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    koc_id     bigint NOT NULL,
    rule       text NOT NULL CHECK (rule IN ('click_burst', 'conversion', 'referral_ring')),
    evidence   jsonb NOT NULL,
    status     text NOT NULL,
    raised_at  timestamptz NOT NULL,
    reviewer   text,
    reason     text,
    decided_at timestamptz,
    PRIMARY KEY (tenant_id, flag_id),
    FOREIGN KEY (tenant_id, koc_id) REFERENCES commerce.koc,
    CHECK (status IN ('open', 'cleared', 'confirmed')),
    CHECK ((status = 'open') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX koc_risk_flag_open ON commerce.koc_risk_flag (tenant_id, koc_id, rule) WHERE status = 'open';
CREATE TRIGGER koc_risk_flag_state BEFORE INSERT OR UPDATE ON commerce.koc_risk_flag
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'open', 'open>cleared', 'open>confirmed');
COMMENT ON TABLE commerce.koc_risk_flag IS
  'A risk rule''s finding about a KOC with its evidence (K22): open (the KOC is frozen, its commission held) -> cleared (false alarm, the KOC is active again) | confirmed (fraud: the KOC is suspended and its unsettled commission voided). One open flag per KOC and rule.';

CREATE TABLE commerce.koc_audit (
    tenant_id bigint NOT NULL,
    audit_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    koc_id    bigint NOT NULL,
    action    text NOT NULL CHECK (action IN ('flagged', 'status', 'flag_cleared', 'flag_confirmed', 'commission_voided')),
    actor     text NOT NULL,
    reason    text,
    detail    jsonb NOT NULL DEFAULT '{}',
    at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, audit_id)
);
CREATE INDEX koc_audit_koc ON commerce.koc_audit (tenant_id, koc_id);
CREATE TRIGGER koc_audit_append_only BEFORE UPDATE OR DELETE ON commerce.koc_audit
    FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard();
CREATE TRIGGER koc_audit_no_truncate BEFORE TRUNCATE ON commerce.koc_audit
    FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard();
COMMENT ON TABLE commerce.koc_audit IS
  'Every risk and status decision about a KOC: who (a rule or a reviewer), what, why, when (append-only).';

-- Change a KOC's status (active, frozen, suspended), audited.
CREATE FUNCTION commerce.set_koc_status(p_tenant bigint, p_koc text, p_status text, p_actor text, p_reason text)
RETURNS commerce.koc LANGUAGE plpgsql AS $$
DECLARE k commerce.koc;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_status, 'p_status');
    PERFORM commerce._require(p_actor, 'p_actor');
    IF p_status NOT IN ('active', 'frozen', 'suspended') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', p_status), 'Use active, frozen or suspended.');
    END IF;
    IF coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A status change gives a reason.', 'Say why, for the audit.');
    END IF;
    -- NO KEY UPDATE: a foreign-key check (FOR KEY SHARE) of a commission line or withdrawal in flight
    -- must not wait for us while we wait for its account row
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    IF k.status = p_status THEN
        RETURN k;
    END IF;
    IF p_status = 'active' AND EXISTS (SELECT 1 FROM commerce.koc_risk_flag f
                                        WHERE f.tenant_id = p_tenant AND f.koc_id = k.koc_id AND f.status = 'open') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('KOC "%s" has open risk flags', p_koc),
            DETAIL  = 'A flagged KOC stays frozen until its flags are reviewed.',
            HINT    = 'Clear or confirm the flags with commerce.review_risk_flag.';
    END IF;
    UPDATE commerce.koc SET status = p_status WHERE tenant_id = p_tenant AND koc_id = k.koc_id RETURNING * INTO k;
    INSERT INTO commerce.koc_audit (tenant_id, koc_id, action, actor, reason, detail, at)
    VALUES (p_tenant, k.koc_id, 'status', p_actor, p_reason, jsonb_build_object('status', p_status), commerce.now());
    RETURN k;
END $$;
COMMENT ON FUNCTION commerce.set_koc_status(bigint, text, text, text, text) IS
  'Freeze, suspend or reactivate a KOC by hand, with the actor and reason audited. A KOC with open risk flags cannot be reactivated (PT412): review the flags.';

-- Run the risk rules (for every tenant, or one) at the commerce clock; returns the new flags.
CREATE FUNCTION commerce.run_risk_rules(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (tenant_id bigint, koc text, rule text, flag_id bigint)
LANGUAGE plpgsql AS $$
DECLARE t record; f record; v_now timestamptz := commerce.now(); v_id bigint; k commerce.koc;
BEGIN
    IF p_tenant IS NOT NULL THEN
        PERFORM commerce._tenant(p_tenant);
    END IF;
    FOR t IN SELECT * FROM commerce.tenant tn WHERE p_tenant IS NULL OR tn.tenant_id = p_tenant ORDER BY tn.tenant_id LOOP
        FOR f IN
            -- many clicks from one IP on one KOC's links in a 10-minute slot (the last hour is looked at)
            SELECT c.koc_id, 'click_burst' AS rule,
                   jsonb_build_object('ip', host(c.ip), 'slot', date_bin('10 minutes', c.clicked_at, timestamptz '2000-01-01 00:00+00'),
                                      'clicks', count(*), 'visitors', count(DISTINCT c.visitor_id)) AS evidence
              FROM commerce.click c
             WHERE c.tenant_id = t.tenant_id AND c.clicked_at > v_now - interval '1 hour' AND c.clicked_at <= v_now
               AND c.ip IS NOT NULL
             GROUP BY c.koc_id, c.ip, date_bin('10 minutes', c.clicked_at, timestamptz '2000-01-01 00:00+00')
            HAVING count(*) >= t.risk_burst_clicks
            UNION ALL
            -- more redemptions per clicking visitor than real traffic gives (brushing), over 7 days
            SELECT l.koc_id, 'conversion',
                   jsonb_build_object('redemptions', l.n, 'visitors', coalesce(v.n, 0),
                                      'conversion_bp', 10000 * l.n / greatest(coalesce(v.n, 0), 1))
              FROM (SELECT cl.koc_id, count(*) AS n FROM commerce.commission_line cl
                     WHERE cl.tenant_id = t.tenant_id AND cl.kind = 'earn'
                       AND cl.occurred_at > v_now - interval '7 days' AND cl.occurred_at <= v_now
                     GROUP BY cl.koc_id) l
              LEFT JOIN (SELECT c.koc_id, count(DISTINCT c.visitor_id) AS n FROM commerce.click c
                          WHERE c.tenant_id = t.tenant_id AND c.clicked_at > v_now - interval '7 days'
                            AND c.clicked_at <= v_now GROUP BY c.koc_id) v USING (koc_id)
             WHERE l.n >= t.risk_min_redemptions
               AND 10000 * l.n / greatest(coalesce(v.n, 0), 1) > t.risk_max_conversion_bp
            UNION ALL
            -- two KOCs buying through each other's links within 7 days (a self-referral ring)
            SELECT x.koc_id, 'referral_ring', jsonb_build_object('with_koc', x.other)
              FROM (SELECT o1.koc_id, kb.code AS other
                      FROM commerce.orders o1
                      JOIN commerce.koc ka ON ka.tenant_id = o1.tenant_id AND ka.koc_id = o1.koc_id
                      JOIN commerce.koc kb ON kb.tenant_id = o1.tenant_id AND kb.customer_id = o1.customer_id
                     WHERE o1.tenant_id = t.tenant_id AND o1.koc_id IS NOT NULL
                       AND o1.created_at > v_now - interval '7 days' AND o1.created_at <= v_now
                       AND kb.koc_id <> ka.koc_id
                       AND EXISTS (SELECT 1 FROM commerce.orders o2
                                    WHERE o2.tenant_id = o1.tenant_id AND o2.koc_id = kb.koc_id
                                      AND o2.customer_id = ka.customer_id
                                      AND o2.created_at > v_now - interval '7 days' AND o2.created_at <= v_now)
                     GROUP BY o1.koc_id, kb.code) x
            -- KOC rows are frozen one by one in key order (no deadlock with the month close)
            ORDER BY 1, 2
        LOOP
            -- a suspended KOC is done with; the evidence a reviewer already decided on is not raised again
            -- (a burst: the same IP and slot; the 7-day rules: a decision within the last 7 days)
            CONTINUE WHEN EXISTS (SELECT 1 FROM commerce.koc kk WHERE kk.tenant_id = t.tenant_id
                                     AND kk.koc_id = f.koc_id AND kk.status = 'suspended');
            CONTINUE WHEN EXISTS (SELECT 1 FROM commerce.koc_risk_flag x
                                   WHERE x.tenant_id = t.tenant_id AND x.koc_id = f.koc_id AND x.rule = f.rule
                                     AND x.status <> 'open'
                                     AND CASE WHEN f.rule = 'click_burst'
                                              THEN x.evidence -> 'ip' = f.evidence -> 'ip'
                                                   AND x.evidence -> 'slot' = f.evidence -> 'slot'
                                              ELSE x.decided_at > v_now - interval '7 days' END);
            INSERT INTO commerce.koc_risk_flag (tenant_id, koc_id, rule, evidence, status, raised_at)
            VALUES (t.tenant_id, f.koc_id, f.rule, f.evidence, 'open', v_now)
            ON CONFLICT DO NOTHING RETURNING koc_risk_flag.flag_id INTO v_id;
            CONTINUE WHEN v_id IS NULL;		-- already flagged and under review
            UPDATE commerce.koc SET status = 'frozen'
             WHERE koc.tenant_id = t.tenant_id AND koc.koc_id = f.koc_id AND status = 'active';
            SELECT * INTO k FROM commerce.koc WHERE koc.tenant_id = t.tenant_id AND koc.koc_id = f.koc_id;
            INSERT INTO commerce.koc_audit (tenant_id, koc_id, action, actor, reason, detail, at)
            VALUES (t.tenant_id, f.koc_id, 'flagged', 'risk:' || f.rule, 'risk rule ' || f.rule,
                    f.evidence || jsonb_build_object('flag_id', v_id, 'status', k.status), v_now);
            PERFORM commerce.enqueue(t.tenant_id, 'koc.risk_flagged',
                jsonb_build_object('flag_id', v_id, 'koc', k.code, 'rule', f.rule, 'evidence', f.evidence),
                'risk:' || v_id);
            tenant_id := t.tenant_id; koc := k.code; rule := f.rule; flag_id := v_id;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.run_risk_rules(bigint) IS
  'K22: the risk rules at the commerce clock: click_burst (risk_burst_clicks from one IP on one KOC''s links in a 10-minute slot of the last hour), conversion (at least risk_min_redemptions redemptions in 7 days and more than risk_max_conversion_bp per distinct clicking visitor), referral_ring (two KOCs buying through each other''s links within 7 days). Each finding opens a flag (once per KOC and rule while open; evidence a reviewer already decided on is not raised again; suspended KOCs are skipped), freezes the KOC, is audited and goes to the outbox (koc.risk_flagged).';

CREATE PROCEDURE commerce.risk_pump()
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce.run_risk_rules();
END $$;
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-koc-risk', '*/10 * * * *', 'CALL commerce.risk_pump()');

-- A reviewer clears (false alarm) or confirms (fraud) a risk flag.
CREATE FUNCTION commerce.review_risk_flag(p_tenant bigint, p_flag bigint, p_confirm boolean, p_reviewer text,
                                          p_reason text)
RETURNS commerce.koc_risk_flag LANGUAGE plpgsql AS $$
DECLARE f commerce.koc_risk_flag; k commerce.koc; a commerce.koc_account; v_target text; o record;
        v_seq bigint; v_total bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_flag, 'p_flag');
    PERFORM commerce._require(p_confirm, 'p_confirm');
    PERFORM commerce._require(p_reviewer, 'p_reviewer');
    SELECT * INTO f FROM commerce.koc_risk_flag WHERE tenant_id = p_tenant AND flag_id = p_flag;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('risk flag', p_flag::text, p_tenant);
    END IF;
    -- the KOC row first (as run_risk_rules and set_koc_status), then the flag
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND koc_id = f.koc_id FOR NO KEY UPDATE;
    SELECT * INTO f FROM commerce.koc_risk_flag WHERE tenant_id = p_tenant AND flag_id = p_flag FOR UPDATE;
    v_target := CASE WHEN p_confirm THEN 'confirmed' ELSE 'cleared' END;
    IF f.status = v_target THEN
        RETURN f;
    END IF;
    IF f.status = 'open' AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A risk decision gives a reason.', 'Say why, for the audit.');
    END IF;
    UPDATE commerce.koc_risk_flag SET status = v_target, reviewer = p_reviewer, reason = p_reason,
                                      decided_at = commerce.now()
     WHERE tenant_id = p_tenant AND flag_id = p_flag RETURNING * INTO f;
    INSERT INTO commerce.koc_audit (tenant_id, koc_id, action, actor, reason, detail, at)
    VALUES (p_tenant, k.koc_id, CASE WHEN p_confirm THEN 'flag_confirmed' ELSE 'flag_cleared' END, p_reviewer,
            p_reason, jsonb_build_object('flag_id', p_flag, 'rule', f.rule), commerce.now());
    IF p_confirm THEN
        -- fraud: suspended, and the commission of every order not settled yet is voided by a
        -- reversing line of that order (so a later refund of it finds nothing left to take back)
        UPDATE commerce.koc SET status = 'suspended' WHERE tenant_id = p_tenant AND koc_id = k.koc_id;
        a := commerce._lock_koc_account(p_tenant, k.koc_id);
        v_seq := a.next_seq;
        v_total := 0;
        FOR o IN SELECT l.order_id, sum(l.base_fen) AS base, sum(l.amount_fen) AS amount
                   FROM commerce.commission_line l
                  WHERE l.tenant_id = p_tenant AND l.koc_id = k.koc_id AND l.order_id IS NOT NULL
                  GROUP BY l.order_id
                 HAVING min(l.seq) FILTER (WHERE l.kind = 'earn') > a.settled_seq AND sum(l.amount_fen) > 0
                  ORDER BY l.order_id LOOP
            INSERT INTO commerce.commission_line (tenant_id, koc_id, seq, kind, source_key, order_id, base_fen,
                                                  task_rate_bp, level_code, level_bonus_bp, rate_bp, bounty_fen,
                                                  amount_fen, rule, occurred_at, payable_at)
            VALUES (p_tenant, k.koc_id, v_seq, 'reverse', 'risk:' || p_flag || ':order:' || o.order_id, o.order_id,
                    -o.base, 0, k.level_code, 0, 0, 0, -o.amount, 'void-v1', commerce.now(), commerce.now());
            v_seq := v_seq + 1;
            v_total := v_total + o.amount;
        END LOOP;
        IF v_total > 0 THEN
            UPDATE commerce.koc_account
               SET next_seq = v_seq, unsettled_fen = unsettled_fen - v_total,
                   last_payable_at = greatest(last_payable_at, commerce.now()),
                   due_at = least(due_at, commerce.now())
             WHERE tenant_id = p_tenant AND koc_id = k.koc_id;
            INSERT INTO commerce.koc_audit (tenant_id, koc_id, action, actor, reason, detail, at)
            VALUES (p_tenant, k.koc_id, 'commission_voided', p_reviewer, p_reason,
                    jsonb_build_object('flag_id', p_flag, 'amount_fen', v_total, 'lines', v_seq - a.next_seq),
                    commerce.now());
        END IF;
    ELSIF k.status = 'frozen' AND NOT EXISTS (SELECT 1 FROM commerce.koc_risk_flag x
                                               WHERE x.tenant_id = p_tenant AND x.koc_id = k.koc_id
                                                 AND x.status = 'open') THEN
        UPDATE commerce.koc SET status = 'active' WHERE tenant_id = p_tenant AND koc_id = k.koc_id;
        INSERT INTO commerce.koc_audit (tenant_id, koc_id, action, actor, reason, detail, at)
        VALUES (p_tenant, k.koc_id, 'status', p_reviewer, p_reason, jsonb_build_object('status', 'active'),
                commerce.now());
    END IF;
    PERFORM commerce.enqueue(p_tenant, 'koc.risk_decided',
        jsonb_build_object('flag_id', p_flag, 'koc', k.code, 'decision', v_target), 'risk-decided:' || p_flag);
    RETURN f;
END $$;
COMMENT ON FUNCTION commerce.review_risk_flag(bigint, bigint, boolean, text, text) IS
  'K22: a reviewer clears a flag (when no other flag is open the KOC is active again and its held commission is settled) or confirms it (the KOC is suspended and the commission of its orders not settled yet voided by a reversing line per order), with a reason; both audited and sent to the outbox. The same decision again is a no-op; the other one is refused (PT412).';

-- ===========================================================================
-- benefits per level (K05), KOC tags, task targets and materials (K08)
-- ===========================================================================

ALTER TABLE commerce.koc_level
    ADD COLUMN vote_rights boolean NOT NULL DEFAULT false,
    ADD COLUMN airdrop boolean NOT NULL DEFAULT false,
    ADD COLUMN materials text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN commerce.koc_level.vote_rights IS 'Benefit: the KOCs of this level vote on new products.';
COMMENT ON COLUMN commerce.koc_level.airdrop IS 'Benefit: the KOCs of this level receive airdrops (new-product samples).';
COMMENT ON COLUMN commerce.koc_level.materials IS 'Benefit: references of exclusive materials for this level and above.';
-- the default levels get the default benefits
UPDATE commerce.koc_level SET airdrop = true WHERE code IN ('silver', 'gold') AND name IN ('Silver', 'Gold');
UPDATE commerce.koc_level SET vote_rights = true WHERE code = 'gold' AND name = 'Gold';

CREATE OR REPLACE FUNCTION commerce.ensure_koc_levels(p_tenant bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO commerce.koc_level (tenant_id, code, name, rank, bonus_bp, airdrop, vote_rights)
    SELECT p_tenant, code, name, rank, bonus_bp, airdrop, vote_rights
      FROM (VALUES ('bronze', 'Bronze', 1, 0, false, false), ('silver', 'Silver', 2, 200, true, false),
                   ('gold', 'Gold', 3, 500, true, true))
           v(code, name, rank, bonus_bp, airdrop, vote_rights)
     WHERE NOT EXISTS (SELECT 1 FROM commerce.koc_level WHERE tenant_id = p_tenant);
$$;
COMMENT ON FUNCTION commerce.ensure_koc_levels(bigint) IS
  'Default levels for a tenant that has none: bronze; silver (+200 bp, airdrops); gold (+500 bp, airdrops, vote rights).';

-- Set the benefits of a level; NULL leaves one unchanged.
CREATE FUNCTION commerce.set_level_benefits(p_tenant bigint, p_level text, p_bonus_bp integer DEFAULT NULL,
                                            p_vote_rights boolean DEFAULT NULL, p_airdrop boolean DEFAULT NULL,
                                            p_materials text[] DEFAULT NULL)
RETURNS commerce.koc_level LANGUAGE plpgsql AS $$
DECLARE lv commerce.koc_level;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_level, 'p_level');
    PERFORM commerce.ensure_koc_levels(p_tenant);
    IF p_bonus_bp IS NOT NULL AND p_bonus_bp NOT BETWEEN 0 AND 10000 THEN
        PERFORM commerce._invalid('p_bonus_bp', format('%s bp', p_bonus_bp), 'A bonus is 0 to 10000 basis points.');
    END IF;
    IF p_materials IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_materials) m
                                            WHERE coalesce(length(m), 0) NOT BETWEEN 1 AND 200) THEN
        PERFORM commerce._invalid('p_materials', format('%s', p_materials), 'Materials are references of 1 to 200 characters.');
    END IF;
    UPDATE commerce.koc_level
       SET bonus_bp = coalesce(p_bonus_bp, bonus_bp), vote_rights = coalesce(p_vote_rights, vote_rights),
           airdrop = coalesce(p_airdrop, airdrop), materials = coalesce(p_materials, materials)
     WHERE tenant_id = p_tenant AND code = p_level RETURNING * INTO lv;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC level', p_level, p_tenant);
    END IF;
    RETURN lv;
END $$;
COMMENT ON FUNCTION commerce.set_level_benefits(bigint, text, integer, boolean, boolean, text[]) IS
  'K05: set a level''s benefits (commission bonus in bp, vote rights, airdrops, exclusive materials); they apply at once to every KOC of the level (the next redemption earns the new bonus).';

-- A KOC's benefits now: those of its level, and the exclusive materials of its level and below.
CREATE FUNCTION commerce.koc_benefits(p_tenant bigint, p_koc text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc; lv commerce.koc_level; v_materials text[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO lv FROM commerce.koc_level WHERE tenant_id = p_tenant AND code = k.level_code;
    SELECT coalesce(array_agg(DISTINCT m ORDER BY m), '{}') INTO v_materials
      FROM commerce.koc_level l, unnest(l.materials) m
     WHERE l.tenant_id = p_tenant AND l.rank <= lv.rank;
    RETURN jsonb_build_object('koc', k.code, 'level', lv.code, 'levelName', lv.name, 'status', k.status,
                              'bonusBp', lv.bonus_bp, 'voteRights', lv.vote_rights AND k.status = 'active',
                              'airdrop', lv.airdrop AND k.status = 'active', 'materials', to_jsonb(v_materials),
                              'agreementSigned', commerce.koc_has_signed_current(p_tenant, k.koc_id));
END $$;
COMMENT ON FUNCTION commerce.koc_benefits(bigint, text) IS
  'K05: what a KOC has now: its level, the commission bonus, vote rights and airdrops (only while active), the exclusive materials of its level and the levels below, and whether it signed the current agreement.';

ALTER TABLE commerce.koc ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN commerce.koc.tags IS 'Tags of the KOC (e.g. mom, fitness, campus) that tasks can target.';
ALTER TABLE commerce.koc_task
    ADD COLUMN target_tags text[],
    ADD COLUMN materials text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN commerce.koc_task.target_tags IS 'The task is open to KOCs with one of these tags (NULL: any); with target_levels both must match.';
COMMENT ON COLUMN commerce.koc_task.materials IS 'References of the task''s materials (posters, copy, videos) in the material library.';

-- Set a KOC's tags.
CREATE FUNCTION commerce.set_koc_tags(p_tenant bigint, p_koc text, p_tags text[]) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE v text[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_tags, 'p_tags');
    IF EXISTS (SELECT 1 FROM unnest(p_tags) x WHERE coalesce(x, '') !~ '^[a-z0-9][a-z0-9_-]{0,39}$') THEN
        PERFORM commerce._invalid('p_tags', format('%s', p_tags), 'Tags are lower-case words of 1 to 40 characters (a-z, 0-9, _ and -).');
    END IF;
    UPDATE commerce.koc SET tags = ARRAY(SELECT DISTINCT x FROM unnest(p_tags) x ORDER BY x)
     WHERE tenant_id = p_tenant AND code = p_koc RETURNING tags INTO v;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.set_koc_tags(bigint, text, text[]) IS 'Replace a KOC''s tags (sorted, without repeats).';

-- upsert_koc_task gains target tags and materials (same leading arguments as 0.3.0).
DROP FUNCTION commerce.upsert_koc_task(bigint, text, text, timestamptz, timestamptz, integer, bigint, integer, text[]);
CREATE FUNCTION commerce.upsert_koc_task(p_tenant bigint, p_code text, p_title text,
                                         p_starts_at timestamptz, p_ends_at timestamptz,
                                         p_rate_bp integer DEFAULT 0, p_bounty_fen bigint DEFAULT 0,
                                         p_goal integer DEFAULT NULL, p_target_levels text[] DEFAULT NULL,
                                         p_target_tags text[] DEFAULT NULL, p_materials text[] DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_starts_at, 'p_starts_at');
    PERFORM commerce._require(p_ends_at, 'p_ends_at');
    PERFORM commerce.ensure_koc_levels(p_tenant);
    IF p_starts_at >= p_ends_at THEN
        PERFORM commerce._invalid('p_ends_at', 'The task window is empty.', 'ends_at must be later than starts_at.');
    END IF;
    IF coalesce(p_rate_bp, 0) NOT BETWEEN 0 AND 10000 OR coalesce(p_bounty_fen, 0) < 0
       OR (coalesce(p_rate_bp, 0) = 0 AND coalesce(p_bounty_fen, 0) = 0) THEN
        PERFORM commerce._invalid('p_rate_bp',
            format('rate %s bp, bounty %s fen', p_rate_bp, p_bounty_fen),
            'A task pays a commission rate of 1 to 10000 basis points, a bounty in fen per redemption, or both.');
    END IF;
    IF p_goal IS NOT NULL AND p_goal <= 0 THEN
        PERFORM commerce._invalid('p_goal', format('goal %s', p_goal), 'A goal is a positive number of redemptions.');
    END IF;
    IF p_target_levels IS NOT NULL AND (cardinality(p_target_levels) = 0 OR EXISTS (
        SELECT 1 FROM unnest(p_target_levels) l
         WHERE NOT EXISTS (SELECT 1 FROM commerce.koc_level WHERE tenant_id = p_tenant AND code = l))) THEN
        PERFORM commerce._invalid('p_target_levels', format('%s is empty or names an unknown level.', p_target_levels),
                                  'Use the codes of commerce.koc_level (NULL: any level).');
    END IF;
    IF coalesce(p_bounty_fen, 0) > 100000000 THEN
        PERFORM commerce._invalid('p_bounty_fen', format('%s fen', p_bounty_fen), 'A bounty is at most 1,000,000 yuan (100000000 fen).');
    END IF;
    IF p_target_tags IS NOT NULL AND (cardinality(p_target_tags) = 0 OR EXISTS (
        SELECT 1 FROM unnest(p_target_tags) x WHERE coalesce(x, '') !~ '^[a-z0-9][a-z0-9_-]{0,39}$')) THEN
        PERFORM commerce._invalid('p_target_tags', format('%s', p_target_tags),
                                  'Target tags are a non-empty list of lower-case words (NULL: any KOC).');
    END IF;
    IF p_materials IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(p_materials) m
                                            WHERE coalesce(length(m), 0) NOT BETWEEN 1 AND 200) THEN
        PERFORM commerce._invalid('p_materials', format('%s', p_materials), 'Materials are references of 1 to 200 characters.');
    END IF;
    INSERT INTO commerce.koc_task (tenant_id, code, title, starts_at, ends_at, rate_bp, bounty_fen, goal,
                                   target_levels, target_tags, materials, created_at)
    VALUES (p_tenant, p_code, p_title, p_starts_at, p_ends_at, coalesce(p_rate_bp, 0),
            coalesce(p_bounty_fen, 0), p_goal, p_target_levels, p_target_tags, coalesce(p_materials, '{}'),
            commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET title = EXCLUDED.title, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
           rate_bp = EXCLUDED.rate_bp, bounty_fen = EXCLUDED.bounty_fen, goal = EXCLUDED.goal,
           target_levels = EXCLUDED.target_levels, target_tags = EXCLUDED.target_tags,
           materials = EXCLUDED.materials
    RETURNING task_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_koc_task(bigint, text, text, timestamptz, timestamptz, integer, bigint, integer, text[], text[], text[]) IS
  'K08: create or update a task by code: window, reward (rate in bp and/or bounty in fen per redemption), goal in redemptions, target levels and/or tags (NULL: any), material references. tracking_link shares it only while it runs and only with KOCs it targets.';

-- The tasks a KOC can share now (its workbench).
CREATE FUNCTION commerce.koc_open_tasks(p_tenant bigint, p_koc text)
RETURNS TABLE (task text, title text, starts_at timestamptz, ends_at timestamptz, rate_bp integer,
               level_bonus_bp integer, bounty_fen bigint, goal integer, materials text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    RETURN QUERY
    SELECT t.code, t.title, t.starts_at, t.ends_at, t.rate_bp, lv.bonus_bp, t.bounty_fen, t.goal, t.materials
      FROM commerce.koc_task t
      JOIN commerce.koc_level lv ON lv.tenant_id = t.tenant_id AND lv.code = k.level_code
     WHERE t.tenant_id = p_tenant AND k.status = 'active'
       AND t.starts_at <= commerce.now() AND t.ends_at > commerce.now()
       AND (t.target_levels IS NULL OR k.level_code = ANY (t.target_levels))
       AND (t.target_tags IS NULL OR k.tags && t.target_tags)
     ORDER BY t.ends_at, t.code;
END $$;
COMMENT ON FUNCTION commerce.koc_open_tasks(bigint, text) IS
  'K08: the running tasks open to a KOC (its level and tags), with the reward it would earn (task rate + its level bonus, bounty) and the materials.';

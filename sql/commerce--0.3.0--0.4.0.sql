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
    IF p_status = 'failed' AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A failed payout gives the provider''s reason.', 'Pass the reason.');
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
    SELECT greatest(p_amount_fen * withdraw_fee_bp / 10000, withdraw_fee_min_fen)
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
    IF NOT p_approve AND coalesce(length(trim(p_reason)), 0) = 0 THEN
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
    WITH b AS (SELECT (date_trunc('month', p_month)::timestamp AT TIME ZONE t.time_zone) AS lo,
                      ((date_trunc('month', p_month) + interval '1 month')::timestamp AT TIME ZONE t.time_zone) AS hi
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

/*
 * commerce 0.6.0 -> 0.7.0 (open: the upgrade script of the version under
 * development).
 *
 * Every change to an object goes into its module source under sql/src/ (the
 * one definition, from which make builds commerce--0.7.0.sql) AND here, as
 * the statements that turn a 0.6.0 database into the same thing. `make test`
 * proves that a fresh install and 0.1.0 + every upgrade script give the same
 * catalog (test/upgrade/).
 *
 * Rules for this file:
 *  - Columns added to a table go last in its CREATE TABLE in the module
 *    source, in the order they are added here (functions return row types,
 *    so column order is part of the interface).
 *  - A function whose signature or return type changes is dropped and
 *    created again here;
its COMMENT and its GRANTs/REVOKEs are repeated.
 *  - Functions keep their C symbols: the library serves every released
 *    script, so a C function a released script names is never removed.
 *  - The script ends with REVOKE ALL ON ALL ROUTINES IN SCHEMA commerce FROM
 *    PUBLIC (sql/src/core/privileges.sql), so the functions it adds are
 *    closed to PUBLIC as in a fresh install: keep that statement last.
 */

\echo Use "ALTER EXTENSION commerce UPDATE TO '0.7.0'" to load this file. \quit

-- ===========================================================================
-- triggers: names that state their firing order; every append-only table
-- declared by one helper, with its TRUNCATE guard (agreement,
-- agreement_signature, koc_level_change and play_help had none)
-- ===========================================================================

CREATE FUNCTION commerce._declare_append_only(p_table regclass)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_table, 'p_table');
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only BEFORE UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION commerce.append_only_guard()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER before_10_append_only_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION commerce.append_only_guard()', p_table);
END $$;
COMMENT ON FUNCTION commerce._declare_append_only(regclass) IS
  'Make a table append-only: triggers before_10_append_only (UPDATE, DELETE) and before_10_append_only_truncate (TRUNCATE) with commerce.append_only_guard (PT403). Idempotent.';
REVOKE ALL ON FUNCTION commerce._declare_append_only(regclass) FROM PUBLIC;

ALTER TRIGGER price_floor_guard ON commerce.price RENAME TO before_10_floor_guard;
ALTER TRIGGER sku_floor_guard ON commerce.sku RENAME TO before_10_floor_guard;
ALTER TRIGGER reservation_state_guard ON commerce.reservation RENAME TO before_10_state_guard;
DROP TRIGGER stock_movement_append_only ON commerce.stock_movement;
DROP TRIGGER stock_movement_no_truncate ON commerce.stock_movement;
ALTER TRIGGER order_attribution ON commerce.orders RENAME TO before_10_attribution;
ALTER TRIGGER koc_account_rearm_on_sign ON commerce.agreement_signature RENAME TO after_10_koc_account_rearm;
ALTER TRIGGER koc_account_rearm_on_active ON commerce.koc RENAME TO after_10_account_rearm;
ALTER TRIGGER commission_on_redeem ON commerce.orders RENAME TO after_10_commission_on_redeem;
ALTER TRIGGER commission_on_refund ON commerce.order_event RENAME TO after_10_commission_on_refund;
ALTER TRIGGER koc_application_state ON commerce.koc_application RENAME TO before_10_state_guard;
DROP TRIGGER agreement_append_only ON commerce.agreement;
DROP TRIGGER agreement_signature_append_only ON commerce.agreement_signature;
DROP TRIGGER commission_line_append_only ON commerce.commission_line;
DROP TRIGGER commission_line_no_truncate ON commerce.commission_line;
ALTER TRIGGER settle_batch_state ON commerce.settle_batch RENAME TO before_10_state_guard;
ALTER TRIGGER withdrawal_state ON commerce.withdrawal RENAME TO before_10_state_guard;
DROP TRIGGER koc_ledger_append_only ON commerce.koc_ledger;
DROP TRIGGER koc_ledger_no_truncate ON commerce.koc_ledger;
DROP TRIGGER koc_level_change_append_only ON commerce.koc_level_change;
ALTER TRIGGER koc_risk_flag_state ON commerce.koc_risk_flag RENAME TO before_10_state_guard;
DROP TRIGGER koc_audit_append_only ON commerce.koc_audit;
DROP TRIGGER koc_audit_no_truncate ON commerce.koc_audit;
ALTER TRIGGER order_state_guard ON commerce.orders RENAME TO before_20_state_guard;
DROP TRIGGER order_status_history_append_only ON commerce.order_status_history;
DROP TRIGGER order_status_history_no_truncate ON commerce.order_status_history;
ALTER TRIGGER after_sale_state ON commerce.after_sale RENAME TO before_10_state_guard;
DROP TRIGGER order_event_append_only ON commerce.order_event;
DROP TRIGGER order_event_no_truncate ON commerce.order_event;
ALTER TRIGGER play_config_terms ON commerce.play_config RENAME TO before_20_terms;
ALTER TRIGGER orders_play_paid ON commerce.orders RENAME TO after_20_play_paid;
ALTER TRIGGER orders_play_paid_insert ON commerce.orders RENAME TO after_21_play_paid_insert;
ALTER TRIGGER orders_play_refunded ON commerce.orders RENAME TO after_30_play_refunded;
ALTER TRIGGER play_config_state ON commerce.play_config RENAME TO before_10_state_guard;
ALTER TRIGGER play_instance_state ON commerce.play_instance RENAME TO before_10_state_guard;
DROP TRIGGER consumption_log_append_only ON commerce.consumption_log;
DROP TRIGGER consumption_log_no_truncate ON commerce.consumption_log;
DROP TRIGGER play_help_append_only ON commerce.play_help;
ALTER TRIGGER play_invite_state ON commerce.play_invite RENAME TO before_10_state_guard;
ALTER TRIGGER play_settlement_state ON commerce.play_settlement RENAME TO before_10_state_guard;
SELECT commerce._declare_append_only('commerce.stock_movement');
SELECT commerce._declare_append_only('commerce.agreement');
SELECT commerce._declare_append_only('commerce.agreement_signature');
SELECT commerce._declare_append_only('commerce.commission_line');
SELECT commerce._declare_append_only('commerce.koc_ledger');
SELECT commerce._declare_append_only('commerce.koc_level_change');
SELECT commerce._declare_append_only('commerce.koc_audit');
SELECT commerce._declare_append_only('commerce.order_status_history');
SELECT commerce._declare_append_only('commerce.order_event');
SELECT commerce._declare_append_only('commerce.consumption_log');
SELECT commerce._declare_append_only('commerce.play_help');

-- ===========================================================================
-- plpgsql_check: no warning left (unused variable, untyped initializers;
-- place_order's comes with the cart reader below)
-- ===========================================================================

CREATE OR REPLACE FUNCTION commerce.merge_suggestions(p_tenant bigint)
RETURNS TABLE (receiver_phone text, receiver_address text, order_ids bigint[], weight_g bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    v_phone text; v_address text; v_start timestamptz; v_ids bigint[] := '{}'::bigint[]; v_weight bigint := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    FOR r IN SELECT o.order_id, o.receiver_phone AS phone, o.receiver_address AS address, o.created_at,
                    commerce.order_weight_g(o.tenant_id, o.order_id) AS w
               FROM commerce.orders o
              WHERE o.tenant_id = p_tenant AND o.status = 'paid' AND NOT o.oversell
                AND o.receiver_phone IS NOT NULL AND o.receiver_address IS NOT NULL
              ORDER BY o.receiver_phone, o.receiver_address, o.created_at, o.order_id LOOP
        IF r.phone IS DISTINCT FROM v_phone OR r.address IS DISTINCT FROM v_address
           OR r.created_at >= v_start + interval '2 hours' OR v_weight + r.w >= 10000 THEN
            IF cardinality(v_ids) > 1 THEN
                receiver_phone := v_phone; receiver_address := v_address;
                order_ids := v_ids; weight_g := v_weight;
                RETURN NEXT;
            END IF;
            v_phone := r.phone; v_address := r.address; v_start := r.created_at;
            v_ids := '{}'; v_weight := 0;
        END IF;
        v_ids := v_ids || r.order_id;
        v_weight := v_weight + r.w;
    END LOOP;
    IF cardinality(v_ids) > 1 THEN
        receiver_phone := v_phone; receiver_address := v_address;
        order_ids := v_ids; weight_g := v_weight;
        RETURN NEXT;
    END IF;
END $$;


-- ===========================================================================
-- one case for statuses: play instances go pending -> active -> success |
-- failed, in lower case like every other status
-- ===========================================================================

ALTER TABLE commerce.play_instance DISABLE TRIGGER before_10_state_guard;
DROP INDEX commerce.play_instance_due;
ALTER TABLE commerce.play_instance
    DROP CONSTRAINT play_instance_status_check,
    DROP CONSTRAINT play_instance_check1,
    DROP CONSTRAINT play_instance_check2;
UPDATE commerce.play_instance SET status = lower(status);
ALTER TABLE commerce.play_instance
    ADD CONSTRAINT play_instance_status_check CHECK (status IN ('pending', 'active', 'success', 'failed')),
    ADD CONSTRAINT play_instance_check1 CHECK ((status IN ('success', 'failed')) = (ended_at IS NOT NULL)),
    ADD CONSTRAINT play_instance_check2 CHECK (status <> 'success' OR current = target);
CREATE INDEX play_instance_due ON commerce.play_instance (deadline) WHERE status IN ('pending', 'active');
DROP TRIGGER before_10_state_guard ON commerce.play_instance;
CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.play_instance
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'pending,active',
        'pending>active', 'pending>failed', 'active>success', 'active>failed');
COMMENT ON TABLE commerce.play_instance IS
  'One run of a play (M2.1): a group or a bargain being filled. status is the single truth: pending -> active -> success | failed (C trigger); progress is current of target, and current never exceeds target (CHECK, under the instance row lock).';

COMMENT ON FUNCTION commerce.help_bargain(bigint, text, bigint, text, text, text) IS
  'A helper cuts a bargain''s price by the rule''s cut_fen (the last cut stops at floor_fen); the cut that reaches the floor makes the bargain a success. Helps of one bargain are serialized on its row. Refused: not running (PT409), past its deadline (PT410), the owner helping (PT409), a second help (PT409), the eligibility rules (PT403, PT429, PT429, ...). Idempotent by request_id.';




COMMENT ON FUNCTION commerce.end_expired_groups(integer) IS
  'The play deadline job (one batch, SKIP LOCKED). A group past its deadline is completed with virtual members when its rules say virtual_fill, else failed: each paying member''s unit goes back to the play''s stock and the payment is refunded through the outbox (payment.refund, retried now, after 1 minute and 1 hour, then a dead letter and an outbox.dead alert; the provider confirms with commerce.complete_refund, and the member becomes refunded). A bargain past its deadline that did not reach its floor is failed (play.bargain_failed). Returns the number of instances ended.';

COMMENT ON FUNCTION commerce.join_group(bigint, text, text, text, text, bigint, text, text, text) IS
  'Group buy (M3): open a group (no instance: the customer leads it) or join one, paying the play price; the order takes a unit of the play''s stock and carries the instance. Joiners of one group share its row (KEY SHARE) while they order and pay, and take their place at the end by a conditional update (status active, current below target, before the deadline), so a group never has more than its target and a join that loses the race rolls back whole; the member that completes it makes it a success and issues every member''s asset. Refused: a closed or not running play (PT409), a group that is not active (PT409), past its deadline (PT410), full (PT409), a second place (PT409), and the eligibility rules checked in C (PT403 blacklist, PT403, PT409, PT409, PT429, PT429). IP and device feed the blacklist and the per-IP rate. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce.check_play_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a group's progress is its members; a successful group has exactly its target
    SELECT 'group members = progress', format('instance %s: current %s, members %s, target %s, %s',
                                             i.instance_id, i.current, count(p.customer_id), i.target, i.status)
      FROM commerce.play_instance i
      LEFT JOIN commerce.play_participant p USING (tenant_id, instance_id)
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NULL
     GROUP BY i.tenant_id, i.instance_id
    HAVING count(p.customer_id) <> i.current OR count(p.customer_id) > i.target
        OR (i.status = 'success' AND count(p.customer_id) <> i.target)
    UNION ALL
    -- a failed group's paying members are all refunding or refunded
    SELECT 'failed group refunded', format('instance %s: member %s is %s', i.instance_id, p.customer_id, p.status)
      FROM commerce.play_instance i JOIN commerce.play_participant p USING (tenant_id, instance_id)
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.status = 'failed' AND i.price_fen IS NULL
       AND p.order_id IS NOT NULL AND p.status = 'joined'
    UNION ALL
    -- a bargain's price is the play price less its cuts, never below the floor
    SELECT 'bargain price = price - cuts', format('instance %s: price %s, cuts %s, helps %s/%s',
                                                  i.instance_id, i.price_fen, coalesce(h.cuts, 0), coalesce(h.n, 0), i.current)
      FROM commerce.play_instance i
      JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
      LEFT JOIN LATERAL (SELECT sum(cut_fen) AS cuts, count(*) AS n FROM commerce.play_help x
                          WHERE x.tenant_id = i.tenant_id AND x.instance_id = i.instance_id) h ON true
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NOT NULL
       AND (i.price_fen <> c.price_fen - coalesce(h.cuts, 0) OR coalesce(h.n, 0) <> i.current
            OR i.price_fen < (c.rules ->> 'floor_fen')::bigint
            OR (i.status = 'success') <> (i.price_fen = (c.rules ->> 'floor_fen')::bigint AND i.status <> 'failed'))
    UNION ALL
    -- an asset's remaining is its total less its consumption (unless voided by a refund)
    SELECT 'asset remaining = total - consumed', format('asset %s: total %s, remaining %s, consumed %s',
                                                         a.asset_id, a.total, a.remaining, coalesce(l.consumed, 0))
      FROM commerce.user_asset a
      LEFT JOIN LATERAL (SELECT sum(amount) AS consumed FROM commerce.consumption_log x
                          WHERE x.tenant_id = a.tenant_id AND x.asset_id = a.asset_id) l ON true
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.voided_at IS NULL
       AND a.remaining <> a.total - coalesce(l.consumed, 0)
    UNION ALL
    -- an inviter is rewarded at most max_rewards times
    SELECT 'rewards per inviter <= max_rewards', format('play %s, inviter %s: %s rewards, max %s',
                                                        c.code, v.inviter_id, count(*), c.rules ->> 'max_rewards')
      FROM commerce.play_invite v JOIN commerce.play_config c ON c.tenant_id = v.tenant_id AND c.config_id = v.config_id
     WHERE (p_tenant IS NULL OR v.tenant_id = p_tenant) AND v.status = 'rewarded'
     GROUP BY c.tenant_id, c.code, c.rules, v.inviter_id
    HAVING count(*) > (c.rules ->> 'max_rewards')::bigint
    UNION ALL
    -- a reward went out for every rewarded invite
    SELECT 'reward queued', format('invite %s', v.invite_id)
      FROM commerce.play_invite v
     WHERE (p_tenant IS NULL OR v.tenant_id = p_tenant) AND v.status = 'rewarded'
       AND NOT EXISTS (SELECT 1 FROM commerce.outbox m WHERE m.tenant_id = v.tenant_id
                          AND m.topic = 'play.invite_reward' AND m.dedupe_key = 'invite:' || v.invite_id)
    UNION ALL
    -- a settlement's orders add up to its income, and its parts to the income
    SELECT 'settlement = its orders', format('settlement %s: income %s, orders %s fen in %s',
                                             s.settlement_id, s.income_fen, coalesce(sum(so.amount_fen), 0), count(so.order_id))
      FROM commerce.play_settlement s
      LEFT JOIN commerce.play_settlement_order so USING (tenant_id, settlement_id)
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
     GROUP BY s.tenant_id, s.settlement_id
    HAVING coalesce(sum(so.amount_fen), 0) <> s.income_fen OR count(so.order_id) <> s.orders
        OR s.store_fen + s.hq_fen <> s.income_fen
        OR bool_or(so.released) <> (s.status = 'rejected')
$$;


-- ===========================================================================
-- comments cite feature IDs (docs/requirements.md), not the product documents'
-- sections; K05 (levels and their rules) and K06 (benefits) were swapped
-- ===========================================================================

COMMENT ON TABLE commerce.member_tier IS
  'Paid membership tiers (e.g. monthly, annual card, H3.6.2) that member prices refer to.';

COMMENT ON TABLE commerce.product IS
  'A product (SPU): physical goods or virtual goods (course, activation code, membership card, live-room ticket), H3.1.1.';

COMMENT ON FUNCTION commerce.koc_benefits(bigint, text) IS
  'K06: what a KOC has now: its level, the commission bonus, vote rights and airdrops (only while active), the exclusive materials of its level and the levels below, and whether it signed the current agreement.';

COMMENT ON TABLE commerce.platform_status_map IS
  'Platform status words mapped to the unified order status (H3.2.3); tenant_id 0 holds the defaults, a tenant row overrides one.';

COMMENT ON TABLE commerce.routing_rule IS
  'Logistics routing as data (H3.3.2): rules tried by priority, first match wins; a rule matches when its set conditions hold (receiver region in regions, parcel weight >= min_weight_g, remote region). tenant_id 0 rows are the defaults for tenants without rules of their own. Evaluated in C by commerce.route_carrier.';

COMMENT ON TABLE commerce.recon_difference IS
  'Differences between a day''s bill and commerce''s orders (marked red for an operator, H3.7.1): an order missing on either side, a paid amount or a refund that differs.';

COMMENT ON FUNCTION commerce.start_bargain(bigint, text, text, text, text, text) IS
  'Bargain (M3): the customer starts a bargain at the play price; helpers cut it by the rule''s cut_fen until floor_fen, within the rule''s hours (and the play''s window). helps_needed = ceil((price - floor) / cut). One running bargain per customer and play (PT409); the eligibility rules apply. Idempotent by request_id.';

COMMENT ON FUNCTION commerce.play_dashboard(bigint, text) IS
  'The activity dashboard (M4), one JSON document for any play: funnel (views and distinct viewers -> joins/starts/purchases -> paid orders and payers, viewToPaidBp), revenue (gmvFen, orders, refundedFen, netFen), fulfilment (TotalAssetPool = units sold x units per sale of live assets, ConsumedAsset, the template''s unit name, "90 hours of 150 hours") and the kind''s card: group_buy (groups, succeeded, failed, successRateBp, virtual members), bargain (started, succeeded, helps), invite_reward (inviters, invitees, rewarded, fissionCoefficient = converted invitees per inviter), flash_sale (allocated, available, sellThroughBp).';

COMMENT ON FUNCTION commerce.buy_play(bigint, text, text, text, integer, text, text, text, jsonb) IS
  'Flash sale (M3), or the first-order offer of an invite-reward play: an order at the play price from the play''s own stock, held for the play''s hold time (hold_minutes, 5 by default) and cancelled unless paid by then (commerce.pay_order). Sold out is refused before any lock or write (PT409); the per-order limit (22023); the eligibility rules (PT403, PT403, PT409, PT409, PT429, PT429). The asset is issued when the order is paid. Idempotent by request_id (outcome existing).';

COMMENT ON TABLE commerce.play_template IS
  'A play HQ offers its stores (M1.2): GROUP_BUY, FLASH_SALE, BARGAIN, INVITE_REWARD or any code of one of those kinds, the schema its store rules must follow, and the unit what it sells is counted in (lessons, hours, bags).';

COMMENT ON TABLE commerce.play_config IS
  'A store applies a template to one of its SKUs or services (M2.1): the play price, the stock pre-allocated from the shared pool to the activity play:<code>, the window, where it is seen (cities; NULL: everywhere), who may join (new users only, a per-user limit, a mutex group) and the rules, checked against the template''s schema with its defaults filled in. What is sold becomes units_per_sale units of an asset of asset_type. The terms never change after creation; a config is closed and a new one made.';

COMMENT ON TABLE commerce.user_asset IS
  'What a customer bought and consumes over time (M2.2): 10 lessons, 150 hours, 200 bags; remaining never goes below zero (CHECK, under the asset row lock). One asset per order, with the activity and instance it came from.';

COMMENT ON TABLE commerce.play_blacklist IS
  'Who may not take part in any play of the tenant (M3, eligibility): a customer (kind user, by customer code), an IP or a device id, with a reason and an optional end. Checked in C by every play entry point (PT403).';

COMMENT ON TABLE commerce.play_invite IS
  'Invite-reward (老带新, M3): who brought which new customer. A customer is invited once per tenant (the first invitation counts). On the invitee''s first paid order the invite ends exactly once: rewarded (the inviter''s reward_fen and the invitee''s invitee_reward_fen go out through the outbox), capped (the inviter already had max_rewards) or lapsed (the play was no longer running).';

COMMENT ON TABLE commerce.play_settlement IS
  'A store''s settlement of a play''s income (M7): the completed orders not settled before, their income (paid less refunded), split into the store''s and HQ''s parts by the split rule (they add up exactly: CHECK). applied -> approved (payout to the store through the outbox) -> paid | failed (approved again to retry); applied -> rejected releases the orders.';


-- ===========================================================================
-- money in one C home (src/core_money.c): commerce.rate_fen, fee_fen and
-- split_fen (now exact up to 10^15 fen at 10000 bp, where the PL/pgSQL
-- version overflowed); withdrawal fees through it
-- ===========================================================================

CREATE FUNCTION commerce.rate_fen(p_amount_fen bigint, p_rate_bp integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_rate_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION commerce.fee_fen(p_amount_fen bigint, p_fee_bp integer, p_min_fen bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_fee_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION commerce.split_fen(p_amount bigint, p_share_bp integer, OUT share_fen bigint, OUT rest_fen bigint)
    AS 'MODULE_PATHNAME', 'commerce_split_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION commerce.rate_fen(bigint, integer) IS
  'A rate applied to an amount: floor(p_amount_fen x p_rate_bp / 10000) in exact integer arithmetic (0 to 10^15 fen, 0 to 10000 bp; 22023 outside, 22004 for NULL). Commissions, fees and shares are all computed this way.';

COMMENT ON FUNCTION commerce.fee_fen(bigint, integer, bigint) IS
  'A fee: commerce.rate_fen(p_amount_fen, p_fee_bp), at least p_min_fen.';

COMMENT ON FUNCTION commerce.split_fen(bigint, integer) IS
  'Split p_amount fen (0 to 10^15) into share (p_share_bp basis points) and rest by the largest remainder method: share_fen + rest_fen = p_amount always; the fen the floors leave goes to the part with the larger remainder (the rest on a tie).';

COMMENT ON FUNCTION commerce.withdrawal_fee(bigint, bigint) IS
  'The fee of a withdrawal: amount x withdraw_fee_bp / 10000 rounded down, at least withdraw_fee_min_fen (commerce.fee_fen).';


-- ===========================================================================
-- one reader of carts and order lines (commerce._cart_lines, the C parser
-- commerce.reserve uses): a quantity is a whole number by value (2, 2.0, 2e0),
-- the same in reserve, place_order and request_after_sale (those two are
-- created below, with the status reason)
-- ===========================================================================

CREATE FUNCTION commerce._cart_lines(p_cart text)
RETURNS TABLE (line_no integer, sku text, qty bigint, warehouse text)
    AS 'MODULE_PATHNAME', 'commerce_cart_lines' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce._cart_lines(text) IS
  'The lines of a cart ({"lines":[...]} or the bare array) or of an order, checked by the cart parser commerce.reserve uses: 22023 naming the JSON path of the first bad field (invalid cart: lines[0].qty: expected an integer), 22P02 for text that is not JSON. A quantity is a whole number: 2, 2.0 and 2e0 are two units.';

-- ===========================================================================
-- the reason of an order's status change is passed in the statement
-- (orders.status_reason, written to the history and cleared by the state
-- machine) instead of the hidden setting commerce.reason
-- ===========================================================================

ALTER TABLE commerce.orders ADD COLUMN status_reason text;
COMMENT ON COLUMN commerce.orders.status_reason IS
  'Why this statement changes the order''s status: set it in the UPDATE (or INSERT) that changes status; the state machine writes it to order_status_history and clears it, so it is NULL at rest and never carried over to a later change.';
DROP FUNCTION commerce._reason(text);






-- ===========================================================================
-- limits written once: commerce._limit reads src/commerce_limits.h, and every
-- request_id is checked by commerce._request_key
-- ===========================================================================
CREATE FUNCTION commerce._limit(p_name text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'commerce_limit' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION commerce._request_key(p_value text, p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM commerce._require(p_value, p_name);
    IF length(p_value) NOT BETWEEN 1 AND commerce._limit('key_len') THEN
        PERFORM commerce._invalid(p_name,
            format('A %s is 1 to %s characters.', regexp_replace(p_name, '^p_', ''), commerce._limit('key_len')),
            'Use a UUID or another unique key generated by the client.');
    END IF;
END $$;



CREATE OR REPLACE FUNCTION commerce.upsert_koc_task(p_tenant bigint, p_code text, p_title text,
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
    IF coalesce(p_rate_bp, 0) NOT BETWEEN 0 AND commerce._limit('bp_scale') OR coalesce(p_bounty_fen, 0) < 0
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



CREATE OR REPLACE FUNCTION commerce._fen(p_value jsonb, p_name text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN 0;
    END IF;
    IF jsonb_typeof(p_value) <> 'number' OR (p_value #>> '{}')::numeric < 0
       OR (p_value #>> '{}')::numeric > commerce._limit('max_fen')
       OR (p_value #>> '{}')::numeric <> trunc((p_value #>> '{}')::numeric) THEN
        PERFORM commerce._invalid(p_name, format('%s is %s.', p_name, p_value),
                                  'Amounts are non-negative integers in fen (1 yuan = 100 fen).');
    END IF;
    RETURN (p_value #>> '{}')::bigint;
END $$;

CREATE OR REPLACE FUNCTION commerce._platform_fen(p_value jsonb, p_unit text, p_field text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v numeric;
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN 0;
    END IF;
    IF jsonb_typeof(p_value) NOT IN ('number', 'string') OR (p_value #>> '{}') !~ '^[0-9]+(\.[0-9]+)?$' THEN
        PERFORM commerce._invalid('p_payload', format('%s is %s, not an amount.', p_field, p_value),
                                  'Amounts are non-negative numbers (yuan or fen, per the platform profile).');
    END IF;
    v := (p_value #>> '{}')::numeric * CASE p_unit WHEN 'yuan' THEN 100 ELSE 1 END;
    IF v > commerce._limit('max_fen') THEN
        PERFORM commerce._invalid('p_payload', format('%s is %s, more than any order.', p_field, p_value),
                                  'Check the amounts and the profile''s amount_unit.');
    END IF;
    IF v <> trunc(v) THEN
        PERFORM commerce._invalid('p_payload', format('%s is %s, finer than a fen.', p_field, p_value),
                                  'Yuan amounts have at most two decimals; fen amounts are integers.');
    END IF;
    RETURN v::bigint;
END $$;











COMMENT ON FUNCTION commerce._limit(text) IS
  'A limit of the C code by name (key_len 200, max_qty 1000000, max_lines 200, code_len 63, bp_scale 10000, max_fen 10^15, max_batch 100000), so that SQL checks use the same numbers.';

COMMENT ON FUNCTION commerce._request_key(text, text) IS
  'Refuse a missing (22004) or badly sized (22023) idempotency key; every entry point that takes a request_id checks it here.';

-- ===========================================================================
-- review fixes: a refund only may name no goods; the withdrawal fee of a
-- missing or negative amount is the minimum fee, as in 0.6.0
-- ===========================================================================
CREATE OR REPLACE FUNCTION commerce.withdrawal_fee(p_tenant bigint, p_amount_fen bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT commerce.fee_fen(greatest(coalesce(p_amount_fen, 0), 0), withdraw_fee_bp, withdraw_fee_min_fen)
      FROM commerce.tenant WHERE tenant_id = p_tenant;
$$;


-- ===========================================================================
-- no escalation through pg_temp (issue 11, finding 2): every SECURITY DEFINER
-- function searches pg_temp last, so a caller's temporary objects never
-- shadow a type, table or operator the function uses
-- ===========================================================================

ALTER FUNCTION commerce_api.price(text, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.reserve(text, text, text, interval, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.confirm_reservation(bigint, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.release_reservation(bigint, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.extend_reservation(bigint, text, interval) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.stock(text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.record_click(text, text, inet, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.record_payout(text, text, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.koc_stats(bigint, date, date) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.koc_rank(date, date, text, text, integer) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.order_contact(bigint) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.visible_plays(text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.record_play_view(text, text, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.start_bargain(text, text, text, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.invite(text, text, text, text, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.play_dashboard(text) SET search_path = pg_catalog, commerce, pg_temp;
ALTER FUNCTION commerce_api.apply_play_settlement(text, text) SET search_path = pg_catalog, commerce, pg_temp;

-- ===========================================================================
-- error messages quote at most 64 characters of a caller's value
-- ===========================================================================

-- ===========================================================================
-- bad input found by the fuzz run: messages quote at most a prefix of a
-- caller's value, infinite report dates and an int64-minimum delta are 22023
-- ===========================================================================
CREATE OR REPLACE FUNCTION commerce._not_found(p_what text, p_key text, p_tenant bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_key text := CASE WHEN length(p_key) > 64 THEN left(p_key, 64) || '...' ELSE p_key END;
BEGIN
    -- a caller's value is quoted cut to 64 characters, as the C code does (commerce_quote)
    RAISE EXCEPTION USING ERRCODE = 'PT404',
        MESSAGE = format('%s "%s" not found', left(p_what, 64), v_key),
        DETAIL  = format('No %s "%s" exists in tenant %s.', left(p_what, 64), v_key, p_tenant),
        HINT    = 'Check the code and the tenant; rows of other tenants are never visible.';
END $$;

CREATE OR REPLACE FUNCTION commerce._invalid(p_name text, p_detail text, p_hint text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- a detail that quotes a caller's value is cut to 300 characters, so a 10 MiB
    -- argument never reaches the client or the server log whole
    RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('invalid value for %s', left(p_name, 64)),
        DETAIL  = CASE WHEN length(p_detail) > 300 THEN left(p_detail, 300) || '...' ELSE p_detail END,
        HINT    = CASE WHEN length(p_hint) > 300 THEN left(p_hint, 300) || '...' ELSE p_hint END;
END $$;

CREATE OR REPLACE FUNCTION commerce.tenant_id(p_code text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v_id bigint;
BEGIN
    PERFORM commerce._require(p_code, 'p_code');
    SELECT tenant_id INTO v_id FROM commerce.tenant WHERE code = p_code;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('tenant "%s" not found', CASE WHEN length(p_code) > 64 THEN left(p_code, 64) || '...' ELSE p_code END),
            HINT = 'Create it with commerce.create_tenant(code, name).';
    END IF;
    RETURN v_id;
END $$;



CREATE OR REPLACE FUNCTION commerce.map_platform_status(p_tenant bigint, p_channel text, p_status text)
RETURNS commerce.order_status LANGUAGE plpgsql STABLE AS $$
DECLARE v commerce.order_status;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_status, 'p_status');
    SELECT status INTO v FROM commerce.platform_status_map
     WHERE tenant_id IN (p_tenant, 0) AND channel_code = p_channel AND platform_status = p_status
     ORDER BY tenant_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown %s order status "%s"', left(p_channel, 64), left(p_status, 64)),
            DETAIL  = format('No mapping of %s status "%s" to an order status exists.', left(p_channel, 64), left(p_status, 64)),
            HINT    = 'Add a row to commerce.platform_status_map (tenant_id, channel_code, platform_status, status).';
    END IF;
    RETURN v;
END $$;


-- ===========================================================================
-- _request_key already checks for NULL: the _require before it is dropped
-- ===========================================================================
CREATE OR REPLACE FUNCTION commerce._request_seen(p_tenant bigint, p_operation text,
                                       p_request_id text, p_params jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r commerce.request_log;
BEGIN
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    INSERT INTO commerce.request_log (tenant_id, operation, request_id, params)
    VALUES (p_tenant, p_operation, p_request_id, p_params)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM commerce.request_log
     WHERE tenant_id = p_tenant AND operation = p_operation
       AND request_id = p_request_id;
    IF r.params IS DISTINCT FROM p_params THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = format('request_id "%s" was already used for a different %s',
                             p_request_id, p_operation),
            DETAIL  = format('First call: %s; this call: %s.', r.params, p_params),
            HINT    = 'Generate a new request_id for a new operation; reuse one only to retry the same call.';
    END IF;
    RETURN r.result;
END $$;


-- ===========================================================================
-- actors (issue 11): staff and role bindings, the identity and actor types;
-- retention settings and the purge job (the tables are released from the
-- extension with the others below)
-- ===========================================================================

CREATE TYPE commerce.identity AS (tenant_id bigint, kind text, subject text, source text);
COMMENT ON TYPE commerce.identity IS
  'The verified identity of a call: tenant, kind of actor (anonymous, customer, koc, store, operator, finance, service), subject (a customer, KOC or staff code, a service name) and its source (binding, postgrest, postgraphile, hasura, setting).';

CREATE TYPE commerce.actor AS (tenant_id bigint, kind text, subject text, staff_id bigint, stores text[],
                               channels text[]);
COMMENT ON TYPE commerce.actor IS
  'The actor of a commerce_api call: its identity, and for staff the staff row''s id, stores and channels (NULL: all).';

CREATE TYPE commerce.claims AS (source text, tenant text, subject text, role text);
COMMENT ON TYPE commerce.claims IS
  'The claims of a request, unverified by themselves: their source (postgrest, postgraphile, hasura, setting), the tenant, the subject and the role claimed. commerce._identity() believes them only in a trusted session.';

CREATE TABLE commerce.staff (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    staff_id   bigint GENERATED ALWAYS AS IDENTITY,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind       text NOT NULL CHECK (kind IN ('store', 'operator', 'finance')),
    stores     text[],
    channels   text[],
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, staff_id),
    UNIQUE (tenant_id, code),
    CHECK (kind <> 'store' OR stores IS NOT NULL),
    CHECK (cardinality(stores) <= 1000 AND cardinality(channels) <= 100)
);
COMMENT ON TABLE commerce.staff IS
  'The people who act for a tenant through the API: store staff (kind store, limited to their stores), HQ operators and finance. stores and channels list the codes they may act on (NULL: all). A verified identity whose subject is a staff code acts as that staff member.';

CREATE TABLE commerce.role_binding (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    role_name  name NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('customer', 'koc', 'store', 'operator', 'finance', 'service')),
    subject    text CHECK (length(subject) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, role_name),
    CHECK (kind = 'service' OR subject IS NOT NULL)
);
COMMENT ON TABLE commerce.role_binding IS
  'Database login roles bound to one tenant and one actor (commerce.bind_role), for backends that call commerce_api over plain SQL: a session of such a role acts as the binding says, and no setting or claim can change it.';

CREATE TABLE commerce.retention (
    tenant_id  bigint NOT NULL DEFAULT 0,
    what       text NOT NULL CHECK (what IN ('request_log', 'outbox.done', 'outbox.dead', 'play_event', 'click',
                                             'cron.job_run_details')),
    keep       interval NOT NULL CHECK (keep >= interval '1 day' AND keep <= interval '20 years'),
    PRIMARY KEY (tenant_id, what)
);
COMMENT ON TABLE commerce.retention IS
  'How long the purge job (commerce.purge_batch, job commerce-purge) keeps rows that only serve operations: idempotency keys, delivered and dead outbox messages, play funnel events, link clicks, and pg_cron''s run details of the commerce jobs. tenant_id 0 holds the defaults; a tenant row overrides one. Ledgers, orders and money are never purged.';
INSERT INTO commerce.retention (what, keep) VALUES
  ('request_log', '30 days'), ('outbox.done', '14 days'), ('outbox.dead', '90 days'),
  ('play_event', '180 days'), ('click', '400 days'), ('cron.job_run_details', '14 days');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-purge', '17 19 * * *', 'CALL commerce.purge_pump()');

CREATE TABLE commerce.audit_log (
    tenant_id      bigint NOT NULL,
    audit_id       bigint GENERATED ALWAYS AS IDENTITY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    operation      text NOT NULL CHECK (length(operation) BETWEEN 1 AND 64),
    object_key     text CHECK (length(object_key) <= 200),
    actor_kind     text,
    actor_subject  text,
    db_role        name NOT NULL DEFAULT session_user,
    acting_role    name NOT NULL DEFAULT current_user,
    client_addr    inet DEFAULT inet_client_addr(),
    forwarded_for  text CHECK (length(forwarded_for) <= 200),
    params         jsonb NOT NULL DEFAULT '{}',
    outcome        text CHECK (length(outcome) <= 200),
    PRIMARY KEY (tenant_id, audit_id)
);
COMMENT ON TABLE commerce.audit_log IS
  'Append-only log of sensitive operations (H4.3): refund decisions, withdrawal decisions, payouts and settlement batches, price changes, risk decisions, play settlement approvals and payouts, unmasked personal data reads and exports, staff, role bindings, retention and role grants. Who (verified actor, database role), when, from where (client address, X-Forwarded-For), what (operation, object, changed fields) and the outcome. tenant_id 0: cluster-level operations (grant_api, grant_jobs). Never purged.';
SELECT commerce._declare_append_only('commerce.audit_log');

-- ===========================================================================
-- provisioning (generated part): the tables of tenant data leave the
-- extension (pg_dump then dumps their rows, docs/scale-out.md); functions
-- that took or returned a table's row type take the extension's <table>_row
-- types instead; commerce._schema_ddl() and CALL commerce.provision() create
-- the tables in a new database. Not a row is copied.
-- ===========================================================================


-- ==== sql/src/core/tables.sql


-- The row of commerce.tenant as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.tenant_row AS (
    tenant_id bigint, code text, name text, time_zone text, order_hold interval,
    flash_hold interval, max_hold interval, default_slots integer,
    created_at timestamp with time zone, attribution_window interval, click_dedupe interval,
    self_referral text, koc_rate_bp integer, settle_hold interval, withdraw_min_fen bigint,
    withdraw_fee_bp integer, withdraw_fee_min_fen bigint, level_demotion text,
    risk_burst_clicks integer, risk_max_conversion_bp integer, risk_min_redemptions integer
);
COMMENT ON TYPE commerce.tenant_row IS 'A row of commerce.tenant (same columns, same order), as functions take and return it.';

-- ==== sql/src/outbox/tables.sql


-- The row of commerce.outbox as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.outbox_row AS (
    tenant_id bigint, message_id bigint, topic text, dedupe_key text, payload jsonb, status text,
    attempts integer, available_at timestamp with time zone, lease_until timestamp with time zone,
    claimed_by text, last_error text, created_at timestamp with time zone,
    done_at timestamp with time zone
);
COMMENT ON TYPE commerce.outbox_row IS 'A row of commerce.outbox (same columns, same order), as functions take and return it.';

-- ==== sql/src/inventory/tables.sql


-- The row of commerce.stock_pool as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.stock_pool_row AS (
    tenant_id bigint, pool_id bigint, sku_id bigint, warehouse_id bigint, parent_pool_id bigint,
    activity text, activity_kind text, status text, hold interval, slot_count integer,
    low_stock_threshold bigint, low_stock_alerted boolean, created_at timestamp with time zone,
    closed_at timestamp with time zone
);
COMMENT ON TYPE commerce.stock_pool_row IS 'A row of commerce.stock_pool (same columns, same order), as functions take and return it.';

-- The row of commerce.orders as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.orders_row AS (
    tenant_id bigint, order_id bigint, channel_id bigint, external_order_id text, request_id text,
    customer_id bigint, buyer_ref text, receiver_name text, receiver_phone text,
    receiver_region text, receiver_city text, receiver_address text, goods_fen bigint,
    discount_fen bigint, shipping_fen bigint, payable_fen bigint, paid_fen bigint,
    refunded_fen bigint, status commerce.order_status,
    status_before_after_sale commerce.order_status, reservation_id bigint,
    pay_deadline timestamp with time zone, payment_id text, source_activity text,
    source_instance_id bigint, koc_id bigint, koc_task_id bigint,
    attributed_at timestamp with time zone, platform_status text,
    platform_modified_at timestamp with time zone, payload jsonb, oversell boolean,
    created_at timestamp with time zone, updated_at timestamp with time zone,
    paid_at timestamp with time zone, shipped_at timestamp with time zone,
    completed_at timestamp with time zone, cancelled_at timestamp with time zone,
    after_sale_at timestamp with time zone, refunded_at timestamp with time zone, click_id bigint,
    status_reason text
);
COMMENT ON TYPE commerce.orders_row IS 'A row of commerce.orders (same columns, same order), as functions take and return it.';

-- The row of commerce.shipment as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.shipment_row AS (
    tenant_id bigint, shipment_id bigint, order_id bigint, request_id text, carrier text,
    tracking_no text, weight_g bigint, shipped_at timestamp with time zone
);
COMMENT ON TYPE commerce.shipment_row IS 'A row of commerce.shipment (same columns, same order), as functions take and return it.';

-- The row of commerce.after_sale as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.after_sale_row AS (
    tenant_id bigint, after_sale_id bigint, order_id bigint, request_id text,
    kind commerce.after_sale_kind, status text, reason text, refund_fen bigint, lines jsonb,
    decision_note text, created_at timestamp with time zone, decided_at timestamp with time zone,
    completed_at timestamp with time zone
);
COMMENT ON TYPE commerce.after_sale_row IS 'A row of commerce.after_sale (same columns, same order), as functions take and return it.';

-- The row of commerce.recon_run as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.recon_run_row AS (
    tenant_id bigint, source text, bill_date date, run_at timestamp with time zone,
    our_orders integer, bill_orders integer, our_fen bigint, bill_fen bigint, our_refund bigint,
    bill_refund bigint, differences integer
);
COMMENT ON TYPE commerce.recon_run_row IS 'A row of commerce.recon_run (same columns, same order), as functions take and return it.';

-- ==== sql/src/koc/tables.sql


-- The row of commerce.koc_level as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.koc_level_row AS (
    tenant_id bigint, code text, name text, rank integer, bonus_bp integer, promotion_rule jsonb,
    vote_rights boolean, airdrop boolean, materials text[]
);
COMMENT ON TYPE commerce.koc_level_row IS 'A row of commerce.koc_level (same columns, same order), as functions take and return it.';

-- The row of commerce.koc as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.koc_row AS (
    tenant_id bigint, koc_id bigint, code text, customer_id bigint, name text, region text,
    level_code text, status text, joined_at timestamp with time zone, tags text[]
);
COMMENT ON TYPE commerce.koc_row IS 'A row of commerce.koc (same columns, same order), as functions take and return it.';

-- The row of commerce.koc_application as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.koc_application_row AS (
    tenant_id bigint, application_id bigint, request_id text, customer_id bigint,
    social_accounts jsonb, note text, status text, reviewer text, decision_reason text,
    reviewed_at timestamp with time zone, koc_id bigint, created_at timestamp with time zone
);
COMMENT ON TYPE commerce.koc_application_row IS 'A row of commerce.koc_application (same columns, same order), as functions take and return it.';

-- The row of commerce.agreement_signature as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.agreement_signature_row AS (
    tenant_id bigint, koc_id bigint, version integer, signer_name text, client_ip inet,
    text_sha256 text, signed_at timestamp with time zone
);
COMMENT ON TYPE commerce.agreement_signature_row IS 'A row of commerce.agreement_signature (same columns, same order), as functions take and return it.';

-- The row of commerce.koc_account as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.koc_account_row AS (
    tenant_id bigint, koc_id bigint, next_seq bigint, settled_seq bigint, settled_fen bigint,
    balance_fen bigint, in_flight_fen bigint, paid_fen bigint, fee_fen bigint, unsettled_fen bigint,
    last_payable_at timestamp with time zone, due_at timestamp with time zone
);
COMMENT ON TYPE commerce.koc_account_row IS 'A row of commerce.koc_account (same columns, same order), as functions take and return it.';

-- The row of commerce.withdrawal as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.withdrawal_row AS (
    tenant_id bigint, withdrawal_id bigint, request_id text, koc_id bigint, amount_fen bigint,
    fee_fen bigint, method text, payee jsonb, status text, reviewer text, reason text,
    provider_ref text, requested_at timestamp with time zone, reviewed_at timestamp with time zone,
    finished_at timestamp with time zone
);
COMMENT ON TYPE commerce.withdrawal_row IS 'A row of commerce.withdrawal (same columns, same order), as functions take and return it.';

-- The row of commerce.koc_risk_flag as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.koc_risk_flag_row AS (
    tenant_id bigint, flag_id bigint, koc_id bigint, rule text, evidence jsonb, status text,
    raised_at timestamp with time zone, reviewer text, reason text,
    decided_at timestamp with time zone
);
COMMENT ON TYPE commerce.koc_risk_flag_row IS 'A row of commerce.koc_risk_flag (same columns, same order), as functions take and return it.';

-- ==== sql/src/plays/tables.sql


-- The row of commerce.play_template as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_template_row AS (
    tenant_id bigint, code text, kind text, name text, unit_name text, rule_schema jsonb,
    created_at timestamp with time zone, updated_at timestamp with time zone
);
COMMENT ON TYPE commerce.play_template_row IS 'A row of commerce.play_template (same columns, same order), as functions take and return it.';

-- The row of commerce.play_config as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_config_row AS (
    tenant_id bigint, config_id bigint, code text, request_id text, template_code text,
    store_id bigint, sku_id bigint, title text, price_fen bigint, stock bigint, activity text,
    starts_at timestamp with time zone, ends_at timestamp with time zone, cities text[],
    new_users_only boolean, per_user_limit integer, mutex_group text, asset_type text,
    units_per_sale bigint, rules jsonb, status text, created_at timestamp with time zone,
    closed_at timestamp with time zone, user_rate_per_minute integer, ip_rate_per_minute integer
);
COMMENT ON TYPE commerce.play_config_row IS 'A row of commerce.play_config (same columns, same order), as functions take and return it.';

-- The row of commerce.play_instance as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_instance_row AS (
    tenant_id bigint, instance_id bigint, config_id bigint, leader_customer_id bigint, status text,
    current integer, target integer, deadline timestamp with time zone,
    created_at timestamp with time zone, ended_at timestamp with time zone, request_id text,
    price_fen bigint
);
COMMENT ON TYPE commerce.play_instance_row IS 'A row of commerce.play_instance (same columns, same order), as functions take and return it.';

-- The row of commerce.user_asset as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.user_asset_row AS (
    tenant_id bigint, asset_id bigint, customer_id bigint, asset_type text, unit_name text,
    total bigint, remaining bigint, source_activity text, source_instance_id bigint,
    order_id bigint, created_at timestamp with time zone, voided_at timestamp with time zone
);
COMMENT ON TYPE commerce.user_asset_row IS 'A row of commerce.user_asset (same columns, same order), as functions take and return it.';

-- The row of commerce.play_blacklist as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_blacklist_row AS (
    tenant_id bigint, kind text, value text, reason text, created_at timestamp with time zone,
    expires_at timestamp with time zone
);
COMMENT ON TYPE commerce.play_blacklist_row IS 'A row of commerce.play_blacklist (same columns, same order), as functions take and return it.';

-- The row of commerce.play_invite as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_invite_row AS (
    tenant_id bigint, invite_id bigint, config_id bigint, request_id text, inviter_id bigint,
    invitee_id bigint, status text, invited_at timestamp with time zone, order_id bigint,
    rewarded_at timestamp with time zone, reward_fen bigint, invitee_reward_fen bigint
);
COMMENT ON TYPE commerce.play_invite_row IS 'A row of commerce.play_invite (same columns, same order), as functions take and return it.';

-- The row of commerce.play_split_rule as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_split_rule_row AS (
    tenant_id bigint, template_code text, store_share_bp integer,
    updated_at timestamp with time zone
);
COMMENT ON TYPE commerce.play_split_rule_row IS 'A row of commerce.play_split_rule (same columns, same order), as functions take and return it.';

-- The row of commerce.play_settlement as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_settlement_row AS (
    tenant_id bigint, settlement_id bigint, request_id text, config_id bigint, store_id bigint,
    status text, orders integer, income_fen bigint, store_share_bp integer, store_fen bigint,
    hq_fen bigint, applied_at timestamp with time zone, decided_at timestamp with time zone,
    decided_by text, reason text, payout_attempt integer, paid_at timestamp with time zone,
    provider_ref text
);
COMMENT ON TYPE commerce.play_settlement_row IS 'A row of commerce.play_settlement (same columns, same order), as functions take and return it.';

-- ==== sql/src/plays/visibility.sql

-- sql/src/plays/visibility.sql: rule layers 1 and 2: which plays a customer
-- sees (query time) and their display state.

-- The row of commerce.play_display as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_display_row AS (
    tenant_id bigint, config_id bigint, code text, title text, kind text, unit_name text,
    store text, store_city text, price_fen bigint, msrp_fen bigint,
    starts_at timestamp with time zone, ends_at timestamp with time zone, cities text[],
    status text, available bigint, display_state text
);
COMMENT ON TYPE commerce.play_display_row IS 'A row of commerce.play_display (same columns, same order), as functions take and return it.';

-- Functions whose arguments or result are row types of relations in schema
-- commerce: the grants operators gave them are kept in a setting of this
-- transaction, and they are dropped (they are created again below).
DO $$
DECLARE r record; v_grants jsonb := '[]';
BEGIN
    FOR r IN
        SELECT p.oid, format('%I.%I', n.nspname, p.proname) AS name,
               (SELECT string_agg(format_type(t, NULL), ', ' ORDER BY o)
                  FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY x(t, o)) AS args,
               p.prokind
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('commerce', 'commerce_api')
           AND EXISTS (SELECT 1 FROM pg_class c
                        WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'v', 'p')
                          AND c.reltype = ANY (p.proargtypes::oid[] || p.prorettype))
         ORDER BY 2, 3
    LOOP
        v_grants := v_grants || coalesce((
            SELECT jsonb_agg(jsonb_build_object('name', r.name, 'args', r.args,
                                                'grantee', a.grantee::regrole::text))
              FROM pg_proc p, aclexplode(p.proacl) a
             WHERE p.oid = r.oid AND a.privilege_type = 'EXECUTE' AND a.grantee NOT IN (0, p.proowner)), '[]');
        EXECUTE format('DROP FUNCTION %s(%s)', r.name, coalesce(r.args, ''));
    END LOOP;
    PERFORM set_config('commerce_upgrade.grants', v_grants::text, true);
END $$;


-- ==== sql/src/core/tenants.sql

-- sql/src/core/tenants.sql: creating a tenant with its default channels and
-- warehouse; stores and warehouses.

-- Check that a tenant exists; raise PT404 if not.
CREATE FUNCTION commerce._tenant(p_tenant bigint)
RETURNS commerce.tenant_row LANGUAGE plpgsql STABLE AS $$
DECLARE t commerce.tenant_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    SELECT * INTO t FROM commerce.tenant WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('tenant "%s" not found', p_tenant),
            DETAIL  = 'No tenant with that id exists.',
            HINT    = 'Create it with commerce.create_tenant(code, name); look ids up with commerce.tenant_id(code).';
    END IF;
    RETURN t;
END $$;

-- Claim up to p_limit ready messages of a topic for p_worker, with a lease.
CREATE FUNCTION commerce.claim(p_topic text, p_worker text, p_limit integer DEFAULT 10,
                               p_lease interval DEFAULT '5 minutes',
                               p_tenant bigint DEFAULT NULL)
RETURNS SETOF commerce.outbox_row LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_topic, 'p_topic');
    PERFORM commerce._require(p_worker, 'p_worker');
    PERFORM commerce._require(p_limit, 'p_limit');
    PERFORM commerce._require(p_lease, 'p_lease');
    IF p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM commerce._invalid('p_limit', format('%s messages', p_limit),
                                  'Claim between 1 and 10000 messages at a time.');
    END IF;
    IF p_lease <= '0'::interval OR p_lease > '1 day'::interval THEN
        PERFORM commerce._invalid('p_lease', format('lease %s', p_lease),
                                  'A lease is positive and at most 1 day.');
    END IF;
    -- a MATERIALIZED CTE runs once: a locking subquery in UPDATE ... FROM
    -- could be rescanned and claim more rows than it returns
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT tenant_id, message_id FROM commerce.outbox
         WHERE topic = p_topic
           AND (p_tenant IS NULL OR tenant_id = p_tenant)
           AND ((status = 'pending' AND available_at <= commerce.now())
                OR (status = 'claimed' AND lease_until < commerce.now()))
         ORDER BY available_at, message_id
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED)
    UPDATE commerce.outbox o
       SET status = 'claimed', claimed_by = p_worker, attempts = o.attempts + 1,
           lease_until = commerce.now() + p_lease
      FROM c
     WHERE o.tenant_id = c.tenant_id AND o.message_id = c.message_id
    RETURNING o.*;
END $$;
COMMENT ON FUNCTION commerce.claim(text, text, integer, interval, bigint) IS 'Claim ready messages of a topic with a lease (SKIP LOCKED); expired leases are reclaimed.';

-- Lock a claimed message of p_worker for ack/fail; PT404/PT409 otherwise.
CREATE FUNCTION commerce._claimed(p_tenant bigint, p_message bigint, p_worker text)
RETURNS commerce.outbox_row LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_message, 'p_message');
    PERFORM commerce._require(p_worker, 'p_worker');
    SELECT * INTO m FROM commerce.outbox
     WHERE tenant_id = p_tenant AND message_id = p_message FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('outbox message', p_message::text, p_tenant);
    END IF;
    IF m.status <> 'claimed' OR m.claimed_by IS DISTINCT FROM p_worker THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('outbox message %s is not claimed by worker "%s"', p_message, p_worker),
            DETAIL  = format('Status %s, claimed by %s.', m.status, coalesce(m.claimed_by, 'nobody')),
            HINT    = 'The lease may have run out and another worker claimed it; claim again.';
    END IF;
    RETURN m;
END $$;

-- Report a failed delivery: retry now, in 1 minute, in 1 hour, then dead letter.
CREATE OR REPLACE FUNCTION commerce.fail(p_tenant bigint, p_message bigint, p_worker text, p_error text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row; v_status text;
BEGIN
    m := commerce._claimed(p_tenant, p_message, p_worker);
    IF m.attempts >= 4 THEN
        v_status := 'dead';
        UPDATE commerce.outbox
           SET status = 'dead', last_error = p_error, lease_until = NULL, done_at = commerce.now()
         WHERE tenant_id = p_tenant AND message_id = p_message;
        IF m.topic <> 'outbox.dead' THEN
            PERFORM commerce.enqueue(p_tenant, 'outbox.dead',
                jsonb_build_object('message_id', m.message_id, 'topic', m.topic,
                                   'attempts', m.attempts, 'error', p_error),
                'dead:' || m.message_id);
        END IF;
    ELSE
        v_status := 'pending';
        UPDATE commerce.outbox
           SET status = 'pending', last_error = p_error, lease_until = NULL, claimed_by = NULL,
               available_at = commerce.now() + CASE m.attempts WHEN 1 THEN interval '0'
                                                               WHEN 2 THEN interval '1 minute'
                                                               ELSE interval '1 hour' END
         WHERE tenant_id = p_tenant AND message_id = p_message;
    END IF;
    RETURN v_status;
END $$;

-- Put a dead letter back in the queue (after the cause was fixed).
CREATE OR REPLACE FUNCTION commerce.requeue(p_tenant bigint, p_message bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_message, 'p_message');
    SELECT * INTO m FROM commerce.outbox
     WHERE tenant_id = p_tenant AND message_id = p_message FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('outbox message', p_message::text, p_tenant);
    END IF;
    IF m.status <> 'dead' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('outbox message %s is not a dead letter', p_message),
            DETAIL  = format('Its status is %s.', m.status),
            HINT    = 'Only dead letters can be requeued; look them up with status = ''dead''.';
    END IF;
    UPDATE commerce.outbox
       SET status = 'pending', attempts = 0, available_at = commerce.now(), done_at = NULL,
           claimed_by = NULL
     WHERE tenant_id = p_tenant AND message_id = p_message;
END $$;

-- ==== sql/src/inventory/stock.sql

-- sql/src/inventory/stock.sql: receipts, adjustments, stock-takes, stock
-- policy, and the slot helpers they share.

-- The root pool of a SKU (and warehouse), created with its slots if asked.
-- Pool rows are not locked here: the global lock order is a pool's slots
-- (in slot order), then its pool row, pools in pool_id order.
CREATE FUNCTION commerce._root_pool(p_tenant bigint, p_sku text, p_warehouse text,
                                    p_create boolean)
RETURNS commerce.stock_pool_row LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row;
    v_sku bigint;
    v_wh bigint;
    p commerce.stock_pool_row;
    n integer;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_sku, 'p_sku');
    SELECT sku_id INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('SKU', p_sku, p_tenant);
    END IF;
    IF p_warehouse IS NULL THEN
        SELECT count(*) INTO n FROM commerce.stock_pool
         WHERE tenant_id = p_tenant AND sku_id = v_sku AND parent_pool_id IS NULL;
        IF n > 1 THEN
            PERFORM commerce._invalid('p_warehouse',
                format('SKU "%s" is stocked in %s warehouses.', p_sku, n),
                'Name the warehouse.');
        ELSIF n = 1 THEN
            SELECT * INTO p FROM commerce.stock_pool
             WHERE tenant_id = p_tenant AND sku_id = v_sku AND parent_pool_id IS NULL;
            RETURN p;
        END IF;
        SELECT warehouse_id INTO v_wh FROM commerce.warehouse
         WHERE tenant_id = p_tenant AND code = 'main';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('warehouse', 'main', p_tenant);
        END IF;
    ELSE
        SELECT warehouse_id INTO v_wh FROM commerce.warehouse
         WHERE tenant_id = p_tenant AND code = p_warehouse;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('warehouse', p_warehouse, p_tenant);
        END IF;
    END IF;
    SELECT * INTO p FROM commerce.stock_pool
     WHERE tenant_id = p_tenant AND sku_id = v_sku AND warehouse_id = v_wh
       AND parent_pool_id IS NULL;
    IF FOUND OR NOT p_create THEN
        IF NOT FOUND THEN
            PERFORM commerce._not_found('stock pool', p_sku || '@' || coalesce(p_warehouse, 'main'),
                                        p_tenant);
        END IF;
        RETURN p;
    END IF;
    INSERT INTO commerce.stock_pool (tenant_id, sku_id, warehouse_id, slot_count, created_at)
    VALUES (p_tenant, v_sku, v_wh, t.default_slots, commerce.now())
    ON CONFLICT DO NOTHING
    RETURNING * INTO p;
    IF p.pool_id IS NULL THEN
        SELECT * INTO p FROM commerce.stock_pool
         WHERE tenant_id = p_tenant AND sku_id = v_sku AND warehouse_id = v_wh
           AND parent_pool_id IS NULL;
    ELSE
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, p.pool_id, g FROM generate_series(0, p.slot_count - 1) g;
    END IF;
    RETURN p;
END $$;

-- Receive stock into the root pool of a SKU (creates the pool on first receipt).
CREATE OR REPLACE FUNCTION commerce.receive_stock(p_tenant bigint, p_request_id text, p_sku text,
                                       p_qty bigint, p_warehouse text DEFAULT NULL,
                                       p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row; v_seen jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_qty, 'p_qty');
    IF p_qty <= 0 OR p_qty > 1000000000 THEN
        PERFORM commerce._invalid('p_qty', format('%s units', p_qty),
                                  'Receive between 1 and 1000000000 units; use adjust_stock to correct counts.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'receive_stock', p_request_id,
        jsonb_build_object('sku', p_sku, 'qty', p_qty, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'pool_id')::bigint;
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, true);
    PERFORM commerce._slots_add(p_tenant, p.pool_id, p_qty);
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, p.pool_id, 'receive', p_qty, p_request_id, p_note, commerce.now());
    PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    PERFORM commerce._request_done(p_tenant, 'receive_stock', p_request_id,
                                   jsonb_build_object('pool_id', p.pool_id));
    RETURN p.pool_id;
END $$;

-- Adjust on_hand by a signed delta (stock-take corrections, damage, found goods).
CREATE OR REPLACE FUNCTION commerce.adjust_stock(p_tenant bigint, p_request_id text, p_sku text,
                                      p_delta bigint, p_warehouse text DEFAULT NULL,
                                      p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row; v_seen jsonb; v_on_hand bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_delta, 'p_delta');
    IF p_delta = 0 OR p_delta NOT BETWEEN -1000000000 AND 1000000000 THEN
        PERFORM commerce._invalid('p_delta', format('%s units', p_delta),
                                  'Adjust by a non-zero amount of at most 1000000000 units.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'adjust_stock', p_request_id,
        jsonb_build_object('sku', p_sku, 'delta', p_delta, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'on_hand')::bigint;
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    IF p_delta > 0 THEN
        PERFORM commerce._slots_add(p_tenant, p.pool_id, p_delta);
    ELSE
        PERFORM commerce._slots_take(p_tenant, p.pool_id, -p_delta, 'remove');
    END IF;
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, p.pool_id, 'adjust', p_delta, p_request_id, p_note, commerce.now());
    PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    SELECT sum(on_hand) INTO v_on_hand FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = p.pool_id;
    PERFORM commerce._request_done(p_tenant, 'adjust_stock', p_request_id,
                                   jsonb_build_object('on_hand', v_on_hand));
    RETURN v_on_hand;
END $$;

-- Stock-take: set on_hand to the counted figure (an adjust movement by the difference).
CREATE OR REPLACE FUNCTION commerce.stock_take(p_tenant bigint, p_request_id text, p_sku text,
                                    p_counted bigint, p_warehouse text DEFAULT NULL,
                                    p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row; v_on_hand bigint; v_seen jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_counted, 'p_counted');
    IF p_counted < 0 THEN
        PERFORM commerce._invalid('p_counted', format('%s units', p_counted),
                                  'A counted figure is 0 or more.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'stock_take', p_request_id,
        jsonb_build_object('sku', p_sku, 'counted', p_counted, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'on_hand')::bigint;
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    SELECT sum(on_hand) INTO v_on_hand FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = p.pool_id;
    IF p_counted > v_on_hand THEN
        PERFORM commerce._slots_add(p_tenant, p.pool_id, p_counted - v_on_hand);
    ELSIF p_counted < v_on_hand THEN
        PERFORM commerce._slots_take(p_tenant, p.pool_id, v_on_hand - p_counted, 'write off');
    END IF;
    IF p_counted <> v_on_hand THEN
        INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
        VALUES (p_tenant, p.pool_id, 'adjust', p_counted - v_on_hand, p_request_id,
                coalesce(p_note, 'stock-take'), commerce.now());
        PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    END IF;
    PERFORM commerce._request_done(p_tenant, 'stock_take', p_request_id,
                                   jsonb_build_object('on_hand', p_counted));
    RETURN p_counted;
END $$;

-- Set a pool's low-stock threshold and/or grow its slot count (hot SKUs).
CREATE FUNCTION commerce.set_stock_policy(p_tenant bigint, p_sku text,
                                          p_low_stock_threshold bigint DEFAULT NULL,
                                          p_slots integer DEFAULT NULL,
                                          p_warehouse text DEFAULT NULL)
RETURNS commerce.stock_pool_row LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool_row;
BEGIN
    IF p_low_stock_threshold < 0 THEN
        PERFORM commerce._invalid('p_low_stock_threshold', format('%s units', p_low_stock_threshold),
                                  'A threshold is 0 (no alert) or more.');
    END IF;
    IF p_slots IS NOT NULL AND p_slots NOT BETWEEN 1 AND 256 THEN
        PERFORM commerce._invalid('p_slots', format('%s slots', p_slots),
                                  'Use 1 to 256 slots; about 2 per concurrent buyer connection is plenty.');
    END IF;
    p := commerce._root_pool(p_tenant, p_sku, p_warehouse, true);
    IF p_slots IS NOT NULL AND p_slots < p.slot_count THEN
        PERFORM commerce._invalid('p_slots',
            format('Pool %s has %s slots; slots can be added, not removed.', p.pool_id, p.slot_count),
            'Reservations refer to their slot; pass a larger number or leave p_slots NULL.');
    END IF;
    IF p_slots > p.slot_count THEN
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, p.pool_id, g FROM generate_series(p.slot_count, p_slots - 1) g
        ON CONFLICT DO NOTHING;
    END IF;
    UPDATE commerce.stock_pool
       SET low_stock_threshold = coalesce(p_low_stock_threshold, low_stock_threshold),
           slot_count = coalesce(p_slots, slot_count)
     WHERE tenant_id = p_tenant AND pool_id = p.pool_id
    RETURNING * INTO p;
    PERFORM commerce._low_stock_rearm(p_tenant, p.pool_id);
    RETURN p;
END $$;

-- ==== sql/src/inventory/allocation.sql

-- sql/src/inventory/allocation.sql: pre-allocation of stock to activities
-- (flash sales, live rooms, plays) and its return.

-- Pre-allocate p_qty units of a SKU to an activity pool (flash sale, live room, play).
CREATE OR REPLACE FUNCTION commerce.allocate_stock(p_tenant bigint, p_request_id text, p_activity text,
                                        p_activity_kind text, p_sku text, p_qty bigint,
                                        p_warehouse text DEFAULT NULL,
                                        p_hold interval DEFAULT NULL,
                                        p_slots integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row; root commerce.stock_pool_row; child commerce.stock_pool_row; v_seen jsonb;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_activity, 'p_activity');
    PERFORM commerce._require(p_activity_kind, 'p_activity_kind');
    PERFORM commerce._require(p_qty, 'p_qty');
    IF p_activity_kind NOT IN ('flash_sale', 'live_room', 'play') THEN
        PERFORM commerce._invalid('p_activity_kind', format('"%s"', p_activity_kind),
                                  'Use flash_sale, live_room or play.');
    END IF;
    IF p_qty <= 0 OR p_qty > 1000000000 THEN
        PERFORM commerce._invalid('p_qty', format('%s units', p_qty),
                                  'Allocate between 1 and 1000000000 units.');
    END IF;
    IF p_hold <= '0'::interval OR p_hold > t.max_hold THEN
        PERFORM commerce._invalid('p_hold', format('hold %s', p_hold),
                                  format('A hold is positive and at most the tenant''s max_hold (%s).', t.max_hold));
    END IF;
    IF p_slots NOT BETWEEN 1 AND 256 THEN
        PERFORM commerce._invalid('p_slots', format('%s slots', p_slots), 'Use 1 to 256 slots.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'allocate_stock', p_request_id,
        jsonb_build_object('activity', p_activity, 'kind', p_activity_kind, 'sku', p_sku,
                           'qty', p_qty, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'pool_id')::bigint;
    END IF;
    root := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    -- lock order: root pool slots, then the activity pool's (created after the root)
    PERFORM commerce._slots_take(p_tenant, root.pool_id, p_qty, 'allocate');
    SELECT * INTO child FROM commerce.stock_pool
     WHERE tenant_id = p_tenant AND activity = p_activity AND sku_id = root.sku_id;
    IF FOUND AND (child.status <> 'open' OR child.parent_pool_id <> root.pool_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('activity "%s" already has a pool for SKU "%s" (status %s)', p_activity,
                             p_sku, child.status),
            DETAIL  = format('Pool %s, parent %s.', child.pool_id, child.parent_pool_id),
            HINT    = 'Use a new activity name; a closed activity pool is not reopened.';
    ELSIF NOT FOUND THEN
        INSERT INTO commerce.stock_pool (tenant_id, sku_id, warehouse_id, parent_pool_id, activity,
                                         activity_kind, hold, slot_count, created_at)
        VALUES (p_tenant, root.sku_id, root.warehouse_id, root.pool_id, p_activity, p_activity_kind,
                coalesce(p_hold, CASE p_activity_kind WHEN 'flash_sale' THEN t.flash_hold END),
                coalesce(p_slots, greatest(t.default_slots, 16)), commerce.now())
        ON CONFLICT DO NOTHING
        RETURNING * INTO child;
        IF child.pool_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('activity "%s" is being given stock of SKU "%s" by another call',
                                 p_activity, p_sku),
                HINT    = 'Retry: the other allocation has created the activity pool.';
        END IF;
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, child.pool_id, g FROM generate_series(0, child.slot_count - 1) g;
    END IF;
    PERFORM commerce._slots_add(p_tenant, child.pool_id, p_qty);
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, root.pool_id, 'allocate', -p_qty, p_request_id, p_activity, commerce.now()),
           (p_tenant, child.pool_id, 'allocate', p_qty, p_request_id, p_activity, commerce.now());
    PERFORM commerce._request_done(p_tenant, 'allocate_stock', p_request_id,
                                   jsonb_build_object('pool_id', child.pool_id));
    RETURN child.pool_id;
END $$;

-- Close an activity pool (if p_close) and move what is available in it back
-- to its root pool. Locks root slots, then the activity pool's slots, then
-- the activity pool row: the global lock order.
CREATE OR REPLACE FUNCTION commerce._return_to_root(p_tenant bigint, p_pool bigint, p_request_id text,
                                         p_close boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE c commerce.stock_pool_row; v_avail bigint;
BEGIN
    SELECT * INTO c FROM commerce.stock_pool WHERE tenant_id = p_tenant AND pool_id = p_pool;
    PERFORM 1 FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = c.parent_pool_id ORDER BY slot_no FOR UPDATE;
    PERFORM 1 FROM commerce.stock_slot
     WHERE tenant_id = p_tenant AND pool_id = c.pool_id ORDER BY slot_no FOR UPDATE;
    IF p_close THEN
        UPDATE commerce.stock_pool SET status = 'closed', closed_at = commerce.now()
         WHERE tenant_id = p_tenant AND pool_id = c.pool_id AND status = 'open';
    END IF;
    v_avail := commerce._pool_available(p_tenant, c.pool_id);
    IF v_avail > 0 THEN
        UPDATE commerce.stock_slot SET on_hand = reserved + sold
         WHERE tenant_id = p_tenant AND pool_id = c.pool_id AND on_hand > reserved + sold;
        PERFORM commerce._slots_add(p_tenant, c.parent_pool_id, v_avail);
        INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
        VALUES (p_tenant, c.pool_id, 'deallocate', -v_avail, p_request_id, c.activity, commerce.now()),
               (p_tenant, c.parent_pool_id, 'deallocate', v_avail, p_request_id, c.activity, commerce.now());
        PERFORM commerce._low_stock_rearm(p_tenant, c.parent_pool_id);
    END IF;
    RETURN v_avail;
END $$;

-- Lock an order of a tenant; PT404 if there is none.
CREATE FUNCTION commerce._lock_order(p_tenant bigint, p_order bigint)
RETURNS commerce.orders_row LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('order', p_order::text, p_tenant);
    END IF;
    RETURN o;
END $$;

-- ==== sql/src/orders/place_order.sql

-- sql/src/orders/place_order.sql: self-operated orders: place, pay, cancel,
-- and the unpaid-order pump.

-- The result row of an order.
CREATE FUNCTION commerce._order_result(o commerce.orders_row, p_outcome text)
RETURNS commerce.order_result LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(o.order_id, o.status::text, o.payable_fen, o.pay_deadline, p_outcome)::commerce.order_result;
$$;

-- Place a self-operated order from a JSON document: prices, stock hold, order.
CREATE OR REPLACE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row;
    ch commerce.channel;
    v_customer bigint;
    v_tier text;
    v_cart record;
    v_lines jsonb := '[]'::jsonb;
    v_goods bigint := 0;
    v_discount bigint;
    v_shipping bigint;
    v_price commerce.resolved_price;
    v_res commerce.reservation_result;
    v_receiver jsonb;
    v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_order, 'p_order');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');

    -- a repeat returns the first order
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;

    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_channel',
            format('Channel "%s" is a platform; its orders arrive through commerce.ingest_platform_order.', p_channel),
            'Place orders on a self-operated channel (wechat_mp, alipay_mp, h5).');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id, member_tier INTO v_customer, v_tier FROM commerce.customer
         WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;

    -- the document: lines, receiver, shipping and discount in fen, source activity
    IF jsonb_typeof(p_order) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'The order is not a JSON object.',
            'Send {"lines":[{"sku":"<code>","qty":<n>}], "receiver":{...}, "shipping_fen":0, "discount_fen":0}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_order) LOOP
        IF v_key NOT IN ('lines', 'receiver', 'shipping_fen', 'discount_fen', 'activity',
                         'source_instance_id') THEN
            PERFORM commerce._invalid('p_order', format('Unknown key "%s".', v_key),
                'An order has lines, receiver, shipping_fen, discount_fen, activity and source_instance_id.');
        END IF;
    END LOOP;
    IF jsonb_typeof(p_order -> 'lines') IS DISTINCT FROM 'array' THEN
        PERFORM commerce._invalid('p_order', 'lines is missing or not an array.',
                                  'Send "lines":[{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    v_shipping := commerce._fen(p_order -> 'shipping_fen', 'shipping_fen');
    v_discount := commerce._fen(p_order -> 'discount_fen', 'discount_fen');
    v_receiver := coalesce(p_order -> 'receiver', '{}');
    IF p_order ? 'source_instance_id' AND jsonb_typeof(p_order -> 'source_instance_id') <> 'null'
       AND (jsonb_typeof(p_order -> 'source_instance_id') <> 'number'
            OR (p_order ->> 'source_instance_id') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'source_instance_id is not a play instance id.',
                                  'Pass the id of the play instance as a JSON integer, or leave it out.');
    END IF;
    IF p_order ? 'activity' AND jsonb_typeof(p_order -> 'activity') NOT IN ('string', 'null') THEN
        PERFORM commerce._invalid('p_order', 'activity is not a string.', 'Pass the activity name, or leave it out.');
    END IF;
    IF jsonb_typeof(v_receiver) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'receiver is not an object.',
            'Send "receiver":{"name":...,"phone":...,"region":...,"city":...,"address":...}.');
    END IF;

    -- the lines, read by the one cart parser (commerce._cart_lines); prices for the
    -- customer's tier on this channel, now
    FOR v_cart IN SELECT * FROM commerce._cart_lines((p_order -> 'lines')::text) LOOP
        v_price := commerce.resolve_price(p_tenant, v_cart.sku, p_channel, v_tier);
        v_goods := v_goods + v_price.price_fen * v_cart.qty;
        v_lines := v_lines || jsonb_build_object('sku', v_cart.sku, 'qty', v_cart.qty,
                                                 'price', v_price.price_fen, 'source', v_price.source,
                                                 'warehouse', coalesce(v_cart.warehouse,
                                                     commerce._pick_warehouse(p_tenant, v_cart.sku, v_cart.qty)));
    END LOOP;
    IF v_discount > v_goods THEN
        PERFORM commerce._invalid('p_order',
            format('discount_fen %s exceeds the goods total %s.', v_discount, v_goods),
            'A discount cannot exceed the goods total.');
    END IF;

    -- hold the stock (all lines or none; PT409 when short)
    -- the hold's keys are derived from the order's request_id (fixed length)
    v_res := commerce.reserve(p_tenant, 'order:' || md5(p_request_id), 'order:' || md5(p_request_id),
                              jsonb_build_object('lines',
                                  (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                              'sku', l ->> 'sku', 'qty', (l ->> 'qty')::bigint,
                                              'warehouse', l ->> 'warehouse')))
                                     FROM jsonb_array_elements(v_lines) l))::text,
                              NULL, p_order ->> 'activity');

    INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, request_id, customer_id,
                                 receiver_name, receiver_phone, receiver_region, receiver_city,
                                 receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                 status, reservation_id, pay_deadline, source_activity,
                                 source_instance_id, created_at, status_reason)
    VALUES (p_tenant, ch.channel_id, p_request_id, p_request_id, v_customer,
            v_receiver ->> 'name', v_receiver ->> 'phone', v_receiver ->> 'region',
            v_receiver ->> 'city', v_receiver ->> 'address', v_goods, v_discount, v_shipping,
            v_goods - v_discount + v_shipping, 'pending_payment', v_res.reservation_id,
            v_res.expires_at, p_order ->> 'activity', (p_order ->> 'source_instance_id')::bigint,
            commerce.now(), 'placed')
    ON CONFLICT DO NOTHING
    RETURNING * INTO o;
    IF o.order_id IS NULL THEN   -- a concurrent call with this request_id made it
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        RETURN commerce._order_result(o, 'existing');
    END IF;
    INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                     price_source, amount_fen)
    SELECT p_tenant, o.order_id, n, s.sku_id, (l ->> 'qty')::bigint, (l ->> 'price')::bigint,
           l ->> 'source', (l ->> 'price')::bigint * (l ->> 'qty')::bigint
      FROM jsonb_array_elements(v_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    RETURN commerce._order_result(o, 'placed');
END $$;

-- Record a payment that cannot be accepted and ask the outside world to refund it.
CREATE FUNCTION commerce._payment_exception(o commerce.orders_row, p_payment text, p_amount bigint,
                                            p_kind text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.payment_exception (tenant_id, payment_id, order_id, amount_fen, kind, received_at)
    VALUES (o.tenant_id, p_payment, o.order_id, p_amount, p_kind, commerce.now())
    ON CONFLICT DO NOTHING;
    PERFORM commerce.enqueue(o.tenant_id, 'payment.refund',
        jsonb_build_object('payment_id', p_payment, 'order_id', o.order_id, 'amount_fen', p_amount,
                           'reason', p_kind),
        'refund:' || p_payment);
END $$;

-- Payment confirmation of a self-operated order.
CREATE OR REPLACE FUNCTION commerce.pay_order(p_tenant bigint, p_order bigint, p_payment_id text,
                                   p_amount_fen bigint)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel;
BEGIN
    PERFORM commerce._require(p_payment_id, 'p_payment_id');
    PERFORM commerce._require(p_amount_fen, 'p_amount_fen');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_order', format('Order %s is a %s platform order.', p_order, ch.code),
                                  'Platform orders are paid on the platform; ingest their payloads instead.');
    END IF;
    -- a retry of the payment that paid it
    IF o.payment_id = p_payment_id THEN
        RETURN commerce._order_result(o, 'already_paid');
    END IF;
    IF p_amount_fen <> o.payable_fen THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('payment amount %s fen does not match order %s', p_amount_fen, p_order),
            DETAIL  = format('The order is payable %s fen.', o.payable_fen),
            HINT    = 'Charge exactly the payable amount; nothing was changed.';
    END IF;
    IF o.status = 'pending_payment' AND o.pay_deadline > commerce.now() THEN
        PERFORM commerce.confirm_reservation(p_tenant, o.reservation_id, 'pay:' || p_payment_id);
        UPDATE commerce.orders SET status = 'paid', payment_id = p_payment_id, paid_fen = p_amount_fen,
               status_reason = 'paid: ' || p_payment_id
         WHERE tenant_id = p_tenant AND order_id = p_order
        RETURNING * INTO o;
        RETURN commerce._order_result(o, 'paid');
    END IF;
    IF o.status = 'pending_payment' THEN
        -- the deadline passed: the hold is gone; cancel now, refund the payment
        PERFORM commerce._cancel(o, 'unpaid at the deadline; payment ' || p_payment_id || ' arrived late');
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    END IF;
    PERFORM commerce._payment_exception(o, p_payment_id, p_amount_fen,
        CASE WHEN o.status = 'cancelled' THEN 'after_cancel' ELSE 'duplicate' END);
    RETURN commerce._order_result(o, 'refund_pending');
END $$;

-- Cancel a locked unpaid order: release its stock hold, status cancelled.
CREATE FUNCTION commerce._cancel(o commerce.orders_row, p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF o.reservation_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM commerce.reservation
         WHERE tenant_id = o.tenant_id AND reservation_id = o.reservation_id AND status = 'active') THEN
        PERFORM commerce.release_reservation(o.tenant_id, o.reservation_id, 'cancel-order:' || o.order_id);
    END IF;
    UPDATE commerce.orders SET status = 'cancelled', status_reason = p_reason
     WHERE tenant_id = o.tenant_id AND order_id = o.order_id;
END $$;

-- Cancel an unpaid order (buyer or operator).
CREATE OR REPLACE FUNCTION commerce.cancel_order(p_tenant bigint, p_order bigint, p_reason text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    o := commerce._lock_order(p_tenant, p_order);
    IF (SELECT kind FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id) <> 'self_operated' THEN
        PERFORM commerce._invalid('p_order', format('Order %s is a platform order.', p_order),
                                  'Platform orders are cancelled on the platform; ingest its payload instead.');
    END IF;
    IF o.status = 'cancelled' THEN
        RETURN commerce._order_result(o, 'already_cancelled');
    END IF;
    IF o.status <> 'pending_payment' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be cancelled: it is %s', p_order, o.status),
            DETAIL  = 'Only unpaid orders are cancelled; a paid order goes through after-sale.',
            HINT    = 'Open an after-sale request (refund) instead.';
    END IF;
    PERFORM commerce._cancel(o, coalesce(p_reason, 'cancelled'));
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    RETURN commerce._order_result(o, 'cancelled');
END $$;

-- One batch of the unpaid-order pump: cancel orders past their pay deadline.
CREATE OR REPLACE FUNCTION commerce.cancel_unpaid_orders(p_limit integer DEFAULT 1000)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; n integer := 0;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR o IN SELECT * FROM commerce.orders
              WHERE status = 'pending_payment' AND pay_deadline <= commerce.now()
              ORDER BY pay_deadline LIMIT p_limit
              FOR UPDATE SKIP LOCKED LOOP
        PERFORM commerce._cancel(o, 'unpaid at the deadline');
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Take stock for an ingested platform order (reserve and sell at once);
-- flag the order as an oversell exception when the pool cannot cover it.
CREATE FUNCTION commerce._platform_take_stock(o commerce.orders_row, p_channel text) RETURNS commerce.orders_row
LANGUAGE plpgsql AS $$
DECLARE v_res commerce.reservation_result; v_cart text;
BEGIN
    SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object('sku', s.code, 'qty', l.qty,
               'warehouse', commerce._pick_warehouse(o.tenant_id, s.code, l.qty))))::text INTO v_cart
      FROM commerce.order_line l JOIN commerce.sku s USING (tenant_id, sku_id)
     WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id;
    BEGIN
        v_res := commerce.reserve(o.tenant_id, 'platform:' || o.order_id, 'order:' || o.order_id, v_cart);
        PERFORM commerce.confirm_reservation(o.tenant_id, v_res.reservation_id, 'platform:' || o.order_id);
        UPDATE commerce.orders SET reservation_id = v_res.reservation_id, oversell = false
         WHERE tenant_id = o.tenant_id AND order_id = o.order_id RETURNING * INTO o;
    EXCEPTION WHEN SQLSTATE 'PT409' THEN
        UPDATE commerce.orders SET oversell = true
         WHERE tenant_id = o.tenant_id AND order_id = o.order_id RETURNING * INTO o;
        PERFORM commerce.enqueue(o.tenant_id, 'order.oversell',
            jsonb_build_object('order_id', o.order_id, 'channel', p_channel,
                               'external_order_id', o.external_order_id, 'lines', v_cart::jsonb),
            'oversell:' || o.order_id);
    END;
    RETURN o;
END $$;

-- Ingest one platform order payload (idempotent, newest modification wins).
CREATE OR REPLACE FUNCTION commerce.ingest_platform_order(p_tenant bigint, p_channel text, p_payload jsonb)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row;
    ch commerce.channel;
    pr commerce.platform_profile;
    o commerce.orders_row;
    v_ext text;
    v_status_word text;
    v_status commerce.order_status;
    v_modified timestamptz;
    v_goods bigint;
    v_discount bigint;
    v_shipping bigint;
    v_line jsonb;
    v_sku text;
    v_sku_id bigint;
    v_qty bigint;
    v_price bigint;
    n integer := 0;
    v_outcome text;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_payload, 'p_payload');
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    SELECT * INTO pr FROM commerce.platform_profile
     WHERE tenant_id IN (p_tenant, 0) AND channel_code = p_channel ORDER BY tenant_id DESC LIMIT 1;
    IF NOT FOUND OR ch.kind <> 'platform' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown platform "%s"', left(p_channel, 64)),
            DETAIL  = format('Channel "%s" is %s and has no payload profile.', p_channel, ch.kind),
            HINT    = 'Ingest payloads of platform channels that have a row in commerce.platform_profile.';
    END IF;
    IF jsonb_typeof(p_payload) <> 'object' THEN
        PERFORM commerce._invalid('p_payload', 'The payload is not a JSON object.',
                                  format('Send the %s order object as the platform returns it.', p_channel));
    END IF;

    v_ext := jsonb_path_query_first(p_payload, pr.order_id_path) #>> '{}';
    v_status_word := jsonb_path_query_first(p_payload, pr.status_path) #>> '{}';
    IF v_ext IS NULL OR v_status_word IS NULL THEN
        PERFORM commerce._invalid('p_payload',
            format('The %s payload has no order id (%s) or status (%s).', p_channel, pr.order_id_path, pr.status_path),
            'Send the platform''s order object unchanged.');
    END IF;
    v_status := commerce.map_platform_status(p_tenant, p_channel, v_status_word);
    v_modified := commerce._platform_time(jsonb_path_query_first(p_payload, pr.modified_path),
                                          pr.modified_format, t.time_zone);

    -- an existing order: newer payloads move it, older or equal ones change nothing
    SELECT * INTO o FROM commerce.orders
     WHERE tenant_id = p_tenant AND channel_id = ch.channel_id AND external_order_id = v_ext FOR UPDATE;
    IF NOT FOUND THEN
        v_goods := commerce._platform_fen(jsonb_path_query_first(p_payload, pr.goods_path), pr.amount_unit, 'goods');
        v_discount := commerce._platform_fen(jsonb_path_query_first(p_payload, pr.discount_path), pr.amount_unit, 'discount');
        v_shipping := commerce._platform_fen(jsonb_path_query_first(p_payload, pr.shipping_path), pr.amount_unit, 'shipping');
        IF v_discount > v_goods THEN
            PERFORM commerce._invalid('p_payload', format('Discount %s exceeds goods %s.', v_discount, v_goods),
                                      'Check the amounts and the profile''s amount_unit.');
        END IF;
        INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, buyer_ref,
                                     receiver_name, receiver_phone, receiver_region, receiver_city,
                                     receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                     paid_fen, status, platform_status, platform_modified_at, payload,
                                     created_at, status_reason)
        VALUES (p_tenant, ch.channel_id, v_ext,
                jsonb_path_query_first(p_payload, pr.buyer_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_name_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_phone_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_region_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_city_path) #>> '{}',
                jsonb_path_query_first(p_payload, pr.receiver_address_path) #>> '{}',
                v_goods, v_discount, v_shipping, v_goods - v_discount + v_shipping,
                CASE WHEN v_status NOT IN ('pending_payment', 'cancelled') THEN v_goods - v_discount + v_shipping END,
                v_status, v_status_word, v_modified, p_payload, commerce.now(), p_channel || ' ' || v_status_word)
        ON CONFLICT DO NOTHING
        RETURNING * INTO o;
        IF o.order_id IS NULL THEN
            -- another session ingested this order a moment ago: treat this as an update
            RETURN commerce.ingest_platform_order(p_tenant, p_channel, p_payload);
        END IF;
        FOR v_line IN SELECT x FROM jsonb_path_query(p_payload, pr.lines_path) x LOOP
            n := n + 1;
            v_sku := jsonb_path_query_first(v_line, pr.line_sku_path) #>> '{}';
            v_qty := commerce._platform_fen(jsonb_path_query_first(v_line, pr.line_qty_path), 'fen', 'quantity');
            v_price := commerce._platform_fen(jsonb_path_query_first(v_line, pr.line_price_path), pr.amount_unit, 'price');
            SELECT sku_id INTO v_sku_id FROM commerce.sku WHERE tenant_id = p_tenant AND code = v_sku;
            IF NOT FOUND THEN
                PERFORM commerce._not_found('SKU', coalesce(v_sku, '(none)'), p_tenant);
            END IF;
            IF v_qty < 1 THEN
                PERFORM commerce._invalid('p_payload', format('Line %s has quantity %s.', n, v_qty),
                                          'Quantities are positive integers.');
            END IF;
            INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                             price_source, amount_fen)
            VALUES (p_tenant, o.order_id, n, v_sku_id, v_qty, v_price, 'platform', v_price * v_qty);
        END LOOP;
        IF n = 0 THEN
            PERFORM commerce._invalid('p_payload', format('The %s payload has no lines at %s.', p_channel, pr.lines_path),
                                      'Send the platform''s order object unchanged.');
        END IF;
        IF v_status IN ('paid', 'shipped', 'completed', 'after_sale') THEN
            o := commerce._platform_take_stock(o, p_channel);
        END IF;
        RETURN commerce._order_result(o, CASE WHEN o.oversell THEN 'oversell' ELSE 'created' END);
    END IF;

    IF o.platform_modified_at >= v_modified THEN
        RETURN commerce._order_result(o, CASE WHEN o.platform_modified_at = v_modified
                                              THEN 'unchanged' ELSE 'older_ignored' END);
    END IF;
    v_outcome := 'updated';
    IF v_status <> o.status THEN
        -- a platform that closes a paid order refunds it: through after_sale
        IF v_status = 'refunded' AND o.status IN ('paid', 'shipped', 'completed') THEN
            UPDATE commerce.orders SET status = 'after_sale', status_reason = p_channel || ' ' || v_status_word
             WHERE tenant_id = p_tenant AND order_id = o.order_id;
        END IF;
        -- an unpaid platform order that is paid now takes its stock
        IF o.status IN ('pending_payment') AND v_status IN ('paid', 'shipped', 'completed') THEN
            UPDATE commerce.orders SET paid_fen = payable_fen
             WHERE tenant_id = p_tenant AND order_id = o.order_id RETURNING * INTO o;
            o := commerce._platform_take_stock(o, p_channel);
            IF o.oversell THEN
                v_outcome := 'oversell';
            END IF;
        END IF;
        UPDATE commerce.orders SET status = v_status, status_reason = p_channel || ' ' || v_status_word
         WHERE tenant_id = p_tenant AND order_id = o.order_id;
    END IF;
    UPDATE commerce.orders SET platform_status = v_status_word, platform_modified_at = v_modified,
                               payload = p_payload
     WHERE tenant_id = p_tenant AND order_id = o.order_id
    RETURNING * INTO o;
    RETURN commerce._order_result(o, v_outcome);
END $$;

-- Ship a paid order: route the carrier, record the parcel, queue waybill and write-back.
CREATE FUNCTION commerce.ship_order(p_tenant bigint, p_order bigint, p_request_id text,
                                    p_tracking_no text DEFAULT NULL, p_carrier text DEFAULT NULL)
RETURNS commerce.shipment_row LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel; sh commerce.shipment_row; v_weight bigint;
BEGIN
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO sh FROM commerce.shipment WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF sh.order_id <> p_order THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used to ship order %s', p_request_id, sh.order_id),
                HINT = 'Use a new request_id for a new shipment.';
        END IF;
        RETURN sh;
    END IF;
    IF o.status <> 'paid' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be shipped: it is %s', p_order, o.status),
            DETAIL  = 'Only paid orders are shipped.',
            HINT    = CASE WHEN o.oversell THEN 'This order is an oversell exception: restock or refund it first.'
                           ELSE 'Wait for the payment, or look the order up.' END;
    END IF;
    IF o.oversell THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be shipped: it is an oversell exception', p_order),
            DETAIL  = 'No stock was taken for it.',
            HINT    = 'Restock and take its stock, or refund it.';
    END IF;
    v_weight := commerce.order_weight_g(p_tenant, p_order);
    INSERT INTO commerce.shipment (tenant_id, order_id, request_id, carrier, tracking_no, weight_g, shipped_at)
    VALUES (p_tenant, p_order, p_request_id,
            coalesce(p_carrier, commerce.route_carrier(p_tenant, coalesce(o.receiver_region, ''), v_weight)),
            p_tracking_no, v_weight, commerce.now())
    RETURNING * INTO sh;
    UPDATE commerce.orders SET status = 'shipped',
           status_reason = 'shipped: ' || sh.carrier || coalesce(' ' || sh.tracking_no, '')
     WHERE tenant_id = p_tenant AND order_id = p_order;
    PERFORM commerce.enqueue(p_tenant, 'waybill.print',
        jsonb_build_object('shipment_id', sh.shipment_id, 'order_id', p_order, 'carrier', sh.carrier,
                           'tracking_no', sh.tracking_no, 'weight_g', v_weight,
                           'receiver', jsonb_build_object('name', o.receiver_name, 'phone', o.receiver_phone,
                                                          'region', o.receiver_region, 'city', o.receiver_city,
                                                          'address', o.receiver_address)),
        'waybill:' || sh.shipment_id);
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id;
    IF ch.kind = 'platform' THEN
        PERFORM commerce.enqueue(p_tenant, 'platform.writeback',
            jsonb_build_object('channel', ch.code, 'external_order_id', o.external_order_id,
                               'carrier', sh.carrier, 'tracking_no', sh.tracking_no),
            'writeback:' || sh.shipment_id);
    END IF;
    RETURN sh;
END $$;
COMMENT ON FUNCTION commerce.ship_order(bigint, bigint, text, text, text) IS
  'Ship a paid order: the carrier is routed (commerce.route_carrier) unless given; records the shipment, moves the order to shipped, queues a waybill.print job and, for platform orders, a platform.writeback of the tracking number. Idempotent by request_id.';

-- ==== sql/src/orders/after_sale.sql

-- sql/src/orders/after_sale.sql: after-sale work orders: refund only, return
-- and refund, exchange; the order_event log.

-- Lock an after-sale request of a tenant; PT404 if there is none.
CREATE FUNCTION commerce._lock_after_sale(p_tenant bigint, p_id bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_id, 'p_after_sale');
    SELECT * INTO a FROM commerce.after_sale WHERE tenant_id = p_tenant AND after_sale_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('after-sale request', p_id::text, p_tenant);
    END IF;
    RETURN a;
END $$;

-- Open an after-sale request on a paid, shipped or completed order.
CREATE FUNCTION commerce.request_after_sale(p_tenant bigint, p_request_id text, p_order bigint,
                                            p_kind text, p_refund_fen bigint DEFAULT 0,
                                            p_reason text DEFAULT NULL, p_lines jsonb DEFAULT NULL)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row; a commerce.after_sale_row; v_kind commerce.after_sale_kind; l record;
    v_lines jsonb;
    v_problem text;
BEGIN
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_refund_fen, 'p_refund_fen');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO a FROM commerce.after_sale WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF a.order_id <> p_order THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for an after-sale request of order %s',
                                 p_request_id, a.order_id),
                HINT = 'Use a new request_id for a new request.';
        END IF;
        RETURN a;
    END IF;
    IF p_kind NOT IN ('refund_only', 'return_refund', 'exchange') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Use refund_only, return_refund or exchange.');
    END IF;
    v_kind := p_kind::commerce.after_sale_kind;
    IF o.status NOT IN ('paid', 'shipped', 'completed') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot take an after-sale request: it is %s', p_order, o.status),
            DETAIL  = 'After-sale requests are for paid, shipped or completed orders, one at a time.',
            HINT    = CASE o.status WHEN 'after_sale' THEN 'Finish the open request first.'
                                    WHEN 'pending_payment' THEN 'Cancel the unpaid order instead.'
                                    ELSE 'Look the order up.' END;
    END IF;
    IF p_refund_fen < 0 OR p_refund_fen > coalesce(o.paid_fen, 0) - o.refunded_fen
       OR (v_kind = 'exchange' AND p_refund_fen <> 0) OR (v_kind <> 'exchange' AND p_refund_fen = 0) THEN
        PERFORM commerce._invalid('p_refund_fen',
            format('Refund %s fen; the order has %s fen paid and not refunded.', p_refund_fen,
                   coalesce(o.paid_fen, 0) - o.refunded_fen),
            'A refund is more than 0 and at most what was paid and not yet refunded; an exchange refunds nothing.');
    END IF;
    IF v_kind <> 'refund_only' AND (p_lines IS NULL OR jsonb_typeof(p_lines) <> 'array'
                                    OR jsonb_array_length(p_lines) = 0) THEN
        PERFORM commerce._invalid('p_lines', 'Returns and exchanges name the goods.',
                                  'Pass [{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    IF p_lines IS NOT NULL THEN
        IF jsonb_typeof(p_lines) <> 'array' THEN
            PERFORM commerce._invalid('p_lines', format('%s is not a list of {"sku","qty"} lines.', p_lines),
                                      'Pass [{"sku":"<code>","qty":<n>}, ...] with whole quantities.');
        END IF;
        -- the goods, read by the one cart parser (commerce._cart_lines), summed per SKU;
        -- a refund only may name none ([])
        IF jsonb_array_length(p_lines) > 0 THEN
            BEGIN
                SELECT jsonb_agg(jsonb_build_object('sku', sku, 'qty', qty) ORDER BY sku) INTO v_lines
                  FROM (SELECT c.sku, sum(c.qty)::bigint AS qty FROM commerce._cart_lines(p_lines::text) c
                         GROUP BY 1) y;
            EXCEPTION WHEN invalid_parameter_value THEN
                GET STACKED DIAGNOSTICS v_problem = MESSAGE_TEXT;
                PERFORM commerce._invalid('p_lines',
                    format('%s is not a list of {"sku","qty"} lines (%s).', p_lines, v_problem),
                    'Pass [{"sku":"<code>","qty":<n>}, ...] with whole quantities.');
            END;
        END IF;
        -- per SKU: at most what was bought and not returned by earlier requests
        FOR l IN
            WITH asked AS (SELECT x ->> 'sku' AS sku, (x ->> 'qty')::bigint AS qty
                             FROM jsonb_array_elements(v_lines) x),
            bought AS (SELECT s.code AS sku, sum(ol.qty) AS qty
                         FROM commerce.order_line ol JOIN commerce.sku s USING (tenant_id, sku_id)
                        WHERE ol.tenant_id = p_tenant AND ol.order_id = p_order GROUP BY 1),
            returned AS (SELECT x ->> 'sku' AS sku, sum((x ->> 'qty')::bigint) AS qty
                           FROM commerce.after_sale r, jsonb_array_elements(r.lines) x
                          WHERE r.tenant_id = p_tenant AND r.order_id = p_order AND r.kind = 'return_refund'
                            AND r.status IN ('goods_returned', 'refunded') GROUP BY 1)
            SELECT a2.sku, a2.qty, coalesce(b.qty, 0) - coalesce(r.qty, 0) AS returnable
              FROM asked a2 LEFT JOIN bought b USING (sku) LEFT JOIN returned r USING (sku)
             WHERE a2.qty > coalesce(b.qty, 0) - coalesce(r.qty, 0) LOOP
            PERFORM commerce._invalid('p_lines',
                format('%s units of SKU "%s" asked; order %s has %s that can still come back.',
                       l.qty, l.sku, p_order, l.returnable),
                'Name SKUs of the order with at most what was bought and not returned yet.');
        END LOOP;
    END IF;
    INSERT INTO commerce.after_sale (tenant_id, order_id, request_id, kind, reason, refund_fen, lines, created_at)
    VALUES (p_tenant, p_order, p_request_id, v_kind, p_reason, p_refund_fen, coalesce(v_lines, '[]'),
            commerce.now())
    RETURNING * INTO a;
    UPDATE commerce.orders SET status = 'after_sale', status_reason = 'after-sale ' || a.after_sale_id || ': ' || p_kind
     WHERE tenant_id = p_tenant AND order_id = p_order;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.request_after_sale(bigint, text, bigint, text, bigint, text, jsonb) IS
  'Open an after-sale request (refund_only, return_refund, exchange) on a paid, shipped or completed order; the order becomes after_sale. Idempotent by request_id.';

-- Ask the payment gateway (self-operated orders) to refund an approved request.
CREATE FUNCTION commerce._request_refund(a commerce.after_sale_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel;
BEGIN
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = a.tenant_id AND order_id = a.order_id;
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = a.tenant_id AND channel_id = o.channel_id;
    IF ch.kind = 'self_operated' THEN
        PERFORM commerce.enqueue(a.tenant_id, 'payment.refund',
            jsonb_build_object('payment_id', o.payment_id, 'order_id', o.order_id,
                               'amount_fen', a.refund_fen, 'reason', 'after_sale',
                               'after_sale_id', a.after_sale_id),
            'after-sale-refund:' || a.after_sale_id);
    END IF;
END $$;

-- Approve or reject an after-sale request.
CREATE FUNCTION commerce.decide_after_sale(p_tenant bigint, p_after_sale bigint, p_approve boolean,
                                           p_note text DEFAULT NULL)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; v_target text;
BEGIN
    PERFORM commerce._require(p_approve, 'p_approve');
    v_target := CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END;
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = v_target THEN
        RETURN a;
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale
       SET status = v_target,
           decision_note = p_note, decided_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale
    RETURNING * INTO a;
    IF NOT p_approve THEN
        UPDATE commerce.orders SET status = o.status_before_after_sale,
               status_reason = 'after-sale ' || p_after_sale || ' rejected'
         WHERE tenant_id = p_tenant AND order_id = a.order_id;
    ELSIF a.kind = 'refund_only' THEN
        PERFORM commerce._request_refund(a);
    END IF;
    RETURN a;
END $$;

-- The goods of a return or exchange came back: they are sellable again.
CREATE FUNCTION commerce.receive_returned_goods(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; l jsonb;
BEGIN
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = 'goods_returned' THEN
        RETURN a;
    END IF;
    IF a.kind = 'refund_only' THEN
        PERFORM commerce._invalid('p_after_sale', format('Request %s is a refund without goods.', p_after_sale),
                                  'Only returns and exchanges receive goods.');
    END IF;
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = a.order_id;
    UPDATE commerce.after_sale SET status = 'goods_returned'
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale RETURNING * INTO a;
    IF o.reservation_id IS NOT NULL THEN
        FOR l IN SELECT value FROM jsonb_array_elements(a.lines) LOOP
            PERFORM commerce.return_stock(p_tenant, 'after-sale:' || p_after_sale || ':' || (l ->> 'sku'),
                                          o.reservation_id, l ->> 'sku', (l ->> 'qty')::bigint);
        END LOOP;
    END IF;
    IF a.kind = 'return_refund' THEN
        PERFORM commerce._request_refund(a);
    END IF;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.receive_returned_goods(bigint, bigint) IS
  'Goods of an approved return or exchange arrived back: they return to the stock pool (commerce.return_stock); a return then asks for the refund.';

-- The refund of an after-sale request was paid out (by the gateway or the platform).
CREATE FUNCTION commerce.complete_refund(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row;
BEGIN
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = 'refunded' THEN
        RETURN a;
    END IF;
    IF a.kind = 'exchange' THEN
        PERFORM commerce._invalid('p_after_sale', format('Request %s is an exchange.', p_after_sale),
                                  'Finish exchanges with commerce.complete_exchange.');
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale SET status = 'refunded', completed_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale RETURNING * INTO a;
    UPDATE commerce.orders SET refunded_fen = refunded_fen + a.refund_fen
     WHERE tenant_id = p_tenant AND order_id = a.order_id RETURNING * INTO o;
    UPDATE commerce.orders
       SET status = CASE WHEN o.refunded_fen >= o.paid_fen THEN 'refunded'::commerce.order_status
                         ELSE o.status_before_after_sale END,
           status_reason = 'after-sale ' || p_after_sale || ' refunded ' || a.refund_fen || ' fen'
     WHERE tenant_id = p_tenant AND order_id = a.order_id;
    INSERT INTO commerce.order_event (tenant_id, order_id, kind, source_key, amount_fen, lines, created_at)
    VALUES (p_tenant, a.order_id, 'refund', 'after_sale:' || p_after_sale, a.refund_fen, a.lines, commerce.now())
    ON CONFLICT DO NOTHING;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.complete_refund(bigint, bigint) IS
  'Record that the refund was paid: the order''s refunded_fen grows, the order becomes refunded (fully refunded) or goes back to its status (partly), and a refund event is written for the commission module.';

-- An exchange is complete: the replacement goods take stock and the order goes back.
CREATE FUNCTION commerce.complete_exchange(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; v_res commerce.reservation_result;
BEGIN
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = 'exchanged' THEN
        RETURN a;
    END IF;
    IF a.kind <> 'exchange' THEN
        PERFORM commerce._invalid('p_after_sale', format('Request %s is not an exchange.', p_after_sale),
                                  'Finish refunds with commerce.complete_refund.');
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale SET status = 'exchanged', completed_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale RETURNING * INTO a;
    v_res := commerce.reserve(p_tenant, 'exchange:' || p_after_sale, 'exchange:' || p_after_sale, a.lines::text);
    PERFORM commerce.confirm_reservation(p_tenant, v_res.reservation_id, 'exchange:' || p_after_sale);
    UPDATE commerce.orders SET status = o.status_before_after_sale,
           status_reason = 'after-sale ' || p_after_sale || ' exchanged'
     WHERE tenant_id = p_tenant AND order_id = a.order_id;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.complete_exchange(bigint, bigint) IS
  'Finish an exchange whose goods came back: the replacement units are taken from the pool (PT409 when there are none) and the order returns to its status.';

-- ==== sql/src/orders/reconciliation.sql

-- sql/src/orders/reconciliation.sql: bill import and reconciliation
-- differences.

-- Import a day's bill (replacing an earlier import) and reconcile it against our orders.
CREATE FUNCTION commerce.reconcile_bill(p_tenant bigint, p_source text, p_date date, p_lines jsonb)
RETURNS commerce.recon_run_row LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row; v_channel bigint; r commerce.recon_run_row; l jsonb; n integer := 0;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._require(p_date, 'p_date');
    PERFORM commerce._require(p_lines, 'p_lines');
    SELECT channel_id INTO v_channel FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_source;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_source, p_tenant);
    END IF;
    IF jsonb_typeof(p_lines) <> 'array' THEN
        PERFORM commerce._invalid('p_lines', 'The bill is not a JSON array.',
            'Pass [{"order_id":"<platform or merchant order id>","amount_fen":<n>,"refund_fen":<n>}, ...].');
    END IF;
    -- serialize runs of one source and day; a re-run replaces
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.recon:' || p_tenant || ':' || p_source || ':' || p_date, 0));
    DELETE FROM commerce.bill_line WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date;
    DELETE FROM commerce.recon_difference WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date;
    FOR l IN SELECT value FROM jsonb_array_elements(p_lines) LOOP
        n := n + 1;
        IF jsonb_typeof(l) <> 'object' OR l ->> 'order_id' IS NULL THEN
            PERFORM commerce._invalid('p_lines', format('Line %s has no order_id.', n), 'Every bill line names an order.');
        END IF;
        INSERT INTO commerce.bill_line (tenant_id, source, bill_date, line_no, external_order_id, amount_fen, refund_fen)
        VALUES (p_tenant, p_source, p_date, n, l ->> 'order_id',
                commerce._fen(l -> 'amount_fen', format('line %s amount_fen', n)),
                commerce._fen(l -> 'refund_fen', format('line %s refund_fen', n)));
    END LOOP;

    WITH ours AS (
        SELECT external_order_id, coalesce(paid_fen, 0) AS amount, refunded_fen AS refund
          FROM commerce.orders
         WHERE tenant_id = p_tenant AND channel_id = v_channel AND paid_at IS NOT NULL
           AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
    bill AS (
        SELECT external_order_id, sum(amount_fen) AS amount, sum(refund_fen) AS refund
          FROM commerce.bill_line
         WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date
         GROUP BY external_order_id),
    diff AS (
        SELECT coalesce(o.external_order_id, b.external_order_id) AS id,
               CASE WHEN b.external_order_id IS NULL THEN 'missing_in_bill'
                    WHEN o.external_order_id IS NULL THEN 'missing_in_orders'
                    WHEN o.amount <> b.amount THEN 'amount_mismatch' END AS kind,
               o.amount AS ours, b.amount AS theirs
          FROM ours o FULL JOIN bill b USING (external_order_id)
        UNION ALL
        SELECT o.external_order_id, 'refund_mismatch', o.refund, b.refund
          FROM ours o JOIN bill b USING (external_order_id)
         WHERE o.refund <> b.refund)
    INSERT INTO commerce.recon_difference (tenant_id, source, bill_date, external_order_id, kind, our_fen, bill_fen)
    SELECT p_tenant, p_source, p_date, id, kind, ours, theirs FROM diff WHERE kind IS NOT NULL;

    INSERT INTO commerce.recon_run
    SELECT p_tenant, p_source, p_date, commerce.now(),
           (SELECT count(*) FROM commerce.orders WHERE tenant_id = p_tenant AND channel_id = v_channel
               AND paid_at IS NOT NULL AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT count(DISTINCT external_order_id) FROM commerce.bill_line
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date),
           (SELECT coalesce(sum(paid_fen), 0) FROM commerce.orders WHERE tenant_id = p_tenant AND channel_id = v_channel
               AND paid_at IS NOT NULL AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT coalesce(sum(amount_fen), 0) FROM commerce.bill_line
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date),
           (SELECT coalesce(sum(refunded_fen), 0) FROM commerce.orders WHERE tenant_id = p_tenant AND channel_id = v_channel
               AND paid_at IS NOT NULL AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT coalesce(sum(refund_fen), 0) FROM commerce.bill_line
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date),
           (SELECT count(*) FROM commerce.recon_difference
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date)
    ON CONFLICT (tenant_id, source, bill_date) DO UPDATE
       SET run_at = EXCLUDED.run_at, our_orders = EXCLUDED.our_orders, bill_orders = EXCLUDED.bill_orders,
           our_fen = EXCLUDED.our_fen, bill_fen = EXCLUDED.bill_fen, our_refund = EXCLUDED.our_refund,
           bill_refund = EXCLUDED.bill_refund, differences = EXCLUDED.differences
    RETURNING * INTO r;
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.reconcile_bill(bigint, text, date, jsonb) IS
  'Import a day''s bill of a platform or payment provider ([{"order_id","amount_fen","refund_fen"}]) and compare it with the orders of that channel paid that day (tenant time zone): counts, amounts, refunds. Differences are stored by kind; a re-run for the same source and day replaces, never duplicates.';

-- The receiver of an order as the caller may see it.
CREATE OR REPLACE FUNCTION commerce.order_contact(p_tenant bigint, p_order bigint)
RETURNS TABLE (receiver_name text, receiver_phone text, receiver_region text, receiver_city text,
               receiver_address text, masked boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE o commerce.orders_row; v_full boolean := commerce.may_see_pii();
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('order', p_order::text, p_tenant);
    END IF;
    RETURN QUERY SELECT
        CASE WHEN v_full THEN o.receiver_name ELSE left(o.receiver_name, 1) || '**' END,
        CASE WHEN v_full THEN o.receiver_phone ELSE commerce.mask_phone(o.receiver_phone) END,
        o.receiver_region, o.receiver_city,
        CASE WHEN v_full THEN o.receiver_address ELSE commerce.mask_address(o.receiver_address) END,
        NOT v_full;
END $$;

-- ==== sql/src/orders/complete.sql

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

-- Apply to become a KOC.
CREATE FUNCTION commerce.apply_koc(p_tenant bigint, p_request_id text, p_customer text,
                                   p_social_accounts jsonb, p_note text DEFAULT NULL)
RETURNS commerce.koc_application_row LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_application_row; v_customer bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_social_accounts, 'p_social_accounts');
    -- one customer's applications are made one at a time
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO a FROM commerce.koc_application WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF a.customer_id <> v_customer THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another application', p_request_id),
                HINT = 'Use a new request_id for a new application.';
        END IF;
        RETURN a;
    END IF;
    IF jsonb_typeof(p_social_accounts) <> 'array' OR jsonb_array_length(p_social_accounts) = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_social_accounts) x
                   WHERE jsonb_typeof(x) <> 'object'
                      OR x ->> 'platform' IS NULL
                      OR x ->> 'platform' NOT IN ('wechat', 'douyin', 'xiaohongshu', 'bilibili', 'weibo',
                                                  'kuaishou', 'taobao')
                      OR coalesce(length(x ->> 'handle'), 0) NOT BETWEEN 1 AND 100
                      OR (x ? 'followers' AND (jsonb_typeof(x -> 'followers') <> 'number'
                                               OR (x ->> 'followers')::numeric < 0))) THEN
        PERFORM commerce._invalid('p_social_accounts', format('%s', p_social_accounts),
            'Pass [{"platform":"wechat|douyin|xiaohongshu|bilibili|weibo|kuaishou|taobao","handle":"...","followers":<n>}, ...].');
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.koc WHERE tenant_id = p_tenant AND customer_id = v_customer) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already a KOC', p_customer),
            HINT = 'Look the KOC up instead of applying again.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.koc_application
                WHERE tenant_id = p_tenant AND customer_id = v_customer AND status = 'submitted') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has an application under review', p_customer),
            HINT = 'Wait for the review of the open application.';
    END IF;
    INSERT INTO commerce.koc_application (tenant_id, request_id, customer_id, social_accounts, note, created_at)
    VALUES (p_tenant, p_request_id, v_customer, p_social_accounts, p_note, commerce.now())
    RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.apply_koc(bigint, text, text, jsonb, text) IS
  'A customer applies to become a KOC with their social accounts (K03). Idempotent by request_id.';

-- Approve (creating the KOC at the lowest level) or reject (with a reason) an application.
CREATE FUNCTION commerce.review_koc_application(p_tenant bigint, p_application bigint, p_approve boolean,
                                                p_reviewer text, p_reason text DEFAULT NULL,
                                                p_koc_code text DEFAULT NULL)
RETURNS commerce.koc_application_row LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_application_row; c commerce.customer; v_koc bigint; v_target text;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_application, 'p_application');
    PERFORM commerce._require(p_approve, 'p_approve');
    PERFORM commerce._require(p_reviewer, 'p_reviewer');
    SELECT * INTO a FROM commerce.koc_application
     WHERE tenant_id = p_tenant AND application_id = p_application FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC application', p_application::text, p_tenant);
    END IF;
    v_target := CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END;
    IF a.status = v_target THEN
        RETURN a;
    END IF;
    IF NOT p_approve AND coalesce(length(trim(p_reason)), 0) = 0 THEN
        PERFORM commerce._invalid('p_reason', 'A rejection gives a reason.', 'Tell the applicant why.');
    END IF;
    IF p_approve THEN
        SELECT * INTO c FROM commerce.customer WHERE tenant_id = p_tenant AND customer_id = a.customer_id;
        v_koc := commerce.upsert_koc(p_tenant, coalesce(p_koc_code, 'KOC-' || a.application_id), c.code,
                                     coalesce(c.name, c.code));
    END IF;
    UPDATE commerce.koc_application
       SET status = v_target, reviewer = p_reviewer,
           decision_reason = p_reason, reviewed_at = commerce.now(), koc_id = v_koc
     WHERE tenant_id = p_tenant AND application_id = p_application
    RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.review_koc_application(bigint, bigint, boolean, text, text, text) IS
  'A reviewer approves an application (the KOC is created at the lowest level, code KOC-<application> unless given) or rejects it with a reason. Deciding the same way again is a no-op; the other way is refused (PT409).';

-- A KOC signs an agreement version: the hash of the text they were shown must be that version's.
CREATE FUNCTION commerce.sign_agreement(p_tenant bigint, p_koc text, p_version integer,
                                        p_text_sha256 text, p_signer_name text, p_client_ip inet DEFAULT NULL)
RETURNS commerce.agreement_signature_row LANGUAGE plpgsql AS $$
DECLARE k commerce.koc_row; ag commerce.agreement; sg commerce.agreement_signature_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_version, 'p_version');
    PERFORM commerce._require(p_text_sha256, 'p_text_sha256');
    PERFORM commerce._require(p_signer_name, 'p_signer_name');
    SELECT * INTO k FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    SELECT * INTO ag FROM commerce.agreement WHERE tenant_id = p_tenant AND version = p_version;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('agreement version', p_version::text, p_tenant);
    END IF;
    IF p_version <> (SELECT max(version) FROM commerce.agreement WHERE tenant_id = p_tenant) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('agreement version %s is not the current one', p_version),
            HINT = 'Show and sign the current version.';
    END IF;
    IF lower(p_text_sha256) <> ag.body_sha256 THEN
        PERFORM commerce._invalid('p_text_sha256',
            format('The text signed hashes to %s, version %s to %s.', p_text_sha256, p_version, ag.body_sha256),
            'Show the exact text of the version and send its SHA-256.');
    END IF;
    INSERT INTO commerce.agreement_signature (tenant_id, koc_id, version, signer_name, client_ip, text_sha256, signed_at)
    VALUES (p_tenant, k.koc_id, p_version, p_signer_name, p_client_ip, ag.body_sha256, commerce.now())
    ON CONFLICT DO NOTHING;
    SELECT * INTO sg FROM commerce.agreement_signature
     WHERE tenant_id = p_tenant AND koc_id = k.koc_id AND version = p_version;
    RETURN sg;
END $$;
COMMENT ON FUNCTION commerce.sign_agreement(bigint, text, integer, text, text, inet) IS
  'Record that a KOC signed the current agreement version (signer, time, IP, the SHA-256 of the exact text shown). Signing again is a no-op.';

-- ==== sql/src/koc/settings.sql

-- sql/src/koc/settings.sql: the tenant's KOC settings (rates, T+0.5 hold,
-- withdrawal terms, demotion rule).

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
RETURNS commerce.tenant_row LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_koc_rate_bp IS NOT NULL AND p_koc_rate_bp NOT BETWEEN 0 AND commerce._limit('bp_scale') THEN
        PERFORM commerce._invalid('p_koc_rate_bp', format('%s bp', p_koc_rate_bp), 'A rate is 0 to 10000 basis points.');
    END IF;
    IF p_settle_hold IS NOT NULL AND (p_settle_hold < '0'::interval OR p_settle_hold > '90 days'::interval) THEN
        PERFORM commerce._invalid('p_settle_hold', format('%s', p_settle_hold), 'A hold is 0 to 90 days (T+0.5 = 12 hours).');
    END IF;
    IF p_withdraw_min_fen IS NOT NULL AND p_withdraw_min_fen <= 0 THEN
        PERFORM commerce._invalid('p_withdraw_min_fen', format('%s fen', p_withdraw_min_fen), 'The minimum withdrawal is a positive amount in fen.');
    END IF;
    IF p_withdraw_fee_bp IS NOT NULL AND p_withdraw_fee_bp NOT BETWEEN 0 AND commerce._limit('bp_scale') THEN
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

-- Lock a KOC's account (creating it); the row orders every movement of its money.
CREATE FUNCTION commerce._lock_koc_account(p_tenant bigint, p_koc bigint)
RETURNS commerce.koc_account_row LANGUAGE plpgsql AS $$
DECLARE a commerce.koc_account_row;
BEGIN
    INSERT INTO commerce.koc_account (tenant_id, koc_id) VALUES (p_tenant, p_koc) ON CONFLICT DO NOTHING;
    SELECT * INTO a FROM commerce.koc_account WHERE tenant_id = p_tenant AND koc_id = p_koc FOR UPDATE;
    RETURN a;
END $$;

-- The result of a payout (a settlement batch or a withdrawal) from the payment provider.
CREATE OR REPLACE FUNCTION commerce.record_payout(p_tenant bigint, p_payout_ref text, p_status text,
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

-- ==== sql/src/koc/reports.sql

-- sql/src/koc/reports.sql: KOC stats (K13), task progress and analysis (K11,
-- K21), leaderboard (K18), overview (K19), list and CSV export (K20).

-- The [lo, hi) instants of a tenant-local date range; 22023 for a bad range.
CREATE OR REPLACE FUNCTION commerce._local_range(p_tenant bigint, p_from date, p_to date, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE t commerce.tenant_row;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_from > p_to OR p_to - p_from > 366 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to),
                                  'Give a range of 1 to 367 days, the first date not after the last.');
    END IF;
    lo := p_from::timestamp AT TIME ZONE t.time_zone;
    hi := (p_to + 1)::timestamp AT TIME ZONE t.time_zone;
END $$;

-- K13: a KOC's figures for a tenant-local date range, in the PRD's shape.
CREATE OR REPLACE FUNCTION commerce.koc_stats(p_tenant bigint, p_koc text, p_from date, p_to date)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE r record; k commerce.koc_row; v_clicks bigint; v_red bigint; v_gmv bigint; v_com bigint;
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

-- K11: a KOC's progress on a task.
CREATE OR REPLACE FUNCTION commerce.koc_task_progress(p_tenant bigint, p_koc text, p_task text)
RETURNS TABLE (koc text, task text, clicks bigint, visitors bigint, new_customers bigint,
               pending_redemptions bigint, done_redemptions bigint, goal integer, goal_reached boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc_row; t commerce.koc_task;
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

-- K19: the programme at a glance, with a daily trend.
CREATE OR REPLACE FUNCTION commerce.koc_overview(p_tenant bigint, p_from date, p_to date)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE r record; t commerce.tenant_row; v jsonb; v_trend jsonb;
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

-- ==== sql/src/koc/risk.sql

-- sql/src/koc/risk.sql: risk control (K22): rules that flag abnormal
-- promotion, the review of a flag, KOC status changes.

-- Change a KOC's status (active, frozen, suspended), audited.
CREATE FUNCTION commerce.set_koc_status(p_tenant bigint, p_koc text, p_status text, p_actor text, p_reason text)
RETURNS commerce.koc_row LANGUAGE plpgsql AS $$
DECLARE k commerce.koc_row;
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
        RAISE EXCEPTION USING ERRCODE = 'PT409',
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
  'Freeze, suspend or reactivate a KOC by hand, with the actor and reason audited. A KOC with open risk flags cannot be reactivated (PT409): review the flags.';

-- Run the risk rules (for every tenant, or one) at the commerce clock; returns the new flags.
CREATE OR REPLACE FUNCTION commerce.run_risk_rules(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (tenant_id bigint, koc text, rule text, flag_id bigint)
LANGUAGE plpgsql AS $$
DECLARE t record; f record; v_now timestamptz := commerce.now(); v_id bigint; k commerce.koc_row;
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

-- A reviewer clears (false alarm) or confirms (fraud) a risk flag.
CREATE FUNCTION commerce.review_risk_flag(p_tenant bigint, p_flag bigint, p_confirm boolean, p_reviewer text,
                                          p_reason text)
RETURNS commerce.koc_risk_flag_row LANGUAGE plpgsql AS $$
DECLARE f commerce.koc_risk_flag_row; k commerce.koc_row; a commerce.koc_account_row; v_target text; o record;
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
  'K22: a reviewer clears a flag (when no other flag is open the KOC is active again and its held commission is settled) or confirms it (the KOC is suspended and the commission of its orders not settled yet voided by a reversing line per order), with a reason; both audited and sent to the outbox. The same decision again is a no-op; the other one is refused (PT409).';

-- ==== sql/src/koc/benefits.sql

-- sql/src/koc/benefits.sql: level benefits (K06) and KOC tags.

-- Set the benefits of a level; NULL leaves one unchanged.
CREATE FUNCTION commerce.set_level_benefits(p_tenant bigint, p_level text, p_bonus_bp integer DEFAULT NULL,
                                            p_vote_rights boolean DEFAULT NULL, p_airdrop boolean DEFAULT NULL,
                                            p_materials text[] DEFAULT NULL)
RETURNS commerce.koc_level_row LANGUAGE plpgsql AS $$
DECLARE lv commerce.koc_level_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_level, 'p_level');
    PERFORM commerce.ensure_koc_levels(p_tenant);
    IF p_bonus_bp IS NOT NULL AND p_bonus_bp NOT BETWEEN 0 AND commerce._limit('bp_scale') THEN
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
  'K06: set a level''s benefits (commission bonus in bp, vote rights, airdrops, exclusive materials); they apply at once to every KOC of the level (the next redemption earns the new bonus).';

-- A KOC's benefits now: those of its level, and the exclusive materials of its level and below.
CREATE OR REPLACE FUNCTION commerce.koc_benefits(p_tenant bigint, p_koc text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc_row; lv commerce.koc_level_row; v_materials text[];
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

-- The tasks a KOC can share now (its workbench).
CREATE OR REPLACE FUNCTION commerce.koc_open_tasks(p_tenant bigint, p_koc text)
RETURNS TABLE (task text, title text, starts_at timestamptz, ends_at timestamptz, rate_bp integer,
               level_bonus_bp integer, bounty_fen bigint, goal integer, materials text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE k commerce.koc_row;
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

CREATE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS commerce.withdrawal_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.request_withdrawal(commerce.current_tenant(), request_id, koc, amount_fen, method, payee);
$$;
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;

-- Create or update a template; a new schema must still accept every config built on the template.
CREATE FUNCTION commerce.upsert_play_template(p_tenant bigint, p_code text, p_kind text, p_name text,
                                              p_unit_name text, p_rule_schema text)
RETURNS commerce.play_template_row LANGUAGE plpgsql AS $$
DECLARE v_schema jsonb; tp commerce.play_template_row; c record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_unit_name, 'p_unit_name');
    PERFORM commerce._require(p_rule_schema, 'p_rule_schema');
    IF p_code !~ '^[A-Z][A-Z0-9_]{1,39}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', p_code), 'A template code is upper case: GROUP_BUY, DANCE_GROUP_3, ...');
    END IF;
    IF p_kind NOT IN ('group_buy', 'flash_sale', 'bargain', 'invite_reward') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Kinds: group_buy, flash_sale, bargain, invite_reward.');
    END IF;
    IF length(p_unit_name) NOT BETWEEN 1 AND 20 THEN
        PERFORM commerce._invalid('p_unit_name', format('"%s"', p_unit_name), 'A unit name is 1 to 20 characters: lessons, hours, bags.');
    END IF;
    v_schema := commerce.check_play_schema(p_rule_schema);
    -- one writer of a template at a time, and its configs must fit the new schema
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.play_template:' || p_tenant || ':' || p_code, 0));
    FOR c IN SELECT code, rules FROM commerce.play_config
              WHERE tenant_id = p_tenant AND template_code = p_code ORDER BY code LOOP
        BEGIN
            PERFORM commerce.apply_play_schema(v_schema::text, c.rules::text);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('template %s: the new schema does not accept config "%s"', p_code, c.code),
                DETAIL  = SQLERRM,
                HINT    = 'Keep the schema compatible with the configs built on it, or create a new template.';
        END;
    END LOOP;
    IF EXISTS (SELECT 1 FROM commerce.play_template WHERE tenant_id = p_tenant AND code = p_code AND kind <> p_kind) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('template %s is of another kind', p_code),
            HINT    = 'The kind of a template never changes; create a new template.';
    END IF;
    INSERT INTO commerce.play_template (tenant_id, code, kind, name, unit_name, rule_schema, created_at, updated_at)
    VALUES (p_tenant, p_code, p_kind, p_name, p_unit_name, v_schema, commerce.now(), commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, unit_name = EXCLUDED.unit_name, rule_schema = EXCLUDED.rule_schema,
           updated_at = EXCLUDED.updated_at
    RETURNING * INTO tp;
    RETURN tp;
END $$;
COMMENT ON FUNCTION commerce.upsert_play_template(bigint, text, text, text, text, text) IS
  'HQ creates or updates a play template: code, kind (group_buy, flash_sale, bargain, invite_reward), name, unit name and rule schema (checked, 22023 naming the bad keyword). A new schema must accept the rules of every config built on the template (PT409 otherwise); the kind never changes.';

-- ==== sql/src/plays/configs.sql

-- sql/src/plays/configs.sql: store play configs: rules checked against the
-- template, stock pre-allocated, kind-specific terms.

-- A store configures a play.
CREATE FUNCTION commerce.configure_play(p_tenant bigint, p_request_id text, p_code text, p_template text,
                                        p_store text, p_sku text, p_title text, p_price_fen bigint,
                                        p_stock bigint, p_starts_at timestamptz, p_ends_at timestamptz,
                                        p_rules text DEFAULT '{}',
                                        p_cities text[] DEFAULT NULL,
                                        p_new_users_only boolean DEFAULT false,
                                        p_per_user_limit integer DEFAULT NULL,
                                        p_mutex_group text DEFAULT NULL,
                                        p_asset_type text DEFAULT NULL,
                                        p_units_per_sale bigint DEFAULT 1)
RETURNS commerce.play_config_row LANGUAGE plpgsql AS $$
DECLARE tp commerce.play_template_row; st commerce.store; sk commerce.sku; c commerce.play_config_row; v_rules jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_template, 'p_template');
    PERFORM commerce._require(p_store, 'p_store');
    PERFORM commerce._require(p_sku, 'p_sku');
    PERFORM commerce._require(p_title, 'p_title');
    PERFORM commerce._require(p_price_fen, 'p_price_fen');
    PERFORM commerce._require(p_stock, 'p_stock');
    PERFORM commerce._require(p_starts_at, 'p_starts_at');
    PERFORM commerce._require(p_ends_at, 'p_ends_at');
    PERFORM commerce._require(p_rules, 'p_rules');
    -- a retry returns the config; the request_id or the code reused for other terms is refused
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF c.code <> p_code THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for play config "%s"', p_request_id, c.code),
                HINT = 'Use a new request_id for a new config.';
        END IF;
        RETURN c;
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_code) THEN
        RAISE EXCEPTION USING ERRCODE = '23505',
            MESSAGE = format('play config "%s" already exists', p_code),
            HINT = 'The terms of a config never change: close it and configure a new code.';
    END IF;
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', p_code), 'Codes are letters, digits, _ . - (up to 63).');
    END IF;
    SELECT * INTO tp FROM commerce.play_template WHERE tenant_id = p_tenant AND code = p_template;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play template', p_template, p_tenant);
    END IF;
    SELECT * INTO st FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('SKU', p_sku, p_tenant);
    END IF;
    IF length(p_title) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_title', 'A title is 1 to 200 characters.', 'Name the play for the customer.');
    END IF;
    IF p_price_fen <= 0 OR p_price_fen > sk.msrp_fen THEN
        PERFORM commerce._invalid('p_price_fen', format('%s fen; the SKU sells at %s fen.', p_price_fen, sk.msrp_fen),
                                  'A play price is more than 0 and at most the SKU''s price.');
    END IF;
    IF p_price_fen < sk.floor_fen THEN
        RAISE EXCEPTION USING ERRCODE = '23514',
            MESSAGE = format('price %s fen is below the floor of SKU "%s"', p_price_fen, p_sku),
            DETAIL  = format('The floor is %s fen.', sk.floor_fen),
            HINT    = 'HQ sets the floor; a play cannot sell below it.';
    END IF;
    IF p_stock <= 0 OR p_stock > 1000000 THEN
        PERFORM commerce._invalid('p_stock', format('%s', p_stock), 'Pre-allocate 1 to 1000000 units.');
    END IF;
    IF p_starts_at >= p_ends_at THEN
        PERFORM commerce._invalid('p_ends_at', 'The window is empty.', 'ends_at must be later than starts_at.');
    END IF;
    IF p_cities IS NOT NULL AND (cardinality(p_cities) = 0 OR EXISTS (
        SELECT 1 FROM unnest(p_cities) x WHERE coalesce(length(x), 0) NOT BETWEEN 1 AND 50)) THEN
        PERFORM commerce._invalid('p_cities', format('%s', p_cities), 'List city names (NULL: seen everywhere).');
    END IF;
    IF p_per_user_limit IS NOT NULL AND p_per_user_limit <= 0 THEN
        PERFORM commerce._invalid('p_per_user_limit', format('%s', p_per_user_limit), 'A limit is 1 or more (NULL: none).');
    END IF;
    IF p_mutex_group IS NOT NULL AND p_mutex_group !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_mutex_group', format('"%s"', p_mutex_group), 'A mutex group is a lower-case name.');
    END IF;
    IF p_asset_type IS NOT NULL AND p_asset_type NOT IN ('COURSE', 'SERVICE', 'GOODS') THEN
        PERFORM commerce._invalid('p_asset_type', format('"%s"', p_asset_type), 'Asset types: COURSE, SERVICE, GOODS (NULL: no asset).');
    END IF;
    IF coalesce(p_units_per_sale, 0) NOT BETWEEN 1 AND 1000000 THEN
        PERFORM commerce._invalid('p_units_per_sale', format('%s', p_units_per_sale), 'A sale gives 1 to 1000000 units.');
    END IF;
    v_rules := commerce.apply_play_schema(tp.rule_schema::text, p_rules);
    INSERT INTO commerce.play_config (tenant_id, code, request_id, template_code, store_id, sku_id, title, price_fen,
                                      stock, activity, starts_at, ends_at, cities, new_users_only, per_user_limit,
                                      mutex_group, asset_type, units_per_sale, rules, created_at)
    VALUES (p_tenant, p_code, p_request_id, p_template, st.store_id, sk.sku_id, p_title, p_price_fen, p_stock,
            'play:' || p_code, p_starts_at, p_ends_at, p_cities, coalesce(p_new_users_only, false), p_per_user_limit,
            p_mutex_group, p_asset_type, p_units_per_sale, v_rules, commerce.now())
    RETURNING * INTO c;
    -- the stock leaves the shared pool for the play's own pool (PT409 when there is not enough)
    -- (a flash sale holds a buyer's units for its hold_minutes, M3: 5 minutes by default)
    PERFORM commerce.allocate_stock(p_tenant, 'play-config:' || p_request_id, c.activity, 'play', p_sku, p_stock,
                                    p_hold => CASE WHEN tp.kind = 'flash_sale'
                                                   THEN make_interval(mins => (v_rules ->> 'hold_minutes')::int) END);
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.configure_play(bigint, text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, text, text[], boolean, integer, text, text, bigint) IS
  'A store applies a template (M2.1): price (above 0, at most the SKU''s price, never below its floor: 23514), stock pre-allocated from the shared pool to the activity play:<code> (PT409 when short), window, visibility (cities), eligibility (new users only, per-user limit, mutex group), asset type and units per sale, and rules checked against the template''s schema (22023 naming the JSON path; defaults filled in). Idempotent by request_id; a code is configured once (23505).';

-- Close a config early: its unsold stock goes back to the shared pool.
CREATE FUNCTION commerce.close_play(p_tenant bigint, p_code text, p_request_id text)
RETURNS commerce.play_config_row LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_request_id, 'p_request_id');
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_code FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_code, p_tenant);
    END IF;
    IF c.status = 'closed' THEN
        RETURN c;
    END IF;
    PERFORM commerce.end_allocation(p_tenant, p_request_id, c.activity);
    UPDATE commerce.play_config SET status = 'closed', closed_at = commerce.now()
     WHERE tenant_id = p_tenant AND config_id = c.config_id RETURNING * INTO c;
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.close_play(bigint, text, text) IS
  'Close a play config before its end: its activity pool closes and the unsold stock returns to the shared pool. Closing again is a no-op.';

-- The play config of that code, which must be of one of the kinds (PT404, 22023 otherwise).
CREATE FUNCTION commerce._play_of_kind(p_tenant bigint, p_config text, p_kinds text[], p_hint text)
RETURNS commerce.play_config_row LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.play_config_row; v_kind text;
BEGIN
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    SELECT kind INTO v_kind FROM commerce.play_template WHERE tenant_id = p_tenant AND code = c.template_code;
    IF v_kind <> ALL (p_kinds) THEN
        PERFORM commerce._invalid('p_config', format('"%s" is a %s play.', p_config, v_kind), p_hint);
    END IF;
    RETURN c;
END $$;

-- Refuse a join when the group is not active, past its deadline or full (PT409, PT410, PT409).
CREATE FUNCTION commerce._refuse_join(i commerce.play_instance_row, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF i.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group %s is %s', i.instance_id, lower(i.status)),
            HINT    = 'Open a new group or join another one.';
    END IF;
    IF p_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('group %s has expired', i.instance_id),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Open a new group or join another one.';
    END IF;
    IF i.current >= i.target THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('group %s is full', i.instance_id),
            DETAIL  = format('%s of %s members.', i.current, i.target),
            HINT    = 'Open a new group or join another one.';
    END IF;
END $$;

-- A play takes actions only while it is active and inside its window (PT409 otherwise).
CREATE FUNCTION commerce._require_play_open(c commerce.play_config_row, p_now timestamptz, p_hint text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF c.status <> 'active' OR p_now < c.starts_at OR p_now >= c.ends_at THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('play "%s" is not open', c.code),
            DETAIL  = format('It runs from %s to %s and is %s.', c.starts_at, c.ends_at, c.status),
            HINT    = p_hint;
    END IF;
END $$;

-- Rule layer 1 (query time): the plays a customer may see in a city (and at a store) now.
CREATE FUNCTION commerce.visible_plays(p_tenant bigint, p_city text DEFAULT NULL, p_store text DEFAULT NULL,
                                       p_at timestamptz DEFAULT NULL)
RETURNS SETOF commerce.play_display_row LANGUAGE plpgsql STABLE AS $$
DECLARE v_at timestamptz := coalesce(p_at, commerce.now());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_store IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store) THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    RETURN QUERY
    SELECT d.tenant_id, d.config_id, d.code, d.title, d.kind, d.unit_name, d.store, d.store_city, d.price_fen,
           d.msrp_fen, d.starts_at, d.ends_at, d.cities, d.status, d.available,
           CASE WHEN d.available <= 0 THEN 'sold_out' ELSE 'open' END
      FROM commerce.play_display d
     WHERE d.tenant_id = p_tenant AND d.status = 'active'
       AND d.starts_at <= v_at AND v_at < d.ends_at
       AND (d.cities IS NULL OR p_city = ANY (d.cities))
       AND (p_store IS NULL OR d.store = p_store)
     ORDER BY d.ends_at, d.code;
END $$;
COMMENT ON FUNCTION commerce.visible_plays(bigint, text, text, timestamptz) IS
  'Rule layer 1 (query time, M3): the active plays running at the moment (default now) that a customer in the city (and at the store) may see; a play with cities is seen only there. Each row carries its display state (sold_out plays stay visible).';

-- Open a group (p_instance NULL: the customer leads a new one) or join one, paying the play price.
CREATE OR REPLACE FUNCTION commerce.join_group(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                    p_payment_id text, p_instance bigint DEFAULT NULL,
                                    p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                    p_device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE plpgsql AS $$
DECLARE
    c commerce.play_config_row; cu commerce.customer; i commerce.play_instance_row;
    p commerce.play_participant; sk commerce.sku; v_list bigint; v_order commerce.order_result; v_now timestamptz := commerce.now();
    v_outcome text := 'joined';
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_payment_id, 'p_payment_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    -- a retry returns the first result
    SELECT * INTO p FROM commerce.play_participant WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p.instance_id;
        RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, p.order_id, 'repeated')::commerce.join_result;
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['group_buy'], 'Join group-buy plays only.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Join a play that is open now.');
    -- a second place in the same group is named as such (a concurrent one is caught by the insert below)
    IF p_instance IS NOT NULL AND EXISTS (SELECT 1 FROM commerce.play_participant
                                           WHERE tenant_id = p_tenant AND instance_id = p_instance
                                             AND customer_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already in group %s', p_customer, p_instance),
            HINT    = 'One place per customer and group.';
    END IF;
    -- eligibility (transaction time, in C), each refusal with its own SQLSTATE; the action is recorded.
    -- It and the price are read first (lock order: eligibility's advisory locks, the group's row in
    -- KEY SHARE, the stock slots, the group's row for the place).
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id,
                                 CASE WHEN p_instance IS NULL THEN 'start' ELSE 'join' END, p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    -- the group: a new one led by the customer, or the one named. Joiners take a KEY SHARE lock on it:
    -- they do not block each other, and the deadline job (FOR UPDATE SKIP LOCKED) leaves a group alone
    -- while anyone is joining it. The place itself is taken at the end, by a conditional update.
    IF p_instance IS NULL THEN
        INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target,
                                            deadline, created_at)
        VALUES (p_tenant, c.config_id, cu.customer_id, 'active', 0, (c.rules ->> 'target_size')::integer,
                least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at), v_now)
        RETURNING * INTO i;
        v_outcome := 'opened';
    ELSE
        SELECT * INTO i FROM commerce.play_instance
         WHERE tenant_id = p_tenant AND instance_id = p_instance AND config_id = c.config_id FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('group', p_instance::text, p_tenant);
        END IF;
        PERFORM commerce._refuse_join(i, v_now);
    END IF;
    -- the order at the play price from the play's stock, paid at once
    v_order := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel,
                   jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                      'activity', c.activity, 'source_instance_id', i.instance_id,
                                      'discount_fen', greatest(v_list - c.price_fen, 0)),
                   p_customer);
    PERFORM commerce.pay_order(p_tenant, v_order.order_id, p_payment_id, least(v_list, c.price_fen));
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id,
            CASE WHEN v_outcome = 'opened' THEN 'leader' ELSE 'member' END, v_order.order_id, v_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN   -- the same customer (or request) joined this group in a concurrent transaction
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already in group %s', p_customer, i.instance_id),
            HINT    = 'One place per customer and group.';
    END IF;
    -- the place: joins of one group queue here only, for the rest of their transaction; a group that
    -- filled, ended or failed meanwhile refuses the join and everything above rolls back
    UPDATE commerce.play_instance SET current = current + 1
     WHERE tenant_id = p_tenant AND instance_id = i.instance_id
       AND status = 'active' AND current < target AND deadline > v_now
    RETURNING * INTO i;
    IF NOT FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance;
        PERFORM commerce._refuse_join(i, v_now);
        RAISE EXCEPTION 'commerce.join_group: group % refused a place for no known reason', p_instance;
    END IF;
    IF i.current = i.target THEN
        UPDATE commerce.play_instance SET status = 'success', ended_at = v_now
         WHERE tenant_id = p_tenant AND instance_id = i.instance_id RETURNING * INTO i;
        PERFORM commerce._issue_group_assets(p_tenant, i.instance_id);
        PERFORM commerce.enqueue(p_tenant, 'play.group_succeeded',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'members', i.current),
            'group:' || i.instance_id);
        v_outcome := 'succeeded';
    END IF;
    RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, v_order.order_id, v_outcome)::commerce.join_result;
END $$;

-- ==== sql/src/plays/deadline.sql

-- sql/src/plays/deadline.sql: the deadline job: groups and bargains that ran
-- out of time, with stock back and refunds.

-- End the groups and bargains past their deadline.
CREATE OR REPLACE FUNCTION commerce.end_expired_groups(p_limit integer DEFAULT 100) RETURNS integer
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

-- ==== sql/src/plays/assets.sql

-- sql/src/plays/assets.sql: consumption of user assets (course hours, service
-- hours, goods).

-- Consume (核销) part of an asset at a store.
CREATE FUNCTION commerce.consume_asset(p_tenant bigint, p_request_id text, p_asset bigint, p_amount bigint,
                                       p_store text, p_operator text)
RETURNS commerce.user_asset_row LANGUAGE plpgsql AS $$
DECLARE a commerce.user_asset_row; st commerce.store; l commerce.consumption_log; o commerce.orders_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_asset, 'p_asset');
    PERFORM commerce._require(p_amount, 'p_amount');
    PERFORM commerce._require(p_store, 'p_store');
    PERFORM commerce._require(p_operator, 'p_operator');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO st FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    -- the asset row orders every consumption of it
    SELECT * INTO a FROM commerce.user_asset WHERE tenant_id = p_tenant AND asset_id = p_asset FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('asset', p_asset::text, p_tenant);
    END IF;
    SELECT * INTO l FROM commerce.consumption_log WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF l.asset_id <> p_asset OR l.amount <> p_amount THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another consumption', p_request_id),
                HINT = 'Use a new request_id for a new consumption.';
        END IF;
        RETURN a;
    END IF;
    IF p_amount <= 0 THEN
        PERFORM commerce._invalid('p_amount', format('%s', p_amount), 'Consume 1 or more units.');
    END IF;
    IF p_amount > a.remaining THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('asset %s has %s %s left, not %s', p_asset, a.remaining, a.unit_name, p_amount),
            DETAIL  = format('%s of %s %s consumed.', a.total - a.remaining, a.total, a.unit_name),
            HINT    = 'Consume at most what is left.';
    END IF;
    UPDATE commerce.user_asset SET remaining = remaining - p_amount
     WHERE tenant_id = p_tenant AND asset_id = p_asset RETURNING * INTO a;
    INSERT INTO commerce.consumption_log (tenant_id, request_id, asset_id, amount, store_id, operator,
                                          source_activity, consumed_at)
    VALUES (p_tenant, p_request_id, p_asset, p_amount, st.store_id, p_operator, a.source_activity, commerce.now());
    -- the first consumption redeems the order (an attributed order earns its KOC commission)
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = a.order_id;
    IF o.status IN ('paid', 'shipped') THEN
        PERFORM commerce.complete_order(p_tenant, a.order_id);
    END IF;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.consume_asset(bigint, text, bigint, bigint, text, text) IS
  'Consume (核销) units of an asset at a store by an operator (M2.2): never below zero (PT409, under the asset row lock), logged with the activity the asset came from; the first consumption completes the order, so an attributed order earns its KOC commission. Idempotent by request_id.';

-- Put a customer, an IP or a device on the tenant's play blacklist (or change the entry).
CREATE FUNCTION commerce.blacklist(p_tenant bigint, p_kind text, p_value text, p_reason text,
                                   p_expires_at timestamptz DEFAULT NULL)
RETURNS commerce.play_blacklist_row LANGUAGE plpgsql AS $$
DECLARE b commerce.play_blacklist_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_value, 'p_value');
    PERFORM commerce._require(p_reason, 'p_reason');
    IF p_kind NOT IN ('user', 'ip', 'device') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Kinds: user (a customer code), ip, device.');
    END IF;
    IF length(p_value) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_value', 'A value is 1 to 200 characters.', 'Pass the customer code, the IP or the device id.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_reason', 'A reason is 1 to 500 characters.', 'Say why, for the reviewer.');
    END IF;
    IF p_kind = 'user' AND NOT EXISTS (SELECT 1 FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_value) THEN
        PERFORM commerce._not_found('customer', p_value, p_tenant);
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= commerce.now() THEN
        PERFORM commerce._invalid('p_expires_at', format('%s is not in the future.', p_expires_at),
                                  'Leave it NULL for an entry without end.');
    END IF;
    INSERT INTO commerce.play_blacklist (tenant_id, kind, value, reason, created_at, expires_at)
    VALUES (p_tenant, p_kind, p_value, p_reason, commerce.now(), p_expires_at)
    ON CONFLICT (tenant_id, kind, value) DO UPDATE
       SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at
    RETURNING * INTO b;
    RETURN b;
END $$;
COMMENT ON FUNCTION commerce.blacklist(bigint, text, text, text, timestamptz) IS
  'Bar a customer (kind user, by code), an IP or a device from every play of the tenant, with a reason and an optional end; a second call changes the entry. Plays refuse them with PT403.';

-- The rate limits of a play (operational knobs: they may change while it runs).
CREATE FUNCTION commerce.set_play_limits(p_tenant bigint, p_code text, p_user_per_minute integer,
                                         p_ip_per_minute integer)
RETURNS commerce.play_config_row LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    IF p_user_per_minute IS NOT NULL AND p_user_per_minute NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_user_per_minute', format('%s', p_user_per_minute), 'Allow 1 to 100000 actions a minute (NULL: no limit).');
    END IF;
    IF p_ip_per_minute IS NOT NULL AND p_ip_per_minute NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_ip_per_minute', format('%s', p_ip_per_minute), 'Allow 1 to 100000 actions a minute (NULL: no limit).');
    END IF;
    UPDATE commerce.play_config SET user_rate_per_minute = p_user_per_minute, ip_rate_per_minute = p_ip_per_minute
     WHERE tenant_id = p_tenant AND code = p_code RETURNING * INTO c;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_code, p_tenant);
    END IF;
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.set_play_limits(bigint, text, integer, integer) IS
  'Set the rate limits of a play: admitted actions per customer and per IP in a minute (NULL: none). Refusals: PT429 (customer), PT429 (IP).';

-- ==== sql/src/plays/flash_sale.sql

-- sql/src/plays/flash_sale.sql: flash sales and first-order offers (buy_play).

-- Units left in a play's own pool.
CREATE FUNCTION commerce._play_available(c commerce.play_config_row) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(commerce._pool_available(sp.tenant_id, sp.pool_id)), 0)::bigint
      FROM commerce.stock_pool sp
     WHERE sp.tenant_id = c.tenant_id AND sp.activity = c.activity AND sp.sku_id = c.sku_id AND sp.status = 'open';
$$;

-- Buy from a flash sale (or an invite-reward play's offer): the units are held for the play's hold time.
CREATE OR REPLACE FUNCTION commerce.buy_play(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                  p_qty integer DEFAULT 1, p_channel text DEFAULT 'wechat_mp',
                                  p_ip text DEFAULT NULL, p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; cu commerce.customer; sk commerce.sku; o commerce.orders_row;
        v_list bigint; v_limit integer; v_left bigint; v_now timestamptz := commerce.now(); v_doc jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_qty, 'p_qty');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    -- a retry returns the order (and writes nothing)
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'play:' || p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['flash_sale', 'invite_reward'],
                                'Join a group with commerce.join_group; buy a bargain with commerce.buy_bargain.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    v_limit := coalesce((c.rules ->> 'per_order_limit')::integer, 1);
    IF p_qty NOT BETWEEN 1 AND v_limit THEN
        PERFORM commerce._invalid('p_qty', format('%s; play "%s" sells 1 to %s per order.', p_qty, p_config, v_limit),
                                  'Buy within the per-order limit.');
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Buy from a play that is open now.');
    -- sold out: refused before any lock or write
    v_left := commerce._play_available(c);
    IF v_left < p_qty THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('play "%s" is sold out', p_config),
            DETAIL  = format('%s left, %s asked.', v_left, p_qty),
            HINT    = 'Units held by unpaid orders come back when their hold ends.';
    END IF;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'buy', p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    v_doc := jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', p_qty)),
                                'activity', c.activity,
                                'discount_fen', greatest(v_list - c.price_fen, 0) * p_qty);
    IF p_receiver IS NOT NULL THEN
        v_doc := v_doc || jsonb_build_object('receiver', p_receiver);
    END IF;
    -- the hold lasts the pool's hold time (a flash sale's hold_minutes): unpaid, the order is cancelled
    RETURN commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel, v_doc, p_customer);
END $$;

-- ==== sql/src/plays/bargain.sql

-- sql/src/plays/bargain.sql: bargains: start, help, buy.

-- The result row of a bargain.
CREATE FUNCTION commerce._bargain_result(i commerce.play_instance_row, p_outcome text) RETURNS commerce.bargain_result
LANGUAGE sql STABLE AS $$
    SELECT ROW(i.instance_id, i.status, i.current, i.target, i.price_fen,
               (SELECT (c.rules ->> 'floor_fen')::bigint FROM commerce.play_config c
                 WHERE c.tenant_id = i.tenant_id AND c.config_id = i.config_id),
               i.deadline, p_outcome)::commerce.bargain_result;
$$;

-- A customer starts a bargain on a play: the price starts at the play price.
CREATE OR REPLACE FUNCTION commerce.start_bargain(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                       p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; cu commerce.customer; i commerce.play_instance_row;
        v_now timestamptz := commerce.now(); v_floor bigint; v_cut bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._bargain_result(i, 'repeated');
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['bargain'], 'Start bargains on bargain plays only.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Start a bargain on a play that is open now.');
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'start', p_ip, p_device);
    -- one running bargain per customer and play (checked under the customer's lock taken by _play_admit
    -- when the play has limits; the unique request_id covers retries)
    IF EXISTS (SELECT 1 FROM commerce.play_instance
                WHERE tenant_id = p_tenant AND config_id = c.config_id AND leader_customer_id = cu.customer_id
                  AND status IN ('pending', 'active')) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has a running bargain on play "%s"', p_customer, p_config),
            HINT    = 'Share the running bargain, or wait until it ends.';
    END IF;
    v_floor := (c.rules ->> 'floor_fen')::bigint;
    v_cut := (c.rules ->> 'cut_fen')::bigint;
    INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target, deadline,
                                        created_at, request_id, price_fen)
    VALUES (p_tenant, c.config_id, cu.customer_id, 'active', 0,
            ((c.price_fen - v_floor) + v_cut - 1) / v_cut,
            least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at),
            v_now, p_request_id, c.price_fen)
    RETURNING * INTO i;
    RETURN commerce._bargain_result(i, 'started');
END $$;

-- A helper cuts a bargain's price by one step.
CREATE OR REPLACE FUNCTION commerce.help_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_helper text,
                                      p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; cu commerce.customer; h commerce.play_help;
        v_now timestamptz := commerce.now(); v_cut bigint; v_floor bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_instance, 'p_instance');
    PERFORM commerce._require(p_helper, 'p_helper');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_helper;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_helper, p_tenant);
    END IF;
    -- the bargain's row orders its helpers
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance FOR UPDATE;
    IF NOT FOUND OR i.price_fen IS NULL THEN
        PERFORM commerce._not_found('bargain', p_instance::text, p_tenant);
    END IF;
    SELECT * INTO h FROM commerce.play_help WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF h.instance_id <> p_instance OR h.helper_id <> cu.customer_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another help', p_request_id),
                HINT = 'Use a new request_id for a new help.';
        END IF;
        RETURN commerce._bargain_result(i, 'repeated');
    END IF;
    IF i.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s is %s', p_instance,
                             CASE i.status WHEN 'success' THEN 'already at its floor' ELSE i.status END),
            HINT    = 'Help a bargain that is still running.';
    END IF;
    IF v_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('bargain %s has expired', p_instance),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Help a bargain that is still running.';
    END IF;
    IF cu.customer_id = i.leader_customer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" cannot help their own bargain', p_helper),
            HINT    = 'Ask friends to help.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_help
                WHERE tenant_id = p_tenant AND instance_id = p_instance AND helper_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has already helped bargain %s', p_helper, p_instance),
            HINT    = 'One cut per helper and bargain.';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = i.config_id;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'help', p_ip, p_device);
    v_floor := (c.rules ->> 'floor_fen')::bigint;
    v_cut := least((c.rules ->> 'cut_fen')::bigint, i.price_fen - v_floor);
    INSERT INTO commerce.play_help (tenant_id, instance_id, helper_id, request_id, cut_fen, price_after, helped_at)
    VALUES (p_tenant, p_instance, cu.customer_id, p_request_id, v_cut, i.price_fen - v_cut, v_now);
    UPDATE commerce.play_instance SET current = current + 1, price_fen = price_fen - v_cut
     WHERE tenant_id = p_tenant AND instance_id = p_instance RETURNING * INTO i;
    IF i.price_fen = v_floor THEN
        UPDATE commerce.play_instance SET status = 'success', ended_at = v_now
         WHERE tenant_id = p_tenant AND instance_id = p_instance RETURNING * INTO i;
        PERFORM commerce.enqueue(p_tenant, 'play.bargain_succeeded',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'price_fen', i.price_fen,
                               'helps', i.current), 'bargain:' || i.instance_id);
        RETURN commerce._bargain_result(i, 'succeeded');
    END IF;
    RETURN commerce._bargain_result(i, 'cut');
END $$;

-- The owner of a successful bargain buys at the floor price.
CREATE OR REPLACE FUNCTION commerce.buy_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_customer text,
                                     p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                     p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; cu commerce.customer; sk commerce.sku; o commerce.orders_row;
        v_list bigint; v_doc jsonb; r commerce.order_result; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_instance, 'p_instance');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'play:' || p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance FOR UPDATE;
    IF NOT FOUND OR i.price_fen IS NULL THEN
        PERFORM commerce._not_found('bargain', p_instance::text, p_tenant);
    END IF;
    IF i.leader_customer_id <> cu.customer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s is not customer "%s"''s', p_instance, p_customer),
            HINT    = 'Only the customer who started a bargain buys it.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_participant WHERE tenant_id = p_tenant AND instance_id = p_instance) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s was already bought', p_instance),
            HINT    = 'A bargain is bought once.';
    END IF;
    IF i.status = 'failed' OR v_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('bargain %s has expired', p_instance),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Start a new bargain.';
    END IF;
    IF i.status <> 'success' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s has not reached its floor', p_instance),
            DETAIL  = format('%s of %s helps; the price is %s fen.', i.current, i.target, i.price_fen),
            HINT    = 'Ask more friends to help before the deadline.';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = i.config_id;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'buy', p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    v_doc := jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                'activity', c.activity, 'source_instance_id', i.instance_id,
                                'discount_fen', greatest(v_list - i.price_fen, 0));
    IF p_receiver IS NOT NULL THEN
        v_doc := v_doc || jsonb_build_object('receiver', p_receiver);
    END IF;
    r := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel, v_doc, p_customer);
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id, 'leader', r.order_id, v_now);
    RETURN r;
END $$;

-- ==== sql/src/plays/invite.sql

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

-- ==== sql/src/plays/order_effects.sql

-- sql/src/plays/order_effects.sql: what a paid or refunded play order does:
-- assets, invite rewards, participants.

-- Issue the asset of a paid flash-sale, bargain or invite-reward order (group buys issue at success).
CREATE FUNCTION commerce._issue_order_asset(o commerce.orders_row) RETURNS void
LANGUAGE sql AS $$
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
$$;

-- Orders trigger: a payment issues play assets and ends invites; a full refund voids the asset.
CREATE OR REPLACE FUNCTION commerce._play_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- ==== sql/src/plays/dashboard.sql

-- sql/src/plays/dashboard.sql: the activity dashboard.

-- The standard cards of one activity.
CREATE OR REPLACE FUNCTION commerce.play_dashboard(p_tenant bigint, p_config text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.play_config_row; tp commerce.play_template_row; f record; r record; u record; k jsonb; g record;
        v_stock record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_config, 'p_config');
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    SELECT * INTO tp FROM commerce.play_template WHERE tenant_id = p_tenant AND code = c.template_code;
    -- funnel: views -> starts and joins (admitted actions) -> paid orders
    SELECT count(*) FILTER (WHERE kind = 'view') AS views,
           count(DISTINCT coalesce(customer_id::text, 'ip:' || ip, 'device:' || device, 'anon:' || event_id))
               FILTER (WHERE kind = 'view') AS viewers,
           count(*) FILTER (WHERE kind IN ('start', 'join', 'buy')) AS actions,
           count(DISTINCT customer_id) FILTER (WHERE kind IN ('start', 'join', 'buy')) AS actors,
           count(*) FILTER (WHERE kind = 'help') AS helps,
           count(*) FILTER (WHERE kind = 'invite') AS invites
      INTO f FROM commerce.play_event WHERE tenant_id = p_tenant AND config_id = c.config_id;
    SELECT count(*) AS paid, count(DISTINCT customer_id) AS payers, coalesce(sum(paid_fen), 0)::bigint AS gmv,
           coalesce(sum(refunded_fen), 0)::bigint AS refunded,
           count(*) FILTER (WHERE status = 'completed') AS completed
      INTO r FROM commerce.orders
     WHERE tenant_id = p_tenant AND source_activity = c.activity AND paid_at IS NOT NULL;
    SELECT coalesce(sum(a.total) FILTER (WHERE a.voided_at IS NULL), 0)::bigint AS pool,
           coalesce(sum(a.total - a.remaining) FILTER (WHERE a.voided_at IS NULL), 0)::bigint AS consumed_live,
           count(*) AS assets,
           (SELECT coalesce(sum(l.amount), 0) FROM commerce.consumption_log l
             WHERE l.tenant_id = p_tenant AND l.source_activity = c.activity)::bigint AS consumed
      INTO u FROM commerce.user_asset a WHERE a.tenant_id = p_tenant AND a.source_activity = c.activity;
    SELECT (SELECT count(*) FROM commerce.stock_pool sp WHERE sp.tenant_id = p_tenant AND sp.activity = c.activity) AS pools,
           c.stock AS allocated, commerce._play_available(c) AS available
      INTO v_stock;
    IF tp.kind = 'group_buy' THEN
        SELECT count(*) AS groups, count(*) FILTER (WHERE status = 'success') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status IN ('pending', 'active')) AS open,
               (SELECT count(*) FROM commerce.play_participant p JOIN commerce.play_instance i USING (tenant_id, instance_id)
                 WHERE i.tenant_id = p_tenant AND i.config_id = c.config_id AND p.role = 'virtual') AS virtual_members
          INTO g FROM commerce.play_instance WHERE tenant_id = p_tenant AND config_id = c.config_id;
        k := jsonb_build_object('groups', g.groups, 'succeeded', g.succeeded, 'failed', g.failed, 'open', g.open,
                                'virtualMembers', g.virtual_members,
                                'successRateBp', CASE WHEN g.succeeded + g.failed > 0
                                                      THEN g.succeeded * 10000 / (g.succeeded + g.failed) END);
    ELSIF tp.kind = 'bargain' THEN
        SELECT count(*) AS started, count(*) FILTER (WHERE status = 'success') AS succeeded,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status IN ('pending', 'active')) AS open,
               coalesce(sum(current), 0) AS helps
          INTO g FROM commerce.play_instance WHERE tenant_id = p_tenant AND config_id = c.config_id;
        k := jsonb_build_object('started', g.started, 'succeeded', g.succeeded, 'failed', g.failed, 'open', g.open,
                                'helps', g.helps,
                                'successRateBp', CASE WHEN g.succeeded + g.failed > 0
                                                      THEN g.succeeded * 10000 / (g.succeeded + g.failed) END);
    ELSIF tp.kind = 'invite_reward' THEN
        SELECT count(DISTINCT inviter_id) AS inviters, count(*) AS invitees,
               count(*) FILTER (WHERE status = 'rewarded') AS rewarded,
               count(*) FILTER (WHERE status = 'capped') AS capped,
               coalesce(sum(reward_fen), 0) + coalesce(sum(invitee_reward_fen), 0) AS rewards_fen,
               count(*) FILTER (WHERE status <> 'invited') AS converted
          INTO g FROM commerce.play_invite WHERE tenant_id = p_tenant AND config_id = c.config_id;
        -- fission coefficient: new customers who paid, per inviter
        k := jsonb_build_object('inviters', g.inviters, 'invitees', g.invitees, 'converted', g.converted,
                                'rewarded', g.rewarded, 'capped', g.capped, 'rewardsFen', g.rewards_fen,
                                'fissionCoefficient', CASE WHEN g.inviters > 0
                                                           THEN round(g.converted::numeric / g.inviters, 2) END);
    ELSE
        k := jsonb_build_object('allocated', v_stock.allocated, 'available', v_stock.available,
                                'sellThroughBp', CASE WHEN v_stock.allocated > 0
                                                      THEN (v_stock.allocated - v_stock.available) * 10000 / v_stock.allocated END);
    END IF;
    RETURN jsonb_build_object(
        'play', c.code, 'title', c.title, 'template', tp.code, 'kind', tp.kind,
        'window', jsonb_build_object('startsAt', c.starts_at, 'endsAt', c.ends_at, 'status', c.status),
        'funnel', jsonb_build_object('views', f.views, 'viewers', f.viewers, 'joins', f.actions,
                                     'joiners', f.actors, 'paid', r.paid, 'payers', r.payers,
                                     'viewToPaidBp', CASE WHEN f.viewers > 0 THEN r.payers * 10000 / f.viewers END),
        'revenue', jsonb_build_object('gmvFen', r.gmv, 'orders', r.paid, 'refundedFen', r.refunded,
                                      'netFen', r.gmv - r.refunded, 'completedOrders', r.completed),
        'fulfilment', jsonb_build_object('unitName', tp.unit_name, 'assets', u.assets,
                                         'totalAssetPool', u.pool, 'consumedAsset', u.consumed_live,
                                         'consumedAll', u.consumed,
                                         'text', format('%s %s of %s %s', u.consumed_live, tp.unit_name, u.pool, tp.unit_name)),
        tp.kind, k);
END $$;

-- ==== sql/src/plays/settlement.sql

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

-- ==== sql/src/plays/api.sql

-- sql/src/plays/api.sql: the plays for HTTP clients.

CREATE FUNCTION commerce_api.visible_plays(city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce.play_display_row LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.visible_plays(commerce.current_tenant(), city, store);
$$;
REVOKE ALL ON FUNCTION commerce_api.visible_plays(text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.invite(request_id text, play text, inviter text, invitee text, ip text DEFAULT NULL,
                                    device text DEFAULT NULL)
RETURNS commerce.play_invite_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.invite(commerce.current_tenant(), request_id, play, inviter, invitee, ip, device);
$$;
REVOKE ALL ON FUNCTION commerce_api.invite(text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.consume_asset(request_id text, asset bigint, amount bigint, store text, operator text)
RETURNS commerce.user_asset_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.consume_asset(commerce.current_tenant(), request_id, asset, amount, store, operator);
$$;
REVOKE ALL ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.apply_play_settlement(request_id text, play text)
RETURNS commerce.play_settlement_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.apply_play_settlement(commerce.current_tenant(), request_id, play);
$$;
REVOKE ALL ON FUNCTION commerce_api.apply_play_settlement(text, text) FROM PUBLIC;

-- The kept grants, on the new signatures (<table> became <table>_row).
DO $$
DECLARE g jsonb; v_oid oid;
BEGIN
    FOR g IN SELECT * FROM jsonb_array_elements(current_setting('commerce_upgrade.grants')::jsonb) LOOP
        SELECT p.oid INTO v_oid
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE format('%I.%I', n.nspname, p.proname) = g->>'name'
           AND coalesce((SELECT string_agg(regexp_replace(format_type(t, NULL), '_row$', ''), ', ' ORDER BY o)
                           FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY x(t, o)), '')
               = coalesce(g->>'args', '');
        IF v_oid IS NULL THEN
            RAISE EXCEPTION 'commerce 0.7.0: no new function for %(%) to carry its grant to %',
                g->>'name', g->>'args', g->>'grantee';
        END IF;
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', v_oid::regprocedure, g->>'grantee');
    END LOOP;
END $$;

-- The tables, views and sequences leave the extension (they stay, with their
-- rows, indexes, triggers and grants).
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce') AND d.deptype = 'e'
           AND c.relkind IN ('r', 'p', 'v', 'S')
         ORDER BY c.relkind DESC, 1
    LOOP
        EXECUTE format('ALTER EXTENSION commerce DROP %s %s', r.kind, r.rel);
    END LOOP;
END $$;



-- ==== the provisioned schema (tables.sql and the triggers, indexes and views of every module)

-- The statements CALL commerce.provision() runs: every table, index, trigger and view of
-- the modules above, in manifest order.
CREATE FUNCTION commerce._schema_ddl() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $commerce_schema$ SELECT $ddl$
-- ==== sql/src/core/tables.sql
-- sql/src/core/tables.sql: tenants, stores, warehouses and the idempotency
-- log. Columns added by later versions stand last, in the order they were
-- added.

CREATE TABLE commerce.tenant (
    tenant_id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    code          text NOT NULL UNIQUE
                  CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone     text NOT NULL DEFAULT 'Asia/Shanghai',
    order_hold    interval NOT NULL DEFAULT '15 minutes'
                  CHECK (order_hold > '0'::interval),
    flash_hold    interval NOT NULL DEFAULT '5 minutes'
                  CHECK (flash_hold > '0'::interval),
    max_hold      interval NOT NULL DEFAULT '1 day'
                  CHECK (max_hold > '0'::interval),
    default_slots integer NOT NULL DEFAULT 8
                  CHECK (default_slots BETWEEN 1 AND 256),
    created_at    timestamptz NOT NULL DEFAULT now(),
    attribution_window interval NOT NULL DEFAULT '7 days' CHECK (attribution_window > '0'::interval),
    click_dedupe  interval NOT NULL DEFAULT '10 minutes' CHECK (click_dedupe >= '0'::interval),
    self_referral text NOT NULL DEFAULT 'deny' CHECK (self_referral IN ('deny', 'allow')),
    koc_rate_bp   integer NOT NULL DEFAULT 0 CHECK (koc_rate_bp BETWEEN 0 AND 10000),
    settle_hold   interval NOT NULL DEFAULT '12 hours' CHECK (settle_hold >= '0'::interval),
    withdraw_min_fen bigint NOT NULL DEFAULT 100 CHECK (withdraw_min_fen > 0),
    withdraw_fee_bp integer NOT NULL DEFAULT 0 CHECK (withdraw_fee_bp BETWEEN 0 AND 10000),
    withdraw_fee_min_fen bigint NOT NULL DEFAULT 0 CHECK (withdraw_fee_min_fen >= 0),
    level_demotion text NOT NULL DEFAULT 'one_step' CHECK (level_demotion IN ('none', 'one_step', 'to_met')),
    risk_burst_clicks integer NOT NULL DEFAULT 30 CHECK (risk_burst_clicks >= 2),
    risk_max_conversion_bp integer NOT NULL DEFAULT 5000 CHECK (risk_max_conversion_bp > 0),
    risk_min_redemptions integer NOT NULL DEFAULT 20 CHECK (risk_min_redemptions > 0),
    refund_second_approval_fen bigint NOT NULL DEFAULT 0 CHECK (refund_second_approval_fen >= 0)
);
COMMENT ON TABLE commerce.tenant IS
  'A brand HQ or a creator''s business: the unit of isolation. Holds the tenant''s time zone and stock holding defaults (order_hold 15 min, flash_hold 5 min, max_hold cap, slots per new pool). The tenant code is globally unique (a reference table under Citus).';
COMMENT ON COLUMN commerce.tenant.attribution_window IS 'How long after a click an order is attributed to the KOC (default 7 days).';
COMMENT ON COLUMN commerce.tenant.click_dedupe IS 'Repeat clicks of one visitor on one code within this window count once.';
COMMENT ON COLUMN commerce.tenant.self_referral IS 'deny: a KOC buying through their own link is not attributed; allow: it is.';
COMMENT ON COLUMN commerce.tenant.koc_rate_bp IS 'Commission rate of an attributed order without a task (before the level bonus).';
COMMENT ON COLUMN commerce.tenant.settle_hold IS 'T+0.5: how long after its redemption a commission line becomes payable (default 12 hours).';
COMMENT ON COLUMN commerce.tenant.withdraw_min_fen IS 'The smallest withdrawal, in fen.';
COMMENT ON COLUMN commerce.tenant.withdraw_fee_bp IS 'Withdrawal fee: this share of the amount, rounded down, but at least withdraw_fee_min_fen.';
COMMENT ON COLUMN commerce.tenant.withdraw_fee_min_fen IS 'The smallest withdrawal fee, in fen.';
COMMENT ON COLUMN commerce.tenant.level_demotion IS 'Monthly recalculation: none (levels never drop), one_step (a KOC missing its level''s rule drops one level) or to_met (to the highest level whose rule is met).';
COMMENT ON COLUMN commerce.tenant.risk_burst_clicks IS 'Risk rule click_burst: this many clicks on one KOC''s links from one IP within a 10-minute slot.';
COMMENT ON COLUMN commerce.tenant.risk_max_conversion_bp IS 'Risk rule conversion: redemptions per distinct clicking visitor above this (bp) over 7 days ...';
COMMENT ON COLUMN commerce.tenant.risk_min_redemptions IS '... once the KOC has at least this many redemptions in those 7 days.';

CREATE TABLE commerce.store (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    store_id   bigint GENERATED BY DEFAULT AS IDENTITY,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name       text NOT NULL,
    region     text,
    city       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, store_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE commerce.store IS
  'A store of a tenant (offline shop or online storefront); plays and store settlement hang off stores.';

CREATE TABLE commerce.warehouse (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    warehouse_id bigint GENERATED BY DEFAULT AS IDENTITY,
    code         text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name         text NOT NULL,
    region       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, warehouse_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE commerce.warehouse IS
  'A place stock is kept. Every tenant gets warehouse "main"; stock pools are per SKU and warehouse.';

CREATE TABLE commerce.request_log (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    operation  text NOT NULL,
    request_id text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    params     jsonb NOT NULL,
    result     jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, operation, request_id)
);
COMMENT ON TABLE commerce.request_log IS
  'Idempotency keys of mutating entry points that have no row of their own to carry one (stock receipts, adjustments, allocations): a repeat with the same parameters returns the stored result; with different parameters it is refused (23505). Reservations keep their request_id on the reservation row.';

CREATE TABLE commerce.job (
    tenant_id bigint NOT NULL DEFAULT 0,
    job_name  text NOT NULL,
    schedule  text NOT NULL,
    command   text NOT NULL,
    PRIMARY KEY (tenant_id, job_name)
);
COMMENT ON TABLE commerce.job IS
  'The pg_cron jobs commerce.schedule_jobs() registers (tenant_id 0: jobs for every tenant). Later modules add rows.';
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-expire-reservations', '* * * * *', 'CALL commerce.expire_pump()');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-cancel-unpaid-orders', '* * * * *', 'CALL commerce.cancel_unpaid_pump()');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-settle-commissions', '*/10 * * * *', 'CALL commerce.settle_pump()');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-koc-levels', '7 * * * *', 'CALL commerce.level_pump()');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-koc-risk', '*/10 * * * *', 'CALL commerce.risk_pump()');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-end-expired-groups', '* * * * *', 'CALL commerce.play_pump()');

CREATE TABLE commerce.staff (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    staff_id   bigint GENERATED ALWAYS AS IDENTITY,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind       text NOT NULL CHECK (kind IN ('store', 'operator', 'finance')),
    stores     text[],
    channels   text[],
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, staff_id),
    UNIQUE (tenant_id, code),
    CHECK (kind <> 'store' OR stores IS NOT NULL),
    CHECK (cardinality(stores) <= 1000 AND cardinality(channels) <= 100)
);
COMMENT ON TABLE commerce.staff IS
  'The people who act for a tenant through the API: store staff (kind store, limited to their stores), HQ operators and finance. stores and channels list the codes they may act on (NULL: all). A verified identity whose subject is a staff code acts as that staff member.';
SELECT commerce._declare_audited('commerce.staff', 'code', ARRAY['name', 'kind', 'stores', 'channels', 'active']);

CREATE TABLE commerce.role_binding (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    role_name  name NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('customer', 'koc', 'store', 'operator', 'finance', 'service')),
    subject    text CHECK (length(subject) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, role_name),
    CHECK (kind = 'service' OR subject IS NOT NULL)
);
COMMENT ON TABLE commerce.role_binding IS
  'Database login roles bound to one tenant and one actor (commerce.bind_role), for backends that call commerce_api over plain SQL: a session of such a role acts as the binding says, and no setting or claim can change it.';
SELECT commerce._declare_audited('commerce.role_binding', 'role_name', ARRAY['tenant_id', 'kind', 'subject']);

CREATE TABLE commerce.retention (
    tenant_id  bigint NOT NULL DEFAULT 0,
    what       text NOT NULL CHECK (what IN ('request_log', 'outbox.done', 'outbox.dead', 'play_event', 'click',
                                             'cron.job_run_details')),
    keep       interval NOT NULL CHECK (keep >= interval '1 day' AND keep <= interval '20 years'),
    PRIMARY KEY (tenant_id, what)
);
COMMENT ON TABLE commerce.retention IS
  'How long the purge job (commerce.purge_batch, job commerce-purge) keeps rows that only serve operations: idempotency keys, delivered and dead outbox messages, play funnel events, link clicks, and pg_cron''s run details of the commerce jobs. tenant_id 0 holds the defaults; a tenant row overrides one. Ledgers, orders and money are never purged.';
INSERT INTO commerce.retention (what, keep) VALUES
  ('request_log', '30 days'), ('outbox.done', '14 days'), ('outbox.dead', '90 days'),
  ('play_event', '180 days'), ('click', '400 days'), ('cron.job_run_details', '14 days');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-purge', '17 19 * * *', 'CALL commerce.purge_pump()');
SELECT commerce._declare_audited('commerce.retention', 'what', ARRAY['keep']);

CREATE TABLE commerce.audit_log (
    tenant_id      bigint NOT NULL,
    audit_id       bigint GENERATED ALWAYS AS IDENTITY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    operation      text NOT NULL CHECK (length(operation) BETWEEN 1 AND 64),
    object_key     text CHECK (length(object_key) <= 200),
    actor_kind     text,
    actor_subject  text,
    db_role        name NOT NULL DEFAULT session_user,
    acting_role    name NOT NULL DEFAULT current_user,
    client_addr    inet DEFAULT inet_client_addr(),
    forwarded_for  text CHECK (length(forwarded_for) <= 200),
    params         jsonb NOT NULL DEFAULT '{}',
    outcome        text CHECK (length(outcome) <= 200),
    PRIMARY KEY (tenant_id, audit_id)
);
COMMENT ON TABLE commerce.audit_log IS
  'Append-only log of sensitive operations (H4.3): refund decisions, withdrawal decisions, payouts and settlement batches, price changes, risk decisions, play settlement approvals and payouts, unmasked personal data reads and exports, staff, role bindings, retention and role grants. Who (verified actor, database role), when, from where (client address, X-Forwarded-For), what (operation, object, changed fields) and the outcome. tenant_id 0: cluster-level operations (grant_api, grant_jobs). Never purged.';
SELECT commerce._declare_append_only('commerce.audit_log');

-- ==== sql/src/catalog/tables.sql
-- sql/src/catalog/tables.sql: channels, member tiers, products, SKUs (physical
-- and virtual) and prices.

CREATE TABLE commerce.channel (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    channel_id bigint GENERATED BY DEFAULT AS IDENTITY,
    code       text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('self_operated', 'platform')),
    active     boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_id, channel_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE commerce.channel IS
  'A sales channel: self-operated (WeChat/Alipay mini-program, H5 site) or platform (Taobao/Tmall, Douyin, Xiaohongshu, PDD). New channels are rows, not code.';

CREATE TABLE commerce.member_tier (
    tenant_id bigint NOT NULL REFERENCES commerce.tenant,
    code      text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    name      text NOT NULL,
    rank      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, code)
);
COMMENT ON TABLE commerce.member_tier IS
  'Paid membership tiers (e.g. monthly, annual card, H3.6.2) that member prices refer to.';

CREATE TABLE commerce.product (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    product_id   bigint GENERATED BY DEFAULT AS IDENTITY,
    code         text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name         text NOT NULL,
    kind         text NOT NULL DEFAULT 'physical'
                 CHECK (kind IN ('physical', 'virtual')),
    virtual_kind text CHECK (virtual_kind IN
                 ('course', 'activation_code', 'membership_card', 'live_ticket')),
    brand        text,
    category     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, product_id),
    UNIQUE (tenant_id, code),
    CHECK ((kind = 'virtual') = (virtual_kind IS NOT NULL))
);
COMMENT ON TABLE commerce.product IS
  'A product (SPU): physical goods or virtual goods (course, activation code, membership card, live-room ticket), H3.1.1.';

CREATE TABLE commerce.sku (
    tenant_id  bigint NOT NULL,
    sku_id     bigint GENERATED BY DEFAULT AS IDENTITY,
    product_id bigint NOT NULL,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name       text NOT NULL,
    spec       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(spec) = 'object'),
    weight_g   integer CHECK (weight_g >= 0),
    volume_cm3 integer CHECK (volume_cm3 >= 0),
    msrp_fen   bigint NOT NULL CHECK (msrp_fen >= 0),
    cost_fen   bigint CHECK (cost_fen >= 0),
    floor_fen  bigint NOT NULL DEFAULT 0 CHECK (floor_fen >= 0),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    presale    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, sku_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, product_id) REFERENCES commerce.product
);
COMMENT ON TABLE commerce.sku IS
  'A sellable SKU with shipping attributes (weight, volume) and its price anchors: MSRP (the unified price), cost, and the floor no price may go below.';
COMMENT ON COLUMN commerce.sku.presale IS 'Sold before stock arrives (预售): ships apart from in-stock lines.';

CREATE TABLE commerce.price (
    tenant_id   bigint NOT NULL,
    price_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    sku_id      bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('channel', 'member', 'flash')),
    channel_id  bigint,
    member_tier text,
    price_fen   bigint NOT NULL CHECK (price_fen >= 0),
    valid_from  timestamptz NOT NULL DEFAULT '-infinity',
    valid_to    timestamptz NOT NULL DEFAULT 'infinity',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, price_id),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES commerce.sku,
    FOREIGN KEY (tenant_id, channel_id) REFERENCES commerce.channel,
    FOREIGN KEY (tenant_id, member_tier) REFERENCES commerce.member_tier,
    CHECK (valid_from < valid_to),
    CHECK (kind <> 'channel' OR (channel_id IS NOT NULL AND member_tier IS NULL)),
    CHECK (kind <> 'member' OR member_tier IS NOT NULL),
    CHECK (kind <> 'flash' OR (member_tier IS NULL
                               AND valid_from > '-infinity' AND valid_to < 'infinity'))
);
COMMENT ON TABLE commerce.price IS
  'Price list entries besides the MSRP: per-channel prices, member prices (per tier, optionally per channel) and time-boxed flash prices. A C trigger refuses any price below the SKU floor when it is set (23514).';
SELECT commerce._declare_audited('commerce.price', 'price_id', ARRAY['kind', 'channel_id', 'member_tier', 'price_fen', 'valid_from', 'valid_to']);

CREATE UNIQUE INDEX price_natural_key ON commerce.price
    (tenant_id, sku_id, kind, coalesce(channel_id, 0), coalesce(member_tier, ''),
     valid_from, valid_to);

-- ==== sql/src/catalog/prices.sql

CREATE TRIGGER before_10_floor_guard BEFORE INSERT OR UPDATE ON commerce.price
    FOR EACH ROW EXECUTE FUNCTION commerce.price_floor_guard();

CREATE TRIGGER before_10_floor_guard BEFORE INSERT OR UPDATE OF msrp_fen, floor_fen ON commerce.sku
    FOR EACH ROW EXECUTE FUNCTION commerce.sku_floor_guard();

-- ==== sql/src/customers/tables.sql
-- sql/src/customers/tables.sql: customers of a tenant (members module and CRM
-- grow this).

CREATE TABLE commerce.customer (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    customer_id bigint GENERATED BY DEFAULT AS IDENTITY,
    code        text NOT NULL CHECK (length(code) BETWEEN 1 AND 200),
    name        text,
    phone       text,
    member_tier text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    birthday    date CHECK (birthday BETWEEN '1900-01-01' AND '2100-01-01'),
    PRIMARY KEY (tenant_id, customer_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, member_tier) REFERENCES commerce.member_tier
);
COMMENT ON TABLE commerce.customer IS
  'A buyer of a tenant (identified by a code: a user id of the mini-program or H5 site), its member tier (member prices at checkout) and birthday (set once by the customer: birthday benefits). Its paid membership and other benefits are in customer_benefit.';

CREATE TABLE commerce.customer_benefit (
    tenant_id   bigint NOT NULL,
    benefit_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('member_discount', 'priority_shipping', 'birthday_double_points',
                                              'badge', 'priority_service')),
    rate_bp     integer NOT NULL DEFAULT 0 CHECK (rate_bp BETWEEN 0 AND 10000),
    label       text CHECK (length(label) <= 100),
    source      text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, benefit_id),
    UNIQUE (tenant_id, source, kind),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (valid_from <= valid_until)
);
COMMENT ON TABLE commerce.customer_benefit IS
  'A benefit a customer has from valid_from until valid_until, as data read at the moment of use: member_discount (rate_bp off every price at checkout, never below a SKU''s floor), priority_shipping (paid orders carry a ship-by deadline of 24 hours), birthday_double_points (purchases in the birthday month earn double), badge (label), priority_service (read by customer service). source names what granted it (membership:<id>), one row per source and kind.';

CREATE INDEX customer_benefit_active ON commerce.customer_benefit (tenant_id, customer_id, kind, valid_until);

-- ==== sql/src/outbox/tables.sql
-- sql/src/outbox/tables.sql: the outbox: every message to the outside world
-- (WeCom, SMS, payment, platforms, carriers).

CREATE TABLE commerce.outbox (
    tenant_id    bigint NOT NULL,
    message_id   bigint GENERATED BY DEFAULT AS IDENTITY,
    topic        text NOT NULL CHECK (topic ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    dedupe_key   text,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'claimed', 'done', 'dead')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz,
    claimed_by   text,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    PRIMARY KEY (tenant_id, message_id),
    UNIQUE (tenant_id, topic, dedupe_key)
);
-- The outbox loses its foreign key to the tenant, as the order and stock tables
-- did: every check locked the tenant row (FOR KEY SHARE), so all producers of
-- a tenant queued on one row; the producers check the tenant themselves
-- (commerce.enqueue calls _tenant, C producers run for rows of a known tenant).

COMMENT ON TABLE commerce.outbox IS
  'The only door to the outside world: messages claimed by external workers with a lease (SKIP LOCKED), then acked or failed; failures back off (immediately, 1 minute, 1 hour) and then become dead letters with an alert.';

CREATE INDEX outbox_ready ON commerce.outbox (topic, available_at)
    WHERE status IN ('pending', 'claimed');

-- ==== sql/src/inventory/tables.sql
-- sql/src/inventory/tables.sql: stock pools split into slots (no oversell by
-- CHECK), reservations and their lines, the stock movement ledger.

CREATE TABLE commerce.stock_pool (
    tenant_id           bigint NOT NULL,
    pool_id             bigint GENERATED BY DEFAULT AS IDENTITY,
    sku_id              bigint NOT NULL,
    warehouse_id        bigint NOT NULL,
    parent_pool_id      bigint,
    activity            text,
    activity_kind       text CHECK (activity_kind IN ('flash_sale', 'live_room', 'play')),
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    hold                interval CHECK (hold > '0'::interval),
    slot_count          integer NOT NULL CHECK (slot_count BETWEEN 1 AND 256),
    low_stock_threshold bigint NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    low_stock_alerted   boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    PRIMARY KEY (tenant_id, pool_id),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES commerce.sku,
    FOREIGN KEY (tenant_id, warehouse_id) REFERENCES commerce.warehouse,
    FOREIGN KEY (tenant_id, parent_pool_id) REFERENCES commerce.stock_pool,
    CHECK ((parent_pool_id IS NULL) = (activity IS NULL)),
    CHECK ((activity IS NULL) = (activity_kind IS NULL)),
    CHECK (parent_pool_id IS NOT NULL OR status = 'open')
);
COMMENT ON TABLE commerce.stock_pool IS
  'One stock pool per SKU and warehouse, sold on every channel; activity pools (flash sale, live room, play) hold stock pre-allocated from a root pool. The figures live in stock_slot rows so concurrent buyers of one hot SKU do not queue on one row.';

CREATE UNIQUE INDEX stock_pool_root ON commerce.stock_pool (tenant_id, sku_id, warehouse_id)
    WHERE parent_pool_id IS NULL;

CREATE UNIQUE INDEX stock_pool_activity ON commerce.stock_pool (tenant_id, activity, sku_id)
    WHERE parent_pool_id IS NOT NULL;

CREATE TABLE commerce.stock_slot (
    tenant_id bigint NOT NULL,
    pool_id   bigint NOT NULL,
    slot_no   integer NOT NULL,
    on_hand   bigint NOT NULL DEFAULT 0,
    reserved  bigint NOT NULL DEFAULT 0,
    sold      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, pool_id, slot_no),
    FOREIGN KEY (tenant_id, pool_id) REFERENCES commerce.stock_pool,
    CONSTRAINT stock_slot_no_oversell
        CHECK (slot_no >= 0 AND reserved >= 0 AND sold >= 0 AND reserved + sold <= on_hand)
) WITH (fillfactor = 50);
COMMENT ON TABLE commerce.stock_slot IS
  'A share of a pool''s stock. Pool figures are the sums over its slots; the CHECK (reserved + sold <= on_hand) makes oversell impossible slot by slot, hence pool by pool. Reservations take from one slot, skipping slots locked by other buyers.';

CREATE TABLE commerce.reservation (
    tenant_id         bigint NOT NULL,
    reservation_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id        text NOT NULL,
    holder            text NOT NULL,
    status            commerce.reservation_status NOT NULL DEFAULT 'active',
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    end_request_id    text,
    PRIMARY KEY (tenant_id, reservation_id),
    UNIQUE (tenant_id, request_id)
);
-- reservation, reservation_line and stock_movement have no foreign keys on
-- purpose: an FK check takes FOR KEY SHARE on the parent row, so every buyer
-- of one SKU would lock the same pool row (MultiXacts), and a line's check
-- would lock its fresh reservation row (one more WAL record per line). The
-- C entry points are their only writers and check the parents;
-- check_stock_invariants() looks for orphans.
COMMENT ON TABLE commerce.reservation IS
  'A hold on stock for a holder (an order, a cart, a flash-sale buyer) until expires_at. It ends exactly once: confirmed (sold), released, or expired by the pump; a C trigger enforces the state machine, stamps ended_at and checks request_id and holder (1 to 200 characters).';

CREATE INDEX reservation_due ON commerce.reservation (expires_at) WHERE status = 'active';

CREATE TABLE commerce.reservation_line (
    tenant_id      bigint NOT NULL,
    reservation_id bigint NOT NULL,
    line_no        integer NOT NULL,
    sku_id         bigint NOT NULL,
    pool_id        bigint NOT NULL,
    slot_no        integer NOT NULL,
    qty            bigint NOT NULL,
    returned_qty   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, reservation_id, line_no),
    CHECK (qty > 0 AND returned_qty BETWEEN 0 AND qty)
);
COMMENT ON TABLE commerce.reservation_line IS
  'The stock a reservation holds: one line per pool (cart lines on the same SKU are summed), and the slot it was taken from. returned_qty counts units sold and then returned.';

CREATE TABLE commerce.stock_movement (
    tenant_id      bigint NOT NULL,
    movement_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    pool_id        bigint NOT NULL,
    kind           commerce.stock_movement_kind NOT NULL,
    d_on_hand      bigint NOT NULL DEFAULT 0,
    d_reserved     bigint NOT NULL DEFAULT 0,
    d_sold         bigint NOT NULL DEFAULT 0,
    reservation_id bigint,
    request_id     text,
    note           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, movement_id)
);
COMMENT ON TABLE commerce.stock_movement IS
  'The append-only stock ledger: for every pool, the sums of d_on_hand, d_reserved and d_sold equal the pool''s on_hand, reserved and sold (commerce.check_stock_invariants verifies it).';

SELECT commerce._declare_append_only('commerce.stock_movement');

-- ==== sql/src/inventory/reserve.sql

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.reservation
    FOR EACH ROW EXECUTE FUNCTION commerce.reservation_state_guard();

-- ==== sql/src/inventory/invariants.sql
-- sql/src/inventory/invariants.sql: the stock view and
-- check_stock_invariants().

CREATE VIEW commerce.stock AS
SELECT p.tenant_id, p.pool_id, s.code AS sku, w.code AS warehouse, p.activity, p.activity_kind,
       p.status, p.parent_pool_id,
       sum(sl.on_hand)::bigint  AS on_hand,
       sum(sl.reserved)::bigint AS reserved,
       sum(sl.sold)::bigint     AS sold,
       sum(sl.on_hand - sl.reserved - sl.sold)::bigint AS available,
       p.low_stock_threshold, p.slot_count
  FROM commerce.stock_pool p
  JOIN commerce.sku s ON s.tenant_id = p.tenant_id AND s.sku_id = p.sku_id
  JOIN commerce.warehouse w ON w.tenant_id = p.tenant_id AND w.warehouse_id = p.warehouse_id
  JOIN commerce.stock_slot sl ON sl.tenant_id = p.tenant_id AND sl.pool_id = p.pool_id
 GROUP BY p.tenant_id, p.pool_id, s.code, w.code;
COMMENT ON VIEW commerce.stock IS 'Pool figures (sums over slots): on_hand, reserved, sold, available.';

-- ==== sql/src/coupons/tables.sql
-- sql/src/coupons/tables.sql: coupons (issue 13): templates (what a coupon
-- takes off, where, how long it lasts, how it stacks, how many a customer may
-- hold), batches (claimable stock split into slots so no claim ever passes
-- the batch), the per-customer counters, and the coupons themselves with
-- their guarded life: issued -> locked (by an order) -> used, or released
-- back to issued, or expired, or revoked.

CREATE TABLE commerce.coupon_template (
    tenant_id          bigint NOT NULL REFERENCES commerce.tenant,
    template_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    code               text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind               text NOT NULL CHECK (kind IN ('amount', 'percent')),
    amount_fen         bigint CHECK (amount_fen > 0),
    percent_off_bp     integer CHECK (percent_off_bp BETWEEN 1 AND 10000),
    max_off_fen        bigint CHECK (max_off_fen > 0),
    threshold_fen      bigint NOT NULL DEFAULT 0 CHECK (threshold_fen >= 0),
    valid_from         timestamptz,
    valid_until        timestamptz,
    valid_days         integer CHECK (valid_days BETWEEN 1 AND 3650),
    channel_ids        bigint[],
    product_ids        bigint[],
    sku_ids            bigint[],
    store_ids          bigint[],
    stacking           text NOT NULL DEFAULT 'exclusive' CHECK (stacking IN ('exclusive', 'stackable')),
    per_customer_limit integer CHECK (per_customer_limit BETWEEN 1 AND 1000),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, template_id),
    UNIQUE (tenant_id, code),
    CHECK ((kind = 'amount') = (amount_fen IS NOT NULL)),
    CHECK ((kind = 'percent') = (percent_off_bp IS NOT NULL)),
    CHECK (kind = 'percent' OR max_off_fen IS NULL),
    CHECK ((valid_days IS NULL) = (valid_until IS NOT NULL)),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);
COMMENT ON TABLE commerce.coupon_template IS
  'What a coupon is: kind amount (amount_fen off; with threshold_fen a 满减 "spend X, save Y", with 0 a no-threshold coupon) or percent (percent_off_bp off the eligible lines, at most max_off_fen); valid in a window (valid_from..valid_until) or for valid_days after it is issued; scope (channels, products, SKUs, stores: NULL = all); stacking (exclusive: the only coupon of its order; stackable: with other stackable coupons, one per template); at most per_customer_limit held by one customer (NULL: no limit).';

CREATE TABLE commerce.coupon_batch (
    tenant_id     bigint NOT NULL,
    batch_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    template_id   bigint NOT NULL,
    code          text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    quota         bigint CHECK (quota BETWEEN 1 AND 100000000),
    claimable     boolean NOT NULL DEFAULT true,
    claim_from    timestamptz,
    claim_until   timestamptz,
    slot_count    integer NOT NULL DEFAULT 1 CHECK (slot_count BETWEEN 1 AND 64),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, batch_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, template_id) REFERENCES commerce.coupon_template,
    CHECK (claim_from IS NULL OR claim_until IS NULL OR claim_from < claim_until),
    CHECK (quota IS NOT NULL OR slot_count = 1)
);
COMMENT ON TABLE commerce.coupon_batch IS
  'A batch of coupons of one template: quota (NULL: unlimited) split over slot_count coupon_slot rows, so that claims of a hot batch take from different rows and never pass the quota (a CHECK per slot); claimable by customers themselves between claim_from and claim_until, or only issued (rewards, flows, redemptions).';

CREATE TABLE commerce.coupon_slot (
    tenant_id bigint NOT NULL,
    batch_id  bigint NOT NULL,
    slot_no   integer NOT NULL CHECK (slot_no >= 0),
    quota     bigint,
    issued    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, batch_id, slot_no),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    CONSTRAINT coupon_slot_no_overissue CHECK (issued >= 0 AND (quota IS NULL OR issued <= quota))
) WITH (fillfactor = 50);
COMMENT ON TABLE commerce.coupon_slot IS
  'A share of a batch''s quota: the batch''s quota is the sum of its slots'' and what it issued the sum of theirs; the CHECK (issued <= quota) makes issuing more than the batch impossible slot by slot. A claim takes from a slot no other claim holds (SKIP LOCKED), waiting only when all are held.';

CREATE TABLE commerce.coupon_holder (
    tenant_id   bigint NOT NULL,
    template_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    issued      bigint NOT NULL DEFAULT 0 CHECK (issued >= 0),
    PRIMARY KEY (tenant_id, template_id, customer_id),
    FOREIGN KEY (tenant_id, template_id) REFERENCES commerce.coupon_template,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer
);
COMMENT ON TABLE commerce.coupon_holder IS
  'How many coupons of a template a customer was ever issued (the per-customer limit counts these); the row orders every issue of that template to that customer (locked first), so a retried request finds the coupon its first attempt made.';

CREATE TABLE commerce.coupon (
    tenant_id    bigint NOT NULL,
    coupon_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    template_id  bigint NOT NULL,
    batch_id     bigint NOT NULL,
    slot_no      integer NOT NULL,
    customer_id  bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('claim', 'issue', 'reward', 'redeem', 'flow')),
    source_key   text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
    status       text NOT NULL CHECK (status IN ('issued', 'locked', 'used', 'expired', 'revoked')),
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    order_id     bigint,
    issued_at    timestamptz NOT NULL,
    locked_at    timestamptz,
    ended_at     timestamptz,
    releases     integer NOT NULL DEFAULT 0 CHECK (releases >= 0),
    PRIMARY KEY (tenant_id, coupon_id),
    UNIQUE (tenant_id, source, source_key),
    FOREIGN KEY (tenant_id, template_id) REFERENCES commerce.coupon_template,
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (valid_from < valid_until),
    CHECK ((status IN ('locked', 'used')) = (order_id IS NOT NULL)),
    CHECK ((status IN ('used', 'expired', 'revoked')) = (ended_at IS NOT NULL))
);
COMMENT ON TABLE commerce.coupon IS
  'A coupon held by a customer, issued exactly once per source event (unique per source and key: a claim''s request_id, a reward, a flow step, a redemption): issued -> locked by an order (order_id) -> used when the order is paid; released back to issued when the order is cancelled or its payment times out (releases counts how often); issued -> expired after valid_until (the coupons pump); issued -> revoked when what issued it is reversed (a points-mall redemption). Used, expired and revoked coupons are ended (ended_at).';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.coupon
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'issued',
        'issued>locked', 'locked>issued', 'locked>used', 'issued>expired', 'issued>revoked');

CREATE INDEX coupon_customer ON commerce.coupon (tenant_id, customer_id, status, valid_until);
CREATE INDEX coupon_order ON commerce.coupon (tenant_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX coupon_expiring ON commerce.coupon (valid_until) WHERE status = 'issued';
CREATE INDEX coupon_batch_coupons ON commerce.coupon (tenant_id, batch_id);

-- ==== sql/src/coupons/issue.sql

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-coupons', '*/10 * * * *', 'CALL commerce.coupons_pump()');

-- ==== sql/src/orders/tables.sql

-- orders and order_line carry no foreign keys to tenant, channel, SKU or their
-- order (as in inventory): an FK check takes FOR KEY SHARE on the parent row, so
-- every order of a channel, and every buyer of a hot SKU, would lock the same
-- row (MultiXacts). The order entry points are the only writers and check the
-- parents; commerce.check_order_invariants() looks for orphans.
CREATE TABLE commerce.orders (
    tenant_id                bigint NOT NULL,
    order_id                 bigint GENERATED BY DEFAULT AS IDENTITY,
    channel_id               bigint NOT NULL,
    external_order_id        text NOT NULL CHECK (length(external_order_id) BETWEEN 1 AND 200),
    request_id               text,
    customer_id              bigint,
    buyer_ref                text,
    receiver_name            text,
    receiver_phone           text,
    receiver_region          text,
    receiver_city            text,
    receiver_address         text,
    goods_fen                bigint NOT NULL CHECK (goods_fen >= 0),
    discount_fen             bigint NOT NULL DEFAULT 0 CHECK (discount_fen >= 0),
    shipping_fen             bigint NOT NULL DEFAULT 0 CHECK (shipping_fen >= 0),
    payable_fen              bigint NOT NULL CHECK (payable_fen >= 0),
    paid_fen                 bigint,
    refunded_fen             bigint NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0),
    status                   commerce.order_status NOT NULL DEFAULT 'pending_payment',
    status_before_after_sale commerce.order_status,
    reservation_id           bigint,
    pay_deadline             timestamptz,
    payment_id               text,
    source_activity          text,
    source_instance_id       bigint,
    koc_id                   bigint,
    koc_task_id              bigint,
    attributed_at            timestamptz,
    platform_status          text,
    platform_modified_at     timestamptz,
    payload                  jsonb,
    oversell                 boolean NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    paid_at                  timestamptz,
    shipped_at               timestamptz,
    completed_at             timestamptz,
    cancelled_at             timestamptz,
    after_sale_at            timestamptz,
    refunded_at              timestamptz,
    click_id                 bigint,
    status_reason            text,
    ship_by                  timestamptz,
    PRIMARY KEY (tenant_id, order_id),
    UNIQUE (tenant_id, channel_id, external_order_id),
    UNIQUE (tenant_id, request_id),
    CHECK (payable_fen = goods_fen - discount_fen + shipping_fen)
);
COMMENT ON TABLE commerce.orders IS
  'Orders from every channel in one model: self-operated orders placed with commerce.place_order, platform orders ingested from their payloads. One state machine (C trigger): pending_payment -> paid -> shipped -> completed, pending_payment -> cancelled, paid/shipped/completed -> after_sale -> refunded or back. Amounts in fen; payable = goods - discount + shipping. koc_* fields are filled by the KOC module.';
COMMENT ON COLUMN commerce.orders.status_reason IS
  'Why this statement changes the order''s status: set it in the UPDATE (or INSERT) that changes status; the state machine writes it to order_status_history and clears it, so it is NULL at rest and never carried over to a later change.';
COMMENT ON COLUMN commerce.orders.ship_by IS 'When a paid order must be shipped by: 24 hours after payment for a customer with priority shipping (a paid membership benefit), else NULL. Fulfilment ships the earliest first.';
COMMENT ON COLUMN commerce.orders.koc_id IS 'The KOC the order is attributed to (last click within the window), set at placement and frozen.';

CREATE INDEX orders_unpaid_due ON commerce.orders (pay_deadline)
    WHERE status = 'pending_payment' AND pay_deadline IS NOT NULL;

CREATE TABLE commerce.order_line (
    tenant_id      bigint NOT NULL,
    order_id       bigint NOT NULL,
    line_no        integer NOT NULL,
    sku_id         bigint NOT NULL,
    qty            bigint NOT NULL CHECK (qty > 0),
    unit_price_fen bigint NOT NULL CHECK (unit_price_fen >= 0),
    price_source   text,
    amount_fen     bigint NOT NULL CHECK (amount_fen = unit_price_fen * qty),
    PRIMARY KEY (tenant_id, order_id, line_no)
);
COMMENT ON TABLE commerce.order_line IS
  'The lines of an order: SKU, quantity, the unit price the order was sold at and where it came from (msrp/channel/member/flash for self-operated orders, platform for platform orders).';

CREATE TABLE commerce.order_discount (
    tenant_id  bigint NOT NULL,
    order_id   bigint NOT NULL,
    line_no    integer NOT NULL,
    coupon_id  bigint NOT NULL,
    amount_fen bigint NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (tenant_id, order_id, line_no, coupon_id),
    FOREIGN KEY (tenant_id, order_id, line_no) REFERENCES commerce.order_line,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon
);
COMMENT ON TABLE commerce.order_discount IS
  'What each coupon of an order took off each line, in fen (the order''s coupon discount split over its eligible lines by the largest remainder, never taking a line below its SKU''s floor): refunds and commissions of a line use its amount less these. The order''s discount_fen includes their sum.';

CREATE INDEX order_discount_coupon ON commerce.order_discount (tenant_id, coupon_id);

CREATE TABLE commerce.order_status_history (
    tenant_id   bigint NOT NULL,
    history_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    order_id    bigint NOT NULL,
    from_status commerce.order_status,
    to_status   commerce.order_status NOT NULL,
    changed_at  timestamptz NOT NULL,
    reason      text,
    PRIMARY KEY (tenant_id, history_id)
);
COMMENT ON TABLE commerce.order_status_history IS
  'Every status an order took, written by the state-machine trigger (append-only): from, to, when, and the reason the entry point gave.';

CREATE INDEX order_status_history_order ON commerce.order_status_history (tenant_id, order_id);

SELECT commerce._declare_append_only('commerce.order_status_history');

CREATE TABLE commerce.payment_exception (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    payment_id   text NOT NULL,
    order_id     bigint NOT NULL,
    amount_fen   bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('after_cancel', 'duplicate')),
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, payment_id)
);
COMMENT ON TABLE commerce.payment_exception IS
  'Payments that cannot be accepted: arriving after the order was cancelled (or its deadline passed), or a second payment of a paid order. Each is recorded once and a payment.refund message goes to the outbox; never silently accepted.';

CREATE TABLE commerce.platform_profile (
    tenant_id             bigint NOT NULL DEFAULT 0,
    channel_code          text NOT NULL,
    order_id_path         jsonpath NOT NULL,
    status_path           jsonpath NOT NULL,
    modified_path         jsonpath NOT NULL,
    modified_format       text NOT NULL CHECK (modified_format IN ('local', 'iso', 'epoch', 'epoch_ms')),
    buyer_path            jsonpath,
    receiver_name_path    jsonpath,
    receiver_phone_path   jsonpath,
    receiver_region_path  jsonpath,
    receiver_city_path    jsonpath,
    receiver_address_path jsonpath,
    goods_path            jsonpath NOT NULL,
    discount_path         jsonpath,
    shipping_path         jsonpath,
    amount_unit           text NOT NULL CHECK (amount_unit IN ('yuan', 'fen')),
    lines_path            jsonpath NOT NULL,
    line_sku_path         jsonpath NOT NULL,
    line_qty_path         jsonpath NOT NULL,
    line_price_path       jsonpath NOT NULL,
    PRIMARY KEY (tenant_id, channel_code)
);
COMMENT ON TABLE commerce.platform_profile IS
  'Where each field of a platform''s order payload is (SQL/JSON paths), its time format and amount unit. tenant_id 0 holds the defaults every tenant uses unless it has its own row; a new platform is a new row, not code.';
-- Representative payloads of each platform are in test/fixtures/platform/.
INSERT INTO commerce.platform_profile VALUES
  (0, 'taobao', '$.tid', '$.status', '$.modified', 'local', '$.buyer_nick', '$.receiver_name',
   '$.receiver_mobile', '$.receiver_state', '$.receiver_city', '$.receiver_address',
   '$.total_fee', '$.discount_fee', '$.post_fee', 'yuan', '$.orders.order[*]', '$.outer_sku_id',
   '$.num', '$.price'),
  (0, 'douyin', '$.order_id', '$.order_status', '$.update_time', 'epoch', '$.open_id',
   '$.post_receiver', '$.post_tel', '$.post_addr.province.name', '$.post_addr.city.name',
   '$.post_addr.detail', '$.order_amount', '$.promotion_amount', '$.post_amount', 'fen',
   '$.sku_order_list[*]', '$.code', '$.item_num', '$.origin_amount'),
  (0, 'xiaohongshu', '$.orderId', '$.orderStatus', '$.updateTime', 'epoch_ms', '$.userId',
   '$.receiver.name', '$.receiver.phone', '$.receiver.province', '$.receiver.city',
   '$.receiver.address', '$.totalAmount', '$.merchantDiscount', '$.expressFee', 'fen',
   '$.skuList[*]', '$.skuCode', '$.quantity', '$.price'),
  (0, 'pdd', '$.order_sn', '$.order_status', '$.updated_at', 'local', '$.buyer_id',
   '$.receiver_name', '$.receiver_phone', '$.province', '$.city', '$.address',
   '$.goods_amount', '$.discount_amount', '$.postage', 'yuan', '$.item_list[*]', '$.outer_id',
   '$.goods_count', '$.goods_price');

CREATE TABLE commerce.platform_status_map (
    tenant_id       bigint NOT NULL DEFAULT 0,
    channel_code    text NOT NULL,
    platform_status text NOT NULL,
    status          commerce.order_status NOT NULL,
    PRIMARY KEY (tenant_id, channel_code, platform_status)
);
COMMENT ON TABLE commerce.platform_status_map IS
  'Platform status words mapped to the unified order status (H3.2.3); tenant_id 0 holds the defaults, a tenant row overrides one.';
INSERT INTO commerce.platform_status_map (channel_code, platform_status, status) VALUES
  ('taobao', 'WAIT_BUYER_PAY', 'pending_payment'),
  ('taobao', 'WAIT_SELLER_SEND_GOODS', 'paid'),
  ('taobao', 'WAIT_BUYER_CONFIRM_GOODS', 'shipped'),
  ('taobao', 'TRADE_BUYER_SIGNED', 'shipped'),
  ('taobao', 'TRADE_FINISHED', 'completed'),
  ('taobao', 'TRADE_CLOSED_BY_TAOBAO', 'cancelled'),
  ('taobao', 'REFUND_REQUESTED', 'after_sale'),
  ('taobao', 'TRADE_CLOSED', 'refunded'),
  ('douyin', '1', 'pending_payment'),
  ('douyin', '2', 'paid'),
  ('douyin', '3', 'shipped'),
  ('douyin', '4', 'cancelled'),
  ('douyin', '5', 'completed'),
  ('douyin', '21', 'after_sale'),
  ('douyin', '22', 'refunded'),
  ('xiaohongshu', '1', 'pending_payment'),
  ('xiaohongshu', '4', 'paid'),
  ('xiaohongshu', '6', 'shipped'),
  ('xiaohongshu', '7', 'completed'),
  ('xiaohongshu', '8', 'cancelled'),
  ('xiaohongshu', '9', 'after_sale'),
  ('xiaohongshu', '10', 'refunded'),
  ('pdd', '0', 'pending_payment'),
  ('pdd', '1', 'paid'),
  ('pdd', '2', 'shipped'),
  ('pdd', '3', 'completed'),
  ('pdd', '4', 'cancelled'),
  ('pdd', '5', 'after_sale'),
  ('pdd', '6', 'refunded');

CREATE TABLE commerce.routing_rule (
    tenant_id    bigint NOT NULL DEFAULT 0,
    rule_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    priority     integer NOT NULL,
    regions      text[],
    min_weight_g bigint CHECK (min_weight_g >= 0),
    remote       boolean,
    carrier      text NOT NULL CHECK (carrier ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    note         text,
    PRIMARY KEY (tenant_id, rule_id)
);
COMMENT ON TABLE commerce.routing_rule IS
  'Logistics routing as data (H3.3.2): rules tried by priority, first match wins; a rule matches when its set conditions hold (receiver region in regions, parcel weight >= min_weight_g, remote region). tenant_id 0 rows are the defaults for tenants without rules of their own. Evaluated in C by commerce.route_carrier.';
INSERT INTO commerce.routing_rule (tenant_id, priority, regions, min_weight_g, remote, carrier, note) VALUES
  (0, 10, NULL, 20001, NULL, 'deppon', 'parcels over 20 kg: heavy carrier'),
  (0, 20, NULL, NULL, true, 'ems', 'remote areas: EMS covers them'),
  (0, 30, ARRAY['浙江省', '浙江', '江苏省', '江苏', '上海市', '上海'], NULL, NULL, 'zto', 'Jiangsu, Zhejiang, Shanghai: low cost, fast'),
  (0, 40, ARRAY['广东省', '广东', '福建省', '福建'], NULL, NULL, 'sf', 'Guangdong, Fujian: service quality'),
  (0, 1000, NULL, NULL, NULL, 'yto', 'everywhere else');

CREATE TABLE commerce.remote_region (
    tenant_id bigint NOT NULL DEFAULT 0,
    regions   text[] NOT NULL,
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE commerce.remote_region IS 'Regions carriers treat as remote (偏远地区); tenant 0 holds the default list.';
INSERT INTO commerce.remote_region (tenant_id, regions) VALUES
  (0, ARRAY['新疆维吾尔自治区', '新疆', '西藏自治区', '西藏', '青海省', '青海', '内蒙古自治区', '内蒙古']);

CREATE TABLE commerce.shipment (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    shipment_id bigint GENERATED BY DEFAULT AS IDENTITY,
    order_id    bigint NOT NULL,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    carrier     text NOT NULL,
    tracking_no text,
    weight_g    bigint NOT NULL CHECK (weight_g >= 0),
    shipped_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, shipment_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES commerce.orders
);
COMMENT ON TABLE commerce.shipment IS
  'A parcel of an order: carrier (routed or chosen), tracking number, weight. Creating one ships the order, queues its waybill print job and, for platform orders, the write-back of the tracking number.';

CREATE TABLE commerce.after_sale (
    tenant_id     bigint NOT NULL REFERENCES commerce.tenant,
    after_sale_id bigint GENERATED BY DEFAULT AS IDENTITY,
    order_id      bigint NOT NULL,
    request_id    text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    kind          commerce.after_sale_kind NOT NULL,
    status        text NOT NULL DEFAULT 'requested',
    reason        text,
    refund_fen    bigint NOT NULL DEFAULT 0 CHECK (refund_fen >= 0),
    lines         jsonb NOT NULL DEFAULT '[]',
    decision_note text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    decided_at    timestamptz,
    completed_at  timestamptz,
    first_approver text CHECK (length(first_approver) BETWEEN 1 AND 64),
    first_approved_at timestamptz,
    PRIMARY KEY (tenant_id, after_sale_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES commerce.orders,
    CHECK (status IN ('requested', 'approved', 'rejected', 'goods_returned', 'refunded', 'exchanged'))
);
COMMENT ON TABLE commerce.after_sale IS
  'After-sale requests: refund only, return and refund, exchange. requested -> approved | rejected; approved -> refunded (refund only) or goods_returned -> refunded | exchanged. One open request per order. The order is after_sale while one is open. A refund of at least the tenant''s refund_second_approval_fen needs two different approvers: the first is recorded (first_approver), the second approves.';
SELECT commerce._declare_audited('commerce.after_sale', 'after_sale_id', ARRAY['status', 'refund_fen', 'decision_note',
                                                                               'first_approver']);

CREATE UNIQUE INDEX after_sale_one_open ON commerce.after_sale (tenant_id, order_id)
    WHERE status IN ('requested', 'approved', 'goods_returned');

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.after_sale
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'requested', 'qualifier=kind',
        'requested>approved', 'requested>rejected',
        'return_refund:approved>goods_returned', 'exchange:approved>goods_returned',
        'refund_only:approved>refunded', 'return_refund:goods_returned>refunded',
        'exchange:goods_returned>exchanged');

CREATE TABLE commerce.order_event (
    tenant_id  bigint NOT NULL,
    event_id   bigint GENERATED BY DEFAULT AS IDENTITY,
    order_id   bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('refund')),
    source_key text NOT NULL,
    amount_fen bigint NOT NULL,
    lines      jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id),
    UNIQUE (tenant_id, source_key)
);
COMMENT ON TABLE commerce.order_event IS
  'Append-only events other modules consume, one per source event (source_key unique): a refund is the reversal the commission module turns into a negative commission line.';

SELECT commerce._declare_append_only('commerce.order_event');

CREATE TABLE commerce.bill_line (
    tenant_id         bigint NOT NULL REFERENCES commerce.tenant,
    source            text NOT NULL,
    bill_date         date NOT NULL,
    line_no           integer NOT NULL,
    external_order_id text NOT NULL,
    amount_fen        bigint NOT NULL,
    refund_fen        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, source, bill_date, line_no)
);
COMMENT ON TABLE commerce.bill_line IS
  'A day''s bill from a platform or payment provider (source = the channel code), as imported; a re-import of the same source and day replaces it.';

CREATE TABLE commerce.recon_difference (
    tenant_id         bigint NOT NULL REFERENCES commerce.tenant,
    source            text NOT NULL,
    bill_date         date NOT NULL,
    external_order_id text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('missing_in_bill', 'missing_in_orders',
                                                    'amount_mismatch', 'refund_mismatch')),
    our_fen           bigint,
    bill_fen          bigint,
    PRIMARY KEY (tenant_id, source, bill_date, external_order_id, kind)
);
COMMENT ON TABLE commerce.recon_difference IS
  'Differences between a day''s bill and commerce''s orders (marked red for an operator, H3.7.1): an order missing on either side, a paid amount or a refund that differs.';

CREATE TABLE commerce.recon_run (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    source       text NOT NULL,
    bill_date    date NOT NULL,
    run_at       timestamptz NOT NULL,
    our_orders   integer NOT NULL,
    bill_orders  integer NOT NULL,
    our_fen      bigint NOT NULL,
    bill_fen     bigint NOT NULL,
    our_refund   bigint NOT NULL,
    bill_refund  bigint NOT NULL,
    differences  integer NOT NULL,
    PRIMARY KEY (tenant_id, source, bill_date)
);
COMMENT ON TABLE commerce.recon_run IS 'The last reconciliation of each source and day: counts, amounts, refunds on both sides, and the number of differences.';

-- ==== sql/src/orders/state.sql

CREATE TRIGGER before_20_state_guard BEFORE INSERT OR UPDATE ON commerce.orders
    FOR EACH ROW EXECUTE FUNCTION commerce.order_state_guard();

-- ==== sql/src/orders/coupons.sql

CREATE TRIGGER after_05_coupons AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (OLD.status = 'pending_payment' AND NEW.status <> 'pending_payment' AND NEW.discount_fen > 0)
    EXECUTE FUNCTION commerce._coupons_on_order();

-- ==== sql/src/orders/platform.sql

-- A view of orders for operators.
CREATE VIEW commerce.order_overview AS
SELECT o.tenant_id, o.order_id, c.code AS channel, o.external_order_id, o.status, o.payable_fen,
       o.oversell, o.created_at, o.paid_at, o.shipped_at
  FROM commerce.orders o JOIN commerce.channel c USING (tenant_id, channel_id);
COMMENT ON VIEW commerce.order_overview IS 'Orders with their channel code, for operators.';

-- ==== sql/src/koc/tables.sql
-- sql/src/koc/tables.sql: KOC levels, KOCs, tasks, signing secrets, clicks,
-- applications, agreements, the money tables (accounts, commission lines,
-- batches, withdrawals, ledger), level runs, risk flags and the audit log
-- (K03-K22).

CREATE TABLE commerce.koc_level (
    tenant_id bigint NOT NULL REFERENCES commerce.tenant,
    code      text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    name      text NOT NULL,
    rank      integer NOT NULL,
    bonus_bp  integer NOT NULL DEFAULT 0 CHECK (bonus_bp BETWEEN 0 AND 10000),
    promotion_rule jsonb,
    vote_rights boolean NOT NULL DEFAULT false,
    airdrop   boolean NOT NULL DEFAULT false,
    materials text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, code),
    UNIQUE (tenant_id, rank)
);
COMMENT ON TABLE commerce.koc_level IS
  'KOC levels of a tenant (default bronze, silver, gold), lowest rank first; bonus_bp is the commission bonus of the level (gold +500 bp = +5%) (K05, K06).';
COMMENT ON COLUMN commerce.koc_level.vote_rights IS 'Benefit: the KOCs of this level vote on new products.';
COMMENT ON COLUMN commerce.koc_level.airdrop IS 'Benefit: the KOCs of this level receive airdrops (new-product samples).';
COMMENT ON COLUMN commerce.koc_level.materials IS 'Benefit: references of exclusive materials for this level and above.';

CREATE TABLE commerce.koc (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    koc_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    customer_id bigint,
    name        text NOT NULL,
    region      text,
    level_code  text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'suspended')),
    joined_at   timestamptz NOT NULL DEFAULT now(),
    tags        text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, koc_id),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, level_code) REFERENCES commerce.koc_level
);
COMMENT ON TABLE commerce.koc IS
  'A key opinion consumer: a customer who promotes the tenant in their own circles, at a level, active or frozen (risk control).';
COMMENT ON COLUMN commerce.koc.tags IS 'Tags of the KOC (e.g. mom, fitness, campus) that tasks can target.';

CREATE TABLE commerce.koc_task (
    tenant_id     bigint NOT NULL REFERENCES commerce.tenant,
    task_id       bigint GENERATED BY DEFAULT AS IDENTITY,
    code          text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    title         text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    rate_bp       integer NOT NULL DEFAULT 0 CHECK (rate_bp BETWEEN 0 AND 10000),
    bounty_fen    bigint NOT NULL DEFAULT 0 CHECK (bounty_fen >= 0),
    goal          integer CHECK (goal > 0),
    target_levels text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    target_tags   text[],
    materials     text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, task_id),
    UNIQUE (tenant_id, code),
    CHECK (starts_at < ends_at)
);
COMMENT ON TABLE commerce.koc_task IS
  'A promotion task (K08): its window, the levels it targets, and its reward: a commission rate in basis points or a fixed bounty per redemption; the goal in redemptions.';
COMMENT ON COLUMN commerce.koc_task.target_tags IS 'The task is open to KOCs with one of these tags (NULL: any); with target_levels both must match.';
COMMENT ON COLUMN commerce.koc_task.materials IS 'References of the task''s materials (posters, copy, videos) in the material library.';

CREATE TABLE commerce.tenant_secret (
    tenant_id   bigint PRIMARY KEY REFERENCES commerce.tenant,
    link_secret bytea NOT NULL CHECK (length(link_secret) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE commerce.tenant_secret IS
  'The key tracking codes of a tenant are signed with (HMAC-SHA256), made on the first code. Never exposed through the API.';
REVOKE ALL ON commerce.tenant_secret FROM PUBLIC;

-- clicks carry no foreign keys (as the stock tables): link traffic must not
-- lock the KOC row; the link functions check the parents.
CREATE TABLE commerce.click (
    tenant_id  bigint NOT NULL,
    click_id   bigint GENERATED BY DEFAULT AS IDENTITY,
    koc_id     bigint NOT NULL,
    task_id    bigint,
    channel_id bigint,
    visitor_id text NOT NULL,
    ip         inet,
    user_agent text,
    clicked_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, click_id)
);
COMMENT ON TABLE commerce.click IS
  'Clicks on tracking links (K12): who followed which KOC''s link for which task and share channel, from where. Repeats within the tenant''s dedupe window are not stored again.';

CREATE TABLE commerce.koc_application (
    tenant_id       bigint NOT NULL REFERENCES commerce.tenant,
    application_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id      text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    customer_id     bigint NOT NULL,
    social_accounts jsonb NOT NULL,
    note            text,
    status          text NOT NULL DEFAULT 'submitted',
    reviewer        text,
    decision_reason text,
    reviewed_at     timestamptz,
    koc_id          bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, application_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (status IN ('submitted', 'approved', 'rejected')),
    CHECK (status = 'submitted' OR (reviewer IS NOT NULL AND reviewed_at IS NOT NULL)),
    CHECK (status <> 'rejected' OR decision_reason IS NOT NULL)
);
COMMENT ON TABLE commerce.koc_application IS
  'Applications to become a KOC (K03) with the applicant''s social accounts; a store or HQ reviewer approves (the KOC is created at the lowest level) or rejects with a reason. One open application per customer.';

CREATE UNIQUE INDEX koc_application_one_open ON commerce.koc_application (tenant_id, customer_id)
    WHERE status = 'submitted';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.koc_application
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'submitted',
        'submitted>approved', 'submitted>rejected');

CREATE TABLE commerce.agreement (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    version      integer NOT NULL CHECK (version > 0),
    title        text NOT NULL,
    body         text NOT NULL CHECK (length(body) > 0),
    body_sha256  text NOT NULL CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
    published_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
COMMENT ON TABLE commerce.agreement IS
  'Versions of the KOC agreement (commission and content rules, K04): the exact text and its SHA-256. Published versions never change; the highest version is the current one.';

SELECT commerce._declare_append_only('commerce.agreement');

CREATE TABLE commerce.agreement_signature (
    tenant_id   bigint NOT NULL,
    koc_id      bigint NOT NULL,
    version     integer NOT NULL,
    signer_name text NOT NULL,
    client_ip   inet,
    text_sha256 text NOT NULL,
    signed_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, koc_id, version),
    FOREIGN KEY (tenant_id, koc_id) REFERENCES commerce.koc,
    FOREIGN KEY (tenant_id, version) REFERENCES commerce.agreement
);
COMMENT ON TABLE commerce.agreement_signature IS
  'The evidence of a KOC signing an agreement version: who, when, from which IP, and the SHA-256 of the exact text signed (append-only).';

SELECT commerce._declare_append_only('commerce.agreement_signature');

-- the new-customer test of a redemption looks at the buyer's earlier orders
CREATE INDEX orders_customer ON commerce.orders (tenant_id, customer_id, paid_at)
    WHERE customer_id IS NOT NULL;

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
COMMENT ON TABLE commerce.koc_account IS
  'The money of a KOC: lines 1..settled_seq are settled (settled_fen in all); the settled money is withdrawable (balance), in flight to the payment provider, paid, or taken as fees. unsettled_fen and last_payable_at sum up the lines after settled_seq (when last_payable_at has passed, all of them are payable and settlement reads no line). due_at: when the settlement pump should look again (NULL: nothing to do, or held until the KOC is active and has signed). The row is the lock that orders the KOC''s lines, settlements and withdrawals.';

CREATE INDEX koc_account_due ON commerce.koc_account (due_at) WHERE due_at IS NOT NULL;

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
COMMENT ON TABLE commerce.commission_line IS
  'The commission ledger (append-only): an earn line when an attributed order is redeemed (completed), base x (task rate + level bonus) rounded down to the fen, plus the task bounty; a reverse line (negative) for each refund. Rate, level and rule are snapshotted. Unique per source event; numbered per KOC (seq) so settlement can take a prefix.';
COMMENT ON COLUMN commerce.commission_line.rule IS 'The formula version: floor-v1 = floor(base_fen x rate_bp / 10000) + bounty_fen; a reversal takes back the difference of that formula before and after the refund.';
COMMENT ON COLUMN commerce.commission_line.payable_at IS 'Earn: redemption + the tenant''s settle_hold (T+0.5). Reverse: at once.';

CREATE INDEX commission_line_order ON commerce.commission_line (tenant_id, order_id);

CREATE INDEX commission_line_time ON commerce.commission_line (tenant_id, occurred_at);

SELECT commerce._declare_append_only('commerce.commission_line');

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
COMMENT ON TABLE commerce.settle_batch IS
  'A settlement of a KOC''s payable lines from_seq..to_seq netted into one amount. Positive: paying -> paid | failed (failed money goes to the balance). Zero or negative: netted at once (a negative amount is taken from the balance). Ends exactly once.';
-- (a batch is written by the settlement job from the ledger; what is audited is its payout result)
SELECT commerce._declare_audited('commerce.settle_batch', 'batch_id', ARRAY['status', 'amount_fen', 'provider_ref', 'failure_reason'],
                                 p_inserts => false);

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.settle_batch
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'paying,netted',
        'paying>paid', 'paying>failed');

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
COMMENT ON TABLE commerce.withdrawal IS
  'A KOC takes money out of the balance to WeChat, Alipay or a bank card (K14): requested (the amount leaves the balance) -> approved (payout request in the outbox) -> paid | failed, or requested -> rejected; rejected and failed money goes back to the balance. The fee is kept from the amount paid.';
SELECT commerce._declare_audited('commerce.withdrawal', 'withdrawal_id', ARRAY['status', 'amount_fen', 'reviewer', 'reason', 'provider_ref']);

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.withdrawal
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'requested',
        'requested>approved', 'requested>rejected', 'approved>paid', 'approved>failed');

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
COMMENT ON TABLE commerce.koc_ledger IS
  'Every movement of a KOC''s settled money (append-only): the sums of the deltas equal koc_account''s columns, and each entry keeps settled = balance + in flight + paid + fees.';

CREATE INDEX koc_ledger_koc ON commerce.koc_ledger (tenant_id, koc_id);

SELECT commerce._declare_append_only('commerce.koc_ledger');

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
COMMENT ON TABLE commerce.koc_level_change IS
  'Level changes made by the monthly recalculation, with the month''s figures that justified them (append-only).';

SELECT commerce._declare_append_only('commerce.koc_level_change');

CREATE INDEX click_koc ON commerce.click (tenant_id, koc_id, clicked_at);

CREATE INDEX click_visitor ON commerce.click (tenant_id, visitor_id, koc_id, clicked_at);

CREATE INDEX orders_koc_task ON commerce.orders (tenant_id, koc_id, koc_task_id) WHERE koc_id IS NOT NULL;

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
COMMENT ON TABLE commerce.koc_risk_flag IS
  'A risk rule''s finding about a KOC with its evidence (K22): open (the KOC is frozen, its commission held) -> cleared (false alarm, the KOC is active again) | confirmed (fraud: the KOC is suspended and its unsettled commission voided). One open flag per KOC and rule.';
SELECT commerce._declare_audited('commerce.koc_risk_flag', 'flag_id', ARRAY['status', 'reviewer', 'reason']);

CREATE UNIQUE INDEX koc_risk_flag_open ON commerce.koc_risk_flag (tenant_id, koc_id, rule) WHERE status = 'open';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.koc_risk_flag
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'open', 'open>cleared', 'open>confirmed');

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
COMMENT ON TABLE commerce.koc_audit IS
  'Every risk and status decision about a KOC: who (a rule or a reviewer), what, why, when (append-only).';

CREATE INDEX koc_audit_koc ON commerce.koc_audit (tenant_id, koc_id);

SELECT commerce._declare_append_only('commerce.koc_audit');

-- ==== sql/src/koc/attribution.sql

CREATE TRIGGER before_10_attribution BEFORE INSERT OR UPDATE OF koc_id, koc_task_id, attributed_at, click_id
    ON commerce.orders FOR EACH ROW EXECUTE FUNCTION commerce.order_attribution();

-- ==== sql/src/koc/commission.sql

CREATE TRIGGER after_10_koc_account_rearm AFTER INSERT ON commerce.agreement_signature
    FOR EACH ROW EXECUTE FUNCTION commerce._koc_account_rearm();

CREATE TRIGGER after_10_account_rearm AFTER UPDATE OF status ON commerce.koc
    FOR EACH ROW WHEN (NEW.status = 'active' AND OLD.status IS DISTINCT FROM 'active')
    EXECUTE FUNCTION commerce._koc_account_rearm();

CREATE TRIGGER after_10_commission_on_redeem AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed'
                       AND NEW.koc_id IS NOT NULL)
    EXECUTE FUNCTION commerce.commission_on_redeem();

CREATE TRIGGER after_10_commission_on_refund AFTER INSERT ON commerce.order_event
    FOR EACH ROW WHEN (NEW.kind = 'refund')
    EXECUTE FUNCTION commerce.commission_on_refund();

-- ==== sql/src/plays/tables.sql
-- sql/src/plays/tables.sql: play templates, store configs, instances,
-- participants, user assets, consumption, helps, invites, blacklists, events,
-- split rules and store settlements.

CREATE TABLE commerce.play_template (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    code        text NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]{1,39}$'),
    kind        text NOT NULL CHECK (kind IN ('group_buy', 'flash_sale', 'bargain', 'invite_reward')),
    name        text NOT NULL,
    unit_name   text NOT NULL CHECK (length(unit_name) BETWEEN 1 AND 20),
    rule_schema jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
COMMENT ON TABLE commerce.play_template IS
  'A play HQ offers its stores (M1.2): GROUP_BUY, FLASH_SALE, BARGAIN, INVITE_REWARD or any code of one of those kinds, the schema its store rules must follow, and the unit what it sells is counted in (lessons, hours, bags).';

CREATE TABLE commerce.play_config (
    tenant_id      bigint NOT NULL,
    config_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    code           text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    request_id     text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    template_code  text NOT NULL,
    store_id       bigint NOT NULL,
    sku_id         bigint NOT NULL,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    price_fen      bigint NOT NULL CHECK (price_fen > 0),
    stock          bigint NOT NULL CHECK (stock > 0),
    activity       text NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    cities         text[],
    new_users_only boolean NOT NULL DEFAULT false,
    per_user_limit integer CHECK (per_user_limit > 0),
    mutex_group    text,
    asset_type     text CHECK (asset_type IN ('COURSE', 'SERVICE', 'GOODS')),
    units_per_sale bigint NOT NULL DEFAULT 1 CHECK (units_per_sale > 0),
    rules          jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    created_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    user_rate_per_minute integer CHECK (user_rate_per_minute > 0),
    ip_rate_per_minute integer CHECK (ip_rate_per_minute > 0),
    PRIMARY KEY (tenant_id, config_id),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, template_code) REFERENCES commerce.play_template,
    FOREIGN KEY (tenant_id, store_id) REFERENCES commerce.store,
    CHECK (starts_at < ends_at),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
COMMENT ON TABLE commerce.play_config IS
  'A store applies a template to one of its SKUs or services (M2.1): the play price, the stock pre-allocated from the shared pool to the activity play:<code>, the window, where it is seen (cities; NULL: everywhere), who may join (new users only, a per-user limit, a mutex group) and the rules, checked against the template''s schema with its defaults filled in. What is sold becomes units_per_sale units of an asset of asset_type. The terms never change after creation; a config is closed and a new one made.';
COMMENT ON COLUMN commerce.play_config.user_rate_per_minute IS
  'Admitted actions (joins, purchases, bargain starts and helps, invitations) one customer may make on the play in a minute; NULL: no limit. Set with commerce.set_play_limits.';
COMMENT ON COLUMN commerce.play_config.ip_rate_per_minute IS
  'Admitted actions from one IP on the play in a minute; NULL: no limit.';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.play_config
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'active', 'active>closed');

CREATE TABLE commerce.play_instance (
    tenant_id          bigint NOT NULL,
    instance_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    config_id          bigint NOT NULL,
    leader_customer_id bigint NOT NULL,
    status             text NOT NULL,
    current            integer NOT NULL DEFAULT 0,
    target             integer NOT NULL CHECK (target > 0),
    deadline           timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    request_id         text CHECK (length(request_id) BETWEEN 1 AND 200),
    price_fen          bigint CHECK (price_fen >= 0),
    PRIMARY KEY (tenant_id, instance_id),
    FOREIGN KEY (tenant_id, config_id) REFERENCES commerce.play_config,
    CHECK (status IN ('pending', 'active', 'success', 'failed')),
    CHECK (current BETWEEN 0 AND target),
    CHECK ((status IN ('success', 'failed')) = (ended_at IS NOT NULL)),
    CHECK (status <> 'success' OR current = target),
    CONSTRAINT play_instance_request_id_key UNIQUE (tenant_id, request_id)
);
COMMENT ON TABLE commerce.play_instance IS
  'One run of a play (M2.1): a group or a bargain being filled. status is the single truth: pending -> active -> success | failed (C trigger); progress is current of target, and current never exceeds target (CHECK, under the instance row lock).';
COMMENT ON COLUMN commerce.play_instance.price_fen IS
  'A bargain''s current price: the play price less every helper''s cut, never below the rule''s floor_fen. NULL for group buys.';

CREATE INDEX play_instance_due ON commerce.play_instance (deadline) WHERE status IN ('pending', 'active');

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.play_instance
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'pending,active',
        'pending>active', 'pending>failed', 'active>success', 'active>failed');

CREATE TABLE commerce.play_participant (
    tenant_id   bigint NOT NULL,
    instance_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('leader', 'member', 'virtual')),
    order_id    bigint,
    status      text NOT NULL DEFAULT 'joined',
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, instance_id, customer_id),
    UNIQUE (tenant_id, request_id),
    CHECK ((role = 'virtual') = (order_id IS NULL)),
    CONSTRAINT play_participant_status_check CHECK (status IN ('held', 'joined', 'refunding', 'refunded'))
);
COMMENT ON TABLE commerce.play_participant IS
  'The members of a group with their orders; virtual members fill a group at its deadline when the rules allow it (no order). A customer who joins before paying holds a place (held) until its order is paid (joined) or cancelled (the place is given back). A member of a failed group is refunding until the payment provider confirms the refund (commerce.complete_refund).';
COMMENT ON COLUMN commerce.play_participant.status IS
  'held while the member''s order awaits payment (the place counts in current; the group cannot succeed until it is paid); joined once paid; refunding when the group failed and the refund is under way; refunded once the payment provider confirmed it (commerce.complete_refund).';

-- The held places of a group: what a payment, a cancellation and the success check look up at every
-- join (without it each scanned the group's members: join_ceiling 572-699 vs 770-880 joins/s).
CREATE INDEX play_participant_held ON commerce.play_participant (tenant_id, instance_id, order_id)
    WHERE status = 'held';

CREATE TABLE commerce.user_asset (
    tenant_id          bigint NOT NULL,
    asset_id           bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id        bigint NOT NULL,
    asset_type         text NOT NULL CHECK (asset_type IN ('COURSE', 'SERVICE', 'GOODS')),
    unit_name          text NOT NULL,
    total              bigint NOT NULL CHECK (total > 0),
    remaining          bigint NOT NULL,
    source_activity    text,
    source_instance_id bigint,
    order_id           bigint NOT NULL,
    created_at         timestamptz NOT NULL,
    voided_at          timestamptz,
    PRIMARY KEY (tenant_id, asset_id),
    UNIQUE (tenant_id, order_id),
    CHECK (remaining BETWEEN 0 AND total)
);
COMMENT ON TABLE commerce.user_asset IS
  'What a customer bought and consumes over time (M2.2): 10 lessons, 150 hours, 200 bags; remaining never goes below zero (CHECK, under the asset row lock). One asset per order, with the activity and instance it came from.';
COMMENT ON COLUMN commerce.user_asset.voided_at IS
  'When the order was fully refunded: what was left of the asset is void (remaining 0).';

CREATE INDEX user_asset_customer ON commerce.user_asset (tenant_id, customer_id);

CREATE TABLE commerce.consumption_log (
    tenant_id       bigint NOT NULL,
    consumption_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id      text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    asset_id        bigint NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    store_id        bigint NOT NULL,
    operator        text NOT NULL,
    source_activity text,
    consumed_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, consumption_id),
    UNIQUE (tenant_id, request_id)
);
COMMENT ON TABLE commerce.consumption_log IS
  'Each consumption (核销) of an asset: amount, store, operator and the activity the asset came from (append-only). The first consumption redeems the order (completed), which earns an attributed order its KOC commission.';

CREATE INDEX consumption_log_asset ON commerce.consumption_log (tenant_id, asset_id);

SELECT commerce._declare_append_only('commerce.consumption_log');

CREATE TABLE commerce.play_blacklist (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    kind       text NOT NULL CHECK (kind IN ('user', 'ip', 'device')),
    value      text NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
    reason     text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (tenant_id, kind, value)
);
COMMENT ON TABLE commerce.play_blacklist IS
  'Who may not take part in any play of the tenant (M3, eligibility): a customer (kind user, by customer code), an IP or a device id, with a reason and an optional end. Checked in C by every play entry point (PT403).';

CREATE TABLE commerce.play_event (
    tenant_id   bigint NOT NULL,
    event_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    config_id   bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('view', 'join', 'start', 'buy', 'help', 'invite')),
    customer_id bigint,
    ip          text CHECK (length(ip) <= 64),
    device      text CHECK (length(device) <= 200),
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
COMMENT ON TABLE commerce.play_event IS
  'What happened on a play: views (recorded by commerce.record_play_view) and the actions eligibility admitted (start, join, buy, help, invite). The dashboard''s funnel and the rate limits count these rows. Kept without foreign keys, like the order tables, so that a hot play takes no lock on its config.';

CREATE INDEX play_event_customer ON commerce.play_event (tenant_id, config_id, customer_id, at);

CREATE INDEX play_event_ip ON commerce.play_event (tenant_id, config_id, ip, at) WHERE ip IS NOT NULL;

CREATE TABLE commerce.play_help (
    tenant_id   bigint NOT NULL,
    instance_id bigint NOT NULL,
    helper_id   bigint NOT NULL,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    cut_fen     bigint NOT NULL CHECK (cut_fen > 0),
    price_after bigint NOT NULL CHECK (price_after >= 0),
    helped_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, instance_id, helper_id),
    UNIQUE (tenant_id, request_id)
);
COMMENT ON TABLE commerce.play_help IS
  'The helpers of a bargain: each cut the price once by the rule''s cut_fen (the last cut stops at the floor). Append-only; the instance''s price_fen is the play price less the sum of the cuts.';

SELECT commerce._declare_append_only('commerce.play_help');

CREATE TABLE commerce.play_invite (
    tenant_id   bigint NOT NULL,
    invite_id   bigint GENERATED BY DEFAULT AS IDENTITY,
    config_id   bigint NOT NULL,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    inviter_id  bigint NOT NULL,
    invitee_id  bigint NOT NULL,
    status      text NOT NULL,
    invited_at  timestamptz NOT NULL,
    order_id    bigint,
    rewarded_at timestamptz,
    reward_fen  bigint CHECK (reward_fen >= 0),
    invitee_reward_fen bigint CHECK (invitee_reward_fen >= 0),
    PRIMARY KEY (tenant_id, invite_id),
    UNIQUE (tenant_id, request_id),
    UNIQUE (tenant_id, invitee_id),
    FOREIGN KEY (tenant_id, config_id) REFERENCES commerce.play_config,
    CHECK (inviter_id <> invitee_id),
    CHECK (status IN ('invited', 'rewarded', 'capped', 'lapsed')),
    CHECK ((status = 'invited') = (order_id IS NULL)),
    CHECK ((status = 'rewarded') = (rewarded_at IS NOT NULL AND reward_fen IS NOT NULL))
);
COMMENT ON TABLE commerce.play_invite IS
  'Invite-reward (老带新, M3): who brought which new customer. A customer is invited once per tenant (the first invitation counts). On the invitee''s first paid order the invite ends exactly once: rewarded (the inviter''s reward_fen and the invitee''s invitee_reward_fen go out through the outbox), capped (the inviter already had max_rewards) or lapsed (the play was no longer running).';

CREATE INDEX play_invite_inviter ON commerce.play_invite (tenant_id, config_id, inviter_id);

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.play_invite
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'invited',
        'invited>rewarded', 'invited>capped', 'invited>lapsed');

CREATE TABLE commerce.play_split_rule (
    tenant_id      bigint NOT NULL REFERENCES commerce.tenant,
    template_code  text NOT NULL,
    store_share_bp integer NOT NULL CHECK (store_share_bp BETWEEN 0 AND 10000),
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, template_code)
);
COMMENT ON TABLE commerce.play_split_rule IS
  'How a store''s activity income is split with HQ: the store''s share in basis points, per template (template_code * for the tenant''s default). The rule in force at application is copied onto the settlement.';

CREATE TABLE commerce.play_settlement (
    tenant_id      bigint NOT NULL,
    settlement_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id     text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    config_id      bigint NOT NULL,
    store_id       bigint NOT NULL,
    status         text NOT NULL,
    orders         integer NOT NULL CHECK (orders > 0),
    income_fen     bigint NOT NULL CHECK (income_fen > 0),
    store_share_bp integer NOT NULL CHECK (store_share_bp BETWEEN 0 AND 10000),
    store_fen      bigint NOT NULL CHECK (store_fen >= 0),
    hq_fen         bigint NOT NULL CHECK (hq_fen >= 0),
    applied_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    decided_by     text,
    reason         text,
    payout_attempt integer NOT NULL DEFAULT 0,
    paid_at        timestamptz,
    provider_ref   text,
    PRIMARY KEY (tenant_id, settlement_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, config_id) REFERENCES commerce.play_config,
    CHECK (store_fen + hq_fen = income_fen),
    CHECK ((status = 'applied') = (decided_at IS NULL)),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
COMMENT ON TABLE commerce.play_settlement IS
  'A store''s settlement of a play''s income (M7): the completed orders not settled before, their income (paid less refunded), split into the store''s and HQ''s parts by the split rule (they add up exactly: CHECK). applied -> approved (payout to the store through the outbox) -> paid | failed (approved again to retry); applied -> rejected releases the orders.';
SELECT commerce._declare_audited('commerce.play_settlement', 'settlement_id', ARRAY['status', 'store_fen', 'hq_fen', 'decided_by', 'reason', 'provider_ref']);

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.play_settlement
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'applied',
        'applied>approved', 'applied>rejected', 'approved>paid', 'approved>failed', 'failed>approved');

CREATE TABLE commerce.play_settlement_order (
    tenant_id     bigint NOT NULL,
    settlement_id bigint NOT NULL,
    order_id      bigint NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    released      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, settlement_id, order_id),
    FOREIGN KEY (tenant_id, settlement_id) REFERENCES commerce.play_settlement
);
COMMENT ON TABLE commerce.play_settlement_order IS
  'The orders a settlement covers, each in at most one settlement that was not rejected (unique index); a rejection releases them for the next application.';

CREATE UNIQUE INDEX play_settlement_order_once ON commerce.play_settlement_order (tenant_id, order_id) WHERE NOT released;

-- ==== sql/src/plays/configs.sql

CREATE TRIGGER before_20_terms BEFORE INSERT ON commerce.play_config
    FOR EACH ROW EXECUTE FUNCTION commerce._play_config_terms();

-- ==== sql/src/plays/visibility.sql

CREATE VIEW commerce.play_display AS
SELECT c.tenant_id, c.config_id, c.code, c.title, t.kind, t.unit_name, s.code AS store, s.city AS store_city,
       c.price_fen, sk.msrp_fen, c.starts_at, c.ends_at, c.cities, c.status,
       coalesce(p.available, 0) AS available,
       CASE WHEN c.status = 'closed' OR commerce.now() >= c.ends_at THEN 'ended'
            WHEN commerce.now() < c.starts_at THEN 'not_started'
            WHEN coalesce(p.available, 0) <= 0 THEN 'sold_out'
            ELSE 'open' END AS display_state
  FROM commerce.play_config c
  JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
  JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
  JOIN commerce.sku sk ON sk.tenant_id = c.tenant_id AND sk.sku_id = c.sku_id
  LEFT JOIN LATERAL (SELECT sum(sl.on_hand - sl.reserved - sl.sold)::bigint AS available
                       FROM commerce.stock_pool sp
                       JOIN commerce.stock_slot sl ON sl.tenant_id = sp.tenant_id AND sl.pool_id = sp.pool_id
                      WHERE sp.tenant_id = c.tenant_id AND sp.activity = c.activity AND sp.sku_id = c.sku_id
                        AND sp.status = 'open') p ON true;
COMMENT ON VIEW commerce.play_display IS
  'Rule layer 2 (display time): each play config with what is left and its display state: not_started, open, sold_out or ended.';

-- ==== sql/src/plays/order_effects.sql

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

-- ==== sql/src/members/tables.sql
-- sql/src/members/tables.sql: points (seed 003 3.6.3, PR10, K17): earn rules
-- per channel, an account per customer, lots (each earned once per source
-- event, pending until the return window ends, then available until they
-- expire), the append-only ledger of every movement, and spends.

CREATE TABLE commerce.points_rule (
    tenant_id       bigint NOT NULL REFERENCES commerce.tenant,
    channel_id      bigint NOT NULL,
    earn_on         text NOT NULL DEFAULT 'paid' CHECK (earn_on IN ('paid', 'completed')),
    points_per_yuan integer NOT NULL DEFAULT 1 CHECK (points_per_yuan BETWEEN 0 AND 1000),
    pending_days    integer NOT NULL DEFAULT 7 CHECK (pending_days BETWEEN 0 AND 365),
    expire_days     integer NOT NULL DEFAULT 365 CHECK (expire_days BETWEEN 1 AND 3650),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES commerce.channel
);
COMMENT ON TABLE commerce.points_rule IS
  'How purchases earn points on a channel (PR10): points per yuan paid (1 = 1 yuan, 1 point), earned when the order is paid or completed, pending for pending_days (the return window) and then available for expire_days. A channel without a rule earns nothing.';

CREATE TABLE commerce.points_account (
    tenant_id   bigint NOT NULL,
    customer_id bigint NOT NULL,
    available   bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    pending     bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    earned      bigint NOT NULL DEFAULT 0 CHECK (earned >= 0),
    spent       bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    expired     bigint NOT NULL DEFAULT 0 CHECK (expired >= 0),
    reversed    bigint NOT NULL DEFAULT 0 CHECK (reversed >= 0),
    unrecovered bigint NOT NULL DEFAULT 0 CHECK (unrecovered >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (available + pending = earned - spent - expired - reversed)
);
COMMENT ON TABLE commerce.points_account IS
  'A customer''s points: available to spend and pending (in a return window), with everything earned, spent, expired and reversed by refunds (available + pending = earned - spent - expired - reversed, a CHECK); unrecovered counts the points a refund should have taken back but the customer had already spent (never taken below zero). The row orders every movement of the customer''s points (locked FOR UPDATE).';

CREATE TABLE commerce.points_lot (
    tenant_id    bigint NOT NULL,
    lot_id       bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id  bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('purchase', 'grant', 'interaction', 'checkin', 'task', 'refund')),
    source_key   text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
    order_id     bigint,
    earn_fen     bigint CHECK (earn_fen > 0),
    points       bigint NOT NULL CHECK (points > 0),
    remaining    bigint NOT NULL,
    reversed     bigint NOT NULL DEFAULT 0,
    status       text NOT NULL CHECK (status IN ('pending', 'available', 'closed')),
    available_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, lot_id),
    UNIQUE (tenant_id, source, source_key),
    CHECK (remaining BETWEEN 0 AND points),
    CHECK (reversed BETWEEN 0 AND points),
    CHECK (available_at < expires_at),
    CHECK ((status = 'closed') = (remaining = 0)),
    CHECK ((source = 'purchase') = (order_id IS NOT NULL AND earn_fen IS NOT NULL))
);
COMMENT ON TABLE commerce.points_lot IS
  'Points earned at once from one source event (a purchase: its order; a grant, a check-in, a task: its key; a refund: the points-mall redemption reversed), exactly once (unique per source and key): pending until available_at (the return window), then available until expires_at; spent earliest expiry first. remaining is what is left of it, reversed what refunds of its order took back (from it or, when it was spent, from other lots); earn_fen the amount a purchase earned it on; a lot with nothing left is closed.';

CREATE INDEX points_lot_spendable ON commerce.points_lot (tenant_id, customer_id, expires_at, lot_id)
    WHERE status = 'available';
CREATE INDEX points_lot_due ON commerce.points_lot (available_at) WHERE status = 'pending';
CREATE INDEX points_lot_expiring ON commerce.points_lot (expires_at) WHERE status = 'available';

CREATE INDEX points_lot_period ON commerce.points_lot (tenant_id, customer_id, source, created_at);

CREATE TABLE commerce.points_cap (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    source     text NOT NULL CHECK (source IN ('interaction', 'task')),
    period     text NOT NULL CHECK (period IN ('day', 'month')),
    max_points bigint NOT NULL CHECK (max_points BETWEEN 1 AND 100000000),
    PRIMARY KEY (tenant_id, source)
);
COMMENT ON TABLE commerce.points_cap IS
  'The most points interactions or tasks earn one customer in a tenant-local day or month (commerce.earn_points earns what is left of it, then nothing).';

CREATE TABLE commerce.points_ledger (
    tenant_id       bigint NOT NULL,
    entry_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id     bigint NOT NULL,
    lot_id          bigint,
    kind            text NOT NULL CHECK (kind IN ('earn', 'release', 'spend', 'expire', 'reverse', 'unrecovered')),
    delta_available bigint NOT NULL,
    delta_pending   bigint NOT NULL,
    request_id      text,
    reason          text,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
);
COMMENT ON TABLE commerce.points_ledger IS
  'Every movement of points (append-only): earned (pending or available), released from pending, spent, expired, reversed by a refund, or recorded as unrecovered (spent before the refund; no delta). Per customer the deltas add up to the account''s available and pending (check_points_invariants).';

CREATE INDEX points_ledger_customer ON commerce.points_ledger (tenant_id, customer_id, entry_id);

SELECT commerce._declare_append_only('commerce.points_ledger');

CREATE TABLE commerce.points_spend (
    tenant_id   bigint NOT NULL,
    spend_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    customer_id bigint NOT NULL,
    points      bigint NOT NULL CHECK (points > 0),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, spend_id),
    UNIQUE (tenant_id, request_id)
);
COMMENT ON TABLE commerce.points_spend IS
  'A spend of points (a points-mall redemption, a manual deduction): once per request_id; the lots it took from are in the ledger under the same request_id.';

CREATE TABLE commerce.points_checkin_rule (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    points       integer NOT NULL DEFAULT 5 CHECK (points BETWEEN 1 AND 100000),
    streak_days  integer NOT NULL DEFAULT 7 CHECK (streak_days BETWEEN 2 AND 365),
    streak_bonus integer NOT NULL DEFAULT 0 CHECK (streak_bonus BETWEEN 0 AND 100000),
    expire_days  integer NOT NULL DEFAULT 365 CHECK (expire_days BETWEEN 1 AND 3650),
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE commerce.points_checkin_rule IS
  'The daily check-in of a tenant (PR10): points a check-in earns, and a bonus on every streak_days-th day in a row; points last expire_days. A tenant without a rule has no check-in.';

CREATE TABLE commerce.points_checkin (
    tenant_id   bigint NOT NULL,
    customer_id bigint NOT NULL,
    day         date NOT NULL,
    streak      integer NOT NULL CHECK (streak >= 1),
    points      bigint NOT NULL CHECK (points > 0),
    lot_id      bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, day)
);
COMMENT ON TABLE commerce.points_checkin IS
  'A customer''s check-in of one tenant-local day (once: the key), its streak (days in a row, this one included) and the points it earned (the lot).';

-- Paid membership (seed 003 3.6.2): plans sold as orders of a virtual SKU,
-- memberships with their periods, and the monthly gifts.

CREATE TABLE commerce.membership_plan (
    tenant_id         bigint NOT NULL REFERENCES commerce.tenant,
    plan_id           bigint GENERATED BY DEFAULT AS IDENTITY,
    code              text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    sku_id            bigint NOT NULL,
    months            integer NOT NULL CHECK (months BETWEEN 1 AND 36),
    discount_bp       integer NOT NULL DEFAULT 0 CHECK (discount_bp BETWEEN 0 AND 10000),
    priority_shipping boolean NOT NULL DEFAULT false,
    birthday_double   boolean NOT NULL DEFAULT false,
    priority_service  boolean NOT NULL DEFAULT false,
    badge             text CHECK (length(badge) BETWEEN 1 AND 100),
    gift_batch_id     bigint,
    grace_days        integer NOT NULL DEFAULT 3 CHECK (grace_days BETWEEN 0 AND 30),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plan_id),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, sku_id),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES commerce.sku,
    FOREIGN KEY (tenant_id, gift_batch_id) REFERENCES commerce.coupon_batch
);
COMMENT ON TABLE commerce.membership_plan IS
  'A paid membership plan (monthly 9.9 yuan, yearly 99 yuan, ...): sold as orders of its SKU (a virtual membership_card product, priced like any SKU), each paid order extending the membership by months; its benefits: discount_bp off every price at checkout (500 = pays 95%), priority shipping (24-hour ship-by), double purchase points in the birthday month, priority customer service, a badge, and a monthly gift (one coupon of gift_batch_id per member per month); grace_days past due before it expires.';

CREATE TABLE commerce.membership (
    tenant_id      bigint NOT NULL,
    membership_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id    bigint NOT NULL,
    plan_id        bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending_payment', 'active', 'past_due', 'cancelled', 'expired')),
    period_end     timestamptz,
    started_at     timestamptz,
    cancelled_at   timestamptz,
    ended_at       timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, membership_id),
    UNIQUE (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, plan_id) REFERENCES commerce.membership_plan,
    CHECK (status NOT IN ('active', 'past_due', 'cancelled') OR period_end IS NOT NULL),
    CHECK (status <> 'pending_payment' OR period_end IS NULL),
    CHECK ((status = 'expired') = (ended_at IS NOT NULL))
);
COMMENT ON TABLE commerce.membership IS
  'A customer''s paid membership (one per customer): pending_payment (bought, not yet paid) -> active (paid through period_end) -> past_due (period over, renewal not paid, within the plan''s grace days) -> expired (or at once without grace days); active or past_due -> cancelled (no renewal; benefits last to period_end) -> expired; a paid renewal makes it active again. Every paid order of the plan''s SKU extends period_end once (membership_period).';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.membership
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'pending_payment,active',
        'pending_payment>active', 'pending_payment>expired', 'active>past_due', 'active>cancelled', 'active>expired',
        'past_due>active', 'past_due>cancelled', 'past_due>expired', 'cancelled>active', 'cancelled>expired',
        'expired>pending_payment', 'expired>active');

CREATE INDEX membership_due ON commerce.membership (period_end) WHERE status IN ('active', 'past_due', 'cancelled');

CREATE TABLE commerce.membership_period (
    tenant_id     bigint NOT NULL,
    membership_id bigint NOT NULL,
    order_id      bigint NOT NULL,
    plan_id       bigint NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, order_id),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES commerce.membership,
    FOREIGN KEY (tenant_id, order_id) REFERENCES commerce.orders,
    CHECK (starts_at < ends_at)
);
COMMENT ON TABLE commerce.membership_period IS
  'A period a paid order bought (append-only): once per order (the key), so the same payment posted twice extends once; the periods of a membership follow each other without gaps or overlaps, and the last one ends at its period_end.';

CREATE INDEX membership_period_membership ON commerce.membership_period (tenant_id, membership_id, starts_at);

SELECT commerce._declare_append_only('commerce.membership_period');

CREATE TABLE commerce.membership_gift (
    tenant_id     bigint NOT NULL,
    membership_id bigint NOT NULL,
    month         date NOT NULL CHECK (extract(day FROM month) = 1),
    coupon_id     bigint,
    outcome       text NOT NULL CHECK (outcome IN ('issued', 'batch_closed', 'all_claimed')),
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, membership_id, month),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES commerce.membership,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon,
    CHECK ((outcome = 'issued') = (coupon_id IS NOT NULL))
);
COMMENT ON TABLE commerce.membership_gift IS
  'The monthly gift of a member for a tenant-local month, granted exactly once (the key): the coupon issued, or why none was (the gift batch closed or all claimed).';

-- Rewards (PR13, invite rewards): points, a coupon or a blind box drawn from
-- prize stock with known odds, granted exactly once per source event.

CREATE TABLE commerce.blind_box (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    box_id     bigint GENERATED BY DEFAULT AS IDENTITY,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, box_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE commerce.blind_box IS
  'A blind box (盲盒): a reward that draws one of its prizes at random, each with a weight (its odds among the prizes still in stock) and a stock of its own.';

CREATE TABLE commerce.blind_box_prize (
    tenant_id bigint NOT NULL,
    box_id    bigint NOT NULL,
    prize_no  integer NOT NULL CHECK (prize_no BETWEEN 1 AND 100),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind      text NOT NULL CHECK (kind IN ('points', 'coupon', 'nothing')),
    points    bigint CHECK (points BETWEEN 1 AND 100000000),
    batch_id  bigint,
    weight    integer NOT NULL CHECK (weight BETWEEN 1 AND 1000000),
    quota     bigint CHECK (quota BETWEEN 1 AND 100000000),
    issued    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, box_id, prize_no),
    FOREIGN KEY (tenant_id, box_id) REFERENCES commerce.blind_box,
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    CHECK ((kind = 'points') = (points IS NOT NULL)),
    CHECK ((kind = 'coupon') = (batch_id IS NOT NULL)),
    CONSTRAINT blind_box_prize_no_overissue CHECK (issued >= 0 AND (quota IS NULL OR issued <= quota))
);
COMMENT ON TABLE commerce.blind_box_prize IS
  'A prize of a blind box: points, a coupon of a batch, or nothing; drawn with probability weight / the weights of the prizes still in stock; never issued beyond its quota (a CHECK; NULL: no limit).';

CREATE TABLE commerce.reward_grant (
    tenant_id   bigint NOT NULL,
    grant_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    source_key  text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
    customer_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('points', 'coupon', 'blind_box')),
    box_id      bigint,
    prize_no    integer,
    points      bigint,
    lot_id      bigint,
    coupon_id   bigint,
    outcome     text NOT NULL CHECK (outcome IN ('granted', 'failed')),
    error       text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, grant_id),
    UNIQUE (tenant_id, source_key),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, box_id, prize_no) REFERENCES commerce.blind_box_prize,
    FOREIGN KEY (tenant_id, lot_id) REFERENCES commerce.points_lot,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon,
    CHECK ((kind = 'blind_box') = (box_id IS NOT NULL)),
    CHECK ((outcome = 'failed') = (error IS NOT NULL))
);
COMMENT ON TABLE commerce.reward_grant IS
  'A reward granted to a customer, exactly once per source event (the key: an invite, a campaign, a flow step): the points lot, the coupon, or the blind box prize drawn; a reward a trigger could not grant (its coupon batch all claimed) is recorded failed with the reason, never retried silently.';

CREATE TABLE commerce.invite_reward_rule (
    tenant_id      bigint NOT NULL,
    config_id      bigint NOT NULL,
    inviter_reward jsonb,
    invitee_reward jsonb,
    PRIMARY KEY (tenant_id, config_id),
    FOREIGN KEY (tenant_id, config_id) REFERENCES commerce.play_config
);
COMMENT ON TABLE commerce.invite_reward_rule IS
  'What an invite play grants in the database when an invite is rewarded (besides the reward_fen its outbox message carries): a reward for the inviter and one for the invitee ({"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"}).';

-- The points mall (3.6.3): goods from the stock pool, coupons and memberships
-- for points; each redemption once per request_id.

CREATE TABLE commerce.points_mall_item (
    tenant_id          bigint NOT NULL REFERENCES commerce.tenant,
    item_id            bigint GENERATED BY DEFAULT AS IDENTITY,
    code               text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind               text NOT NULL CHECK (kind IN ('goods', 'coupon', 'membership')),
    points             bigint NOT NULL CHECK (points BETWEEN 1 AND 100000000),
    sku_id             bigint,
    batch_id           bigint,
    plan_id            bigint,
    per_customer_limit integer CHECK (per_customer_limit BETWEEN 1 AND 1000),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, item_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES commerce.sku,
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    FOREIGN KEY (tenant_id, plan_id) REFERENCES commerce.membership_plan,
    CHECK ((kind = 'goods') = (sku_id IS NOT NULL)),
    CHECK ((kind = 'coupon') = (batch_id IS NOT NULL)),
    CHECK ((kind = 'membership') = (plan_id IS NOT NULL))
);
COMMENT ON TABLE commerce.points_mall_item IS
  'Something the points mall sells for points (each unit costs points): goods (a SKU, shipped from the stock pool as an order paid with points, so never oversold), a coupon of a batch (within its quota), or a paid membership plan (5,000 points for a monthly card: one period); at most per_customer_limit redemptions per customer.';

CREATE TABLE commerce.points_redemption (
    tenant_id     bigint NOT NULL,
    redemption_id bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id    text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    customer_id   bigint NOT NULL,
    item_id       bigint NOT NULL,
    qty           integer NOT NULL CHECK (qty BETWEEN 1 AND 100),
    points        bigint NOT NULL CHECK (points > 0),
    order_id      bigint,
    coupon_id     bigint,
    status        text NOT NULL CHECK (status IN ('redeemed', 'reversed')),
    created_at    timestamptz NOT NULL,
    reversed_at   timestamptz,
    reverse_reason text,
    PRIMARY KEY (tenant_id, redemption_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, item_id) REFERENCES commerce.points_mall_item,
    FOREIGN KEY (tenant_id, order_id) REFERENCES commerce.orders,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon,
    CHECK ((status = 'reversed') = (reversed_at IS NOT NULL))
);
COMMENT ON TABLE commerce.points_redemption IS
  'A points-mall redemption, once per request_id: the points it spent (the spend redeem:<request_id>), and what it gave: the order of the goods or of the membership card (paid with points), or the coupon. Reversed (the points given back as a lot, the coupon revoked) while what it gave is unused.';

CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.points_redemption
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'redeemed', 'redeemed>reversed');

-- ==== sql/src/members/points.sql

CREATE TRIGGER after_40_points AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN ((OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
                       OR (NEW.status = 'completed' AND OLD.status <> 'completed')
                       OR NEW.refunded_fen > OLD.refunded_fen)
    EXECUTE FUNCTION commerce._points_on_order();

CREATE TRIGGER after_41_points_insert AFTER INSERT ON commerce.orders
    FOR EACH ROW WHEN (NEW.paid_at IS NOT NULL)
    EXECUTE FUNCTION commerce._points_on_order();

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-points', '*/10 * * * *', 'CALL commerce.points_pump()');

-- ==== sql/src/members/membership.sql

CREATE TRIGGER after_42_membership AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN ((OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
                       OR (NEW.status = 'cancelled' AND OLD.status = 'pending_payment' AND NEW.customer_id IS NOT NULL))
    EXECUTE FUNCTION commerce._membership_on_order();

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-memberships', '*/10 * * * *', 'CALL commerce.membership_pump()');

-- ==== sql/src/members/rewards.sql

CREATE TRIGGER after_10_invite_rewards AFTER UPDATE OF status ON commerce.play_invite
    FOR EACH ROW WHEN (NEW.status = 'rewarded' AND OLD.status IS DISTINCT FROM 'rewarded')
    EXECUTE FUNCTION commerce._invite_rewards();

-- ==== sql/src/core/privileges.sql

SELECT commerce._isolate_tenants();
$ddl$::text $commerce_schema$;
COMMENT ON FUNCTION commerce._schema_ddl() IS
  'The provisioned schema of this version: the tables, indexes, triggers and views CALL commerce.provision() creates.';


-- ==== sql/src/core/provision.sql

-- sql/src/core/provision.sql: creating the provisioned schema. The extension
-- holds code, types and catalogs; the tables of tenant data are ordinary
-- tables that CALL commerce.provision() creates once per database, so that
-- pg_dump and pg_restore back them up like any table (docs/scale-out.md,
-- docs/operations.md "Backup and restore").

-- Create every table, index, trigger and view of the modules (commerce._schema_ddl()); idempotent.
CREATE PROCEDURE commerce.provision()
LANGUAGE plpgsql SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE v_owner name; v_other text;
BEGIN
    SELECT e.extowner::regrole::name INTO v_owner FROM pg_extension e WHERE e.extname = 'commerce';
    IF v_owner IS DISTINCT FROM current_user THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('only the owner of extension commerce (%s) may provision its tables', v_owner),
            DETAIL  = format('The current role is %s. The tables must belong to the role that owns the functions.',
                             current_user),
            HINT    = format('Connect as %s (or SET ROLE %s) and CALL commerce.provision().', v_owner, v_owner);
    END IF;
    IF to_regclass('commerce.tenant') IS NOT NULL THEN
        RAISE NOTICE 'commerce is already provisioned in database %', current_database();
        RETURN;
    END IF;
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO v_other
      FROM pg_class c
     WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'p', 'v');
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'schema commerce holds relations but not commerce.tenant',
            DETAIL  = format('Found: %s.', left(v_other, 300)),
            HINT    = 'Restore the whole dump (tables included), or drop the leftovers before CALL commerce.provision().';
    END IF;
    EXECUTE commerce._schema_ddl();
END $$;
COMMENT ON PROCEDURE commerce.provision() IS
  'Create the tables, indexes, triggers and views of commerce in this database (run once after CREATE EXTENSION, as the extension owner; a second call does nothing). A restored dump already has them.';

-- ===========================================================================
-- actors (issue 11): every commerce_api function takes its actor from the
-- verified identity; commerce.grant_api grants by the matrix the functions
-- declare; row level security on every table of tenant data
-- ===========================================================================

-- schedule_jobs takes the role the jobs run as
DROP FUNCTION IF EXISTS commerce.schedule_jobs();

-- refunds above a tenant's threshold need a second, different approver
ALTER TABLE commerce.tenant ADD COLUMN refund_second_approval_fen bigint NOT NULL DEFAULT 0 CHECK (refund_second_approval_fen >= 0);
ALTER TYPE commerce.tenant_row ADD ATTRIBUTE refund_second_approval_fen bigint;
ALTER TABLE commerce.after_sale ADD COLUMN first_approver text CHECK (length(first_approver) BETWEEN 1 AND 64),
                                ADD COLUMN first_approved_at timestamptz;
ALTER TYPE commerce.after_sale_row ADD ATTRIBUTE first_approver text, ADD ATTRIBUTE first_approved_at timestamptz;
DROP FUNCTION commerce.decide_after_sale(bigint, bigint, boolean, text);
-- koc_rank's "limit" collided with PostgREST's reserved limit: it is top now (grants carried over)
DO $$
BEGIN
    PERFORM set_config('commerce_upgrade.koc_rank_grants',
        coalesce((SELECT string_agg(a.grantee::regrole::text, ',')
                    FROM pg_proc p, aclexplode(p.proacl) a
                   WHERE p.oid = 'commerce_api.koc_rank(date, date, text, text, integer)'::regprocedure
                     AND a.privilege_type = 'EXECUTE' AND a.grantee NOT IN (0, p.proowner)), ''), true);
    DROP FUNCTION commerce_api.koc_rank(date, date, text, text, integer);
END $$;
COMMENT ON TABLE commerce.after_sale IS
  'After-sale requests: refund only, return and refund, exchange. requested -> approved | rejected; approved -> refunded (refund only) or goods_returned -> refunded | exchanged. One open request per order. The order is after_sale while one is open. A refund of at least the tenant''s refund_second_approval_fen needs two different approvers: the first is recorded (first_approver), the second approves.';


-- ==== sql/src/core/jobs.sql

-- sql/src/core/jobs.sql: the job list pg_cron runs (commerce.job),
-- schedule_jobs/unschedule_jobs, and the pump runner.

-- Register every commerce job with pg_cron (idempotent), run by p_username (default: the caller).
CREATE OR REPLACE FUNCTION commerce.schedule_jobs(p_username name DEFAULT NULL) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = 'pg_cron is not installed in this database',
            DETAIL  = 'commerce.schedule_jobs() registers its jobs with pg_cron.',
            HINT    = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron; or, with pg_cron in another database, run there the statements of commerce.cron_commands().';
    END IF;
    IF p_username IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_username AND rolcanlogin) THEN
        PERFORM commerce._invalid('p_username', format('%s', p_username),
            'Run the jobs as a login role (commerce.grant_jobs() creates commerce_jobs).');
    END IF;
    FOR j IN SELECT job_name, schedule, command FROM commerce.job ORDER BY job_name LOOP
        -- a job of the same name is replaced, whoever it ran as before
        EXECUTE 'SELECT cron.unschedule(c.jobid) FROM cron.job c
                  WHERE c.jobname = $1 AND c.database = current_database() AND c.username <> $2'
          USING j.job_name, coalesce(p_username, current_user);
        EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), $4)'
          USING j.job_name, j.schedule, j.command, coalesce(p_username, current_user);
        RETURN NEXT j.job_name;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.schedule_jobs(name) IS
  'Registers the commerce jobs (commerce.job) with pg_cron in this database, replacing same-named ones, to run as p_username (default: the caller; commerce.grant_jobs() makes the dedicated role commerce_jobs). Raises 0A000 with a hint when pg_cron is not in this database (see commerce.cron_commands()).';

-- The statements that schedule the commerce jobs from the database pg_cron runs in (cron.database_name).
CREATE FUNCTION commerce.cron_commands(p_username name DEFAULT NULL) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT format('SELECT cron.schedule_in_database(%L, %L, %L, %L, %L);', j.job_name, j.schedule, j.command,
                  current_database(), coalesce(p_username, current_user))
      FROM commerce.job j ORDER BY j.job_name;
$$;
COMMENT ON FUNCTION commerce.cron_commands(name) IS
  'For pg_cron in another database (cron.database_name): the cron.schedule_in_database statements that run the commerce jobs in this database as p_username; run them there (psql: \gexec). cron.unschedule(<job name>) removes one.';

-- Create (if missing) and entitle the login role the jobs run as: no superuser, what the pumps need.
CREATE FUNCTION commerce.grant_jobs(p_role name DEFAULT 'commerce_jobs') RETURNS name
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_role, 'p_role');
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS', p_role);
    ELSIF (SELECT rolsuper FROM pg_roles WHERE rolname = p_role) THEN
        PERFORM commerce._invalid('p_role', format('%s is a superuser', p_role),
                                  'Jobs run as an ordinary role; commerce.grant_jobs() creates commerce_jobs.');
    ELSE
        EXECUTE format('ALTER ROLE %I LOGIN BYPASSRLS', p_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT EXECUTE ON ALL ROUTINES IN SCHEMA commerce TO %I', p_role);
    PERFORM commerce._audit(0, 'grant_jobs', p_role, jsonb_build_object('role', p_role), 'granted');
    RETURN p_role;
END $$;
COMMENT ON FUNCTION commerce.grant_jobs(name) IS
  'Create the login role the jobs run as (default commerce_jobs: not a superuser, BYPASSRLS since the pumps work across tenants) or update it, and grant it what the pumps use: the tables and sequences of schema commerce and its routines. Idempotent: rerun after an upgrade that adds tables. Then commerce.schedule_jobs(''commerce_jobs'').';

-- Remove every commerce job from pg_cron (idempotent).
CREATE OR REPLACE FUNCTION commerce.unschedule_jobs() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE j record;
BEGIN
    IF to_regnamespace('cron') IS NULL OR to_regclass('cron.job') IS NULL THEN
        RETURN;
    END IF;
    -- by id: a job scheduled to run as another role (commerce_jobs) is not found by name
    FOR j IN EXECUTE 'SELECT jobid, jobname FROM cron.job WHERE jobname IN (SELECT job_name FROM commerce.job)
                        AND database = current_database() ORDER BY jobname, jobid' LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING j.jobid;
        RETURN NEXT j.jobname;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.unschedule_jobs() IS 'Removes the commerce jobs of this database from pg_cron, whichever role they run as; a no-op when none are scheduled or pg_cron is absent.';

-- The kinds of actor, each with its NOLOGIN role commerce_<kind>.
CREATE FUNCTION commerce.actor_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['anonymous', 'customer', 'koc', 'store', 'operator', 'finance', 'service']::text[];
$$;
COMMENT ON FUNCTION commerce.actor_kinds() IS
  'The kinds of actor: anonymous (no token), customer (a mini-program or H5 user), koc, store (store staff), operator (HQ), finance, service (payment, payout and platform callbacks, workers). Each acts through the NOLOGIN role commerce_<kind>.';

-- Raise 42501 for a call without a usable identity.
CREATE FUNCTION commerce._no_identity(p_message text, p_detail text, p_hint text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = left(p_message, 300), DETAIL = left(p_detail, 300),
                          HINT = left(p_hint, 300);
END $$;

-- Whether this session's claims may be believed: a superuser's, or a gateway's login role's.
CREATE FUNCTION commerce._session_trusted() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false) THEN
        RETURN true;
    END IF;
    RETURN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_authenticator')
           AND pg_has_role(session_user, 'commerce_authenticator', 'MEMBER');
END $$;

-- The claims of this request: the first source present is the only one read (a claim without a
-- tenant does not fall through); commerce.tenant_id only for a superuser (p_super).
CREATE FUNCTION commerce._claims(p_super boolean) RETURNS commerce.claims
LANGUAGE plpgsql STABLE AS $$
DECLARE c jsonb;
BEGIN
    c := nullif(current_setting('request.jwt.claims', true), '')::jsonb;                    -- PostgREST
    IF c IS NOT NULL AND c <> '{}' THEN
        RETURN ROW('postgrest', c ->> 'tenant_id', c ->> 'sub', c ->> 'role')::commerce.claims;
    END IF;
    IF coalesce(nullif(current_setting('jwt.claims.tenant_id', true), ''),
                nullif(current_setting('jwt.claims.sub', true), '')) IS NOT NULL THEN      -- PostGraphile
        RETURN ROW('postgraphile', nullif(current_setting('jwt.claims.tenant_id', true), ''),
                   nullif(current_setting('jwt.claims.sub', true), ''),
                   nullif(current_setting('jwt.claims.role', true), ''))::commerce.claims;
    END IF;
    c := nullif(current_setting('hasura.user', true), '')::jsonb;                           -- Hasura
    IF c IS NOT NULL AND c <> '{}' THEN
        RETURN ROW('hasura', c ->> 'x-hasura-tenant-id', c ->> 'x-hasura-user-id', c ->> 'x-hasura-role')::commerce.claims;
    END IF;
    IF p_super AND nullif(current_setting('commerce.tenant_id', true), '') IS NOT NULL THEN   -- superusers only
        RETURN ROW('setting', current_setting('commerce.tenant_id', true), NULL, NULL)::commerce.claims;
    END IF;
    RETURN ROW(NULL, NULL, NULL, NULL)::commerce.claims;
END $$;
COMMENT ON FUNCTION commerce._claims(boolean) IS
  'The claims of this request, from the first source present only: PostgREST request.jwt.claims, PostGraphile jwt.claims.*, Hasura hasura.user, and for a superuser (p_super) the commerce.tenant_id setting. Not verified: commerce._identity() and commerce._rls_tenant() believe them only in a trusted session.';

-- The verified identity of this session (binding, else a trusted gateway's claims); 42501 without one.
CREATE FUNCTION commerce._identity() RETURNS commerce.identity
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b record; cl commerce.claims; v_src text; v_tenant text; v_sub text; v_kind text; v_claim_role text;
    v_role text := current_setting('role'); v_super boolean;
BEGIN
    -- 1. a login role bound to a tenant: the binding, whatever is set or claimed
    SELECT rb.tenant_id, rb.kind, rb.subject INTO b FROM commerce.role_binding rb WHERE rb.role_name = session_user;
    IF FOUND THEN
        RETURN ROW(b.tenant_id, b.kind, b.subject, 'binding')::commerce.identity;
    END IF;
    -- 2. claims, trusted only in a session of a gateway's login role (or of a superuser)
    IF NOT commerce._session_trusted() THEN
        PERFORM commerce._no_identity(format('no verified identity for role %s', left(session_user::text, 64)),
            'Claims and settings are trusted only in sessions of a gateway''s login role (a member of commerce_authenticator); this role is not one, and it is not bound to a tenant.',
            'Call through PostgREST, PostGraphile or Hasura connected as the login role given to commerce.grant_api(), or bind this login role with commerce.bind_role(role, tenant, kind, subject).');
    END IF;
    SELECT r.rolsuper INTO v_super FROM pg_roles r WHERE r.rolname = session_user;
    cl := commerce._claims(coalesce(v_super, false));
    v_src := cl.source; v_tenant := cl.tenant; v_sub := cl.subject; v_claim_role := cl.role;
    -- the kind: the actor role the gateway switched to (SET ROLE); for a superuser the role claim
    -- when it names a kind, else service; Hasura's role claim (Hasura does not switch roles)
    IF v_role LIKE 'commerce\_%' AND substr(v_role, 10) = ANY (commerce.actor_kinds()) THEN
        v_kind := substr(v_role, 10);
    ELSIF coalesce(v_super, false) THEN
        v_kind := CASE WHEN v_claim_role LIKE 'commerce\_%' THEN substr(v_claim_role, 10) ELSE v_claim_role END;
        IF v_kind IS NULL OR NOT v_kind = ANY (commerce.actor_kinds()) THEN
            v_kind := 'service';
        END IF;
    ELSIF v_role = 'none' AND v_src = 'hasura' THEN
        v_kind := v_claim_role;
    END IF;
    IF v_kind IS NULL OR NOT v_kind = ANY (commerce.actor_kinds()) THEN
        PERFORM commerce._no_identity(format('role %s is not an actor role',
                                             left(coalesce(nullif(v_role, 'none'), session_user::text), 64)),
            format('A gateway must switch to one of the roles commerce_%s.', array_to_string(commerce.actor_kinds(), ', commerce_')),
            'Give the token a role claim naming one of them (PostgREST, PostGraphile: role; Hasura: x-hasura-role with the kind).');
    END IF;
    -- anonymous callers name the shop they browse by a request header
    IF v_tenant IS NULL AND v_kind = 'anonymous' THEN
        v_tenant := nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-tenant-id';
    END IF;
    IF v_tenant IS NULL OR v_tenant !~ '^[0-9]{1,18}$' THEN
        PERFORM commerce._no_identity('no tenant in the request', format('tenant claim: %s', coalesce(v_tenant, 'absent')),
            'Put tenant_id in the JWT claims (PostgREST, PostGraphile), x-hasura-tenant-id in the Hasura session, or SET commerce.tenant_id.');
    END IF;
    IF v_kind NOT IN ('anonymous', 'service') AND (v_sub IS NULL OR length(v_sub) NOT BETWEEN 1 AND 64) THEN
        PERFORM commerce._no_identity('the token has no usable subject',
            format('A %s acts as the customer, KOC or staff member its token''s subject names (sub: %s).', v_kind,
                   coalesce(left(v_sub, 64), 'absent')),
            'Issue tokens with sub set to the code of the customer, KOC or staff member (1 to 64 characters).');
    END IF;
    RETURN ROW(v_tenant::bigint, v_kind, v_sub, coalesce(v_src, 'none'))::commerce.identity;
END $$;
COMMENT ON FUNCTION commerce._identity() IS
  'The verified identity of this session: the binding of a login role (commerce.bind_role) whatever is set; else, in a session of a gateway''s login role (a member of commerce_authenticator) or of a superuser, the first claims source present (PostgREST request.jwt.claims, PostGraphile jwt.claims.*, Hasura hasura.user; commerce.tenant_id for superusers), with the kind from the actor role switched to. 42501 otherwise.';

-- The tenant row level security shows this session: its binding's, else (trusted sessions) the claims'; else NULL.
CREATE FUNCTION commerce._rls_tenant() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE v_tenant bigint; v_claim text;
BEGIN
    SELECT rb.tenant_id INTO v_tenant FROM commerce.role_binding rb WHERE rb.role_name = session_user;
    IF FOUND THEN
        RETURN v_tenant;
    END IF;
    IF NOT commerce._session_trusted() THEN
        RETURN NULL;
    END IF;
    v_claim := (commerce._claims(coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false))).tenant;
    RETURN CASE WHEN v_claim ~ '^[0-9]{1,18}$' THEN v_claim::bigint END;
END $$;
COMMENT ON FUNCTION commerce._rls_tenant() IS
  'The tenant whose rows row level security shows this session: a bound login role''s tenant, whatever is set; in a trusted session (a gateway''s login role, a superuser) the tenant of the first claims source present; otherwise NULL, which shows nothing.';

-- The caller's tenant (the verified identity's).
CREATE OR REPLACE FUNCTION commerce.current_tenant() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT (commerce._identity()).tenant_id;
$$;
COMMENT ON FUNCTION commerce.current_tenant() IS
  'The tenant of the verified identity of this session (commerce._identity()); 42501 without one.';

-- The actor of a commerce_api function open to p_kinds; 42501 for any other kind or an unknown staff member.
CREATE FUNCTION commerce._api_actor(p_function text, p_kinds text[]) RETURNS commerce.actor
LANGUAGE plpgsql STABLE AS $$
DECLARE i commerce.identity := commerce._identity(); s record;
BEGIN
    IF NOT i.kind = ANY (p_kinds) THEN
        PERFORM commerce._no_identity(format('%s is not open to %s callers', p_function, i.kind),
            format('It is open to: %s.', array_to_string(p_kinds, ', ')),
            'Call it with a token of one of those kinds of actor (docs/operations.md, the API matrix).');
    END IF;
    IF i.kind IN ('store', 'operator', 'finance') THEN
        SELECT st.staff_id, st.stores, st.channels INTO s FROM commerce.staff st
         WHERE st.tenant_id = i.tenant_id AND st.code = i.subject AND st.kind = i.kind AND st.active;
        IF NOT FOUND THEN
            PERFORM commerce._no_identity(format('"%s" is not active %s staff of tenant %s', left(i.subject, 64), i.kind,
                                                 i.tenant_id),
                'The token''s subject must be the code of an active staff member of that kind.',
                'Add the staff member with commerce.upsert_staff(tenant, code, name, kind, stores, channels).');
        END IF;
        RETURN ROW(i.tenant_id, i.kind, i.subject, s.staff_id, s.stores, s.channels)::commerce.actor;
    END IF;
    RETURN ROW(i.tenant_id, i.kind, i.subject, NULL, NULL, NULL)::commerce.actor;
END $$;
COMMENT ON FUNCTION commerce._api_actor(text, text[]) IS
  'The actor of a commerce_api function open to the kinds p_kinds (its first statement names them; commerce.grant_api grants by it): the verified identity, with the staff row for store, operator and finance. 42501 for another kind or an unknown or inactive staff member.';

-- Who a person calling acts as: itself (p_given NULL or its own subject); a service names it.
CREATE FUNCTION commerce._actor_subject(a commerce.actor, p_given text, p_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind = 'service' THEN
        RETURN p_given;
    END IF;
    IF p_given IS NOT NULL AND p_given IS DISTINCT FROM a.subject THEN
        PERFORM commerce._no_identity(format('a %s acts only as itself', a.kind),
            format('%s "%s" was given; the token''s subject is "%s".', p_name, left(p_given, 64), left(a.subject, 64)),
            format('Leave %s out (or NULL): it is taken from the token.', p_name));
    END IF;
    RETURN a.subject;
END $$;
COMMENT ON FUNCTION commerce._actor_subject(commerce.actor, text, text) IS
  'The customer, KOC or staff member a call acts as (the argument p_name): a person calling acts as its own subject, and naming another is refused with 42501; a service caller names it.';

-- Refuse a store or channel outside a staff member's scope (42501).
CREATE FUNCTION commerce._actor_scope(a commerce.actor, p_store text, p_channel text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind IN ('store', 'operator', 'finance') THEN
        IF a.stores IS NOT NULL AND (p_store IS NULL OR NOT p_store = ANY (a.stores)) THEN
            PERFORM commerce._no_identity(format('store %s is outside the scope of %s', coalesce(left(p_store, 64), '(none)'),
                                                 left(a.subject, 64)),
                format('%s may act for stores %s.', left(a.subject, 64), left(array_to_string(a.stores, ', '), 200)),
                'Act only on your own stores; HQ staff have no store list.');
        END IF;
        IF a.channels IS NOT NULL AND p_channel IS NOT NULL AND NOT p_channel = ANY (a.channels) THEN
            PERFORM commerce._no_identity(format('channel %s is outside the scope of %s', left(p_channel, 64), left(a.subject, 64)),
                format('%s may act on channels %s.', left(a.subject, 64), left(array_to_string(a.channels, ', '), 200)),
                'Act only on the channels you are authorised for.');
        END IF;
    END IF;
END $$;
COMMENT ON FUNCTION commerce._actor_scope(commerce.actor, text, text) IS
  'For staff callers: refuse (42501) a store not in the staff member''s stores and a channel not in its channels (NULL lists: all). Other kinds pass.';

-- The client's address: from the gateway's request headers for end users, as given for a service.
CREATE FUNCTION commerce._client_ip(a commerce.actor, p_given text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE h jsonb := nullif(current_setting('request.headers', true), '')::jsonb; v text;
BEGIN
    IF a.kind = 'service' AND p_given IS NOT NULL THEN
        v := p_given;     -- a backend passes its end user's address
    ELSE
        v := btrim(coalesce(split_part(h ->> 'x-forwarded-for', ',', 1), h ->> 'x-real-ip'));
    END IF;
    IF v IS NULL OR v = '' OR length(v) > 45 THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN host(v::inet);
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN NULL;      -- not an address: none
    END;
END $$;
COMMENT ON FUNCTION commerce._client_ip(commerce.actor, text) IS
  'The client address a call is judged by (blacklists, per-IP rates, clicks): for customers, KOCs, staff and anonymous callers the first X-Forwarded-For hop (else X-Real-IP) of the gateway''s request.headers, whatever the body says; for a service the address it passes (a backend''s end user), else the headers. NULL when there is none or it is not an address.';

-- The client's device id and user agent: from the request headers for end users, as given for a service.
CREATE FUNCTION commerce._client_header(a commerce.actor, p_given text, p_header text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT left(CASE WHEN a.kind = 'service' AND p_given IS NOT NULL THEN p_given
                     ELSE nullif(current_setting('request.headers', true), '')::jsonb ->> p_header END, 512);
$$;
COMMENT ON FUNCTION commerce._client_header(commerce.actor, text, text) IS
  'A client header a call is judged by (x-device-id for devices, user-agent for clicks): from the gateway''s request.headers for end users, whatever the body says; the value a service passes, else the header. At most 512 characters.';

-- Add or change a staff member (store staff, HQ operator, finance) with its stores and channels.
CREATE FUNCTION commerce.upsert_staff(p_tenant bigint, p_code text, p_name text, p_kind text,
                                      p_stores text[] DEFAULT NULL, p_channels text[] DEFAULT NULL,
                                      p_active boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_bad text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_kind NOT IN ('store', 'operator', 'finance') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'A staff member is store, operator or finance.');
    END IF;
    IF p_kind = 'store' AND p_stores IS NULL THEN
        PERFORM commerce._invalid('p_stores', 'NULL', 'Store staff list the stores they act for.');
    END IF;
    SELECT string_agg(x, ', ') INTO v_bad FROM unnest(p_stores) x
     WHERE NOT EXISTS (SELECT 1 FROM commerce.store s WHERE s.tenant_id = p_tenant AND s.code = x);
    IF v_bad IS NOT NULL THEN
        PERFORM commerce._not_found('store', v_bad, p_tenant);
    END IF;
    SELECT string_agg(x, ', ') INTO v_bad FROM unnest(p_channels) x
     WHERE NOT EXISTS (SELECT 1 FROM commerce.channel ch WHERE ch.tenant_id = p_tenant AND ch.code = x);
    IF v_bad IS NOT NULL THEN
        PERFORM commerce._not_found('channel', v_bad, p_tenant);
    END IF;
    INSERT INTO commerce.staff AS st (tenant_id, code, name, kind, stores, channels, active)
    VALUES (p_tenant, p_code, p_name, p_kind, p_stores, p_channels, p_active)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, kind = EXCLUDED.kind, stores = EXCLUDED.stores, channels = EXCLUDED.channels,
           active = EXCLUDED.active, updated_at = now()
    RETURNING st.staff_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_staff(bigint, text, text, text, text[], text[], boolean) IS
  'Add or change a staff member: kind store (store staff, limited to p_stores), operator (HQ) or finance; p_channels limits the channels (NULL: all). A token whose subject is the code acts as this staff member; p_active false stops it at once.';

-- Bind a login role to one tenant and actor, for a backend that calls commerce_api over plain SQL.
CREATE FUNCTION commerce.bind_role(p_role name, p_tenant bigint, p_kind text, p_subject text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_role, 'p_role');
    PERFORM commerce._require(p_kind, 'p_kind');
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        PERFORM commerce._not_found('role', p_role::text, p_tenant);
    END IF;
    IF p_kind NOT IN ('customer', 'koc', 'store', 'operator', 'finance', 'service') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)),
                                  'A bound role acts as a customer, koc, store, operator, finance or service.');
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = p_role) THEN
        PERFORM commerce._invalid('p_role', format('%s is a superuser', p_role),
                                  'Bind an ordinary login role; superusers are never limited.');
    END IF;
    INSERT INTO commerce.role_binding (tenant_id, role_name, kind, subject)
    VALUES (p_tenant, p_role, p_kind, p_subject)
    ON CONFLICT (role_name) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, kind = EXCLUDED.kind,
                                          subject = EXCLUDED.subject;
    EXECUTE format('GRANT %I TO %I', 'commerce_' || p_kind, p_role);
    EXECUTE format('GRANT USAGE ON SCHEMA commerce TO %I', p_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION commerce._rls_tenant() TO %I', p_role);
END $$;
COMMENT ON FUNCTION commerce.bind_role(name, bigint, text, text) IS
  'Bind a login role to one tenant and actor (kind and subject) and grant it the actor role commerce_<kind> (run commerce.grant_api() first): its sessions act so whatever they set or claim, and row level security shows them that tenant only. For backends that call commerce_api over plain SQL.';

-- The actor kinds each commerce_api function is open to, read from its _api_actor call.
CREATE FUNCTION commerce.api_matrix()
RETURNS TABLE (function regprocedure, kinds text[])
LANGUAGE sql STABLE AS $$
    SELECT p.oid::regprocedure,
           string_to_array((regexp_match(p.prosrc, '_api_actor\(''[^'']+'', ''\{([a-z,]+)\}''\)'))[1], ',')
      FROM pg_proc p
     WHERE p.pronamespace = 'commerce_api'::regnamespace
     ORDER BY 1::text;
$$;
COMMENT ON FUNCTION commerce.api_matrix() IS
  'Every commerce_api function with the kinds of actor it is open to, as its own commerce._api_actor call names them (NULL: none, it is granted to no actor role). commerce.grant_api grants by it.';

-- Create the actor roles and grant them the API by the matrix; give them to a gateway's login role.
CREATE FUNCTION commerce.grant_api(p_authenticator name DEFAULT NULL)
RETURNS TABLE (role name, functions integer)
LANGUAGE plpgsql AS $$
DECLARE k text; r name; m record; n integer;
BEGIN
    IF p_authenticator IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_authenticator) THEN
        PERFORM commerce._not_found('role', p_authenticator::text, NULL);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_authenticator') THEN
        CREATE ROLE commerce_authenticator NOLOGIN;
    END IF;
    FOREACH k IN ARRAY commerce.actor_kinds() LOOP
        r := 'commerce_' || k;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA commerce_api, commerce TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION commerce._rls_tenant() TO %I', r);   -- the policies call it
        n := 0;
        FOR m IN SELECT * FROM commerce.api_matrix() LOOP
            IF k = ANY (m.kinds) THEN
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', m.function, r);
                n := n + 1;
            ELSE
                EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', m.function, r);
            END IF;
        END LOOP;
        IF p_authenticator IS NOT NULL THEN
            EXECUTE format('GRANT %I TO %I', r, p_authenticator);
        END IF;
        role := r; functions := n;
        RETURN NEXT;
    END LOOP;
    IF p_authenticator IS NOT NULL THEN
        EXECUTE format('GRANT commerce_authenticator TO %I', p_authenticator);
    END IF;
    PERFORM commerce._audit(0, 'grant_api', p_authenticator, jsonb_build_object('authenticator', p_authenticator), 'granted');
END $$;
COMMENT ON FUNCTION commerce.grant_api(name) IS
  'Create the NOLOGIN actor roles (commerce_anonymous, _customer, _koc, _store, _operator, _finance, _service and commerce_authenticator) if missing, grant each exactly the commerce_api functions open to it (commerce.api_matrix()) and revoke the rest; with p_authenticator, make that login role a trusted gateway that may switch to every actor role. Audited. Idempotent: rerun after every ALTER EXTENSION UPDATE.';

-- ==== sql/src/core/audit.sql

-- sql/src/core/audit.sql: the audit log of sensitive operations. Tables
-- whose changes are sensitive are declared audited (commerce._declare_audited):
-- an AFTER trigger writes who changed which of the named columns, so every
-- writer is covered, the API, SQL backends and DBAs alike. Operations with
-- no row of their own (role grants, reads of personal data, exports) call
-- commerce._audit directly.

-- The identity of the session when it has one; NULLs otherwise (audit rows are written for every writer).
CREATE FUNCTION commerce._audit_identity() RETURNS commerce.identity
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN commerce._identity();
EXCEPTION WHEN insufficient_privilege OR invalid_text_representation THEN
    RETURN NULL;
END $$;

-- Write one audit row (tenant 0: cluster level).
CREATE FUNCTION commerce._audit(p_tenant bigint, p_operation text, p_object text, p_params jsonb, p_outcome text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE i commerce.identity := commerce._audit_identity();
BEGIN
    INSERT INTO commerce.audit_log (tenant_id, operation, object_key, actor_kind, actor_subject, acting_role,
                                    forwarded_for, params, outcome)
    VALUES (coalesce(p_tenant, 0), left(p_operation, 64), left(p_object, 200), i.kind, left(i.subject, 64),
            coalesce(nullif(current_setting('role'), 'none'), session_user::text),
            left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-forwarded-for', 200),
            coalesce(p_params, '{}'), left(p_outcome, 200));
END $$;
COMMENT ON FUNCTION commerce._audit(bigint, text, text, jsonb, text) IS
  'Append one row to commerce.audit_log: the operation, its object and parameters, the outcome, with the verified actor (when the session has one), the database and acting roles, the client address and X-Forwarded-For. Runs as the owner, so any writer is logged; the caller needs EXECUTE.';

-- The audit trigger: a row inserted, deleted, or changed in one of the columns named in TG_ARGV.
CREATE FUNCTION commerce.audit_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE v_old jsonb; v_new jsonb; v_changed jsonb := '{}'::jsonb; c text; v_key text; v_row jsonb;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_NARGS < 2 THEN
        RAISE EXCEPTION USING ERRCODE = '39P01',
            MESSAGE = 'commerce.audit_trigger must fire AFTER ... FOR EACH ROW with a key column and audited columns';
    END IF;
    v_old := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    v_new := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    v_row := coalesce(v_new, v_old);
    FOREACH c IN ARRAY TG_ARGV[1:] LOOP
        IF v_old -> c IS DISTINCT FROM v_new -> c THEN
            v_changed := v_changed || jsonb_build_object(c, jsonb_build_object('old', v_old -> c, 'new', v_new -> c));
        END IF;
    END LOOP;
    IF TG_OP = 'UPDATE' AND v_changed = '{}'::jsonb THEN
        RETURN NULL;
    END IF;
    v_key := v_row ->> TG_ARGV[0];
    PERFORM commerce._audit((v_row ->> 'tenant_id')::bigint, TG_TABLE_NAME || '.' || lower(TG_OP), v_key, v_changed,
                            coalesce(v_row ->> 'status', CASE WHEN TG_OP = 'DELETE' THEN 'deleted' END));
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce.audit_trigger() IS
  'AFTER row trigger of audited tables (commerce._declare_audited): writes an audit row for an insert, a delete, or an update of one of the audited columns (TG_ARGV[1:], TG_ARGV[0] is the key column), with the old and new values and the row''s status as the outcome.';

-- Declare a table audited: trigger after_90_audit logs changes of the named columns.
CREATE FUNCTION commerce._declare_audited(p_table regclass, p_key text, p_columns text[],
                                          p_inserts boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_table, 'p_table');
    PERFORM commerce._require(p_key, 'p_key');
    PERFORM commerce._require(p_columns, 'p_columns');
    PERFORM commerce._require(p_inserts, 'p_inserts');
    EXECUTE format('CREATE OR REPLACE TRIGGER after_90_audit AFTER %s ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION commerce.audit_trigger(%s)',
                   CASE WHEN p_inserts THEN 'INSERT OR UPDATE OR DELETE' ELSE 'UPDATE OR DELETE' END, p_table,
                   (SELECT string_agg(quote_literal(x), ', ') FROM unnest(p_key || p_columns) x));
END $$;
COMMENT ON FUNCTION commerce._declare_audited(regclass, text, text[], boolean) IS
  'Make a table audited: trigger after_90_audit (commerce.audit_trigger) logs every delete, every update of one of p_columns and (p_inserts) every insert to commerce.audit_log, keyed by p_key. Idempotent.';

-- PostgREST's pre-request hook: refuse a request without a usable identity before any function runs.
CREATE FUNCTION commerce_api.pre_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.pre_request', '{anonymous,customer,koc,store,operator,finance,service}');
BEGIN
    PERFORM a;   -- the identity is checked; staff must be active
END $$;
REVOKE ALL ON FUNCTION commerce_api.pre_request() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.pre_request() IS
  'PostgREST''s db-pre-request hook (db-pre-request = "commerce_api.pre_request"): checks the verified identity of every request once, before the function it calls, so a token without a tenant, a usable subject or an active staff member is refused with 42501 whatever it calls. Returns nothing.';

-- ==== sql/src/customers/api.sql

-- sql/src/customers/api.sql: prices for HTTP clients; a customer sees the
-- price of its own member tier.

CREATE OR REPLACE FUNCTION commerce_api.price(sku text, channel text, member_tier text DEFAULT NULL)
RETURNS commerce.resolved_price LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.price', '{anonymous,customer,koc,store,operator,finance,service}');
        v_tier text := member_tier;
BEGIN
    IF a.kind = 'customer' THEN
        SELECT cu.member_tier INTO v_tier FROM commerce.customer cu
         WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
        IF member_tier IS NOT NULL AND member_tier IS DISTINCT FROM v_tier THEN
            PERFORM commerce._no_identity('a customer sees the price of its own member tier',
                format('member_tier "%s" was given; the customer''s tier is %s.', left(member_tier, 64),
                       coalesce('"' || v_tier || '"', 'none')),
                'Leave member_tier out: it is taken from the customer.');
        END IF;
    END IF;
    RETURN commerce.resolve_price(a.tenant_id, sku, channel, v_tier, NULL);
END $$;
REVOKE ALL ON FUNCTION commerce_api.price(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.price(text, text, text) IS
  'The price of a SKU on a channel now (channel, member and flash prices resolved). Open to every caller; a signed-in customer gets its own member tier''s price (member_tier left out or its own); other callers may show any tier''s price (what an order pays is resolved from the customer when it is placed).';

-- Available units of a pool (committed figures, no lock).
CREATE OR REPLACE FUNCTION commerce._pool_available(p_tenant bigint, p_pool bigint)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$   -- PL/pgSQL for a plan cached per session
BEGIN
    RETURN (SELECT coalesce(sum(s.on_hand - s.reserved - s.sold), 0)::bigint FROM commerce.stock_slot s
             WHERE s.tenant_id = p_tenant AND s.pool_id = p_pool);
END $$;

-- ==== sql/src/inventory/api.sql

-- sql/src/inventory/api.sql: reservations and stock for HTTP clients. A
-- customer holds stock for itself only, for at most 30 minutes, at most 20
-- units a line and 5 reservations at once; confirming a reservation is the
-- payment service's.

CREATE OR REPLACE FUNCTION commerce_api.reserve(cart text, request_id text, holder text DEFAULT NULL,
                                     ttl interval DEFAULT NULL, activity text DEFAULT NULL)
RETURNS commerce.reservation_result LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reserve', '{customer,service}');
        v_holder text := commerce._actor_subject(a, holder, 'holder'); v_big text; v_n bigint;
BEGIN
    IF a.kind = 'customer' THEN
        IF ttl > interval '30 minutes' THEN
            PERFORM commerce._invalid('ttl', format('%s', ttl), 'A customer holds stock for at most 30 minutes.');
        END IF;
        SELECT string_agg(format('%s x %s', l.sku, l.qty), ', ') INTO v_big
          FROM commerce._cart_lines(cart) l WHERE l.qty > 20;
        IF v_big IS NOT NULL THEN
            PERFORM commerce._invalid('cart', left(v_big, 200), 'A customer holds at most 20 units of a SKU.');
        END IF;
        SELECT count(*) INTO v_n FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'
           AND r.request_id IS DISTINCT FROM reserve.request_id;
        IF v_n >= 5 THEN
            RAISE EXCEPTION USING ERRCODE = 'PT429',
                MESSAGE = format('customer "%s" already holds %s reservations', left(v_holder, 64), v_n),
                DETAIL  = 'A customer holds at most 5 reservations at once.',
                HINT    = 'Release or buy one first; unpaid holds expire.';
        END IF;
    END IF;
    RETURN commerce.reserve(a.tenant_id, request_id, v_holder, cart, ttl, activity);
END $$;
REVOKE ALL ON FUNCTION commerce_api.reserve(text, text, text, interval, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reserve(text, text, text, interval, text) IS
  'Hold the stock of a cart ({"lines":[{"sku":"A1","qty":2}]}) all or nothing. A customer holds it for itself (holder is its own code), for at most 30 minutes (22023), at most 20 units a line (22023) and 5 active reservations (PT429); a service names the holder. Idempotent by request_id; PT409 when stock is short.';

-- The reservation as a customer caller may see it: its own (else PT404, as if it did not exist).
CREATE FUNCTION commerce._api_own_reservation(a commerce.actor, p_reservation bigint) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind = 'customer' AND NOT EXISTS (SELECT 1 FROM commerce.reservation r
                                            WHERE r.tenant_id = a.tenant_id AND r.reservation_id = p_reservation
                                              AND r.holder = a.subject) THEN
        -- the same error as a reservation that does not exist (src/inventory_end.c)
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('reservation %s not found', p_reservation),
            DETAIL  = format('No reservation with that id exists in tenant %s.', a.tenant_id),
            HINT    = 'Check the id and the tenant; rows of other tenants are never visible.';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION commerce_api.confirm_reservation(reservation_id bigint, request_id text)
RETURNS commerce.reservation_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.confirm_reservation', '{service}') a,
           LATERAL commerce.confirm_reservation(a.tenant_id, reservation_id, request_id) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.confirm_reservation(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.confirm_reservation(bigint, text) IS
  'Confirm (sell) a reservation: the payment service''s call once a payment has succeeded. Idempotent by request_id; PT410 when it expired, PT409 when it ended otherwise.';

CREATE OR REPLACE FUNCTION commerce_api.release_reservation(reservation_id bigint, request_id text)
RETURNS commerce.reservation_result LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.release_reservation', '{customer,service}');
BEGIN
    PERFORM commerce._api_own_reservation(a, reservation_id);
    RETURN commerce.release_reservation(a.tenant_id, reservation_id, request_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.release_reservation(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.release_reservation(bigint, text) IS
  'Give a reservation''s stock back. A customer releases its own reservations only (another''s is PT404); a service any. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.extend_reservation(reservation_id bigint, request_id text, by interval)
RETURNS commerce.reservation_result LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.extend_reservation', '{customer,service}');
        v_until timestamptz;
BEGIN
    PERFORM commerce._api_own_reservation(a, reservation_id);
    IF a.kind = 'customer' THEN
        SELECT r.expires_at + $3 INTO v_until FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.reservation_id = extend_reservation.reservation_id;
        IF v_until > commerce.now() + interval '30 minutes' THEN
            PERFORM commerce._invalid('by', format('%s (until %s)', $3, v_until),
                                      'A customer holds stock for at most 30 minutes from now.');
        END IF;
    END IF;
    RETURN commerce.extend_reservation(a.tenant_id, $1, $2, $3);
END $$;
REVOKE ALL ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) IS
  'Extend an active reservation by an interval. A customer extends its own only (another''s is PT404), to at most 30 minutes from now (22023); a service any. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.stock(sku text)
RETURNS TABLE (warehouse text, activity text, available bigint) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT s.warehouse, s.activity, s.available
      FROM commerce._api_actor('commerce_api.stock', '{anonymous,customer,koc,store,operator,finance,service}') a
      JOIN commerce.stock s ON s.tenant_id = a.tenant_id
     WHERE s.sku = $1 AND s.status = 'open'
     ORDER BY s.warehouse, s.activity NULLS FIRST;
$$;
REVOKE ALL ON FUNCTION commerce_api.stock(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.stock(text) IS
  'The available units of a SKU per warehouse and activity pool (open pools only). Open to every caller.';

-- ==== sql/src/orders/place_order.sql

-- sql/src/orders/place_order.sql: self-operated orders: place, pay, cancel,
-- and the unpaid-order pump.

-- The result row of an order.
CREATE OR REPLACE FUNCTION commerce._order_result(o commerce.orders_row, p_outcome text)
RETURNS commerce.order_result LANGUAGE plpgsql IMMUTABLE AS $$   -- PL/pgSQL: no planning per call
BEGIN
    RETURN ROW(o.order_id, o.status::text, o.payable_fen, o.pay_deadline, p_outcome)::commerce.order_result;
END $$;

-- The warehouse a line should draw from when its SKU is stocked in several and the
-- caller named none: the first (by code) whose committed available stock covers it,
-- else the first; NULL when the SKU has at most one root pool.
-- (PL/pgSQL, not SQL, so that its plan is cached per session instead of made per order)
CREATE OR REPLACE FUNCTION commerce._pick_warehouse(p_tenant bigint, p_sku text, p_qty bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT CASE WHEN count(*) OVER () > 1 THEN w.code END
              FROM commerce.sku s
              JOIN commerce.stock_pool p ON p.tenant_id = s.tenant_id AND p.sku_id = s.sku_id AND p.parent_pool_id IS NULL
              JOIN commerce.warehouse w ON w.tenant_id = p.tenant_id AND w.warehouse_id = p.warehouse_id
             WHERE s.tenant_id = p_tenant AND s.code = p_sku
             ORDER BY commerce._pool_available(p.tenant_id, p.pool_id) < p_qty, w.code
             LIMIT 1);
END $$;

-- Approve or reject an after-sale request; a large refund needs a second, different approver.
CREATE OR REPLACE FUNCTION commerce.decide_after_sale(p_tenant bigint, p_after_sale bigint, p_approve boolean,
                                           p_note text DEFAULT NULL, p_approver text DEFAULT NULL)
RETURNS commerce.after_sale_row LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale_row; o commerce.orders_row; v_target text; v_threshold bigint;
        v_approver text := coalesce(p_approver, (commerce._audit_identity()).subject, session_user::text);
BEGIN
    PERFORM commerce._require(p_approve, 'p_approve');
    IF length(v_approver) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_approver', format('%s characters', length(v_approver)), 'An approver is named in 1 to 64 characters.');
    END IF;
    v_target := CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END;
    a := commerce._lock_after_sale(p_tenant, p_after_sale);
    IF a.status = v_target THEN
        RETURN a;
    END IF;
    -- a refund at or above the tenant's threshold: the first approval is recorded, a second,
    -- different approver approves it
    SELECT t.refund_second_approval_fen INTO v_threshold FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    IF p_approve AND a.status = 'requested' AND v_threshold > 0 AND a.refund_fen >= v_threshold THEN
        IF a.first_approver IS NULL THEN
            UPDATE commerce.after_sale SET first_approver = v_approver, first_approved_at = commerce.now(),
                   decision_note = p_note
             WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale
            RETURNING * INTO a;
            PERFORM commerce._audit(p_tenant, 'after_sale.decide', p_after_sale::text,
                                    jsonb_build_object('approver', v_approver, 'approve', true), 'first_approval');
            RETURN a;
        ELSIF a.first_approver = v_approver THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('refund %s needs a second, different approver', p_after_sale),
                DETAIL  = format('%s fen is at or above the tenant''s %s fen; %s approved it first.', a.refund_fen,
                                 v_threshold, left(a.first_approver, 64)),
                HINT    = 'Another approver approves it (or anyone rejects it).';
        END IF;
    END IF;
    o := commerce._lock_order(p_tenant, a.order_id);
    UPDATE commerce.after_sale
       SET status = v_target,
           decision_note = p_note, decided_at = commerce.now()
     WHERE tenant_id = p_tenant AND after_sale_id = p_after_sale
    RETURNING * INTO a;
    IF NOT p_approve THEN
        UPDATE commerce.orders SET status = o.status_before_after_sale,
               status_reason = 'after-sale ' || p_after_sale || ' rejected'
         WHERE tenant_id = p_tenant AND order_id = a.order_id;
    ELSIF a.kind = 'refund_only' THEN
        PERFORM commerce._request_refund(a);
    END IF;
    -- who decided, by name (the row trigger records the change and the session's actor)
    PERFORM commerce._audit(p_tenant, 'after_sale.decide', p_after_sale::text,
                            jsonb_build_object('approver', v_approver, 'approve', p_approve), a.status);
    RETURN a;
END $$;

COMMENT ON FUNCTION commerce.decide_after_sale(bigint, bigint, boolean, text, text) IS
  'Approve or reject an after-sale request (approving a refund-only request asks the payment provider for the refund). The approver is p_approver, else the verified actor, else the database role. A refund of at least the tenant''s refund_second_approval_fen needs two: the first approval is recorded (first_approver, status stays requested) and a second, different approver approves (the same one again: 42501). Audited. Idempotent.';

-- Set the refund amount from which a refund needs a second, different approver (0 or NULL: never).
CREATE FUNCTION commerce.set_refund_approval(p_tenant bigint, p_threshold_fen bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_threshold_fen < 0 OR p_threshold_fen > commerce._limit('max_fen') THEN
        PERFORM commerce._invalid('p_threshold_fen', format('%s fen', p_threshold_fen),
                                  'A threshold is an amount in fen (0 or NULL: no second approval).');
    END IF;
    UPDATE commerce.tenant SET refund_second_approval_fen = coalesce(p_threshold_fen, 0) WHERE tenant_id = p_tenant;
    PERFORM commerce._audit(p_tenant, 'refund_approval.set', p_tenant::text,
                            jsonb_build_object('threshold_fen', p_threshold_fen), 'set');
    RETURN p_threshold_fen;
END $$;
COMMENT ON FUNCTION commerce.set_refund_approval(bigint, bigint) IS
  'Refunds of at least p_threshold_fen need a second, different approver (commerce.decide_after_sale); 0 or NULL turns it off. Audited.';

-- The receiver of an order as the caller may see it.
CREATE OR REPLACE FUNCTION commerce.order_contact(p_tenant bigint, p_order bigint)
RETURNS TABLE (receiver_name text, receiver_phone text, receiver_region text, receiver_city text,
               receiver_address text, masked boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE o commerce.orders_row; v_full boolean := commerce.may_see_pii();
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_order, 'p_order');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('order', p_order::text, p_tenant);
    END IF;
    IF v_full THEN   -- an unmasked read of personal data is a sensitive operation
        PERFORM commerce._audit(p_tenant, 'pii.read', p_order::text, jsonb_build_object('order_id', p_order), 'unmasked');
    END IF;
    RETURN QUERY SELECT
        CASE WHEN v_full THEN o.receiver_name ELSE left(o.receiver_name, 1) || '**' END,
        CASE WHEN v_full THEN o.receiver_phone ELSE commerce.mask_phone(o.receiver_phone) END,
        o.receiver_region, o.receiver_city,
        CASE WHEN v_full THEN o.receiver_address ELSE commerce.mask_address(o.receiver_address) END,
        NOT v_full;
END $$;
COMMENT ON FUNCTION commerce.order_contact(bigint, bigint) IS
  'The receiver of an order: phone as 138****1234, name and address masked, unless commerce.may_see_pii(); an unmasked read is written to the audit log (so the function is VOLATILE: call it with POST).';

-- AES-256 (pgcrypto's pgp_sym_encrypt, in the schema pgcrypto was installed in) of one value.
CREATE FUNCTION commerce._encrypt(p_crypto_schema text, p_value text, p_key text) RETURNS bytea
LANGUAGE plpgsql VOLATILE AS $$
DECLARE v bytea;
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT %I.pgp_sym_encrypt($1, $2, ''cipher-algo=aes256'')', p_crypto_schema) INTO v USING p_value, p_key;
    RETURN v;
END $$;

-- The orders of a period for export, the receiver's name, phone and address encrypted under the caller's key.
CREATE FUNCTION commerce.export_orders(p_tenant bigint, p_from date, p_to date, p_key text,
                                       p_channels text[] DEFAULT NULL)
RETURNS TABLE (order_id bigint, channel text, external_order_id text, status text, payable_fen bigint,
               created_at timestamptz, receiver_region text, receiver_city text, receiver_name bytea,
               receiver_phone bytea, receiver_address bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE t commerce.tenant_row := commerce._tenant(p_tenant); v_crypto text; n bigint;
BEGIN
    PERFORM commerce._require(p_from, 'p_from');
    PERFORM commerce._require(p_to, 'p_to');
    PERFORM commerce._require(p_key, 'p_key');
    IF NOT isfinite(p_from) OR NOT isfinite(p_to) OR p_to < p_from OR p_to - p_from > 366 THEN
        PERFORM commerce._invalid('p_to', format('%s to %s', p_from, p_to), 'Export 1 to 367 days, from a date to a date on or after it.');
    END IF;
    IF length(p_key) NOT BETWEEN 16 AND 1000 THEN
        PERFORM commerce._invalid('p_key', format('%s characters', length(p_key)),
                                  'Use a key of 16 to 1000 characters, kept outside the database.');
    END IF;
    SELECT ns.nspname INTO v_crypto FROM pg_extension e JOIN pg_namespace ns ON ns.oid = e.extnamespace
     WHERE e.extname = 'pgcrypto';
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = 'pgcrypto is not installed in this database',
            DETAIL  = 'Exports encrypt the receiver''s name, phone and address with pgcrypto (AES-256).',
            HINT    = 'CREATE EXTENSION pgcrypto (PostgreSQL contrib).';
    END IF;
    RETURN QUERY
    SELECT o.order_id, ch.code, o.external_order_id, o.status::text, o.payable_fen, o.created_at,
           o.receiver_region, o.receiver_city, commerce._encrypt(v_crypto, o.receiver_name, p_key),
           commerce._encrypt(v_crypto, o.receiver_phone, p_key), commerce._encrypt(v_crypto, o.receiver_address, p_key)
      FROM commerce.orders o JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
     WHERE o.tenant_id = p_tenant
       AND o.created_at >= p_from::timestamp AT TIME ZONE t.time_zone
       AND o.created_at < (p_to + 1)::timestamp AT TIME ZONE t.time_zone
       AND (p_channels IS NULL OR ch.code = ANY (p_channels))
     ORDER BY o.order_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM commerce._audit(p_tenant, 'pii.export', format('%s..%s', p_from, p_to),
                            jsonb_build_object('from', p_from, 'to', p_to, 'channels', p_channels, 'rows', n), 'encrypted');
END $$;
COMMENT ON FUNCTION commerce.export_orders(bigint, date, date, text, text[]) IS
  'The orders placed in a period (the tenant''s local dates, at most 367 days; optionally of some channels) for export, the receiver''s name, phone and address encrypted with pgcrypto (pgp_sym_encrypt, AES-256) under p_key, which the operator supplies and keeps (16 to 1000 characters); decrypt with pgp_sym_decrypt(value, key). Audited (pii.export). 0A000 without pgcrypto.';

-- ==== sql/src/orders/api.sql

-- sql/src/orders/api.sql: an order's contact (masked unless allowed), and the
-- payment and platform callbacks, for HTTP clients.

CREATE OR REPLACE FUNCTION commerce_api.order_contact(order_id bigint)
RETURNS TABLE (receiver_name text, receiver_phone text, receiver_region text, receiver_city text,
               receiver_address text, masked boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_contact', '{customer,operator,service}');
        v_customer text; v_channel text; v_found boolean;
BEGIN
    SELECT true, cu.code, ch.code INTO v_found, v_customer, v_channel
      FROM commerce.orders o
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
     WHERE o.tenant_id = a.tenant_id AND o.order_id = order_contact.order_id;
    IF v_found AND a.kind = 'customer' AND v_customer IS DISTINCT FROM a.subject THEN
        PERFORM commerce._not_found('order', order_contact.order_id::text, a.tenant_id);   -- not its order
    END IF;
    IF v_found THEN
        PERFORM commerce._actor_scope(a, NULL, v_channel);
    END IF;
    RETURN QUERY SELECT * FROM commerce.order_contact(a.tenant_id, order_contact.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_contact(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_contact(bigint) IS
  'The receiver of an order, masked (138****1234) unless the caller may see personal data. A customer reads its own orders only (another''s is PT404); an operator those of its channels (42501 otherwise); a service any. An unmasked read is audited (POST /rpc/order_contact).';

CREATE FUNCTION commerce_api.record_payment(order_id bigint, payment_id text, amount_fen bigint)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_payment', '{service}') a,
           LATERAL commerce.pay_order(a.tenant_id, order_id, payment_id, amount_fen) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payment(bigint, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_payment(bigint, text, bigint) IS
  'The payment provider''s callback (service only): an order was paid with payment_id for amount_fen. Marks it paid and sells its reservation; a payment that does not match (amount, a cancelled order) becomes a payment exception for refund. Idempotent by payment_id.';

CREATE FUNCTION commerce_api.ingest_platform_order(channel text, payload jsonb)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.ingest_platform_order', '{service}') a,
           LATERAL commerce.ingest_platform_order(a.tenant_id, channel, payload) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) IS
  'The platform adapter''s call (service only): an order of a platform (Taobao, Douyin, ...) as the platform sent it; created or updated once per platform order and modification time.';

CREATE FUNCTION commerce_api.export_orders(from_date date, to_date date, key text)
RETURNS TABLE (order_id bigint, channel text, external_order_id text, status text, payable_fen bigint,
               created_at timestamptz, receiver_region text, receiver_city text, receiver_name bytea,
               receiver_phone bytea, receiver_address bytea)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.export_orders', '{operator,finance,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.export_orders(a.tenant_id, from_date, to_date, key, a.channels);
END $$;
REVOKE ALL ON FUNCTION commerce_api.export_orders(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.export_orders(date, date, text) IS
  'POST /rpc/export_orders: the orders of a period with the receiver''s name, phone and address encrypted (AES-256, pgcrypto) under the key the caller supplies; an operator gets the orders of its channels only. Open to operators, finance and services; audited.';

-- ==== sql/src/koc/api.sql

-- sql/src/koc/api.sql: clicks, withdrawals, payout results, stats and the
-- leaderboard for HTTP clients. A KOC withdraws and reads its own figures
-- only; payout results are the payout service's.

CREATE OR REPLACE FUNCTION commerce_api.record_click(code text, visitor text, ip inet DEFAULT NULL,
                                          user_agent text DEFAULT NULL)
RETURNS commerce.click_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_click', '{anonymous,customer,service}') a,
           LATERAL commerce.record_click(a.tenant_id, code,
                                         CASE WHEN a.kind = 'customer' THEN commerce._actor_subject(a, visitor, 'visitor')
                                              ELSE visitor END,
                                         commerce._client_ip(a, host(ip))::inet,
                                         commerce._client_header(a, user_agent, 'user-agent')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_click(text, text, inet, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_click(text, text, inet, text) IS
  'Record a click on a KOC''s tracking link (the signed code) by a visitor: an anonymous visitor by its cookie id, a signed-in customer as itself, the link redirector (service) for anyone. Counted once per visitor and window.';

CREATE OR REPLACE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS commerce.withdrawal_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT w.* FROM commerce._api_actor('commerce_api.request_withdrawal', '{koc,service}') a,
           LATERAL commerce.request_withdrawal(a.tenant_id, request_id, commerce._actor_subject(a, koc, 'koc'),
                                               amount_fen, method, payee) w;
$$;
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) IS
  'A KOC asks to withdraw from its own balance (koc NULL or its own code; another is 42501); a service (the KOC workbench''s backend) names the KOC. PT409 when the balance is short. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.record_payout(payout_ref text, status text, provider_ref text DEFAULT NULL,
                                           reason text DEFAULT NULL)
RETURNS text LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.record_payout(a.tenant_id, payout_ref, status, provider_ref, reason)
      FROM commerce._api_actor('commerce_api.record_payout', '{service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payout(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_payout(text, text, text, text) IS
  'The payout provider''s callback (service only): the result of a payout batch or withdrawal (paid or failed, with the provider''s reference).';

CREATE OR REPLACE FUNCTION commerce_api.koc_stats("kocId" bigint, "startDate" date, "endDate" date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_stats', '{koc,operator,finance,service}'); v_code text;
BEGIN
    SELECT k.code INTO v_code FROM commerce.koc k WHERE k.tenant_id = a.tenant_id AND k.koc_id = "kocId";
    IF a.kind = 'koc' AND v_code IS DISTINCT FROM a.subject THEN
        PERFORM commerce._not_found('KOC', '#' || "kocId", a.tenant_id);    -- another KOC's figures do not exist for it
    END IF;
    RETURN commerce.koc_stats(a.tenant_id, coalesce(v_code, '#' || "kocId"), "startDate", "endDate");
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_stats(bigint, date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_stats(bigint, date, date) IS
  'GET /rpc/koc_stats?kocId=&startDate=&endDate= (PostgREST): a KOC''s clicks, redemptions, GMV and commission for a period. A KOC reads its own only (another is PT404); operators, finance and services any.';

CREATE OR REPLACE FUNCTION commerce_api.koc_rank(start_date date, end_date date, region text DEFAULT NULL,
                                      metric text DEFAULT 'gmv', top integer DEFAULT 100)
RETURNS TABLE (rank bigint, koc text, name text, region text, level text, clicks bigint, redemptions bigint,
               gmv_fen bigint, commission_fen bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.koc_rank', '{koc,store,operator,finance,service}') a,
           LATERAL commerce.koc_rank(a.tenant_id, start_date, end_date, region, metric, top) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) IS
  'GET /rpc/koc_rank?start_date=&end_date=&top= (PostgREST): the KOC leaderboard of a period by gmv, redemptions or commission (metric), optionally for one region, the first top KOCs (default 100). Open to KOCs, staff and services.';

-- ==== sql/src/plays/group_buy.sql

-- sql/src/plays/group_buy.sql: group buys: joins under the instance lock,
-- success with assets.

-- Issue the assets of a successful group (members with orders), once per order.
CREATE OR REPLACE FUNCTION commerce._issue_group_assets(p_tenant bigint, p_instance bigint) RETURNS integer
LANGUAGE plpgsql AS $$   -- PL/pgSQL for a plan cached per session (an SQL function is planned per call)
DECLARE n integer;
BEGIN
    WITH ins AS (
        INSERT INTO commerce.user_asset (tenant_id, customer_id, asset_type, unit_name, total, remaining,
                                         source_activity, source_instance_id, order_id, created_at)
        SELECT p.tenant_id, p.customer_id, c.asset_type, t.unit_name, c.units_per_sale, c.units_per_sale,
               c.activity, p.instance_id, p.order_id, commerce.now()
          FROM commerce.play_participant p
          JOIN commerce.play_instance i USING (tenant_id, instance_id)
          JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
          JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
         WHERE p.tenant_id = p_tenant AND p.instance_id = p_instance AND p.order_id IS NOT NULL
           AND c.asset_type IS NOT NULL
        ON CONFLICT (tenant_id, order_id) DO NOTHING
        RETURNING 1)
    SELECT count(*)::integer INTO n FROM ins;
    RETURN n;
END $$;

-- ==== sql/src/plays/flash_sale.sql

-- sql/src/plays/flash_sale.sql: flash sales and first-order offers (buy_play).

-- Units left in a play's own pool.
CREATE OR REPLACE FUNCTION commerce._play_available(c commerce.play_config_row) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$   -- PL/pgSQL for a plan cached per session
BEGIN
    RETURN (SELECT coalesce(sum(commerce._pool_available(sp.tenant_id, sp.pool_id)), 0)::bigint
              FROM commerce.stock_pool sp
             WHERE sp.tenant_id = c.tenant_id AND sp.activity = c.activity AND sp.sku_id = c.sku_id
               AND sp.status = 'open');
END $$;

-- ==== sql/src/plays/order_effects.sql

-- sql/src/plays/order_effects.sql: what a paid or refunded play order does:
-- assets, invite rewards, participants.

-- Issue the asset of a paid flash-sale, bargain or invite-reward order (group buys issue at success).
CREATE OR REPLACE FUNCTION commerce._issue_order_asset(o commerce.orders_row) RETURNS void
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

-- ==== sql/src/plays/api.sql

-- sql/src/plays/api.sql: the plays for HTTP clients. A customer joins, buys,
-- bargains and invites as itself; store staff act for their own stores;
-- joining a group (paid at once) is the payment service's.

CREATE OR REPLACE FUNCTION commerce_api.visible_plays(city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce.play_display_row LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT v.* FROM commerce._api_actor('commerce_api.visible_plays', '{anonymous,customer,koc,store,operator,service}') a,
           LATERAL commerce.visible_plays(a.tenant_id, city, store) v;
$$;
REVOKE ALL ON FUNCTION commerce_api.visible_plays(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.visible_plays(text, text) IS
  'The plays running now that a shopper may see, optionally of one city or store. Open to every caller but finance.';

CREATE OR REPLACE FUNCTION commerce_api.record_play_view(play text, customer text DEFAULT NULL, ip text DEFAULT NULL,
                                              device text DEFAULT NULL)
RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.record_play_view(a.tenant_id, play, commerce._actor_subject(a, customer, 'customer'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'))
      FROM commerce._api_actor('commerce_api.record_play_view', '{anonymous,customer,service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_play_view(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_play_view(text, text, text, text) IS
  'Count a view of a play for its funnel: an anonymous visitor (no customer), a signed-in customer as itself, a service for anyone.';

CREATE OR REPLACE FUNCTION commerce_api.join_group(request_id text, play text, customer text, payment_id text,
                                        instance bigint DEFAULT NULL, ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.join_group', '{service}') a,
           LATERAL commerce.join_group(a.tenant_id, request_id, play, customer, payment_id, instance,
                                       'wechat_mp', commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text) IS
  'Open or join a group buy for a customer, paid at once: the payment service''s call once the provider confirmed payment_id (service only; a customer never names a payment). Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.buy_play(request_id text, play text, customer text DEFAULT NULL, qty integer DEFAULT 1,
                                      ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_play', '{customer,service}') a,
           LATERAL commerce.buy_play(a.tenant_id, request_id, play, commerce._actor_subject(a, customer, 'customer'),
                                     qty, 'wechat_mp', commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb) IS
  'Buy a flash-sale (or other priced) play: a customer for itself; creates the order awaiting payment (commerce_api.record_payment is the provider''s callback). Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.start_bargain(request_id text, play text, customer text DEFAULT NULL,
                                           ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.start_bargain', '{customer,service}') a,
           LATERAL commerce.start_bargain(a.tenant_id, request_id, play,
                                          commerce._actor_subject(a, customer, 'customer'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) IS
  'Start a bargain on a play: a customer for itself. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.help_bargain(request_id text, bargain bigint, helper text DEFAULT NULL,
                                          ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.help_bargain', '{customer,service}') a,
           LATERAL commerce.help_bargain(a.tenant_id, request_id, bargain,
                                         commerce._actor_subject(a, helper, 'helper'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) IS
  'Cut the price of another customer''s bargain: the helper is the calling customer. Once per helper and bargain; idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.buy_bargain(request_id text, bargain bigint, customer text DEFAULT NULL,
                                         ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_bargain', '{customer,service}') a,
           LATERAL commerce.buy_bargain(a.tenant_id, request_id, bargain,
                                        commerce._actor_subject(a, customer, 'customer'), 'wechat_mp',
                                        commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb) IS
  'Buy one''s own bargain at the price reached: a customer for itself; creates the order awaiting payment. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.invite(request_id text, play text, inviter text, invitee text, ip text DEFAULT NULL,
                                    device text DEFAULT NULL)
RETURNS commerce.play_invite_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.invite', '{customer,service}') a,
           LATERAL commerce.invite(a.tenant_id, request_id, play, commerce._actor_subject(a, inviter, 'inviter'),
                                   invitee, commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.invite(text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.invite(text, text, text, text, text, text) IS
  'Record that the inviter (the calling customer) invited a new customer to a play; rewarded once when the invitee pays. Idempotent by request_id.';

-- For store staff: the play's store must be one of theirs (42501); others pass.
CREATE FUNCTION commerce._api_play_scope(a commerce.actor, p_play text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE v_store text;
BEGIN
    IF a.kind IN ('store', 'operator', 'finance') THEN
        SELECT s.code INTO v_store FROM commerce.play_config c
          JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
         WHERE c.tenant_id = a.tenant_id AND c.code = p_play;
        IF FOUND THEN
            PERFORM commerce._actor_scope(a, v_store, NULL);
        END IF;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION commerce_api.consume_asset(request_id text, asset bigint, amount bigint, store text, operator text)
RETURNS commerce.user_asset_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.consume_asset', '{store,operator,service}');
BEGIN
    PERFORM commerce._actor_scope(a, store, NULL);
    RETURN commerce.consume_asset(a.tenant_id, request_id, asset, amount, store,
                                  commerce._actor_subject(a, operator, 'operator'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) IS
  'Consume units of a customer''s asset (a lesson, a visit) at a store: store staff at their own stores, with themselves as the operator (42501 otherwise); HQ operators anywhere as themselves; a service names the operator. Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce_api.play_dashboard(play text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.play_dashboard', '{store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_play_scope(a, play);
    RETURN commerce.play_dashboard(a.tenant_id, play);
END $$;
REVOKE ALL ON FUNCTION commerce_api.play_dashboard(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.play_dashboard(text) IS
  'The activity dashboard of a play (funnel, sales, groups, assets): store staff for their own stores'' plays (42501 otherwise), operators, finance and services any.';

CREATE OR REPLACE FUNCTION commerce_api.apply_play_settlement(request_id text, play text)
RETURNS commerce.play_settlement_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_play_settlement', '{store,operator,service}');
BEGIN
    PERFORM commerce._api_play_scope(a, play);
    RETURN commerce.apply_play_settlement(a.tenant_id, request_id, play);
END $$;
REVOKE ALL ON FUNCTION commerce_api.apply_play_settlement(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_play_settlement(text, text) IS
  'A store applies for the settlement of an ended play: store staff for their own stores'' plays (42501 otherwise), operators and services any. Idempotent by request_id.';

-- ==== sql/src/core/retention.sql

-- sql/src/core/retention.sql: the purge job. Rows that only serve
-- operations (idempotency keys, delivered outbox messages, funnel events,
-- clicks, pg_cron's run details) are deleted once older than
-- commerce.retention says, in bounded batches; ledgers, orders and money are
-- never touched. Late in the manifest: it purges tables of later modules.

-- Delete up to p_limit rows past their retention, oldest first per tenant and kind; returns how many.
CREATE FUNCTION commerce.purge_batch(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE r record; v_left integer := p_limit; v_cut timestamptz; n integer; v_total integer := 0;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'Purge 1 to 100000 rows per batch.');
    END IF;
    FOR r IN
        SELECT t.tenant_id, d.what, coalesce(o.keep, d.keep) AS keep
          FROM commerce.tenant t
         CROSS JOIN commerce.retention d
          LEFT JOIN commerce.retention o ON o.tenant_id = t.tenant_id AND o.what = d.what
         WHERE d.tenant_id = 0 AND d.what <> 'cron.job_run_details'
         ORDER BY t.tenant_id, d.what
    LOOP
        EXIT WHEN v_left <= 0;
        v_cut := commerce.now() - r.keep;
        n := 0;
        CASE r.what
        WHEN 'request_log' THEN
            DELETE FROM commerce.request_log l
             WHERE l.ctid = ANY (ARRAY(SELECT x.ctid FROM commerce.request_log x
                                        WHERE x.tenant_id = r.tenant_id AND x.created_at < v_cut LIMIT v_left));
        WHEN 'outbox.done' THEN
            DELETE FROM commerce.outbox m
             WHERE m.tenant_id = r.tenant_id
               AND m.message_id IN (SELECT x.message_id FROM commerce.outbox x
                                     WHERE x.tenant_id = r.tenant_id AND x.status = 'done' AND x.done_at < v_cut
                                     ORDER BY x.message_id LIMIT v_left);
        WHEN 'outbox.dead' THEN
            DELETE FROM commerce.outbox m
             WHERE m.tenant_id = r.tenant_id
               AND m.message_id IN (SELECT x.message_id FROM commerce.outbox x
                                     WHERE x.tenant_id = r.tenant_id AND x.status = 'dead'
                                       AND coalesce(x.done_at, x.created_at) < v_cut
                                     ORDER BY x.message_id LIMIT v_left);
        WHEN 'play_event' THEN
            DELETE FROM commerce.play_event e
             WHERE e.tenant_id = r.tenant_id
               AND e.event_id IN (SELECT x.event_id FROM commerce.play_event x
                                   WHERE x.tenant_id = r.tenant_id AND x.at < v_cut
                                   ORDER BY x.event_id LIMIT v_left);
        WHEN 'click' THEN
            DELETE FROM commerce.click c
             WHERE c.tenant_id = r.tenant_id
               AND c.click_id IN (SELECT x.click_id FROM commerce.click x
                                   WHERE x.tenant_id = r.tenant_id AND x.clicked_at < v_cut
                                   ORDER BY x.click_id LIMIT v_left);
        END CASE;
        GET DIAGNOSTICS n = ROW_COUNT;
        v_left := v_left - n;
        v_total := v_total + n;
    END LOOP;
    -- pg_cron's run details of the commerce jobs, when pg_cron is in this database and may be written
    IF v_left > 0 AND to_regclass('cron.job_run_details') IS NOT NULL THEN
        BEGIN
            EXECUTE 'DELETE FROM cron.job_run_details d WHERE d.runid IN (
                         SELECT x.runid FROM cron.job_run_details x JOIN cron.job j ON j.jobid = x.jobid
                          WHERE j.jobname IN (SELECT job_name FROM commerce.job) AND x.end_time < $1
                          ORDER BY x.runid LIMIT $2)'
              USING commerce.now() - (SELECT keep FROM commerce.retention
                                       WHERE tenant_id = 0 AND what = 'cron.job_run_details'), v_left;
            GET DIAGNOSTICS n = ROW_COUNT;
            v_total := v_total + n;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;   -- the job role may not write pg_cron's tables: left to the DBA
        END;
    END IF;
    RETURN v_total;
END $$;
COMMENT ON FUNCTION commerce.purge_batch(integer) IS
  'Delete up to p_limit rows older than their retention (commerce.retention: tenant row, else the tenant-0 default): idempotency keys (request_log), delivered and dead outbox messages, play funnel events, clicks, and pg_cron''s run details of the commerce jobs. Never a ledger, an order or money. Returns the rows deleted.';

-- The purge job (pg_cron, daily): purge in committed batches until nothing is due.
CREATE PROCEDURE commerce.purge_pump(p_batch integer DEFAULT 10000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.purge_batch', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.purge_pump(integer, integer) IS
  'The purge job (pg_cron, daily at 03:17 Beijing time): deletes everything past its retention in committed batches of 10000.';

-- What the purge job would delete now, per kind (a DBA's preview; nothing is deleted).
CREATE FUNCTION commerce.retention_report()
RETURNS TABLE (what text, keep interval, overridden_by integer, rows_due bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT d.what, d.keep, (SELECT count(*)::integer FROM commerce.retention o WHERE o.what = d.what AND o.tenant_id <> 0),
           CASE d.what
           WHEN 'request_log' THEN (SELECT count(*) FROM commerce.request_log x
                                     WHERE x.created_at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'outbox.done' THEN (SELECT count(*) FROM commerce.outbox x WHERE x.status = 'done'
                                       AND x.done_at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'outbox.dead' THEN (SELECT count(*) FROM commerce.outbox x WHERE x.status = 'dead'
                                       AND coalesce(x.done_at, x.created_at) < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'play_event' THEN (SELECT count(*) FROM commerce.play_event x
                                    WHERE x.at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'click' THEN (SELECT count(*) FROM commerce.click x
                               WHERE x.clicked_at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           END
      FROM commerce.retention d WHERE d.tenant_id = 0 ORDER BY d.what;
END $$;
COMMENT ON FUNCTION commerce.retention_report() IS
  'Per kind of purged row: the default retention, how many tenants override it, and how many rows are due now (cron.job_run_details: not counted). Nothing is deleted.';

-- A tenant's retention of one kind (its own row, else the default).
CREATE FUNCTION commerce._retention(p_tenant bigint, p_what text) RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT keep FROM commerce.retention WHERE tenant_id = p_tenant AND what = p_what),
                    (SELECT keep FROM commerce.retention WHERE tenant_id = 0 AND what = p_what));
$$;

-- Set (or with p_keep NULL, remove) a tenant's retention of one kind; tenant 0 changes the default.
CREATE FUNCTION commerce.set_retention(p_tenant bigint, p_what text, p_keep interval) RETURNS interval
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_what, 'p_what');
    IF p_tenant <> 0 THEN
        PERFORM commerce._tenant(p_tenant);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM commerce.retention WHERE tenant_id = 0 AND what = p_what) THEN
        PERFORM commerce._invalid('p_what', format('"%s"', left(p_what, 64)),
            'One of: request_log, outbox.done, outbox.dead, play_event, click, cron.job_run_details.');
    END IF;
    IF p_keep IS NULL THEN
        IF p_tenant = 0 THEN
            PERFORM commerce._require(p_keep, 'p_keep');
        END IF;
        DELETE FROM commerce.retention WHERE tenant_id = p_tenant AND what = p_what;
        RETURN commerce._retention(p_tenant, p_what);
    END IF;
    IF p_keep < interval '1 day' OR p_keep > interval '20 years' THEN
        PERFORM commerce._invalid('p_keep', format('%s', p_keep), 'Keep rows 1 day to 20 years.');
    END IF;
    IF p_what = 'cron.job_run_details' AND p_tenant <> 0 THEN
        PERFORM commerce._invalid('p_tenant', format('%s', p_tenant), 'pg_cron''s run details have one retention (tenant 0).');
    END IF;
    INSERT INTO commerce.retention (tenant_id, what, keep) VALUES (p_tenant, p_what, p_keep)
    ON CONFLICT (tenant_id, what) DO UPDATE SET keep = EXCLUDED.keep;
    RETURN p_keep;
END $$;
COMMENT ON FUNCTION commerce.set_retention(bigint, text, interval) IS
  'Set how long the purge job keeps one kind of row for a tenant (1 day to 20 years; tenant 0: the default); p_keep NULL removes the tenant''s own setting. Returns the retention now in force.';

-- ==== sql/src/core/privileges.sql

-- sql/src/core/privileges.sql: what other roles may see and run, last in the
-- manifest. Row level security on every table of tenant data: a role that
-- reads a table directly (a bound login role, a gateway's session, a role an
-- operator granted SELECT) sees the rows of its verified tenant only, and the
-- install's defaults (tenant 0). The functions run as their owner and are
-- not limited by it. Nothing of schema commerce is executable by PUBLIC:
-- every function and procedure the modules above created is closed here; a
-- role is granted what it needs (commerce.grant_api, commerce.bind_role).
-- Every upgrade script ends with the same REVOKE, so the functions it adds
-- are closed too.

-- Row level security on every table of schema commerce with a tenant_id column (idempotent).
CREATE FUNCTION commerce._isolate_tenants() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE r record; n integer := 0;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS t, (ad.adbin IS NOT NULL AND pg_get_expr(ad.adbin, ad.adrelid) = '0') AS defaults
          FROM pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
          LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
         WHERE c.relnamespace = 'commerce'::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY 1::text
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.t);
        IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = r.t AND polname = 'tenant_isolation') THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = (SELECT commerce._rls_tenant()))', r.t);
        END IF;
        IF r.defaults AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = r.t AND polname = 'tenant_defaults') THEN
            EXECUTE format('CREATE POLICY tenant_defaults ON %s FOR SELECT USING (tenant_id = 0)', r.t);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce._isolate_tenants() IS
  'Enable row level security on every table of schema commerce that has a tenant_id column, with policy tenant_isolation (rows of the session''s verified tenant, commerce._rls_tenant()) and, where tenant_id defaults to 0, tenant_defaults (the install''s defaults, read only). Idempotent; returns the number of tables.';

COMMENT ON SCHEMA commerce_api IS
  'The HTTP/GraphQL face of commerce: functions that take their actor (tenant, customer, KOC, staff member or service) from the verified identity. commerce.grant_api() grants each to the actor roles it is open to.';

-- the types the API returns and the enums, documented (docs/api.md)
COMMENT ON TYPE commerce.resolved_price IS
  'A price as resolved for a SKU, channel, member tier and moment: price_fen (integer fen), its source (flash, member, channel or msrp) and the price row it came from (price_id, NULL for the MSRP).';
COMMENT ON TYPE commerce.reservation_status IS
  'A reservation''s state: active (holding stock), then exactly once confirmed (sold), released or expired.';
COMMENT ON TYPE commerce.stock_movement_kind IS
  'What a stock movement records: receive, adjust, reserve, confirm, release, expire, return, allocate, deallocate.';
COMMENT ON TYPE commerce.reservation_result IS
  'The outcome of a reservation call: the reservation, its status (active, confirmed, released, expired) and until when it holds.';
COMMENT ON TYPE commerce.order_status IS
  'An order''s state: pending_payment, paid, shipped, completed, cancelled, after_sale, refunded.';
COMMENT ON TYPE commerce.order_result IS
  'The outcome of an order call: the order, its status, the payable amount in fen, the payment deadline and what the call did (outcome: placed, existing (a repeat), paid, already_paid, cancelled, already_cancelled, refund_pending).';
COMMENT ON TYPE commerce.after_sale_kind IS
  'An after-sale request''s kind: refund_only, return_refund, exchange.';
COMMENT ON TYPE commerce.click_result IS
  'The outcome of a click on a tracking link: the click, whether it counted (not a repeat within the dedupe window), the KOC and the task.';
COMMENT ON TYPE commerce.join_result IS
  'The outcome of joining a group buy: the group (instance), its status and progress (current of target, deadline), the member''s order and what happened (opened, joined, succeeded, repeated).';
COMMENT ON TYPE commerce.bargain_result IS
  'The outcome of a bargain call: the bargain (instance), its status, helps so far and needed, the price reached and its floor in fen, the deadline and what happened (started, cut, succeeded, repeated).';

-- the audited tables
SELECT commerce._declare_audited('commerce.staff', 'code', ARRAY['name', 'kind', 'stores', 'channels', 'active']);
SELECT commerce._declare_audited('commerce.role_binding', 'role_name', ARRAY['tenant_id', 'kind', 'subject']);
SELECT commerce._declare_audited('commerce.retention', 'what', ARRAY['keep']);
SELECT commerce._declare_audited('commerce.price', 'price_id', ARRAY['kind', 'channel_id', 'member_tier', 'price_fen', 'valid_from', 'valid_to']);
SELECT commerce._declare_audited('commerce.after_sale', 'after_sale_id', ARRAY['status', 'refund_fen', 'decision_note',
                                                                               'first_approver']);
SELECT commerce._declare_audited('commerce.settle_batch', 'batch_id', ARRAY['status', 'amount_fen', 'provider_ref', 'failure_reason'],
                                 p_inserts => false);
SELECT commerce._declare_audited('commerce.withdrawal', 'withdrawal_id', ARRAY['status', 'amount_fen', 'reviewer', 'reason', 'provider_ref']);
SELECT commerce._declare_audited('commerce.koc_risk_flag', 'flag_id', ARRAY['status', 'reviewer', 'reason']);
SELECT commerce._declare_audited('commerce.play_settlement', 'settlement_id', ARRAY['status', 'store_fen', 'hq_fen', 'decided_by', 'reason', 'provider_ref']);

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY coalesce(string_to_array(nullif(current_setting('commerce_upgrade.koc_rank_grants'), ''), ','), '{}')
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) TO %s', r);
    END LOOP;
END $$;

SELECT commerce._isolate_tenants();

-- ===========================================================================
-- the API face (issue 12): the storefront, the KOC's link and account, the
-- store counter's lookups, HQ finance's settlement decision; a group place
-- held until its order is paid; the API shapes (views of commerce_api)
-- ===========================================================================

-- a group place may be held until its order is paid (commerce.join_group without a payment)
ALTER TABLE commerce.play_participant DROP CONSTRAINT play_participant_status_check;
ALTER TABLE commerce.play_participant ADD CONSTRAINT play_participant_status_check
    CHECK (status IN ('held', 'joined', 'refunding', 'refunded'));
COMMENT ON TABLE commerce.play_participant IS
  'The members of a group with their orders; virtual members fill a group at its deadline when the rules allow it (no order). A customer who joins before paying holds a place (held) until its order is paid (joined) or cancelled (the place is given back). A member of a failed group is refunding until the payment provider confirms the refund (commerce.complete_refund).';
COMMENT ON COLUMN commerce.play_participant.status IS
  'held while the member''s order awaits payment (the place counts in current; the group cannot succeed until it is paid); joined once paid; refunding when the group failed and the refund is under way; refunded once the payment provider confirmed it (commerce.complete_refund).';

-- the held places of a group, looked up at every join, payment and cancellation
CREATE INDEX play_participant_held ON commerce.play_participant (tenant_id, instance_id, order_id)
    WHERE status = 'held';

-- the customer's group join, flash-sale and bargain purchases take the channel ordered on: the
-- three are dropped and created with the new argument; their grants are kept and given back below
DO $$
DECLARE f text; v_grants jsonb := '[]';
BEGIN
    FOREACH f IN ARRAY ARRAY['commerce_api.join_group(text, text, text, text, bigint, text, text)',
                             'commerce_api.buy_play(text, text, text, integer, text, text, jsonb)',
                             'commerce_api.buy_bargain(text, bigint, text, text, text, jsonb)'] LOOP
        v_grants := v_grants || coalesce((
            SELECT jsonb_agg(jsonb_build_object('name', p.oid::regproc::text, 'grantee', a.grantee::regrole::text))
              FROM pg_proc p, aclexplode(p.proacl) a
             WHERE p.oid = f::regprocedure AND a.privilege_type = 'EXECUTE' AND a.grantee NOT IN (0, p.proowner)), '[]');
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
    PERFORM set_config('commerce_upgrade.channel_grants', v_grants::text, true);
END $$;

CREATE FUNCTION commerce.yuan(p_fen bigint) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_yuan' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION commerce.yuan(bigint) IS
  'An amount in fen written as the exact yuan figure a display shows: 14900 -> "149.00", -5 -> "-0.05" (no rounding, no float; NULL for NULL). The *_yuan fields of the API are made with it.';
CREATE FUNCTION commerce._api_page(p_page_size integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM commerce._require(p_page_size, 'page_size');
    IF p_page_size NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('page_size', format('%s rows', p_page_size),
                                  'Ask for 1 to 100 rows a page; page on with the cursor argument (after_sku, before_id).');
    END IF;
END $$;
CREATE VIEW commerce_api.customer_profile AS
SELECT NULL::text AS customer, NULL::text AS name, NULL::text AS phone_masked, NULL::text AS member_tier,
       NULL::text AS member_tier_name, NULL::timestamptz AS registered_at
 WHERE false;
COMMENT ON VIEW commerce_api.customer_profile IS
  E'@omit all\nA customer''s own profile: its code (the token''s subject), name, phone masked (138****1234), paid membership tier (code and name; NULL without one) and when it signed up. Returned by sign_up and me.';
CREATE FUNCTION commerce_api.sign_up(name text DEFAULT NULL, phone text DEFAULT NULL)
RETURNS SETOF commerce_api.customer_profile LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sign_up', '{customer}');
BEGIN
    IF length(sign_up.name) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('name', format('%s characters', length(sign_up.name)), 'A name is 1 to 64 characters.');
    END IF;
    IF sign_up.phone !~ '^\+?[0-9]{6,15}$' THEN
        PERFORM commerce._invalid('phone', format('"%s"', left(sign_up.phone, 32)),
                                  'A phone number is 6 to 15 digits, optionally after +.');
    END IF;
    INSERT INTO commerce.customer AS cu (tenant_id, code, name, phone)
    VALUES (a.tenant_id, a.subject, sign_up.name, sign_up.phone)
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = coalesce(EXCLUDED.name, cu.name), phone = coalesce(EXCLUDED.phone, cu.phone);
    RETURN QUERY SELECT * FROM commerce._customer_profile(a);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sign_up(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sign_up(text, text) IS
  'Sign up as the customer the token names (its subject, e.g. the mini-program user id), or change one''s name (1 to 64 characters) and phone (6 to 15 digits); an argument left out keeps what is there. The membership tier is never set here. Customers only. Returns the profile (customer_profile).';
CREATE FUNCTION commerce._customer_profile(a commerce.actor) RETURNS SETOF commerce_api.customer_profile
LANGUAGE sql STABLE AS $$
    SELECT cu.code, cu.name, commerce.mask_phone(cu.phone), cu.member_tier, t.name, cu.created_at
      FROM commerce.customer cu
      LEFT JOIN commerce.member_tier t ON t.tenant_id = cu.tenant_id AND t.code = cu.member_tier
     WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
$$;
CREATE FUNCTION commerce_api.me()
RETURNS SETOF commerce_api.customer_profile LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.me', '{customer}');
BEGIN
    RETURN QUERY SELECT * FROM commerce._customer_profile(a);
END $$;
REVOKE ALL ON FUNCTION commerce_api.me() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.me() IS
  'The calling customer''s profile (customer_profile); no row before sign_up. Customers only.';
CREATE VIEW commerce_api.catalog_item AS
SELECT NULL::text AS sku, NULL::text AS product, NULL::text AS name, NULL::text AS product_name,
       NULL::text AS kind, NULL::text AS virtual_kind, NULL::text AS brand, NULL::text AS category,
       NULL::jsonb AS spec, NULL::bigint AS msrp_fen, NULL::bigint AS price_fen, NULL::text AS price_yuan,
       NULL::text AS price_source, NULL::bigint AS available, NULL::boolean AS presale
 WHERE false;
COMMENT ON VIEW commerce_api.catalog_item IS
  E'@omit all\nA SKU as a shop shows it: codes and names, product kind (physical or virtual and which), brand, category, spec (size, colour, ...), the list price (msrp_fen) and the price now for the caller on the channel (price_fen, price_yuan as an exact string; price_source msrp, channel, member or flash), the units available to order from the shared stock (activities'' own stock not included), and whether it is sold before stock arrives (presale).';
CREATE FUNCTION commerce_api.catalog(channel text, search text DEFAULT NULL, category text DEFAULT NULL,
                                     after_sku text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.catalog_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.catalog', '{anonymous,customer,koc,store,operator,finance,service}');
        v_tier text;
BEGIN
    PERFORM commerce._require(catalog.channel, 'channel');
    PERFORM commerce._api_page(catalog.page_size);
    IF NOT EXISTS (SELECT 1 FROM commerce.channel ch WHERE ch.tenant_id = a.tenant_id AND ch.code = catalog.channel) THEN
        PERFORM commerce._not_found('channel', catalog.channel, a.tenant_id);
    END IF;
    IF a.kind = 'customer' THEN
        SELECT cu.member_tier INTO v_tier FROM commerce.customer cu WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
    END IF;
    RETURN QUERY
    SELECT s.code, p.code, s.name, p.name, p.kind, p.virtual_kind, p.brand, p.category, s.spec, s.msrp_fen,
           r.price_fen, commerce.yuan(r.price_fen), r.source,
           (SELECT coalesce(sum(st.available), 0)::bigint FROM commerce.stock st
             WHERE st.tenant_id = s.tenant_id AND st.sku = s.code AND st.activity IS NULL AND st.status = 'open'),
           s.presale
      FROM commerce.sku s
      JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
      CROSS JOIN LATERAL commerce.resolve_price(s.tenant_id, s.code, catalog.channel, v_tier) r
     WHERE s.tenant_id = a.tenant_id AND s.active
       AND (catalog.after_sku IS NULL OR s.code > catalog.after_sku)
       AND (catalog.category IS NULL OR p.category = catalog.category)
       AND (catalog.search IS NULL OR strpos(lower(s.name || ' ' || p.name), lower(left(catalog.search, 64))) > 0)
     ORDER BY s.code
     LIMIT catalog.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.catalog(text, text, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.catalog(text, text, text, text, integer) IS
  'The active SKUs of the shop on a channel (catalog_item), by SKU code: search matches the SKU or product name, category the product''s; paged by cursor (after_sku: the last sku of the previous page; page_size: 1 to 100, default 20). A signed-in customer sees its own member tier''s price; flash prices apply in their window. Open to every caller.';
CREATE VIEW commerce_api.order_summary AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::text AS external_order_id, NULL::text AS customer,
       NULL::commerce.order_status AS status, NULL::bigint AS goods_fen, NULL::bigint AS discount_fen,
       NULL::bigint AS shipping_fen, NULL::bigint AS payable_fen, NULL::text AS payable_yuan, NULL::bigint AS paid_fen,
       NULL::bigint AS refunded_fen, NULL::timestamptz AS pay_deadline, NULL::text AS activity, NULL::bigint AS group_id,
       NULL::jsonb AS lines, NULL::timestamptz AS created_at, NULL::timestamptz AS paid_at,
       NULL::timestamptz AS shipped_at, NULL::timestamptz AS completed_at, NULL::timestamptz AS cancelled_at
 WHERE false;
COMMENT ON VIEW commerce_api.order_summary IS
  E'@omit all\nAn order as the API shows it: id, channel, the platform''s order number, the customer''s code, status (order_status: pending_payment, paid, shipped, completed, cancelled, after_sale, refunded), amounts in fen (payable_yuan the exact yuan string), the pay deadline of an unpaid order, the play activity and group it came from, its lines ([{sku, name, qty, unit_price_fen, amount_fen}]) and when it was placed, paid, shipped, completed or cancelled. The receiver is read with order_contact.';
CREATE FUNCTION commerce._order_summary(p_tenant bigint, p_orders bigint[]) RETURNS SETOF commerce_api.order_summary
LANGUAGE sql STABLE AS $$
    SELECT o.order_id, ch.code, o.external_order_id, cu.code, o.status, o.goods_fen, o.discount_fen, o.shipping_fen,
           o.payable_fen, commerce.yuan(o.payable_fen), o.paid_fen, o.refunded_fen,
           CASE WHEN o.status = 'pending_payment' THEN o.pay_deadline END, o.source_activity, o.source_instance_id,
           (SELECT jsonb_agg(jsonb_build_object('sku', s.code, 'name', s.name, 'qty', l.qty,
                                                'unit_price_fen', l.unit_price_fen, 'amount_fen', l.amount_fen)
                             ORDER BY l.line_no)
              FROM commerce.order_line l JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
             WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id),
           o.created_at, o.paid_at, o.shipped_at, o.completed_at, o.cancelled_at
      FROM commerce.orders o
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
     WHERE o.tenant_id = p_tenant AND o.order_id = ANY (p_orders)
     ORDER BY o.order_id DESC;
$$;
CREATE FUNCTION commerce._api_order(a commerce.actor, p_order bigint) RETURNS commerce.orders_row
LANGUAGE plpgsql STABLE AS $$
DECLARE o commerce.orders_row; r record;
BEGIN
    PERFORM commerce._require(p_order, 'order_id');
    SELECT ROW(x.*)::commerce.orders_row AS ord, cu.code AS customer, ch.code AS channel INTO r
      FROM commerce.orders x
      JOIN commerce.channel ch ON ch.tenant_id = x.tenant_id AND ch.channel_id = x.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = x.tenant_id AND cu.customer_id = x.customer_id
     WHERE x.tenant_id = a.tenant_id AND x.order_id = p_order;
    IF NOT FOUND OR (a.kind = 'customer' AND r.customer IS DISTINCT FROM a.subject) THEN
        PERFORM commerce._not_found('order', p_order::text, a.tenant_id);   -- another's order does not exist for it
    END IF;
    PERFORM commerce._actor_scope(a, NULL, r.channel);
    o := r.ord;
    RETURN o;
END $$;
CREATE FUNCTION commerce_api.place_order(request_id text, channel text, lines jsonb, receiver jsonb DEFAULT NULL,
                                         customer text DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.place_order', '{customer,service}');
        r commerce.order_result;
BEGIN
    r := commerce.place_order(a.tenant_id, place_order.request_id, place_order.channel,
                              jsonb_strip_nulls(jsonb_build_object('lines', place_order.lines, 'receiver', place_order.receiver)),
                              commerce._actor_subject(a, place_order.customer, 'customer'));
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[r.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text) IS
  'Place an order on a self-operated channel (wechat_mp, alipay_mp, h5): lines [{"sku":"HOODIE-L","qty":1}], receiver {"name","phone","region","city","address"}. Prices are resolved for the customer (its member tier, flash prices now); the stock is held until the pay deadline (15 minutes) and the order awaits payment (pay with pay_intent; the provider''s callback is record_payment). A customer orders as itself (customer left out); a service names the customer. No discount or shipping fee can be set here. Idempotent by request_id. Returns the order (order_summary).';
CREATE VIEW commerce_api.payment_intent AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::bigint AS amount_fen, NULL::text AS amount_yuan,
       NULL::timestamptz AS pay_deadline, NULL::bigint AS message_id, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.payment_intent IS
  E'@omit all\nA request to the payment provider to collect an order''s payable amount (amount_fen, amount_yuan the exact string) before its pay deadline, queued in the outbox as payment.intent (message_id; the provider adapter creates the provider''s prepay order and answers the client). outcome: queued, or repeated when it was already asked for.';
CREATE FUNCTION commerce_api.pay_intent(order_id bigint)
RETURNS SETOF commerce_api.payment_intent LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.pay_intent', '{customer,service}');
        o commerce.orders_row := commerce._api_order(a, pay_intent.order_id); v_channel text; v_msg bigint; v_outcome text;
BEGIN
    SELECT ch.code INTO v_channel FROM commerce.channel ch WHERE ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id;
    IF o.status <> 'pending_payment' OR o.pay_deadline <= commerce.now() THEN
        RAISE EXCEPTION USING ERRCODE = CASE WHEN o.status = 'pending_payment' THEN 'PT410' ELSE 'PT409' END,
            MESSAGE = format('order %s cannot be paid: it is %s', o.order_id,
                             CASE WHEN o.status = 'pending_payment' THEN 'past its pay deadline' ELSE o.status::text END),
            DETAIL  = format('Pay deadline %s.', coalesce(o.pay_deadline::text, 'none')),
            HINT    = 'Only an order awaiting payment before its deadline is paid; place a new order.';
    END IF;
    SELECT m.message_id INTO v_msg FROM commerce.outbox m
     WHERE m.tenant_id = o.tenant_id AND m.topic = 'payment.intent' AND m.dedupe_key = 'pay-intent:' || o.order_id;
    v_outcome := CASE WHEN FOUND THEN 'repeated' ELSE 'queued' END;
    IF v_msg IS NULL THEN
        v_msg := commerce.enqueue(o.tenant_id, 'payment.intent',
            jsonb_build_object('order_id', o.order_id, 'channel', v_channel, 'amount_fen', o.payable_fen,
                               'pay_deadline', o.pay_deadline,
                               'customer', (SELECT cu.code FROM commerce.customer cu
                                             WHERE cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id)),
            'pay-intent:' || o.order_id);
    END IF;
    RETURN QUERY SELECT o.order_id, v_channel, o.payable_fen, commerce.yuan(o.payable_fen), o.pay_deadline, v_msg, v_outcome;
END $$;
REVOKE ALL ON FUNCTION commerce_api.pay_intent(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.pay_intent(bigint) IS
  'Ask the payment provider to collect an unpaid order (payment_intent): queued once per order in the outbox (payment.intent); asking again returns the same intent. PT409 when the order is not awaiting payment, PT410 past its pay deadline. A customer for its own orders (another''s is PT404); a service for any.';
CREATE FUNCTION commerce_api.cancel_order(order_id bigint, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.cancel_order', '{customer,operator,service}');
        o commerce.orders_row := commerce._api_order(a, cancel_order.order_id);
BEGIN
    PERFORM commerce.cancel_order(a.tenant_id, o.order_id,
                                  left(coalesce(cancel_order.reason, 'cancelled by ' || a.kind), 200));
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[o.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.cancel_order(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.cancel_order(bigint, text) IS
  'Cancel an unpaid order (its stock goes back; a group place it held is given back): a customer its own (another''s is PT404), an operator those of its channels, a service any. A paid order is PT409 (open an after-sale request instead); cancelling again is a no-op. Returns the order (order_summary).';
CREATE FUNCTION commerce_api.orders(status commerce.order_status DEFAULT NULL, customer text DEFAULT NULL,
                                    before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.orders', '{customer,operator,finance,service}');
        v_customer text := commerce._actor_subject(a, orders.customer, 'customer');
        v_ids bigint[];
BEGIN
    PERFORM commerce._api_page(orders.page_size);
    IF a.kind IN ('operator', 'finance') THEN
        v_customer := orders.customer;          -- staff may look up one customer or list all
    END IF;
    SELECT array_agg(x.order_id) INTO v_ids FROM (
        SELECT o.order_id FROM commerce.orders o
          LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
          JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
         WHERE o.tenant_id = a.tenant_id
           AND (v_customer IS NULL OR cu.code = v_customer)
           AND (orders.status IS NULL OR o.status = orders.status)
           AND (orders.before_id IS NULL OR o.order_id < orders.before_id)
           AND (a.channels IS NULL OR ch.code = ANY (a.channels))
         ORDER BY o.order_id DESC LIMIT orders.page_size) x;
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, coalesce(v_ids, '{}'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.orders(commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.orders(commerce.order_status, text, bigint, integer) IS
  'Orders newest first (order_summary), optionally of one status: a customer its own (customer left out or its own); operators and finance any customer''s (customer filters; operators limited to their channels); services any. Paged by cursor: before_id is the last order_id of the previous page, page_size 1 to 100 (default 20).';
CREATE VIEW commerce_api.order_status_change AS
SELECT NULL::bigint AS order_id, NULL::commerce.order_status AS from_status, NULL::commerce.order_status AS to_status,
       NULL::timestamptz AS changed_at, NULL::text AS reason
 WHERE false;
COMMENT ON VIEW commerce_api.order_status_change IS
  E'@omit all\nOne status an order took: from and to (order_status), when, and why (placed, paid, unpaid at the deadline, an after-sale decision, ...).';
CREATE FUNCTION commerce_api.order_history(order_id bigint)
RETURNS SETOF commerce_api.order_status_change LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_history', '{customer,operator,finance,service}');
        o commerce.orders_row := commerce._api_order(a, order_history.order_id);
BEGIN
    RETURN QUERY SELECT h.order_id, h.from_status, h.to_status, h.changed_at, h.reason
                   FROM commerce.order_status_history h
                  WHERE h.tenant_id = o.tenant_id AND h.order_id = o.order_id
                  ORDER BY h.history_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_history(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_history(bigint) IS
  'Every status an order took, oldest first (order_status_change): a customer for its own orders (another''s is PT404), staff of their channels, services any.';
CREATE VIEW commerce_api.order_shipment AS
SELECT NULL::bigint AS order_id, NULL::bigint AS shipment_id, NULL::text AS carrier, NULL::text AS tracking_no,
       NULL::timestamptz AS shipped_at
 WHERE false;
COMMENT ON VIEW commerce_api.order_shipment IS
  E'@omit all\nA parcel of an order: carrier, tracking number and when it was shipped.';
CREATE FUNCTION commerce_api.order_shipments(order_id bigint)
RETURNS SETOF commerce_api.order_shipment LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_shipments', '{customer,operator,finance,service}');
        o commerce.orders_row := commerce._api_order(a, order_shipments.order_id);
BEGIN
    RETURN QUERY SELECT s.order_id, s.shipment_id, s.carrier, s.tracking_no, s.shipped_at
                   FROM commerce.shipment s
                  WHERE s.tenant_id = o.tenant_id AND s.order_id = o.order_id
                  ORDER BY s.shipment_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.order_shipments(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_shipments(bigint) IS
  'The parcels of an order (order_shipment): a customer for its own orders (another''s is PT404), staff of their channels, services any.';
CREATE VIEW commerce_api.after_sale_request AS
SELECT NULL::bigint AS after_sale_id, NULL::bigint AS order_id, NULL::commerce.after_sale_kind AS kind,
       NULL::text AS status, NULL::bigint AS refund_fen, NULL::text AS refund_yuan, NULL::text AS reason,
       NULL::text AS decision_note, NULL::timestamptz AS created_at, NULL::timestamptz AS decided_at,
       NULL::timestamptz AS completed_at
 WHERE false;
COMMENT ON VIEW commerce_api.after_sale_request IS
  E'@omit all\nAn after-sale request: kind (refund_only, return_refund, exchange), status (requested, approved, rejected, goods_returned, refunded, exchanged), the refund in fen (refund_yuan the exact string), the customer''s reason, the decision note and when it was made, decided and completed.';
CREATE FUNCTION commerce_api.request_after_sale(request_id text, order_id bigint, kind commerce.after_sale_kind,
                                                refund_fen bigint DEFAULT 0, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.request_after_sale', '{customer,service}');
        o commerce.orders_row := commerce._api_order(a, request_after_sale.order_id);
        r commerce.after_sale_row;
BEGIN
    PERFORM commerce._require(request_after_sale.kind, 'kind');
    r := commerce.request_after_sale(a.tenant_id, request_after_sale.request_id, o.order_id, request_after_sale.kind::text,
                                     request_after_sale.refund_fen, left(request_after_sale.reason, 500));
    RETURN QUERY SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
                        r.decision_note, r.created_at, r.decided_at, r.completed_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.request_after_sale(text, bigint, commerce.after_sale_kind, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_after_sale(text, bigint, commerce.after_sale_kind, bigint, text) IS
  'Open an after-sale request on a paid, shipped or completed order: refund_only, return_refund or exchange, with the refund asked in fen (at most what was paid) and a reason (up to 500 characters). A customer for its own orders (another''s is PT404); a service for any. One open request per order; idempotent by request_id. Returns the request (after_sale_request).';
CREATE VIEW commerce_api.koc_account AS
SELECT NULL::text AS koc, NULL::text AS name, NULL::text AS level, NULL::text AS status,
       NULL::bigint AS unsettled_fen, NULL::bigint AS settled_fen, NULL::bigint AS balance_fen,
       NULL::text AS balance_yuan, NULL::bigint AS in_flight_fen, NULL::bigint AS paid_fen, NULL::bigint AS fee_fen,
       NULL::timestamptz AS next_settlement_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_account IS
  E'@omit all\nA KOC''s money: commission earned but not yet settled (unsettled_fen: T+0.5), settled in all (settled_fen = balance + in flight + paid + fees), the balance it may withdraw (balance_yuan the exact string), what is on its way to it (in_flight_fen), paid out and paid in fees, and when its next settlement is due; with its level and status.';
CREATE FUNCTION commerce_api.koc_account(koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_account LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_account', '{koc,operator,finance,service}');
        v_koc text := koc_account.koc;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, koc_account.koc, 'koc');
    END IF;
    PERFORM commerce._require(v_koc, 'koc');
    RETURN QUERY
    SELECT k.code, k.name, k.level_code, k.status, coalesce(ac.unsettled_fen, 0), coalesce(ac.settled_fen, 0),
           coalesce(ac.balance_fen, 0), commerce.yuan(coalesce(ac.balance_fen, 0)), coalesce(ac.in_flight_fen, 0),
           coalesce(ac.paid_fen, 0), coalesce(ac.fee_fen, 0), ac.due_at
      FROM commerce.koc k
      LEFT JOIN commerce.koc_account ac ON ac.tenant_id = k.tenant_id AND ac.koc_id = k.koc_id
     WHERE k.tenant_id = a.tenant_id AND k.code = v_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', v_koc, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_account(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_account(text) IS
  'A KOC''s account (koc_account): a KOC its own (koc left out or its own; another is 42501); operators, finance and services any KOC''s (koc required).';
CREATE VIEW commerce_api.koc_link AS
SELECT NULL::text AS koc, NULL::text AS task, NULL::text AS channel, NULL::text AS code WHERE false;
COMMENT ON VIEW commerce_api.koc_link IS
  E'@omit all\nA KOC''s signed tracking code for a task and share channel: put code in the shared URL; a click on it is recorded with record_click and attributes the visitor''s orders to the KOC within the attribution window.';
CREATE FUNCTION commerce_api.tracking_link(task text DEFAULT NULL, channel text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_link LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.tracking_link', '{koc,service}');
        v_koc text := commerce._actor_subject(a, tracking_link.koc, 'koc');
BEGIN
    PERFORM commerce._require(v_koc, 'koc');
    RETURN QUERY SELECT v_koc, tracking_link.task, tracking_link.channel,
                        commerce.tracking_link(a.tenant_id, v_koc, tracking_link.task, tracking_link.channel);
END $$;
REVOKE ALL ON FUNCTION commerce_api.tracking_link(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.tracking_link(text, text, text) IS
  'A signed tracking code (koc_link) for the calling KOC, optionally for a task and a share channel (a channel code: wechat_mp, douyin, ...): a KOC for itself (koc left out); a service names the KOC. The same arguments always give the same code. VOLATILE (POST): the tenant''s signing secret is made on the first call.';
CREATE FUNCTION commerce_api.koc_overview(start_date date, end_date date)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.koc_overview(a.tenant_id, start_date, end_date)
      FROM commerce._api_actor('commerce_api.koc_overview', '{operator,finance,service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_overview(date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_overview(date, date) IS
  'The KOC programme overview of a period (K19, HQ dashboard): KOCs, active KOCs, clicks, redemptions, revenue and commission (fen and yuan), ROI, and the trend per day ({"trend":[{"date","clicks","redemptions","revenueFen"}, ...]}). Operators, finance and services.';
CREATE OR REPLACE FUNCTION commerce.join_group(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                    p_payment_id text, p_instance bigint DEFAULT NULL,
                                    p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                    p_device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE plpgsql AS $$
DECLARE
    c commerce.play_config_row; cu commerce.customer; i commerce.play_instance_row;
    p commerce.play_participant; sk commerce.sku; v_list bigint; v_order commerce.order_result; v_now timestamptz := commerce.now();
    v_outcome text := 'joined';
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    -- a retry returns the first result
    SELECT * INTO p FROM commerce.play_participant WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p.instance_id;
        RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, p.order_id, 'repeated')::commerce.join_result;
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['group_buy'], 'Join group-buy plays only.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Join a play that is open now.');
    -- a second place in the same group is named as such (a concurrent one is caught by the insert below)
    IF p_instance IS NOT NULL AND EXISTS (SELECT 1 FROM commerce.play_participant
                                           WHERE tenant_id = p_tenant AND instance_id = p_instance
                                             AND customer_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already in group %s', p_customer, p_instance),
            HINT    = 'One place per customer and group.';
    END IF;
    -- eligibility (transaction time, in C), each refusal with its own SQLSTATE; the action is recorded.
    -- It and the price are read first (lock order: eligibility's advisory locks, the group's row in
    -- KEY SHARE, the stock slots, the group's row for the place).
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id,
                                 CASE WHEN p_instance IS NULL THEN 'start' ELSE 'join' END, p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    -- the group: a new one led by the customer, or the one named. Joiners take a KEY SHARE lock on it:
    -- they do not block each other, and the deadline job (FOR UPDATE SKIP LOCKED) leaves a group alone
    -- while anyone is joining it. The place itself is taken at the end, by a conditional update.
    IF p_instance IS NULL THEN
        INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target,
                                            deadline, created_at)
        VALUES (p_tenant, c.config_id, cu.customer_id, 'active', 0, (c.rules ->> 'target_size')::integer,
                least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at), v_now)
        RETURNING * INTO i;
        v_outcome := 'opened';
    ELSE
        SELECT * INTO i FROM commerce.play_instance
         WHERE tenant_id = p_tenant AND instance_id = p_instance AND config_id = c.config_id FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('group', p_instance::text, p_tenant);
        END IF;
        PERFORM commerce._refuse_join(i, v_now);
    END IF;
    -- the order at the play price from the play's stock: paid at once (p_payment_id), or awaiting
    -- payment with the place held until the group's deadline at the latest
    v_order := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel,
                   jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                      'activity', c.activity, 'source_instance_id', i.instance_id,
                                      'discount_fen', greatest(v_list - c.price_fen, 0)),
                   p_customer);
    IF p_payment_id IS NOT NULL THEN
        PERFORM commerce.pay_order(p_tenant, v_order.order_id, p_payment_id, least(v_list, c.price_fen));
    ELSE
        UPDATE commerce.orders SET pay_deadline = least(pay_deadline, i.deadline)
         WHERE tenant_id = p_tenant AND order_id = v_order.order_id AND pay_deadline > i.deadline;
        v_order.pay_deadline := least(v_order.pay_deadline, i.deadline);
    END IF;
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, status,
                                           joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id,
            CASE WHEN v_outcome = 'opened' THEN 'leader' ELSE 'member' END, v_order.order_id,
            CASE WHEN p_payment_id IS NULL THEN 'held' ELSE 'joined' END, v_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN   -- the same customer (or request) joined this group in a concurrent transaction
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is already in group %s', p_customer, i.instance_id),
            HINT    = 'One place per customer and group.';
    END IF;
    -- the place: joins of one group queue here only, for the rest of their transaction; a group that
    -- filled, ended or failed meanwhile refuses the join and everything above rolls back
    UPDATE commerce.play_instance SET current = current + 1
     WHERE tenant_id = p_tenant AND instance_id = i.instance_id
       AND status = 'active' AND current < target AND deadline > v_now
    RETURNING * INTO i;
    IF NOT FOUND THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance;
        PERFORM commerce._refuse_join(i, v_now);
        RAISE EXCEPTION 'commerce.join_group: group % refused a place for no known reason', p_instance;
    END IF;
    IF commerce._group_complete(i, c.code) THEN
        SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = i.instance_id;
        v_outcome := 'succeeded';
    ELSIF p_payment_id IS NULL THEN
        v_outcome := CASE WHEN v_outcome = 'opened' THEN 'opened_held' ELSE 'held' END;
    END IF;
    RETURN ROW(i.instance_id, i.status, i.current, i.target, i.deadline, v_order.order_id, v_outcome)::commerce.join_result;
END $$;
CREATE FUNCTION commerce._group_complete(i commerce.play_instance_row, p_play text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF i.status <> 'active' OR i.current <> i.target
       OR EXISTS (SELECT 1 FROM commerce.play_participant p
                   WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND p.status = 'held') THEN
        RETURN false;
    END IF;
    UPDATE commerce.play_instance SET status = 'success', ended_at = commerce.now()
     WHERE tenant_id = i.tenant_id AND instance_id = i.instance_id;
    PERFORM commerce._issue_group_assets(i.tenant_id, i.instance_id);
    PERFORM commerce.enqueue(i.tenant_id, 'play.group_succeeded',
        jsonb_build_object('instance_id', i.instance_id, 'play', p_play, 'members', i.current),
        'group:' || i.instance_id);
    RETURN true;
END $$;
CREATE FUNCTION commerce._group_place_paid(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; v_play text;
BEGIN
    UPDATE commerce.play_participant SET status = 'joined'
     WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id AND order_id = o.order_id
       AND status = 'held';
    IF NOT FOUND THEN
        RETURN;      -- not a held place (paid at once, a flash sale, a bargain)
    END IF;
    -- NO KEY UPDATE: queues with joiners' conditional updates only, not their KEY SHARE
    SELECT * INTO i FROM commerce.play_instance
     WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id FOR NO KEY UPDATE;
    SELECT c.code INTO v_play FROM commerce.play_config c WHERE c.tenant_id = i.tenant_id AND c.config_id = i.config_id;
    PERFORM commerce._group_complete(i, v_play);
END $$;
CREATE FUNCTION commerce._group_place_lapsed(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM commerce.play_participant
     WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id AND order_id = o.order_id
       AND status = 'held';
    IF FOUND THEN
        UPDATE commerce.play_instance SET current = current - 1
         WHERE tenant_id = o.tenant_id AND instance_id = o.source_instance_id AND status = 'active';
    END IF;
END $$;
COMMENT ON FUNCTION commerce.join_group(bigint, text, text, text, text, bigint, text, text, text) IS
  'Group buy (M3): open a group (no instance: the customer leads it) or join one at the play price, paid at once (p_payment_id) or held until its order is paid (no p_payment_id: outcome held or opened_held; the order''s pay deadline is the group''s deadline at the latest, a held place counts toward the target, the group succeeds only when every place is paid, and an order cancelled unpaid gives its place back); the order takes a unit of the play''s stock and carries the instance. Joiners of one group share its row (KEY SHARE) while they order and pay, and take their place at the end by a conditional update (status active, current below target, before the deadline), so a group never has more than its target and a join that loses the race rolls back whole; the member that completes it makes it a success and issues every member''s asset. Refused: a closed or not running play (PT409), a group that is not active (PT409), past its deadline (PT410), full (PT409), a second place (PT409), and the eligibility rules checked in C (PT403 blacklist or new customers only, PT409 limit or mutex, PT429 rates). IP and device feed the blacklist and the per-IP rate. Idempotent by request_id.';
CREATE OR REPLACE FUNCTION commerce.end_expired_groups(p_limit integer DEFAULT 100) RETURNS integer
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
CREATE OR REPLACE FUNCTION commerce._play_order_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE OR REPLACE FUNCTION commerce.check_play_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a group's progress is its members; a successful group has exactly its target
    SELECT 'group members = progress', format('instance %s: current %s, members %s, target %s, %s',
                                             i.instance_id, i.current, count(p.customer_id), i.target, i.status)
      FROM commerce.play_instance i
      LEFT JOIN commerce.play_participant p USING (tenant_id, instance_id)
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NULL
     GROUP BY i.tenant_id, i.instance_id
    HAVING count(p.customer_id) <> i.current OR count(p.customer_id) > i.target
        OR (i.status = 'success' AND count(p.customer_id) <> i.target)
    UNION ALL
    -- a failed group's paying members are all refunding or refunded
    SELECT 'failed group refunded', format('instance %s: member %s is %s', i.instance_id, p.customer_id, p.status)
      FROM commerce.play_instance i JOIN commerce.play_participant p USING (tenant_id, instance_id)
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.status = 'failed' AND i.price_fen IS NULL
       AND p.order_id IS NOT NULL AND p.status = 'joined'
    UNION ALL
    -- a held place awaits its order's payment in an active group; a joined member's order is paid
    SELECT 'held place = unpaid order', format('instance %s (%s): member %s is %s, order %s is %s',
                                              i.instance_id, i.status, p.customer_id, p.status, o.order_id, o.status)
      FROM commerce.play_instance i JOIN commerce.play_participant p USING (tenant_id, instance_id)
      JOIN commerce.orders o ON o.tenant_id = p.tenant_id AND o.order_id = p.order_id
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NULL
       AND ((p.status = 'held') <> (o.paid_at IS NULL) OR (p.status = 'held' AND (i.status <> 'active' OR o.status <> 'pending_payment')))
    UNION ALL
    -- a bargain's price is the play price less its cuts, never below the floor
    SELECT 'bargain price = price - cuts', format('instance %s: price %s, cuts %s, helps %s/%s',
                                                  i.instance_id, i.price_fen, coalesce(h.cuts, 0), coalesce(h.n, 0), i.current)
      FROM commerce.play_instance i
      JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
      LEFT JOIN LATERAL (SELECT sum(cut_fen) AS cuts, count(*) AS n FROM commerce.play_help x
                          WHERE x.tenant_id = i.tenant_id AND x.instance_id = i.instance_id) h ON true
     WHERE (p_tenant IS NULL OR i.tenant_id = p_tenant) AND i.price_fen IS NOT NULL
       AND (i.price_fen <> c.price_fen - coalesce(h.cuts, 0) OR coalesce(h.n, 0) <> i.current
            OR i.price_fen < (c.rules ->> 'floor_fen')::bigint
            OR (i.status = 'success') <> (i.price_fen = (c.rules ->> 'floor_fen')::bigint AND i.status <> 'failed'))
    UNION ALL
    -- an asset's remaining is its total less its consumption (unless voided by a refund)
    SELECT 'asset remaining = total - consumed', format('asset %s: total %s, remaining %s, consumed %s',
                                                         a.asset_id, a.total, a.remaining, coalesce(l.consumed, 0))
      FROM commerce.user_asset a
      LEFT JOIN LATERAL (SELECT sum(amount) AS consumed FROM commerce.consumption_log x
                          WHERE x.tenant_id = a.tenant_id AND x.asset_id = a.asset_id) l ON true
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant) AND a.voided_at IS NULL
       AND a.remaining <> a.total - coalesce(l.consumed, 0)
    UNION ALL
    -- an inviter is rewarded at most max_rewards times
    SELECT 'rewards per inviter <= max_rewards', format('play %s, inviter %s: %s rewards, max %s',
                                                        c.code, v.inviter_id, count(*), c.rules ->> 'max_rewards')
      FROM commerce.play_invite v JOIN commerce.play_config c ON c.tenant_id = v.tenant_id AND c.config_id = v.config_id
     WHERE (p_tenant IS NULL OR v.tenant_id = p_tenant) AND v.status = 'rewarded'
     GROUP BY c.tenant_id, c.code, c.rules, v.inviter_id
    HAVING count(*) > (c.rules ->> 'max_rewards')::bigint
    UNION ALL
    -- a reward went out for every rewarded invite
    SELECT 'reward queued', format('invite %s', v.invite_id)
      FROM commerce.play_invite v
     WHERE (p_tenant IS NULL OR v.tenant_id = p_tenant) AND v.status = 'rewarded'
       AND NOT EXISTS (SELECT 1 FROM commerce.outbox m WHERE m.tenant_id = v.tenant_id
                          AND m.topic = 'play.invite_reward' AND m.dedupe_key = 'invite:' || v.invite_id)
    UNION ALL
    -- a settlement's orders add up to its income, and its parts to the income
    SELECT 'settlement = its orders', format('settlement %s: income %s, orders %s fen in %s',
                                             s.settlement_id, s.income_fen, coalesce(sum(so.amount_fen), 0), count(so.order_id))
      FROM commerce.play_settlement s
      LEFT JOIN commerce.play_settlement_order so USING (tenant_id, settlement_id)
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
     GROUP BY s.tenant_id, s.settlement_id
    HAVING coalesce(sum(so.amount_fen), 0) <> s.income_fen OR count(so.order_id) <> s.orders
        OR s.store_fen + s.hq_fen <> s.income_fen
        OR bool_or(so.released) <> (s.status = 'rejected')
$$;
CREATE FUNCTION commerce_api.join_group(request_id text, play text, customer text DEFAULT NULL,
                                        payment_id text DEFAULT NULL, instance bigint DEFAULT NULL,
                                        ip text DEFAULT NULL, device text DEFAULT NULL,
                                        channel text DEFAULT 'wechat_mp')
RETURNS commerce.join_result LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.join_group', '{customer,service}');
BEGIN
    IF a.kind = 'customer' AND join_group.payment_id IS NOT NULL THEN
        PERFORM commerce._no_identity('a customer never names a payment',
            format('payment_id "%s" was given.', left(join_group.payment_id, 64)),
            'Leave payment_id out: the place is held and the order paid through pay_intent; the provider''s callback (record_payment) completes it.');
    END IF;
    RETURN commerce.join_group(a.tenant_id, join_group.request_id, join_group.play,
                               commerce._actor_subject(a, join_group.customer, 'customer'), join_group.payment_id,
                               join_group.instance, join_group.channel, commerce._client_ip(a, join_group.ip),
                               commerce._client_header(a, join_group.device, 'x-device-id'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text, text) IS
  'Open a group buy (instance left out: the customer leads it) or join one (instance): a customer as itself, holding its place with an order awaiting payment (outcome opened_held or held; pay it with pay_intent, the provider''s record_payment callback makes it joined, and the group succeeds when every place is paid; unpaid by the pay deadline, at the latest the group''s, the place is given back). A service names the customer and may pass payment_id for a place paid at once. channel: the self-operated channel ordered on (default wechat_mp). Idempotent by request_id.';
CREATE FUNCTION commerce_api.buy_play(request_id text, play text, customer text DEFAULT NULL, qty integer DEFAULT 1,
                                      ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL,
                                      channel text DEFAULT 'wechat_mp')
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_play', '{customer,service}') a,
           LATERAL commerce.buy_play(a.tenant_id, request_id, play, commerce._actor_subject(a, customer, 'customer'),
                                     qty, channel, commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb, text) IS
  'Buy a flash-sale (or other priced) play: a customer for itself, on a self-operated channel (default wechat_mp); creates the order awaiting payment (pay it with pay_intent; commerce_api.record_payment is the provider''s callback). Idempotent by request_id.';
CREATE FUNCTION commerce_api.buy_bargain(request_id text, bargain bigint, customer text DEFAULT NULL,
                                         ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL,
                                         channel text DEFAULT 'wechat_mp')
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_bargain', '{customer,service}') a,
           LATERAL commerce.buy_bargain(a.tenant_id, request_id, bargain,
                                        commerce._actor_subject(a, customer, 'customer'), channel,
                                        commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb, text) IS
  'Buy one''s own bargain at the price reached: a customer for itself, on a self-operated channel (default wechat_mp); creates the order awaiting payment (pay it with pay_intent). Idempotent by request_id.';
CREATE VIEW commerce_api.customer_asset AS
SELECT NULL::bigint AS asset_id, NULL::text AS customer, NULL::text AS asset_type, NULL::text AS unit_name,
       NULL::bigint AS total, NULL::bigint AS remaining, NULL::bigint AS consumed, NULL::text AS play,
       NULL::text AS play_title, NULL::text AS store, NULL::bigint AS group_id, NULL::bigint AS order_id,
       NULL::timestamptz AS created_at, NULL::timestamptz AS voided_at
 WHERE false;
COMMENT ON VIEW commerce_api.customer_asset IS
  E'@omit all\nWhat a customer bought and consumes over time: asset_type (COURSE, SERVICE, GOODS) counted in unit_name (lessons, hours, bags), total, remaining and consumed, the play (code and title) and store it came from, the group and the order; voided_at when a full refund voided what was left.';
CREATE FUNCTION commerce._customer_assets(p_tenant bigint, p_customer text, p_asset bigint, p_after bigint,
                                          p_first integer)
RETURNS SETOF commerce_api.customer_asset LANGUAGE sql STABLE AS $$
    SELECT ua.asset_id, cu.code, ua.asset_type, ua.unit_name, ua.total, ua.remaining,
           CASE WHEN ua.voided_at IS NULL THEN ua.total - ua.remaining END, c.code, c.title, st.code,
           ua.source_instance_id, ua.order_id, ua.created_at, ua.voided_at
      FROM commerce.user_asset ua
      JOIN commerce.customer cu ON cu.tenant_id = ua.tenant_id AND cu.customer_id = ua.customer_id
      LEFT JOIN commerce.play_config c ON c.tenant_id = ua.tenant_id AND c.activity = ua.source_activity
      LEFT JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
     WHERE ua.tenant_id = p_tenant AND (p_customer IS NULL OR cu.code = p_customer)
       AND (p_asset IS NULL OR ua.asset_id = p_asset) AND (p_after IS NULL OR ua.asset_id < p_after)
     ORDER BY ua.asset_id DESC
     LIMIT p_first;
$$;
CREATE FUNCTION commerce_api.assets(customer text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.customer_asset LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.assets', '{customer,store,operator,service}');
        v_customer text := assets.customer;
BEGIN
    PERFORM commerce._api_page(assets.page_size);
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, assets.customer, 'customer');
    ELSIF a.kind = 'store' THEN
        PERFORM commerce._require(assets.customer, 'customer');   -- the clerk looks up the customer at the counter
    END IF;
    RETURN QUERY SELECT * FROM commerce._customer_assets(a.tenant_id, v_customer, NULL, assets.before_id, assets.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.assets(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.assets(text, bigint, integer) IS
  'Assets newest first (customer_asset): a customer its own (customer left out or its own); store staff look up the customer at the counter (customer required), operators and services any (customer filters). Paged by cursor: before_id is the last asset_id of the previous page, page_size 1 to 100 (default 20).';
CREATE VIEW commerce_api.asset_consumption AS
SELECT NULL::bigint AS consumption_id, NULL::bigint AS asset_id, NULL::bigint AS amount, NULL::text AS store,
       NULL::text AS operator, NULL::timestamptz AS consumed_at
 WHERE false;
COMMENT ON VIEW commerce_api.asset_consumption IS
  E'@omit all\nOne consumption (核销) of an asset: how many units, at which store, by which operator, when.';
CREATE FUNCTION commerce_api.asset_consumptions(asset bigint)
RETURNS SETOF commerce_api.asset_consumption LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.asset_consumptions', '{customer,store,operator,service}');
        v commerce_api.customer_asset;
BEGIN
    PERFORM commerce._require(asset_consumptions.asset, 'asset');
    SELECT * INTO v FROM commerce._customer_assets(a.tenant_id, NULL, asset_consumptions.asset, NULL, 1);
    IF NOT FOUND OR (a.kind = 'customer' AND v.customer IS DISTINCT FROM a.subject) THEN
        PERFORM commerce._not_found('asset', asset_consumptions.asset::text, a.tenant_id);   -- another's does not exist for it
    END IF;
    RETURN QUERY SELECT l.consumption_id, l.asset_id, l.amount, st.code, l.operator, l.consumed_at
                   FROM commerce.consumption_log l
                   JOIN commerce.store st ON st.tenant_id = l.tenant_id AND st.store_id = l.store_id
                  WHERE l.tenant_id = a.tenant_id AND l.asset_id = v.asset_id
                  ORDER BY l.consumption_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.asset_consumptions(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.asset_consumptions(bigint) IS
  'The consumption log of an asset, oldest first (asset_consumption): a customer of its own assets (another''s is PT404); store staff, operators and services any.';
CREATE VIEW commerce_api.group_progress AS
SELECT NULL::bigint AS group_id, NULL::text AS play, NULL::text AS play_title, NULL::text AS status,
       NULL::integer AS current, NULL::integer AS target, NULL::integer AS paid, NULL::integer AS held,
       NULL::timestamptz AS deadline, NULL::bigint AS price_fen, NULL::text AS price_yuan, NULL::boolean AS mine
 WHERE false;
COMMENT ON VIEW commerce_api.group_progress IS
  E'@omit all\nA group buy''s progress as a share page shows it: the play, status (active, success, failed), current of target places (paid and held: held places await payment), the deadline, the play price (price_yuan the exact string), and whether the calling customer is in it (mine). Members are not named.';
CREATE FUNCTION commerce_api.group_buy(group_id bigint)
RETURNS SETOF commerce_api.group_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.group_buy', '{anonymous,customer,koc,store,operator,service}');
BEGIN
    PERFORM commerce._require(group_buy.group_id, 'group_id');
    RETURN QUERY
    SELECT i.instance_id, c.code, c.title, i.status, i.current, i.target,
           (SELECT count(*)::integer FROM commerce.play_participant p
             WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND p.status <> 'held'),
           (SELECT count(*)::integer FROM commerce.play_participant p
             WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND p.status = 'held'),
           i.deadline, c.price_fen, commerce.yuan(c.price_fen),
           a.kind = 'customer' AND EXISTS (SELECT 1 FROM commerce.play_participant p
                                             JOIN commerce.customer cu ON cu.tenant_id = p.tenant_id AND cu.customer_id = p.customer_id
                                            WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND cu.code = a.subject)
      FROM commerce.play_instance i
      JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
      JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
     WHERE i.tenant_id = a.tenant_id AND i.instance_id = group_buy.group_id AND t.kind = 'group_buy';
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', group_buy.group_id::text, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.group_buy(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.group_buy(bigint) IS
  'A group buy''s progress (group_progress), for its share page: open to every caller but finance; members are not named. PT404 for an unknown group.';
CREATE FUNCTION commerce_api.decide_play_settlement(settlement bigint, approve boolean, reason text DEFAULT NULL)
RETURNS commerce.play_settlement_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.decide_play_settlement', '{finance}');
BEGIN
    RETURN commerce.decide_play_settlement(a.tenant_id, settlement, approve, a.subject, left(reason, 500));
END $$;
REVOKE ALL ON FUNCTION commerce_api.decide_play_settlement(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.decide_play_settlement(bigint, boolean, text) IS
  'HQ finance approves (the store''s share is paid out through the outbox, store.settlement_payout) or rejects (reason required) a store''s settlement of an ended play; the decision is recorded under the finance member''s name. Finance only.';

-- the kept grants of join_group, buy_play and buy_bargain, on their new signatures
DO $$
DECLARE g jsonb; v_oid oid;
BEGIN
    FOR g IN SELECT * FROM jsonb_array_elements(current_setting('commerce_upgrade.channel_grants')::jsonb) LOOP
        SELECT p.oid INTO STRICT v_oid FROM pg_proc p
         WHERE p.pronamespace = 'commerce_api'::regnamespace AND format('commerce_api.%I', p.proname) = g->>'name';
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', v_oid::regprocedure, g->>'grantee');
    END LOOP;
END $$;

-- an unpaid cancellation gives a held place back
CREATE TRIGGER after_31_play_cancelled AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.source_instance_id IS NOT NULL)
    EXECUTE FUNCTION commerce._play_order_changed();



-- ===========================================================================
-- HTTP semantics (issue 12): each business SQLSTATE is the HTTP status that
-- means it (PT412, PT423 and a play's limit -> PT409; PT451, PT405 -> PT403;
-- PT420, PT425 -> PT429), and too many requests carry Retry-After through
-- PostgREST (commerce._too_many)
-- ===========================================================================

CREATE FUNCTION commerce._too_many(p_message text, p_detail text, p_hint text, p_retry_after integer)
RETURNS void AS 'MODULE_PATHNAME', 'commerce_too_many_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION commerce._too_many(text, text, text, integer) IS
  'Refuse a request made too often: PT429 with the message, detail and a hint saying when to retry (p_retry_after seconds). Through PostgREST (request.method is set) it raises PostgREST''s own error form (SQLSTATE PGRST: the body {"code":"PT429","message","details","hint"} and {"status":429,"headers":{"Retry-After":"<seconds>"}}), so the client gets HTTP 429 with a Retry-After header.';
COMMENT ON FUNCTION commerce.state_guard() IS
  'Generic state-machine trigger: state_guard(''<column>'', ''<initial,states>'', [''qualifier=<column>'',] ''[<value>:]from>to'', ...). New rows start in an initial state; a change of the column must be a listed transition (PT409 otherwise); a transition prefixed with a value applies only to rows whose qualifier column has that value.';
CREATE OR REPLACE FUNCTION commerce.requeue(p_tenant bigint, p_message bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE m commerce.outbox_row;
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_message, 'p_message');
    SELECT * INTO m FROM commerce.outbox
     WHERE tenant_id = p_tenant AND message_id = p_message FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('outbox message', p_message::text, p_tenant);
    END IF;
    IF m.status <> 'dead' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('outbox message %s is not a dead letter', p_message),
            DETAIL  = format('Its status is %s.', m.status),
            HINT    = 'Only dead letters can be requeued; look them up with status = ''dead''.';
    END IF;
    UPDATE commerce.outbox
       SET status = 'pending', attempts = 0, available_at = commerce.now(), done_at = NULL,
           claimed_by = NULL
     WHERE tenant_id = p_tenant AND message_id = p_message;
END $$;
COMMENT ON FUNCTION commerce.confirm_reservation(bigint, bigint, text) IS
  'Turn an active, unexpired reservation into sold stock. PT410 if it expired, PT409 if it already ended.';
COMMENT ON FUNCTION commerce.release_reservation(bigint, bigint, text) IS
  'Give an active reservation''s stock back. PT410 if it expired, PT409 if it already ended.';
CREATE OR REPLACE FUNCTION commerce.allocate_stock(p_tenant bigint, p_request_id text, p_activity text,
                                        p_activity_kind text, p_sku text, p_qty bigint,
                                        p_warehouse text DEFAULT NULL,
                                        p_hold interval DEFAULT NULL,
                                        p_slots integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row; root commerce.stock_pool_row; child commerce.stock_pool_row; v_seen jsonb;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_activity, 'p_activity');
    PERFORM commerce._require(p_activity_kind, 'p_activity_kind');
    PERFORM commerce._require(p_qty, 'p_qty');
    IF p_activity_kind NOT IN ('flash_sale', 'live_room', 'play') THEN
        PERFORM commerce._invalid('p_activity_kind', format('"%s"', p_activity_kind),
                                  'Use flash_sale, live_room or play.');
    END IF;
    IF p_qty <= 0 OR p_qty > 1000000000 THEN
        PERFORM commerce._invalid('p_qty', format('%s units', p_qty),
                                  'Allocate between 1 and 1000000000 units.');
    END IF;
    IF p_hold <= '0'::interval OR p_hold > t.max_hold THEN
        PERFORM commerce._invalid('p_hold', format('hold %s', p_hold),
                                  format('A hold is positive and at most the tenant''s max_hold (%s).', t.max_hold));
    END IF;
    IF p_slots NOT BETWEEN 1 AND 256 THEN
        PERFORM commerce._invalid('p_slots', format('%s slots', p_slots), 'Use 1 to 256 slots.');
    END IF;
    v_seen := commerce._request_seen(p_tenant, 'allocate_stock', p_request_id,
        jsonb_build_object('activity', p_activity, 'kind', p_activity_kind, 'sku', p_sku,
                           'qty', p_qty, 'warehouse', p_warehouse));
    IF v_seen IS NOT NULL THEN
        RETURN (v_seen ->> 'pool_id')::bigint;
    END IF;
    root := commerce._root_pool(p_tenant, p_sku, p_warehouse, false);
    -- lock order: root pool slots, then the activity pool's (created after the root)
    PERFORM commerce._slots_take(p_tenant, root.pool_id, p_qty, 'allocate');
    SELECT * INTO child FROM commerce.stock_pool
     WHERE tenant_id = p_tenant AND activity = p_activity AND sku_id = root.sku_id;
    IF FOUND AND (child.status <> 'open' OR child.parent_pool_id <> root.pool_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('activity "%s" already has a pool for SKU "%s" (status %s)', p_activity,
                             p_sku, child.status),
            DETAIL  = format('Pool %s, parent %s.', child.pool_id, child.parent_pool_id),
            HINT    = 'Use a new activity name; a closed activity pool is not reopened.';
    ELSIF NOT FOUND THEN
        INSERT INTO commerce.stock_pool (tenant_id, sku_id, warehouse_id, parent_pool_id, activity,
                                         activity_kind, hold, slot_count, created_at)
        VALUES (p_tenant, root.sku_id, root.warehouse_id, root.pool_id, p_activity, p_activity_kind,
                coalesce(p_hold, CASE p_activity_kind WHEN 'flash_sale' THEN t.flash_hold END),
                coalesce(p_slots, greatest(t.default_slots, 16)), commerce.now())
        ON CONFLICT DO NOTHING
        RETURNING * INTO child;
        IF child.pool_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('activity "%s" is being given stock of SKU "%s" by another call',
                                 p_activity, p_sku),
                HINT    = 'Retry: the other allocation has created the activity pool.';
        END IF;
        INSERT INTO commerce.stock_slot (tenant_id, pool_id, slot_no)
        SELECT p_tenant, child.pool_id, g FROM generate_series(0, child.slot_count - 1) g;
    END IF;
    PERFORM commerce._slots_add(p_tenant, child.pool_id, p_qty);
    INSERT INTO commerce.stock_movement (tenant_id, pool_id, kind, d_on_hand, request_id, note, created_at)
    VALUES (p_tenant, root.pool_id, 'allocate', -p_qty, p_request_id, p_activity, commerce.now()),
           (p_tenant, child.pool_id, 'allocate', p_qty, p_request_id, p_activity, commerce.now());
    PERFORM commerce._request_done(p_tenant, 'allocate_stock', p_request_id,
                                   jsonb_build_object('pool_id', child.pool_id));
    RETURN child.pool_id;
END $$;
CREATE OR REPLACE FUNCTION commerce_api.reserve(cart text, request_id text, holder text DEFAULT NULL,
                                     ttl interval DEFAULT NULL, activity text DEFAULT NULL)
RETURNS commerce.reservation_result LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reserve', '{customer,service}');
        v_holder text := commerce._actor_subject(a, holder, 'holder'); v_big text; v_n bigint;
BEGIN
    IF a.kind = 'customer' THEN
        IF ttl > interval '30 minutes' THEN
            PERFORM commerce._invalid('ttl', format('%s', ttl), 'A customer holds stock for at most 30 minutes.');
        END IF;
        SELECT string_agg(format('%s x %s', l.sku, l.qty), ', ') INTO v_big
          FROM commerce._cart_lines(cart) l WHERE l.qty > 20;
        IF v_big IS NOT NULL THEN
            PERFORM commerce._invalid('cart', left(v_big, 200), 'A customer holds at most 20 units of a SKU.');
        END IF;
        SELECT count(*) INTO v_n FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'
           AND r.request_id IS DISTINCT FROM reserve.request_id;
        IF v_n >= 5 THEN   -- too many at once: retry when the first hold ends (HTTP 429 with Retry-After)
            PERFORM commerce._too_many(format('customer "%s" already holds %s reservations', left(v_holder, 64), v_n),
                'A customer holds at most 5 reservations at once.',
                'Release or buy one first; unpaid holds expire.',
                (SELECT ceil(extract(epoch FROM min(r.expires_at) - commerce.now()))::integer
                   FROM commerce.reservation r
                  WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'));
        END IF;
    END IF;
    RETURN commerce.reserve(a.tenant_id, request_id, v_holder, cart, ttl, activity);
END $$;
CREATE OR REPLACE FUNCTION commerce.cancel_order(p_tenant bigint, p_order bigint, p_reason text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    o := commerce._lock_order(p_tenant, p_order);
    IF (SELECT kind FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id) <> 'self_operated' THEN
        PERFORM commerce._invalid('p_order', format('Order %s is a platform order.', p_order),
                                  'Platform orders are cancelled on the platform; ingest its payload instead.');
    END IF;
    IF o.status = 'cancelled' THEN
        RETURN commerce._order_result(o, 'already_cancelled');
    END IF;
    IF o.status <> 'pending_payment' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('order %s cannot be cancelled: it is %s', p_order, o.status),
            DETAIL  = 'Only unpaid orders are cancelled; a paid order goes through after-sale.',
            HINT    = 'Open an after-sale request (refund) instead.';
    END IF;
    PERFORM commerce._cancel(o, coalesce(p_reason, 'cancelled'));
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    RETURN commerce._order_result(o, 'cancelled');
END $$;
CREATE OR REPLACE FUNCTION commerce.record_payout(p_tenant bigint, p_payout_ref text, p_status text,
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
COMMENT ON FUNCTION commerce._play_admit(bigint, bigint, bigint, text, text, text) IS
  'Internal: eligibility at transaction time, in C (src/plays_eligibility.c): blacklist (PT403), new customers only (PT403), the per-customer limit (PT409), the mutex group (PT409), the per-customer rate (PT429) and the per-IP rate (PT429); an admitted action is recorded as a play_event.';
COMMENT ON FUNCTION commerce.buy_play(bigint, text, text, text, integer, text, text, text, jsonb) IS
  'Flash sale (M3), or the first-order offer of an invite-reward play: an order at the play price from the play''s own stock, held for the play''s hold time (hold_minutes, 5 by default) and cancelled unless paid by then (commerce.pay_order). Sold out is refused before any lock or write (PT409); the per-order limit (22023); the eligibility rules (PT403 blacklist or new customers only, PT409 limit or mutex, PT429 rates). The asset is issued when the order is paid. Idempotent by request_id (outcome existing).';
CREATE OR REPLACE FUNCTION commerce.start_bargain(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                       p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row; cu commerce.customer; i commerce.play_instance_row;
        v_now timestamptz := commerce.now(); v_floor bigint; v_cut bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_config, 'p_config');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._bargain_result(i, 'repeated');
    END IF;
    c := commerce._play_of_kind(p_tenant, p_config, ARRAY['bargain'], 'Start bargains on bargain plays only.');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    PERFORM commerce._require_play_open(c, v_now, 'Start a bargain on a play that is open now.');
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'start', p_ip, p_device);
    -- one running bargain per customer and play (checked under the customer's lock taken by _play_admit
    -- when the play has limits; the unique request_id covers retries)
    IF EXISTS (SELECT 1 FROM commerce.play_instance
                WHERE tenant_id = p_tenant AND config_id = c.config_id AND leader_customer_id = cu.customer_id
                  AND status IN ('pending', 'active')) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has a running bargain on play "%s"', p_customer, p_config),
            HINT    = 'Share the running bargain, or wait until it ends.';
    END IF;
    v_floor := (c.rules ->> 'floor_fen')::bigint;
    v_cut := (c.rules ->> 'cut_fen')::bigint;
    INSERT INTO commerce.play_instance (tenant_id, config_id, leader_customer_id, status, current, target, deadline,
                                        created_at, request_id, price_fen)
    VALUES (p_tenant, c.config_id, cu.customer_id, 'active', 0,
            ((c.price_fen - v_floor) + v_cut - 1) / v_cut,
            least(v_now + make_interval(hours => coalesce((c.rules ->> 'hours')::integer, 24)), c.ends_at),
            v_now, p_request_id, c.price_fen)
    RETURNING * INTO i;
    RETURN commerce._bargain_result(i, 'started');
END $$;
CREATE OR REPLACE FUNCTION commerce.help_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_helper text,
                                      p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; cu commerce.customer; h commerce.play_help;
        v_now timestamptz := commerce.now(); v_cut bigint; v_floor bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_instance, 'p_instance');
    PERFORM commerce._require(p_helper, 'p_helper');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_helper;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_helper, p_tenant);
    END IF;
    -- the bargain's row orders its helpers
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance FOR UPDATE;
    IF NOT FOUND OR i.price_fen IS NULL THEN
        PERFORM commerce._not_found('bargain', p_instance::text, p_tenant);
    END IF;
    SELECT * INTO h FROM commerce.play_help WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF h.instance_id <> p_instance OR h.helper_id <> cu.customer_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another help', p_request_id),
                HINT = 'Use a new request_id for a new help.';
        END IF;
        RETURN commerce._bargain_result(i, 'repeated');
    END IF;
    IF i.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s is %s', p_instance,
                             CASE i.status WHEN 'success' THEN 'already at its floor' ELSE i.status END),
            HINT    = 'Help a bargain that is still running.';
    END IF;
    IF v_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('bargain %s has expired', p_instance),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Help a bargain that is still running.';
    END IF;
    IF cu.customer_id = i.leader_customer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" cannot help their own bargain', p_helper),
            HINT    = 'Ask friends to help.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_help
                WHERE tenant_id = p_tenant AND instance_id = p_instance AND helper_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has already helped bargain %s', p_helper, p_instance),
            HINT    = 'One cut per helper and bargain.';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = i.config_id;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'help', p_ip, p_device);
    v_floor := (c.rules ->> 'floor_fen')::bigint;
    v_cut := least((c.rules ->> 'cut_fen')::bigint, i.price_fen - v_floor);
    INSERT INTO commerce.play_help (tenant_id, instance_id, helper_id, request_id, cut_fen, price_after, helped_at)
    VALUES (p_tenant, p_instance, cu.customer_id, p_request_id, v_cut, i.price_fen - v_cut, v_now);
    UPDATE commerce.play_instance SET current = current + 1, price_fen = price_fen - v_cut
     WHERE tenant_id = p_tenant AND instance_id = p_instance RETURNING * INTO i;
    IF i.price_fen = v_floor THEN
        UPDATE commerce.play_instance SET status = 'success', ended_at = v_now
         WHERE tenant_id = p_tenant AND instance_id = p_instance RETURNING * INTO i;
        PERFORM commerce.enqueue(p_tenant, 'play.bargain_succeeded',
            jsonb_build_object('instance_id', i.instance_id, 'play', c.code, 'price_fen', i.price_fen,
                               'helps', i.current), 'bargain:' || i.instance_id);
        RETURN commerce._bargain_result(i, 'succeeded');
    END IF;
    RETURN commerce._bargain_result(i, 'cut');
END $$;
COMMENT ON FUNCTION commerce.help_bargain(bigint, text, bigint, text, text, text) IS
  'A helper cuts a bargain''s price by the rule''s cut_fen (the last cut stops at floor_fen); the cut that reaches the floor makes the bargain a success. Helps of one bargain are serialized on its row. Refused: not running (PT409), past its deadline (PT410), the owner helping (PT409), a second help (PT409), the eligibility rules (PT403, PT429, ...). Idempotent by request_id.';
CREATE OR REPLACE FUNCTION commerce.buy_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_customer text,
                                     p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                     p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance_row; c commerce.play_config_row; cu commerce.customer; sk commerce.sku; o commerce.orders_row;
        v_list bigint; v_doc jsonb; r commerce.order_result; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_instance, 'p_instance');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'play:' || p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;
    SELECT * INTO cu FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO i FROM commerce.play_instance WHERE tenant_id = p_tenant AND instance_id = p_instance FOR UPDATE;
    IF NOT FOUND OR i.price_fen IS NULL THEN
        PERFORM commerce._not_found('bargain', p_instance::text, p_tenant);
    END IF;
    IF i.leader_customer_id <> cu.customer_id THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s is not customer "%s"''s', p_instance, p_customer),
            HINT    = 'Only the customer who started a bargain buys it.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_participant WHERE tenant_id = p_tenant AND instance_id = p_instance) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s was already bought', p_instance),
            HINT    = 'A bargain is bought once.';
    END IF;
    IF i.status = 'failed' OR v_now >= i.deadline THEN
        RAISE EXCEPTION USING ERRCODE = 'PT410',
            MESSAGE = format('bargain %s has expired', p_instance),
            DETAIL  = format('Its deadline was %s.', i.deadline),
            HINT    = 'Start a new bargain.';
    END IF;
    IF i.status <> 'success' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('bargain %s has not reached its floor', p_instance),
            DETAIL  = format('%s of %s helps; the price is %s fen.', i.current, i.target, i.price_fen),
            HINT    = 'Ask more friends to help before the deadline.';
    END IF;
    SELECT * INTO c FROM commerce.play_config WHERE tenant_id = p_tenant AND config_id = i.config_id;
    PERFORM commerce._play_admit(p_tenant, c.config_id, cu.customer_id, 'buy', p_ip, p_device);
    SELECT * INTO sk FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = c.sku_id;
    v_list := (commerce.resolve_price(p_tenant, sk.code, p_channel, cu.member_tier)).price_fen;
    v_doc := jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', sk.code, 'qty', 1)),
                                'activity', c.activity, 'source_instance_id', i.instance_id,
                                'discount_fen', greatest(v_list - i.price_fen, 0));
    IF p_receiver IS NOT NULL THEN
        v_doc := v_doc || jsonb_build_object('receiver', p_receiver);
    END IF;
    r := commerce.place_order(p_tenant, 'play:' || p_request_id, p_channel, v_doc, p_customer);
    INSERT INTO commerce.play_participant (tenant_id, instance_id, customer_id, request_id, role, order_id, joined_at)
    VALUES (p_tenant, i.instance_id, cu.customer_id, p_request_id, 'leader', r.order_id, v_now);
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.buy_bargain(bigint, text, bigint, text, text, text, text, jsonb) IS
  'The customer who started a bargain buys it at its floor price once it succeeded and before its deadline: an order from the play''s stock, held for the pool''s hold time, paid with commerce.pay_order (the asset is issued then). Refused: not the owner or bought already or not at the floor (PT409), failed or past the deadline (PT410), sold out (PT409). Idempotent by request_id.';


-- ===========================================================================
-- Hasura's reads (issue 12): commerce_hasura, each read of commerce_api with
-- the session as its hasura_session argument; grant_api grants them to
-- commerce_authenticator
-- ===========================================================================

CREATE OR REPLACE FUNCTION commerce.grant_api(p_authenticator name DEFAULT NULL)
RETURNS TABLE (role name, functions integer)
LANGUAGE plpgsql AS $$
DECLARE k text; r name; m record; n integer;
BEGIN
    IF p_authenticator IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_authenticator) THEN
        PERFORM commerce._not_found('role', p_authenticator::text, NULL);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_authenticator') THEN
        CREATE ROLE commerce_authenticator NOLOGIN;
    END IF;
    FOREACH k IN ARRAY commerce.actor_kinds() LOOP
        r := 'commerce_' || k;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA commerce_api, commerce TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION commerce._rls_tenant() TO %I', r);   -- the policies call it
        n := 0;
        FOR m IN SELECT * FROM commerce.api_matrix() LOOP
            IF k = ANY (m.kinds) THEN
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', m.function, r);
                n := n + 1;
            ELSE
                EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %I', m.function, r);
            END IF;
        END LOOP;
        IF p_authenticator IS NOT NULL THEN
            EXECUTE format('GRANT %I TO %I', r, p_authenticator);
        END IF;
        role := r; functions := n;
        RETURN NEXT;
    END LOOP;
    -- Hasura's read variants: for the gateways' login roles, not for the actor roles
    GRANT USAGE ON SCHEMA commerce_hasura TO commerce_authenticator;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA commerce_hasura TO commerce_authenticator;
    IF p_authenticator IS NOT NULL THEN
        EXECUTE format('GRANT commerce_authenticator TO %I', p_authenticator);
    END IF;
    PERFORM commerce._audit(0, 'grant_api', p_authenticator, jsonb_build_object('authenticator', p_authenticator), 'granted');
END $$;
COMMENT ON FUNCTION commerce.grant_api(name) IS
  'Create the NOLOGIN actor roles (commerce_anonymous, _customer, _koc, _store, _operator, _finance, _service and commerce_authenticator) if missing, grant each exactly the commerce_api functions open to it (commerce.api_matrix()) and revoke the rest, and commerce_authenticator Hasura''s read variants (commerce_hasura); with p_authenticator, make that login role a trusted gateway that may switch to every actor role. Audited. Idempotent: rerun after every ALTER EXTENSION UPDATE.';
CREATE SCHEMA commerce_hasura;
COMMENT ON SCHEMA commerce_hasura IS
  'Hasura''s variants of the commerce_api reads: each takes the session variables as its first argument hasura_session (track it with session_argument: hasura_session) and returns what the commerce_api function of the same name returns, for the actor of those variables. Executable by the gateways'' login roles only (commerce.grant_api grants them to commerce_authenticator), never by the actor roles PostgREST and PostGraphile switch to.';
CREATE FUNCTION commerce._hasura_session(p_session json) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('role') <> 'none' OR NOT commerce._session_trusted()
       OR EXISTS (SELECT 1 FROM commerce.role_binding rb WHERE rb.role_name = session_user) THEN
        PERFORM commerce._no_identity('hasura_session is for Hasura''s own database user',
            format('The session is %s, role %s.', left(session_user::text, 64), left(current_setting('role'), 64)),
            'Call commerce_hasura functions through Hasura connected as the role given to commerce.grant_api(); others call commerce_api.');
    END IF;
    IF p_session IS NULL OR json_typeof(p_session) <> 'object' THEN
        PERFORM commerce._no_identity('no Hasura session', format('hasura_session: %s', coalesce(left(p_session::text, 100), 'NULL')),
            'Track the function with session_argument: hasura_session.');
    END IF;
    PERFORM set_config('hasura.user', p_session::text, true);
END $$;
COMMENT ON FUNCTION commerce._hasura_session(json) IS
  'The first statement of every commerce_hasura function: in a session of Hasura''s database user (trusted, a member of commerce_authenticator, no role switched, not bound) the session variables Hasura passes (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id) become this transaction''s hasura.user, which commerce._identity() reads as Hasura''s claims; anywhere else 42501.';
CREATE FUNCTION commerce_hasura.me(hasura_session json)
RETURNS SETOF commerce_api.customer_profile LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.me();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.me(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.me(json) IS
  'Hasura: commerce_api.me for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.catalog(hasura_session json, channel text, search text DEFAULT NULL, category text DEFAULT NULL, after_sku text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.catalog_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.catalog(catalog.channel, catalog.search, catalog.category, catalog.after_sku, catalog.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.catalog(json, text, text, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.catalog(json, text, text, text, text, integer) IS
  'Hasura: commerce_api.catalog for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.orders(hasura_session json, status commerce.order_status DEFAULT NULL, customer text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.orders(orders.status, orders.customer, orders.before_id, orders.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.orders(json, commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.orders(json, commerce.order_status, text, bigint, integer) IS
  'Hasura: commerce_api.orders for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.order_history(hasura_session json, order_id bigint)
RETURNS SETOF commerce_api.order_status_change LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.order_history(order_history.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.order_history(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.order_history(json, bigint) IS
  'Hasura: commerce_api.order_history for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.order_shipments(hasura_session json, order_id bigint)
RETURNS SETOF commerce_api.order_shipment LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.order_shipments(order_shipments.order_id);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.order_shipments(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.order_shipments(json, bigint) IS
  'Hasura: commerce_api.order_shipments for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_account(hasura_session json, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_account LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_account(koc_account.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_account(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_account(json, text) IS
  'Hasura: commerce_api.koc_account for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.tracking_link(hasura_session json, task text DEFAULT NULL, channel text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_link LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.tracking_link(tracking_link.task, tracking_link.channel, tracking_link.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.tracking_link(json, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.tracking_link(json, text, text, text) IS
  'Hasura: commerce_api.tracking_link for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.assets(hasura_session json, customer text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.customer_asset LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.assets(assets.customer, assets.before_id, assets.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.assets(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.assets(json, text, bigint, integer) IS
  'Hasura: commerce_api.assets for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.asset_consumptions(hasura_session json, asset bigint)
RETURNS SETOF commerce_api.asset_consumption LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.asset_consumptions(asset_consumptions.asset);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.asset_consumptions(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.asset_consumptions(json, bigint) IS
  'Hasura: commerce_api.asset_consumptions for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.group_buy(hasura_session json, group_id bigint)
RETURNS SETOF commerce_api.group_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.group_buy(group_buy.group_id);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.group_buy(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.group_buy(json, bigint) IS
  'Hasura: commerce_api.group_buy for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';


-- ===========================================================================
-- the KOC workbench, the store counter and HQ's catalog, stock, plays and
-- reviews through commerce_api (issue 12)
-- ===========================================================================

CREATE FUNCTION commerce_api.upsert_product(code text, name text, kind text DEFAULT 'physical',
                                            virtual_kind text DEFAULT NULL, brand text DEFAULT NULL,
                                            category text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_product', '{operator,service}');
BEGIN
    RETURN commerce.upsert_product(a.tenant_id, upsert_product.code, left(upsert_product.name, 200), upsert_product.kind,
                                   upsert_product.virtual_kind, left(upsert_product.brand, 100),
                                   left(upsert_product.category, 100));
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_product(text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_product(text, text, text, text, text, text) IS
  'HQ creates or changes a product by code: name, kind (physical, virtual), virtual_kind (course, activation_code, membership_card, live_ticket), brand, category. HQ operators and services. Returns the product id.';
CREATE FUNCTION commerce_api.upsert_sku(product text, code text, name text, msrp_fen bigint, floor_fen bigint DEFAULT 0,
                                        cost_fen bigint DEFAULT NULL, weight_g integer DEFAULT NULL,
                                        volume_cm3 integer DEFAULT NULL, spec jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_sku', '{operator,service}');
BEGIN
    RETURN commerce.upsert_sku(a.tenant_id, upsert_sku.product, upsert_sku.code, left(upsert_sku.name, 200),
                               upsert_sku.msrp_fen, upsert_sku.floor_fen, upsert_sku.cost_fen, upsert_sku.weight_g,
                               upsert_sku.volume_cm3, upsert_sku.spec);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_sku(text, text, text, bigint, bigint, bigint, integer, integer, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_sku(text, text, text, bigint, bigint, bigint, integer, integer, jsonb) IS
  'HQ creates or changes a SKU of a product: name, list price (msrp_fen), the floor no price may go below (floor_fen; 23514 otherwise), cost, weight, volume and spec ({"size":"L"}). HQ operators and services. Returns the SKU id.';
CREATE FUNCTION commerce_api.set_price(sku text, kind text, price_fen bigint, channel text DEFAULT NULL,
                                       member_tier text DEFAULT NULL, valid_from timestamptz DEFAULT '-infinity',
                                       valid_to timestamptz DEFAULT 'infinity')
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_price', '{operator,service}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, set_price.channel);
    RETURN commerce.set_price(a.tenant_id, set_price.sku, set_price.kind, set_price.price_fen, set_price.channel,
                              set_price.member_tier, set_price.valid_from, set_price.valid_to);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_price(text, text, bigint, text, text, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_price(text, text, bigint, text, text, timestamptz, timestamptz) IS
  'HQ sets a price of a SKU (H3.1.2): kind channel (with channel), member (with member_tier) or flash (with its window), in fen, never below the SKU''s floor (23514). An operator limited to some channels sets prices of those only (42501). Audited. HQ operators and services. Returns the price id.';
CREATE VIEW commerce_api.stock_level AS
SELECT NULL::text AS sku, NULL::text AS warehouse, NULL::text AS activity, NULL::text AS status, NULL::bigint AS on_hand,
       NULL::bigint AS reserved, NULL::bigint AS sold, NULL::bigint AS available, NULL::bigint AS low_stock_threshold
 WHERE false;
COMMENT ON VIEW commerce_api.stock_level IS
  E'@omit all\nThe figures of a stock pool (H3.1.3): SKU, warehouse, the activity it is allocated to (NULL: the shared pool every channel sells from), status (open, closed), on hand, reserved, sold, available (on hand - reserved - sold) and the low-stock threshold.';
CREATE FUNCTION commerce_api.stock_levels(sku text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.stock_levels', '{store,operator,finance,service}');
BEGIN
    RETURN QUERY SELECT s.sku, s.warehouse, s.activity, s.status, s.on_hand, s.reserved, s.sold, s.available,
                        s.low_stock_threshold
                   FROM commerce.stock s
                  WHERE s.tenant_id = a.tenant_id AND (stock_levels.sku IS NULL OR s.sku = stock_levels.sku)
                  ORDER BY s.sku, s.warehouse, s.activity NULLS FIRST;
END $$;
REVOKE ALL ON FUNCTION commerce_api.stock_levels(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.stock_levels(text) IS
  'Every stock pool of the tenant, or of one SKU, with on hand, reserved, sold and available (stock_level). Staff and services.';
CREATE FUNCTION commerce_api.receive_stock(request_id text, sku text, qty bigint, warehouse text DEFAULT NULL,
                                           note text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.receive_stock', '{operator,service}');
BEGIN
    PERFORM commerce.receive_stock(a.tenant_id, receive_stock.request_id, receive_stock.sku, receive_stock.qty,
                                   receive_stock.warehouse, left(coalesce(receive_stock.note, 'received by ' || a.subject), 200));
    RETURN QUERY SELECT * FROM commerce_api.stock_levels(receive_stock.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_api.receive_stock(text, text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.receive_stock(text, text, bigint, text, text) IS
  'HQ receives stock of a SKU into its shared pool at a warehouse (the only one when left out): qty units, with a note (default: who received it). HQ operators and services. Idempotent by request_id. Returns the SKU''s pools (stock_level).';
CREATE FUNCTION commerce_api.adjust_stock(request_id text, sku text, delta bigint, note text, warehouse text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.adjust_stock', '{operator,service}');
BEGIN
    PERFORM commerce._require(adjust_stock.note, 'note');
    PERFORM commerce.adjust_stock(a.tenant_id, adjust_stock.request_id, adjust_stock.sku, adjust_stock.delta,
                                  adjust_stock.warehouse, left(adjust_stock.note || ' (' || coalesce(a.subject, a.kind) || ')', 200));
    RETURN QUERY SELECT * FROM commerce_api.stock_levels(adjust_stock.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_api.adjust_stock(text, text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.adjust_stock(text, text, bigint, text, text) IS
  'HQ corrects the stock on hand of a SKU (a count, damage, loss) by delta units, with the reason (note, required; the operator''s code is added). Never below what is reserved and sold (PT409). HQ operators and services. Idempotent by request_id. Returns the SKU''s pools (stock_level).';
CREATE VIEW commerce_api.koc_application AS
SELECT NULL::bigint AS application_id, NULL::text AS customer, NULL::text AS status, NULL::jsonb AS social_accounts,
       NULL::text AS note, NULL::text AS reviewer, NULL::text AS decision_reason, NULL::text AS koc,
       NULL::timestamptz AS created_at, NULL::timestamptz AS reviewed_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_application IS
  E'@omit all\nAn application to become a KOC (K03): the applying customer, status (submitted, approved, rejected), the social accounts and note it gave, who reviewed it and why, and the KOC code an approval created.';
CREATE FUNCTION commerce._koc_applications(p_tenant bigint, p_customer text, p_application bigint, p_status text,
                                           p_before bigint, p_page integer)
RETURNS SETOF commerce_api.koc_application LANGUAGE sql STABLE AS $$
    SELECT ap.application_id, cu.code, ap.status, ap.social_accounts, ap.note, ap.reviewer, ap.decision_reason, k.code,
           ap.created_at, ap.reviewed_at
      FROM commerce.koc_application ap
      JOIN commerce.customer cu ON cu.tenant_id = ap.tenant_id AND cu.customer_id = ap.customer_id
      LEFT JOIN commerce.koc k ON k.tenant_id = ap.tenant_id AND k.koc_id = ap.koc_id
     WHERE ap.tenant_id = p_tenant AND (p_customer IS NULL OR cu.code = p_customer)
       AND (p_application IS NULL OR ap.application_id = p_application)
       AND (p_status IS NULL OR ap.status = p_status) AND (p_before IS NULL OR ap.application_id < p_before)
     ORDER BY ap.application_id DESC
     LIMIT p_page;
$$;
CREATE FUNCTION commerce_api.apply_koc(request_id text, social_accounts jsonb, note text DEFAULT NULL,
                                       customer text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_koc', '{customer,service}');
        r commerce.koc_application_row;
BEGIN
    r := commerce.apply_koc(a.tenant_id, apply_koc.request_id, commerce._actor_subject(a, apply_koc.customer, 'customer'),
                            apply_koc.social_accounts, left(apply_koc.note, 1000));
    RETURN QUERY SELECT * FROM commerce._koc_applications(a.tenant_id, NULL, r.application_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.apply_koc(text, jsonb, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_koc(text, jsonb, text, text) IS
  'Apply to become a KOC (K03) with one''s social accounts ({"douyin":"@name","xiaohongshu":"..."}) and a note: a customer for itself; a service names the customer. One open application per customer; idempotent by request_id. Returns the application (koc_application); HQ reviews it (review_koc_application).';
CREATE FUNCTION commerce_api.koc_applications(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                              page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_applications', '{customer,operator,service}');
BEGIN
    PERFORM commerce._api_page(koc_applications.page_size);
    RETURN QUERY SELECT * FROM commerce._koc_applications(a.tenant_id, CASE WHEN a.kind = 'customer' THEN a.subject END,
                                                           NULL, koc_applications.status, koc_applications.before_id,
                                                           koc_applications.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_applications(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_applications(text, bigint, integer) IS
  'KOC applications newest first (koc_application), optionally of one status (submitted, approved, rejected): a customer its own; HQ operators and services all. Paged by cursor: before_id is the last application_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.review_koc_application(application bigint, approve boolean, reason text DEFAULT NULL,
                                                    koc_code text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_koc_application', '{operator}');
        r commerce.koc_application_row;
BEGIN
    r := commerce.review_koc_application(a.tenant_id, review_koc_application.application, review_koc_application.approve,
                                         a.subject, left(review_koc_application.reason, 500), review_koc_application.koc_code);
    RETURN QUERY SELECT * FROM commerce._koc_applications(a.tenant_id, NULL, r.application_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_koc_application(bigint, boolean, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_koc_application(bigint, boolean, text, text) IS
  'HQ approves (the customer becomes a KOC, koc_code or one made from the application) or rejects (reason required) a KOC application, as the calling operator. HQ operators only. Returns the application (koc_application).';
CREATE VIEW commerce_api.koc_agreement AS
SELECT NULL::integer AS version, NULL::text AS title, NULL::text AS body, NULL::text AS body_sha256,
       NULL::timestamptz AS published_at, NULL::timestamptz AS signed_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_agreement IS
  E'@omit all\nThe current KOC agreement (K04): version, title, body and its SHA-256 (what sign_agreement confirms), when it was published, and when the calling KOC signed it (NULL: not yet).';
CREATE FUNCTION commerce_api.koc_agreement()
RETURNS SETOF commerce_api.koc_agreement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_agreement', '{customer,koc,operator,service}');
BEGIN
    RETURN QUERY
    SELECT g.version, g.title, g.body, g.body_sha256, g.published_at,
           (SELECT sg.signed_at FROM commerce.agreement_signature sg JOIN commerce.koc k USING (tenant_id, koc_id)
             WHERE sg.tenant_id = g.tenant_id AND sg.version = g.version AND a.kind = 'koc' AND k.code = a.subject)
      FROM commerce.agreement g
     WHERE g.tenant_id = a.tenant_id
     ORDER BY g.version DESC LIMIT 1;
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_agreement() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_agreement() IS
  'The current KOC agreement to read before signing (koc_agreement), with when the calling KOC signed it. Open to customers (applicants), KOCs, operators and services; no row before HQ publishes one.';
CREATE FUNCTION commerce_api.sign_agreement(version integer, text_sha256 text, signer_name text)
RETURNS SETOF commerce_api.koc_agreement LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sign_agreement', '{koc}');
BEGIN
    PERFORM commerce.sign_agreement(a.tenant_id, a.subject, sign_agreement.version, sign_agreement.text_sha256,
                                    left(sign_agreement.signer_name, 100), commerce._client_ip(a, NULL)::inet);
    RETURN QUERY SELECT g.version, g.title, g.body, g.body_sha256, g.published_at, sg.signed_at
                   FROM commerce.agreement g
                   JOIN commerce.koc k ON k.tenant_id = g.tenant_id AND k.code = a.subject
                   JOIN commerce.agreement_signature sg ON sg.tenant_id = g.tenant_id AND sg.koc_id = k.koc_id
                                                       AND sg.version = g.version
                  WHERE g.tenant_id = a.tenant_id AND g.version = sign_agreement.version;
END $$;
REVOKE ALL ON FUNCTION commerce_api.sign_agreement(integer, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sign_agreement(integer, text, text) IS
  'The calling KOC signs an agreement version (K04), confirming the SHA-256 of the text it was shown, under the name it types; the client address comes from the request headers, as evidence. KOCs only. Returns the agreement with when it was signed (koc_agreement).';
CREATE VIEW commerce_api.koc_task AS
SELECT NULL::text AS task, NULL::text AS title, NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at,
       NULL::integer AS rate_bp, NULL::integer AS level_bonus_bp, NULL::bigint AS bounty_fen, NULL::integer AS goal,
       NULL::text[] AS materials
 WHERE false;
COMMENT ON VIEW commerce_api.koc_task IS
  E'@omit all\nA promotion task open to the KOC (K06): code and title, its window, the commission rate and the KOC level''s bonus in basis points, the bounty per redemption in fen, the goal, and the materials to share (URLs).';
CREATE FUNCTION commerce_api.koc_tasks()
RETURNS SETOF commerce_api.koc_task LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_tasks', '{koc}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.koc_open_tasks(a.tenant_id, a.subject);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_tasks() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_tasks() IS
  'The tasks open to the calling KOC now (koc_task), with its level''s bonus and the materials to share. KOCs only.';
CREATE VIEW commerce_api.koc_task_progress AS
SELECT NULL::text AS koc, NULL::text AS task, NULL::bigint AS clicks, NULL::bigint AS visitors,
       NULL::bigint AS new_customers, NULL::bigint AS pending_redemptions, NULL::bigint AS done_redemptions,
       NULL::integer AS goal, NULL::boolean AS goal_reached
 WHERE false;
COMMENT ON VIEW commerce_api.koc_task_progress IS
  E'@omit all\nA KOC''s progress on a task (K07): clicks and distinct visitors on its links, new customers, redemptions pending and done, the goal and whether it is reached.';
CREATE FUNCTION commerce_api.koc_task_progress(task text, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_task_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_task_progress', '{koc,operator,service}');
        v_koc text := koc_task_progress.koc;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, koc_task_progress.koc, 'koc');
    END IF;
    PERFORM commerce._require(v_koc, 'koc');
    RETURN QUERY SELECT * FROM commerce.koc_task_progress(a.tenant_id, v_koc, koc_task_progress.task);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_task_progress(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_task_progress(text, text) IS
  'A KOC''s progress on a task (koc_task_progress): a KOC its own (koc left out); HQ operators and services name the KOC.';
CREATE VIEW commerce_api.koc_withdrawal AS
SELECT NULL::bigint AS withdrawal_id, NULL::text AS koc, NULL::bigint AS amount_fen, NULL::text AS amount_yuan,
       NULL::bigint AS fee_fen, NULL::text AS method, NULL::text AS status, NULL::text AS reviewer, NULL::text AS reason,
       NULL::timestamptz AS requested_at, NULL::timestamptz AS reviewed_at, NULL::timestamptz AS finished_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_withdrawal IS
  E'@omit all\nA KOC''s withdrawal (K14): amount and fee in fen (amount_yuan the exact string), method (wechat, alipay, bank_card), status (requested, approved, rejected, paid, failed), who reviewed it and why, and when it was requested, reviewed and finished. The payee details are not shown.';
CREATE FUNCTION commerce._koc_withdrawals(p_tenant bigint, p_koc text, p_withdrawal bigint, p_status text,
                                          p_before bigint, p_page integer)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE sql STABLE AS $$
    SELECT w.withdrawal_id, k.code, w.amount_fen, commerce.yuan(w.amount_fen), w.fee_fen, w.method, w.status, w.reviewer,
           w.reason, w.requested_at, w.reviewed_at, w.finished_at
      FROM commerce.withdrawal w JOIN commerce.koc k ON k.tenant_id = w.tenant_id AND k.koc_id = w.koc_id
     WHERE w.tenant_id = p_tenant AND (p_koc IS NULL OR k.code = p_koc) AND (p_withdrawal IS NULL OR w.withdrawal_id = p_withdrawal)
       AND (p_status IS NULL OR w.status = p_status) AND (p_before IS NULL OR w.withdrawal_id < p_before)
     ORDER BY w.withdrawal_id DESC
     LIMIT p_page;
$$;
CREATE FUNCTION commerce_api.withdrawals(status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                         page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.withdrawals', '{koc,finance,service}');
        v_koc text := withdrawals.koc;
BEGIN
    PERFORM commerce._api_page(withdrawals.page_size);
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, withdrawals.koc, 'koc');
    END IF;
    RETURN QUERY SELECT * FROM commerce._koc_withdrawals(a.tenant_id, v_koc, NULL, withdrawals.status,
                                                          withdrawals.before_id, withdrawals.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.withdrawals(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.withdrawals(text, text, bigint, integer) IS
  'Withdrawals newest first (koc_withdrawal), optionally of one status or KOC: a KOC its own; finance and services any. Paged by cursor: before_id is the last withdrawal_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.review_withdrawal(withdrawal bigint, approve boolean, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_withdrawal', '{finance}');
        w commerce.withdrawal_row;
BEGIN
    w := commerce.review_withdrawal(a.tenant_id, review_withdrawal.withdrawal, review_withdrawal.approve, a.subject,
                                    left(review_withdrawal.reason, 500));
    RETURN QUERY SELECT * FROM commerce._koc_withdrawals(a.tenant_id, NULL, w.withdrawal_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_withdrawal(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_withdrawal(bigint, boolean, text) IS
  'HQ finance approves (the payout goes out through the outbox, koc.payout) or rejects (the amount goes back to the balance; reason required) a withdrawal, under its own name. Finance only. Returns the withdrawal (koc_withdrawal).';
CREATE VIEW commerce_api.koc_risk_flag AS
SELECT NULL::bigint AS flag_id, NULL::text AS koc, NULL::text AS rule, NULL::jsonb AS evidence, NULL::text AS status,
       NULL::timestamptz AS raised_at, NULL::text AS reviewer, NULL::text AS reason, NULL::timestamptz AS decided_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_risk_flag IS
  E'@omit all\nA risk flag on a KOC (K20): the rule that raised it (click_burst, conversion, referral_ring) with its evidence, status (open, cleared, confirmed: the KOC frozen and the flagged commission reversed), who decided and why.';
CREATE FUNCTION commerce._koc_risk_flags(p_tenant bigint, p_flag bigint, p_status text, p_before bigint, p_page integer)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE sql STABLE AS $$
    SELECT f.flag_id, k.code, f.rule, f.evidence, f.status, f.raised_at, f.reviewer, f.reason, f.decided_at
      FROM commerce.koc_risk_flag f JOIN commerce.koc k ON k.tenant_id = f.tenant_id AND k.koc_id = f.koc_id
     WHERE f.tenant_id = p_tenant AND (p_flag IS NULL OR f.flag_id = p_flag) AND (p_status IS NULL OR f.status = p_status)
       AND (p_before IS NULL OR f.flag_id < p_before)
     ORDER BY f.flag_id DESC
     LIMIT p_page;
$$;
CREATE FUNCTION commerce_api.risk_flags(status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.risk_flags', '{operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(risk_flags.page_size);
    RETURN QUERY SELECT * FROM commerce._koc_risk_flags(a.tenant_id, NULL, risk_flags.status, risk_flags.before_id,
                                                         risk_flags.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.risk_flags(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.risk_flags(text, bigint, integer) IS
  'KOC risk flags newest first (koc_risk_flag), optionally of one status (open, cleared, confirmed), for HQ review. Operators, finance and services. Paged by cursor: before_id is the last flag_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.review_risk_flag(flag bigint, confirm boolean, reason text)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_risk_flag', '{operator}');
        f commerce.koc_risk_flag_row;
BEGIN
    f := commerce.review_risk_flag(a.tenant_id, review_risk_flag.flag, review_risk_flag.confirm, a.subject,
                                   left(review_risk_flag.reason, 500));
    RETURN QUERY SELECT * FROM commerce._koc_risk_flags(a.tenant_id, f.flag_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_risk_flag(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_risk_flag(bigint, boolean, text) IS
  'HQ confirms (the KOC is frozen and the flagged commission reversed) or clears a risk flag, with a reason, as the calling operator. Operators only. Returns the flag (koc_risk_flag).';
CREATE FUNCTION commerce._api_counter_order(a commerce.actor, p_order bigint) RETURNS commerce.orders_row
LANGUAGE plpgsql STABLE AS $$
DECLARE o commerce.orders_row; v_store text;
BEGIN
    IF a.kind <> 'store' THEN
        RETURN commerce._api_order(a, p_order);
    END IF;
    PERFORM commerce._require(p_order, 'order_id');
    SELECT o2.* INTO o FROM commerce.orders o2 WHERE o2.tenant_id = a.tenant_id AND o2.order_id = p_order;
    SELECT st.code INTO v_store FROM commerce.play_config c
      JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
     WHERE c.tenant_id = a.tenant_id AND c.activity = o.source_activity;
    IF o.order_id IS NULL OR v_store IS NULL OR NOT v_store = ANY (a.stores) THEN
        PERFORM commerce._not_found('order', p_order::text, a.tenant_id);   -- not of its stores: does not exist for it
    END IF;
    RETURN o;
END $$;
CREATE FUNCTION commerce_api.store_orders(status commerce.order_status DEFAULT NULL, play text DEFAULT NULL,
                                          before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.store_orders', '{store,operator,service}');
        v_ids bigint[];
BEGIN
    PERFORM commerce._api_page(store_orders.page_size);
    SELECT array_agg(x.order_id) INTO v_ids FROM (
        SELECT o.order_id FROM commerce.orders o
          JOIN commerce.play_config c ON c.tenant_id = o.tenant_id AND c.activity = o.source_activity
          JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
         WHERE o.tenant_id = a.tenant_id AND (a.stores IS NULL OR st.code = ANY (a.stores))
           AND (store_orders.play IS NULL OR c.code = store_orders.play)
           AND (store_orders.status IS NULL OR o.status = store_orders.status)
           AND (store_orders.before_id IS NULL OR o.order_id < store_orders.before_id)
         ORDER BY o.order_id DESC LIMIT store_orders.page_size) x;
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, coalesce(v_ids, '{}'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.store_orders(commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.store_orders(commerce.order_status, text, bigint, integer) IS
  'The orders of the plays of the caller''s stores, newest first (order_summary), optionally of one status or play: store staff their stores''; HQ operators and services every store''s. Paged by cursor: before_id is the last order_id of the previous page, page_size 1 to 100 (default 20).';
CREATE VIEW commerce_api.store_play AS
SELECT NULL::text AS play, NULL::text AS title, NULL::text AS template, NULL::text AS kind, NULL::text AS store,
       NULL::text AS sku, NULL::text AS status, NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at,
       NULL::bigint AS price_fen, NULL::text AS price_yuan, NULL::bigint AS stock, NULL::bigint AS available,
       NULL::bigint AS paid_orders
 WHERE false;
COMMENT ON VIEW commerce_api.store_play IS
  E'@omit all\nA play of a store: code, title, template and its kind (group_buy, flash_sale, bargain, invite_reward), store and SKU, status (active, closed) and window, the play price (price_yuan the exact string), the stock allocated to it and still available, and its paid orders.';
CREATE FUNCTION commerce_api.store_plays(status text DEFAULT NULL)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.store_plays', '{store,operator,finance,service}');
BEGIN
    RETURN QUERY
    SELECT c.code, c.title, c.template_code, t.kind, st.code, sk.code, c.status, c.starts_at, c.ends_at, c.price_fen,
           commerce.yuan(c.price_fen), c.stock, commerce._play_available(ROW(c.*)::commerce.play_config_row),
           (SELECT count(*) FROM commerce.orders o WHERE o.tenant_id = c.tenant_id AND o.source_activity = c.activity
               AND o.paid_at IS NOT NULL)
      FROM commerce.play_config c
      JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
      JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
      JOIN commerce.sku sk ON sk.tenant_id = c.tenant_id AND sk.sku_id = c.sku_id
     WHERE c.tenant_id = a.tenant_id AND (a.stores IS NULL OR st.code = ANY (a.stores))
       AND (store_plays.status IS NULL OR c.status = store_plays.status)
     ORDER BY c.starts_at DESC, c.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.store_plays(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.store_plays(text) IS
  'The plays of the caller''s stores, newest first (store_play), optionally of one status (active, closed): store staff their stores''; HQ staff and services all.';
CREATE FUNCTION commerce_api.ship_order(request_id text, order_id bigint, tracking_no text DEFAULT NULL,
                                        carrier text DEFAULT NULL)
RETURNS SETOF commerce_api.order_shipment LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.ship_order', '{store,operator,service}');
        o commerce.orders_row := commerce._api_counter_order(a, ship_order.order_id); sh commerce.shipment_row;
BEGIN
    sh := commerce.ship_order(a.tenant_id, o.order_id, ship_order.request_id, left(ship_order.tracking_no, 64),
                              left(ship_order.carrier, 64));
    RETURN QUERY SELECT sh.order_id, sh.shipment_id, sh.carrier, sh.tracking_no, sh.shipped_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.ship_order(text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ship_order(text, bigint, text, text) IS
  'Ship a paid order (the carrier routed unless given; the waybill job queued): store staff the orders of their stores'' plays (another''s is PT404), HQ operators those of their channels, services any. PT409 when the order is not paid. Idempotent by request_id. Returns the parcel (order_shipment).';
CREATE FUNCTION commerce_api.after_sales(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                         page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.after_sales', '{customer,store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(after_sales.page_size);
    RETURN QUERY
    SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
           r.decision_note, r.created_at, r.decided_at, r.completed_at
      FROM commerce.after_sale r
      JOIN commerce.orders o ON o.tenant_id = r.tenant_id AND o.order_id = r.order_id
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
      LEFT JOIN commerce.play_config c ON c.tenant_id = o.tenant_id AND c.activity = o.source_activity
      LEFT JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
     WHERE r.tenant_id = a.tenant_id
       AND (a.kind <> 'customer' OR cu.code = a.subject)
       AND (a.kind <> 'store' OR st.code = ANY (a.stores))
       AND (a.channels IS NULL OR ch.code = ANY (a.channels))
       AND (after_sales.status IS NULL OR r.status = after_sales.status)
       AND (after_sales.before_id IS NULL OR r.after_sale_id < after_sales.before_id)
     ORDER BY r.after_sale_id DESC
     LIMIT after_sales.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.after_sales(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.after_sales(text, bigint, integer) IS
  'After-sale requests newest first (after_sale_request), optionally of one status (requested, approved, rejected, goods_returned, refunded, exchanged): a customer its own; store staff those of their stores'' play orders; HQ staff those of their channels; services all. Paged by cursor: before_id is the last after_sale_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.decide_after_sale(after_sale bigint, approve boolean, note text DEFAULT NULL)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.decide_after_sale', '{store,operator,finance}');
        v_order bigint; r commerce.after_sale_row;
BEGIN
    PERFORM commerce._require(decide_after_sale.after_sale, 'after_sale');
    SELECT x.order_id INTO v_order FROM commerce.after_sale x
     WHERE x.tenant_id = a.tenant_id AND x.after_sale_id = decide_after_sale.after_sale;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('after-sale request', decide_after_sale.after_sale::text, a.tenant_id);
    END IF;
    PERFORM commerce._api_counter_order(a, v_order);    -- within the caller's stores or channels
    r := commerce.decide_after_sale(a.tenant_id, decide_after_sale.after_sale, decide_after_sale.approve,
                                    left(decide_after_sale.note, 500), a.subject);
    RETURN QUERY SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
                        r.decision_note, r.created_at, r.decided_at, r.completed_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.decide_after_sale(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.decide_after_sale(bigint, boolean, text) IS
  'Approve or reject an after-sale request, under the caller''s name (a refund at or above the tenant''s second-approval threshold needs two different approvers): store staff for their stores'' play orders (another''s is PT404), HQ operators and finance for their channels. Returns the request (after_sale_request).';
CREATE FUNCTION commerce_api.record_refund(after_sale bigint)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_refund', '{service}');
        r commerce.after_sale_row;
BEGIN
    r := commerce.complete_refund(a.tenant_id, record_refund.after_sale);
    RETURN QUERY SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
                        r.decision_note, r.created_at, r.decided_at, r.completed_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_refund(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_refund(bigint) IS
  'The payment provider''s refund callback (service only): the refund of an approved after-sale request went through (the payment.refund message''s after_sale_id); the order becomes refunded (or back to its state for a partial refund) and a group member refunded. Idempotent. Returns the request (after_sale_request).';
CREATE VIEW commerce_api.play_settlement AS
SELECT NULL::bigint AS settlement_id, NULL::text AS play, NULL::text AS store, NULL::text AS status,
       NULL::integer AS orders, NULL::bigint AS income_fen, NULL::integer AS store_share_bp, NULL::bigint AS store_fen,
       NULL::text AS store_yuan, NULL::bigint AS hq_fen, NULL::timestamptz AS applied_at, NULL::timestamptz AS decided_at,
       NULL::text AS decided_by, NULL::text AS reason, NULL::timestamptz AS paid_at
 WHERE false;
COMMENT ON VIEW commerce_api.play_settlement IS
  E'@omit all\nA store''s settlement of a play (M7): the completed orders and their income, the store''s share in basis points and fen (store_yuan the exact string) and HQ''s, status (applied, approved, rejected, paid, failed), who decided and why, when it was applied, decided and paid.';
CREATE FUNCTION commerce_api.play_settlements(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                              page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.play_settlements', '{store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(play_settlements.page_size);
    RETURN QUERY
    SELECT x.settlement_id, c.code, st.code, x.status, x.orders, x.income_fen, x.store_share_bp, x.store_fen,
           commerce.yuan(x.store_fen), x.hq_fen, x.applied_at, x.decided_at, x.decided_by, x.reason, x.paid_at
      FROM commerce.play_settlement x
      JOIN commerce.play_config c ON c.tenant_id = x.tenant_id AND c.config_id = x.config_id
      JOIN commerce.store st ON st.tenant_id = x.tenant_id AND st.store_id = x.store_id
     WHERE x.tenant_id = a.tenant_id AND (a.stores IS NULL OR st.code = ANY (a.stores))
       AND (play_settlements.status IS NULL OR x.status = play_settlements.status)
       AND (play_settlements.before_id IS NULL OR x.settlement_id < play_settlements.before_id)
     ORDER BY x.settlement_id DESC
     LIMIT play_settlements.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.play_settlements(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.play_settlements(text, bigint, integer) IS
  'Stores'' settlements of plays newest first (play_settlement), optionally of one status: store staff their stores''; HQ staff and services all (finance approves with decide_play_settlement). Paged by cursor: before_id is the last settlement_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.configure_play(request_id text, code text, template text, store text, sku text, title text,
                                            price_fen bigint, stock bigint, starts_at timestamptz, ends_at timestamptz,
                                            rules jsonb DEFAULT '{}', cities text[] DEFAULT NULL,
                                            new_users_only boolean DEFAULT false, per_user_limit integer DEFAULT NULL,
                                            mutex_group text DEFAULT NULL, asset_type text DEFAULT NULL,
                                            units_per_sale bigint DEFAULT 1)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.configure_play', '{store,operator,service}');
        c commerce.play_config_row;
BEGIN
    PERFORM commerce._actor_scope(a, configure_play.store, NULL);
    c := commerce.configure_play(a.tenant_id, configure_play.request_id, configure_play.code, configure_play.template,
                                 configure_play.store, configure_play.sku, configure_play.title, configure_play.price_fen,
                                 configure_play.stock, configure_play.starts_at, configure_play.ends_at,
                                 coalesce(configure_play.rules, '{}')::text, configure_play.cities,
                                 configure_play.new_users_only, configure_play.per_user_limit, configure_play.mutex_group,
                                 configure_play.asset_type, configure_play.units_per_sale);
    RETURN QUERY SELECT * FROM commerce_api.store_plays() x WHERE x.play = c.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.configure_play(text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, jsonb, text[], boolean, integer, text, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.configure_play(text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, jsonb, text[], boolean, integer, text, text, bigint) IS
  'A store applies a template to one of its SKUs (M2.1): the play code and title, the play price, the stock allocated from the shared pool, the window, the rules (checked against the template''s schema, 22023 naming the bad keyword), the cities it is seen in, who may join (new users only, a per-user limit, a mutex group) and what a sale becomes (asset_type, units_per_sale). Store staff for their own stores (42501 otherwise), HQ operators and services any. Idempotent by request_id. Returns the play (store_play).';
CREATE FUNCTION commerce_api.close_play(request_id text, play text)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.close_play', '{store,operator,service}');
BEGIN
    PERFORM commerce._api_play_scope(a, close_play.play);
    PERFORM commerce.close_play(a.tenant_id, close_play.play, close_play.request_id);
    RETURN QUERY SELECT * FROM commerce_api.store_plays() x WHERE x.play = close_play.play;
END $$;
REVOKE ALL ON FUNCTION commerce_api.close_play(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.close_play(text, text) IS
  'Close a play: its unsold stock goes back to the shared pool and nobody can join or buy any more. Store staff their own stores'' plays (42501 otherwise), HQ operators and services any. Closing again is a no-op. Returns the play (store_play).';

-- ===========================================================================
-- the outbox for a tenant's workers, HQ's KOC list and play templates through
-- commerce_api (issue 12)
-- ===========================================================================

CREATE VIEW commerce_api.outbox_message AS
SELECT NULL::bigint AS message_id, NULL::text AS topic, NULL::jsonb AS payload, NULL::text AS status,
       NULL::integer AS attempts, NULL::timestamptz AS lease_until, NULL::text AS last_error,
       NULL::timestamptz AS created_at
 WHERE false;
COMMENT ON VIEW commerce_api.outbox_message IS
  E'@omit all\nA message to the outside world (payment intent or refund, payout, WeCom, SMS, waybill, platform write-back) as a worker gets it: id, topic, payload, status (pending, claimed, done, dead), attempts so far, the lease of a claimed message, the last error, when it was queued.';
CREATE FUNCTION commerce_api.claim_messages(topic text, worker text, max integer DEFAULT 10,
                                            lease interval DEFAULT '5 minutes')
RETURNS SETOF commerce_api.outbox_message LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.claim_messages', '{service}');
BEGIN
    RETURN QUERY SELECT m.message_id, m.topic, m.payload, m.status, m.attempts, m.lease_until, m.last_error, m.created_at
                   FROM commerce.claim(claim_messages.topic, left(claim_messages.worker, 100), claim_messages.max,
                                       claim_messages.lease, a.tenant_id) m;
END $$;
REVOKE ALL ON FUNCTION commerce_api.claim_messages(text, text, integer, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.claim_messages(text, text, integer, interval) IS
  'A worker of the tenant (service only) claims up to max (1 to 10000) ready messages of a topic with a lease (default 5 minutes; SKIP LOCKED, so workers never share one); a message whose lease ran out is claimed again. Ack each when delivered, or fail it (retried with backoff, then a dead letter).';
CREATE FUNCTION commerce_api.ack_message(message bigint, worker text)
RETURNS SETOF commerce_api.outbox_message LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.ack_message', '{service}');
BEGIN
    PERFORM commerce.ack(a.tenant_id, ack_message.message, ack_message.worker);
    RETURN QUERY SELECT m.message_id, m.topic, m.payload, m.status, m.attempts, m.lease_until, m.last_error, m.created_at
                   FROM commerce.outbox m WHERE m.tenant_id = a.tenant_id AND m.message_id = ack_message.message;
END $$;
REVOKE ALL ON FUNCTION commerce_api.ack_message(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ack_message(bigint, text) IS
  'The worker that holds a message''s lease marks it delivered (service only); PT409 when another worker holds it or it is no longer claimed. Returns the message (outbox_message).';
CREATE FUNCTION commerce_api.fail_message(message bigint, worker text, error text)
RETURNS SETOF commerce_api.outbox_message LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.fail_message', '{service}');
BEGIN
    PERFORM commerce.fail(a.tenant_id, fail_message.message, fail_message.worker, left(fail_message.error, 1000));
    RETURN QUERY SELECT m.message_id, m.topic, m.payload, m.status, m.attempts, m.lease_until, m.last_error, m.created_at
                   FROM commerce.outbox m WHERE m.tenant_id = a.tenant_id AND m.message_id = fail_message.message;
END $$;
REVOKE ALL ON FUNCTION commerce_api.fail_message(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.fail_message(bigint, text, text) IS
  'The worker that holds a message''s lease reports a failed delivery with the error (service only): retried later with backoff, or a dead letter with an outbox.dead alert after the last attempt. Returns the message (outbox_message).';
CREATE VIEW commerce_api.koc_list_item AS
SELECT NULL::text AS koc, NULL::text AS name, NULL::text AS region, NULL::text AS level, NULL::text AS status,
       NULL::timestamptz AS joined_at, NULL::bigint AS clicks, NULL::bigint AS redemptions, NULL::bigint AS gmv_fen,
       NULL::bigint AS commission_fen, NULL::bigint AS balance_fen, NULL::bigint AS paid_fen
 WHERE false;
COMMENT ON VIEW commerce_api.koc_list_item IS
  E'@omit all\nA KOC in HQ''s list (K20): code, name, region, level, status (active, frozen, suspended), when it joined, and for the period its clicks, redemptions, GMV and commission, with its balance and what it was paid in all (fen).';
CREATE FUNCTION commerce_api.koc_list(start_date date, end_date date, level text DEFAULT NULL, region text DEFAULT NULL,
                                      status text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_list_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_list', '{operator,finance,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.koc_list(a.tenant_id, koc_list.start_date, koc_list.end_date, koc_list.level,
                                                 koc_list.region, koc_list.status);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_list(date, date, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_list(date, date, text, text, text) IS
  'Every KOC with its figures for a period (K20, koc_list_item), optionally of one level, region or status. HQ operators, finance and services. koc_list_csv exports the same rows.';
CREATE FUNCTION commerce_api.koc_list_csv(start_date date, end_date date, level text DEFAULT NULL, region text DEFAULT NULL,
                                          status text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_list_csv', '{operator,finance,service}');
BEGIN
    RETURN commerce.koc_list_csv(a.tenant_id, koc_list_csv.start_date, koc_list_csv.end_date, koc_list_csv.level,
                                 koc_list_csv.region, koc_list_csv.status);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_list_csv(date, date, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_list_csv(date, date, text, text, text) IS
  'The KOC list of a period as CSV (K20 export: a header line, then one line per KOC, CRLF), with the same filters as koc_list. HQ operators, finance and services.';
CREATE FUNCTION commerce_api.upsert_play_template(code text, kind text, name text, unit_name text, rule_schema jsonb)
RETURNS commerce.play_template_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_play_template', '{operator,service}');
BEGIN
    PERFORM commerce._require(upsert_play_template.rule_schema, 'rule_schema');
    RETURN commerce.upsert_play_template(a.tenant_id, upsert_play_template.code, upsert_play_template.kind,
                                         left(upsert_play_template.name, 200), left(upsert_play_template.unit_name, 32),
                                         upsert_play_template.rule_schema::text);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_play_template(text, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_play_template(text, text, text, text, jsonb) IS
  'HQ creates or changes a play template (M2.1): code, kind (group_buy, flash_sale, bargain, invite_reward; never changed later), name, the unit its assets count in (lessons, hours) and the rule schema (the JSON Schema subset of docs/plays.md; 22023 naming the bad keyword; a new schema must accept the rules of every play built on it, PT409 otherwise). HQ operators and services.';


-- ===========================================================================
-- every commerce_api call that returned a composite type returns SETOF an API
-- shape (issue 12: Hasura tracks functions returning a table or view): the 24
-- are dropped and created again with the same arguments, their grants kept
-- ===========================================================================

DO $$
DECLARE r record; v_grants jsonb := '[]';
BEGIN
    FOR r IN SELECT p.oid, p.oid::regprocedure AS f FROM pg_proc p
              WHERE p.pronamespace = 'commerce_api'::regnamespace
                AND p.proname = ANY (ARRAY['price', 'reserve', 'confirm_reservation', 'release_reservation', 'extend_reservation', 'stock', 'order_contact', 'record_payment', 'ingest_platform_order', 'export_orders', 'record_click', 'request_withdrawal', 'koc_rank', 'visible_plays', 'join_group', 'buy_play', 'start_bargain', 'help_bargain', 'buy_bargain', 'invite', 'consume_asset', 'apply_play_settlement', 'decide_play_settlement', 'upsert_play_template'])
              ORDER BY 2::text LOOP
        v_grants := v_grants || coalesce((
            SELECT jsonb_agg(jsonb_build_object('function', r.f::text, 'grantee', a.grantee::regrole::text))
              FROM pg_proc p, aclexplode(p.proacl) a
             WHERE p.oid = r.oid AND a.privilege_type = 'EXECUTE' AND a.grantee NOT IN (0, p.proowner)), '[]');
        EXECUTE format('DROP FUNCTION %s', r.f);
    END LOOP;
    PERFORM set_config('commerce_upgrade.shape_grants', v_grants::text, true);
END $$;

CREATE VIEW commerce_api.price_quote AS
SELECT NULL::bigint AS price_fen, NULL::text AS source, NULL::bigint AS price_id WHERE false;
COMMENT ON VIEW commerce_api.price_quote IS
  E'@omit all\nThe price of a SKU on a channel now: in fen, where it came from (flash, member, channel or msrp) and the price row (NULL for the list price).';
CREATE FUNCTION commerce_api.price(sku text, channel text, member_tier text DEFAULT NULL)
RETURNS SETOF commerce_api.price_quote LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.price', '{anonymous,customer,koc,store,operator,finance,service}');
        v_tier text := member_tier;
BEGIN
    IF a.kind = 'customer' THEN
        SELECT cu.member_tier INTO v_tier FROM commerce.customer cu
         WHERE cu.tenant_id = a.tenant_id AND cu.code = a.subject;
        IF member_tier IS NOT NULL AND member_tier IS DISTINCT FROM v_tier THEN
            PERFORM commerce._no_identity('a customer sees the price of its own member tier',
                format('member_tier "%s" was given; the customer''s tier is %s.', left(member_tier, 64),
                       coalesce('"' || v_tier || '"', 'none')),
                'Leave member_tier out: it is taken from the customer.');
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.resolve_price(a.tenant_id, sku, channel, v_tier, NULL);
END $$;
CREATE VIEW commerce_api.reservation AS
SELECT NULL::bigint AS reservation_id, NULL::text AS status, NULL::timestamptz AS expires_at WHERE false;
COMMENT ON VIEW commerce_api.reservation IS
  E'@omit all\nA reservation as a call leaves it: its id, status (active: holding the stock; confirmed: sold; released; expired) and until when it holds.';
CREATE FUNCTION commerce_api.reserve(cart text, request_id text, holder text DEFAULT NULL,
                                     ttl interval DEFAULT NULL, activity text DEFAULT NULL)
RETURNS SETOF commerce_api.reservation LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reserve', '{customer,service}');
        v_holder text := commerce._actor_subject(a, holder, 'holder'); v_big text; v_n bigint;
BEGIN
    IF a.kind = 'customer' THEN
        IF ttl > interval '30 minutes' THEN
            PERFORM commerce._invalid('ttl', format('%s', ttl), 'A customer holds stock for at most 30 minutes.');
        END IF;
        SELECT string_agg(format('%s x %s', l.sku, l.qty), ', ') INTO v_big
          FROM commerce._cart_lines(cart) l WHERE l.qty > 20;
        IF v_big IS NOT NULL THEN
            PERFORM commerce._invalid('cart', left(v_big, 200), 'A customer holds at most 20 units of a SKU.');
        END IF;
        SELECT count(*) INTO v_n FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'
           AND r.request_id IS DISTINCT FROM reserve.request_id;
        IF v_n >= 5 THEN   -- too many at once: retry when the first hold ends (HTTP 429 with Retry-After)
            PERFORM commerce._too_many(format('customer "%s" already holds %s reservations', left(v_holder, 64), v_n),
                'A customer holds at most 5 reservations at once.',
                'Release or buy one first; unpaid holds expire.',
                (SELECT ceil(extract(epoch FROM min(r.expires_at) - commerce.now()))::integer
                   FROM commerce.reservation r
                  WHERE r.tenant_id = a.tenant_id AND r.holder = v_holder AND r.status = 'active'));
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.reserve(a.tenant_id, request_id, v_holder, cart, ttl, activity);
END $$;
CREATE FUNCTION commerce_api.confirm_reservation(reservation_id bigint, request_id text)
RETURNS SETOF commerce_api.reservation LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.confirm_reservation', '{service}') a,
           LATERAL commerce.confirm_reservation(a.tenant_id, reservation_id, request_id) r;
$$;
CREATE FUNCTION commerce_api.release_reservation(reservation_id bigint, request_id text)
RETURNS SETOF commerce_api.reservation LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.release_reservation', '{customer,service}');
BEGIN
    PERFORM commerce._api_own_reservation(a, reservation_id);
    RETURN QUERY SELECT * FROM commerce.release_reservation(a.tenant_id, reservation_id, request_id);
END $$;
CREATE FUNCTION commerce_api.extend_reservation(reservation_id bigint, request_id text, by interval)
RETURNS SETOF commerce_api.reservation LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.extend_reservation', '{customer,service}');
        v_until timestamptz;
BEGIN
    PERFORM commerce._api_own_reservation(a, reservation_id);
    IF a.kind = 'customer' THEN
        SELECT r.expires_at + $3 INTO v_until FROM commerce.reservation r
         WHERE r.tenant_id = a.tenant_id AND r.reservation_id = extend_reservation.reservation_id;
        IF v_until > commerce.now() + interval '30 minutes' THEN
            PERFORM commerce._invalid('by', format('%s (until %s)', $3, v_until),
                                      'A customer holds stock for at most 30 minutes from now.');
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM commerce.extend_reservation(a.tenant_id, $1, $2, $3);
END $$;
CREATE VIEW commerce_api.stock_available AS
SELECT NULL::text AS warehouse, NULL::text AS activity, NULL::bigint AS available WHERE false;
COMMENT ON VIEW commerce_api.stock_available IS
  E'@omit all\nThe units of a SKU available to order in one open pool: its warehouse and the activity the pool is allocated to (NULL: the shared pool every channel sells from).';
CREATE FUNCTION commerce_api.stock(sku text)
RETURNS SETOF commerce_api.stock_available LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT s.warehouse, s.activity, s.available
      FROM commerce._api_actor('commerce_api.stock', '{anonymous,customer,koc,store,operator,finance,service}') a
      JOIN commerce.stock s ON s.tenant_id = a.tenant_id
     WHERE s.sku = $1 AND s.status = 'open'
     ORDER BY s.warehouse, s.activity NULLS FIRST;
$$;
CREATE VIEW commerce_api.order_receiver AS
SELECT NULL::text AS receiver_name, NULL::text AS receiver_phone, NULL::text AS receiver_region,
       NULL::text AS receiver_city, NULL::text AS receiver_address, NULL::boolean AS masked
 WHERE false;
COMMENT ON VIEW commerce_api.order_receiver IS
  E'@omit all\nThe receiver of an order: name, phone, region, city and address, masked (138****1234) unless the caller may see personal data (masked says which).';
CREATE FUNCTION commerce_api.order_contact(order_id bigint)
RETURNS SETOF commerce_api.order_receiver
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.order_contact', '{customer,operator,service}');
        o commerce.orders_row := commerce._api_order(a, order_contact.order_id);   -- its own, its channels (PT404, 42501)
BEGIN
    RETURN QUERY SELECT * FROM commerce.order_contact(a.tenant_id, o.order_id);
END $$;
CREATE VIEW commerce_api.order_outcome AS
SELECT NULL::bigint AS order_id, NULL::text AS status, NULL::bigint AS payable_fen, NULL::timestamptz AS pay_deadline,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.order_outcome IS
  E'@omit all\nThe outcome of a call that places, pays or ingests an order: the order, its status (pending_payment, paid, ...), the payable amount in fen, the pay deadline of an unpaid order, and what the call did (placed, existing (a repeat), paid, already_paid, exception, created, updated, ...). The whole order is read with orders.';
CREATE FUNCTION commerce_api.record_payment(order_id bigint, payment_id text, amount_fen bigint)
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_payment', '{service}') a,
           LATERAL commerce.pay_order(a.tenant_id, order_id, payment_id, amount_fen) r;
$$;
CREATE FUNCTION commerce_api.ingest_platform_order(channel text, payload jsonb)
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.ingest_platform_order', '{service}') a,
           LATERAL commerce.ingest_platform_order(a.tenant_id, channel, payload) r;
$$;
CREATE VIEW commerce_api.order_export AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::text AS external_order_id, NULL::text AS status,
       NULL::bigint AS payable_fen, NULL::timestamptz AS created_at, NULL::text AS receiver_region,
       NULL::text AS receiver_city, NULL::bytea AS receiver_name, NULL::bytea AS receiver_phone,
       NULL::bytea AS receiver_address
 WHERE false;
COMMENT ON VIEW commerce_api.order_export IS
  E'@omit all\nAn order as exported: id, channel, the platform''s order number, status, payable fen, when it was placed, the receiver''s region and city in clear and name, phone and address encrypted (pgcrypto pgp_sym_encrypt, AES-256) under the caller''s key.';
CREATE FUNCTION commerce_api.export_orders(from_date date, to_date date, key text)
RETURNS SETOF commerce_api.order_export
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.export_orders', '{operator,finance,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.export_orders(a.tenant_id, from_date, to_date, key, a.channels);
END $$;
CREATE VIEW commerce_api.click_outcome AS
SELECT NULL::bigint AS click_id, NULL::boolean AS counted, NULL::bigint AS koc_id, NULL::bigint AS task_id WHERE false;
COMMENT ON VIEW commerce_api.click_outcome IS
  E'@omit all\nThe outcome of a click on a tracking link: the click, whether it counted (not a repeat within the dedupe window), the KOC and the task it attributes to.';
CREATE FUNCTION commerce_api.record_click(code text, visitor text, ip inet DEFAULT NULL,
                                          user_agent text DEFAULT NULL)
RETURNS SETOF commerce_api.click_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_click', '{anonymous,customer,service}') a,
           LATERAL commerce.record_click(a.tenant_id, code,
                                         CASE WHEN a.kind = 'customer' THEN commerce._actor_subject(a, visitor, 'visitor')
                                              ELSE visitor END,
                                         commerce._client_ip(a, host(ip))::inet,
                                         commerce._client_header(a, user_agent, 'user-agent')) r;
$$;
CREATE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.request_withdrawal', '{koc,service}');
        w commerce.withdrawal_row;
BEGIN
    w := commerce.request_withdrawal(a.tenant_id, request_withdrawal.request_id,
                                     commerce._actor_subject(a, request_withdrawal.koc, 'koc'),
                                     request_withdrawal.amount_fen, request_withdrawal.method, request_withdrawal.payee);
    -- a statement of its own: its snapshot sees the withdrawal just made
    RETURN QUERY SELECT * FROM commerce._koc_withdrawals(a.tenant_id, NULL, w.withdrawal_id, NULL, NULL, 1);
END $$;
COMMENT ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) IS
  'A KOC asks to withdraw from its own balance (koc NULL or its own code; another is 42501); a service (the KOC workbench''s backend) names the KOC. PT409 when the balance is short. Idempotent by request_id. Returns the withdrawal (koc_withdrawal); HQ finance reviews it (review_withdrawal).';
CREATE VIEW commerce_api.koc_rank_item AS
SELECT NULL::bigint AS rank, NULL::text AS koc, NULL::text AS name, NULL::text AS region, NULL::text AS level,
       NULL::bigint AS clicks, NULL::bigint AS redemptions, NULL::bigint AS gmv_fen, NULL::bigint AS commission_fen
 WHERE false;
COMMENT ON VIEW commerce_api.koc_rank_item IS
  E'@omit all\nA place on the KOC leaderboard (K18): rank, the KOC (code, name, region, level) and its clicks, redemptions, GMV and commission in fen for the period.';
CREATE FUNCTION commerce_api.koc_rank(start_date date, end_date date, region text DEFAULT NULL,
                                      metric text DEFAULT 'gmv', top integer DEFAULT 100)
RETURNS SETOF commerce_api.koc_rank_item
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.koc_rank', '{koc,store,operator,finance,service}') a,
           LATERAL commerce.koc_rank(a.tenant_id, start_date, end_date, region, metric, top) r;
$$;
CREATE VIEW commerce_api.visible_play AS
SELECT NULL::bigint AS tenant_id, NULL::bigint AS config_id, NULL::text AS code, NULL::text AS title, NULL::text AS kind,
       NULL::text AS unit_name, NULL::text AS store, NULL::text AS store_city, NULL::bigint AS price_fen,
       NULL::bigint AS msrp_fen, NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at, NULL::text[] AS cities,
       NULL::text AS status, NULL::bigint AS available, NULL::text AS display_state
 WHERE false;
COMMENT ON VIEW commerce_api.visible_play IS
  E'@omit all\nA play a shopper may see now (M3): code, title, kind, the unit it sells in, store and city, the play price and the list price in fen, its window and cities, status, the units still available and its display state (not_started, active, sold_out, ended).';
CREATE VIEW commerce_api.join_outcome AS
SELECT NULL::bigint AS instance_id, NULL::text AS status, NULL::integer AS current, NULL::integer AS target,
       NULL::timestamptz AS deadline, NULL::bigint AS order_id, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.join_outcome IS
  E'@omit all\nThe outcome of joining a group buy: the group (instance_id), its status and progress (current of target places, deadline), the member''s order and what happened (opened, joined, opened_held, held: the place waits for the order''s payment; succeeded, repeated).';
CREATE VIEW commerce_api.bargain_outcome AS
SELECT NULL::bigint AS instance_id, NULL::text AS status, NULL::integer AS helps, NULL::integer AS helps_needed,
       NULL::bigint AS price_fen, NULL::bigint AS floor_fen, NULL::timestamptz AS deadline, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.bargain_outcome IS
  E'@omit all\nThe outcome of a bargain call: the bargain (instance_id), its status, helps so far and needed, the price reached and its floor in fen, the deadline and what happened (started, cut, succeeded, repeated).';
CREATE VIEW commerce_api.play_invite AS
SELECT NULL::bigint AS tenant_id, NULL::bigint AS invite_id, NULL::bigint AS config_id, NULL::text AS request_id,
       NULL::bigint AS inviter_id, NULL::bigint AS invitee_id, NULL::text AS status, NULL::timestamptz AS invited_at,
       NULL::bigint AS order_id, NULL::timestamptz AS rewarded_at, NULL::bigint AS reward_fen,
       NULL::bigint AS invitee_reward_fen
 WHERE false;
COMMENT ON VIEW commerce_api.play_invite IS
  E'@omit all\nAn invitation of an invite-reward play: inviter and invitee, status (invited, rewarded, ...), the invitee''s first order and when the inviter was rewarded, with both rewards in fen.';
CREATE VIEW commerce_api.play_template AS
SELECT NULL::bigint AS tenant_id, NULL::text AS code, NULL::text AS kind, NULL::text AS name, NULL::text AS unit_name,
       NULL::jsonb AS rule_schema, NULL::timestamptz AS created_at, NULL::timestamptz AS updated_at
 WHERE false;
COMMENT ON VIEW commerce_api.play_template IS
  E'@omit all\nA play template HQ offers its stores (M1.2): code, kind (group_buy, flash_sale, bargain, invite_reward), name, the unit what it sells counts in, and the rule schema stores'' rules follow.';
CREATE FUNCTION commerce_api.visible_plays(city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce_api.visible_play LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT v.* FROM commerce._api_actor('commerce_api.visible_plays', '{anonymous,customer,koc,store,operator,service}') a,
           LATERAL commerce.visible_plays(a.tenant_id, city, store) v;
$$;
CREATE FUNCTION commerce_api.join_group(request_id text, play text, customer text DEFAULT NULL,
                                        payment_id text DEFAULT NULL, instance bigint DEFAULT NULL,
                                        ip text DEFAULT NULL, device text DEFAULT NULL,
                                        channel text DEFAULT 'wechat_mp')
RETURNS SETOF commerce_api.join_outcome LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.join_group', '{customer,service}');
BEGIN
    IF a.kind = 'customer' AND join_group.payment_id IS NOT NULL THEN
        PERFORM commerce._no_identity('a customer never names a payment',
            format('payment_id "%s" was given.', left(join_group.payment_id, 64)),
            'Leave payment_id out: the place is held and the order paid through pay_intent; the provider''s callback (record_payment) completes it.');
    END IF;
    RETURN QUERY SELECT * FROM commerce.join_group(a.tenant_id, join_group.request_id, join_group.play,
                               commerce._actor_subject(a, join_group.customer, 'customer'), join_group.payment_id,
                               join_group.instance, join_group.channel, commerce._client_ip(a, join_group.ip),
                               commerce._client_header(a, join_group.device, 'x-device-id'));
END $$;
CREATE FUNCTION commerce_api.buy_play(request_id text, play text, customer text DEFAULT NULL, qty integer DEFAULT 1,
                                      ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL,
                                      channel text DEFAULT 'wechat_mp')
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_play', '{customer,service}') a,
           LATERAL commerce.buy_play(a.tenant_id, request_id, play, commerce._actor_subject(a, customer, 'customer'),
                                     qty, channel, commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
CREATE FUNCTION commerce_api.start_bargain(request_id text, play text, customer text DEFAULT NULL,
                                           ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS SETOF commerce_api.bargain_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.start_bargain', '{customer,service}') a,
           LATERAL commerce.start_bargain(a.tenant_id, request_id, play,
                                          commerce._actor_subject(a, customer, 'customer'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
CREATE FUNCTION commerce_api.help_bargain(request_id text, bargain bigint, helper text DEFAULT NULL,
                                          ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS SETOF commerce_api.bargain_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.help_bargain', '{customer,service}') a,
           LATERAL commerce.help_bargain(a.tenant_id, request_id, bargain,
                                         commerce._actor_subject(a, helper, 'helper'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
CREATE FUNCTION commerce_api.buy_bargain(request_id text, bargain bigint, customer text DEFAULT NULL,
                                         ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL,
                                         channel text DEFAULT 'wechat_mp')
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_bargain', '{customer,service}') a,
           LATERAL commerce.buy_bargain(a.tenant_id, request_id, bargain,
                                        commerce._actor_subject(a, customer, 'customer'), channel,
                                        commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
CREATE FUNCTION commerce_api.invite(request_id text, play text, inviter text, invitee text, ip text DEFAULT NULL,
                                    device text DEFAULT NULL)
RETURNS SETOF commerce_api.play_invite LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.invite', '{customer,service}') a,
           LATERAL commerce.invite(a.tenant_id, request_id, play, commerce._actor_subject(a, inviter, 'inviter'),
                                   invitee, commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
CREATE FUNCTION commerce_api.consume_asset(request_id text, asset bigint, amount bigint, store text, operator text)
RETURNS SETOF commerce_api.customer_asset LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.consume_asset', '{store,operator,service}');
        u commerce.user_asset_row;
BEGIN
    PERFORM commerce._actor_scope(a, store, NULL);
    u := commerce.consume_asset(a.tenant_id, request_id, asset, amount, store,
                                commerce._actor_subject(a, operator, 'operator'));
    RETURN QUERY SELECT * FROM commerce._customer_assets(a.tenant_id, NULL, u.asset_id, NULL, 1);
END $$;
COMMENT ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) IS
  'Consume units of a customer''s asset (a lesson, a visit) at a store: store staff at their own stores, with themselves as the operator (42501 otherwise); HQ operators anywhere as themselves; a service names the operator. Idempotent by request_id. Returns the asset (customer_asset).';
CREATE FUNCTION commerce._play_settlements(p_tenant bigint, p_settlement bigint, p_status text, p_stores text[],
                                           p_before bigint, p_page integer)
RETURNS SETOF commerce_api.play_settlement LANGUAGE sql STABLE AS $$
    SELECT x.settlement_id, c.code, st.code, x.status, x.orders, x.income_fen, x.store_share_bp, x.store_fen,
           commerce.yuan(x.store_fen), x.hq_fen, x.applied_at, x.decided_at, x.decided_by, x.reason, x.paid_at
      FROM commerce.play_settlement x
      JOIN commerce.play_config c ON c.tenant_id = x.tenant_id AND c.config_id = x.config_id
      JOIN commerce.store st ON st.tenant_id = x.tenant_id AND st.store_id = x.store_id
     WHERE x.tenant_id = p_tenant AND (p_settlement IS NULL OR x.settlement_id = p_settlement)
       AND (p_stores IS NULL OR st.code = ANY (p_stores)) AND (p_status IS NULL OR x.status = p_status)
       AND (p_before IS NULL OR x.settlement_id < p_before)
     ORDER BY x.settlement_id DESC
     LIMIT p_page;
$$;
CREATE FUNCTION commerce_api.apply_play_settlement(request_id text, play text)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_play_settlement', '{store,operator,service}');
        x commerce.play_settlement_row;
BEGIN
    PERFORM commerce._api_play_scope(a, play);
    x := commerce.apply_play_settlement(a.tenant_id, request_id, play);
    RETURN QUERY SELECT * FROM commerce._play_settlements(a.tenant_id, x.settlement_id, NULL, NULL, NULL, 1);
END $$;
CREATE FUNCTION commerce_api.decide_play_settlement(settlement bigint, approve boolean, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.decide_play_settlement', '{finance}');
        x commerce.play_settlement_row;
BEGIN
    x := commerce.decide_play_settlement(a.tenant_id, settlement, approve, a.subject, left(reason, 500));
    RETURN QUERY SELECT * FROM commerce._play_settlements(a.tenant_id, x.settlement_id, NULL, NULL, NULL, 1);
END $$;
CREATE OR REPLACE FUNCTION commerce_api.play_settlements(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                              page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.play_settlements', '{store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(play_settlements.page_size);
    RETURN QUERY SELECT * FROM commerce._play_settlements(a.tenant_id, NULL, play_settlements.status, a.stores,
                                                           play_settlements.before_id, play_settlements.page_size);
END $$;
CREATE FUNCTION commerce_api.upsert_play_template(code text, kind text, name text, unit_name text, rule_schema jsonb)
RETURNS SETOF commerce_api.play_template LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_play_template', '{operator,service}');
BEGIN
    PERFORM commerce._require(upsert_play_template.rule_schema, 'rule_schema');
    RETURN QUERY SELECT * FROM commerce.upsert_play_template(a.tenant_id, upsert_play_template.code, upsert_play_template.kind,
                                         left(upsert_play_template.name, 200), left(upsert_play_template.unit_name, 32),
                                         upsert_play_template.rule_schema::text);
END $$;

-- their privileges and comments
REVOKE ALL ON FUNCTION commerce_api.price(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.price(text, text, text) IS
  'The price of a SKU on a channel now (channel, member and flash prices resolved). Open to every caller; a signed-in customer gets its own member tier''s price (member_tier left out or its own); other callers may show any tier''s price (what an order pays is resolved from the customer when it is placed).';
REVOKE ALL ON FUNCTION commerce_api.reserve(text, text, text, interval, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reserve(text, text, text, interval, text) IS
  'Hold the stock of a cart ({"lines":[{"sku":"A1","qty":2}]}) all or nothing. A customer holds it for itself (holder is its own code), for at most 30 minutes (22023), at most 20 units a line (22023) and 5 active reservations (PT429); a service names the holder. Idempotent by request_id; PT409 when stock is short.';
REVOKE ALL ON FUNCTION commerce_api.confirm_reservation(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.confirm_reservation(bigint, text) IS
  'Confirm (sell) a reservation: the payment service''s call once a payment has succeeded. Idempotent by request_id; PT410 when it expired, PT409 when it ended otherwise.';
REVOKE ALL ON FUNCTION commerce_api.release_reservation(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.release_reservation(bigint, text) IS
  'Give a reservation''s stock back. A customer releases its own reservations only (another''s is PT404); a service any. Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.extend_reservation(bigint, text, interval) IS
  'Extend an active reservation by an interval. A customer extends its own only (another''s is PT404), to at most 30 minutes from now (22023); a service any. Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.stock(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.stock(text) IS
  'The available units of a SKU per warehouse and activity pool (open pools only). Open to every caller.';
REVOKE ALL ON FUNCTION commerce_api.order_contact(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.order_contact(bigint) IS
  'The receiver of an order, masked (138****1234) unless the caller may see personal data. A customer reads its own orders only (another''s is PT404); an operator those of its channels (42501 otherwise); a service any. An unmasked read is audited (POST /rpc/order_contact).';
REVOKE ALL ON FUNCTION commerce_api.record_payment(bigint, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_payment(bigint, text, bigint) IS
  'The payment provider''s callback (service only): an order was paid with payment_id for amount_fen. Marks it paid and sells its reservation; a payment that does not match (amount, a cancelled order) becomes a payment exception for refund. Idempotent by payment_id.';
REVOKE ALL ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ingest_platform_order(text, jsonb) IS
  'The platform adapter''s call (service only): an order of a platform (Taobao, Douyin, ...) as the platform sent it; created or updated once per platform order and modification time.';
REVOKE ALL ON FUNCTION commerce_api.export_orders(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.export_orders(date, date, text) IS
  'POST /rpc/export_orders: the orders of a period with the receiver''s name, phone and address encrypted (AES-256, pgcrypto) under the key the caller supplies; an operator gets the orders of its channels only. Open to operators, finance and services; audited.';
REVOKE ALL ON FUNCTION commerce_api.record_click(text, text, inet, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_click(text, text, inet, text) IS
  'Record a click on a KOC''s tracking link (the signed code) by a visitor: an anonymous visitor by its cookie id, a signed-in customer as itself, the link redirector (service) for anyone. Counted once per visitor and window.';
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) IS
  'A KOC asks to withdraw from its own balance (koc NULL or its own code; another is 42501); a service (the KOC workbench''s backend) names the KOC. PT409 when the balance is short. Idempotent by request_id. Returns the withdrawal (koc_withdrawal); HQ finance reviews it (review_withdrawal).';
REVOKE ALL ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) IS
  'GET /rpc/koc_rank?start_date=&end_date=&top= (PostgREST): the KOC leaderboard of a period by gmv, redemptions or commission (metric), optionally for one region, the first top KOCs (default 100). Open to KOCs, staff and services.';
REVOKE ALL ON FUNCTION commerce_api.visible_plays(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.visible_plays(text, text) IS
  'The plays running now that a shopper may see, optionally of one city or store. Open to every caller but finance.';
REVOKE ALL ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text, text) IS
  'Open a group buy (instance left out: the customer leads it) or join one (instance): a customer as itself, holding its place with an order awaiting payment (outcome opened_held or held; pay it with pay_intent, the provider''s record_payment callback makes it joined, and the group succeeds when every place is paid; unpaid by the pay deadline, at the latest the group''s, the place is given back). A service names the customer and may pass payment_id for a place paid at once. channel: the self-operated channel ordered on (default wechat_mp). Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb, text) IS
  'Buy a flash-sale (or other priced) play: a customer for itself, on a self-operated channel (default wechat_mp); creates the order awaiting payment (pay it with pay_intent; commerce_api.record_payment is the provider''s callback). Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) IS
  'Start a bargain on a play: a customer for itself. Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) IS
  'Cut the price of another customer''s bargain: the helper is the calling customer. Once per helper and bargain; idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb, text) IS
  'Buy one''s own bargain at the price reached: a customer for itself, on a self-operated channel (default wechat_mp); creates the order awaiting payment (pay it with pay_intent). Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.invite(text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.invite(text, text, text, text, text, text) IS
  'Record that the inviter (the calling customer) invited a new customer to a play; rewarded once when the invitee pays. Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) IS
  'Consume units of a customer''s asset (a lesson, a visit) at a store: store staff at their own stores, with themselves as the operator (42501 otherwise); HQ operators anywhere as themselves; a service names the operator. Idempotent by request_id. Returns the asset (customer_asset).';
REVOKE ALL ON FUNCTION commerce_api.apply_play_settlement(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_play_settlement(text, text) IS
  'A store applies for the settlement of an ended play: store staff for their own stores'' plays (42501 otherwise), operators and services any. Idempotent by request_id.';
REVOKE ALL ON FUNCTION commerce_api.decide_play_settlement(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.decide_play_settlement(bigint, boolean, text) IS
  'HQ finance approves (the store''s share is paid out through the outbox, store.settlement_payout) or rejects (reason required) a store''s settlement of an ended play; the decision is recorded under the finance member''s name. Finance only.';
REVOKE ALL ON FUNCTION commerce_api.upsert_play_template(text, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_play_template(text, text, text, text, jsonb) IS
  'HQ creates or changes a play template (M2.1): code, kind (group_buy, flash_sale, bargain, invite_reward; never changed later), name, the unit its assets count in (lessons, hours) and the rule schema (the JSON Schema subset of docs/plays.md; 22023 naming the bad keyword; a new schema must accept the rules of every play built on it, PT409 otherwise). HQ operators and services.';

-- the kept grants, on the same signatures
DO $$
DECLARE g jsonb;
BEGIN
    FOR g IN SELECT * FROM jsonb_array_elements(current_setting('commerce_upgrade.shape_grants')::jsonb) LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', g->>'function', g->>'grantee');
    END LOOP;
END $$;


-- the T+0.5 settlement batches for KOCs and finance (issue 12)
CREATE VIEW commerce_api.settle_batch AS
SELECT NULL::bigint AS batch_id, NULL::text AS koc, NULL::integer AS line_count, NULL::bigint AS amount_fen,
       NULL::text AS amount_yuan, NULL::text AS status, NULL::text AS provider_ref, NULL::text AS failure_reason,
       NULL::timestamptz AS created_at, NULL::timestamptz AS finished_at
 WHERE false;
COMMENT ON VIEW commerce_api.settle_batch IS
  E'@omit all\nA T+0.5 settlement batch of a KOC''s commission lines (K14): how many lines and their net amount in fen (amount_yuan the exact string), status (paying: the payout is out; paid; failed: back in the balance; netted: nothing to pay), the provider''s reference or the failure''s reason, when it was made and finished.';
CREATE FUNCTION commerce_api.settle_batches(status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                            page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.settle_batch LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.settle_batches', '{koc,finance,service}');
        v_koc text := settle_batches.koc;
BEGIN
    PERFORM commerce._api_page(settle_batches.page_size);
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, settle_batches.koc, 'koc');
    END IF;
    RETURN QUERY
    SELECT b.batch_id, k.code, b.line_count, b.amount_fen, commerce.yuan(b.amount_fen), b.status, b.provider_ref,
           b.failure_reason, b.created_at, b.finished_at
      FROM commerce.settle_batch b JOIN commerce.koc k ON k.tenant_id = b.tenant_id AND k.koc_id = b.koc_id
     WHERE b.tenant_id = a.tenant_id AND (v_koc IS NULL OR k.code = v_koc)
       AND (settle_batches.status IS NULL OR b.status = settle_batches.status)
       AND (settle_batches.before_id IS NULL OR b.batch_id < settle_batches.before_id)
     ORDER BY b.batch_id DESC
     LIMIT settle_batches.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.settle_batches(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.settle_batches(text, text, bigint, integer) IS
  'T+0.5 settlement batches newest first (settle_batch), optionally of one status or KOC: a KOC its own; finance and services any. Paged by cursor: before_id is the last batch_id of the previous page, page_size 1 to 100 (default 20).';


-- Hasura's variants of the remaining reads (issue 12)
CREATE FUNCTION commerce_hasura.price(hasura_session json, sku text, channel text, member_tier text DEFAULT NULL)
RETURNS SETOF commerce_api.price_quote LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.price(price.sku, price.channel, price.member_tier);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.price(json, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.price(json, text, text, text) IS
  'Hasura: commerce_api.price for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.stock(hasura_session json, sku text)
RETURNS SETOF commerce_api.stock_available LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.stock(stock.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.stock(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.stock(json, text) IS
  'Hasura: commerce_api.stock for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.stock_levels(hasura_session json, sku text DEFAULT NULL)
RETURNS SETOF commerce_api.stock_level LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.stock_levels(stock_levels.sku);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.stock_levels(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.stock_levels(json, text) IS
  'Hasura: commerce_api.stock_levels for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_rank(hasura_session json, start_date date, end_date date, region text DEFAULT NULL, metric text DEFAULT 'gmv', top integer DEFAULT 100)
RETURNS SETOF commerce_api.koc_rank_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_rank(koc_rank.start_date, koc_rank.end_date, koc_rank.region, koc_rank.metric, koc_rank.top);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_rank(json, date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_rank(json, date, date, text, text, integer) IS
  'Hasura: commerce_api.koc_rank for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_applications(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_applications(koc_applications.status, koc_applications.before_id, koc_applications.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_applications(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_applications(json, text, bigint, integer) IS
  'Hasura: commerce_api.koc_applications for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_agreement(hasura_session json)
RETURNS SETOF commerce_api.koc_agreement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_agreement();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_agreement(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_agreement(json) IS
  'Hasura: commerce_api.koc_agreement for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_tasks(hasura_session json)
RETURNS SETOF commerce_api.koc_task LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_tasks();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_tasks(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_tasks(json) IS
  'Hasura: commerce_api.koc_tasks for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_task_progress(hasura_session json, task text, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_task_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_task_progress(koc_task_progress.task, koc_task_progress.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_task_progress(json, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_task_progress(json, text, text) IS
  'Hasura: commerce_api.koc_task_progress for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.withdrawals(hasura_session json, status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.withdrawals(withdrawals.status, withdrawals.koc, withdrawals.before_id, withdrawals.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.withdrawals(json, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.withdrawals(json, text, text, bigint, integer) IS
  'Hasura: commerce_api.withdrawals for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.risk_flags(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.risk_flags(risk_flags.status, risk_flags.before_id, risk_flags.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.risk_flags(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.risk_flags(json, text, bigint, integer) IS
  'Hasura: commerce_api.risk_flags for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.koc_list(hasura_session json, start_date date, end_date date, level text DEFAULT NULL, region text DEFAULT NULL, status text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_list_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_list(koc_list.start_date, koc_list.end_date, koc_list.level, koc_list.region, koc_list.status);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_list(json, date, date, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_list(json, date, date, text, text, text) IS
  'Hasura: commerce_api.koc_list for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.settle_batches(hasura_session json, status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.settle_batch LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.settle_batches(settle_batches.status, settle_batches.koc, settle_batches.before_id, settle_batches.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.settle_batches(json, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.settle_batches(json, text, text, bigint, integer) IS
  'Hasura: commerce_api.settle_batches for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.visible_plays(hasura_session json, city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce_api.visible_play LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.visible_plays(visible_plays.city, visible_plays.store);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.visible_plays(json, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.visible_plays(json, text, text) IS
  'Hasura: commerce_api.visible_plays for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.store_orders(hasura_session json, status commerce.order_status DEFAULT NULL, play text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.store_orders(store_orders.status, store_orders.play, store_orders.before_id, store_orders.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.store_orders(json, commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.store_orders(json, commerce.order_status, text, bigint, integer) IS
  'Hasura: commerce_api.store_orders for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.store_plays(hasura_session json, status text DEFAULT NULL)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.store_plays(store_plays.status);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.store_plays(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.store_plays(json, text) IS
  'Hasura: commerce_api.store_plays for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.after_sales(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.after_sales(after_sales.status, after_sales.before_id, after_sales.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.after_sales(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.after_sales(json, text, bigint, integer) IS
  'Hasura: commerce_api.after_sales for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.play_settlements(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.play_settlements(play_settlements.status, play_settlements.before_id, play_settlements.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.play_settlements(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.play_settlements(json, text, bigint, integer) IS
  'Hasura: commerce_api.play_settlements for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';


-- ===========================================================================
-- members, part 1 (issue 13): points: rules, accounts, lots, the ledger and
-- spends (provisioned tables, released from the extension like the others),
-- earning on payment, reversal on refund, the pump, the API
-- ===========================================================================
-- sql/src/members/tables.sql: points (seed 003 3.6.3, PR10, K17): earn rules
-- per channel, an account per customer, lots (each earned once per source
-- event, pending until the return window ends, then available until they
-- expire), the append-only ledger of every movement, and spends.

CREATE TABLE commerce.points_rule (
    tenant_id       bigint NOT NULL REFERENCES commerce.tenant,
    channel_id      bigint NOT NULL,
    earn_on         text NOT NULL DEFAULT 'paid' CHECK (earn_on IN ('paid', 'completed')),
    points_per_yuan integer NOT NULL DEFAULT 1 CHECK (points_per_yuan BETWEEN 0 AND 1000),
    pending_days    integer NOT NULL DEFAULT 7 CHECK (pending_days BETWEEN 0 AND 365),
    expire_days     integer NOT NULL DEFAULT 365 CHECK (expire_days BETWEEN 1 AND 3650),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES commerce.channel
);
COMMENT ON TABLE commerce.points_rule IS
  'How purchases earn points on a channel (PR10): points per yuan paid (1 = 1 yuan, 1 point), earned when the order is paid or completed, pending for pending_days (the return window) and then available for expire_days. A channel without a rule earns nothing.';

CREATE TABLE commerce.points_account (
    tenant_id   bigint NOT NULL,
    customer_id bigint NOT NULL,
    available   bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    pending     bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    earned      bigint NOT NULL DEFAULT 0 CHECK (earned >= 0),
    spent       bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    expired     bigint NOT NULL DEFAULT 0 CHECK (expired >= 0),
    reversed    bigint NOT NULL DEFAULT 0 CHECK (reversed >= 0),
    unrecovered bigint NOT NULL DEFAULT 0 CHECK (unrecovered >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (available + pending = earned - spent - expired - reversed)
);
COMMENT ON TABLE commerce.points_account IS
  'A customer''s points: available to spend and pending (in a return window), with everything earned, spent, expired and reversed by refunds (available + pending = earned - spent - expired - reversed, a CHECK); unrecovered counts the points a refund should have taken back but the customer had already spent (never taken below zero). The row orders every movement of the customer''s points (locked FOR UPDATE).';

CREATE TABLE commerce.points_lot (
    tenant_id    bigint NOT NULL,
    lot_id       bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id  bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('purchase', 'grant', 'interaction', 'checkin', 'task', 'refund')),
    source_key   text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
    order_id     bigint,
    earn_fen     bigint CHECK (earn_fen > 0),
    points       bigint NOT NULL CHECK (points > 0),
    remaining    bigint NOT NULL,
    reversed     bigint NOT NULL DEFAULT 0,
    status       text NOT NULL CHECK (status IN ('pending', 'available', 'closed')),
    available_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, lot_id),
    UNIQUE (tenant_id, source, source_key),
    CHECK (remaining BETWEEN 0 AND points),
    CHECK (reversed BETWEEN 0 AND points),
    CHECK (available_at < expires_at),
    CHECK ((status = 'closed') = (remaining = 0)),
    CHECK ((source = 'purchase') = (order_id IS NOT NULL AND earn_fen IS NOT NULL))
);
COMMENT ON TABLE commerce.points_lot IS
  'Points earned at once from one source event (a purchase: its order; a grant, a check-in, a task: its key; a refund: the points-mall redemption reversed), exactly once (unique per source and key): pending until available_at (the return window), then available until expires_at; spent earliest expiry first. remaining is what is left of it, reversed what refunds of its order took back (from it or, when it was spent, from other lots); earn_fen the amount a purchase earned it on; a lot with nothing left is closed.';

CREATE INDEX points_lot_spendable ON commerce.points_lot (tenant_id, customer_id, expires_at, lot_id)
    WHERE status = 'available';
CREATE INDEX points_lot_due ON commerce.points_lot (available_at) WHERE status = 'pending';
CREATE INDEX points_lot_expiring ON commerce.points_lot (expires_at) WHERE status = 'available';

CREATE TABLE commerce.points_ledger (
    tenant_id       bigint NOT NULL,
    entry_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id     bigint NOT NULL,
    lot_id          bigint,
    kind            text NOT NULL CHECK (kind IN ('earn', 'release', 'spend', 'expire', 'reverse', 'unrecovered')),
    delta_available bigint NOT NULL,
    delta_pending   bigint NOT NULL,
    request_id      text,
    reason          text,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, entry_id)
);
COMMENT ON TABLE commerce.points_ledger IS
  'Every movement of points (append-only): earned (pending or available), released from pending, spent, expired, reversed by a refund, or recorded as unrecovered (spent before the refund; no delta). Per customer the deltas add up to the account''s available and pending (check_points_invariants).';

CREATE INDEX points_ledger_customer ON commerce.points_ledger (tenant_id, customer_id, entry_id);

SELECT commerce._declare_append_only('commerce.points_ledger');

CREATE TABLE commerce.points_spend (
    tenant_id   bigint NOT NULL,
    spend_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    customer_id bigint NOT NULL,
    points      bigint NOT NULL CHECK (points > 0),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, spend_id),
    UNIQUE (tenant_id, request_id)
);
COMMENT ON TABLE commerce.points_spend IS
  'A spend of points (a points-mall redemption, a manual deduction): once per request_id; the lots it took from are in the ledger under the same request_id.';

-- the new tables leave the extension, as every table of commerce did above
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce') AND d.deptype = 'e'
           AND c.relkind IN ('r', 'p', 'S') AND c.relnamespace = 'commerce'::regnamespace
         ORDER BY c.relkind DESC, 1
    LOOP
        EXECUTE format('ALTER EXTENSION commerce DROP %s %s', r.kind, r.rel);
    END LOOP;
END $$;
SELECT commerce._isolate_tenants();

CREATE TYPE commerce.points_account_row AS (
    tenant_id bigint, customer_id bigint, available bigint, pending bigint, earned bigint, spent bigint,
    expired bigint, reversed bigint, unrecovered bigint, updated_at timestamp with time zone
);
COMMENT ON TYPE commerce.points_account_row IS 'A row of commerce.points_account (same columns, same order), as functions take and return it.';
CREATE FUNCTION commerce.set_points_rule(p_tenant bigint, p_channel text, p_points_per_yuan integer DEFAULT 1,
                                         p_earn_on text DEFAULT 'paid', p_pending_days integer DEFAULT 7,
                                         p_expire_days integer DEFAULT 365)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_channel bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_points_per_yuan, 'p_points_per_yuan');
    PERFORM commerce._require(p_earn_on, 'p_earn_on');
    PERFORM commerce._require(p_pending_days, 'p_pending_days');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    SELECT channel_id INTO v_channel FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF p_points_per_yuan NOT BETWEEN 0 AND 1000 THEN
        PERFORM commerce._invalid('p_points_per_yuan', format('%s', p_points_per_yuan), 'Earn 0 to 1000 points per yuan.');
    END IF;
    IF p_earn_on NOT IN ('paid', 'completed') THEN
        PERFORM commerce._invalid('p_earn_on', format('"%s"', left(p_earn_on, 64)), 'Points are earned when the order is paid or completed.');
    END IF;
    IF p_pending_days NOT BETWEEN 0 AND 365 THEN
        PERFORM commerce._invalid('p_pending_days', format('%s days', p_pending_days), 'The return window is 0 to 365 days.');
    END IF;
    IF p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('%s days', p_expire_days), 'Points last 1 to 3650 days.');
    END IF;
    INSERT INTO commerce.points_rule AS r (tenant_id, channel_id, earn_on, points_per_yuan, pending_days, expire_days)
    VALUES (p_tenant, v_channel, p_earn_on, p_points_per_yuan, p_pending_days, p_expire_days)
    ON CONFLICT (tenant_id, channel_id) DO UPDATE
       SET earn_on = EXCLUDED.earn_on, points_per_yuan = EXCLUDED.points_per_yuan,
           pending_days = EXCLUDED.pending_days, expire_days = EXCLUDED.expire_days, updated_at = now();
END $$;
COMMENT ON FUNCTION commerce.set_points_rule(bigint, text, integer, text, integer, integer) IS
  'How purchases on a channel earn points (PR10): p_points_per_yuan points per yuan paid (0 to 1000; floor), when the order is paid or completed (p_earn_on), pending for p_pending_days (the return window, 0 to 365) and available for p_expire_days after that (1 to 3650).';
CREATE FUNCTION commerce._lock_points_account(p_tenant bigint, p_customer bigint)
RETURNS commerce.points_account_row LANGUAGE plpgsql AS $$
DECLARE a commerce.points_account_row;
BEGIN
    INSERT INTO commerce.points_account (tenant_id, customer_id) VALUES (p_tenant, p_customer) ON CONFLICT DO NOTHING;
    SELECT * INTO a FROM commerce.points_account WHERE tenant_id = p_tenant AND customer_id = p_customer FOR UPDATE;
    RETURN a;
END $$;
CREATE FUNCTION commerce._earn_points(p_tenant bigint, p_customer bigint, p_source text, p_source_key text,
                                      p_points bigint, p_pending interval, p_lasts interval, p_order bigint,
                                      p_earn_fen bigint, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_now timestamptz := commerce.now(); v_lot bigint; v_pending boolean := p_pending > interval '0';
BEGIN
    PERFORM commerce._lock_points_account(p_tenant, p_customer);
    INSERT INTO commerce.points_lot (tenant_id, customer_id, source, source_key, order_id, earn_fen, points, remaining,
                                     status, available_at, expires_at, created_at)
    VALUES (p_tenant, p_customer, p_source, p_source_key, p_order, p_earn_fen, p_points, p_points,
            CASE WHEN v_pending THEN 'pending' ELSE 'available' END, v_now + p_pending, v_now + p_pending + p_lasts, v_now)
    ON CONFLICT (tenant_id, source, source_key) DO NOTHING
    RETURNING lot_id INTO v_lot;
    IF v_lot IS NULL THEN   -- earned before: once per source event
        SELECT lot_id INTO v_lot FROM commerce.points_lot
         WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
        RETURN v_lot;
    END IF;
    UPDATE commerce.points_account
       SET earned = earned + p_points,
           pending = pending + CASE WHEN v_pending THEN p_points ELSE 0 END,
           available = available + CASE WHEN v_pending THEN 0 ELSE p_points END, updated_at = v_now
     WHERE tenant_id = p_tenant AND customer_id = p_customer;
    INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, reason, created_at)
    VALUES (p_tenant, p_customer, v_lot, 'earn', CASE WHEN v_pending THEN 0 ELSE p_points END,
            CASE WHEN v_pending THEN p_points ELSE 0 END, p_reason, v_now);
    RETURN v_lot;
END $$;
CREATE FUNCTION commerce.earn_points(p_tenant bigint, p_source text, p_source_key text, p_customer text,
                                     p_points bigint, p_reason text, p_pending_days integer DEFAULT 0,
                                     p_expire_days integer DEFAULT 365)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_customer bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_reason, 'p_reason');
    PERFORM commerce._require(p_pending_days, 'p_pending_days');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    IF p_source NOT IN ('grant', 'interaction', 'checkin', 'task') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
            'Grant points for a grant, interaction, checkin or task; purchases earn by their channel''s rule.');
    END IF;
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'Grant 1 to 100000000 points at a time.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_reason', format('%s characters', length(p_reason)), 'Give a reason of 1 to 200 characters.');
    END IF;
    IF p_pending_days NOT BETWEEN 0 AND 365 OR p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('pending %s days, lasting %s days', p_pending_days, p_expire_days),
                                  'Pending 0 to 365 days; lasting 1 to 3650 days.');
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    RETURN commerce._earn_points(p_tenant, v_customer, p_source, p_source_key, p_points,
                                 make_interval(days => p_pending_days), make_interval(days => p_expire_days),
                                 NULL, NULL, p_reason);
END $$;
COMMENT ON FUNCTION commerce.earn_points(bigint, text, text, text, bigint, text, integer, integer) IS
  'Grant a customer points once per source event (K17, PR10): a grant, interaction, checkin or task with its key (a second call with the same source and key returns the first lot and grants nothing), pending for p_pending_days, then available for p_expire_days. Returns the lot.';
CREATE FUNCTION commerce.spend_points(p_tenant bigint, p_request_id text, p_customer text, p_points bigint,
                                      p_reason text)
RETURNS commerce.points_account_row LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; a commerce.points_account_row; s commerce.points_spend%ROWTYPE;
        v_now timestamptz := commerce.now(); v_spendable bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_reason, 'p_reason');
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'Spend 1 to 100000000 points at a time.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_reason', format('%s characters', length(p_reason)), 'Give a reason of 1 to 200 characters.');
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    a := commerce._lock_points_account(p_tenant, v_customer);
    -- a repeat returns the account; the same request_id for another spend is refused
    SELECT * INTO s FROM commerce.points_spend WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF s.customer_id <> v_customer OR s.points <> p_points THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for a different spend', left(p_request_id, 64)),
                DETAIL  = format('First: %s points of customer %s; now: %s points of "%s".', s.points, s.customer_id, p_points,
                                 left(p_customer, 64)),
                HINT    = 'Use a new request_id for a new spend.';
        END IF;
        RETURN a;
    END IF;
    -- what can be spent now: available lots not past their expiry (the pump may not have run yet)
    SELECT coalesce(sum(remaining), 0) INTO v_spendable FROM commerce.points_lot
     WHERE tenant_id = p_tenant AND customer_id = v_customer AND status = 'available' AND expires_at > v_now;
    IF v_spendable < p_points THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has %s points to spend, not %s', left(p_customer, 64), v_spendable, p_points),
            DETAIL  = format('Available %s, pending %s (in the return window).', v_spendable, a.pending),
            HINT    = 'Spend at most the available points; pending points become available after the return window.';
    END IF;
    INSERT INTO commerce.points_spend (tenant_id, request_id, customer_id, points, reason, created_at)
    VALUES (p_tenant, p_request_id, v_customer, p_points, p_reason, v_now);
    IF commerce._take_points(p_tenant, v_customer, p_points, 'spend', p_request_id, p_reason) <> p_points THEN
        RAISE EXCEPTION 'commerce.spend_points: the lots of customer % did not hold the % points counted', v_customer, p_points;
    END IF;
    UPDATE commerce.points_account SET available = available - p_points, spent = spent + p_points, updated_at = v_now
     WHERE tenant_id = p_tenant AND customer_id = v_customer RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION commerce.spend_points(bigint, text, text, bigint, text) IS
  'Spend a customer''s points (a points-mall redemption, a deduction) under its account lock, earliest expiry first, never more than it has (PT409, nothing spent; pending and expired points do not count). Once per request_id: a repeat returns the account, the same request_id for another spend is 23505. Returns the account.';
CREATE FUNCTION commerce._take_points(p_tenant bigint, p_customer bigint, p_points bigint, p_kind text,
                                      p_request text, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE l record; v_left bigint := p_points; v_take bigint; v_now timestamptz := commerce.now();
BEGIN
    FOR l IN SELECT lot_id, remaining FROM commerce.points_lot
              WHERE tenant_id = p_tenant AND customer_id = p_customer AND status = 'available' AND expires_at > v_now
              ORDER BY expires_at, lot_id FOR UPDATE LOOP
        EXIT WHEN v_left = 0;
        v_take := least(l.remaining, v_left);
        UPDATE commerce.points_lot
           SET remaining = remaining - v_take, status = CASE WHEN remaining = v_take THEN 'closed' ELSE status END
         WHERE tenant_id = p_tenant AND lot_id = l.lot_id;
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending,
                                            request_id, reason, created_at)
        VALUES (p_tenant, p_customer, l.lot_id, p_kind, -v_take, 0, p_request, p_reason, v_now);
        v_left := v_left - v_take;
    END LOOP;
    RETURN p_points - v_left;
END $$;
CREATE FUNCTION commerce._reverse_purchase_points(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE l commerce.points_lot%ROWTYPE; v_target bigint; v_delta bigint; v_from_lot bigint; v_other bigint := 0;
        v_short bigint; v_now timestamptz := commerce.now(); v_refunded bigint; v_key text := o.order_id::text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM commerce.points_lot WHERE tenant_id = o.tenant_id AND source = 'purchase' AND source_key = v_key) THEN
        RETURN;
    END IF;
    PERFORM 1 FROM commerce.points_account a JOIN commerce.points_lot pl USING (tenant_id, customer_id)
      WHERE pl.tenant_id = o.tenant_id AND pl.source = 'purchase' AND pl.source_key = v_key FOR UPDATE OF a;
    SELECT * INTO l FROM commerce.points_lot WHERE tenant_id = o.tenant_id AND source = 'purchase' AND source_key = v_key FOR UPDATE;
    -- refunded since the points were earned, as a share of what they were earned on
    v_refunded := least(greatest(o.refunded_fen - (o.paid_fen - l.earn_fen), 0), l.earn_fen);
    v_target := floor(l.points::numeric * v_refunded / l.earn_fen)::bigint;
    v_delta := v_target - l.reversed;
    IF v_delta <= 0 THEN
        RETURN;
    END IF;
    v_from_lot := least(v_delta, l.remaining);
    UPDATE commerce.points_lot
       SET remaining = remaining - v_from_lot, reversed = reversed + v_delta,
           status = CASE WHEN remaining = v_from_lot THEN 'closed' ELSE status END
     WHERE tenant_id = l.tenant_id AND lot_id = l.lot_id;
    IF v_from_lot > 0 THEN
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, reason, created_at)
        VALUES (l.tenant_id, l.customer_id, l.lot_id, 'reverse',
                CASE WHEN l.status = 'available' THEN -v_from_lot ELSE 0 END,
                CASE WHEN l.status = 'pending' THEN -v_from_lot ELSE 0 END, format('refund of order %s', o.order_id), v_now);
    END IF;
    -- what was already spent of it comes from the customer's other points; what is not there is recorded, not owed
    IF v_delta > v_from_lot THEN
        v_other := commerce._take_points(l.tenant_id, l.customer_id, v_delta - v_from_lot, 'reverse', NULL,
                                         format('refund of order %s (spent points)', o.order_id));
    END IF;
    v_short := v_delta - v_from_lot - v_other;
    IF v_short > 0 THEN
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, reason, created_at)
        VALUES (l.tenant_id, l.customer_id, l.lot_id, 'unrecovered', 0, 0,
                format('refund of order %s: %s points already spent', o.order_id, v_short), v_now);
    END IF;
    UPDATE commerce.points_account
       SET available = available - CASE WHEN l.status = 'available' THEN v_from_lot ELSE 0 END - v_other,
           pending = pending - CASE WHEN l.status = 'pending' THEN v_from_lot ELSE 0 END,
           reversed = reversed + v_from_lot + v_other, unrecovered = unrecovered + v_short, updated_at = v_now
     WHERE tenant_id = l.tenant_id AND customer_id = l.customer_id;
END $$;
CREATE FUNCTION commerce._points_on_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; r commerce.points_rule%ROWTYPE; v_base bigint; v_points bigint;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'commerce._points_on_order must fire AFTER ... FOR EACH ROW';
    END IF;
    o := NEW;
    IF o.customer_id IS NULL THEN
        RETURN NULL;      -- a platform buyer not yet known as a customer earns nothing
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.refunded_fen > OLD.refunded_fen THEN
        PERFORM commerce._reverse_purchase_points(o);
    END IF;
    SELECT * INTO r FROM commerce.points_rule WHERE tenant_id = o.tenant_id AND channel_id = o.channel_id;
    IF NOT FOUND OR r.points_per_yuan = 0 OR o.paid_at IS NULL THEN
        RETURN NULL;
    END IF;
    IF (r.earn_on = 'paid' AND (TG_OP = 'INSERT' OR OLD.paid_at IS NULL))
       OR (r.earn_on = 'completed' AND o.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status <> 'completed')) THEN
        v_base := coalesce(o.paid_fen, 0) - o.refunded_fen;
        v_points := v_base * r.points_per_yuan / 100;     -- floor: 1 point per whole yuan at 1 point a yuan
        IF v_points > 0 THEN
            PERFORM commerce._earn_points(o.tenant_id, o.customer_id, 'purchase', o.order_id::text, v_points,
                                          make_interval(days => r.pending_days), make_interval(days => r.expire_days),
                                          o.order_id, v_base, format('order %s', o.order_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION commerce.release_points(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE l record; n integer := 0; v bigint; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR l IN SELECT tenant_id, lot_id, customer_id FROM commerce.points_lot
              WHERE status = 'pending' AND available_at <= v_now ORDER BY available_at, tenant_id, lot_id LIMIT p_limit LOOP
        -- the account first, as every movement locks it; a busy one is left for the next run
        PERFORM 1 FROM commerce.points_account WHERE tenant_id = l.tenant_id AND customer_id = l.customer_id
            FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        UPDATE commerce.points_lot SET status = 'available'
         WHERE tenant_id = l.tenant_id AND lot_id = l.lot_id AND status = 'pending' AND available_at <= v_now
        RETURNING remaining INTO v;
        CONTINUE WHEN NOT FOUND;
        UPDATE commerce.points_account SET pending = pending - v, available = available + v, updated_at = v_now
         WHERE tenant_id = l.tenant_id AND customer_id = l.customer_id;
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, created_at)
        VALUES (l.tenant_id, l.customer_id, l.lot_id, 'release', v, -v, v_now);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.release_points(integer) IS
  'One batch of the points pump: lots whose return window ended become available (the account is locked first; a busy account is left for the next run). Returns the lots released.';
CREATE FUNCTION commerce.expire_points(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE l record; n integer := 0; v bigint; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR l IN SELECT tenant_id, lot_id, customer_id FROM commerce.points_lot
              WHERE status = 'available' AND expires_at <= v_now ORDER BY expires_at, tenant_id, lot_id LIMIT p_limit LOOP
        PERFORM 1 FROM commerce.points_account WHERE tenant_id = l.tenant_id AND customer_id = l.customer_id
            FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        SELECT remaining INTO v FROM commerce.points_lot
         WHERE tenant_id = l.tenant_id AND lot_id = l.lot_id AND status = 'available' AND expires_at <= v_now FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        UPDATE commerce.points_lot SET remaining = 0, status = 'closed' WHERE tenant_id = l.tenant_id AND lot_id = l.lot_id;
        UPDATE commerce.points_account SET available = available - v, expired = expired + v, updated_at = v_now
         WHERE tenant_id = l.tenant_id AND customer_id = l.customer_id;
        INSERT INTO commerce.points_ledger (tenant_id, customer_id, lot_id, kind, delta_available, delta_pending, created_at)
        VALUES (l.tenant_id, l.customer_id, l.lot_id, 'expire', -v, 0, v_now);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.expire_points(integer) IS
  'One batch of the points pump: what is left of lots past their expiry expires (the account is locked first; a busy account is left for the next run). Returns the lots expired.';
CREATE PROCEDURE commerce.points_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.release_points', p_batch, p_max_batches);
    CALL commerce.run_pump('commerce.expire_points', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.points_pump(integer, integer) IS
  'The points job (pg_cron, every 10 minutes: commerce-points): releases lots past their return window and expires lots past their expiry, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-points', '*/10 * * * *', 'CALL commerce.points_pump()');
CREATE FUNCTION commerce.check_points_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- the account is the sum of its lots and of its ledger
    SELECT 'account = lots = ledger', format('customer %s: available %s/%s/%s, pending %s/%s/%s', a.customer_id,
                                              a.available, coalesce(l.avail, 0), coalesce(g.avail, 0),
                                              a.pending, coalesce(l.pend, 0), coalesce(g.pend, 0))
      FROM commerce.points_account a
      LEFT JOIN LATERAL (SELECT sum(remaining) FILTER (WHERE status = 'available') AS avail,
                                sum(remaining) FILTER (WHERE status = 'pending') AS pend
                           FROM commerce.points_lot x WHERE x.tenant_id = a.tenant_id AND x.customer_id = a.customer_id) l ON true
      LEFT JOIN LATERAL (SELECT sum(delta_available) AS avail, sum(delta_pending) AS pend
                           FROM commerce.points_ledger x WHERE x.tenant_id = a.tenant_id AND x.customer_id = a.customer_id) g ON true
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.available <> coalesce(l.avail, 0) OR a.available <> coalesce(g.avail, 0)
            OR a.pending <> coalesce(l.pend, 0) OR a.pending <> coalesce(g.pend, 0))
    UNION ALL
    -- what was earned, spent, expired and reversed is what the ledger says
    SELECT 'totals = ledger', format('customer %s: earned %s/%s spent %s/%s expired %s/%s reversed %s/%s', a.customer_id,
                                      a.earned, g.earned, a.spent, g.spent, a.expired, g.expired, a.reversed, g.reversed)
      FROM commerce.points_account a
      CROSS JOIN LATERAL (SELECT coalesce(sum(delta_available + delta_pending) FILTER (WHERE kind = 'earn'), 0) AS earned,
                                 coalesce(-sum(delta_available) FILTER (WHERE kind = 'spend'), 0) AS spent,
                                 coalesce(-sum(delta_available) FILTER (WHERE kind = 'expire'), 0) AS expired,
                                 coalesce(-sum(delta_available + delta_pending) FILTER (WHERE kind = 'reverse'), 0) AS reversed
                            FROM commerce.points_ledger x WHERE x.tenant_id = a.tenant_id AND x.customer_id = a.customer_id) g
     WHERE (p_tenant IS NULL OR a.tenant_id = p_tenant)
       AND (a.earned, a.spent, a.expired, a.reversed) IS DISTINCT FROM (g.earned, g.spent, g.expired, g.reversed)
    UNION ALL
    -- a purchase lot's points are floor(points per yuan x what it was earned on), and refunds never take back more
    SELECT 'purchase lot reversed <= refunded share', format('lot %s of order %s: reversed %s of %s', l.lot_id, l.order_id,
                                                             l.reversed, l.points)
      FROM commerce.points_lot l JOIN commerce.orders o ON o.tenant_id = l.tenant_id AND o.order_id = l.order_id
     WHERE (p_tenant IS NULL OR l.tenant_id = p_tenant) AND l.source = 'purchase'
       AND l.reversed > floor(l.points::numeric * least(greatest(o.refunded_fen - (o.paid_fen - l.earn_fen), 0), l.earn_fen) / l.earn_fen)
    UNION ALL
    -- one spend's ledger entries add up to the spend
    SELECT 'spend = its entries', format('spend %s: %s points, entries %s', s.spend_id, s.points, coalesce(e.n, 0))
      FROM commerce.points_spend s
      LEFT JOIN LATERAL (SELECT -sum(delta_available) AS n FROM commerce.points_ledger x
                          WHERE x.tenant_id = s.tenant_id AND x.request_id = s.request_id AND x.kind = 'spend') e ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant) AND s.points <> coalesce(e.n, 0);
$$;
COMMENT ON FUNCTION commerce.check_points_invariants(bigint) IS
  'Every invariant of the points (check after stress): per account, available and pending = its lots'' remaining = its ledger''s deltas; earned, spent, expired and reversed = the ledger''s; a purchase lot never reversed beyond the refunded share; each spend = its ledger entries. No rows means all hold.';
CREATE VIEW commerce_api.points_balance AS
SELECT NULL::text AS customer, NULL::bigint AS available, NULL::bigint AS pending, NULL::bigint AS earned,
       NULL::bigint AS spent, NULL::bigint AS expired, NULL::bigint AS reversed,
       NULL::timestamptz AS next_expiry_at, NULL::bigint AS next_expiry_points
 WHERE false;
COMMENT ON VIEW commerce_api.points_balance IS
  E'@omit all\nA customer''s points: available to spend, pending (earned by purchases still in their return window), and all earned, spent, expired and reversed by refunds; when the next available points expire and how many.';
CREATE FUNCTION commerce._points_balance(p_tenant bigint, p_customer text) RETURNS SETOF commerce_api.points_balance
LANGUAGE sql STABLE AS $$
    SELECT cu.code, coalesce(a.available, 0), coalesce(a.pending, 0), coalesce(a.earned, 0), coalesce(a.spent, 0),
           coalesce(a.expired, 0), coalesce(a.reversed, 0), n.expires_at, n.points
      FROM commerce.customer cu
      LEFT JOIN commerce.points_account a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id
      LEFT JOIN LATERAL (SELECT l.expires_at, sum(l.remaining)::bigint AS points FROM commerce.points_lot l
                          WHERE l.tenant_id = cu.tenant_id AND l.customer_id = cu.customer_id AND l.status = 'available'
                          GROUP BY l.expires_at ORDER BY l.expires_at LIMIT 1) n ON true
     WHERE cu.tenant_id = p_tenant AND cu.code = p_customer;
$$;
CREATE FUNCTION commerce_api.points(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.points', '{customer,store,operator,service}');
        v_customer text := points.customer;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, points.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, v_customer);
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_customer, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.points(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.points(text) IS
  'A customer''s points (points_balance): a customer its own (customer left out or its own); store staff at the counter, operators and services name the customer.';
CREATE VIEW commerce_api.points_entry AS
SELECT NULL::bigint AS entry_id, NULL::text AS kind, NULL::bigint AS delta_available, NULL::bigint AS delta_pending,
       NULL::text AS source, NULL::text AS reason, NULL::timestamptz AS created_at
 WHERE false;
COMMENT ON VIEW commerce_api.points_entry IS
  E'@omit all\nOne movement of a customer''s points: kind (earn, release: pending became available, spend, expire, reverse: a refund took them back, unrecovered: a refund found them already spent), the change to available and to pending points, the source of the lot (purchase, grant, interaction, checkin, task), the reason, when.';
CREATE FUNCTION commerce_api.points_history(customer text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                            page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.points_entry LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.points_history', '{customer,operator,service}');
        v_customer text := points_history.customer; v_id bigint;
BEGIN
    PERFORM commerce._api_page(points_history.page_size);
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, points_history.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    SELECT cu.customer_id INTO v_id FROM commerce.customer cu WHERE cu.tenant_id = a.tenant_id AND cu.code = v_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_customer, a.tenant_id);
    END IF;
    RETURN QUERY
    SELECT g.entry_id, g.kind, g.delta_available, g.delta_pending, l.source, g.reason, g.created_at
      FROM commerce.points_ledger g
      LEFT JOIN commerce.points_lot l ON l.tenant_id = g.tenant_id AND l.lot_id = g.lot_id
     WHERE g.tenant_id = a.tenant_id AND g.customer_id = v_id
       AND (points_history.before_id IS NULL OR g.entry_id < points_history.before_id)
     ORDER BY g.entry_id DESC
     LIMIT points_history.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.points_history(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.points_history(text, bigint, integer) IS
  'A customer''s movements of points newest first (points_entry): a customer its own; operators and services name the customer. Paged by cursor: before_id is the last entry_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.grant_points(request_id text, customer text, points bigint, reason text,
                                          expire_days integer DEFAULT 365)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.grant_points', '{operator,service}');
BEGIN
    PERFORM commerce.earn_points(a.tenant_id, 'grant', grant_points.request_id, grant_points.customer, grant_points.points,
                                 left(grant_points.reason, 150) || ' (' || coalesce(a.subject, a.kind) || ')', 0,
                                 grant_points.expire_days);
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, grant_points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.grant_points(text, text, bigint, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.grant_points(text, text, bigint, text, integer) IS
  'HQ grants a customer points (goodwill, a campaign), available at once for expire_days (1 to 3650), with a reason recorded under the operator''s code. Once per request_id. HQ operators and services. Returns the balance (points_balance).';
CREATE FUNCTION commerce_api.spend_points(request_id text, customer text, points bigint, reason text)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.spend_points', '{service}');
BEGIN
    PERFORM commerce.spend_points(a.tenant_id, spend_points.request_id, spend_points.customer, spend_points.points,
                                  spend_points.reason);
    RETURN QUERY SELECT * FROM commerce._points_balance(a.tenant_id, spend_points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_api.spend_points(text, text, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.spend_points(text, text, bigint, text) IS
  'The points mall''s backend (service only) spends a customer''s points, earliest expiry first, never more than it has (PT409, nothing spent). Once per request_id. Returns the balance (points_balance).';
CREATE FUNCTION commerce_hasura.points(hasura_session json, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.points_balance LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.points(points.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.points(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.points(json, text) IS
  'Hasura: commerce_api.points for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.points_history(hasura_session json, customer text DEFAULT NULL,
                                               before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.points_entry LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.points_history(points_history.customer, points_history.before_id,
                                                           points_history.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.points_history(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.points_history(json, text, bigint, integer) IS
  'Hasura: commerce_api.points_history for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';


CREATE TRIGGER after_40_points AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN ((OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
                       OR (NEW.status = 'completed' AND OLD.status <> 'completed')
                       OR NEW.refunded_fen > OLD.refunded_fen)
    EXECUTE FUNCTION commerce._points_on_order();

CREATE TRIGGER after_41_points_insert AFTER INSERT ON commerce.orders
    FOR EACH ROW WHEN (NEW.paid_at IS NOT NULL)
    EXECUTE FUNCTION commerce._points_on_order();


-- the daily check-in (issue 13)
CREATE TABLE commerce.points_checkin_rule (
    tenant_id    bigint NOT NULL REFERENCES commerce.tenant,
    points       integer NOT NULL DEFAULT 5 CHECK (points BETWEEN 1 AND 100000),
    streak_days  integer NOT NULL DEFAULT 7 CHECK (streak_days BETWEEN 2 AND 365),
    streak_bonus integer NOT NULL DEFAULT 0 CHECK (streak_bonus BETWEEN 0 AND 100000),
    expire_days  integer NOT NULL DEFAULT 365 CHECK (expire_days BETWEEN 1 AND 3650),
    PRIMARY KEY (tenant_id)
);
COMMENT ON TABLE commerce.points_checkin_rule IS
  'The daily check-in of a tenant (PR10): points a check-in earns, and a bonus on every streak_days-th day in a row; points last expire_days. A tenant without a rule has no check-in.';

CREATE TABLE commerce.points_checkin (
    tenant_id   bigint NOT NULL,
    customer_id bigint NOT NULL,
    day         date NOT NULL,
    streak      integer NOT NULL CHECK (streak >= 1),
    points      bigint NOT NULL CHECK (points > 0),
    lot_id      bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, day)
);
COMMENT ON TABLE commerce.points_checkin IS
  'A customer''s check-in of one tenant-local day (once: the key), its streak (days in a row, this one included) and the points it earned (the lot).';
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce') AND d.deptype = 'e'
           AND c.relkind IN ('r', 'p', 'S') AND c.relnamespace = 'commerce'::regnamespace
         ORDER BY c.relkind DESC, 1
    LOOP
        EXECUTE format('ALTER EXTENSION commerce DROP %s %s', r.kind, r.rel);
    END LOOP;
END $$;
SELECT commerce._isolate_tenants();

CREATE FUNCTION commerce.set_checkin_rule(p_tenant bigint, p_points integer DEFAULT 5, p_streak_days integer DEFAULT 7,
                                          p_streak_bonus integer DEFAULT 0, p_expire_days integer DEFAULT 365)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_streak_days, 'p_streak_days');
    PERFORM commerce._require(p_streak_bonus, 'p_streak_bonus');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    IF p_points NOT BETWEEN 1 AND 100000 OR p_streak_bonus NOT BETWEEN 0 AND 100000 THEN
        PERFORM commerce._invalid('p_points', format('%s points, bonus %s', p_points, p_streak_bonus),
                                  'A check-in earns 1 to 100000 points, a streak bonus 0 to 100000.');
    END IF;
    IF p_streak_days NOT BETWEEN 2 AND 365 THEN
        PERFORM commerce._invalid('p_streak_days', format('%s days', p_streak_days), 'A streak is 2 to 365 days.');
    END IF;
    IF p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('%s days', p_expire_days), 'Points last 1 to 3650 days.');
    END IF;
    INSERT INTO commerce.points_checkin_rule AS r (tenant_id, points, streak_days, streak_bonus, expire_days)
    VALUES (p_tenant, p_points, p_streak_days, p_streak_bonus, p_expire_days)
    ON CONFLICT (tenant_id) DO UPDATE SET points = EXCLUDED.points, streak_days = EXCLUDED.streak_days,
                                          streak_bonus = EXCLUDED.streak_bonus, expire_days = EXCLUDED.expire_days;
END $$;
COMMENT ON FUNCTION commerce.set_checkin_rule(bigint, integer, integer, integer, integer) IS
  'A tenant''s daily check-in (PR10): p_points a day (1 to 100000), plus p_streak_bonus on every p_streak_days-th day in a row (2 to 365), lasting p_expire_days (1 to 3650).';
CREATE TYPE commerce.checkin_result AS (day date, streak integer, points bigint, outcome text);
COMMENT ON TYPE commerce.checkin_result IS
  'The outcome of a check-in: the tenant-local day, the streak (days in a row, this one included), the points it earned, and what happened (checked_in, or already: the day was checked in before, nothing earned).';
CREATE FUNCTION commerce.check_in(p_tenant bigint, p_customer text) RETURNS commerce.checkin_result
LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row := commerce._tenant(p_tenant); r commerce.points_checkin_rule%ROWTYPE; v_customer bigint;
        v_day date; v_streak integer; v_points bigint; v_lot bigint; c commerce.points_checkin%ROWTYPE;
BEGIN
    PERFORM commerce._require(p_customer, 'p_customer');
    SELECT * INTO r FROM commerce.points_checkin_rule WHERE tenant_id = p_tenant;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('tenant %s has no daily check-in', p_tenant),
            HINT    = 'HQ sets one with commerce.set_checkin_rule.';
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    v_day := (commerce.now() AT TIME ZONE t.time_zone)::date;
    -- the account orders a customer's check-ins: a second one of the same day waits and finds the first
    PERFORM commerce._lock_points_account(p_tenant, v_customer);
    SELECT * INTO c FROM commerce.points_checkin WHERE tenant_id = p_tenant AND customer_id = v_customer AND day = v_day;
    IF FOUND THEN
        RETURN ROW(c.day, c.streak, c.points, 'already')::commerce.checkin_result;
    END IF;
    SELECT coalesce((SELECT x.streak FROM commerce.points_checkin x
                      WHERE x.tenant_id = p_tenant AND x.customer_id = v_customer AND x.day = v_day - 1), 0) + 1
      INTO v_streak;
    v_points := r.points + CASE WHEN v_streak % r.streak_days = 0 THEN r.streak_bonus ELSE 0 END;
    v_lot := commerce._earn_points(p_tenant, v_customer, 'checkin', v_customer || ':' || v_day, v_points, interval '0',
                                   make_interval(days => r.expire_days), NULL, NULL,
                                   format('check-in %s, day %s in a row', v_day, v_streak));
    INSERT INTO commerce.points_checkin (tenant_id, customer_id, day, streak, points, lot_id, created_at)
    VALUES (p_tenant, v_customer, v_day, v_streak, v_points, v_lot, commerce.now());
    RETURN ROW(v_day, v_streak, v_points, 'checked_in')::commerce.checkin_result;
END $$;
COMMENT ON FUNCTION commerce.check_in(bigint, text) IS
  'The daily check-in (PR10): once per customer and tenant-local day (a second call that day returns the first, outcome already, and earns nothing), the streak counted from yesterday''s check-in, the points of the tenant''s rule plus the streak bonus on every streak_days-th day, available at once. PT409 when the tenant has no check-in.';
CREATE VIEW commerce_api.checkin AS
SELECT NULL::date AS day, NULL::integer AS streak, NULL::bigint AS points, NULL::text AS outcome WHERE false;
COMMENT ON VIEW commerce_api.checkin IS
  E'@omit all\nA daily check-in: the tenant-local day, the streak (days in a row, this one included), the points it earned and what happened (checked_in, or already: checked in before that day, nothing earned).';
CREATE FUNCTION commerce_api.check_in(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.checkin LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.check_in', '{customer,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.check_in(a.tenant_id, commerce._actor_subject(a, check_in.customer, 'customer'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.check_in(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.check_in(text) IS
  'The daily check-in (checkin): a customer for itself (a service names the customer), once a tenant-local day, with its streak and points. PT409 when the tenant has no check-in.';

-- ===========================================================================
-- coupons (issue 13): templates, batches split over slots, holders, coupons,
-- the split of each order's coupons over its lines (order_discount), the
-- coupons job; place_order applies coupons; commerce.allocate_fen (C)
-- ===========================================================================

CREATE TABLE commerce.coupon_template (
    tenant_id          bigint NOT NULL REFERENCES commerce.tenant,
    template_id        bigint GENERATED BY DEFAULT AS IDENTITY,
    code               text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind               text NOT NULL CHECK (kind IN ('amount', 'percent')),
    amount_fen         bigint CHECK (amount_fen > 0),
    percent_off_bp     integer CHECK (percent_off_bp BETWEEN 1 AND 10000),
    max_off_fen        bigint CHECK (max_off_fen > 0),
    threshold_fen      bigint NOT NULL DEFAULT 0 CHECK (threshold_fen >= 0),
    valid_from         timestamptz,
    valid_until        timestamptz,
    valid_days         integer CHECK (valid_days BETWEEN 1 AND 3650),
    channel_ids        bigint[],
    product_ids        bigint[],
    sku_ids            bigint[],
    store_ids          bigint[],
    stacking           text NOT NULL DEFAULT 'exclusive' CHECK (stacking IN ('exclusive', 'stackable')),
    per_customer_limit integer CHECK (per_customer_limit BETWEEN 1 AND 1000),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, template_id),
    UNIQUE (tenant_id, code),
    CHECK ((kind = 'amount') = (amount_fen IS NOT NULL)),
    CHECK ((kind = 'percent') = (percent_off_bp IS NOT NULL)),
    CHECK (kind = 'percent' OR max_off_fen IS NULL),
    CHECK ((valid_days IS NULL) = (valid_until IS NOT NULL)),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);
COMMENT ON TABLE commerce.coupon_template IS
  'What a coupon is: kind amount (amount_fen off; with threshold_fen a 满减 "spend X, save Y", with 0 a no-threshold coupon) or percent (percent_off_bp off the eligible lines, at most max_off_fen); valid in a window (valid_from..valid_until) or for valid_days after it is issued; scope (channels, products, SKUs, stores: NULL = all); stacking (exclusive: the only coupon of its order; stackable: with other stackable coupons, one per template); at most per_customer_limit held by one customer (NULL: no limit).';
CREATE TABLE commerce.coupon_batch (
    tenant_id     bigint NOT NULL,
    batch_id      bigint GENERATED BY DEFAULT AS IDENTITY,
    template_id   bigint NOT NULL,
    code          text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    quota         bigint CHECK (quota BETWEEN 1 AND 100000000),
    claimable     boolean NOT NULL DEFAULT true,
    claim_from    timestamptz,
    claim_until   timestamptz,
    slot_count    integer NOT NULL DEFAULT 1 CHECK (slot_count BETWEEN 1 AND 64),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, batch_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, template_id) REFERENCES commerce.coupon_template,
    CHECK (claim_from IS NULL OR claim_until IS NULL OR claim_from < claim_until),
    CHECK (quota IS NOT NULL OR slot_count = 1)
);
COMMENT ON TABLE commerce.coupon_batch IS
  'A batch of coupons of one template: quota (NULL: unlimited) split over slot_count coupon_slot rows, so that claims of a hot batch take from different rows and never pass the quota (a CHECK per slot); claimable by customers themselves between claim_from and claim_until, or only issued (rewards, flows, redemptions).';
CREATE TABLE commerce.coupon_slot (
    tenant_id bigint NOT NULL,
    batch_id  bigint NOT NULL,
    slot_no   integer NOT NULL CHECK (slot_no >= 0),
    quota     bigint,
    issued    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, batch_id, slot_no),
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    CONSTRAINT coupon_slot_no_overissue CHECK (issued >= 0 AND (quota IS NULL OR issued <= quota))
) WITH (fillfactor = 50);
COMMENT ON TABLE commerce.coupon_slot IS
  'A share of a batch''s quota: the batch''s quota is the sum of its slots'' and what it issued the sum of theirs; the CHECK (issued <= quota) makes issuing more than the batch impossible slot by slot. A claim takes from a slot no other claim holds (SKIP LOCKED), waiting only when all are held.';
CREATE TABLE commerce.coupon_holder (
    tenant_id   bigint NOT NULL,
    template_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    issued      bigint NOT NULL DEFAULT 0 CHECK (issued >= 0),
    PRIMARY KEY (tenant_id, template_id, customer_id),
    FOREIGN KEY (tenant_id, template_id) REFERENCES commerce.coupon_template,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer
);
COMMENT ON TABLE commerce.coupon_holder IS
  'How many coupons of a template a customer was ever issued (the per-customer limit counts these); the row orders every issue of that template to that customer (locked first), so a retried request finds the coupon its first attempt made.';
CREATE TABLE commerce.coupon (
    tenant_id    bigint NOT NULL,
    coupon_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    template_id  bigint NOT NULL,
    batch_id     bigint NOT NULL,
    slot_no      integer NOT NULL,
    customer_id  bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('claim', 'issue', 'reward', 'redeem', 'flow')),
    source_key   text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
    status       text NOT NULL CHECK (status IN ('issued', 'locked', 'used', 'expired', 'revoked')),
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    order_id     bigint,
    issued_at    timestamptz NOT NULL,
    locked_at    timestamptz,
    ended_at     timestamptz,
    releases     integer NOT NULL DEFAULT 0 CHECK (releases >= 0),
    PRIMARY KEY (tenant_id, coupon_id),
    UNIQUE (tenant_id, source, source_key),
    FOREIGN KEY (tenant_id, template_id) REFERENCES commerce.coupon_template,
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (valid_from < valid_until),
    CHECK ((status IN ('locked', 'used')) = (order_id IS NOT NULL)),
    CHECK ((status IN ('used', 'expired', 'revoked')) = (ended_at IS NOT NULL))
);
COMMENT ON TABLE commerce.coupon IS
  'A coupon held by a customer, issued exactly once per source event (unique per source and key: a claim''s request_id, a reward, a flow step, a redemption): issued -> locked by an order (order_id) -> used when the order is paid; released back to issued when the order is cancelled or its payment times out (releases counts how often); issued -> expired after valid_until (the coupons pump); issued -> revoked when what issued it is reversed (a points-mall redemption). Used, expired and revoked coupons are ended (ended_at).';
CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.coupon
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'issued',
        'issued>locked', 'locked>issued', 'locked>used', 'issued>expired', 'issued>revoked');
CREATE INDEX coupon_customer ON commerce.coupon (tenant_id, customer_id, status, valid_until);
CREATE INDEX coupon_order ON commerce.coupon (tenant_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX coupon_expiring ON commerce.coupon (valid_until) WHERE status = 'issued';
CREATE INDEX coupon_batch_coupons ON commerce.coupon (tenant_id, batch_id);
CREATE TABLE commerce.order_discount (
    tenant_id  bigint NOT NULL,
    order_id   bigint NOT NULL,
    line_no    integer NOT NULL,
    coupon_id  bigint NOT NULL,
    amount_fen bigint NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (tenant_id, order_id, line_no, coupon_id),
    FOREIGN KEY (tenant_id, order_id, line_no) REFERENCES commerce.order_line,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon
);
COMMENT ON TABLE commerce.order_discount IS
  'What each coupon of an order took off each line, in fen (the order''s coupon discount split over its eligible lines by the largest remainder, never taking a line below its SKU''s floor): refunds and commissions of a line use its amount less these. The order''s discount_fen includes their sum.';
CREATE INDEX order_discount_coupon ON commerce.order_discount (tenant_id, coupon_id);
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce') AND d.deptype = 'e'
           AND c.relkind IN ('r', 'p', 'S') AND c.relnamespace = 'commerce'::regnamespace
         ORDER BY c.relkind DESC, 1
    LOOP
        EXECUTE format('ALTER EXTENSION commerce DROP %s %s', r.kind, r.rel);
    END LOOP;
END $$;
SELECT commerce._isolate_tenants();
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-coupons', '*/10 * * * *', 'CALL commerce.coupons_pump()');
CREATE FUNCTION commerce.allocate_fen(p_amount bigint, p_weights bigint[], p_caps bigint[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'commerce_allocate_fen' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION commerce.allocate_fen(bigint, bigint[], bigint[]) IS
  'Split p_amount fen over the parts of p_weights (one weight and one cap per part, 0 to 10^15 each) in proportion to the weights by the largest remainder (ties to the earlier part), no part above its cap: what a capped part cannot take is shared among the others again (by their caps when none of them has a weight). The parts add up to p_amount exactly; 22023 when p_amount is more than the caps together. A coupon''s discount over the lines of an order is split this way.';
CREATE FUNCTION commerce._coupon_scope_ids(p_tenant bigint, p_kind text, p_codes jsonb) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
DECLARE v_ids bigint[]; v_code text; v_id bigint;
BEGIN
    IF p_codes IS NULL OR jsonb_typeof(p_codes) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_codes) <> 'array' OR jsonb_array_length(p_codes) NOT BETWEEN 1 AND 1000
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_codes) e WHERE jsonb_typeof(e) <> 'string') THEN
        PERFORM commerce._invalid('p_spec', format('%s is not a list of codes.', p_kind),
            format('Pass "%s":["<code>", ...] (1 to 1000 codes), or leave it out for all.', p_kind));
    END IF;
    v_ids := ARRAY[]::bigint[];
    FOR v_code IN SELECT DISTINCT e FROM jsonb_array_elements_text(p_codes) e ORDER BY 1 LOOP
        v_id := CASE p_kind
            WHEN 'channels' THEN (SELECT channel_id FROM commerce.channel WHERE tenant_id = p_tenant AND code = v_code)
            WHEN 'products' THEN (SELECT product_id FROM commerce.product WHERE tenant_id = p_tenant AND code = v_code)
            WHEN 'skus'     THEN (SELECT sku_id FROM commerce.sku WHERE tenant_id = p_tenant AND code = v_code)
            WHEN 'stores'   THEN (SELECT store_id FROM commerce.store WHERE tenant_id = p_tenant AND code = v_code)
        END;
        IF v_id IS NULL THEN
            PERFORM commerce._not_found(rtrim(p_kind, 's'), v_code, p_tenant);
        END IF;
        v_ids := v_ids || v_id;
    END LOOP;
    RETURN v_ids;
END $$;
CREATE FUNCTION commerce._json_time(p_value jsonb, p_name text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_value) <> 'string' OR (p_value #>> '{}') !~ '^\d{4}-\d{2}-\d{2}[T ][0-9:.]+([+-]\d{2}(:?\d{2})?|Z)$' THEN
        PERFORM commerce._invalid('p_spec', format('%s is %s.', p_name, left(p_value::text, 64)),
                                  'Times are ISO 8601 strings with their offset: "2026-12-12T00:00:00+08:00".');
    END IF;
    RETURN (p_value #>> '{}')::timestamptz;
END $$;
CREATE FUNCTION commerce._json_int(p_value jsonb, p_name text, p_min bigint, p_max bigint, p_arg text DEFAULT 'p_spec')
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_value) <> 'number' OR (p_value #>> '{}')::numeric <> trunc((p_value #>> '{}')::numeric)
       OR (p_value #>> '{}')::numeric NOT BETWEEN p_min AND p_max THEN
        PERFORM commerce._invalid(p_arg, format('%s is %s.', p_name, left(p_value::text, 64)),
                                  format('%s is an integer from %s to %s.', p_name, p_min, p_max));
    END IF;
    RETURN (p_value #>> '{}')::bigint;
END $$;
CREATE FUNCTION commerce.create_coupon_template(p_tenant bigint, p_code text, p_spec jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE t commerce.coupon_template%ROWTYPE; o commerce.coupon_template%ROWTYPE; v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_spec, 'p_spec');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF jsonb_typeof(p_spec) <> 'object' THEN
        PERFORM commerce._invalid('p_spec', 'The template is not a JSON object.',
            'Send {"name":..., "kind":"amount"|"percent", "amount_fen" or "percent_off_bp", ...}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_spec) LOOP
        IF v_key NOT IN ('name', 'kind', 'amount_fen', 'percent_off_bp', 'max_off_fen', 'threshold_fen', 'valid_from',
                         'valid_until', 'valid_days', 'channels', 'products', 'skus', 'stores', 'stacking',
                         'per_customer_limit') THEN
            PERFORM commerce._invalid('p_spec', format('Unknown key "%s".', left(v_key, 64)),
                'A template has name, kind, amount_fen, percent_off_bp, max_off_fen, threshold_fen, valid_from, valid_until, valid_days, channels, products, skus, stores, stacking and per_customer_limit.');
        END IF;
    END LOOP;
    t.tenant_id := p_tenant;
    t.code := p_code;
    t.name := p_spec ->> 'name';
    t.kind := p_spec ->> 'kind';
    IF t.name IS NULL OR length(t.name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_spec', 'name is missing or longer than 200 characters.', 'Name the coupon as customers see it.');
    END IF;
    IF t.kind IS NULL OR t.kind NOT IN ('amount', 'percent') THEN
        PERFORM commerce._invalid('p_spec', format('kind is %s.', coalesce(left(p_spec ->> 'kind', 64), 'missing')),
            'kind is amount (amount_fen off, with a threshold_fen for 满减) or percent (percent_off_bp off, at most max_off_fen).');
    END IF;
    t.amount_fen := commerce._json_int(p_spec -> 'amount_fen', 'amount_fen', 1, commerce._limit('max_fen'));
    t.percent_off_bp := commerce._json_int(p_spec -> 'percent_off_bp', 'percent_off_bp', 1, 10000);
    t.max_off_fen := commerce._json_int(p_spec -> 'max_off_fen', 'max_off_fen', 1, commerce._limit('max_fen'));
    t.threshold_fen := coalesce(commerce._json_int(p_spec -> 'threshold_fen', 'threshold_fen', 0, commerce._limit('max_fen')), 0);
    IF (t.kind = 'amount') <> (t.amount_fen IS NOT NULL) OR (t.kind = 'percent') <> (t.percent_off_bp IS NOT NULL)
       OR (t.kind = 'amount' AND t.max_off_fen IS NOT NULL) THEN
        PERFORM commerce._invalid('p_spec', format('A %s coupon with amount_fen %s, percent_off_bp %s, max_off_fen %s.', t.kind,
                                                   coalesce(t.amount_fen::text, '-'), coalesce(t.percent_off_bp::text, '-'),
                                                   coalesce(t.max_off_fen::text, '-')),
            'An amount coupon has amount_fen only; a percent coupon has percent_off_bp (and max_off_fen if capped).');
    END IF;
    t.valid_from := commerce._json_time(p_spec -> 'valid_from', 'valid_from');
    t.valid_until := commerce._json_time(p_spec -> 'valid_until', 'valid_until');
    t.valid_days := commerce._json_int(p_spec -> 'valid_days', 'valid_days', 1, 3650);
    IF (t.valid_days IS NULL) = (t.valid_until IS NULL) OR t.valid_from >= t.valid_until THEN
        PERFORM commerce._invalid('p_spec', 'The validity is neither a window (valid_from < valid_until) nor a number of days.',
            'Give valid_until (and valid_from if it starts later than the issue), or valid_days after the issue.');
    END IF;
    t.channel_ids := commerce._coupon_scope_ids(p_tenant, 'channels', p_spec -> 'channels');
    t.product_ids := commerce._coupon_scope_ids(p_tenant, 'products', p_spec -> 'products');
    t.sku_ids := commerce._coupon_scope_ids(p_tenant, 'skus', p_spec -> 'skus');
    t.store_ids := commerce._coupon_scope_ids(p_tenant, 'stores', p_spec -> 'stores');
    t.stacking := coalesce(p_spec ->> 'stacking', 'exclusive');
    IF t.stacking NOT IN ('exclusive', 'stackable') THEN
        PERFORM commerce._invalid('p_spec', format('stacking is %s.', left(t.stacking, 64)),
            'stacking is exclusive (the order''s only coupon) or stackable (with other stackable coupons).');
    END IF;
    t.per_customer_limit := commerce._json_int(p_spec -> 'per_customer_limit', 'per_customer_limit', 1, 1000);

    INSERT INTO commerce.coupon_template (tenant_id, code, name, kind, amount_fen, percent_off_bp, max_off_fen, threshold_fen,
                                          valid_from, valid_until, valid_days, channel_ids, product_ids, sku_ids, store_ids,
                                          stacking, per_customer_limit, created_at)
    VALUES (p_tenant, t.code, t.name, t.kind, t.amount_fen, t.percent_off_bp, t.max_off_fen, t.threshold_fen,
            t.valid_from, t.valid_until, t.valid_days, t.channel_ids, t.product_ids, t.sku_ids, t.store_ids,
            t.stacking, t.per_customer_limit, commerce.now())
    ON CONFLICT (tenant_id, code) DO NOTHING
    RETURNING template_id INTO t.template_id;
    IF t.template_id IS NOT NULL THEN
        RETURN t.template_id;
    END IF;
    -- a template never changes (issued coupons keep their terms): the same definition again is a repeat
    SELECT * INTO o FROM commerce.coupon_template WHERE tenant_id = p_tenant AND code = p_code;
    IF (o.name, o.kind, o.amount_fen, o.percent_off_bp, o.max_off_fen, o.threshold_fen, o.valid_from, o.valid_until,
        o.valid_days, o.channel_ids, o.product_ids, o.sku_ids, o.store_ids, o.stacking, o.per_customer_limit)
       IS DISTINCT FROM
       (t.name, t.kind, t.amount_fen, t.percent_off_bp, t.max_off_fen, t.threshold_fen, t.valid_from, t.valid_until,
        t.valid_days, t.channel_ids, t.product_ids, t.sku_ids, t.store_ids, t.stacking, t.per_customer_limit) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon template "%s" exists with other terms', p_code),
            DETAIL  = 'A template''s terms never change, so that issued coupons keep what they promised.',
            HINT    = 'Define a template with a new code, and deactivate the old one with commerce.set_coupon_template_active.';
    END IF;
    RETURN o.template_id;
END $$;
COMMENT ON FUNCTION commerce.create_coupon_template(bigint, text, jsonb) IS
  'Define a coupon template: {"name", "kind":"amount"|"percent", "amount_fen" | "percent_off_bp" (+ "max_off_fen"), "threshold_fen" (0: no threshold), "valid_from"+"valid_until" (a window) or "valid_days" (after the issue), "channels", "products", "skus", "stores" (codes; absent: all), "stacking":"exclusive"|"stackable", "per_customer_limit"}. Terms never change: the same code again with the same terms returns the template, with other terms PT409. Returns the template id.';
CREATE FUNCTION commerce.set_coupon_template_active(p_tenant bigint, p_code text, p_active boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_active, 'p_active');
    UPDATE commerce.coupon_template SET active = p_active WHERE tenant_id = p_tenant AND code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon template', p_code, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.set_coupon_template_active(bigint, text, boolean) IS
  'Stop (false) or resume (true) issuing coupons of a template; coupons already issued stay usable until they expire.';
CREATE FUNCTION commerce.create_coupon_batch(p_tenant bigint, p_template text, p_code text, p_quota bigint,
                                             p_claimable boolean DEFAULT true, p_claim_from timestamptz DEFAULT NULL,
                                             p_claim_until timestamptz DEFAULT NULL, p_slots integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_template bigint; v_batch bigint; v_slots integer; b commerce.coupon_batch%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_template, 'p_template');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_claimable, 'p_claimable');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    SELECT template_id INTO v_template FROM commerce.coupon_template WHERE tenant_id = p_tenant AND code = p_template;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon template', p_template, p_tenant);
    END IF;
    IF p_quota IS NOT NULL AND p_quota NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_quota', format('%s coupons', p_quota), 'A batch holds 1 to 100000000 coupons, or NULL for no limit.');
    END IF;
    IF p_claim_from >= p_claim_until THEN
        PERFORM commerce._invalid('p_claim_until', format('%s is not after %s', p_claim_until, p_claim_from),
                                  'Claims open at p_claim_from and close at p_claim_until, later.');
    END IF;
    -- a hot batch spreads its quota over slots: one per 50 coupons, at most 16 unless asked
    v_slots := coalesce(p_slots, CASE WHEN p_quota IS NULL THEN 1 ELSE least(16, greatest(1, p_quota / 50))::integer END);
    IF v_slots NOT BETWEEN 1 AND 64 OR (p_quota IS NULL AND v_slots <> 1) OR v_slots > coalesce(p_quota, 1) THEN
        PERFORM commerce._invalid('p_slots', format('%s slots for a quota of %s', v_slots, coalesce(p_quota::text, 'no limit')),
                                  'A limited batch has 1 to 64 slots, at most one per coupon; an unlimited batch has one.');
    END IF;
    INSERT INTO commerce.coupon_batch (tenant_id, template_id, code, quota, claimable, claim_from, claim_until, slot_count, created_at)
    VALUES (p_tenant, v_template, p_code, p_quota, p_claimable, p_claim_from, p_claim_until, v_slots, commerce.now())
    ON CONFLICT (tenant_id, code) DO NOTHING
    RETURNING batch_id INTO v_batch;
    IF v_batch IS NULL THEN
        SELECT * INTO b FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_code;
        IF (b.template_id, b.quota, b.claimable, b.claim_from, b.claim_until, b.slot_count)
           IS DISTINCT FROM (v_template, p_quota, p_claimable, p_claim_from, p_claim_until, v_slots) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon batch "%s" exists with other terms', p_code),
                DETAIL  = format('It has quota %s of template %s.', coalesce(b.quota::text, 'no limit'), b.template_id),
                HINT    = 'Create a batch with a new code.';
        END IF;
        RETURN b.batch_id;
    END IF;
    -- the quota split over the slots: the first slots take the remainder
    INSERT INTO commerce.coupon_slot (tenant_id, batch_id, slot_no, quota)
    SELECT p_tenant, v_batch, s, p_quota / v_slots + CASE WHEN s < p_quota % v_slots THEN 1 ELSE 0 END
      FROM generate_series(0, v_slots - 1) s;
    RETURN v_batch;
END $$;
COMMENT ON FUNCTION commerce.create_coupon_batch(bigint, text, text, bigint, boolean, timestamptz, timestamptz, integer) IS
  'Create a batch of coupons of a template: p_quota coupons (1 to 10^8; NULL: no limit), claimable by customers themselves (p_claimable) between p_claim_from and p_claim_until (NULL: open-ended), or issued only; the quota split over p_slots rows (default one per 50 coupons, at most 16) so that concurrent claims do not queue on one row. The same code again with the same terms returns the batch; with other terms PT409. Returns the batch id.';
CREATE TYPE commerce.coupon_issue_result AS (coupon_id bigint, status text, valid_from timestamptz,
                                              valid_until timestamptz, outcome text);
COMMENT ON TYPE commerce.coupon_issue_result IS
  'The outcome of issuing a coupon: the coupon, its status and validity, and what happened (issued, or existing: the source event had issued it before).';
CREATE FUNCTION commerce.issue_coupon(p_tenant bigint, p_source text, p_source_key text, p_batch text, p_customer text)
RETURNS commerce.coupon_issue_result LANGUAGE plpgsql AS $$
DECLARE b commerce.coupon_batch%ROWTYPE; t commerce.coupon_template%ROWTYPE; c commerce.coupon%ROWTYPE;
        v_customer bigint; v_now timestamptz := commerce.now(); v_issued bigint; v_slot integer; v_start integer;
        v_from timestamptz; v_until timestamptz;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_batch, 'p_batch');
    PERFORM commerce._require(p_customer, 'p_customer');
    IF p_source NOT IN ('claim', 'issue', 'reward', 'redeem', 'flow') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
                                  'A coupon comes from a claim, an issue, a reward, a redemption or a flow.');
    END IF;
    SELECT * INTO b FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_batch;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon batch', p_batch, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO t FROM commerce.coupon_template WHERE tenant_id = p_tenant AND template_id = b.template_id;

    -- the customer's holder row of the template orders its issues; then a repeat finds the first
    INSERT INTO commerce.coupon_holder (tenant_id, template_id, customer_id) VALUES (p_tenant, t.template_id, v_customer)
    ON CONFLICT DO NOTHING;
    SELECT issued INTO v_issued FROM commerce.coupon_holder
     WHERE tenant_id = p_tenant AND template_id = t.template_id AND customer_id = v_customer FOR UPDATE;
    SELECT * INTO c FROM commerce.coupon WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
    IF FOUND THEN
        IF c.customer_id <> v_customer OR c.batch_id <> b.batch_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('%s key "%s" already issued another coupon', p_source, left(p_source_key, 64)),
                DETAIL  = format('It issued coupon %s of batch %s to customer %s.', c.coupon_id, c.batch_id, c.customer_id),
                HINT    = 'Use a new key for a new issue.';
        END IF;
        RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'existing')::commerce.coupon_issue_result;
    END IF;

    IF b.status <> 'open' OR NOT t.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is closed', p_batch),
            DETAIL  = CASE WHEN t.active THEN 'The batch was closed.' ELSE format('Template "%s" was deactivated.', t.code) END,
            HINT    = 'Issue from an open batch.';
    END IF;
    IF p_source = 'claim' AND NOT b.claimable THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('coupon batch "%s" cannot be claimed', p_batch),
            DETAIL  = 'Its coupons are only issued (rewards, flows, redemptions).',
            HINT    = 'Claim from a claimable batch (commerce_api.coupon_batches lists them).';
    END IF;
    IF p_source = 'claim' AND (v_now < b.claim_from OR v_now >= b.claim_until) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is not open for claims', p_batch),
            DETAIL  = format('Claims open %s and close %s.', coalesce(b.claim_from::text, 'at once'), coalesce(b.claim_until::text, 'never')),
            HINT    = 'Claim while the batch is open.';
    END IF;
    v_from := greatest(v_now, coalesce(t.valid_from, v_now));
    v_until := coalesce(t.valid_until, v_now + make_interval(days => t.valid_days));
    IF v_until <= v_now THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupons of template "%s" are no longer valid', t.code),
            DETAIL  = format('They were valid until %s.', t.valid_until),
            HINT    = 'Issue coupons of a template still valid.';
    END IF;
    IF t.per_customer_limit IS NOT NULL AND v_issued >= t.per_customer_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has %s coupons of "%s"', left(p_customer, 64), v_issued, t.code),
            DETAIL  = format('At most %s per customer.', t.per_customer_limit),
            HINT    = 'Each customer may hold only that many of this coupon.';
    END IF;

    -- a slot with coupons left that no other claim holds, from one chosen by the key; else wait for one
    v_start := abs(hashtext(p_source_key)) % b.slot_count;
    SELECT slot_no INTO v_slot FROM commerce.coupon_slot
     WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota)
     ORDER BY (slot_no + b.slot_count - v_start) % b.slot_count
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF v_slot IS NULL THEN
        SELECT slot_no INTO v_slot FROM commerce.coupon_slot
         WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota)
         ORDER BY slot_no LIMIT 1 FOR UPDATE;
    END IF;
    IF v_slot IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is all claimed', p_batch),
            DETAIL  = format('All %s coupons were issued.', b.quota),
            HINT    = 'Nothing was issued; try another batch.';
    END IF;
    UPDATE commerce.coupon_slot SET issued = issued + 1
     WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND slot_no = v_slot;
    UPDATE commerce.coupon_holder SET issued = issued + 1
     WHERE tenant_id = p_tenant AND template_id = t.template_id AND customer_id = v_customer;
    INSERT INTO commerce.coupon (tenant_id, template_id, batch_id, slot_no, customer_id, source, source_key, status,
                                 valid_from, valid_until, issued_at)
    VALUES (p_tenant, t.template_id, b.batch_id, v_slot, v_customer, p_source, p_source_key, 'issued',
            v_from, v_until, v_now)
    RETURNING * INTO c;
    RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'issued')::commerce.coupon_issue_result;
END $$;
COMMENT ON FUNCTION commerce.issue_coupon(bigint, text, text, text, text) IS
  'Issue a coupon of batch p_batch to a customer, exactly once per source event (p_source claim, issue, reward, redeem or flow, and its key: a repeat returns the first coupon, outcome existing; the key of another issue is 23505). Never more than the batch''s quota under any concurrency (PT409 when all are issued, nothing changed), never more than the template''s per-customer limit (PT409); a claim needs a claimable batch (PT403) in its claim window (PT409). Valid from now (or the template''s valid_from) until the template''s valid_until or valid_days after the issue.';
CREATE FUNCTION commerce.close_coupon_batch(p_tenant bigint, p_batch text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_batch, 'p_batch');
    UPDATE commerce.coupon_batch SET status = 'closed' WHERE tenant_id = p_tenant AND code = p_batch;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon batch', p_batch, p_tenant);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.close_coupon_batch(bigint, text) IS
  'Close a batch: nothing more is issued from it (PT409); coupons already issued stay usable.';
CREATE FUNCTION commerce.expire_coupons(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    WITH due AS (
        SELECT tenant_id, coupon_id FROM commerce.coupon
         WHERE status = 'issued' AND valid_until <= v_now
         ORDER BY valid_until LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE commerce.coupon c SET status = 'expired', ended_at = v_now
      FROM due WHERE c.tenant_id = due.tenant_id AND c.coupon_id = due.coupon_id AND c.status = 'issued';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.expire_coupons(integer) IS
  'One batch of the coupons pump: issued coupons whose validity ended expire (a coupon locked by an order at that moment is skipped; released later, the next run expires it). Returns the coupons expired.';
CREATE PROCEDURE commerce.coupons_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.expire_coupons', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.coupons_pump(integer, integer) IS
  'The coupons job (pg_cron, every 10 minutes: commerce-coupons): expires issued coupons past their validity, committed per batch.';
CREATE VIEW commerce_api.coupon_offer AS
SELECT NULL::text AS batch, NULL::text AS template, NULL::text AS name, NULL::text AS kind, NULL::bigint AS amount_fen,
       NULL::integer AS percent_off_bp, NULL::bigint AS max_off_fen, NULL::bigint AS threshold_fen,
       NULL::text AS threshold_yuan, NULL::text AS stacking, NULL::integer AS per_customer_limit,
       NULL::timestamptz AS valid_from, NULL::timestamptz AS valid_until, NULL::integer AS valid_days,
       NULL::bigint AS quota, NULL::bigint AS remaining, NULL::boolean AS claimable, NULL::timestamptz AS claim_from,
       NULL::timestamptz AS claim_until, NULL::text AS status
 WHERE false;
COMMENT ON VIEW commerce_api.coupon_offer IS
  E'@omit all\nA batch of coupons: its template (kind amount: amount_fen off from threshold_fen up; percent: percent_off_bp off, at most max_off_fen), how it stacks, how many one customer may hold, how long a coupon lasts (a window, or valid_days after the claim), how many the batch holds and has left (quota, remaining; NULL: no limit), whether customers claim it themselves and when, and its status (open, closed).';
CREATE FUNCTION commerce._coupon_offers(p_tenant bigint, p_batch text, p_claimable_only boolean)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE sql STABLE AS $$
    SELECT b.code, t.code, t.name, t.kind, t.amount_fen, t.percent_off_bp, t.max_off_fen, t.threshold_fen,
           commerce.yuan(t.threshold_fen), t.stacking, t.per_customer_limit, t.valid_from, t.valid_until, t.valid_days,
           b.quota, b.quota - s.issued, b.claimable, b.claim_from, b.claim_until,
           CASE WHEN b.status = 'open' AND t.active THEN 'open' ELSE 'closed' END
      FROM commerce.coupon_batch b
      JOIN commerce.coupon_template t ON t.tenant_id = b.tenant_id AND t.template_id = b.template_id
      CROSS JOIN LATERAL (SELECT sum(x.issued)::bigint AS issued FROM commerce.coupon_slot x
                           WHERE x.tenant_id = b.tenant_id AND x.batch_id = b.batch_id) s
     WHERE b.tenant_id = p_tenant AND (p_batch IS NULL OR b.code = p_batch)
       AND (NOT p_claimable_only
            OR (b.claimable AND b.status = 'open' AND t.active
                AND (b.claim_from IS NULL OR b.claim_from <= commerce.now())
                AND (b.claim_until IS NULL OR b.claim_until > commerce.now())))
     ORDER BY b.code;
$$;
CREATE FUNCTION commerce_api.coupon_batches(after_batch text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.coupon_batches', '{anonymous,customer,operator,service}');
BEGIN
    PERFORM commerce._api_page(coupon_batches.page_size);
    RETURN QUERY SELECT * FROM commerce._coupon_offers(a.tenant_id, NULL, a.kind IN ('anonymous', 'customer')) o
                  WHERE coupon_batches.after_batch IS NULL OR o.batch > coupon_batches.after_batch
                  LIMIT coupon_batches.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.coupon_batches(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.coupon_batches(text, integer) IS
  'The coupon batches of the tenant (coupon_offer) by batch code: visitors and customers see those they can claim now (open, claimable, in their claim window); HQ operators and services see all. Paged by cursor: after_batch is the last batch of the previous page, page_size 1 to 100 (default 20).';
CREATE VIEW commerce_api.my_coupon AS
SELECT NULL::bigint AS coupon_id, NULL::text AS batch, NULL::text AS name, NULL::text AS kind, NULL::bigint AS amount_fen,
       NULL::text AS amount_yuan, NULL::integer AS percent_off_bp, NULL::bigint AS max_off_fen,
       NULL::bigint AS threshold_fen, NULL::text AS stacking, NULL::text AS status, NULL::timestamptz AS valid_from,
       NULL::timestamptz AS valid_until, NULL::bigint AS order_id, NULL::text AS source, NULL::timestamptz AS issued_at,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.my_coupon IS
  E'@omit all\nA coupon a customer holds: what it takes off (kind amount: amount_fen, amount_yuan the exact string, from threshold_fen up; percent: percent_off_bp, at most max_off_fen), how it stacks, its status (issued: usable in its validity; locked: held by order_id until that order is paid or cancelled; used; expired), validity, where it came from (claim, issue, reward, redeem, flow) and when; outcome after a claim or issue (issued, or existing: that request had issued it before).';
CREATE FUNCTION commerce._my_coupons(p_tenant bigint, p_customer bigint, p_status text, p_before bigint, p_limit integer,
                                     p_coupon bigint, p_outcome text)
RETURNS SETOF commerce_api.my_coupon LANGUAGE sql STABLE AS $$
    SELECT c.coupon_id, b.code, t.name, t.kind, t.amount_fen, commerce.yuan(t.amount_fen), t.percent_off_bp, t.max_off_fen,
           t.threshold_fen, t.stacking, c.status, c.valid_from, c.valid_until, c.order_id, c.source, c.issued_at, p_outcome
      FROM commerce.coupon c
      JOIN commerce.coupon_batch b ON b.tenant_id = c.tenant_id AND b.batch_id = c.batch_id
      JOIN commerce.coupon_template t ON t.tenant_id = c.tenant_id AND t.template_id = c.template_id
     WHERE c.tenant_id = p_tenant AND c.customer_id = p_customer
       AND (p_coupon IS NULL OR c.coupon_id = p_coupon)
       AND (p_status IS NULL OR c.status = p_status)
       AND (p_before IS NULL OR c.coupon_id < p_before)
     ORDER BY c.coupon_id DESC
     LIMIT p_limit;
$$;
CREATE FUNCTION commerce._coupon_customer(a commerce.actor, p_customer text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE v_code text := p_customer; v_id bigint;
BEGIN
    IF a.kind = 'customer' THEN
        v_code := commerce._actor_subject(a, p_customer, 'customer');
    END IF;
    PERFORM commerce._require(v_code, 'customer');
    SELECT customer_id INTO v_id FROM commerce.customer WHERE tenant_id = a.tenant_id AND code = v_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', v_code, a.tenant_id);
    END IF;
    RETURN v_id;
END $$;
CREATE FUNCTION commerce_api.my_coupons(status text DEFAULT NULL, customer text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                        page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.my_coupons', '{customer,store,operator,service}');
        v_customer bigint;
BEGIN
    PERFORM commerce._api_page(my_coupons.page_size);
    IF my_coupons.status IS NOT NULL AND my_coupons.status NOT IN ('issued', 'locked', 'used', 'expired') THEN
        PERFORM commerce._invalid('status', format('"%s"', left(my_coupons.status, 64)),
                                  'A coupon is issued, locked, used or expired; leave status out for all.');
    END IF;
    v_customer := commerce._coupon_customer(a, my_coupons.customer);
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, v_customer, my_coupons.status, my_coupons.before_id,
                                                    my_coupons.page_size, NULL, NULL);
END $$;
REVOKE ALL ON FUNCTION commerce_api.my_coupons(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.my_coupons(text, text, bigint, integer) IS
  'A customer''s coupons newest first (my_coupon), optionally of one status (issued, locked, used, expired): a customer its own; store staff at the counter, operators and services name the customer. Paged by cursor: before_id is the last coupon_id of the previous page, page_size 1 to 100 (default 20).';
CREATE FUNCTION commerce_api.claim_coupon(request_id text, batch text, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.claim_coupon', '{customer,service}');
        v_code text := commerce._actor_subject(a, claim_coupon.customer, 'customer'); r commerce.coupon_issue_result;
BEGIN
    PERFORM commerce._require(v_code, 'customer');
    r := commerce.issue_coupon(a.tenant_id, 'claim', claim_coupon.request_id, claim_coupon.batch, v_code);
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, commerce._coupon_customer(a, v_code), NULL, NULL, 1,
                                                    r.coupon_id, r.outcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.claim_coupon(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.claim_coupon(text, text, text) IS
  'A customer claims a coupon of a claimable batch for itself (a service names the customer), once per request_id (a retry returns the coupon, outcome existing). Never more than the batch holds (PT409: all claimed, nothing changed), never more than the template allows one customer (PT409); PT403 for a batch that is only issued, PT409 outside its claim window. Returns the coupon (my_coupon).';
CREATE FUNCTION commerce_api.issue_coupon(request_id text, batch text, customer text, reason text)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.issue_coupon', '{operator,service}');
        r commerce.coupon_issue_result;
BEGIN
    PERFORM commerce._require(issue_coupon.reason, 'reason');
    r := commerce.issue_coupon(a.tenant_id, 'issue', issue_coupon.request_id, issue_coupon.batch, issue_coupon.customer);
    IF r.outcome = 'issued' THEN
        PERFORM commerce._audit(a.tenant_id, 'issue_coupon', r.coupon_id::text,
                                jsonb_build_object('batch', issue_coupon.batch, 'customer', issue_coupon.customer,
                                                   'reason', left(issue_coupon.reason, 200)), 'issued');
    END IF;
    RETURN QUERY SELECT * FROM commerce._my_coupons(a.tenant_id, commerce._coupon_customer(a, issue_coupon.customer), NULL,
                                                    NULL, 1, r.coupon_id, r.outcome);
END $$;
REVOKE ALL ON FUNCTION commerce_api.issue_coupon(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.issue_coupon(text, text, text, text) IS
  'HQ issues a coupon of a batch (claimable or not) to a customer (goodwill, a campaign) with a reason, audited under the operator; once per request_id; the batch''s quota and the per-customer limit hold (PT409). HQ operators and services. Returns the coupon (my_coupon).';
CREATE FUNCTION commerce_api.create_coupon_template(code text, spec jsonb)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_coupon_template', '{operator,service}');
        v_id bigint;
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    -- an operator limited to some channels defines coupons of those channels only
    IF a.channels IS NOT NULL THEN
        IF jsonb_typeof(create_coupon_template.spec -> 'channels') IS DISTINCT FROM 'array' THEN
            PERFORM commerce._actor_scope(a, NULL, '(every channel)');
        END IF;
        PERFORM commerce._actor_scope(a, NULL, e) FROM jsonb_array_elements_text(create_coupon_template.spec -> 'channels') e;
    END IF;
    v_id := commerce.create_coupon_template(a.tenant_id, create_coupon_template.code, create_coupon_template.spec);
    PERFORM commerce._audit(a.tenant_id, 'create_coupon_template', create_coupon_template.code,
                            jsonb_build_object('spec', create_coupon_template.spec), 'defined');
    RETURN v_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_coupon_template(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_coupon_template(text, jsonb) IS
  'HQ defines a coupon template by code (audited; an operator limited to some channels names channels among them, 42501 otherwise): spec {"name", "kind":"amount"|"percent", "amount_fen" | "percent_off_bp" (+ "max_off_fen"), "threshold_fen", "valid_from"+"valid_until" or "valid_days", "channels", "products", "skus", "stores" (codes), "stacking":"exclusive"|"stackable", "per_customer_limit"}. Terms never change (the same terms again: the same template; other terms: PT409). HQ operators and services. Returns the template id.';
CREATE FUNCTION commerce_api.create_coupon_batch(code text, template text, quota bigint, claimable boolean DEFAULT true,
                                                 claim_from timestamptz DEFAULT NULL, claim_until timestamptz DEFAULT NULL)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_coupon_batch', '{operator,service}');
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    PERFORM commerce.create_coupon_batch(a.tenant_id, create_coupon_batch.template, create_coupon_batch.code,
                                         create_coupon_batch.quota, create_coupon_batch.claimable,
                                         create_coupon_batch.claim_from, create_coupon_batch.claim_until);
    PERFORM commerce._audit(a.tenant_id, 'create_coupon_batch', create_coupon_batch.code,
                            jsonb_build_object('template', create_coupon_batch.template, 'quota', create_coupon_batch.quota,
                                               'claimable', create_coupon_batch.claimable), 'created');
    RETURN QUERY SELECT * FROM commerce._coupon_offers(a.tenant_id, create_coupon_batch.code, false);
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_coupon_batch(text, text, bigint, boolean, timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_coupon_batch(text, text, bigint, boolean, timestamptz, timestamptz) IS
  'HQ creates a batch of a template (audited): quota coupons (NULL: no limit), claimable by customers between claim_from and claim_until, or issued only (claimable false). The same terms again return the batch; other terms PT409. HQ operators and services. Returns the batch (coupon_offer).';
CREATE FUNCTION commerce_hasura.coupon_batches(hasura_session json, after_batch text DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.coupon_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.coupon_batches(coupon_batches.after_batch, coupon_batches.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.coupon_batches(json, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.coupon_batches(json, text, integer) IS
  'Hasura: commerce_api.coupon_batches for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.my_coupons(hasura_session json, status text DEFAULT NULL, customer text DEFAULT NULL,
                                           before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.my_coupon LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.my_coupons(my_coupons.status, my_coupons.customer, my_coupons.before_id,
                                                       my_coupons.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.my_coupons(json, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.my_coupons(json, text, text, bigint, integer) IS
  'Hasura: commerce_api.my_coupons for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE OR REPLACE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row;
    ch commerce.channel;
    v_customer bigint;
    v_tier text;
    v_cart record;
    v_lines jsonb := '[]'::jsonb;
    v_goods bigint := 0;
    v_discount bigint;
    v_shipping bigint;
    v_price commerce.resolved_price;
    v_res commerce.reservation_result;
    v_receiver jsonb;
    v_key text;
    v_coupons bigint[];
    v_alloc jsonb;
    v_coupon_off bigint := 0;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_order, 'p_order');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');

    -- a repeat returns the first order
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;

    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_channel',
            format('Channel "%s" is a platform; its orders arrive through commerce.ingest_platform_order.', p_channel),
            'Place orders on a self-operated channel (wechat_mp, alipay_mp, h5).');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id, member_tier INTO v_customer, v_tier FROM commerce.customer
         WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;

    -- the document: lines, receiver, shipping and discount in fen, source activity
    IF jsonb_typeof(p_order) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'The order is not a JSON object.',
            'Send {"lines":[{"sku":"<code>","qty":<n>}], "receiver":{...}, "shipping_fen":0, "discount_fen":0}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_order) LOOP
        IF v_key NOT IN ('lines', 'receiver', 'shipping_fen', 'discount_fen', 'activity',
                         'source_instance_id', 'coupons') THEN
            PERFORM commerce._invalid('p_order', format('Unknown key "%s".', left(v_key, 64)),
                'An order has lines, receiver, shipping_fen, discount_fen, activity, source_instance_id and coupons.');
        END IF;
    END LOOP;
    IF jsonb_typeof(p_order -> 'lines') IS DISTINCT FROM 'array' THEN
        PERFORM commerce._invalid('p_order', 'lines is missing or not an array.',
                                  'Send "lines":[{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    v_shipping := commerce._fen(p_order -> 'shipping_fen', 'shipping_fen');
    v_discount := commerce._fen(p_order -> 'discount_fen', 'discount_fen');
    v_receiver := coalesce(p_order -> 'receiver', '{}');
    v_coupons := commerce._coupon_list(p_order -> 'coupons');
    IF p_order ? 'source_instance_id' AND jsonb_typeof(p_order -> 'source_instance_id') <> 'null'
       AND (jsonb_typeof(p_order -> 'source_instance_id') <> 'number'
            OR (p_order ->> 'source_instance_id') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'source_instance_id is not a play instance id.',
                                  'Pass the id of the play instance as a JSON integer, or leave it out.');
    END IF;
    IF p_order ? 'activity' AND jsonb_typeof(p_order -> 'activity') NOT IN ('string', 'null') THEN
        PERFORM commerce._invalid('p_order', 'activity is not a string.', 'Pass the activity name, or leave it out.');
    END IF;
    IF jsonb_typeof(v_receiver) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'receiver is not an object.',
            'Send "receiver":{"name":...,"phone":...,"region":...,"city":...,"address":...}.');
    END IF;

    -- the lines, read by the one cart parser (commerce._cart_lines); prices for the
    -- customer's tier on this channel, now
    FOR v_cart IN SELECT * FROM commerce._cart_lines((p_order -> 'lines')::text) LOOP
        v_price := commerce.resolve_price(p_tenant, v_cart.sku, p_channel, v_tier);
        v_goods := v_goods + v_price.price_fen * v_cart.qty;
        v_lines := v_lines || jsonb_build_object('sku', v_cart.sku, 'qty', v_cart.qty,
                                                 'price', v_price.price_fen, 'source', v_price.source,
                                                 'warehouse', coalesce(v_cart.warehouse,
                                                     commerce._pick_warehouse(p_tenant, v_cart.sku, v_cart.qty)));
    END LOOP;
    -- the coupons: locked in id order (a concurrent repeat of this request waits here, then finds its order),
    -- then what each takes off which line
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._lock_coupons(p_tenant, v_coupons);
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        IF FOUND THEN
            RETURN commerce._order_result(o, 'existing');
        END IF;
        SELECT coalesce(jsonb_agg(jsonb_build_object('coupon_id', x.coupon_id, 'line_no', x.line_no, 'amount_fen', x.amount_fen)), '[]'),
               coalesce(sum(x.amount_fen), 0)
          INTO v_alloc, v_coupon_off
          FROM commerce._order_coupons(p_tenant, v_customer, ch.channel_id, v_lines, v_coupons) x;
    END IF;
    IF v_discount + v_coupon_off > v_goods THEN
        PERFORM commerce._invalid('p_order',
            format('discount_fen %s (and %s fen of coupons) exceeds the goods total %s.', v_discount, v_coupon_off, v_goods),
            'A discount cannot exceed the goods total.');
    END IF;

    -- hold the stock (all lines or none; PT409 when short)
    -- the hold's keys are derived from the order's request_id (fixed length)
    v_res := commerce.reserve(p_tenant, 'order:' || md5(p_request_id), 'order:' || md5(p_request_id),
                              jsonb_build_object('lines',
                                  (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                              'sku', l ->> 'sku', 'qty', (l ->> 'qty')::bigint,
                                              'warehouse', l ->> 'warehouse')))
                                     FROM jsonb_array_elements(v_lines) l))::text,
                              NULL, p_order ->> 'activity');

    INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, request_id, customer_id,
                                 receiver_name, receiver_phone, receiver_region, receiver_city,
                                 receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                 status, reservation_id, pay_deadline, source_activity,
                                 source_instance_id, created_at, status_reason)
    VALUES (p_tenant, ch.channel_id, p_request_id, p_request_id, v_customer,
            v_receiver ->> 'name', v_receiver ->> 'phone', v_receiver ->> 'region',
            v_receiver ->> 'city', v_receiver ->> 'address', v_goods, v_discount + v_coupon_off, v_shipping,
            v_goods - v_discount - v_coupon_off + v_shipping, 'pending_payment', v_res.reservation_id,
            v_res.expires_at, p_order ->> 'activity', (p_order ->> 'source_instance_id')::bigint,
            commerce.now(), 'placed')
    ON CONFLICT DO NOTHING
    RETURNING * INTO o;
    IF o.order_id IS NULL THEN   -- a concurrent call with this request_id made it
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        RETURN commerce._order_result(o, 'existing');
    END IF;
    INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                     price_source, amount_fen)
    SELECT p_tenant, o.order_id, n, s.sku_id, (l ->> 'qty')::bigint, (l ->> 'price')::bigint,
           l ->> 'source', (l ->> 'price')::bigint * (l ->> 'qty')::bigint
      FROM jsonb_array_elements(v_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._attach_coupons(p_tenant, o.order_id, v_alloc);
    END IF;
    RETURN commerce._order_result(o, 'placed');
END $$;
COMMENT ON FUNCTION commerce.place_order(bigint, text, text, jsonb, text) IS
  'Place a self-operated order: {"lines":[{"sku","qty"}], "receiver":{name,phone,region,city,address}, "shipping_fen", "discount_fen", "activity", "source_instance_id", "coupons":[coupon ids]}. Resolves prices (channel, member tier of the customer, flash), applies the customer''s coupons (each split over its eligible lines, never below a SKU''s floor, recorded in order_discount and locked to the order; PT404 for a coupon not the customer''s, PT409 for one not usable), holds the stock (15 minutes by default) and creates the order in pending_payment. Idempotent by request_id.';
CREATE FUNCTION commerce._coupon_list(p_coupons jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE v_ids bigint[];
BEGIN
    IF p_coupons IS NULL OR jsonb_typeof(p_coupons) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(p_coupons) <> 'array' OR jsonb_array_length(p_coupons) NOT BETWEEN 1 AND 10
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(p_coupons) e
                   WHERE jsonb_typeof(e) <> 'number' OR (e #>> '{}') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'coupons is not a list of coupon ids.',
                                  'Pass "coupons":[<coupon_id>, ...] (1 to 10 ids as JSON integers), or leave it out.');
    END IF;
    SELECT array_agg(id ORDER BY n) INTO v_ids
      FROM (SELECT (e #>> '{}')::bigint AS id, min(n) AS n
              FROM jsonb_array_elements(p_coupons) WITH ORDINALITY x(e, n) GROUP BY 1) d;
    RETURN v_ids;
END $$;
CREATE FUNCTION commerce._order_coupons(p_tenant bigint, p_customer bigint, p_channel bigint, p_lines jsonb,
                                        p_coupons bigint[])
RETURNS TABLE (coupon_id bigint, line_no integer, amount_fen bigint) LANGUAGE plpgsql AS $$
DECLARE v_amount bigint[]; v_left bigint[]; v_room bigint[]; v_sku bigint[]; v_product bigint[];
        v_id bigint; c commerce.coupon%ROWTYPE; t commerce.coupon_template%ROWTYPE; v_now timestamptz := commerce.now();
        v_w bigint[]; v_cap bigint[]; v_eligible bigint; v_base bigint; v_off bigint; v_alloc bigint[];
        v_templates bigint[] := ARRAY[]::bigint[]; v_status text; v_order bigint;
BEGIN
    IF p_customer IS NULL THEN
        PERFORM commerce._invalid('p_order', 'coupons were given for an order without a customer.',
                                  'Coupons belong to a customer: place the order for the customer who holds them.');
    END IF;
    SELECT array_agg((l ->> 'price')::bigint * (l ->> 'qty')::bigint ORDER BY n),
           array_agg(greatest((l ->> 'price')::bigint - s.floor_fen, 0) * (l ->> 'qty')::bigint ORDER BY n),
           array_agg(s.sku_id ORDER BY n), array_agg(s.product_id ORDER BY n)
      INTO v_amount, v_room, v_sku, v_product
      FROM jsonb_array_elements(p_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    v_left := v_amount;
    FOREACH v_id IN ARRAY p_coupons LOOP
        SELECT * INTO c FROM commerce.coupon x WHERE x.tenant_id = p_tenant AND x.coupon_id = v_id AND x.customer_id = p_customer;
        IF NOT FOUND THEN   -- another customer's coupon is not even named
            PERFORM commerce._not_found('coupon', v_id::text, p_tenant);
        END IF;
        SELECT * INTO t FROM commerce.coupon_template x WHERE x.tenant_id = p_tenant AND x.template_id = c.template_id;
        IF c.status <> 'issued' OR v_now < c.valid_from OR v_now >= c.valid_until THEN
            v_status := CASE WHEN c.status <> 'issued' THEN c.status WHEN v_now < c.valid_from THEN 'not yet valid'
                             ELSE 'past its validity' END;
            v_order := c.order_id;
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s cannot be used: %s', v_id, v_status),
                DETAIL  = CASE WHEN c.status = 'locked' THEN format('Order %s holds it until it is paid or cancelled.', v_order)
                               ELSE format('Valid %s to %s.', c.valid_from, c.valid_until) END,
                HINT    = 'Use a coupon that is issued and valid now (commerce_api.my_coupons lists them).';
        END IF;
        IF t.template_id = ANY (v_templates) OR (cardinality(p_coupons) > 1 AND t.stacking = 'exclusive') THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s cannot be combined with the other coupons of the order', v_id),
                DETAIL  = CASE WHEN t.stacking = 'exclusive' THEN format('"%s" is exclusive: the only coupon of its order.', t.name)
                               ELSE format('Two coupons of "%s".', t.name) END,
                HINT    = 'Use one exclusive coupon, or stackable coupons of different templates.';
        END IF;
        v_templates := v_templates || t.template_id;
        IF t.store_ids IS NOT NULL OR (t.channel_ids IS NOT NULL AND NOT p_channel = ANY (t.channel_ids)) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s is not valid on this channel', v_id),
                DETAIL  = CASE WHEN t.store_ids IS NOT NULL THEN format('"%s" is redeemed at the counter of its stores.', t.name)
                               ELSE format('"%s" is valid on other channels.', t.name) END,
                HINT    = 'Use the coupon where it is valid.';
        END IF;
        -- the eligible lines: weight = what is left of them, cap = what they can give before the floor
        v_w := ARRAY[]::bigint[]; v_cap := ARRAY[]::bigint[]; v_eligible := 0; v_base := 0;
        FOR i IN 1 .. cardinality(v_amount) LOOP
            IF (t.sku_ids IS NULL OR v_sku[i] = ANY (t.sku_ids)) AND (t.product_ids IS NULL OR v_product[i] = ANY (t.product_ids)) THEN
                v_w := v_w || v_left[i]; v_cap := v_cap || v_room[i];
                v_eligible := v_eligible + v_amount[i]; v_base := v_base + v_left[i];
            ELSE
                v_w := v_w || 0::bigint; v_cap := v_cap || 0::bigint;
            END IF;
        END LOOP;
        IF v_eligible = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s applies to none of the order''s lines', v_id),
                DETAIL  = format('"%s" is valid for some products or SKUs only.', t.name),
                HINT    = 'Add a product the coupon is valid for, or use another coupon.';
        END IF;
        IF v_eligible < t.threshold_fen THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s needs %s fen of eligible goods, the order has %s', v_id, t.threshold_fen, v_eligible),
                DETAIL  = format('"%s" takes off only from %s fen (%s yuan) up.', t.name, t.threshold_fen, commerce.yuan(t.threshold_fen)),
                HINT    = format('Add %s fen of eligible goods.', t.threshold_fen - v_eligible);
        END IF;
        v_off := CASE t.kind WHEN 'amount' THEN t.amount_fen
                             ELSE least(commerce.rate_fen(v_base, t.percent_off_bp), coalesce(t.max_off_fen, v_base)) END;
        v_off := least(v_off, (SELECT sum(x) FROM unnest(v_cap) x)::bigint);
        IF v_off = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('coupon %s would take nothing off', v_id),
                DETAIL  = 'The eligible lines are at their SKUs'' floor prices already.',
                HINT    = 'No price may go below its floor; keep the coupon for another order.';
        END IF;
        v_alloc := commerce.allocate_fen(v_off, v_w, v_cap);
        FOR i IN 1 .. cardinality(v_alloc) LOOP
            CONTINUE WHEN v_alloc[i] = 0;
            v_left[i] := v_left[i] - v_alloc[i];
            v_room[i] := v_room[i] - v_alloc[i];
            coupon_id := v_id; line_no := i; amount_fen := v_alloc[i];
            RETURN NEXT;
        END LOOP;
    END LOOP;
END $$;
CREATE FUNCTION commerce._lock_coupons(p_tenant bigint, p_coupons bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM commerce.coupon WHERE tenant_id = p_tenant AND coupon_id = ANY (p_coupons) ORDER BY coupon_id FOR UPDATE;
END $$;
CREATE FUNCTION commerce._attach_coupons(p_tenant bigint, p_order bigint, p_alloc jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.order_discount (tenant_id, order_id, line_no, coupon_id, amount_fen)
    SELECT p_tenant, p_order, (a ->> 'line_no')::integer, (a ->> 'coupon_id')::bigint, (a ->> 'amount_fen')::bigint
      FROM jsonb_array_elements(p_alloc) a;
    UPDATE commerce.coupon SET status = 'locked', order_id = p_order, locked_at = commerce.now()
     WHERE tenant_id = p_tenant AND status = 'issued'
       AND coupon_id IN (SELECT DISTINCT (a ->> 'coupon_id')::bigint FROM jsonb_array_elements(p_alloc) a);
END $$;
CREATE FUNCTION commerce._coupons_on_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._coupons_on_order must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    -- the order's coupons locked in id order, as place_order locks them
    PERFORM 1 FROM commerce.coupon WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status = 'locked'
      ORDER BY coupon_id FOR UPDATE;
    IF NEW.status = 'cancelled' THEN
        UPDATE commerce.coupon SET status = 'issued', order_id = NULL, locked_at = NULL, releases = releases + 1
         WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status = 'locked';
    ELSE
        UPDATE commerce.coupon SET status = 'used', ended_at = commerce.now()
         WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status = 'locked';
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION commerce.check_coupon_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a slot issued exactly the coupons that name it, never more than its quota
    SELECT 'slot issued = its coupons <= quota', format('batch %s slot %s: issued %s, coupons %s, quota %s', s.batch_id,
                                                        s.slot_no, s.issued, coalesce(n.n, 0), coalesce(s.quota::text, '-'))
      FROM commerce.coupon_slot s
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM commerce.coupon c
                          WHERE c.tenant_id = s.tenant_id AND c.batch_id = s.batch_id AND c.slot_no = s.slot_no) n ON true
     WHERE (p_tenant IS NULL OR s.tenant_id = p_tenant)
       AND (s.issued <> coalesce(n.n, 0) OR s.issued > s.quota)
    UNION ALL
    -- a batch's slots hold its quota
    SELECT 'batch quota = slots', format('batch %s: quota %s, slots %s', b.batch_id, b.quota, q.q)
      FROM commerce.coupon_batch b
      CROSS JOIN LATERAL (SELECT sum(quota) AS q FROM commerce.coupon_slot s
                           WHERE s.tenant_id = b.tenant_id AND s.batch_id = b.batch_id) q
     WHERE (p_tenant IS NULL OR b.tenant_id = p_tenant) AND b.quota IS DISTINCT FROM q.q::bigint
    UNION ALL
    -- a customer holds what its counter says, never more than the limit
    SELECT 'holder = its coupons <= limit', format('template %s customer %s: counted %s, coupons %s, limit %s', h.template_id,
                                                   h.customer_id, h.issued, coalesce(n.n, 0), coalesce(t.per_customer_limit::text, '-'))
      FROM commerce.coupon_holder h
      JOIN commerce.coupon_template t ON t.tenant_id = h.tenant_id AND t.template_id = h.template_id
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM commerce.coupon c
                          WHERE c.tenant_id = h.tenant_id AND c.template_id = h.template_id AND c.customer_id = h.customer_id) n ON true
     WHERE (p_tenant IS NULL OR h.tenant_id = p_tenant)
       AND (h.issued <> coalesce(n.n, 0) OR h.issued > t.per_customer_limit)
    UNION ALL
    -- a locked coupon's order awaits payment, a used coupon's order was paid, and both recorded what it took off
    SELECT 'coupon state = its order', format('coupon %s %s, order %s %s', c.coupon_id, c.status, c.order_id, o.status)
      FROM commerce.coupon c
      LEFT JOIN commerce.orders o ON o.tenant_id = c.tenant_id AND o.order_id = c.order_id
     WHERE (p_tenant IS NULL OR c.tenant_id = p_tenant) AND c.status IN ('locked', 'used')
       AND (o.order_id IS NULL OR (c.status = 'locked') <> (o.status = 'pending_payment')
            OR o.status = 'cancelled'
            OR NOT EXISTS (SELECT 1 FROM commerce.order_discount d
                            WHERE d.tenant_id = c.tenant_id AND d.order_id = c.order_id AND d.coupon_id = c.coupon_id))
    UNION ALL
    -- a coupon discount never takes a line below its floor, nor an order's discount below its coupons'
    SELECT 'line discount <= line above floor', format('order %s line %s: %s off, %s above the floor', l.order_id, l.line_no,
                                                       d.off, l.amount_fen - s.floor_fen * l.qty)
      FROM commerce.order_line l
      JOIN (SELECT tenant_id, order_id, line_no, sum(amount_fen) AS off FROM commerce.order_discount
             WHERE p_tenant IS NULL OR tenant_id = p_tenant GROUP BY 1, 2, 3) d
        ON d.tenant_id = l.tenant_id AND d.order_id = l.order_id AND d.line_no = l.line_no
      JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
     WHERE d.off > l.amount_fen - s.floor_fen * l.qty
    UNION ALL
    SELECT 'order discount >= its coupons', format('order %s: discount %s, coupons %s', o.order_id, o.discount_fen, d.off)
      FROM commerce.orders o
      JOIN (SELECT tenant_id, order_id, sum(amount_fen) AS off FROM commerce.order_discount
             WHERE p_tenant IS NULL OR tenant_id = p_tenant GROUP BY 1, 2) d
        ON d.tenant_id = o.tenant_id AND d.order_id = o.order_id
     WHERE o.discount_fen < d.off
    UNION ALL
    -- a paid order used each of its coupons once: no coupon discounts two orders that were paid
    SELECT 'coupon used once', format('coupon %s discounts %s paid orders', d.coupon_id, count(DISTINCT d.order_id))
      FROM commerce.order_discount d
      JOIN commerce.orders o ON o.tenant_id = d.tenant_id AND o.order_id = d.order_id AND o.paid_at IS NOT NULL
     WHERE p_tenant IS NULL OR d.tenant_id = p_tenant
     GROUP BY d.tenant_id, d.coupon_id HAVING count(DISTINCT d.order_id) > 1;
$$;
COMMENT ON FUNCTION commerce.check_coupon_invariants(bigint) IS
  'Every invariant of the coupons (check after stress): each slot issued exactly its coupons and never more than its quota, a batch''s slots hold its quota, each holder counter = its coupons <= the per-customer limit, a locked coupon''s order awaits payment and a used one''s was paid (both with their split), no line discounted below its floor, an order''s discount covers its coupons'', no coupon discounting two paid orders. No rows means all hold.';
DROP FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text);
CREATE FUNCTION commerce_api.place_order(request_id text, channel text, lines jsonb, receiver jsonb DEFAULT NULL,
                                         customer text DEFAULT NULL, coupons bigint[] DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.place_order', '{customer,service}');
        r commerce.order_result;
BEGIN
    r := commerce.place_order(a.tenant_id, place_order.request_id, place_order.channel,
                              jsonb_strip_nulls(jsonb_build_object('lines', place_order.lines, 'receiver', place_order.receiver,
                                                                   'coupons', to_jsonb(place_order.coupons))),
                              commerce._actor_subject(a, place_order.customer, 'customer'));
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[r.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text, bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.place_order(text, text, jsonb, jsonb, text, bigint[]) IS
  'Place an order on a self-operated channel (wechat_mp, alipay_mp, h5): lines [{"sku":"HOODIE-L","qty":1}], receiver {"name","phone","region","city","address"}. Prices are resolved for the customer (its member tier, flash prices now); the stock is held until the pay deadline (15 minutes) and the order awaits payment (pay with pay_intent; the provider''s callback is record_payment). A customer orders as itself (customer left out); a service names the customer. coupons: the ids of the customer''s coupons to use (my_coupons), each split over the lines it applies to, never taking a line below its floor price, and held by the order until it is paid (used) or cancelled (released); PT404 for a coupon that is not the customer''s, PT409 for one that cannot be used (locked by another order, expired, another channel, below its threshold, not combinable), and then nothing is held. No other discount or shipping fee can be set here. Idempotent by request_id. Returns the order (order_summary).';

CREATE TRIGGER after_05_coupons AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (OLD.status = 'pending_payment' AND NEW.status <> 'pending_payment' AND NEW.discount_fen > 0)
    EXECUTE FUNCTION commerce._coupons_on_order();

-- ===========================================================================
-- paid membership (issue 13): customer benefits as data, the birthday, the
-- orders' ship-by deadline, plans, memberships and their periods, monthly
-- gifts, the memberships job; points caps and birthday double points; coupon
-- validity counted in the tenant's calendar
-- ===========================================================================
ALTER TABLE commerce.customer ADD COLUMN birthday date CHECK (birthday BETWEEN '1900-01-01' AND '2100-01-01');
COMMENT ON TABLE commerce.customer IS
  'A buyer of a tenant (identified by a code: a user id of the mini-program or H5 site), its member tier (member prices at checkout) and birthday (set once by the customer: birthday benefits). Its paid membership and other benefits are in customer_benefit.';
CREATE TABLE commerce.customer_benefit (
    tenant_id   bigint NOT NULL,
    benefit_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('member_discount', 'priority_shipping', 'birthday_double_points',
                                              'badge', 'priority_service')),
    rate_bp     integer NOT NULL DEFAULT 0 CHECK (rate_bp BETWEEN 0 AND 10000),
    label       text CHECK (length(label) <= 100),
    source      text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, benefit_id),
    UNIQUE (tenant_id, source, kind),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (valid_from <= valid_until)
);
COMMENT ON TABLE commerce.customer_benefit IS
  'A benefit a customer has from valid_from until valid_until, as data read at the moment of use: member_discount (rate_bp off every price at checkout, never below a SKU''s floor), priority_shipping (paid orders carry a ship-by deadline of 24 hours), birthday_double_points (purchases in the birthday month earn double), badge (label), priority_service (read by customer service). source names what granted it (membership:<id>), one row per source and kind.';
CREATE INDEX customer_benefit_active ON commerce.customer_benefit (tenant_id, customer_id, kind, valid_until);
ALTER TABLE commerce.orders ADD COLUMN ship_by timestamptz;
COMMENT ON COLUMN commerce.orders.ship_by IS 'When a paid order must be shipped by: 24 hours after payment for a customer with priority shipping (a paid membership benefit), else NULL. Fulfilment ships the earliest first.';
CREATE INDEX points_lot_period ON commerce.points_lot (tenant_id, customer_id, source, created_at);
CREATE TABLE commerce.points_cap (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    source     text NOT NULL CHECK (source IN ('interaction', 'task')),
    period     text NOT NULL CHECK (period IN ('day', 'month')),
    max_points bigint NOT NULL CHECK (max_points BETWEEN 1 AND 100000000),
    PRIMARY KEY (tenant_id, source)
);
COMMENT ON TABLE commerce.points_cap IS
  'The most points interactions or tasks earn one customer in a tenant-local day or month (commerce.earn_points earns what is left of it, then nothing).';
CREATE TABLE commerce.membership_plan (
    tenant_id         bigint NOT NULL REFERENCES commerce.tenant,
    plan_id           bigint GENERATED BY DEFAULT AS IDENTITY,
    code              text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    sku_id            bigint NOT NULL,
    months            integer NOT NULL CHECK (months BETWEEN 1 AND 36),
    discount_bp       integer NOT NULL DEFAULT 0 CHECK (discount_bp BETWEEN 0 AND 10000),
    priority_shipping boolean NOT NULL DEFAULT false,
    birthday_double   boolean NOT NULL DEFAULT false,
    priority_service  boolean NOT NULL DEFAULT false,
    badge             text CHECK (length(badge) BETWEEN 1 AND 100),
    gift_batch_id     bigint,
    grace_days        integer NOT NULL DEFAULT 3 CHECK (grace_days BETWEEN 0 AND 30),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plan_id),
    UNIQUE (tenant_id, code),
    UNIQUE (tenant_id, sku_id),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES commerce.sku,
    FOREIGN KEY (tenant_id, gift_batch_id) REFERENCES commerce.coupon_batch
);
COMMENT ON TABLE commerce.membership_plan IS
  'A paid membership plan (monthly 9.9 yuan, yearly 99 yuan, ...): sold as orders of its SKU (a virtual membership_card product, priced like any SKU), each paid order extending the membership by months; its benefits: discount_bp off every price at checkout (500 = pays 95%), priority shipping (24-hour ship-by), double purchase points in the birthday month, priority customer service, a badge, and a monthly gift (one coupon of gift_batch_id per member per month); grace_days past due before it expires.';
CREATE TABLE commerce.membership (
    tenant_id      bigint NOT NULL,
    membership_id  bigint GENERATED BY DEFAULT AS IDENTITY,
    customer_id    bigint NOT NULL,
    plan_id        bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending_payment', 'active', 'past_due', 'cancelled', 'expired')),
    period_end     timestamptz,
    started_at     timestamptz,
    cancelled_at   timestamptz,
    ended_at       timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, membership_id),
    UNIQUE (tenant_id, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, plan_id) REFERENCES commerce.membership_plan,
    CHECK (status NOT IN ('active', 'past_due', 'cancelled') OR period_end IS NOT NULL),
    CHECK (status <> 'pending_payment' OR period_end IS NULL),
    CHECK ((status = 'expired') = (ended_at IS NOT NULL))
);
COMMENT ON TABLE commerce.membership IS
  'A customer''s paid membership (one per customer): pending_payment (bought, not yet paid) -> active (paid through period_end) -> past_due (period over, renewal not paid, within the plan''s grace days) -> expired (or at once without grace days); active or past_due -> cancelled (no renewal; benefits last to period_end) -> expired; a paid renewal makes it active again. Every paid order of the plan''s SKU extends period_end once (membership_period).';
CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.membership
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'pending_payment,active',
        'pending_payment>active', 'pending_payment>expired', 'active>past_due', 'active>cancelled', 'active>expired',
        'past_due>active', 'past_due>cancelled', 'past_due>expired', 'cancelled>active', 'cancelled>expired',
        'expired>pending_payment', 'expired>active');
CREATE INDEX membership_due ON commerce.membership (period_end) WHERE status IN ('active', 'past_due', 'cancelled');
CREATE TABLE commerce.membership_period (
    tenant_id     bigint NOT NULL,
    membership_id bigint NOT NULL,
    order_id      bigint NOT NULL,
    plan_id       bigint NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, order_id),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES commerce.membership,
    FOREIGN KEY (tenant_id, order_id) REFERENCES commerce.orders,
    CHECK (starts_at < ends_at)
);
COMMENT ON TABLE commerce.membership_period IS
  'A period a paid order bought (append-only): once per order (the key), so the same payment posted twice extends once; the periods of a membership follow each other without gaps or overlaps, and the last one ends at its period_end.';
CREATE INDEX membership_period_membership ON commerce.membership_period (tenant_id, membership_id, starts_at);
SELECT commerce._declare_append_only('commerce.membership_period');
CREATE TABLE commerce.membership_gift (
    tenant_id     bigint NOT NULL,
    membership_id bigint NOT NULL,
    month         date NOT NULL CHECK (extract(day FROM month) = 1),
    coupon_id     bigint,
    outcome       text NOT NULL CHECK (outcome IN ('issued', 'batch_closed', 'all_claimed')),
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, membership_id, month),
    FOREIGN KEY (tenant_id, membership_id) REFERENCES commerce.membership,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon,
    CHECK ((outcome = 'issued') = (coupon_id IS NOT NULL))
);
COMMENT ON TABLE commerce.membership_gift IS
  'The monthly gift of a member for a tenant-local month, granted exactly once (the key): the coupon issued, or why none was (the gift batch closed or all claimed).';
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce') AND d.deptype = 'e'
           AND c.relkind IN ('r', 'p', 'S') AND c.relnamespace = 'commerce'::regnamespace
         ORDER BY c.relkind DESC, 1
    LOOP
        EXECUTE format('ALTER EXTENSION commerce DROP %s %s', r.kind, r.rel);
    END LOOP;
END $$;
SELECT commerce._isolate_tenants();
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-memberships', '*/10 * * * *', 'CALL commerce.membership_pump()');
CREATE FUNCTION commerce._benefit_bp(p_tenant bigint, p_customer bigint, p_kind text, p_at timestamptz)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT max(b.rate_bp) FROM commerce.customer_benefit b
                      WHERE b.tenant_id = p_tenant AND b.customer_id = p_customer AND b.kind = p_kind
                        AND b.valid_until > p_at AND b.valid_from <= p_at), 0);
END $$;
CREATE FUNCTION commerce._has_benefit(p_tenant bigint, p_customer bigint, p_kind text, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM commerce.customer_benefit b
                    WHERE b.tenant_id = p_tenant AND b.customer_id = p_customer AND b.kind = p_kind
                      AND b.valid_until > p_at AND b.valid_from <= p_at);
END $$;
CREATE FUNCTION commerce._set_benefit(p_tenant bigint, p_customer bigint, p_kind text, p_rate_bp integer, p_label text,
                                      p_source text, p_from timestamptz, p_until timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commerce.customer_benefit AS b (tenant_id, customer_id, kind, rate_bp, label, source, valid_from, valid_until)
    VALUES (p_tenant, p_customer, p_kind, coalesce(p_rate_bp, 0), p_label, p_source, p_from, greatest(p_from, p_until))
    ON CONFLICT (tenant_id, source, kind) DO UPDATE
       SET rate_bp = EXCLUDED.rate_bp, label = EXCLUDED.label, valid_until = greatest(b.valid_from, EXCLUDED.valid_until);
END $$;
CREATE FUNCTION commerce.set_birthday(p_tenant bigint, p_customer text, p_birthday date, p_correct boolean DEFAULT false)
RETURNS date LANGUAGE plpgsql AS $$
DECLARE v_old date; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_birthday, 'p_birthday');
    IF p_birthday NOT BETWEEN '1900-01-01' AND (commerce.now())::date THEN
        PERFORM commerce._invalid('p_birthday', format('%s', p_birthday), 'A birthday is a past date after 1900.');
    END IF;
    SELECT customer_id, birthday INTO v_id, v_old FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF v_old = p_birthday THEN
        RETURN v_old;
    END IF;
    IF v_old IS NOT NULL AND NOT coalesce(p_correct, false) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has set a birthday already', left(p_customer, 64)),
            DETAIL  = 'A birthday is set once, so that birthday benefits cannot be moved from month to month.',
            HINT    = 'Customer service corrects a wrong birthday (commerce.set_birthday with p_correct).';
    END IF;
    UPDATE commerce.customer SET birthday = p_birthday WHERE tenant_id = p_tenant AND customer_id = v_id;
    RETURN p_birthday;
END $$;
COMMENT ON FUNCTION commerce.set_birthday(bigint, text, date, boolean) IS
  'Set a customer''s birthday (a past date after 1900; 22023 otherwise), once: the same date again is a repeat, another date PT409 unless customer service corrects it (p_correct). Birthday benefits (double points in the birthday month) read it.';
CREATE FUNCTION commerce_api.set_birthday(birthday date, customer text DEFAULT NULL)
RETURNS date LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_birthday', '{customer,operator,service}');
        v_customer text := set_birthday.customer; v_date date;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, set_birthday.customer, 'customer');
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    -- HQ staff (customer service) correct a birthday; a customer and a service set it once
    v_date := commerce.set_birthday(a.tenant_id, v_customer, set_birthday.birthday, a.kind = 'operator');
    IF a.kind = 'operator' THEN
        PERFORM commerce._audit(a.tenant_id, 'set_birthday', v_customer, jsonb_build_object('birthday', v_date), 'corrected');
    END IF;
    RETURN v_date;
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_birthday(date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_birthday(date, text) IS
  'A customer sets its birthday, once (another date later is PT409; a service names the customer); HQ operators correct it (audited). Birthday benefits (double points in the birthday month for members whose plan gives them) read it. Returns the birthday.';
CREATE OR REPLACE FUNCTION commerce.issue_coupon(p_tenant bigint, p_source text, p_source_key text, p_batch text, p_customer text)
RETURNS commerce.coupon_issue_result LANGUAGE plpgsql AS $$
DECLARE b commerce.coupon_batch%ROWTYPE; t commerce.coupon_template%ROWTYPE; c commerce.coupon%ROWTYPE;
        v_customer bigint; v_now timestamptz := commerce.now(); v_issued bigint; v_slot integer; v_start integer;
        v_from timestamptz; v_until timestamptz; v_tz text;
BEGIN
    v_tz := (commerce._tenant(p_tenant)).time_zone;
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_batch, 'p_batch');
    PERFORM commerce._require(p_customer, 'p_customer');
    IF p_source NOT IN ('claim', 'issue', 'reward', 'redeem', 'flow') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
                                  'A coupon comes from a claim, an issue, a reward, a redemption or a flow.');
    END IF;
    SELECT * INTO b FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_batch;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('coupon batch', p_batch, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT * INTO t FROM commerce.coupon_template WHERE tenant_id = p_tenant AND template_id = b.template_id;

    -- the customer's holder row of the template orders its issues; then a repeat finds the first
    INSERT INTO commerce.coupon_holder (tenant_id, template_id, customer_id) VALUES (p_tenant, t.template_id, v_customer)
    ON CONFLICT DO NOTHING;
    SELECT issued INTO v_issued FROM commerce.coupon_holder
     WHERE tenant_id = p_tenant AND template_id = t.template_id AND customer_id = v_customer FOR UPDATE;
    SELECT * INTO c FROM commerce.coupon WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
    IF FOUND THEN
        IF c.customer_id <> v_customer OR c.batch_id <> b.batch_id THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('%s key "%s" already issued another coupon', p_source, left(p_source_key, 64)),
                DETAIL  = format('It issued coupon %s of batch %s to customer %s.', c.coupon_id, c.batch_id, c.customer_id),
                HINT    = 'Use a new key for a new issue.';
        END IF;
        RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'existing')::commerce.coupon_issue_result;
    END IF;

    IF b.status <> 'open' OR NOT t.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is closed', p_batch),
            DETAIL  = CASE WHEN t.active THEN 'The batch was closed.' ELSE format('Template "%s" was deactivated.', t.code) END,
            HINT    = 'Issue from an open batch.';
    END IF;
    IF p_source = 'claim' AND NOT b.claimable THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('coupon batch "%s" cannot be claimed', p_batch),
            DETAIL  = 'Its coupons are only issued (rewards, flows, redemptions).',
            HINT    = 'Claim from a claimable batch (commerce_api.coupon_batches lists them).';
    END IF;
    IF p_source = 'claim' AND (v_now < b.claim_from OR v_now >= b.claim_until) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is not open for claims', p_batch),
            DETAIL  = format('Claims open %s and close %s.', coalesce(b.claim_from::text, 'at once'), coalesce(b.claim_until::text, 'never')),
            HINT    = 'Claim while the batch is open.';
    END IF;
    v_from := greatest(v_now, coalesce(t.valid_from, v_now));
    -- days in the tenant's calendar, whatever the session's time zone
    v_until := coalesce(t.valid_until, ((v_now AT TIME ZONE v_tz) + make_interval(days => t.valid_days)) AT TIME ZONE v_tz);
    IF v_until <= v_now THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupons of template "%s" are no longer valid', t.code),
            DETAIL  = format('They were valid until %s.', t.valid_until),
            HINT    = 'Issue coupons of a template still valid.';
    END IF;
    IF t.per_customer_limit IS NOT NULL AND v_issued >= t.per_customer_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" already has %s coupons of "%s"', left(p_customer, 64), v_issued, t.code),
            DETAIL  = format('At most %s per customer.', t.per_customer_limit),
            HINT    = 'Each customer may hold only that many of this coupon.';
    END IF;

    -- a slot with coupons left that no other claim holds, from one chosen by the key; else wait for one
    v_start := abs(hashtext(p_source_key)) % b.slot_count;
    SELECT slot_no INTO v_slot FROM commerce.coupon_slot
     WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota)
     ORDER BY (slot_no + b.slot_count - v_start) % b.slot_count
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF v_slot IS NULL THEN
        SELECT slot_no INTO v_slot FROM commerce.coupon_slot
         WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND (quota IS NULL OR issued < quota)
         ORDER BY slot_no LIMIT 1 FOR UPDATE;
    END IF;
    IF v_slot IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('coupon batch "%s" is all claimed', p_batch),
            DETAIL  = format('All %s coupons were issued.', b.quota),
            HINT    = 'Nothing was issued; try another batch.';
    END IF;
    UPDATE commerce.coupon_slot SET issued = issued + 1
     WHERE tenant_id = p_tenant AND batch_id = b.batch_id AND slot_no = v_slot;
    UPDATE commerce.coupon_holder SET issued = issued + 1
     WHERE tenant_id = p_tenant AND template_id = t.template_id AND customer_id = v_customer;
    INSERT INTO commerce.coupon (tenant_id, template_id, batch_id, slot_no, customer_id, source, source_key, status,
                                 valid_from, valid_until, issued_at)
    VALUES (p_tenant, t.template_id, b.batch_id, v_slot, v_customer, p_source, p_source_key, 'issued',
            v_from, v_until, v_now)
    RETURNING * INTO c;
    RETURN ROW(c.coupon_id, c.status, c.valid_from, c.valid_until, 'issued')::commerce.coupon_issue_result;
END $$;
ALTER TYPE commerce.orders_row ADD ATTRIBUTE ship_by timestamp with time zone;
CREATE OR REPLACE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row;
    ch commerce.channel;
    v_customer bigint;
    v_tier text;
    v_cart record;
    v_lines jsonb := '[]'::jsonb;
    v_goods bigint := 0;
    v_discount bigint;
    v_shipping bigint;
    v_price commerce.resolved_price;
    v_res commerce.reservation_result;
    v_receiver jsonb;
    v_key text;
    v_coupons bigint[];
    v_alloc jsonb;
    v_coupon_off bigint := 0;
    v_member_bp integer := 0;
    v_sku record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_order, 'p_order');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');

    -- a repeat returns the first order
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;

    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_channel',
            format('Channel "%s" is a platform; its orders arrive through commerce.ingest_platform_order.', p_channel),
            'Place orders on a self-operated channel (wechat_mp, alipay_mp, h5).');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id, member_tier INTO v_customer, v_tier FROM commerce.customer
         WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;

    -- the document: lines, receiver, shipping and discount in fen, source activity
    IF jsonb_typeof(p_order) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'The order is not a JSON object.',
            'Send {"lines":[{"sku":"<code>","qty":<n>}], "receiver":{...}, "shipping_fen":0, "discount_fen":0}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_order) LOOP
        IF v_key NOT IN ('lines', 'receiver', 'shipping_fen', 'discount_fen', 'activity',
                         'source_instance_id', 'coupons') THEN
            PERFORM commerce._invalid('p_order', format('Unknown key "%s".', left(v_key, 64)),
                'An order has lines, receiver, shipping_fen, discount_fen, activity, source_instance_id and coupons.');
        END IF;
    END LOOP;
    IF jsonb_typeof(p_order -> 'lines') IS DISTINCT FROM 'array' THEN
        PERFORM commerce._invalid('p_order', 'lines is missing or not an array.',
                                  'Send "lines":[{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    v_shipping := commerce._fen(p_order -> 'shipping_fen', 'shipping_fen');
    v_discount := commerce._fen(p_order -> 'discount_fen', 'discount_fen');
    v_receiver := coalesce(p_order -> 'receiver', '{}');
    v_coupons := commerce._coupon_list(p_order -> 'coupons');
    IF p_order ? 'source_instance_id' AND jsonb_typeof(p_order -> 'source_instance_id') <> 'null'
       AND (jsonb_typeof(p_order -> 'source_instance_id') <> 'number'
            OR (p_order ->> 'source_instance_id') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'source_instance_id is not a play instance id.',
                                  'Pass the id of the play instance as a JSON integer, or leave it out.');
    END IF;
    IF p_order ? 'activity' AND jsonb_typeof(p_order -> 'activity') NOT IN ('string', 'null') THEN
        PERFORM commerce._invalid('p_order', 'activity is not a string.', 'Pass the activity name, or leave it out.');
    END IF;
    IF jsonb_typeof(v_receiver) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'receiver is not an object.',
            'Send "receiver":{"name":...,"phone":...,"region":...,"city":...,"address":...}.');
    END IF;

    -- the lines, read by the one cart parser (commerce._cart_lines); prices for the
    -- customer's tier on this channel, now, less a paid member's discount (never below the floor)
    IF v_customer IS NOT NULL THEN
        v_member_bp := commerce._benefit_bp(p_tenant, v_customer, 'member_discount', commerce.now());
    END IF;
    FOR v_cart IN SELECT * FROM commerce._cart_lines((p_order -> 'lines')::text) LOOP
        v_price := commerce.resolve_price(p_tenant, v_cart.sku, p_channel, v_tier);
        IF v_member_bp > 0 THEN
            SELECT s.floor_fen, p.virtual_kind INTO v_sku
              FROM commerce.sku s JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
             WHERE s.tenant_id = p_tenant AND s.code = v_cart.sku;
            -- a membership card is not discounted by the membership it buys
            IF v_sku.virtual_kind IS DISTINCT FROM 'membership_card'
               AND v_price.price_fen - commerce.rate_fen(v_price.price_fen, v_member_bp) >= v_sku.floor_fen THEN
                v_price.price_fen := v_price.price_fen - commerce.rate_fen(v_price.price_fen, v_member_bp);
                v_price.source := 'paid_member';
            ELSIF v_sku.virtual_kind IS DISTINCT FROM 'membership_card' AND v_price.price_fen > v_sku.floor_fen THEN
                v_price.price_fen := v_sku.floor_fen;
                v_price.source := 'paid_member';
            END IF;
        END IF;
        v_goods := v_goods + v_price.price_fen * v_cart.qty;
        v_lines := v_lines || jsonb_build_object('sku', v_cart.sku, 'qty', v_cart.qty,
                                                 'price', v_price.price_fen, 'source', v_price.source,
                                                 'warehouse', coalesce(v_cart.warehouse,
                                                     commerce._pick_warehouse(p_tenant, v_cart.sku, v_cart.qty)));
    END LOOP;
    -- the coupons: locked in id order (a concurrent repeat of this request waits here, then finds its order),
    -- then what each takes off which line
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._lock_coupons(p_tenant, v_coupons);
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        IF FOUND THEN
            RETURN commerce._order_result(o, 'existing');
        END IF;
        SELECT coalesce(jsonb_agg(jsonb_build_object('coupon_id', x.coupon_id, 'line_no', x.line_no, 'amount_fen', x.amount_fen)), '[]'),
               coalesce(sum(x.amount_fen), 0)
          INTO v_alloc, v_coupon_off
          FROM commerce._order_coupons(p_tenant, v_customer, ch.channel_id, v_lines, v_coupons) x;
    END IF;
    IF v_discount + v_coupon_off > v_goods THEN
        PERFORM commerce._invalid('p_order',
            format('discount_fen %s (and %s fen of coupons) exceeds the goods total %s.', v_discount, v_coupon_off, v_goods),
            'A discount cannot exceed the goods total.');
    END IF;

    -- hold the stock (all lines or none; PT409 when short)
    -- the hold's keys are derived from the order's request_id (fixed length)
    v_res := commerce.reserve(p_tenant, 'order:' || md5(p_request_id), 'order:' || md5(p_request_id),
                              jsonb_build_object('lines',
                                  (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                              'sku', l ->> 'sku', 'qty', (l ->> 'qty')::bigint,
                                              'warehouse', l ->> 'warehouse')))
                                     FROM jsonb_array_elements(v_lines) l))::text,
                              NULL, p_order ->> 'activity');

    INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, request_id, customer_id,
                                 receiver_name, receiver_phone, receiver_region, receiver_city,
                                 receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                 status, reservation_id, pay_deadline, source_activity,
                                 source_instance_id, created_at, status_reason)
    VALUES (p_tenant, ch.channel_id, p_request_id, p_request_id, v_customer,
            v_receiver ->> 'name', v_receiver ->> 'phone', v_receiver ->> 'region',
            v_receiver ->> 'city', v_receiver ->> 'address', v_goods, v_discount + v_coupon_off, v_shipping,
            v_goods - v_discount - v_coupon_off + v_shipping, 'pending_payment', v_res.reservation_id,
            v_res.expires_at, p_order ->> 'activity', (p_order ->> 'source_instance_id')::bigint,
            commerce.now(), 'placed')
    ON CONFLICT DO NOTHING
    RETURNING * INTO o;
    IF o.order_id IS NULL THEN   -- a concurrent call with this request_id made it
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        RETURN commerce._order_result(o, 'existing');
    END IF;
    INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                     price_source, amount_fen)
    SELECT p_tenant, o.order_id, n, s.sku_id, (l ->> 'qty')::bigint, (l ->> 'price')::bigint,
           l ->> 'source', (l ->> 'price')::bigint * (l ->> 'qty')::bigint
      FROM jsonb_array_elements(v_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._attach_coupons(p_tenant, o.order_id, v_alloc);
    END IF;
    RETURN commerce._order_result(o, 'placed');
END $$;
COMMENT ON FUNCTION commerce.place_order(bigint, text, text, jsonb, text) IS
  'Place a self-operated order: {"lines":[{"sku","qty"}], "receiver":{name,phone,region,city,address}, "shipping_fen", "discount_fen", "activity", "source_instance_id", "coupons":[coupon ids]}. Resolves prices (channel, member tier of the customer, flash; then a paid member''s discount, never below the SKU''s floor and not on membership cards), applies the customer''s coupons (each split over its eligible lines, never below a SKU''s floor, recorded in order_discount and locked to the order; PT404 for a coupon not the customer''s, PT409 for one not usable), holds the stock (15 minutes by default) and creates the order in pending_payment. Idempotent by request_id.';
CREATE OR REPLACE FUNCTION commerce.pay_order(p_tenant bigint, p_order bigint, p_payment_id text,
                                   p_amount_fen bigint)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; ch commerce.channel;
BEGIN
    PERFORM commerce._require(p_payment_id, 'p_payment_id');
    PERFORM commerce._require(p_amount_fen, 'p_amount_fen');
    o := commerce._lock_order(p_tenant, p_order);
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND channel_id = o.channel_id;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_order', format('Order %s is a %s platform order.', p_order, ch.code),
                                  'Platform orders are paid on the platform; ingest their payloads instead.');
    END IF;
    -- a retry of the payment that paid it
    IF o.payment_id = p_payment_id THEN
        RETURN commerce._order_result(o, 'already_paid');
    END IF;
    IF p_amount_fen <> o.payable_fen THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('payment amount %s fen does not match order %s', p_amount_fen, p_order),
            DETAIL  = format('The order is payable %s fen.', o.payable_fen),
            HINT    = 'Charge exactly the payable amount; nothing was changed.';
    END IF;
    IF o.status = 'pending_payment' AND o.pay_deadline > commerce.now() THEN
        PERFORM commerce.confirm_reservation(p_tenant, o.reservation_id, 'pay:' || p_payment_id);
        UPDATE commerce.orders SET status = 'paid', payment_id = p_payment_id, paid_fen = p_amount_fen,
               status_reason = 'paid: ' || p_payment_id,
               ship_by = CASE WHEN o.customer_id IS NOT NULL
                               AND commerce._has_benefit(p_tenant, o.customer_id, 'priority_shipping', commerce.now())
                              THEN commerce.now() + interval '24 hours' END
         WHERE tenant_id = p_tenant AND order_id = p_order
        RETURNING * INTO o;
        RETURN commerce._order_result(o, 'paid');
    END IF;
    IF o.status = 'pending_payment' THEN
        -- the deadline passed: the hold is gone; cancel now, refund the payment
        PERFORM commerce._cancel(o, 'unpaid at the deadline; payment ' || p_payment_id || ' arrived late');
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order;
    END IF;
    PERFORM commerce._payment_exception(o, p_payment_id, p_amount_fen,
        CASE WHEN o.status = 'cancelled' THEN 'after_cancel' ELSE 'duplicate' END);
    RETURN commerce._order_result(o, 'refund_pending');
END $$;
CREATE OR REPLACE VIEW commerce_api.order_summary AS
SELECT NULL::bigint AS order_id, NULL::text AS channel, NULL::text AS external_order_id, NULL::text AS customer,
       NULL::commerce.order_status AS status, NULL::bigint AS goods_fen, NULL::bigint AS discount_fen,
       NULL::bigint AS shipping_fen, NULL::bigint AS payable_fen, NULL::text AS payable_yuan, NULL::bigint AS paid_fen,
       NULL::bigint AS refunded_fen, NULL::timestamptz AS pay_deadline, NULL::text AS activity, NULL::bigint AS group_id,
       NULL::jsonb AS lines, NULL::timestamptz AS created_at, NULL::timestamptz AS paid_at,
       NULL::timestamptz AS shipped_at, NULL::timestamptz AS completed_at, NULL::timestamptz AS cancelled_at,
       NULL::timestamptz AS ship_by
 WHERE false;
COMMENT ON VIEW commerce_api.order_summary IS
  E'@omit all\nAn order as the API shows it: id, channel, the platform''s order number, the customer''s code, status (order_status: pending_payment, paid, shipped, completed, cancelled, after_sale, refunded), amounts in fen (payable_yuan the exact yuan string), the pay deadline of an unpaid order, the play activity and group it came from, its lines ([{sku, name, qty, unit_price_fen, price_source, amount_fen, coupon_fen}]: coupon_fen is what its coupons took off the line) and when it was placed, paid, shipped, completed or cancelled; ship_by, for a paid member''s priority shipping, when it must be shipped. The receiver is read with order_contact.';
CREATE OR REPLACE FUNCTION commerce._order_summary(p_tenant bigint, p_orders bigint[]) RETURNS SETOF commerce_api.order_summary
LANGUAGE sql STABLE AS $$
    SELECT o.order_id, ch.code, o.external_order_id, cu.code, o.status, o.goods_fen, o.discount_fen, o.shipping_fen,
           o.payable_fen, commerce.yuan(o.payable_fen), o.paid_fen, o.refunded_fen,
           CASE WHEN o.status = 'pending_payment' THEN o.pay_deadline END, o.source_activity, o.source_instance_id,
           (SELECT jsonb_agg(jsonb_build_object('sku', s.code, 'name', s.name, 'qty', l.qty,
                                                'unit_price_fen', l.unit_price_fen, 'price_source', l.price_source,
                                                'amount_fen', l.amount_fen,
                                                'coupon_fen', (SELECT coalesce(sum(d.amount_fen), 0) FROM commerce.order_discount d
                                                                WHERE d.tenant_id = l.tenant_id AND d.order_id = l.order_id
                                                                  AND d.line_no = l.line_no))
                             ORDER BY l.line_no)
              FROM commerce.order_line l JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
             WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id),
           o.created_at, o.paid_at, o.shipped_at, o.completed_at, o.cancelled_at, o.ship_by
      FROM commerce.orders o
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
     WHERE o.tenant_id = p_tenant AND o.order_id = ANY (p_orders)
     ORDER BY o.order_id DESC;
$$;
CREATE TYPE commerce.membership_row AS (
    tenant_id bigint, membership_id bigint, customer_id bigint, plan_id bigint, status text,
    period_end timestamp with time zone, started_at timestamp with time zone, cancelled_at timestamp with time zone,
    ended_at timestamp with time zone, created_at timestamp with time zone, updated_at timestamp with time zone
);
COMMENT ON TYPE commerce.membership_row IS 'A row of commerce.membership (same columns, same order), as functions take and return it.';
CREATE OR REPLACE FUNCTION commerce.earn_points(p_tenant bigint, p_source text, p_source_key text, p_customer text,
                                     p_points bigint, p_reason text, p_pending_days integer DEFAULT 0,
                                     p_expire_days integer DEFAULT 365)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; v_lot bigint; c commerce.points_cap%ROWTYPE; v_since timestamptz; v_so_far bigint;
        v_points bigint := p_points;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_reason, 'p_reason');
    PERFORM commerce._require(p_pending_days, 'p_pending_days');
    PERFORM commerce._require(p_expire_days, 'p_expire_days');
    IF p_source NOT IN ('grant', 'interaction', 'checkin', 'task') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
            'Grant points for a grant, interaction, checkin or task; purchases earn by their channel''s rule.');
    END IF;
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'Grant 1 to 100000000 points at a time.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_reason', format('%s characters', length(p_reason)), 'Give a reason of 1 to 200 characters.');
    END IF;
    IF p_pending_days NOT BETWEEN 0 AND 365 OR p_expire_days NOT BETWEEN 1 AND 3650 THEN
        PERFORM commerce._invalid('p_expire_days', format('pending %s days, lasting %s days', p_pending_days, p_expire_days),
                                  'Pending 0 to 365 days; lasting 1 to 3650 days.');
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    -- under the account lock: a repeat returns its lot; a capped source earns what is left of its period's cap
    PERFORM commerce._lock_points_account(p_tenant, v_customer);
    SELECT lot_id INTO v_lot FROM commerce.points_lot WHERE tenant_id = p_tenant AND source = p_source AND source_key = p_source_key;
    IF FOUND THEN
        RETURN v_lot;
    END IF;
    SELECT * INTO c FROM commerce.points_cap WHERE tenant_id = p_tenant AND source = p_source;
    IF FOUND THEN
        SELECT (date_trunc(c.period, commerce.now() AT TIME ZONE t.time_zone) AT TIME ZONE t.time_zone) INTO v_since
          FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
        SELECT coalesce(sum(points), 0) INTO v_so_far FROM commerce.points_lot
         WHERE tenant_id = p_tenant AND customer_id = v_customer AND source = p_source AND created_at >= v_since;
        v_points := least(p_points, c.max_points - v_so_far);
        IF v_points <= 0 THEN
            RETURN NULL;   -- the cap of this period is reached: nothing earned
        END IF;
    END IF;
    RETURN commerce._earn_points(p_tenant, v_customer, p_source, p_source_key, v_points,
                                 make_interval(days => p_pending_days), make_interval(days => p_expire_days),
                                 NULL, NULL, p_reason);
END $$;
COMMENT ON FUNCTION commerce.earn_points(bigint, text, text, text, bigint, text, integer, integer) IS
  'Grant a customer points once per source event (K17, PR10): a grant, interaction, checkin or task with its key (a second call with the same source and key returns the first lot and grants nothing), pending for p_pending_days, then available for p_expire_days. Interactions and tasks earn at most their tenant''s cap per tenant-local day or month (commerce.set_points_cap): what is left of it, NULL (nothing earned) once it is reached. Returns the lot.';
CREATE FUNCTION commerce.set_points_cap(p_tenant bigint, p_source text, p_period text, p_max_points bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._require(p_period, 'p_period');
    IF p_source NOT IN ('interaction', 'task') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)),
                                  'Caps apply to interaction and task points (check-ins are once a day, purchases by their rule).');
    END IF;
    IF p_period NOT IN ('day', 'month') THEN
        PERFORM commerce._invalid('p_period', format('"%s"', left(p_period, 64)), 'A cap is per tenant-local day or month.');
    END IF;
    IF p_max_points IS NULL THEN
        DELETE FROM commerce.points_cap WHERE tenant_id = p_tenant AND source = p_source;
        RETURN;
    END IF;
    IF p_max_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_max_points', format('%s points', p_max_points), 'A cap is 1 to 100000000 points, or NULL for none.');
    END IF;
    INSERT INTO commerce.points_cap (tenant_id, source, period, max_points) VALUES (p_tenant, p_source, p_period, p_max_points)
    ON CONFLICT (tenant_id, source) DO UPDATE SET period = EXCLUDED.period, max_points = EXCLUDED.max_points;
END $$;
COMMENT ON FUNCTION commerce.set_points_cap(bigint, text, text, bigint) IS
  'Cap the points interactions or tasks earn one customer per tenant-local day or month (p_max_points 1 to 10^8; NULL removes the cap): an earn past the cap earns what is left of it, then nothing (the unlimited-points exploit closed).';
CREATE OR REPLACE FUNCTION commerce._points_on_order() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row; r commerce.points_rule%ROWTYPE; v_base bigint; v_points bigint;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' THEN
        RAISE EXCEPTION 'commerce._points_on_order must fire AFTER ... FOR EACH ROW';
    END IF;
    o := NEW;
    IF o.customer_id IS NULL THEN
        RETURN NULL;      -- a platform buyer not yet known as a customer earns nothing
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.refunded_fen > OLD.refunded_fen THEN
        PERFORM commerce._reverse_purchase_points(o);
    END IF;
    SELECT * INTO r FROM commerce.points_rule WHERE tenant_id = o.tenant_id AND channel_id = o.channel_id;
    IF NOT FOUND OR r.points_per_yuan = 0 OR o.paid_at IS NULL THEN
        RETURN NULL;
    END IF;
    IF (r.earn_on = 'paid' AND (TG_OP = 'INSERT' OR OLD.paid_at IS NULL))
       OR (r.earn_on = 'completed' AND o.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status <> 'completed')) THEN
        v_base := coalesce(o.paid_fen, 0) - o.refunded_fen;
        v_points := v_base * r.points_per_yuan / 100;     -- floor: 1 point per whole yuan at 1 point a yuan
        -- a member with birthday double points earns double in its (tenant-local) birthday month
        IF commerce._has_benefit(o.tenant_id, o.customer_id, 'birthday_double_points', commerce.now())
           AND EXISTS (SELECT 1 FROM commerce.customer cu JOIN commerce.tenant t ON t.tenant_id = cu.tenant_id
                        WHERE cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
                          AND extract(month FROM cu.birthday) = extract(month FROM commerce.now() AT TIME ZONE t.time_zone)) THEN
            v_points := v_points * 2;
        END IF;
        IF v_points > 0 THEN
            PERFORM commerce._earn_points(o.tenant_id, o.customer_id, 'purchase', o.order_id::text, v_points,
                                          make_interval(days => r.pending_days), make_interval(days => r.expire_days),
                                          o.order_id, v_base, format('order %s', o.order_id));
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION commerce.upsert_membership_plan(p_tenant bigint, p_code text, p_name text, p_sku text, p_months integer,
                                                p_discount_bp integer DEFAULT 0, p_benefits jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_sku bigint; v_kind text; v_gift bigint; v_id bigint; v_key text; v_grace integer; v_old bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_sku, 'p_sku');
    PERFORM commerce._require(p_months, 'p_months');
    PERFORM commerce._require(p_discount_bp, 'p_discount_bp');
    PERFORM commerce._require(p_benefits, 'p_benefits');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF length(p_name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_name', 'The name is empty or longer than 200 characters.', 'Name the plan as customers see it.');
    END IF;
    SELECT s.sku_id, p.virtual_kind INTO v_sku, v_kind
      FROM commerce.sku s JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
     WHERE s.tenant_id = p_tenant AND s.code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('sku', p_sku, p_tenant);
    END IF;
    IF v_kind IS DISTINCT FROM 'membership_card' THEN
        PERFORM commerce._invalid('p_sku', format('SKU "%s" is not a membership card.', left(p_sku, 64)),
            'Sell a plan as a SKU of a virtual product of kind membership_card (commerce.upsert_product).');
    END IF;
    IF p_months NOT BETWEEN 1 AND 36 THEN
        PERFORM commerce._invalid('p_months', format('%s months', p_months), 'A paid period is 1 to 36 months.');
    END IF;
    IF p_discount_bp NOT BETWEEN 0 AND 5000 THEN
        PERFORM commerce._invalid('p_discount_bp', format('%s bp', p_discount_bp), 'A member discount is 0 to 5000 bp (500 = members pay 95%).');
    END IF;
    IF jsonb_typeof(p_benefits) <> 'object' THEN
        PERFORM commerce._invalid('p_benefits', 'The benefits are not a JSON object.',
            'Send {"priority_shipping":true, "birthday_double":true, "priority_service":true, "badge":"...", "gift_batch":"<coupon batch>", "grace_days":3}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_benefits) LOOP
        IF v_key NOT IN ('priority_shipping', 'birthday_double', 'priority_service', 'badge', 'gift_batch', 'grace_days') THEN
            PERFORM commerce._invalid('p_benefits', format('Unknown key "%s".', left(v_key, 64)),
                'Benefits are priority_shipping, birthday_double, priority_service, badge, gift_batch and grace_days.');
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM jsonb_each(p_benefits) e
                WHERE e.key IN ('priority_shipping', 'birthday_double', 'priority_service') AND jsonb_typeof(e.value) <> 'boolean')
       OR (p_benefits ? 'badge' AND (jsonb_typeof(p_benefits -> 'badge') <> 'string'
                                     OR length(p_benefits ->> 'badge') NOT BETWEEN 1 AND 100)) THEN
        PERFORM commerce._invalid('p_benefits', 'priority_shipping, birthday_double and priority_service are true or false; badge a name of 1 to 100 characters.',
                                  'Fix the benefit values.');
    END IF;
    v_grace := coalesce(commerce._json_int(p_benefits -> 'grace_days', 'grace_days', 0, 30), 3);
    IF p_benefits ? 'gift_batch' THEN
        SELECT batch_id INTO v_gift FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_benefits ->> 'gift_batch';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('coupon batch', p_benefits ->> 'gift_batch', p_tenant);
        END IF;
    END IF;
    SELECT plan_id INTO v_old FROM commerce.membership_plan WHERE tenant_id = p_tenant AND sku_id = v_sku AND code <> p_code;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('SKU "%s" already sells another plan', left(p_sku, 64)),
            DETAIL  = format('Plan %s is sold as that SKU.', v_old),
            HINT    = 'Give each plan its own membership card SKU.';
    END IF;
    INSERT INTO commerce.membership_plan AS m (tenant_id, code, name, sku_id, months, discount_bp, priority_shipping,
                                               birthday_double, priority_service, badge, gift_batch_id, grace_days, created_at)
    VALUES (p_tenant, p_code, p_name, v_sku, p_months, p_discount_bp,
            coalesce((p_benefits ->> 'priority_shipping')::boolean, false), coalesce((p_benefits ->> 'birthday_double')::boolean, false),
            coalesce((p_benefits ->> 'priority_service')::boolean, false), p_benefits ->> 'badge', v_gift, v_grace, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, sku_id = EXCLUDED.sku_id, months = EXCLUDED.months, discount_bp = EXCLUDED.discount_bp,
           priority_shipping = EXCLUDED.priority_shipping, birthday_double = EXCLUDED.birthday_double,
           priority_service = EXCLUDED.priority_service, badge = EXCLUDED.badge, gift_batch_id = EXCLUDED.gift_batch_id,
           grace_days = EXCLUDED.grace_days
    RETURNING plan_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_membership_plan(bigint, text, text, text, integer, integer, jsonb) IS
  'Create or change a paid membership plan by code: sold as p_sku (a SKU of a virtual membership_card product, priced like any SKU: 990 fen a month, 9900 a year), each paid order extending the membership by p_months (1 to 36); p_discount_bp off every price at checkout (0 to 5000); p_benefits {"priority_shipping", "birthday_double", "priority_service" (booleans), "badge", "gift_batch" (a coupon batch: one coupon a month), "grace_days" (past due before expiry, default 3)}. A change applies from the next paid period. Returns the plan id.';
CREATE FUNCTION commerce._lock_membership(p_tenant bigint, p_customer bigint) RETURNS commerce.membership_row
LANGUAGE plpgsql AS $$
DECLARE m commerce.membership_row;
BEGIN
    SELECT * INTO m FROM commerce.membership WHERE tenant_id = p_tenant AND customer_id = p_customer FOR UPDATE;
    RETURN m;
END $$;
CREATE FUNCTION commerce.buy_membership(p_tenant bigint, p_request_id text, p_customer text, p_plan text, p_channel text)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE p commerce.membership_plan%ROWTYPE; m commerce.membership_row; v_customer bigint; v_sku text; v_now timestamptz := commerce.now();
        v_plan text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_plan, 'p_plan');
    PERFORM commerce._require(p_channel, 'p_channel');
    SELECT * INTO p FROM commerce.membership_plan WHERE tenant_id = p_tenant AND code = p_plan;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('membership plan', p_plan, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    SELECT code INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND sku_id = p.sku_id;
    m := commerce._lock_membership(p_tenant, v_customer);
    -- a repeat of the request returns its order
    IF EXISTS (SELECT 1 FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = 'membership:' || p_request_id) THEN
        RETURN commerce.place_order(p_tenant, 'membership:' || p_request_id, p_channel,
                                    jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', v_sku, 'qty', 1))), p_customer);
    END IF;
    IF NOT p.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('membership plan "%s" is no longer sold', p_plan),
            HINT    = 'Buy a plan that is sold (commerce_api.membership_plans).';
    END IF;
    IF m.membership_id IS NOT NULL AND m.plan_id <> p.plan_id AND m.status IN ('active', 'past_due', 'cancelled') THEN
        SELECT code INTO v_plan FROM commerce.membership_plan WHERE tenant_id = p_tenant AND plan_id = m.plan_id;
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" is a member of plan "%s"', left(p_customer, 64), v_plan),
            DETAIL  = format('The membership is %s until %s.', m.status, m.period_end),
            HINT    = 'Renew the same plan, or buy another once this one has expired.';
    END IF;
    IF m.membership_id IS NULL THEN
        INSERT INTO commerce.membership (tenant_id, customer_id, plan_id, status, created_at, updated_at)
        VALUES (p_tenant, v_customer, p.plan_id, 'pending_payment', v_now, v_now);
    ELSIF m.status = 'expired' THEN
        UPDATE commerce.membership SET status = 'pending_payment', plan_id = p.plan_id, period_end = NULL, ended_at = NULL,
               cancelled_at = NULL, updated_at = v_now
         WHERE tenant_id = p_tenant AND membership_id = m.membership_id;
    ELSIF m.status = 'pending_payment' THEN
        UPDATE commerce.membership SET plan_id = p.plan_id, updated_at = v_now
         WHERE tenant_id = p_tenant AND membership_id = m.membership_id;
    END IF;
    RETURN commerce.place_order(p_tenant, 'membership:' || p_request_id, p_channel,
                                jsonb_build_object('lines', jsonb_build_array(jsonb_build_object('sku', v_sku, 'qty', 1))),
                                p_customer);
END $$;
COMMENT ON FUNCTION commerce.buy_membership(bigint, text, text, text, text) IS
  'Buy or renew a paid membership: an order of the plan''s SKU on p_channel awaiting payment (once per request_id: a repeat returns the order); the membership is pending_payment until it is paid (a new member) or stays as it is (a renewal). Paying it extends the membership once by the plan''s months from its current end (or now). PT409 for a plan no longer sold or while a membership of another plan lasts.';
CREATE FUNCTION commerce._membership_paid(o commerce.orders_row) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE p commerce.membership_plan%ROWTYPE; m commerce.membership_row; v_qty bigint; v_now timestamptz := commerce.now();
        v_start timestamptz; v_end timestamptz; v_source text; v_plan bigint;
BEGIN
    SELECT pl.plan_id, x.qty INTO v_plan, v_qty
      FROM (SELECT l.sku_id, sum(l.qty) AS qty FROM commerce.order_line l
             WHERE l.tenant_id = o.tenant_id AND l.order_id = o.order_id GROUP BY l.sku_id) x
      JOIN commerce.membership_plan pl ON pl.tenant_id = o.tenant_id AND pl.sku_id = x.sku_id
     ORDER BY pl.plan_id LIMIT 1;
    IF v_plan IS NULL OR o.customer_id IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO p FROM commerce.membership_plan WHERE tenant_id = o.tenant_id AND plan_id = v_plan;
    m := commerce._lock_membership(o.tenant_id, o.customer_id);
    IF m.membership_id IS NULL THEN   -- the SKU was ordered directly: the membership starts with its payment
        INSERT INTO commerce.membership (tenant_id, customer_id, plan_id, status, created_at, updated_at)
        VALUES (o.tenant_id, o.customer_id, p.plan_id, 'pending_payment', v_now, v_now);
        m := commerce._lock_membership(o.tenant_id, o.customer_id);
    ELSIF m.plan_id <> p.plan_id AND m.status IN ('active', 'past_due', 'cancelled') THEN
        -- another plan's card bought outside buy_membership while a membership lasts: it extends the current plan
        SELECT * INTO p FROM commerce.membership_plan WHERE tenant_id = o.tenant_id AND plan_id = m.plan_id;
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.membership_period WHERE tenant_id = o.tenant_id AND order_id = o.order_id) THEN
        RETURN;   -- this order extended it already: once per payment
    END IF;
    v_start := CASE WHEN m.status IN ('active', 'cancelled') THEN greatest(m.period_end, v_now) ELSE v_now END;
    -- months in the tenant's calendar, whatever the session's time zone: paid at 10:00 on the 1st, valid to 10:00 on the 1st
    SELECT ((v_start AT TIME ZONE t.time_zone) + make_interval(months => (p.months * v_qty)::integer)) AT TIME ZONE t.time_zone
      INTO v_end FROM commerce.tenant t WHERE t.tenant_id = o.tenant_id;
    INSERT INTO commerce.membership_period (tenant_id, membership_id, order_id, plan_id, starts_at, ends_at, created_at)
    VALUES (o.tenant_id, m.membership_id, o.order_id, p.plan_id, v_start, v_end, v_now);
    UPDATE commerce.membership
       SET status = 'active', plan_id = p.plan_id, period_end = v_end, started_at = coalesce(started_at, v_now),
           cancelled_at = NULL, ended_at = NULL, updated_at = v_now
     WHERE tenant_id = o.tenant_id AND membership_id = m.membership_id;
    -- the benefits, to the new end
    v_source := 'membership:' || m.membership_id;
    UPDATE commerce.customer_benefit SET valid_until = valid_from
     WHERE tenant_id = o.tenant_id AND source = v_source AND valid_until > v_now;   -- a changed plan drops what it no longer gives
    IF p.discount_bp > 0 THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'member_discount', p.discount_bp, p.name, v_source, v_now, v_end);
    END IF;
    IF p.priority_shipping THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'priority_shipping', 0, p.name, v_source, v_now, v_end);
    END IF;
    IF p.birthday_double THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'birthday_double_points', 0, p.name, v_source, v_now, v_end);
    END IF;
    IF p.priority_service THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'priority_service', 0, p.name, v_source, v_now, v_end);
    END IF;
    IF p.badge IS NOT NULL THEN
        PERFORM commerce._set_benefit(o.tenant_id, o.customer_id, 'badge', 0, p.badge, v_source, v_now, v_end);
    END IF;
END $$;
CREATE FUNCTION commerce._membership_on_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE o commerce.orders_row;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._membership_on_order must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    o := NEW;
    IF o.paid_at IS NOT NULL THEN
        PERFORM commerce._membership_paid(o);
    ELSIF o.status = 'cancelled' AND o.customer_id IS NOT NULL THEN
        UPDATE commerce.membership m SET status = 'expired', ended_at = commerce.now(), updated_at = commerce.now()
         WHERE m.tenant_id = o.tenant_id AND m.customer_id = o.customer_id AND m.status = 'pending_payment'
           AND NOT EXISTS (SELECT 1 FROM commerce.orders x
                             JOIN commerce.order_line l ON l.tenant_id = x.tenant_id AND l.order_id = x.order_id
                             JOIN commerce.membership_plan p ON p.tenant_id = l.tenant_id AND p.sku_id = l.sku_id
                            WHERE x.tenant_id = o.tenant_id AND x.customer_id = o.customer_id AND x.status = 'pending_payment');
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION commerce.cancel_membership(p_tenant bigint, p_customer text) RETURNS commerce.membership_row
LANGUAGE plpgsql AS $$
DECLARE m commerce.membership_row; v_customer bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    m := commerce._lock_membership(p_tenant, v_customer);
    IF m.membership_id IS NULL OR m.status NOT IN ('active', 'past_due', 'cancelled') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('customer "%s" has no membership to cancel', left(p_customer, 64)),
            DETAIL  = format('Its membership is %s.', coalesce(m.status, 'none')),
            HINT    = 'An unpaid membership ends when its order is cancelled or times out.';
    END IF;
    IF m.status <> 'cancelled' THEN
        UPDATE commerce.membership SET status = 'cancelled', cancelled_at = commerce.now(), updated_at = commerce.now()
         WHERE tenant_id = p_tenant AND membership_id = m.membership_id RETURNING * INTO m;
    END IF;
    RETURN m;
END $$;
COMMENT ON FUNCTION commerce.cancel_membership(bigint, text) IS
  'A customer stops its paid membership: cancelled, its benefits last to the end of the paid period, then it expires (a repeat returns it; PT409 without a paid membership). A renewal paid before the end makes it active again.';
CREATE FUNCTION commerce.expire_memberships(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR r IN SELECT m.tenant_id, m.membership_id, m.status, m.period_end, p.grace_days
               FROM commerce.membership m JOIN commerce.membership_plan p ON p.tenant_id = m.tenant_id AND p.plan_id = m.plan_id
              WHERE m.status IN ('active', 'past_due', 'cancelled') AND m.period_end <= v_now
                AND (m.status <> 'past_due' OR m.period_end + make_interval(days => p.grace_days) <= v_now)
              ORDER BY m.period_end LIMIT p_limit FOR UPDATE OF m SKIP LOCKED LOOP
        UPDATE commerce.membership
           SET status = CASE WHEN r.status = 'active' AND r.grace_days > 0
                                  AND r.period_end + make_interval(days => r.grace_days) > v_now THEN 'past_due'
                             ELSE 'expired' END,
               ended_at = CASE WHEN r.status = 'active' AND r.grace_days > 0
                                    AND r.period_end + make_interval(days => r.grace_days) > v_now THEN NULL
                               ELSE v_now END,
               updated_at = v_now
         WHERE tenant_id = r.tenant_id AND membership_id = r.membership_id;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.expire_memberships(integer) IS
  'One batch of the membership pump: an active membership past its end becomes past_due (renewal not paid, within the plan''s grace days; no benefits meanwhile) or expired; past due beyond the grace days and cancelled ones past their end expire. A membership locked at that moment is left for the next run. Returns the memberships moved.';
CREATE FUNCTION commerce.grant_member_gifts(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record; v_now timestamptz := commerce.now(); v_coupon bigint; v_outcome text;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR r IN SELECT m.tenant_id, m.membership_id, cu.code AS customer, b.code AS batch,
                    date_trunc('month', v_now AT TIME ZONE t.time_zone)::date AS month
               FROM commerce.membership m
               JOIN commerce.membership_plan p ON p.tenant_id = m.tenant_id AND p.plan_id = m.plan_id
               JOIN commerce.coupon_batch b ON b.tenant_id = p.tenant_id AND b.batch_id = p.gift_batch_id
               JOIN commerce.customer cu ON cu.tenant_id = m.tenant_id AND cu.customer_id = m.customer_id
               JOIN commerce.tenant t ON t.tenant_id = m.tenant_id
              WHERE m.status IN ('active', 'cancelled') AND m.period_end > v_now
                AND NOT EXISTS (SELECT 1 FROM commerce.membership_gift g
                                 WHERE g.tenant_id = m.tenant_id AND g.membership_id = m.membership_id
                                   AND g.month = date_trunc('month', v_now AT TIME ZONE t.time_zone)::date)
              ORDER BY m.tenant_id, m.membership_id LIMIT p_limit FOR UPDATE OF m SKIP LOCKED LOOP
        v_coupon := NULL;
        BEGIN
            v_coupon := (commerce.issue_coupon(r.tenant_id, 'reward', format('member-gift:%s:%s', r.membership_id, r.month),
                                               r.batch, r.customer)).coupon_id;
            v_outcome := 'issued';
        EXCEPTION WHEN SQLSTATE 'PT409' THEN
            v_outcome := CASE WHEN SQLERRM LIKE '%all claimed%' THEN 'all_claimed' ELSE 'batch_closed' END;
        END;
        INSERT INTO commerce.membership_gift (tenant_id, membership_id, month, coupon_id, outcome, created_at)
        VALUES (r.tenant_id, r.membership_id, r.month, v_coupon, v_outcome, v_now)
        ON CONFLICT DO NOTHING;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.grant_member_gifts(integer) IS
  'One batch of the membership pump: each member in force whose plan has a gift batch gets one coupon of it for the tenant-local month, exactly once (membership_gift; the coupon''s source key is the membership and month), or the reason it got none (batch closed, all claimed). Returns the members handled.';
CREATE PROCEDURE commerce.membership_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.expire_memberships', p_batch, p_max_batches);
    CALL commerce.run_pump('commerce.grant_member_gifts', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.membership_pump(integer, integer) IS
  'The membership job (pg_cron, every 10 minutes: commerce-memberships): moves memberships past their end to past due or expired, and grants this month''s gifts, committed per batch.';
CREATE FUNCTION commerce.check_membership_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- each paid order of a plan's SKU bought exactly one period
    SELECT 'paid plan order = one period', format('order %s: %s periods', o.order_id, count(mp.order_id))
      FROM commerce.orders o
      JOIN commerce.order_line l ON l.tenant_id = o.tenant_id AND l.order_id = o.order_id
      JOIN commerce.membership_plan p ON p.tenant_id = l.tenant_id AND p.sku_id = l.sku_id
      LEFT JOIN commerce.membership_period mp ON mp.tenant_id = o.tenant_id AND mp.order_id = o.order_id
     WHERE (p_tenant IS NULL OR o.tenant_id = p_tenant) AND o.customer_id IS NOT NULL
     GROUP BY o.order_id, o.paid_at
    HAVING count(mp.order_id) <> CASE WHEN o.paid_at IS NULL THEN 0 ELSE 1 END
    UNION ALL
    -- the periods of a membership follow each other without overlap, and the last ends at its end
    SELECT 'periods never overlap', format('membership %s: period from %s starts before the previous end %s', x.membership_id,
                                           x.starts_at, x.prev_end)
      FROM (SELECT mp.membership_id, mp.starts_at,
                   lag(mp.ends_at) OVER (PARTITION BY mp.tenant_id, mp.membership_id ORDER BY mp.starts_at, mp.order_id) AS prev_end
              FROM commerce.membership_period mp WHERE p_tenant IS NULL OR mp.tenant_id = p_tenant) x
     WHERE x.starts_at < x.prev_end
    UNION ALL
    SELECT 'membership end = its last period', format('membership %s (%s): end %s, last period ends %s', m.membership_id,
                                                      m.status, m.period_end, e.last_end)
      FROM commerce.membership m
      LEFT JOIN LATERAL (SELECT max(ends_at) AS last_end FROM commerce.membership_period mp
                          WHERE mp.tenant_id = m.tenant_id AND mp.membership_id = m.membership_id) e ON true
     WHERE (p_tenant IS NULL OR m.tenant_id = p_tenant) AND m.status <> 'pending_payment'
       AND m.status <> 'expired' AND m.period_end IS DISTINCT FROM e.last_end
    UNION ALL
    -- benefits never outlast the paid period
    SELECT 'benefits end with the membership', format('benefit %s (%s) of membership %s: until %s, paid to %s', b.benefit_id,
                                                      b.kind, m.membership_id, b.valid_until, m.period_end)
      FROM commerce.customer_benefit b
      JOIN commerce.membership m ON m.tenant_id = b.tenant_id AND b.source = 'membership:' || m.membership_id
     WHERE (p_tenant IS NULL OR b.tenant_id = p_tenant) AND b.valid_until > coalesce(m.period_end, b.valid_from);
$$;
COMMENT ON FUNCTION commerce.check_membership_invariants(bigint) IS
  'Every invariant of paid membership (check after stress): each paid order of a plan''s SKU bought exactly one period (an unpaid one none), periods never overlap, a membership in force ends with its last period, no benefit outlasts the paid period. No rows means all hold.';
CREATE VIEW commerce_api.membership_offer AS
SELECT NULL::text AS plan, NULL::text AS name, NULL::text AS sku, NULL::bigint AS price_fen, NULL::text AS price_yuan,
       NULL::integer AS months, NULL::integer AS discount_bp, NULL::boolean AS priority_shipping,
       NULL::boolean AS birthday_double, NULL::boolean AS priority_service, NULL::text AS badge, NULL::text AS gift_batch
 WHERE false;
COMMENT ON VIEW commerce_api.membership_offer IS
  E'@omit all\nA paid membership plan on sale: its SKU and list price (price_yuan the exact string), the months one payment buys, and its benefits: discount_bp off every price at checkout, priority shipping (24-hour ship-by), double points in the birthday month, priority customer service, a badge, a monthly gift (a coupon of gift_batch).';
CREATE FUNCTION commerce_api.membership_plans()
RETURNS SETOF commerce_api.membership_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.membership_plans', '{anonymous,customer,store,operator,service}');
BEGIN
    RETURN QUERY
    SELECT p.code, p.name, s.code, s.msrp_fen, commerce.yuan(s.msrp_fen), p.months, p.discount_bp, p.priority_shipping,
           p.birthday_double, p.priority_service, p.badge, b.code
      FROM commerce.membership_plan p
      JOIN commerce.sku s ON s.tenant_id = p.tenant_id AND s.sku_id = p.sku_id
      LEFT JOIN commerce.coupon_batch b ON b.tenant_id = p.tenant_id AND b.batch_id = p.gift_batch_id
     WHERE p.tenant_id = a.tenant_id AND p.active
     ORDER BY p.months, p.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.membership_plans() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.membership_plans() IS
  'The paid membership plans on sale (membership_offer), shortest first. Open to every caller of the tenant.';
CREATE VIEW commerce_api.member_status AS
SELECT NULL::text AS customer, NULL::text AS plan, NULL::text AS plan_name, NULL::text AS status,
       NULL::timestamptz AS period_end, NULL::timestamptz AS started_at, NULL::timestamptz AS cancelled_at,
       NULL::jsonb AS benefits, NULL::text AS badge
 WHERE false;
COMMENT ON VIEW commerce_api.member_status IS
  E'@omit all\nA customer''s paid membership: plan, status (none, pending_payment, active, past_due, cancelled: not renewing, in force to period_end, expired), the end of the paid period, when it started and was cancelled, the benefits in force now ([{kind, rate_bp, until}]: member_discount, priority_shipping, birthday_double_points, priority_service, badge) and the badge.';
CREATE FUNCTION commerce._member_status(p_tenant bigint, p_customer bigint) RETURNS SETOF commerce_api.member_status
LANGUAGE sql STABLE AS $$
    SELECT cu.code, p.code, p.name, coalesce(m.status, 'none'), m.period_end, m.started_at, m.cancelled_at,
           coalesce((SELECT jsonb_agg(jsonb_build_object('kind', b.kind, 'rate_bp', b.rate_bp, 'until', b.valid_until)
                                      ORDER BY b.kind)
                       FROM commerce.customer_benefit b
                      WHERE b.tenant_id = cu.tenant_id AND b.customer_id = cu.customer_id
                        AND b.valid_from <= commerce.now() AND b.valid_until > commerce.now()), '[]'),
           (SELECT b.label FROM commerce.customer_benefit b
             WHERE b.tenant_id = cu.tenant_id AND b.customer_id = cu.customer_id AND b.kind = 'badge'
               AND b.valid_from <= commerce.now() AND b.valid_until > commerce.now()
             ORDER BY b.valid_until DESC LIMIT 1)
      FROM commerce.customer cu
      LEFT JOIN commerce.membership m ON m.tenant_id = cu.tenant_id AND m.customer_id = cu.customer_id
      LEFT JOIN commerce.membership_plan p ON p.tenant_id = m.tenant_id AND p.plan_id = m.plan_id
     WHERE cu.tenant_id = p_tenant AND cu.customer_id = p_customer;
$$;
CREATE FUNCTION commerce_api.my_membership(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.member_status LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.my_membership', '{customer,store,operator,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce._member_status(a.tenant_id, commerce._coupon_customer(a, my_membership.customer));
END $$;
REVOKE ALL ON FUNCTION commerce_api.my_membership(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.my_membership(text) IS
  'A customer''s paid membership and the benefits in force now (member_status): a customer its own; store staff (priority service at the counter), operators and services name the customer.';
CREATE FUNCTION commerce_api.buy_membership(request_id text, plan text, channel text, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.buy_membership', '{customer,service}');
        r commerce.order_result;
BEGIN
    r := commerce.buy_membership(a.tenant_id, buy_membership.request_id,
                                 commerce._actor_subject(a, buy_membership.customer, 'customer'), buy_membership.plan,
                                 buy_membership.channel);
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, ARRAY[r.order_id]);
END $$;
REVOKE ALL ON FUNCTION commerce_api.buy_membership(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_membership(text, text, text, text) IS
  'A customer buys or renews a paid membership plan for itself (a service names the customer): an order of the plan''s SKU on a self-operated channel, paid like any order (pay_intent, then the provider''s record_payment); its payment extends the membership once by the plan''s months. Once per request_id. Returns the order (order_summary).';
CREATE FUNCTION commerce_api.cancel_membership(customer text DEFAULT NULL)
RETURNS SETOF commerce_api.member_status LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.cancel_membership', '{customer,service}');
        m commerce.membership_row;
BEGIN
    m := commerce.cancel_membership(a.tenant_id, commerce._actor_subject(a, cancel_membership.customer, 'customer'));
    RETURN QUERY SELECT * FROM commerce._member_status(a.tenant_id, m.customer_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.cancel_membership(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.cancel_membership(text) IS
  'A customer stops renewing its paid membership (a service names the customer): cancelled, in force to the end of the paid period, then expired. PT409 without a paid membership. Returns the membership (member_status).';
CREATE FUNCTION commerce_api.upsert_membership_plan(code text, name text, sku text, months integer, discount_bp integer DEFAULT 0,
                                                    benefits jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_membership_plan', '{operator,service}');
        v_id bigint;
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    v_id := commerce.upsert_membership_plan(a.tenant_id, upsert_membership_plan.code, upsert_membership_plan.name,
                                            upsert_membership_plan.sku, upsert_membership_plan.months,
                                            upsert_membership_plan.discount_bp, upsert_membership_plan.benefits);
    PERFORM commerce._audit(a.tenant_id, 'upsert_membership_plan', upsert_membership_plan.code,
                            jsonb_build_object('sku', upsert_membership_plan.sku, 'months', upsert_membership_plan.months,
                                               'discount_bp', upsert_membership_plan.discount_bp,
                                               'benefits', upsert_membership_plan.benefits), 'saved');
    RETURN v_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_membership_plan(text, text, text, integer, integer, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_membership_plan(text, text, text, integer, integer, jsonb) IS
  'HQ creates or changes a paid membership plan (audited): sold as sku (a virtual membership_card SKU), months per payment, discount_bp off every price (0 to 5000), benefits {"priority_shipping", "birthday_double", "priority_service", "badge", "gift_batch", "grace_days"}; changes apply from the next paid period. HQ operators and services. Returns the plan id.';
CREATE FUNCTION commerce_hasura.membership_plans(hasura_session json)
RETURNS SETOF commerce_api.membership_offer LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.membership_plans();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.membership_plans(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.membership_plans(json) IS
  'Hasura: commerce_api.membership_plans for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE FUNCTION commerce_hasura.my_membership(hasura_session json, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.member_status LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.my_membership(my_membership.customer);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.my_membership(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.my_membership(json, text) IS
  'Hasura: commerce_api.my_membership for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE TRIGGER after_42_membership AFTER UPDATE ON commerce.orders
    FOR EACH ROW WHEN ((OLD.paid_at IS NULL AND NEW.paid_at IS NOT NULL)
                       OR (NEW.status = 'cancelled' AND OLD.status = 'pending_payment' AND NEW.customer_id IS NOT NULL))
    EXECUTE FUNCTION commerce._membership_on_order();

-- ===========================================================================
-- rewards and the points mall (issue 13): blind boxes with prize stock,
-- reward grants once per source, invite rewards in the database, mall items
-- and redemptions; place_order's "paid_by":"points"
-- ===========================================================================
CREATE TABLE commerce.blind_box (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    box_id     bigint GENERATED BY DEFAULT AS IDENTITY,
    code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, box_id),
    UNIQUE (tenant_id, code)
);
COMMENT ON TABLE commerce.blind_box IS
  'A blind box (盲盒): a reward that draws one of its prizes at random, each with a weight (its odds among the prizes still in stock) and a stock of its own.';
CREATE TABLE commerce.blind_box_prize (
    tenant_id bigint NOT NULL,
    box_id    bigint NOT NULL,
    prize_no  integer NOT NULL CHECK (prize_no BETWEEN 1 AND 100),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind      text NOT NULL CHECK (kind IN ('points', 'coupon', 'nothing')),
    points    bigint CHECK (points BETWEEN 1 AND 100000000),
    batch_id  bigint,
    weight    integer NOT NULL CHECK (weight BETWEEN 1 AND 1000000),
    quota     bigint CHECK (quota BETWEEN 1 AND 100000000),
    issued    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, box_id, prize_no),
    FOREIGN KEY (tenant_id, box_id) REFERENCES commerce.blind_box,
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    CHECK ((kind = 'points') = (points IS NOT NULL)),
    CHECK ((kind = 'coupon') = (batch_id IS NOT NULL)),
    CONSTRAINT blind_box_prize_no_overissue CHECK (issued >= 0 AND (quota IS NULL OR issued <= quota))
);
COMMENT ON TABLE commerce.blind_box_prize IS
  'A prize of a blind box: points, a coupon of a batch, or nothing; drawn with probability weight / the weights of the prizes still in stock; never issued beyond its quota (a CHECK; NULL: no limit).';
CREATE TABLE commerce.reward_grant (
    tenant_id   bigint NOT NULL,
    grant_id    bigint GENERATED BY DEFAULT AS IDENTITY,
    source_key  text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
    customer_id bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('points', 'coupon', 'blind_box')),
    box_id      bigint,
    prize_no    integer,
    points      bigint,
    lot_id      bigint,
    coupon_id   bigint,
    outcome     text NOT NULL CHECK (outcome IN ('granted', 'failed')),
    error       text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, grant_id),
    UNIQUE (tenant_id, source_key),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, box_id, prize_no) REFERENCES commerce.blind_box_prize,
    FOREIGN KEY (tenant_id, lot_id) REFERENCES commerce.points_lot,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon,
    CHECK ((kind = 'blind_box') = (box_id IS NOT NULL)),
    CHECK ((outcome = 'failed') = (error IS NOT NULL))
);
COMMENT ON TABLE commerce.reward_grant IS
  'A reward granted to a customer, exactly once per source event (the key: an invite, a campaign, a flow step): the points lot, the coupon, or the blind box prize drawn; a reward a trigger could not grant (its coupon batch all claimed) is recorded failed with the reason, never retried silently.';
CREATE TABLE commerce.invite_reward_rule (
    tenant_id      bigint NOT NULL,
    config_id      bigint NOT NULL,
    inviter_reward jsonb,
    invitee_reward jsonb,
    PRIMARY KEY (tenant_id, config_id),
    FOREIGN KEY (tenant_id, config_id) REFERENCES commerce.play_config
);
COMMENT ON TABLE commerce.invite_reward_rule IS
  'What an invite play grants in the database when an invite is rewarded (besides the reward_fen its outbox message carries): a reward for the inviter and one for the invitee ({"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"}).';
CREATE TABLE commerce.points_mall_item (
    tenant_id          bigint NOT NULL REFERENCES commerce.tenant,
    item_id            bigint GENERATED BY DEFAULT AS IDENTITY,
    code               text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind               text NOT NULL CHECK (kind IN ('goods', 'coupon', 'membership')),
    points             bigint NOT NULL CHECK (points BETWEEN 1 AND 100000000),
    sku_id             bigint,
    batch_id           bigint,
    plan_id            bigint,
    per_customer_limit integer CHECK (per_customer_limit BETWEEN 1 AND 1000),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, item_id),
    UNIQUE (tenant_id, code),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES commerce.sku,
    FOREIGN KEY (tenant_id, batch_id) REFERENCES commerce.coupon_batch,
    FOREIGN KEY (tenant_id, plan_id) REFERENCES commerce.membership_plan,
    CHECK ((kind = 'goods') = (sku_id IS NOT NULL)),
    CHECK ((kind = 'coupon') = (batch_id IS NOT NULL)),
    CHECK ((kind = 'membership') = (plan_id IS NOT NULL))
);
COMMENT ON TABLE commerce.points_mall_item IS
  'Something the points mall sells for points (each unit costs points): goods (a SKU, shipped from the stock pool as an order paid with points, so never oversold), a coupon of a batch (within its quota), or a paid membership plan (5,000 points for a monthly card: one period); at most per_customer_limit redemptions per customer.';
CREATE TABLE commerce.points_redemption (
    tenant_id     bigint NOT NULL,
    redemption_id bigint GENERATED BY DEFAULT AS IDENTITY,
    request_id    text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
    customer_id   bigint NOT NULL,
    item_id       bigint NOT NULL,
    qty           integer NOT NULL CHECK (qty BETWEEN 1 AND 100),
    points        bigint NOT NULL CHECK (points > 0),
    order_id      bigint,
    coupon_id     bigint,
    status        text NOT NULL CHECK (status IN ('redeemed', 'reversed')),
    created_at    timestamptz NOT NULL,
    reversed_at   timestamptz,
    reverse_reason text,
    PRIMARY KEY (tenant_id, redemption_id),
    UNIQUE (tenant_id, request_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    FOREIGN KEY (tenant_id, item_id) REFERENCES commerce.points_mall_item,
    FOREIGN KEY (tenant_id, order_id) REFERENCES commerce.orders,
    FOREIGN KEY (tenant_id, coupon_id) REFERENCES commerce.coupon,
    CHECK ((status = 'reversed') = (reversed_at IS NOT NULL))
);
COMMENT ON TABLE commerce.points_redemption IS
  'A points-mall redemption, once per request_id: the points it spent (the spend redeem:<request_id>), and what it gave: the order of the goods or of the membership card (paid with points), or the coupon. Reversed (the points given back as a lot, the coupon revoked) while what it gave is unused.';
CREATE TRIGGER before_10_state_guard BEFORE INSERT OR UPDATE ON commerce.points_redemption
    FOR EACH ROW EXECUTE FUNCTION commerce.state_guard('status', 'redeemed', 'redeemed>reversed');
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS rel, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
          FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'commerce') AND d.deptype = 'e'
           AND c.relkind IN ('r', 'p', 'S') AND c.relnamespace = 'commerce'::regnamespace
         ORDER BY c.relkind DESC, 1
    LOOP
        EXECUTE format('ALTER EXTENSION commerce DROP %s %s', r.kind, r.rel);
    END LOOP;
END $$;
SELECT commerce._isolate_tenants();
CREATE OR REPLACE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders_row;
    ch commerce.channel;
    v_customer bigint;
    v_tier text;
    v_cart record;
    v_lines jsonb := '[]'::jsonb;
    v_goods bigint := 0;
    v_discount bigint;
    v_shipping bigint;
    v_price commerce.resolved_price;
    v_res commerce.reservation_result;
    v_receiver jsonb;
    v_key text;
    v_coupons bigint[];
    v_alloc jsonb;
    v_coupon_off bigint := 0;
    v_member_bp integer := 0;
    v_sku record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_order, 'p_order');
    PERFORM commerce._request_key(p_request_id, 'p_request_id');

    -- a repeat returns the first order
    SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        RETURN commerce._order_result(o, 'existing');
    END IF;

    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF ch.kind <> 'self_operated' THEN
        PERFORM commerce._invalid('p_channel',
            format('Channel "%s" is a platform; its orders arrive through commerce.ingest_platform_order.', p_channel),
            'Place orders on a self-operated channel (wechat_mp, alipay_mp, h5).');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id, member_tier INTO v_customer, v_tier FROM commerce.customer
         WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;

    -- the document: lines, receiver, shipping and discount in fen, source activity
    IF jsonb_typeof(p_order) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'The order is not a JSON object.',
            'Send {"lines":[{"sku":"<code>","qty":<n>}], "receiver":{...}, "shipping_fen":0, "discount_fen":0}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_order) LOOP
        IF v_key NOT IN ('lines', 'receiver', 'shipping_fen', 'discount_fen', 'activity',
                         'source_instance_id', 'coupons', 'paid_by') THEN
            PERFORM commerce._invalid('p_order', format('Unknown key "%s".', left(v_key, 64)),
                'An order has lines, receiver, shipping_fen, discount_fen, activity, source_instance_id, coupons and paid_by.');
        END IF;
    END LOOP;
    IF jsonb_typeof(p_order -> 'lines') IS DISTINCT FROM 'array' THEN
        PERFORM commerce._invalid('p_order', 'lines is missing or not an array.',
                                  'Send "lines":[{"sku":"<code>","qty":<n>}, ...].');
    END IF;
    v_shipping := commerce._fen(p_order -> 'shipping_fen', 'shipping_fen');
    v_discount := commerce._fen(p_order -> 'discount_fen', 'discount_fen');
    v_receiver := coalesce(p_order -> 'receiver', '{}');
    v_coupons := commerce._coupon_list(p_order -> 'coupons');
    IF p_order ? 'paid_by' AND (p_order ->> 'paid_by' IS DISTINCT FROM 'points' OR v_coupons IS NOT NULL OR v_discount > 0) THEN
        PERFORM commerce._invalid('p_order', format('paid_by is %s.', left(p_order ->> 'paid_by', 64)),
            'Only a points-mall redemption sets "paid_by":"points" (the goods are paid with points), without coupons or a discount.');
    END IF;
    IF p_order ? 'source_instance_id' AND jsonb_typeof(p_order -> 'source_instance_id') <> 'null'
       AND (jsonb_typeof(p_order -> 'source_instance_id') <> 'number'
            OR (p_order ->> 'source_instance_id') !~ '^[0-9]{1,18}$') THEN
        PERFORM commerce._invalid('p_order', 'source_instance_id is not a play instance id.',
                                  'Pass the id of the play instance as a JSON integer, or leave it out.');
    END IF;
    IF p_order ? 'activity' AND jsonb_typeof(p_order -> 'activity') NOT IN ('string', 'null') THEN
        PERFORM commerce._invalid('p_order', 'activity is not a string.', 'Pass the activity name, or leave it out.');
    END IF;
    IF jsonb_typeof(v_receiver) <> 'object' THEN
        PERFORM commerce._invalid('p_order', 'receiver is not an object.',
            'Send "receiver":{"name":...,"phone":...,"region":...,"city":...,"address":...}.');
    END IF;

    -- the lines, read by the one cart parser (commerce._cart_lines); prices for the
    -- customer's tier on this channel, now, less a paid member's discount (never below the floor)
    IF v_customer IS NOT NULL THEN
        v_member_bp := commerce._benefit_bp(p_tenant, v_customer, 'member_discount', commerce.now());
    END IF;
    FOR v_cart IN SELECT * FROM commerce._cart_lines((p_order -> 'lines')::text) LOOP
        v_price := commerce.resolve_price(p_tenant, v_cart.sku, p_channel, v_tier);
        IF v_member_bp > 0 THEN
            SELECT s.floor_fen, p.virtual_kind INTO v_sku
              FROM commerce.sku s JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
             WHERE s.tenant_id = p_tenant AND s.code = v_cart.sku;
            -- a membership card is not discounted by the membership it buys
            IF v_sku.virtual_kind IS DISTINCT FROM 'membership_card'
               AND v_price.price_fen - commerce.rate_fen(v_price.price_fen, v_member_bp) >= v_sku.floor_fen THEN
                v_price.price_fen := v_price.price_fen - commerce.rate_fen(v_price.price_fen, v_member_bp);
                v_price.source := 'paid_member';
            ELSIF v_sku.virtual_kind IS DISTINCT FROM 'membership_card' AND v_price.price_fen > v_sku.floor_fen THEN
                v_price.price_fen := v_sku.floor_fen;
                v_price.source := 'paid_member';
            END IF;
        END IF;
        v_goods := v_goods + v_price.price_fen * v_cart.qty;
        v_lines := v_lines || jsonb_build_object('sku', v_cart.sku, 'qty', v_cart.qty,
                                                 'price', v_price.price_fen, 'source', v_price.source,
                                                 'warehouse', coalesce(v_cart.warehouse,
                                                     commerce._pick_warehouse(p_tenant, v_cart.sku, v_cart.qty)));
    END LOOP;
    -- the coupons: locked in id order (a concurrent repeat of this request waits here, then finds its order),
    -- then what each takes off which line
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._lock_coupons(p_tenant, v_coupons);
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        IF FOUND THEN
            RETURN commerce._order_result(o, 'existing');
        END IF;
        SELECT coalesce(jsonb_agg(jsonb_build_object('coupon_id', x.coupon_id, 'line_no', x.line_no, 'amount_fen', x.amount_fen)), '[]'),
               coalesce(sum(x.amount_fen), 0)
          INTO v_alloc, v_coupon_off
          FROM commerce._order_coupons(p_tenant, v_customer, ch.channel_id, v_lines, v_coupons) x;
    END IF;
    IF p_order ->> 'paid_by' = 'points' THEN
        v_discount := v_goods;     -- the goods are paid with points: nothing is payable for them
    END IF;
    IF v_discount + v_coupon_off > v_goods THEN
        PERFORM commerce._invalid('p_order',
            format('discount_fen %s (and %s fen of coupons) exceeds the goods total %s.', v_discount, v_coupon_off, v_goods),
            'A discount cannot exceed the goods total.');
    END IF;

    -- hold the stock (all lines or none; PT409 when short)
    -- the hold's keys are derived from the order's request_id (fixed length)
    v_res := commerce.reserve(p_tenant, 'order:' || md5(p_request_id), 'order:' || md5(p_request_id),
                              jsonb_build_object('lines',
                                  (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                              'sku', l ->> 'sku', 'qty', (l ->> 'qty')::bigint,
                                              'warehouse', l ->> 'warehouse')))
                                     FROM jsonb_array_elements(v_lines) l))::text,
                              NULL, p_order ->> 'activity');

    INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, request_id, customer_id,
                                 receiver_name, receiver_phone, receiver_region, receiver_city,
                                 receiver_address, goods_fen, discount_fen, shipping_fen, payable_fen,
                                 status, reservation_id, pay_deadline, source_activity,
                                 source_instance_id, created_at, status_reason)
    VALUES (p_tenant, ch.channel_id, p_request_id, p_request_id, v_customer,
            v_receiver ->> 'name', v_receiver ->> 'phone', v_receiver ->> 'region',
            v_receiver ->> 'city', v_receiver ->> 'address', v_goods, v_discount + v_coupon_off, v_shipping,
            v_goods - v_discount - v_coupon_off + v_shipping, 'pending_payment', v_res.reservation_id,
            v_res.expires_at, p_order ->> 'activity', (p_order ->> 'source_instance_id')::bigint,
            commerce.now(), 'placed')
    ON CONFLICT DO NOTHING
    RETURNING * INTO o;
    IF o.order_id IS NULL THEN   -- a concurrent call with this request_id made it
        SELECT * INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND request_id = p_request_id;
        RETURN commerce._order_result(o, 'existing');
    END IF;
    INSERT INTO commerce.order_line (tenant_id, order_id, line_no, sku_id, qty, unit_price_fen,
                                     price_source, amount_fen)
    SELECT p_tenant, o.order_id, n, s.sku_id, (l ->> 'qty')::bigint, (l ->> 'price')::bigint,
           l ->> 'source', (l ->> 'price')::bigint * (l ->> 'qty')::bigint
      FROM jsonb_array_elements(v_lines) WITH ORDINALITY AS x(l, n)
      JOIN commerce.sku s ON s.tenant_id = p_tenant AND s.code = l ->> 'sku';
    IF v_coupons IS NOT NULL THEN
        PERFORM commerce._attach_coupons(p_tenant, o.order_id, v_alloc);
    END IF;
    RETURN commerce._order_result(o, 'placed');
END $$;
COMMENT ON FUNCTION commerce.place_order(bigint, text, text, jsonb, text) IS
  'Place a self-operated order: {"lines":[{"sku","qty"}], "receiver":{name,phone,region,city,address}, "shipping_fen", "discount_fen", "activity", "source_instance_id", "coupons":[coupon ids], "paid_by":"points"}. Resolves prices (channel, member tier of the customer, flash; then a paid member''s discount, never below the SKU''s floor and not on membership cards), applies the customer''s coupons (each split over its eligible lines, never below a SKU''s floor, recorded in order_discount and locked to the order; PT404 for a coupon not the customer''s, PT409 for one not usable), holds the stock (15 minutes by default) and creates the order in pending_payment. "paid_by":"points" (the points mall) takes the whole goods amount off, leaving only shipping payable. Idempotent by request_id.';
CREATE OR REPLACE FUNCTION commerce.upsert_membership_plan(p_tenant bigint, p_code text, p_name text, p_sku text, p_months integer,
                                                p_discount_bp integer DEFAULT 0, p_benefits jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_sku bigint; v_kind text; v_gift bigint; v_id bigint; v_key text; v_grace integer; v_old bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_sku, 'p_sku');
    PERFORM commerce._require(p_months, 'p_months');
    PERFORM commerce._require(p_discount_bp, 'p_discount_bp');
    PERFORM commerce._require(p_benefits, 'p_benefits');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF length(p_name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_name', 'The name is empty or longer than 200 characters.', 'Name the plan as customers see it.');
    END IF;
    SELECT s.sku_id, p.virtual_kind INTO v_sku, v_kind
      FROM commerce.sku s JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
     WHERE s.tenant_id = p_tenant AND s.code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('sku', p_sku, p_tenant);
    END IF;
    IF v_kind IS DISTINCT FROM 'membership_card' THEN
        PERFORM commerce._invalid('p_sku', format('SKU "%s" is not a membership card.', left(p_sku, 64)),
            'Sell a plan as a SKU of a virtual product of kind membership_card (commerce.upsert_product).');
    END IF;
    IF p_months NOT BETWEEN 1 AND 36 THEN
        PERFORM commerce._invalid('p_months', format('%s months', p_months), 'A paid period is 1 to 36 months.');
    END IF;
    IF p_discount_bp NOT BETWEEN 0 AND 5000 THEN
        PERFORM commerce._invalid('p_discount_bp', format('%s bp', p_discount_bp), 'A member discount is 0 to 5000 bp (500 = members pay 95%).');
    END IF;
    IF jsonb_typeof(p_benefits) <> 'object' THEN
        PERFORM commerce._invalid('p_benefits', 'The benefits are not a JSON object.',
            'Send {"priority_shipping":true, "birthday_double":true, "priority_service":true, "badge":"...", "gift_batch":"<coupon batch>", "grace_days":3}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_benefits) LOOP
        IF v_key NOT IN ('priority_shipping', 'birthday_double', 'priority_service', 'badge', 'gift_batch', 'grace_days') THEN
            PERFORM commerce._invalid('p_benefits', format('Unknown key "%s".', left(v_key, 64)),
                'Benefits are priority_shipping, birthday_double, priority_service, badge, gift_batch and grace_days.');
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM jsonb_each(p_benefits) e
                WHERE e.key IN ('priority_shipping', 'birthday_double', 'priority_service') AND jsonb_typeof(e.value) <> 'boolean')
       OR (p_benefits ? 'badge' AND (jsonb_typeof(p_benefits -> 'badge') <> 'string'
                                     OR length(p_benefits ->> 'badge') NOT BETWEEN 1 AND 100)) THEN
        PERFORM commerce._invalid('p_benefits', 'priority_shipping, birthday_double and priority_service are true or false; badge a name of 1 to 100 characters.',
                                  'Fix the benefit values.');
    END IF;
    v_grace := coalesce(commerce._json_int(p_benefits -> 'grace_days', 'grace_days', 0, 30, 'p_benefits'), 3);
    IF p_benefits ? 'gift_batch' THEN
        SELECT batch_id INTO v_gift FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_benefits ->> 'gift_batch';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('coupon batch', p_benefits ->> 'gift_batch', p_tenant);
        END IF;
    END IF;
    SELECT plan_id INTO v_old FROM commerce.membership_plan WHERE tenant_id = p_tenant AND sku_id = v_sku AND code <> p_code;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('SKU "%s" already sells another plan', left(p_sku, 64)),
            DETAIL  = format('Plan %s is sold as that SKU.', v_old),
            HINT    = 'Give each plan its own membership card SKU.';
    END IF;
    INSERT INTO commerce.membership_plan AS m (tenant_id, code, name, sku_id, months, discount_bp, priority_shipping,
                                               birthday_double, priority_service, badge, gift_batch_id, grace_days, created_at)
    VALUES (p_tenant, p_code, p_name, v_sku, p_months, p_discount_bp,
            coalesce((p_benefits ->> 'priority_shipping')::boolean, false), coalesce((p_benefits ->> 'birthday_double')::boolean, false),
            coalesce((p_benefits ->> 'priority_service')::boolean, false), p_benefits ->> 'badge', v_gift, v_grace, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, sku_id = EXCLUDED.sku_id, months = EXCLUDED.months, discount_bp = EXCLUDED.discount_bp,
           priority_shipping = EXCLUDED.priority_shipping, birthday_double = EXCLUDED.birthday_double,
           priority_service = EXCLUDED.priority_service, badge = EXCLUDED.badge, gift_batch_id = EXCLUDED.gift_batch_id,
           grace_days = EXCLUDED.grace_days
    RETURNING plan_id INTO v_id;
    RETURN v_id;
END $$;
CREATE FUNCTION commerce.create_blind_box(p_tenant bigint, p_code text, p_name text, p_prizes jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_box bigint; e jsonb; n integer := 0; v_batch bigint; v_kind text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_prizes, 'p_prizes');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    SELECT box_id INTO v_box FROM commerce.blind_box WHERE tenant_id = p_tenant AND code = p_code;
    IF FOUND THEN
        RETURN v_box;   -- prizes never change once defined: their odds were shown
    END IF;
    IF jsonb_typeof(p_prizes) <> 'array' OR jsonb_array_length(p_prizes) NOT BETWEEN 1 AND 100 THEN
        PERFORM commerce._invalid('p_prizes', 'The prizes are not a list of 1 to 100.',
            'Send [{"name":..., "kind":"points"|"coupon"|"nothing", "points" or "batch", "weight":<odds>, "quota":<stock>}, ...].');
    END IF;
    INSERT INTO commerce.blind_box (tenant_id, code, name, created_at) VALUES (p_tenant, p_code, left(p_name, 200), commerce.now())
    RETURNING box_id INTO v_box;
    FOR e IN SELECT x FROM jsonb_array_elements(p_prizes) x LOOP
        n := n + 1;
        v_kind := e ->> 'kind';
        IF jsonb_typeof(e) <> 'object' OR v_kind IS NULL OR v_kind NOT IN ('points', 'coupon', 'nothing')
           OR (e ->> 'name') IS NULL OR (v_kind = 'points') <> (e ? 'points') OR (v_kind = 'coupon') <> (e ? 'batch') THEN
            PERFORM commerce._invalid('p_prizes', format('Prize %s is %s.', n, left(e::text, 100)),
                'A prize has a name, a kind (points with "points", coupon with "batch", or nothing), a weight and an optional quota.');
        END IF;
        v_batch := NULL;
        IF v_kind = 'coupon' THEN
            SELECT batch_id INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = e ->> 'batch';
            IF NOT FOUND THEN
                PERFORM commerce._not_found('coupon batch', e ->> 'batch', p_tenant);
            END IF;
        END IF;
        INSERT INTO commerce.blind_box_prize (tenant_id, box_id, prize_no, name, kind, points, batch_id, weight, quota)
        VALUES (p_tenant, v_box, n, left(e ->> 'name', 200), v_kind,
                commerce._json_int(e -> 'points', 'points', 1, 100000000, 'p_prizes'), v_batch,
                coalesce(commerce._json_int(e -> 'weight', 'weight', 1, 1000000, 'p_prizes'), 1),
                commerce._json_int(e -> 'quota', 'quota', 1, 100000000, 'p_prizes'));
    END LOOP;
    RETURN v_box;
END $$;
COMMENT ON FUNCTION commerce.create_blind_box(bigint, text, text, jsonb) IS
  'Define a blind box: p_prizes [{"name", "kind":"points"|"coupon"|"nothing", "points" | "batch" (a coupon batch), "weight" (1 to 10^6: the odds among prizes in stock), "quota" (its stock; absent: unlimited)}]. Prizes never change once defined (the same code again returns the box). Returns the box id.';
CREATE TYPE commerce.reward_result AS (grant_id bigint, kind text, points bigint, coupon_id bigint, prize text,
                                        outcome text);
COMMENT ON TYPE commerce.reward_result IS
  'The outcome of granting a reward: the grant, its kind (points, coupon, blind_box), the points or coupon it gave, the blind box prize drawn, and what happened (granted, or existing: the source event had been rewarded before).';
CREATE FUNCTION commerce._draw_prize(p_tenant bigint, p_box bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE v_total bigint; v_pick bigint; r record; v_acc bigint := 0;
BEGIN
    PERFORM 1 FROM commerce.blind_box_prize WHERE tenant_id = p_tenant AND box_id = p_box ORDER BY prize_no FOR UPDATE;
    SELECT sum(weight) INTO v_total FROM commerce.blind_box_prize
     WHERE tenant_id = p_tenant AND box_id = p_box AND (quota IS NULL OR issued < quota);
    IF v_total IS NULL THEN
        RETURN NULL;
    END IF;
    v_pick := floor(random() * v_total)::bigint;
    FOR r IN SELECT prize_no, weight FROM commerce.blind_box_prize
              WHERE tenant_id = p_tenant AND box_id = p_box AND (quota IS NULL OR issued < quota) ORDER BY prize_no LOOP
        v_acc := v_acc + r.weight;
        IF v_pick < v_acc THEN
            UPDATE commerce.blind_box_prize SET issued = issued + 1
             WHERE tenant_id = p_tenant AND box_id = p_box AND prize_no = r.prize_no;
            RETURN r.prize_no;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'commerce._draw_prize: pick % beyond the weights % of box %', v_pick, v_total, p_box;
END $$;
CREATE FUNCTION commerce.grant_reward(p_tenant bigint, p_source_key text, p_customer text, p_reward jsonb)
RETURNS commerce.reward_result LANGUAGE plpgsql AS $$
DECLARE g commerce.reward_grant%ROWTYPE; v_customer bigint; v_kind text; v_box bigint; v_prize integer;
        p commerce.blind_box_prize%ROWTYPE; v_batch text; v_name text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_source_key, 'p_source_key');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_reward, 'p_reward');
    IF jsonb_typeof(p_reward) <> 'object'
       OR (SELECT count(*) FROM jsonb_object_keys(p_reward) k WHERE k IN ('points', 'coupon', 'blind_box')) <> 1
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(p_reward) k WHERE k NOT IN ('points', 'coupon', 'blind_box')) THEN
        PERFORM commerce._invalid('p_reward', format('The reward is %s.', left(p_reward::text, 100)),
                                  'A reward is {"points":<n>}, {"coupon":"<batch>"} or {"blind_box":"<box>"}.');
    END IF;
    v_kind := (SELECT k FROM jsonb_object_keys(p_reward) k);
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF v_kind = 'blind_box' THEN
        SELECT box_id INTO v_box FROM commerce.blind_box WHERE tenant_id = p_tenant AND code = p_reward ->> 'blind_box';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('blind box', p_reward ->> 'blind_box', p_tenant);
        END IF;
    END IF;
    -- the grant row first: a concurrent repeat of the source waits on its key, then finds it
    INSERT INTO commerce.reward_grant (tenant_id, source_key, customer_id, kind, box_id, outcome, created_at)
    VALUES (p_tenant, p_source_key, v_customer, v_kind, v_box, 'granted', commerce.now())
    ON CONFLICT (tenant_id, source_key) DO NOTHING
    RETURNING * INTO g;
    IF g.grant_id IS NULL THEN
        SELECT * INTO g FROM commerce.reward_grant WHERE tenant_id = p_tenant AND source_key = p_source_key;
        IF g.customer_id <> v_customer OR g.kind <> v_kind THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('reward key "%s" already rewarded another grant', left(p_source_key, 64)),
                DETAIL  = format('It granted %s to customer %s.', g.kind, g.customer_id),
                HINT    = 'Use a new key for a new reward.';
        END IF;
        RETURN ROW(g.grant_id, g.kind, g.points, g.coupon_id,
                   (SELECT name FROM commerce.blind_box_prize x WHERE x.tenant_id = g.tenant_id AND x.box_id = g.box_id AND x.prize_no = g.prize_no),
                   'existing')::commerce.reward_result;
    END IF;
    IF v_kind = 'points' THEN
        g.points := commerce._json_int(p_reward -> 'points', 'points', 1, 100000000, 'p_reward');
    ELSIF v_kind = 'coupon' THEN
        v_batch := p_reward ->> 'coupon';
        IF v_batch IS NULL THEN
            PERFORM commerce._invalid('p_reward', 'coupon is not a batch code.', 'Pass {"coupon":"<batch code>"}.');
        END IF;
    ELSE
        v_prize := commerce._draw_prize(p_tenant, v_box);
        IF v_prize IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('blind box "%s" has no prize left', left(p_reward ->> 'blind_box', 64)),
                HINT    = 'Nothing was granted; refill the box with a new one.';
        END IF;
        SELECT * INTO p FROM commerce.blind_box_prize WHERE tenant_id = p_tenant AND box_id = v_box AND prize_no = v_prize;
        v_name := p.name;
        g.prize_no := v_prize;
        g.points := p.points;
        IF p.kind = 'coupon' THEN
            SELECT code INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND batch_id = p.batch_id;
        END IF;
    END IF;
    IF g.points IS NOT NULL THEN
        g.lot_id := commerce.earn_points(p_tenant, 'grant', 'reward:' || p_source_key, p_customer, g.points,
                                         left('reward ' || p_source_key, 200));
    END IF;
    IF v_batch IS NOT NULL THEN
        g.coupon_id := (commerce.issue_coupon(p_tenant, 'reward', p_source_key, v_batch, p_customer)).coupon_id;
    END IF;
    UPDATE commerce.reward_grant SET prize_no = g.prize_no, points = g.points, lot_id = g.lot_id, coupon_id = g.coupon_id
     WHERE tenant_id = p_tenant AND grant_id = g.grant_id;
    RETURN ROW(g.grant_id, v_kind, g.points, g.coupon_id, v_name, 'granted')::commerce.reward_result;
END $$;
COMMENT ON FUNCTION commerce.grant_reward(bigint, text, text, jsonb) IS
  'Grant a customer a reward exactly once per source event p_source_key (a repeat returns the first grant, outcome existing; the key of another reward is 23505): {"points":n} (a lot, available at once), {"coupon":"<batch>"} (within the batch''s quota and the per-customer limit: PT409 otherwise, nothing granted) or {"blind_box":"<box>"} (one prize drawn with probability weight / the weights of the prizes still in stock, never beyond a prize''s stock; PT409 when none is left).';
CREATE FUNCTION commerce.set_invite_rewards(p_tenant bigint, p_play text, p_inviter_reward jsonb, p_invitee_reward jsonb DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_config bigint; v_template text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_play, 'p_play');
    SELECT c.config_id, t.kind INTO v_config, v_template
      FROM commerce.play_config c JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
     WHERE c.tenant_id = p_tenant AND c.code = p_play;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play', p_play, p_tenant);
    END IF;
    IF v_template IS DISTINCT FROM 'invite_reward' THEN
        PERFORM commerce._invalid('p_play', format('Play "%s" is a %s play.', left(p_play, 64), v_template),
                                  'Invite rewards belong to invite plays.');
    END IF;
    IF (p_inviter_reward IS NOT NULL AND (jsonb_typeof(p_inviter_reward) <> 'object' OR NOT p_inviter_reward ?| ARRAY['points', 'coupon', 'blind_box']))
       OR (p_invitee_reward IS NOT NULL AND (jsonb_typeof(p_invitee_reward) <> 'object' OR NOT p_invitee_reward ?| ARRAY['points', 'coupon', 'blind_box'])) THEN
        PERFORM commerce._invalid('p_inviter_reward', 'A reward is not {"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"}.',
                                  'Pass a reward for each side, or NULL for none.');
    END IF;
    INSERT INTO commerce.invite_reward_rule (tenant_id, config_id, inviter_reward, invitee_reward)
    VALUES (p_tenant, v_config, p_inviter_reward, p_invitee_reward)
    ON CONFLICT (tenant_id, config_id) DO UPDATE SET inviter_reward = EXCLUDED.inviter_reward, invitee_reward = EXCLUDED.invitee_reward;
END $$;
COMMENT ON FUNCTION commerce.set_invite_rewards(bigint, text, jsonb, jsonb) IS
  'What an invite play (M3) grants in the database when an invite is rewarded, besides its outbox message: a reward for the inviter and one for the invitee (commerce.grant_reward documents), each exactly once per invite.';
CREATE FUNCTION commerce._grant_reward_or_record(p_tenant bigint, p_source_key text, p_customer bigint, p_reward jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_code text; v_error text;
BEGIN
    SELECT code INTO v_code FROM commerce.customer WHERE tenant_id = p_tenant AND customer_id = p_customer;
    BEGIN
        PERFORM commerce.grant_reward(p_tenant, p_source_key, v_code, p_reward);
    EXCEPTION WHEN SQLSTATE 'PT409' OR SQLSTATE 'PT404' OR SQLSTATE '22023' THEN
        v_error := left(SQLSTATE || ': ' || SQLERRM, 300);
        INSERT INTO commerce.reward_grant (tenant_id, source_key, customer_id, kind, box_id, outcome, error, created_at)
        VALUES (p_tenant, p_source_key, p_customer, (SELECT k FROM jsonb_object_keys(p_reward) k LIMIT 1),
                (SELECT box_id FROM commerce.blind_box WHERE tenant_id = p_tenant AND code = p_reward ->> 'blind_box'),
                'failed', v_error, commerce.now())
        ON CONFLICT (tenant_id, source_key) DO NOTHING;
    END;
END $$;
CREATE FUNCTION commerce._invite_rewards() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE r commerce.invite_reward_rule%ROWTYPE;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._invite_rewards must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    SELECT * INTO r FROM commerce.invite_reward_rule WHERE tenant_id = NEW.tenant_id AND config_id = NEW.config_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF r.inviter_reward IS NOT NULL THEN
        PERFORM commerce._grant_reward_or_record(NEW.tenant_id, 'invite:' || NEW.invite_id || ':inviter', NEW.inviter_id, r.inviter_reward);
    END IF;
    IF r.invitee_reward IS NOT NULL THEN
        PERFORM commerce._grant_reward_or_record(NEW.tenant_id, 'invite:' || NEW.invite_id || ':invitee', NEW.invitee_id, r.invitee_reward);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION commerce.check_reward_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a prize issued exactly the grants that drew it, never beyond its stock
    SELECT 'prize issued = its grants <= quota', format('box %s prize %s: issued %s, grants %s, quota %s', p.box_id, p.prize_no,
                                                        p.issued, coalesce(g.n, 0), coalesce(p.quota::text, '-'))
      FROM commerce.blind_box_prize p
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM commerce.reward_grant x
                          WHERE x.tenant_id = p.tenant_id AND x.box_id = p.box_id AND x.prize_no = p.prize_no
                            AND x.outcome = 'granted') g ON true
     WHERE (p_tenant IS NULL OR p.tenant_id = p_tenant) AND (p.issued <> coalesce(g.n, 0) OR p.issued > p.quota)
    UNION ALL
    -- a granted reward holds what it gave
    SELECT 'granted reward = its points or coupon', format('grant %s (%s)', g.grant_id, g.kind)
      FROM commerce.reward_grant g
      LEFT JOIN commerce.blind_box_prize p ON p.tenant_id = g.tenant_id AND p.box_id = g.box_id AND p.prize_no = g.prize_no
     WHERE (p_tenant IS NULL OR g.tenant_id = p_tenant) AND g.outcome = 'granted'
       AND ((g.kind = 'points' AND g.lot_id IS NULL)
            OR (g.kind = 'coupon' AND g.coupon_id IS NULL)
            OR (g.kind = 'blind_box' AND (g.prize_no IS NULL OR (p.kind = 'points') <> (g.lot_id IS NOT NULL)
                                          OR (p.kind = 'coupon') <> (g.coupon_id IS NOT NULL))));
$$;
COMMENT ON FUNCTION commerce.check_reward_invariants(bigint) IS
  'Every invariant of the rewards (check after stress): each blind box prize issued exactly the grants that drew it and never beyond its stock; each granted reward holds its points lot or coupon. No rows means all hold.';
CREATE FUNCTION commerce.upsert_mall_item(p_tenant bigint, p_code text, p_name text, p_kind text, p_points bigint,
                                          p_target text, p_per_customer_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_sku bigint; v_batch bigint; v_plan bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_points, 'p_points');
    PERFORM commerce._require(p_target, 'p_target');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 64)),
                                  'A code is 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit.');
    END IF;
    IF p_kind NOT IN ('goods', 'coupon', 'membership') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'The mall sells goods, a coupon or a membership.');
    END IF;
    IF p_points NOT BETWEEN 1 AND 100000000 THEN
        PERFORM commerce._invalid('p_points', format('%s points', p_points), 'An item costs 1 to 100000000 points.');
    END IF;
    IF p_per_customer_limit IS NOT NULL AND p_per_customer_limit NOT BETWEEN 1 AND 1000 THEN
        PERFORM commerce._invalid('p_per_customer_limit', format('%s', p_per_customer_limit), 'A limit is 1 to 1000 redemptions, or NULL.');
    END IF;
    IF p_kind = 'goods' THEN
        SELECT sku_id INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_target;
        IF NOT FOUND THEN PERFORM commerce._not_found('sku', p_target, p_tenant); END IF;
    ELSIF p_kind = 'coupon' THEN
        SELECT batch_id INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_target;
        IF NOT FOUND THEN PERFORM commerce._not_found('coupon batch', p_target, p_tenant); END IF;
    ELSE
        SELECT plan_id INTO v_plan FROM commerce.membership_plan WHERE tenant_id = p_tenant AND code = p_target;
        IF NOT FOUND THEN PERFORM commerce._not_found('membership plan', p_target, p_tenant); END IF;
    END IF;
    INSERT INTO commerce.points_mall_item AS i (tenant_id, code, name, kind, points, sku_id, batch_id, plan_id,
                                                per_customer_limit, created_at)
    VALUES (p_tenant, p_code, left(p_name, 200), p_kind, p_points, v_sku, v_batch, v_plan, p_per_customer_limit, commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET name = EXCLUDED.name, kind = EXCLUDED.kind, points = EXCLUDED.points, sku_id = EXCLUDED.sku_id,
           batch_id = EXCLUDED.batch_id, plan_id = EXCLUDED.plan_id, per_customer_limit = EXCLUDED.per_customer_limit
    RETURNING item_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.upsert_mall_item(bigint, text, text, text, bigint, text, integer) IS
  'Create or change an item of the points mall by code: p_kind goods (p_target a SKU), coupon (a coupon batch) or membership (a plan), costing p_points a unit, at most p_per_customer_limit redemptions per customer (NULL: no limit). A change applies to later redemptions. Returns the item id.';
CREATE TYPE commerce.redemption_result AS (redemption_id bigint, item text, kind text, qty integer, points bigint,
                                            order_id bigint, coupon_id bigint, status text, available bigint, outcome text);
COMMENT ON TYPE commerce.redemption_result IS
  'A points-mall redemption: the item and its kind, units, the points spent, the order (goods, a membership card) or coupon it gave, its status (redeemed, reversed), the customer''s available points after it, and what happened (redeemed, existing: the request had redeemed before, reversed).';
CREATE FUNCTION commerce._redemption_result(p_tenant bigint, p_request text, p_outcome text) RETURNS commerce.redemption_result
LANGUAGE plpgsql STABLE AS $$
DECLARE r commerce.redemption_result;
BEGIN
    SELECT d.redemption_id, i.code, i.kind, d.qty, d.points, d.order_id, d.coupon_id, d.status,
           coalesce(a.available, 0), p_outcome
      INTO r
      FROM commerce.points_redemption d
      JOIN commerce.points_mall_item i ON i.tenant_id = d.tenant_id AND i.item_id = d.item_id
      LEFT JOIN commerce.points_account a ON a.tenant_id = d.tenant_id AND a.customer_id = d.customer_id
     WHERE d.tenant_id = p_tenant AND d.request_id = p_request;
    RETURN r;
END $$;
CREATE FUNCTION commerce.redeem_points(p_tenant bigint, p_request_id text, p_customer text, p_item text, p_qty integer DEFAULT 1,
                                       p_channel text DEFAULT 'wechat_mp', p_receiver jsonb DEFAULT NULL)
RETURNS commerce.redemption_result LANGUAGE plpgsql AS $$
DECLARE i commerce.points_mall_item%ROWTYPE; v_customer bigint; v_n bigint; v_order bigint; v_coupon bigint;
        v_sku text; r commerce.order_result; d commerce.points_redemption%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._request_key(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_item, 'p_item');
    PERFORM commerce._require(p_qty, 'p_qty');
    SELECT * INTO i FROM commerce.points_mall_item WHERE tenant_id = p_tenant AND code = p_item;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('mall item', p_item, p_tenant);
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF p_qty NOT BETWEEN 1 AND 100 OR (i.kind <> 'goods' AND p_qty <> 1) THEN
        PERFORM commerce._invalid('p_qty', format('%s units of a %s item', p_qty, i.kind),
                                  'Redeem 1 to 100 units of goods, one coupon or one membership at a time.');
    END IF;
    -- under the customer's points account lock: a repeat finds its redemption, the limit counts the others
    PERFORM commerce._lock_points_account(p_tenant, v_customer);
    SELECT * INTO d FROM commerce.points_redemption WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF FOUND THEN
        IF d.customer_id <> v_customer OR d.item_id <> i.item_id OR d.qty <> p_qty THEN
            RAISE EXCEPTION USING ERRCODE = '23505',
                MESSAGE = format('request_id "%s" was already used for another redemption', left(p_request_id, 64)),
                DETAIL  = format('It redeemed %s x item %s for customer %s.', d.qty, d.item_id, d.customer_id),
                HINT    = 'Use a new request_id for a new redemption.';
        END IF;
        RETURN commerce._redemption_result(p_tenant, p_request_id, 'existing');
    END IF;
    IF NOT i.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('mall item "%s" is not on sale', p_item),
            HINT = 'Redeem an item on sale (commerce_api.mall_items).';
    END IF;
    IF i.per_customer_limit IS NOT NULL THEN
        SELECT count(*) INTO v_n FROM commerce.points_redemption
         WHERE tenant_id = p_tenant AND customer_id = v_customer AND item_id = i.item_id AND status = 'redeemed';
        IF v_n >= i.per_customer_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('customer "%s" has redeemed "%s" %s times', left(p_customer, 64), p_item, v_n),
                DETAIL  = format('At most %s per customer.', i.per_customer_limit),
                HINT    = 'Nothing was spent.';
        END IF;
    END IF;
    -- the points first (PT409 when too few: nothing happens), then what they buy
    PERFORM commerce.spend_points(p_tenant, 'redeem:' || p_request_id, p_customer, i.points * p_qty,
                                  left('points mall: ' || i.name, 200));
    IF i.kind = 'coupon' THEN
        v_coupon := (commerce.issue_coupon(p_tenant, 'redeem', p_request_id, (SELECT code FROM commerce.coupon_batch
                                                                               WHERE tenant_id = p_tenant AND batch_id = i.batch_id),
                                           p_customer)).coupon_id;
    ELSE
        SELECT code INTO v_sku FROM commerce.sku
         WHERE tenant_id = p_tenant
           AND sku_id = coalesce(i.sku_id, (SELECT sku_id FROM commerce.membership_plan WHERE tenant_id = p_tenant AND plan_id = i.plan_id));
        r := commerce.place_order(p_tenant, 'redeem:' || p_request_id, p_channel,
                                  jsonb_strip_nulls(jsonb_build_object(
                                      'lines', jsonb_build_array(jsonb_build_object('sku', v_sku, 'qty', p_qty)),
                                      'receiver', p_receiver, 'paid_by', 'points')),
                                  p_customer);
        v_order := r.order_id;
        IF r.payable_fen <> 0 THEN
            RAISE EXCEPTION 'commerce.redeem_points: the order % paid with points is payable %', v_order, r.payable_fen;
        END IF;
        PERFORM commerce.pay_order(p_tenant, v_order, 'points:' || p_request_id, 0);
    END IF;
    INSERT INTO commerce.points_redemption (tenant_id, request_id, customer_id, item_id, qty, points, order_id, coupon_id,
                                            status, created_at)
    VALUES (p_tenant, p_request_id, v_customer, i.item_id, p_qty, i.points * p_qty, v_order, v_coupon, 'redeemed', commerce.now());
    RETURN commerce._redemption_result(p_tenant, p_request_id, 'redeemed');
END $$;
COMMENT ON FUNCTION commerce.redeem_points(bigint, text, text, text, integer, text, jsonb) IS
  'Redeem a customer''s points for an item of the mall, once per request_id (a repeat returns it, outcome existing; the request_id of another redemption is 23505): the points are spent earliest expiry first (PT409 when too few), then goods become an order paid with points on p_channel to p_receiver (stock held and sold from the pool: PT409 when short), a coupon is issued (PT409 when its batch is all claimed), a membership is extended by a period. Any refusal undoes all of it. At most the item''s per-customer limit (PT409).';
CREATE FUNCTION commerce.reverse_redemption(p_tenant bigint, p_request_id text, p_reason text)
RETURNS commerce.redemption_result LANGUAGE plpgsql AS $$
DECLARE d commerce.points_redemption%ROWTYPE; i commerce.points_mall_item%ROWTYPE; v_status text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_id, 'p_request_id');
    PERFORM commerce._require(p_reason, 'p_reason');
    SELECT * INTO d FROM commerce.points_redemption WHERE tenant_id = p_tenant AND request_id = p_request_id;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('redemption', p_request_id, p_tenant);
    END IF;
    PERFORM commerce._lock_points_account(p_tenant, d.customer_id);
    SELECT * INTO d FROM commerce.points_redemption WHERE tenant_id = p_tenant AND redemption_id = d.redemption_id FOR UPDATE;
    IF d.status = 'reversed' THEN
        RETURN commerce._redemption_result(p_tenant, p_request_id, 'existing');
    END IF;
    SELECT * INTO i FROM commerce.points_mall_item WHERE tenant_id = p_tenant AND item_id = d.item_id;
    IF i.kind = 'coupon' THEN
        UPDATE commerce.coupon SET status = 'revoked', ended_at = commerce.now()
         WHERE tenant_id = p_tenant AND coupon_id = d.coupon_id AND status = 'issued';
        IF NOT FOUND THEN
            SELECT status INTO v_status FROM commerce.coupon WHERE tenant_id = p_tenant AND coupon_id = d.coupon_id;
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('redemption "%s" cannot be reversed: its coupon is %s', left(p_request_id, 64), v_status),
                HINT    = 'A redemption is reversed only while its coupon is unused.';
        END IF;
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('redemption "%s" cannot be reversed here: it gave %s', left(p_request_id, 64), i.kind),
            DETAIL  = format('Order %s was paid with points.', d.order_id),
            HINT    = 'Goods and memberships come back through after-sale; their points are then given back by customer service (commerce_api.grant_points).';
    END IF;
    PERFORM commerce._earn_points(p_tenant, d.customer_id, 'refund', 'redeem:' || p_request_id, d.points, interval '0',
                                  interval '365 days', NULL, NULL, left('reversed: ' || p_reason, 200));
    UPDATE commerce.points_redemption SET status = 'reversed', reversed_at = commerce.now(), reverse_reason = left(p_reason, 200)
     WHERE tenant_id = p_tenant AND redemption_id = d.redemption_id;
    RETURN commerce._redemption_result(p_tenant, p_request_id, 'reversed');
END $$;
COMMENT ON FUNCTION commerce.reverse_redemption(bigint, text, text) IS
  'Reverse a points-mall redemption of a coupon while the coupon is unused: the coupon is revoked and the points come back as a lot available at once for 365 days (source refund), once (a repeat returns it). Goods and memberships are reversed through after-sale (PT409 here). Returns the redemption.';
CREATE FUNCTION commerce.check_mall_invariants(p_tenant bigint DEFAULT NULL)
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
    -- a redemption spent exactly its points, and a reversed one got them back once
    SELECT 'redemption = its spend (and refund)', format('redemption %s: %s points, spent %s, refunded %s', d.redemption_id, d.points,
                                                         coalesce(s.points, 0), coalesce(l.points, 0))
      FROM commerce.points_redemption d
      LEFT JOIN commerce.points_spend s ON s.tenant_id = d.tenant_id AND s.request_id = 'redeem:' || d.request_id
      LEFT JOIN commerce.points_lot l ON l.tenant_id = d.tenant_id AND l.source = 'refund' AND l.source_key = 'redeem:' || d.request_id
     WHERE (p_tenant IS NULL OR d.tenant_id = p_tenant)
       AND (coalesce(s.points, 0) <> d.points OR coalesce(l.points, 0) <> CASE WHEN d.status = 'reversed' THEN d.points ELSE 0 END)
    UNION ALL
    -- what it gave: a paid order with nothing payable for its goods, or a coupon (revoked when reversed)
    SELECT 'redemption = what it gave', format('redemption %s (%s)', d.redemption_id, d.status)
      FROM commerce.points_redemption d
      LEFT JOIN commerce.orders o ON o.tenant_id = d.tenant_id AND o.order_id = d.order_id
      LEFT JOIN commerce.coupon c ON c.tenant_id = d.tenant_id AND c.coupon_id = d.coupon_id
     WHERE (p_tenant IS NULL OR d.tenant_id = p_tenant)
       AND ((d.order_id IS NULL) = (d.coupon_id IS NULL)
            OR (d.order_id IS NOT NULL AND (o.paid_at IS NULL OR o.discount_fen <> o.goods_fen))
            OR (d.coupon_id IS NOT NULL AND (c.status = 'revoked') <> (d.status = 'reversed')));
$$;
COMMENT ON FUNCTION commerce.check_mall_invariants(bigint) IS
  'Every invariant of the points mall (check after stress): each redemption spent exactly its points (a reversed one got exactly them back, once), and gave exactly one thing: a paid order whose goods were all paid with points, or a coupon, revoked exactly when the redemption was reversed. No rows means all hold.';
CREATE VIEW commerce_api.mall_item AS
SELECT NULL::text AS item, NULL::text AS name, NULL::text AS kind, NULL::bigint AS points, NULL::text AS target,
       NULL::integer AS per_customer_limit, NULL::bigint AS available
 WHERE false;
COMMENT ON VIEW commerce_api.mall_item IS
  E'@omit all\nAn item of the points mall: what it is (goods: a SKU; coupon: a batch; membership: a plan: target names it), its price in points, how often one customer may redeem it, and how many are left (goods: units in the stock pool; coupons: left in the batch; NULL: no limit).';
CREATE FUNCTION commerce_api.mall_items()
RETURNS SETOF commerce_api.mall_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.mall_items', '{anonymous,customer,operator,service}');
BEGIN
    RETURN QUERY
    SELECT i.code, i.name, i.kind, i.points, coalesce(s.code, b.code, p.code), i.per_customer_limit,
           CASE i.kind WHEN 'goods' THEN (SELECT sum(commerce._pool_available(sp.tenant_id, sp.pool_id))::bigint
                                            FROM commerce.stock_pool sp
                                           WHERE sp.tenant_id = i.tenant_id AND sp.sku_id = i.sku_id AND sp.parent_pool_id IS NULL)
                       WHEN 'coupon' THEN (SELECT b.quota - sum(x.issued)::bigint FROM commerce.coupon_slot x
                                            WHERE x.tenant_id = b.tenant_id AND x.batch_id = b.batch_id) END
      FROM commerce.points_mall_item i
      LEFT JOIN commerce.sku s ON s.tenant_id = i.tenant_id AND s.sku_id = i.sku_id
      LEFT JOIN commerce.coupon_batch b ON b.tenant_id = i.tenant_id AND b.batch_id = i.batch_id
      LEFT JOIN commerce.membership_plan p ON p.tenant_id = i.tenant_id AND p.plan_id = i.plan_id
     WHERE i.tenant_id = a.tenant_id AND i.active
     ORDER BY i.points, i.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.mall_items() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.mall_items() IS
  'The items of the points mall on sale (mall_item), cheapest first. Open to visitors, customers, operators and services.';
CREATE VIEW commerce_api.redemption AS
SELECT NULL::bigint AS redemption_id, NULL::text AS item, NULL::text AS kind, NULL::integer AS qty, NULL::bigint AS points,
       NULL::bigint AS order_id, NULL::bigint AS coupon_id, NULL::text AS status, NULL::bigint AS available,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.redemption IS
  E'@omit all\nA points-mall redemption: the item, its kind, units, the points spent, the order (goods, a membership card; paid with points) or the coupon it gave, its status (redeemed, reversed), the points available after it, and what happened (redeemed, existing: that request had redeemed before, reversed).';
CREATE FUNCTION commerce_api.redeem_points(request_id text, item text, qty integer DEFAULT 1, channel text DEFAULT 'wechat_mp',
                                           receiver jsonb DEFAULT NULL, customer text DEFAULT NULL)
RETURNS SETOF commerce_api.redemption LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.redeem_points', '{customer,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.redeem_points(a.tenant_id, redeem_points.request_id,
                                                      commerce._actor_subject(a, redeem_points.customer, 'customer'),
                                                      redeem_points.item, redeem_points.qty, redeem_points.channel,
                                                      redeem_points.receiver);
END $$;
REVOKE ALL ON FUNCTION commerce_api.redeem_points(text, text, integer, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.redeem_points(text, text, integer, text, jsonb, text) IS
  'A customer redeems its points for an item of the mall (a service names the customer), once per request_id: the points are spent (PT409 when too few), and goods are shipped to receiver as an order paid with points on channel, a coupon is issued, or the membership extended; any refusal (stock, coupons all claimed, the per-customer limit: PT409) undoes it all. Returns the redemption.';
CREATE FUNCTION commerce_api.reverse_redemption(request_id text, reason text)
RETURNS SETOF commerce_api.redemption LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reverse_redemption', '{operator,service}');
        r commerce.redemption_result;
BEGIN
    r := commerce.reverse_redemption(a.tenant_id, reverse_redemption.request_id, reverse_redemption.reason);
    IF r.outcome = 'reversed' THEN
        PERFORM commerce._audit(a.tenant_id, 'reverse_redemption', reverse_redemption.request_id,
                                jsonb_build_object('reason', left(reverse_redemption.reason, 200), 'points', r.points), 'reversed');
    END IF;
    RETURN NEXT r;
END $$;
REVOKE ALL ON FUNCTION commerce_api.reverse_redemption(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reverse_redemption(text, text) IS
  'Customer service reverses a coupon redemption while the coupon is unused: revoked, the points given back (audited). HQ operators and services. Returns the redemption.';
CREATE FUNCTION commerce_api.upsert_mall_item(code text, name text, kind text, points bigint, target text,
                                              per_customer_limit integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_mall_item', '{operator,service}');
        v_id bigint;
BEGIN
    PERFORM commerce._actor_scope(a, NULL, NULL);
    v_id := commerce.upsert_mall_item(a.tenant_id, upsert_mall_item.code, upsert_mall_item.name, upsert_mall_item.kind,
                                      upsert_mall_item.points, upsert_mall_item.target, upsert_mall_item.per_customer_limit);
    PERFORM commerce._audit(a.tenant_id, 'upsert_mall_item', upsert_mall_item.code,
                            jsonb_build_object('kind', upsert_mall_item.kind, 'points', upsert_mall_item.points,
                                               'target', upsert_mall_item.target), 'saved');
    RETURN v_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_mall_item(text, text, text, bigint, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_mall_item(text, text, text, bigint, text, integer) IS
  'HQ puts an item in the points mall or changes it (audited): kind goods (target a SKU), coupon (a batch) or membership (a plan), its price in points, a per-customer limit. HQ operators and services. Returns the item id.';
CREATE VIEW commerce_api.reward AS
SELECT NULL::bigint AS grant_id, NULL::text AS kind, NULL::bigint AS points, NULL::bigint AS coupon_id, NULL::text AS prize,
       NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.reward IS
  E'@omit all\nA reward granted: its kind (points, coupon, blind_box), the points or coupon it gave, the blind box prize drawn, and what happened (granted, or existing: that source had been rewarded before).';
CREATE FUNCTION commerce_api.grant_reward(request_id text, customer text, reward jsonb, reason text)
RETURNS SETOF commerce_api.reward LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.grant_reward', '{operator,service}');
        r commerce.reward_result;
BEGIN
    PERFORM commerce._require(grant_reward.reason, 'reason');
    r := commerce.grant_reward(a.tenant_id, grant_reward.request_id, grant_reward.customer, grant_reward.reward);
    IF r.outcome = 'granted' THEN
        PERFORM commerce._audit(a.tenant_id, 'grant_reward', grant_reward.request_id,
                                jsonb_build_object('customer', grant_reward.customer, 'reward', grant_reward.reward,
                                                   'reason', left(grant_reward.reason, 200)), 'granted');
    END IF;
    RETURN NEXT r;
END $$;
REVOKE ALL ON FUNCTION commerce_api.grant_reward(text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.grant_reward(text, text, jsonb, text) IS
  'HQ or a campaign backend rewards a customer once per request_id (audited): reward {"points":n}, {"coupon":"<batch>"} or {"blind_box":"<box>"} (one prize drawn by its odds among those in stock; PT409 when none is left). HQ operators and services. Returns the reward.';
CREATE VIEW commerce_api.blind_box_prize AS
SELECT NULL::text AS box, NULL::integer AS prize_no, NULL::text AS name, NULL::text AS kind, NULL::integer AS weight,
       NULL::numeric AS odds, NULL::bigint AS remaining
 WHERE false;
COMMENT ON VIEW commerce_api.blind_box_prize IS
  E'@omit all\nA prize of a blind box with its odds now: weight / the weights of the prizes still in stock (0 for one out of stock), and how many are left (NULL: no limit).';
CREATE FUNCTION commerce_api.blind_box_odds(box text)
RETURNS SETOF commerce_api.blind_box_prize LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.blind_box_odds', '{anonymous,customer,operator,service}');
BEGIN
    RETURN QUERY
    SELECT b.code, p.prize_no, p.name, p.kind, p.weight,
           CASE WHEN p.quota IS NULL OR p.issued < p.quota
                THEN round(p.weight::numeric / sum(p.weight) FILTER (WHERE p.quota IS NULL OR p.issued < p.quota) OVER (), 6)
                ELSE 0 END,
           p.quota - p.issued
      FROM commerce.blind_box b JOIN commerce.blind_box_prize p ON p.tenant_id = b.tenant_id AND p.box_id = b.box_id
     WHERE b.tenant_id = a.tenant_id AND b.code = blind_box_odds.box
     ORDER BY p.prize_no;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('blind box', blind_box_odds.box, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.blind_box_odds(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.blind_box_odds(text) IS
  'The prizes of a blind box and their odds now (blind_box_prize), as the PRD requires them shown before a draw. Open to visitors, customers, operators and services.';
CREATE FUNCTION commerce_hasura.mall_items(hasura_session json)
RETURNS SETOF commerce_api.mall_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.mall_items();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.mall_items(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.mall_items(json) IS
  'Hasura: commerce_api.mall_items for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';
CREATE TRIGGER after_10_invite_rewards AFTER UPDATE OF status ON commerce.play_invite
    FOR EACH ROW WHEN (NEW.status = 'rewarded' AND OLD.status IS DISTINCT FROM 'rewarded')
    EXECUTE FUNCTION commerce._invite_rewards();

-- the actor roles of a database upgraded after commerce.grant_api() ran get the new matrix
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'commerce_service') THEN
        PERFORM commerce.grant_api();
    END IF;
END $$;

-- ===========================================================================
-- nothing of schema commerce executable by PUBLIC (issue 11, finding 4):
-- keep this statement last
-- ===========================================================================

REVOKE ALL ON ALL ROUTINES IN SCHEMA commerce FROM PUBLIC;

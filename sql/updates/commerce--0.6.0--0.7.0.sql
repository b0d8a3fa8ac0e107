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
 *    created again here; its COMMENT and its GRANTs/REVOKEs are repeated.
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
  'Make a table append-only: triggers before_10_append_only (UPDATE, DELETE) and before_10_append_only_truncate (TRUNCATE) with commerce.append_only_guard (PT405). Idempotent.';
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
  'A helper cuts a bargain''s price by the rule''s cut_fen (the last cut stops at floor_fen); the cut that reaches the floor makes the bargain a success. Helps of one bargain are serialized on its row. Refused: not running (PT412), past its deadline (PT410), the owner helping (PT412), a second help (PT412), the eligibility rules (PT451, PT425, PT420, ...). Idempotent by request_id.';

CREATE OR REPLACE FUNCTION commerce._refuse_join(i commerce.play_instance, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF i.status <> 'active' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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

CREATE OR REPLACE FUNCTION commerce.play_dashboard(p_tenant bigint, p_config text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE c commerce.play_config; tp commerce.play_template; f record; r record; u record; k jsonb; g record;
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

CREATE OR REPLACE FUNCTION commerce.end_expired_groups(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance; c commerce.play_config; p record; n integer := 0; a commerce.after_sale;
        o commerce.orders; v_now timestamptz := commerce.now(); v_kind text;
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

COMMENT ON FUNCTION commerce.end_expired_groups(integer) IS
  'The play deadline job (one batch, SKIP LOCKED). A group past its deadline is completed with virtual members when its rules say virtual_fill, else failed: each paying member''s unit goes back to the play''s stock and the payment is refunded through the outbox (payment.refund, retried now, after 1 minute and 1 hour, then a dead letter and an outbox.dead alert; the provider confirms with commerce.complete_refund, and the member becomes refunded). A bargain past its deadline that did not reach its floor is failed (play.bargain_failed). Returns the number of instances ended.';

COMMENT ON FUNCTION commerce.join_group(bigint, text, text, text, text, bigint, text, text, text) IS
  'Group buy (M3): open a group (no instance: the customer leads it) or join one, paying the play price; the order takes a unit of the play''s stock and carries the instance. Joiners of one group share its row (KEY SHARE) while they order and pay, and take their place at the end by a conditional update (status active, current below target, before the deadline), so a group never has more than its target and a join that loses the race rolls back whole; the member that completes it makes it a success and issues every member''s asset. Refused: a closed or not running play (PT412), a group that is not active (PT412), past its deadline (PT410), full (PT409), a second place (PT412), and the eligibility rules checked in C (PT451 blacklist, PT403, PT429, PT423, PT425, PT420). IP and device feed the blacklist and the per-IP rate. Idempotent by request_id.';

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

COMMENT ON FUNCTION commerce.set_level_benefits(bigint, text, integer, boolean, boolean, text[]) IS
  'K06: set a level''s benefits (commission bonus in bp, vote rights, airdrops, exclusive materials); they apply at once to every KOC of the level (the next redemption earns the new bonus).';

COMMENT ON FUNCTION commerce.koc_benefits(bigint, text) IS
  'K06: what a KOC has now: its level, the commission bonus, vote rights and airdrops (only while active), the exclusive materials of its level and the levels below, and whether it signed the current agreement.';

COMMENT ON TABLE commerce.platform_status_map IS
  'Platform status words mapped to the unified order status (H3.2.3); tenant_id 0 holds the defaults, a tenant row overrides one.';

COMMENT ON TABLE commerce.routing_rule IS
  'Logistics routing as data (H3.3.2): rules tried by priority, first match wins; a rule matches when its set conditions hold (receiver region in regions, parcel weight >= min_weight_g, remote region). tenant_id 0 rows are the defaults for tenants without rules of their own. Evaluated in C by commerce.route_carrier.';

COMMENT ON TABLE commerce.recon_difference IS
  'Differences between a day''s bill and commerce''s orders (marked red for an operator, H3.7.1): an order missing on either side, a paid amount or a refund that differs.';

COMMENT ON FUNCTION commerce.consume_asset(bigint, text, bigint, bigint, text, text) IS
  'Consume (核销) units of an asset at a store by an operator (M2.2): never below zero (PT409, under the asset row lock), logged with the activity the asset came from; the first consumption completes the order, so an attributed order earns its KOC commission. Idempotent by request_id.';

COMMENT ON FUNCTION commerce.start_bargain(bigint, text, text, text, text, text) IS
  'Bargain (M3): the customer starts a bargain at the play price; helpers cut it by the rule''s cut_fen until floor_fen, within the rule''s hours (and the play''s window). helps_needed = ceil((price - floor) / cut). One running bargain per customer and play (PT412); the eligibility rules apply. Idempotent by request_id.';

COMMENT ON FUNCTION commerce.configure_play(bigint, text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, text, text[], boolean, integer, text, text, bigint) IS
  'A store applies a template (M2.1): price (above 0, at most the SKU''s price, never below its floor: 23514), stock pre-allocated from the shared pool to the activity play:<code> (PT409 when short), window, visibility (cities), eligibility (new users only, per-user limit, mutex group), asset type and units per sale, and rules checked against the template''s schema (22023 naming the JSON path; defaults filled in). Idempotent by request_id; a code is configured once (23505).';

COMMENT ON FUNCTION commerce.play_dashboard(bigint, text) IS
  'The activity dashboard (M4), one JSON document for any play: funnel (views and distinct viewers -> joins/starts/purchases -> paid orders and payers, viewToPaidBp), revenue (gmvFen, orders, refundedFen, netFen), fulfilment (TotalAssetPool = units sold x units per sale of live assets, ConsumedAsset, the template''s unit name, "90 hours of 150 hours") and the kind''s card: group_buy (groups, succeeded, failed, successRateBp, virtual members), bargain (started, succeeded, helps), invite_reward (inviters, invitees, rewarded, fissionCoefficient = converted invitees per inviter), flash_sale (allocated, available, sellThroughBp).';

COMMENT ON FUNCTION commerce.buy_play(bigint, text, text, text, integer, text, text, text, jsonb) IS
  'Flash sale (M3), or the first-order offer of an invite-reward play: an order at the play price from the play''s own stock, held for the play''s hold time (hold_minutes, 5 by default) and cancelled unless paid by then (commerce.pay_order). Sold out is refused before any lock or write (PT409); the per-order limit (22023); the eligibility rules (PT451, PT403, PT429, PT423, PT425, PT420). The asset is issued when the order is paid. Idempotent by request_id (outcome existing).';

COMMENT ON FUNCTION commerce.apply_play_settlement(bigint, text, text) IS
  'A store applies for settlement of a play (M7): every completed order of the play not yet in a settlement (paid less refunded), split by the split rule of the template (or the default) into store_fen and hq_fen, which add up exactly (largest remainder). PT412 without a rule or without income to settle. Idempotent by request_id; applications of one play are serialized.';

COMMENT ON TABLE commerce.play_template IS
  'A play HQ offers its stores (M1.2): GROUP_BUY, FLASH_SALE, BARGAIN, INVITE_REWARD or any code of one of those kinds, the schema its store rules must follow, and the unit what it sells is counted in (lessons, hours, bags).';

COMMENT ON TABLE commerce.play_config IS
  'A store applies a template to one of its SKUs or services (M2.1): the play price, the stock pre-allocated from the shared pool to the activity play:<code>, the window, where it is seen (cities; NULL: everywhere), who may join (new users only, a per-user limit, a mutex group) and the rules, checked against the template''s schema with its defaults filled in. What is sold becomes units_per_sale units of an asset of asset_type. The terms never change after creation; a config is closed and a new one made.';

COMMENT ON TABLE commerce.user_asset IS
  'What a customer bought and consumes over time (M2.2): 10 lessons, 150 hours, 200 bags; remaining never goes below zero (CHECK, under the asset row lock). One asset per order, with the activity and instance it came from.';

COMMENT ON TABLE commerce.play_blacklist IS
  'Who may not take part in any play of the tenant (M3, eligibility): a customer (kind user, by customer code), an IP or a device id, with a reason and an optional end. Checked in C by every play entry point (PT451).';

COMMENT ON TABLE commerce.play_invite IS
  'Invite-reward (老带新, M3): who brought which new customer. A customer is invited once per tenant (the first invitation counts). On the invitee''s first paid order the invite ends exactly once: rewarded (the inviter''s reward_fen and the invitee''s invitee_reward_fen go out through the outbox), capped (the inviter already had max_rewards) or lapsed (the play was no longer running).';

COMMENT ON TABLE commerce.play_settlement IS
  'A store''s settlement of a play''s income (M7): the completed orders not settled before, their income (paid less refunded), split into the store''s and HQ''s parts by the split rule (they add up exactly: CHECK). applied -> approved (payout to the store through the outbox) -> paid | failed (approved again to retry); applied -> rejected releases the orders.';

COMMENT ON FUNCTION commerce.visible_plays(bigint, text, text, timestamptz) IS
  'Rule layer 1 (query time, M3): the active plays running at the moment (default now) that a customer in the city (and at the store) may see; a play with cities is seen only there. Each row carries its display state (sold_out plays stay visible).';


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
CREATE OR REPLACE FUNCTION commerce.decide_after_sale(p_tenant bigint, p_after_sale bigint, p_approve boolean,
                                           p_note text DEFAULT NULL)
RETURNS commerce.after_sale LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale; o commerce.orders; v_target text;
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

CREATE OR REPLACE FUNCTION commerce.complete_refund(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale; o commerce.orders;
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

CREATE OR REPLACE FUNCTION commerce.complete_exchange(p_tenant bigint, p_after_sale bigint)
RETURNS commerce.after_sale LANGUAGE plpgsql AS $$
DECLARE a commerce.after_sale; o commerce.orders; v_res commerce.reservation_result;
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

CREATE OR REPLACE FUNCTION commerce.complete_order(p_tenant bigint, p_order bigint)
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
    UPDATE commerce.orders SET status = 'completed', status_reason = 'redeemed'
     WHERE tenant_id = p_tenant AND order_id = p_order RETURNING * INTO o;
    RETURN o;
END $$;

CREATE OR REPLACE FUNCTION commerce.pay_order(p_tenant bigint, p_order bigint, p_payment_id text,
                                   p_amount_fen bigint)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE o commerce.orders; ch commerce.channel;
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

CREATE OR REPLACE FUNCTION commerce._cancel(o commerce.orders, p_reason text) RETURNS void
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

CREATE OR REPLACE FUNCTION commerce.set_level_benefits(p_tenant bigint, p_level text, p_bonus_bp integer DEFAULT NULL,
                                            p_vote_rights boolean DEFAULT NULL, p_airdrop boolean DEFAULT NULL,
                                            p_materials text[] DEFAULT NULL)
RETURNS commerce.koc_level LANGUAGE plpgsql AS $$
DECLARE lv commerce.koc_level;
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

CREATE OR REPLACE FUNCTION commerce.set_koc_settings(p_tenant bigint,
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

CREATE OR REPLACE FUNCTION commerce.request_withdrawal(p_tenant bigint, p_request_id text, p_koc text, p_amount_fen bigint,
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

CREATE OR REPLACE FUNCTION commerce.place_order(p_tenant bigint, p_request_id text, p_channel text,
                                     p_order jsonb, p_customer text DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders;
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

CREATE OR REPLACE FUNCTION commerce.consume_asset(p_tenant bigint, p_request_id text, p_asset bigint, p_amount bigint,
                                       p_store text, p_operator text)
RETURNS commerce.user_asset LANGUAGE plpgsql AS $$
DECLARE a commerce.user_asset; st commerce.store; l commerce.consumption_log; o commerce.orders;
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

CREATE OR REPLACE FUNCTION commerce.start_bargain(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                       p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config; cu commerce.customer; i commerce.play_instance;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
DECLARE i commerce.play_instance; c commerce.play_config; cu commerce.customer; h commerce.play_help;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('customer "%s" cannot help their own bargain', p_helper),
            HINT    = 'Ask friends to help.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_help
                WHERE tenant_id = p_tenant AND instance_id = p_instance AND helper_id = cu.customer_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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

CREATE OR REPLACE FUNCTION commerce.buy_bargain(p_tenant bigint, p_request_id text, p_instance bigint, p_customer text,
                                     p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                     p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE i commerce.play_instance; c commerce.play_config; cu commerce.customer; sk commerce.sku; o commerce.orders;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('bargain %s is not customer "%s"''s', p_instance, p_customer),
            HINT    = 'Only the customer who started a bargain buys it.';
    END IF;
    IF EXISTS (SELECT 1 FROM commerce.play_participant WHERE tenant_id = p_tenant AND instance_id = p_instance) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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

CREATE OR REPLACE FUNCTION commerce.configure_play(p_tenant bigint, p_request_id text, p_code text, p_template text,
                                        p_store text, p_sku text, p_title text, p_price_fen bigint,
                                        p_stock bigint, p_starts_at timestamptz, p_ends_at timestamptz,
                                        p_rules text DEFAULT '{}',
                                        p_cities text[] DEFAULT NULL,
                                        p_new_users_only boolean DEFAULT false,
                                        p_per_user_limit integer DEFAULT NULL,
                                        p_mutex_group text DEFAULT NULL,
                                        p_asset_type text DEFAULT NULL,
                                        p_units_per_sale bigint DEFAULT 1)
RETURNS commerce.play_config LANGUAGE plpgsql AS $$
DECLARE tp commerce.play_template; st commerce.store; sk commerce.sku; c commerce.play_config; v_rules jsonb;
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

CREATE OR REPLACE FUNCTION commerce.buy_play(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                  p_qty integer DEFAULT 1, p_channel text DEFAULT 'wechat_mp',
                                  p_ip text DEFAULT NULL, p_device text DEFAULT NULL, p_receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config; cu commerce.customer; sk commerce.sku; o commerce.orders;
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

CREATE OR REPLACE FUNCTION commerce.join_group(p_tenant bigint, p_request_id text, p_config text, p_customer text,
                                    p_payment_id text, p_instance bigint DEFAULT NULL,
                                    p_channel text DEFAULT 'wechat_mp', p_ip text DEFAULT NULL,
                                    p_device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE plpgsql AS $$
DECLARE
    c commerce.play_config; cu commerce.customer; i commerce.play_instance;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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

CREATE OR REPLACE FUNCTION commerce.invite(p_tenant bigint, p_request_id text, p_config text, p_inviter text, p_invitee text,
                                p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS commerce.play_invite LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config; ir commerce.customer; ie commerce.customer;
        v commerce.play_invite; v_now timestamptz := commerce.now();
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('customer "%s" was already invited', p_invitee),
            DETAIL  = format('By customer %s.', (SELECT cu.code FROM commerce.play_invite x
                                                   JOIN commerce.customer cu ON cu.tenant_id = x.tenant_id
                                                                            AND cu.customer_id = x.inviter_id
                                                  WHERE x.tenant_id = p_tenant AND x.invitee_id = ie.customer_id)),
            HINT    = 'The first invitation counts.';
    END IF;
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION commerce.set_split_rule(p_tenant bigint, p_template text, p_store_share_bp integer)
RETURNS commerce.play_split_rule LANGUAGE plpgsql AS $$
DECLARE r commerce.play_split_rule;
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

CREATE OR REPLACE FUNCTION commerce.apply_play_settlement(p_tenant bigint, p_request_id text, p_config text)
RETURNS commerce.play_settlement LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config; s commerce.play_settlement; v_bp integer;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('play "%s" has no income to settle', p_config),
            DETAIL  = 'Every completed order of the play is settled or under review.',
            HINT    = 'Orders count once they are completed (the first consumption of their asset).';
    END IF;
    RETURN s;
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

CREATE OR REPLACE FUNCTION commerce.request_after_sale(p_tenant bigint, p_request_id text, p_order bigint,
                                            p_kind text, p_refund_fen bigint DEFAULT 0,
                                            p_reason text DEFAULT NULL, p_lines jsonb DEFAULT NULL)
RETURNS commerce.after_sale LANGUAGE plpgsql AS $$
DECLARE
    o commerce.orders; a commerce.after_sale; v_kind commerce.after_sale_kind; l record;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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

CREATE OR REPLACE FUNCTION commerce.adjust_stock(p_tenant bigint, p_request_id text, p_sku text,
                                      p_delta bigint, p_warehouse text DEFAULT NULL,
                                      p_note text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE p commerce.stock_pool; v_seen jsonb; v_on_hand bigint;
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

CREATE OR REPLACE FUNCTION commerce._local_range(p_tenant bigint, p_from date, p_to date, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE t commerce.tenant;
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

CREATE OR REPLACE FUNCTION commerce.ingest_platform_order(p_tenant bigint, p_channel text, p_payload jsonb)
RETURNS commerce.order_result LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant;
    ch commerce.channel;
    pr commerce.platform_profile;
    o commerce.orders;
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

CREATE OR REPLACE FUNCTION commerce.ship_order(p_tenant bigint, p_order bigint, p_request_id text,
                                    p_tracking_no text DEFAULT NULL, p_carrier text DEFAULT NULL)
RETURNS commerce.shipment LANGUAGE plpgsql AS $$
DECLARE o commerce.orders; ch commerce.channel; sh commerce.shipment; v_weight bigint;
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
        RAISE EXCEPTION USING ERRCODE = 'PT412',
            MESSAGE = format('order %s cannot be shipped: it is %s', p_order, o.status),
            DETAIL  = 'Only paid orders are shipped.',
            HINT    = CASE WHEN o.oversell THEN 'This order is an oversell exception: restock or refund it first.'
                           ELSE 'Wait for the payment, or look the order up.' END;
    END IF;
    IF o.oversell THEN
        RAISE EXCEPTION USING ERRCODE = 'PT412',
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

-- ===========================================================================
-- nothing of schema commerce executable by PUBLIC (issue 11, finding 4):
-- keep this statement last
-- ===========================================================================

REVOKE ALL ON ALL ROUTINES IN SCHEMA commerce FROM PUBLIC;

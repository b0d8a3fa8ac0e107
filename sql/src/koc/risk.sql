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
CREATE FUNCTION commerce.run_risk_rules(p_tenant bigint DEFAULT NULL)
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
COMMENT ON FUNCTION commerce.run_risk_rules(bigint) IS
  'K22: the risk rules at the commerce clock: click_burst (risk_burst_clicks from one IP on one KOC''s links in a 10-minute slot of the last hour), conversion (at least risk_min_redemptions redemptions in 7 days and more than risk_max_conversion_bp per distinct clicking visitor), referral_ring (two KOCs buying through each other''s links within 7 days). Each finding opens a flag (once per KOC and rule while open; evidence a reviewer already decided on is not raised again; suspended KOCs are skipped), freezes the KOC, is audited and goes to the outbox (koc.risk_flagged).';

CREATE PROCEDURE commerce.risk_pump()
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce.run_risk_rules();
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

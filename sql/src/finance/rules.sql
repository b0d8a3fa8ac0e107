-- sql/src/finance/rules.sql: the gateway's limits, the receivers and the split
-- rules (H3.7.2), checked against the limits when they are saved.

-- The tenant's gateway limits, with the defaults when it has set none.
CREATE FUNCTION commerce._sharing_gateway(p_tenant bigint)
RETURNS TABLE (max_share_bp integer, freeze_days integer, margin_days integer, fee_bp integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(g.max_share_bp, 3000), coalesce(g.freeze_days, 30), coalesce(g.margin_days, 3), coalesce(g.fee_bp, 60)
      FROM (SELECT 1) one LEFT JOIN commerce.sharing_gateway g ON g.tenant_id = p_tenant;
$$;
COMMENT ON FUNCTION commerce._sharing_gateway(bigint) IS
  'The profit-sharing limits of a tenant''s payment gateway (sharing_gateway), or WeChat Pay''s defaults for an ordinary merchant: 3000 bp, 30 days frozen, 3 days of margin, a 60 bp fee.';

-- Set the gateway's limits; rules in force must stay within them.
CREATE FUNCTION commerce.set_sharing_gateway(p_tenant bigint, p_max_share_bp integer DEFAULT NULL,
                                             p_freeze_days integer DEFAULT NULL, p_margin_days integer DEFAULT NULL,
                                             p_fee_bp integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE g record; v_bad record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    SELECT * INTO g FROM commerce._sharing_gateway(p_tenant);
    g.max_share_bp := coalesce(p_max_share_bp, g.max_share_bp);
    g.freeze_days := coalesce(p_freeze_days, g.freeze_days);
    g.margin_days := coalesce(p_margin_days, g.margin_days);
    g.fee_bp := coalesce(p_fee_bp, g.fee_bp);
    IF g.max_share_bp NOT BETWEEN 0 AND 10000 THEN
        PERFORM commerce._invalid('p_max_share_bp', format('%s bp', g.max_share_bp),
            'The most a payment may share is 0 to 10000 bp (WeChat Pay: 3000 unless the gateway raised it).');
    END IF;
    IF g.freeze_days NOT BETWEEN 1 AND 360 THEN
        PERFORM commerce._invalid('p_freeze_days', format('%s days', g.freeze_days),
            'The freeze is 1 to 360 days (WeChat Pay: 30 for an ordinary merchant).');
    END IF;
    IF g.margin_days < 0 OR g.margin_days >= g.freeze_days THEN
        PERFORM commerce._invalid('p_margin_days', format('%s days of a %s-day freeze', g.margin_days, g.freeze_days),
            'The margin is 0 days or more and shorter than the freeze.');
    END IF;
    IF g.fee_bp NOT BETWEEN 0 AND 10000 THEN
        PERFORM commerce._invalid('p_fee_bp', format('%s bp', g.fee_bp), 'A fee rate is 0 to 10000 bp (WeChat Pay: 60).');
    END IF;
    -- rules and the limits are checked against each other under one lock per tenant
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.sharing_limits:' || p_tenant, 0));
    -- a rule in force whose ratios would pass the new cap is refused, not silently capped
    SELECT r.scope, r.scope_code, sum(p.ratio_bp) AS ratios INTO v_bad
      FROM commerce.sharing_rule r JOIN commerce.sharing_rule_party p USING (tenant_id, rule_id)
     WHERE r.tenant_id = p_tenant AND r.retired_at IS NULL
     GROUP BY r.rule_id, r.scope, r.scope_code HAVING sum(p.ratio_bp) > g.max_share_bp
     ORDER BY r.rule_id LIMIT 1;
    IF FOUND THEN
        PERFORM commerce._invalid('p_max_share_bp',
            format('The %s rule of %s shares %s bp by ratio, more than %s.', v_bad.scope, v_bad.scope_code, v_bad.ratios,
                   g.max_share_bp),
            'Change or retire the rules above the new limit first.');
    END IF;
    -- ... and so is one whose fixed parts would pass the cap at its scope's lowest price
    SELECT r.scope, r.scope_code, x.fixeds, x.price INTO v_bad
      FROM commerce.sharing_rule r
     CROSS JOIN LATERAL (
         SELECT (SELECT sum(p.fixed_fen) FROM commerce.sharing_rule_party p
                  WHERE p.tenant_id = r.tenant_id AND p.rule_id = r.rule_id) AS fixeds,
                CASE r.scope
                    WHEN 'sku' THEN (SELECT k.msrp_fen FROM commerce.sku k WHERE k.tenant_id = r.tenant_id AND k.code = r.scope_code)
                    WHEN 'product' THEN (SELECT min(k.msrp_fen) FROM commerce.sku k JOIN commerce.product pr USING (tenant_id, product_id)
                                          WHERE k.tenant_id = r.tenant_id AND pr.code = r.scope_code)
                    ELSE (SELECT c.price_fen FROM commerce.play_config c WHERE c.tenant_id = r.tenant_id AND c.code = r.scope_code)
                END AS price) x
     WHERE r.tenant_id = p_tenant AND r.retired_at IS NULL AND x.fixeds > 0 AND x.price IS NOT NULL
       AND x.fixeds > commerce.rate_fen(x.price, g.max_share_bp)
     ORDER BY r.rule_id LIMIT 1;
    IF FOUND THEN
        PERFORM commerce._invalid('p_max_share_bp',
            format('The %s rule of %s takes %s fen a unit in fixed parts, more than %s bp of its %s fen.', v_bad.scope,
                   v_bad.scope_code, v_bad.fixeds, g.max_share_bp, v_bad.price),
            'Change or retire the rules above the new limit first.');
    END IF;
    INSERT INTO commerce.sharing_gateway (tenant_id, max_share_bp, freeze_days, margin_days, fee_bp, updated_at)
    VALUES (p_tenant, g.max_share_bp, g.freeze_days, g.margin_days, g.fee_bp, commerce.now())
    ON CONFLICT (tenant_id) DO UPDATE
       SET max_share_bp = EXCLUDED.max_share_bp, freeze_days = EXCLUDED.freeze_days,
           margin_days = EXCLUDED.margin_days, fee_bp = EXCLUDED.fee_bp, updated_at = EXCLUDED.updated_at;
    RETURN jsonb_build_object('max_share_bp', g.max_share_bp, 'freeze_days', g.freeze_days,
                              'margin_days', g.margin_days, 'fee_bp', g.fee_bp);
END $$;
COMMENT ON FUNCTION commerce.set_sharing_gateway(bigint, integer, integer, integer, integer) IS
  'Set the payment gateway''s profit-sharing limits (H3.7.2; NULL keeps a value): the most a payment may share with receivers in bp (WeChat Pay: 3000), the days a payment stays frozen for splitting (30), the days of margin before that a split is due at the latest (3) and the payment fee in bp taken off the base (60). 22023 for a value out of range or a rule in force above the new share limit (its ratios, or its fixed parts at its scope''s lowest price). Orders paid later use the new limits; paid ones keep theirs. Returns the limits.';

-- Add or change a receiver; the gateway is told through the outbox.
CREATE FUNCTION commerce.upsert_sharing_receiver(p_tenant bigint, p_code text, p_kind text, p_account text,
                                                 p_name text, p_koc text DEFAULT NULL, p_active boolean DEFAULT true)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_koc bigint; r record; v_old record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_account, 'p_account');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_active, 'p_active');
    IF p_code !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' THEN
        PERFORM commerce._invalid('p_code', format('"%s"', left(p_code, 80)), 'A code is 1 to 63 letters, digits, _ . -.');
    END IF;
    IF p_kind NOT IN ('merchant', 'personal') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 80)),
            'merchant (a merchant number at the gateway) or personal (an openid).');
    END IF;
    IF length(p_account) NOT BETWEEN 1 AND 128 OR p_account !~ '^[A-Za-z0-9_.@|*-]+$' THEN
        PERFORM commerce._invalid('p_account', format('"%s"', left(p_account, 80)),
            'The gateway account: a merchant number or an openid, 1 to 128 letters, digits and _ . @ | * -.');
    END IF;
    IF length(p_name) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_name', format('%s characters', length(p_name)), 'A name is 1 to 200 characters.');
    END IF;
    IF p_koc IS NOT NULL THEN
        SELECT koc_id INTO v_koc FROM commerce.koc WHERE tenant_id = p_tenant AND code = p_koc;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('KOC', p_koc, p_tenant);
        END IF;
        IF p_kind <> 'personal' THEN
            PERFORM commerce._invalid('p_koc', format('KOC %s for a merchant receiver', p_koc),
                                      'Only a personal receiver is a KOC.');
        END IF;
    END IF;
    SELECT * INTO v_old FROM commerce.sharing_receiver WHERE tenant_id = p_tenant AND code = p_code FOR UPDATE;
    IF FOUND AND v_old.kind <> p_kind THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('receiver %s is a %s receiver', p_code, v_old.kind),
            DETAIL  = 'A receiver''s kind decides how refunds come back from it and never changes.',
            HINT    = 'Add a new receiver with its own code.';
    END IF;
    INSERT INTO commerce.sharing_receiver (tenant_id, code, kind, account, name, koc_id, active, created_at, updated_at)
    VALUES (p_tenant, p_code, p_kind, p_account, p_name, v_koc, p_active, commerce.now(), commerce.now())
    ON CONFLICT (tenant_id, code) DO UPDATE
       SET account = EXCLUDED.account, name = EXCLUDED.name, koc_id = EXCLUDED.koc_id, active = EXCLUDED.active,
           updated_at = EXCLUDED.updated_at
    RETURNING * INTO r;
    -- the gateway needs a receiver added before a split pays it (and removed when it stops)
    IF v_old.receiver_id IS NULL OR (v_old.account, v_old.active, v_old.name) IS DISTINCT FROM (r.account, r.active, r.name) THEN
        PERFORM commerce.enqueue(p_tenant, 'finance.receiver',
            jsonb_build_object('receiver', r.code, 'action', CASE WHEN r.active THEN 'add' ELSE 'remove' END,
                               'kind', r.kind, 'account', r.account, 'name', r.name,
                               'previous_account', CASE WHEN v_old.account <> r.account THEN v_old.account END),
            format('%s:%s', r.code, gen_random_uuid()));
    END IF;
    -- a split finance reviewed or approved for the old account is reviewed again
    IF v_old.receiver_id IS NOT NULL AND (v_old.account, v_old.active) IS DISTINCT FROM (r.account, r.active) THEN
        UPDATE commerce.profit_split s
           SET status = 'payable', reviewed_by = NULL, reviewed_at = NULL, decided_by = NULL, decided_at = NULL,
               reason = left(format('receiver %s changed (account or active); review again', r.code), 500)
         WHERE s.tenant_id = p_tenant AND s.status IN ('review', 'approved')
           AND EXISTS (SELECT 1 FROM commerce.profit_split_part p WHERE p.tenant_id = s.tenant_id AND p.split_id = s.split_id
                          AND p.receiver_id = r.receiver_id AND p.amount_fen > 0);
    END IF;
    RETURN jsonb_build_object('receiver', r.code, 'kind', r.kind, 'account', r.account, 'name', r.name,
                              'koc', p_koc, 'active', r.active);
END $$;
COMMENT ON FUNCTION commerce.upsert_sharing_receiver(bigint, text, text, text, text, text, boolean) IS
  'Add or change a profit-sharing receiver (H3.7.2): code, kind (merchant: a merchant number; personal: an openid, optionally a KOC), the gateway account, the name the gateway checks, active. The kind never changes (PT409). Every change goes to the gateway as a finance.receiver message (add or remove, once per change); a change of account or of active sends the splits finance reviewed or approved for that receiver back to payable, to be reviewed again. Returns the receiver.';

-- Save a new version of the split rule of a SKU, product or play.
CREATE FUNCTION commerce.set_sharing_rule(p_tenant bigint, p_scope text, p_code text, p_parties jsonb,
                                          p_cycle_days integer, p_late_parts text DEFAULT 'cap',
                                          p_note text DEFAULT NULL, p_by text DEFAULT 'operator')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    g record; v_cur record; v_rule bigint; v_version integer; p jsonb; n integer := 0;
    v_receiver record; v_ratio bigint; v_fixed bigint; v_ratios bigint := 0; v_fixeds bigint := 0;
    v_parties jsonb := '[]'::jsonb; v_price bigint; v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_scope, 'p_scope');
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_parties, 'p_parties');
    PERFORM commerce._require(p_cycle_days, 'p_cycle_days');
    PERFORM commerce._require(p_late_parts, 'p_late_parts');
    PERFORM commerce._require(p_by, 'p_by');
    IF p_scope NOT IN ('sku', 'product', 'play') THEN
        PERFORM commerce._invalid('p_scope', format('"%s"', left(p_scope, 80)), 'A rule is for a sku, a product or a play.');
    END IF;
    IF p_cycle_days NOT IN (7, 15, 30) THEN
        PERFORM commerce._invalid('p_cycle_days', format('T+%s', p_cycle_days),
            'The cycle is 7, 15 or 30 days from the order''s completion.');
    END IF;
    IF p_late_parts NOT IN ('cap', 'transfer') THEN
        PERFORM commerce._invalid('p_late_parts', format('"%s"', left(p_late_parts, 80)),
            'cap (due at the last safe moment before the gateway''s freeze ends) or transfer (paid by transfer when due).');
    END IF;
    IF length(p_note) > 500 THEN
        PERFORM commerce._invalid('p_note', format('%s characters', length(p_note)), 'A note is at most 500 characters.');
    END IF;
    IF length(p_by) NOT BETWEEN 1 AND 64 THEN
        PERFORM commerce._invalid('p_by', format('%s characters', length(p_by)), 'Who saves the rule, 1 to 64 characters.');
    END IF;
    -- the lowest price the scope sells at: fixed parts must fit the gateway's cap at it
    IF p_scope = 'sku' THEN
        SELECT msrp_fen INTO v_price FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_code;
        IF NOT FOUND THEN PERFORM commerce._not_found('SKU', p_code, p_tenant); END IF;
    ELSIF p_scope = 'product' THEN
        IF NOT EXISTS (SELECT 1 FROM commerce.product WHERE tenant_id = p_tenant AND code = p_code) THEN
            PERFORM commerce._not_found('product', p_code, p_tenant);
        END IF;
        SELECT min(s.msrp_fen) INTO v_price FROM commerce.sku s JOIN commerce.product pr USING (tenant_id, product_id)
         WHERE s.tenant_id = p_tenant AND pr.code = p_code;
    ELSE
        SELECT price_fen INTO v_price FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_code;
        IF NOT FOUND THEN PERFORM commerce._not_found('play config', p_code, p_tenant); END IF;
    END IF;
    IF jsonb_typeof(p_parties) <> 'array' OR jsonb_array_length(p_parties) NOT BETWEEN 1 AND 20 THEN
        PERFORM commerce._invalid('p_parties', 'The parties are not a list of 1 to 20.',
            'Pass [{"receiver":"<code>","ratio_bp":<bp>} or {"receiver":"<code>","fixed_fen":<fen per unit>}, ...].');
    END IF;
    SELECT * INTO g FROM commerce._sharing_gateway(p_tenant);
    FOR p IN SELECT value FROM jsonb_array_elements(p_parties) LOOP
        n := n + 1;
        IF jsonb_typeof(p) <> 'object' OR NOT p ? 'receiver' OR jsonb_typeof(p -> 'receiver') <> 'string'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(p) k WHERE k NOT IN ('receiver', 'ratio_bp', 'fixed_fen'))
           OR (p ? 'ratio_bp') = (p ? 'fixed_fen') THEN
            PERFORM commerce._invalid('p_parties', format('Party %s is %s.', n, left(p::text, 200)),
                'Each party is {"receiver":"<code>"} with either "ratio_bp" or "fixed_fen", nothing else.');
        END IF;
        SELECT receiver_id, code, active INTO v_receiver FROM commerce.sharing_receiver
         WHERE tenant_id = p_tenant AND code = p ->> 'receiver';
        IF NOT FOUND THEN
            PERFORM commerce._not_found('sharing receiver', p ->> 'receiver', p_tenant);
        END IF;
        IF NOT v_receiver.active THEN
            PERFORM commerce._invalid('p_parties', format('Receiver %s is inactive.', v_receiver.code),
                                      'Activate it with commerce.upsert_sharing_receiver first.');
        END IF;
        IF v_parties @> jsonb_build_array(jsonb_build_object('receiver', v_receiver.code)) THEN
            PERFORM commerce._invalid('p_parties', format('Receiver %s is named twice.', v_receiver.code),
                                      'Name each receiver once.');
        END IF;
        v_ratio := CASE WHEN p ? 'ratio_bp' THEN commerce._fen(p -> 'ratio_bp', format('party %s ratio_bp', n)) ELSE 0 END;
        v_fixed := CASE WHEN p ? 'fixed_fen' THEN commerce._fen(p -> 'fixed_fen', format('party %s fixed_fen', n)) ELSE 0 END;
        IF v_ratio > 10000 OR (p ? 'ratio_bp' AND v_ratio = 0) THEN
            PERFORM commerce._invalid('p_parties', format('Party %s has ratio %s bp.', n, v_ratio),
                                      'A ratio is 1 to 10000 bp of what the fixed parts leave.');
        END IF;
        IF v_fixed > 1000000000000 OR (p ? 'fixed_fen' AND v_fixed = 0) THEN
            PERFORM commerce._invalid('p_parties', format('Party %s has a fixed part of %s fen.', n, v_fixed),
                                      'A fixed part is more than 0 fen per unit sold.');
        END IF;
        v_ratios := v_ratios + v_ratio;
        v_fixeds := v_fixeds + v_fixed;
        v_parties := v_parties || jsonb_build_object('receiver', v_receiver.code, 'receiver_id', v_receiver.receiver_id,
                                                     'ratio_bp', v_ratio, 'fixed_fen', v_fixed);
    END LOOP;
    -- the gateway's limit is refused here, where it can be fixed, not at payout time
    IF v_ratios > g.max_share_bp THEN
        PERFORM commerce._invalid('p_parties',
            format('The ratios add up to %s bp; the payment gateway lets at most %s bp of a payment go to receivers.',
                   v_ratios, g.max_share_bp),
            'Lower the ratios (the owner takes the rest), or raise max_share_bp with commerce.set_sharing_gateway once the gateway has raised the merchant''s limit.');
    END IF;
    IF v_price IS NOT NULL AND v_fixeds > commerce.rate_fen(v_price, g.max_share_bp) THEN
        PERFORM commerce._invalid('p_parties',
            format('The fixed parts take %s fen a unit; at %s fen the gateway lets at most %s fen go to receivers.',
                   v_fixeds, v_price, commerce.rate_fen(v_price, g.max_share_bp)),
            'Lower the fixed parts; sold below that price, the parts are cut to the gateway''s cap.');
    END IF;
    -- one version at a time per scope, checked against limits no one changes meanwhile
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.sharing_limits:' || p_tenant, 0));
    SELECT * INTO g FROM commerce._sharing_gateway(p_tenant);
    IF v_ratios > g.max_share_bp OR (v_price IS NOT NULL AND v_fixeds > commerce.rate_fen(v_price, g.max_share_bp)) THEN
        PERFORM commerce._invalid('p_parties', format('The gateway''s limit changed to %s bp meanwhile.', g.max_share_bp),
                                  'Save the rule again within the new limit.');
    END IF;
    v_key := format('commerce.sharing_rule:%s:%s:%s', p_tenant, p_scope, p_code);
    PERFORM pg_advisory_xact_lock(hashtextextended(v_key, 0));
    SELECT r.rule_id, r.version, r.cycle_days, r.late_parts, r.note,
           (SELECT jsonb_agg(jsonb_build_object('receiver', rc.code, 'receiver_id', rp.receiver_id,
                                                'ratio_bp', rp.ratio_bp::bigint, 'fixed_fen', rp.fixed_fen)
                             ORDER BY rp.party_no)
              FROM commerce.sharing_rule_party rp JOIN commerce.sharing_receiver rc USING (tenant_id, receiver_id)
             WHERE rp.tenant_id = p_tenant AND rp.rule_id = r.rule_id) AS parties
      INTO v_cur
      FROM commerce.sharing_rule r
     WHERE r.tenant_id = p_tenant AND r.scope = p_scope AND r.scope_code = p_code AND r.retired_at IS NULL;
    IF FOUND AND v_cur.parties = v_parties AND v_cur.cycle_days = p_cycle_days AND v_cur.late_parts = p_late_parts
       AND v_cur.note IS NOT DISTINCT FROM p_note THEN
        RETURN jsonb_build_object('rule', v_cur.rule_id, 'version', v_cur.version, 'outcome', 'unchanged');
    END IF;
    IF FOUND THEN
        UPDATE commerce.sharing_rule SET retired_at = commerce.now() WHERE tenant_id = p_tenant AND rule_id = v_cur.rule_id;
    END IF;
    SELECT coalesce(max(version), 0) + 1 INTO v_version FROM commerce.sharing_rule
     WHERE tenant_id = p_tenant AND scope = p_scope AND scope_code = p_code;
    INSERT INTO commerce.sharing_rule (tenant_id, scope, scope_code, version, cycle_days, late_parts, note, created_by, created_at)
    VALUES (p_tenant, p_scope, p_code, v_version, p_cycle_days, p_late_parts, p_note, p_by, commerce.now())
    RETURNING rule_id INTO v_rule;
    INSERT INTO commerce.sharing_rule_party (tenant_id, rule_id, party_no, receiver_id, ratio_bp, fixed_fen)
    SELECT p_tenant, v_rule, x.ord, (x.v ->> 'receiver_id')::bigint, (x.v ->> 'ratio_bp')::integer, (x.v ->> 'fixed_fen')::bigint
      FROM jsonb_array_elements(v_parties) WITH ORDINALITY x(v, ord);
    RETURN jsonb_build_object('rule', v_rule, 'version', v_version,
                              'outcome', CASE WHEN v_version = 1 THEN 'created' ELSE 'new_version' END);
END $$;
COMMENT ON FUNCTION commerce.set_sharing_rule(bigint, text, text, jsonb, integer, text, text, text) IS
  'Save the split rule of a SKU, a product or a play (H3.7.2) as a new version: parties [{receiver, ratio_bp} or {receiver, fixed_fen per unit}] (1 to 20, each receiver once), the cycle (7, 15 or 30 days from completion) and late_parts (cap or transfer, for a split the cycle would make due after the gateway''s freeze). Refused (22023) when the ratios pass the gateway''s max_share_bp or the fixed parts its cap at the scope''s lowest price. The same rule again is unchanged; a different one retires the current version. Orders paid before keep their version. Returns {rule, version, outcome}.';

-- Retire the rule in force of a scope: lines paid later are not shared.
CREATE FUNCTION commerce.retire_sharing_rule(p_tenant bigint, p_scope text, p_code text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v_rule bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_scope, 'p_scope');
    PERFORM commerce._require(p_code, 'p_code');
    -- the locks in the order set_sharing_rule takes them: the tenant's limits, then the scope
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.sharing_limits:' || p_tenant, 0));
    PERFORM pg_advisory_xact_lock(hashtextextended(format('commerce.sharing_rule:%s:%s:%s', p_tenant, p_scope, p_code), 0));
    UPDATE commerce.sharing_rule SET retired_at = commerce.now()
     WHERE tenant_id = p_tenant AND scope = p_scope AND scope_code = p_code AND retired_at IS NULL
    RETURNING rule_id INTO v_rule;
    IF v_rule IS NULL THEN
        PERFORM commerce._not_found('sharing rule in force', format('%s %s', p_scope, p_code), p_tenant);
    END IF;
    RETURN jsonb_build_object('rule', v_rule, 'outcome', 'retired');
END $$;
COMMENT ON FUNCTION commerce.retire_sharing_rule(bigint, text, text) IS
  'Retire the split rule in force of a SKU, product or play (PT404 without one): lines paid afterwards are not shared; orders paid before keep their version.';

-- The rules in force with their parties.
CREATE FUNCTION commerce.sharing_rules(p_tenant bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'rule', r.rule_id, 'scope', r.scope, 'code', r.scope_code, 'version', r.version, 'cycle_days', r.cycle_days,
               'late_parts', r.late_parts, 'note', r.note, 'created_by', r.created_by, 'created_at', r.created_at,
               'parties', (SELECT jsonb_agg(jsonb_build_object('receiver', rc.code, 'kind', rc.kind, 'ratio_bp', rp.ratio_bp,
                                                               'fixed_fen', rp.fixed_fen) ORDER BY rp.party_no)
                             FROM commerce.sharing_rule_party rp JOIN commerce.sharing_receiver rc USING (tenant_id, receiver_id)
                            WHERE rp.tenant_id = r.tenant_id AND rp.rule_id = r.rule_id))
               ORDER BY r.scope, r.scope_code), '[]')
      FROM commerce.sharing_rule r
     WHERE r.tenant_id = p_tenant AND r.retired_at IS NULL;
$$;
COMMENT ON FUNCTION commerce.sharing_rules(bigint) IS
  'The split rules in force of a tenant with their parties (receiver, kind, ratio_bp, fixed_fen per unit), by scope and code.';

-- sql/src/koc/level_rules.sql: level promotion rules as JSON documents,
-- checked in C (K05).

CREATE FUNCTION commerce._validate_level_rule(p_rule text) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_validate_level_rule' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce._validate_level_rule(text) IS
  'Internal: the C validator behind validate_level_rule; returns the rule as compact JSON text with sorted keys.';

CREATE FUNCTION commerce.validate_level_rule(p_rule text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT commerce._validate_level_rule(p_rule)::jsonb $$;
COMMENT ON FUNCTION commerce.validate_level_rule(text) IS
  'Parse and check a level rule ({"metric","op","value"}, {"all":[...]}, {"any":[...]}; metrics redemptions, new_customers, repurchase_rate_bp, gmv_fen; integer values) with jansson; returns it as jsonb or raises 22023 naming the JSON path of the bad field (22P02 when it is not JSON).';

CREATE FUNCTION commerce.level_rule_holds(p_rule text, p_figures text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'commerce_level_rule_holds' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce.level_rule_holds(text, text) IS
  'Whether a KOC''s figures ({"redemptions":n,"new_customers":n,"repurchase_rate_bp":n,"gmv_fen":n}) meet a level rule; absent figures count 0.';

-- Set the promotion rule of a level (NULL: the level is never reached by promotion).
CREATE FUNCTION commerce.set_level_rule(p_tenant bigint, p_level text, p_rule text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE v jsonb;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_level, 'p_level');
    PERFORM commerce.ensure_koc_levels(p_tenant);
    IF p_rule IS NOT NULL THEN
        v := commerce.validate_level_rule(p_rule);
    END IF;
    UPDATE commerce.koc_level SET promotion_rule = v WHERE tenant_id = p_tenant AND code = p_level;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC level', p_level, p_tenant);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.set_level_rule(bigint, text, text) IS
  'Set a level''s promotion rule (validated); the monthly recalculation promotes a KOC to the highest level whose rule its month''s figures meet.';

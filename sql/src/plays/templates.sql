-- sql/src/plays/templates.sql: play templates with rule schemas checked in C
-- (src/plays_schema.c).

CREATE FUNCTION commerce._check_play_schema(p_schema text) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_check_play_schema' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce._check_play_schema(text) IS
  'Internal: the C check behind check_play_schema; returns the schema as compact JSON text with sorted keys.';

CREATE FUNCTION commerce.check_play_schema(p_schema text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT commerce._check_play_schema(p_schema)::jsonb $$;
COMMENT ON FUNCTION commerce.check_play_schema(text) IS
  'Check a template''s rule schema (a JSON Schema subset: an object of properties typed integer, string, boolean, array or object, with minimum/maximum, minLength/maxLength, enum, items, required, additionalProperties, default) and return it; 22023 names the JSON path of the first bad keyword, 22P02 when it is not JSON.';

CREATE FUNCTION commerce._apply_play_schema(p_schema text, p_rules text) RETURNS text
    AS 'MODULE_PATHNAME', 'commerce_apply_play_schema' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce._apply_play_schema(text, text) IS
  'Internal: the C check behind apply_play_schema; returns the rules with defaults as compact JSON text.';

CREATE FUNCTION commerce.apply_play_schema(p_schema text, p_rules text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT commerce._apply_play_schema(p_schema, p_rules)::jsonb $$;
COMMENT ON FUNCTION commerce.apply_play_schema(text, text) IS
  'Check rules against a rule schema and return them with the defaults filled in; 22023 names the JSON path of the bad field (invalid rules: $.target_size: 7 is above the maximum 5).';

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

-- The four standard templates, for a tenant that has none of them.
CREATE FUNCTION commerce.ensure_play_templates(p_tenant bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; r record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    FOR r IN SELECT * FROM (VALUES
        ('GROUP_BUY', 'group_buy', 'Group buy', 'items',
         '{"type":"object","additionalProperties":false,"required":["target_size"],"properties":{
            "target_size":{"type":"integer","minimum":2,"maximum":100,"title":"members to succeed"},
            "hours":{"type":"integer","minimum":1,"maximum":168,"default":24,"title":"time to fill the group"},
            "virtual_fill":{"type":"boolean","default":false,"title":"complete a group at the deadline"}}}'),
        ('FLASH_SALE', 'flash_sale', 'Flash sale', 'items',
         '{"type":"object","additionalProperties":false,"properties":{
            "hold_minutes":{"type":"integer","minimum":1,"maximum":60,"default":5,"title":"stock hold per buyer"},
            "per_order_limit":{"type":"integer","minimum":1,"maximum":100,"default":1}}}'),
        ('BARGAIN', 'bargain', 'Bargain', 'items',
         '{"type":"object","additionalProperties":false,"required":["floor_fen","cut_fen"],"properties":{
            "floor_fen":{"type":"integer","minimum":0,"title":"lowest price"},
            "cut_fen":{"type":"integer","minimum":1,"title":"cut per helper"},
            "hours":{"type":"integer","minimum":1,"maximum":168,"default":24}}}'),
        ('INVITE_REWARD', 'invite_reward', 'Invite reward', 'rewards',
         '{"type":"object","additionalProperties":false,"required":["reward_fen"],"properties":{
            "reward_fen":{"type":"integer","minimum":1,"title":"reward for the inviter"},
            "invitee_reward_fen":{"type":"integer","minimum":0,"default":0},
            "max_rewards":{"type":"integer","minimum":1,"default":100,"title":"rewards per inviter"}}}')
        ) v(code, kind, name, unit_name, rule_schema) LOOP
        IF NOT EXISTS (SELECT 1 FROM commerce.play_template WHERE tenant_id = p_tenant AND code = r.code) THEN
            PERFORM commerce.upsert_play_template(p_tenant, r.code, r.kind, r.name, r.unit_name, r.rule_schema);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.ensure_play_templates(bigint) IS
  'Creates the standard templates a tenant lacks (GROUP_BUY, FLASH_SALE, BARGAIN, INVITE_REWARD); returns how many were created.';

-- sql/src/crm/tags.sql: tag categories and tags (CRM06, CRM07): manual tags
-- set and cleared by staff and services, rule tags kept by their segment,
-- model tags set by a scoring model; every change recorded in tag_change.

-- Create or rename a tag category.
CREATE FUNCTION commerce.upsert_tag_category(p_tenant bigint, p_code text, p_name text, p_kind text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._crm_code(p_code);
    IF p_kind NOT IN ('demographic', 'behaviour', 'value', 'custom', 'model') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'Kinds: demographic, behaviour, value, custom, model.');
    END IF;
    PERFORM commerce._crm_name(p_name);
    INSERT INTO commerce.tag_category (tenant_id, code, name, kind) VALUES (p_tenant, p_code, p_name, p_kind)
    ON CONFLICT (tenant_id, code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind;
END $$;
COMMENT ON FUNCTION commerce.upsert_tag_category(bigint, text, text, text) IS
  'Create a tag category (CRM06) of a kind (demographic, behaviour, value, custom, model) or rename it.';

-- Create a tag: manual, model, or a rule tag with its condition tree (its segment, rebuilt at once).
CREATE FUNCTION commerce.create_tag(p_tenant bigint, p_code text, p_name text, p_category text,
                                    p_source text DEFAULT 'manual', p_rule jsonb DEFAULT NULL,
                                    p_by text DEFAULT 'operator') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE v_id bigint; v_seg bigint; t commerce.tag%ROWTYPE;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_category, 'p_category');
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._crm_code(p_code);
    PERFORM commerce._crm_name(p_name);
    IF p_source NOT IN ('manual', 'rule', 'model') THEN
        PERFORM commerce._invalid('p_source', format('"%s"', left(p_source, 64)), 'A tag is manual, rule (with p_rule) or model.');
    END IF;
    IF (p_source = 'rule') <> (p_rule IS NOT NULL) THEN
        PERFORM commerce._invalid('p_rule', 'a rule tag takes a condition tree, other tags none',
                                  'Pass p_rule for p_source rule only.');
    END IF;
    PERFORM 1 FROM commerce.tag_category c WHERE c.tenant_id = p_tenant AND c.code = p_category;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('tag category', p_category, p_tenant);
    END IF;
    SELECT * INTO t FROM commerce.tag g WHERE g.tenant_id = p_tenant AND g.code = p_code FOR UPDATE;
    IF FOUND THEN
        IF t.source <> p_source THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('tag %s is a %s tag', p_code, t.source),
                DETAIL = format('It cannot become a %s tag.', p_source), HINT = 'Create a tag with another code.';
        END IF;
        UPDATE commerce.tag g SET name = p_name, category = p_category, active = true WHERE g.tenant_id = p_tenant AND g.tag_id = t.tag_id;
        IF p_source = 'rule' THEN
            PERFORM commerce.define_segment(p_tenant, p_code, p_name, p_rule, 'tag', p_by);
        END IF;
        RETURN t.tag_id;
    END IF;
    IF p_source = 'rule' THEN
        v_seg := commerce.define_segment(p_tenant, p_code, p_name, p_rule, 'tag', p_by, false);
    END IF;
    INSERT INTO commerce.tag (tenant_id, code, name, category, source, segment_id, created_at)
    VALUES (p_tenant, p_code, p_name, p_category, p_source, v_seg, commerce.now())
    RETURNING tag_id INTO v_id;
    IF p_source = 'rule' THEN
        PERFORM commerce.rebuild_segment(p_tenant, p_code, 'tag', p_by);
    END IF;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.create_tag(bigint, text, text, text, text, jsonb, text) IS
  'Create a tag in a category (CRM06), or rename it, or give a rule tag a new rule: manual (set by staff and services), model (set by a scoring model) or rule (p_rule, a condition tree as for segments, over anything but other rule tags; the persons it matches are tagged at once and kept current). A tag keeps its source (PT409).';

-- Tag or untag a customer's person by hand (manual tags only).
CREATE FUNCTION commerce.set_person_tag(p_tenant bigint, p_customer text, p_tag text, p_on boolean, p_by text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE t commerce.tag%ROWTYPE; v_person bigint; v_done boolean;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_tag, 'p_tag');
    PERFORM commerce._require(p_on, 'p_on');
    PERFORM commerce._require(p_by, 'p_by');
    SELECT * INTO t FROM commerce.tag g WHERE g.tenant_id = p_tenant AND g.code = p_tag;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('tag', p_tag, p_tenant);
    END IF;
    IF t.source <> 'manual' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('tag %s is set by its %s', p_tag, t.source),
            DETAIL = 'Only manual tags are set by hand.',
            HINT = CASE WHEN t.source = 'rule' THEN 'Change the rule, or include / exclude the person in a segment.'
                        ELSE 'Model tags follow the model''s scores.' END;
    END IF;
    IF p_on AND NOT t.active THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('tag %s is inactive', p_tag),
            DETAIL = 'An inactive tag is set on nobody new.', HINT = 'Activate it again with commerce.create_tag.';
    END IF;
    SELECT c.person_id INTO v_person FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF p_on THEN
        INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
        VALUES (p_tenant, t.tag_id, v_person, left(p_by, 200), commerce.now())
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM commerce.person_tag pt WHERE pt.tenant_id = p_tenant AND pt.tag_id = t.tag_id AND pt.person_id = v_person;
    END IF;
    v_done := FOUND;
    IF v_done THEN
        INSERT INTO commerce.tag_change (tenant_id, tag_id, person_id, op, by_whom, at)
        VALUES (p_tenant, t.tag_id, v_person, CASE WHEN p_on THEN 'add' ELSE 'remove' END, left(p_by, 200), commerce.now());
    END IF;
    RETURN v_done;
END $$;
COMMENT ON FUNCTION commerce.set_person_tag(bigint, text, text, boolean, text) IS
  'Set (p_on true) or clear a manual tag on a customer''s person, recorded in tag_change with who did it; true when something changed (a repeat changes nothing). Rule and model tags are refused (PT409).';

-- Set a model tag on exactly the persons given (the rest lose it); returns (added, removed).
CREATE FUNCTION commerce._set_model_tag(p_tenant bigint, p_tag text, p_persons bigint[], p_version text,
                                        OUT added bigint, OUT removed bigint)
LANGUAGE plpgsql AS $$
DECLARE t commerce.tag%ROWTYPE; v_now timestamptz := commerce.now(); v_by text := 'model:' || left(p_version, 190);
BEGIN
    SELECT * INTO t FROM commerce.tag g WHERE g.tenant_id = p_tenant AND g.code = p_tag AND g.source = 'model';
    IF NOT FOUND THEN
        PERFORM commerce._not_found('model tag', p_tag, p_tenant);
    END IF;
    WITH want AS (SELECT DISTINCT unnest(p_persons) AS person_id),
    ins AS (
        INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
        SELECT p_tenant, t.tag_id, w.person_id, v_by, v_now FROM want w
        ON CONFLICT DO NOTHING RETURNING person_id),
    del AS (
        DELETE FROM commerce.person_tag pt WHERE pt.tenant_id = p_tenant AND pt.tag_id = t.tag_id
           AND NOT EXISTS (SELECT 1 FROM want w WHERE w.person_id = pt.person_id)
        RETURNING person_id),
    log AS (
        INSERT INTO commerce.tag_change (tenant_id, tag_id, person_id, op, by_whom, at)
        SELECT p_tenant, t.tag_id, i.person_id, 'add', v_by, v_now FROM ins i
        UNION ALL
        SELECT p_tenant, t.tag_id, d.person_id, 'remove', v_by, v_now FROM del d
        RETURNING op)
    SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'remove') INTO added, removed FROM log;
END $$;
COMMENT ON FUNCTION commerce._set_model_tag(bigint, text, bigint[], text) IS
  'Give a model tag to exactly the persons given and take it from the rest, each change recorded as model:<version>; returns how many were added and removed.';

-- A person's tags with who set them, and the latest changes.
CREATE FUNCTION commerce.person_tags(p_tenant bigint, p_person bigint)
RETURNS TABLE (tag text, name text, category text, source text, tagged_by text, tagged_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT t.code, t.name, t.category, t.source, pt.tagged_by, pt.tagged_at
      FROM commerce.person_tag pt JOIN commerce.tag t ON t.tenant_id = pt.tenant_id AND t.tag_id = pt.tag_id
     WHERE pt.tenant_id = p_tenant AND pt.person_id = p_person
     ORDER BY t.category, t.code;
$$;
COMMENT ON FUNCTION commerce.person_tags(bigint, bigint) IS
  'The tags a person has: code, name, category, source (manual, rule, model), who set it and when.';

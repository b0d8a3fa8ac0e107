-- sql/src/crm/segments.sql: segments (CRM08, CRM09) and rule tags (CRM06):
-- condition trees compiled once in C (src/crm_segments.c), membership stored
-- and kept by diff: a full rebuild is one set-based statement, the CRM pump
-- re-evaluates only the persons whose features changed, manual include and
-- exclude survive both, and one rebuild runs at a time per segment.

-- What commerce._segment_compile makes of a condition tree.
CREATE TYPE commerce.segment_program AS (select_all text, select_some text, nums bigint[], strs text[], tags text[],
                                         conditions integer);
COMMENT ON TYPE commerce.segment_program IS
  'A compiled condition tree: the SELECT of the persons of a tenant it matches (select_all) or of those among $6 (select_some), both with parameters $1 tenant, $2 the tenant''s local date, $3 the time, $4 nums, $5 strs; the tag codes it reads; its number of conditions.';

CREATE FUNCTION commerce._segment_compile(p_tree text) RETURNS commerce.segment_program
    AS 'MODULE_PATHNAME', 'commerce_segment_compile' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION commerce._segment_compile(text) IS
  'Compile a segment condition tree (JSON text) into a segment_program (src/crm_segments.c); 22P02 for malformed JSON, 22023 naming the JSON path of a bad node.';

-- Compile and check a condition tree: 22023 naming the path of a bad node.
CREATE FUNCTION commerce.compile_segment(p_tree jsonb) RETURNS commerce.segment_program
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM commerce._require(p_tree, 'p_tree');
    IF length(p_tree::text) > 100000 THEN
        PERFORM commerce._invalid('p_tree', format('%s characters', length(p_tree::text)), 'A condition tree is at most 100,000 characters.');
    END IF;
    RETURN commerce._segment_compile(p_tree::text);
END $$;
COMMENT ON FUNCTION commerce.compile_segment(jsonb) IS
  'Compile a segment condition tree (docs/crm.md: and / or / not nested up to 8 levels, at most 64 conditions over fields, windows, tags, groups and events) and return what it compiles to; 22023 names the JSON path of the first bad node, e.g. $.and[1].or[0].op.';

-- The advisory lock keys of a segment: its evaluation (pump shared, rebuild exclusive) and its rebuild.
CREATE FUNCTION commerce._segment_lock_key(p_tenant bigint, p_segment bigint, p_what text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('commerce.segment.' || p_what || ':' || p_tenant || ':' || p_segment, 0);
$$;
COMMENT ON FUNCTION commerce._segment_lock_key(bigint, bigint, text) IS
  'The advisory lock key of a segment''s evaluation (eval: the pump holds it shared, a rebuild exclusive) or of its rebuild (rebuild: one at a time).';

-- Bring a rule tag's person_tag rows in line with its segment (all persons, or those given).
CREATE FUNCTION commerce._sync_rule_tag(p_tenant bigint, p_segment bigint, p_persons bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_tag bigint; v_code text; v_now timestamptz := commerce.now();
BEGIN
    SELECT t.tag_id, t.code INTO v_tag, v_code FROM commerce.tag t WHERE t.tenant_id = p_tenant AND t.segment_id = p_segment;
    IF v_tag IS NULL THEN
        RETURN;
    END IF;
    WITH added AS (
        INSERT INTO commerce.person_tag (tenant_id, tag_id, person_id, tagged_by, tagged_at)
        SELECT p_tenant, v_tag, m.person_id, 'rule:' || v_code, v_now FROM commerce.segment_member m
         WHERE m.tenant_id = p_tenant AND m.segment_id = p_segment AND (p_persons IS NULL OR m.person_id = ANY (p_persons))
        ON CONFLICT DO NOTHING RETURNING person_id),
    removed AS (
        DELETE FROM commerce.person_tag pt
         WHERE pt.tenant_id = p_tenant AND pt.tag_id = v_tag AND (p_persons IS NULL OR pt.person_id = ANY (p_persons))
           AND NOT EXISTS (SELECT 1 FROM commerce.segment_member m
                            WHERE m.tenant_id = p_tenant AND m.segment_id = p_segment AND m.person_id = pt.person_id)
        RETURNING person_id)
    INSERT INTO commerce.tag_change (tenant_id, tag_id, person_id, op, by_whom, at)
    SELECT p_tenant, v_tag, a.person_id, 'add', 'rule:' || v_code, v_now FROM added a
    UNION ALL
    SELECT p_tenant, v_tag, r.person_id, 'remove', 'rule:' || v_code, v_now FROM removed r;
END $$;
COMMENT ON FUNCTION commerce._sync_rule_tag(bigint, bigint, bigint[]) IS
  'For the segment of a rule tag: tag the persons now in it and untag those no longer in it (all, or those of p_persons), each change recorded in tag_change as rule:<tag>.';

-- Evaluate a segment for all its tenant's persons (p_persons NULL) or some; apply the difference.
CREATE FUNCTION commerce._segment_apply(p_tenant bigint, p_segment bigint, p_persons bigint[],
                                        OUT matched bigint, OUT added bigint, OUT removed bigint)
LANGUAGE plpgsql AS $$
DECLARE s commerce.segment%ROWTYPE; v_now timestamptz := commerce.now(); v_today date;
BEGIN
    SELECT * INTO s FROM commerce.segment g WHERE g.tenant_id = p_tenant AND g.segment_id = p_segment;
    v_today := commerce._tenant_day(p_tenant, v_now);
    -- select_all and select_some are the compiler's output: identifiers from its field table and
    -- $n parameters only (every value of the tree is in nums or strs)
    EXECUTE format($q$
        WITH want AS (
            (%s
             EXCEPT
             SELECT o.person_id FROM commerce.segment_override o
              WHERE o.tenant_id = $1 AND o.segment_id = $7 AND o.mode = 'exclude' AND ($6 IS NULL OR o.person_id = ANY ($6)))
            UNION
            SELECT o.person_id FROM commerce.segment_override o
             WHERE o.tenant_id = $1 AND o.segment_id = $7 AND o.mode = 'include' AND ($6 IS NULL OR o.person_id = ANY ($6))),
        -- a full join is a hash or merge join whatever the estimates: the difference costs one pass
        diff AS MATERIALIZED (
            SELECT coalesce(w.person_id, m.person_id) AS person_id, w.person_id IS NOT NULL AS wanted
              FROM want w
              FULL JOIN (SELECT x.person_id FROM commerce.segment_member x
                          WHERE x.tenant_id = $1 AND x.segment_id = $7 AND ($6 IS NULL OR x.person_id = ANY ($6))) m
                ON m.person_id = w.person_id
             WHERE w.person_id IS NULL OR m.person_id IS NULL),
        gone AS (
            DELETE FROM commerce.segment_member m USING diff d
             WHERE m.tenant_id = $1 AND m.segment_id = $7 AND m.person_id = d.person_id AND NOT d.wanted
            RETURNING m.person_id),
        came AS (
            INSERT INTO commerce.segment_member (tenant_id, segment_id, person_id, since)
            SELECT $1, $7, d.person_id, $3 FROM diff d WHERE d.wanted
            RETURNING person_id)
        SELECT (SELECT count(*) FROM want), (SELECT count(*) FROM came), (SELECT count(*) FROM gone)$q$,
        CASE WHEN p_persons IS NULL THEN s.select_all ELSE s.select_some END)
      INTO matched, added, removed
      USING p_tenant, v_today, v_now, s.nums, s.strs, p_persons, p_segment;
    IF s.kind = 'tag' AND (added > 0 OR removed > 0) THEN
        PERFORM commerce._sync_rule_tag(p_tenant, p_segment, p_persons);
    END IF;
END $$;
COMMENT ON FUNCTION commerce._segment_apply(bigint, bigint, bigint[]) IS
  'Evaluate a segment''s compiled tree for every person of the tenant (p_persons NULL) or for the persons given, with manual includes and excludes, and apply the difference to segment_member (and to person_tag for a rule tag). Returns the persons matched, added and removed. The caller holds the segment''s evaluation lock.';

-- Rebuild a segment in full (one at a time per segment; PT409 while another runs).
CREATE FUNCTION commerce.rebuild_segment(p_tenant bigint, p_code text, p_kind text DEFAULT 'segment',
                                         p_by text DEFAULT 'operator',
                                         OUT matched bigint, OUT added bigint, OUT removed bigint)
LANGUAGE plpgsql AS $$
DECLARE s commerce.segment%ROWTYPE; v_started timestamptz := clock_timestamp();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    SELECT * INTO s FROM commerce.segment g WHERE g.tenant_id = p_tenant AND g.kind = p_kind AND g.code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found(CASE WHEN p_kind = 'tag' THEN 'rule tag' ELSE 'segment' END, p_code, p_tenant);
    END IF;
    IF NOT pg_try_advisory_xact_lock(commerce._segment_lock_key(p_tenant, s.segment_id, 'rebuild')) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('segment %s is being rebuilt', p_code),
            DETAIL  = 'Another session is rebuilding it now; one rebuild runs at a time per segment.',
            HINT    = 'Wait for it to finish: its result is the same.';
    END IF;
    -- waits for pumps evaluating it now; each statement after this sees what they committed
    PERFORM pg_advisory_xact_lock(commerce._segment_lock_key(p_tenant, s.segment_id, 'eval'));
    SELECT r.matched, r.added, r.removed INTO matched, added, removed FROM commerce._segment_apply(p_tenant, s.segment_id, NULL) r;
    UPDATE commerce.segment g SET rebuilt_at = commerce.now() WHERE g.tenant_id = p_tenant AND g.segment_id = s.segment_id;
    INSERT INTO commerce.segment_run (tenant_id, segment_id, version, started_at, ended_at, matched, added, removed, by_whom)
    VALUES (p_tenant, s.segment_id, s.version, v_started, clock_timestamp(), matched, added, removed, left(coalesce(p_by, 'operator'), 200));
END $$;
COMMENT ON FUNCTION commerce.rebuild_segment(bigint, text, text, text) IS
  'Rebuild a segment (p_kind segment) or a rule tag (tag) in full: one set-based statement evaluates its tree over every person and applies only the difference (manual includes and excludes kept); recorded in segment_run. One rebuild at a time per segment (PT409 for a second); it waits for CRM pumps evaluating the segment.';

-- Define a segment or a rule tag's rule (a new version when the tree changes); rebuilt at once.
CREATE FUNCTION commerce.define_segment(p_tenant bigint, p_code text, p_name text, p_tree jsonb,
                                        p_kind text DEFAULT 'segment', p_by text DEFAULT 'operator',
                                        p_rebuild boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE prog commerce.segment_program; v_id bigint; v_old jsonb; v_bad text; v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_name, 'p_name');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._crm_code(p_code);
    PERFORM commerce._crm_name(p_name);
    IF p_kind NOT IN ('segment', 'tag') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'A definition is of a segment or of a rule tag (tag).');
    END IF;
    prog := commerce.compile_segment(p_tree);
    -- a rule reads manual and model tags only: rule tags never wait on each other
    SELECT string_agg(c, ', ') INTO v_bad FROM unnest(prog.tags) c
     WHERE NOT EXISTS (SELECT 1 FROM commerce.tag t WHERE t.tenant_id = p_tenant AND t.code = c)
        OR (p_kind = 'tag' AND EXISTS (SELECT 1 FROM commerce.tag t WHERE t.tenant_id = p_tenant AND t.code = c AND t.source = 'rule'));
    IF v_bad IS NOT NULL THEN
        PERFORM commerce._invalid('p_tree', format('tags %s are unknown%s', left(v_bad, 200),
                                                   CASE WHEN p_kind = 'tag' THEN ' or rule tags' ELSE '' END),
            CASE WHEN p_kind = 'tag' THEN 'A rule tag reads manual and model tags only: write the other rule''s conditions instead.'
                 ELSE 'Create the tags first (commerce.create_tag).' END);
    END IF;
    SELECT g.segment_id, g.definition INTO v_id, v_old FROM commerce.segment g
     WHERE g.tenant_id = p_tenant AND g.kind = p_kind AND g.code = p_code FOR UPDATE;
    IF v_id IS NULL THEN
        INSERT INTO commerce.segment (tenant_id, kind, code, name, definition, select_all, select_some, nums, strs, tags,
                                      created_at, updated_at)
        VALUES (p_tenant, p_kind, p_code, p_name, p_tree, prog.select_all, prog.select_some, prog.nums, prog.strs, prog.tags,
                v_now, v_now)
        ON CONFLICT (tenant_id, kind, code) DO NOTHING
        RETURNING segment_id INTO v_id;
        IF v_id IS NULL THEN    -- defined concurrently: this call becomes a redefinition
            RETURN commerce.define_segment(p_tenant, p_code, p_name, p_tree, p_kind, p_by, p_rebuild);
        END IF;
    ELSIF v_old = p_tree THEN
        UPDATE commerce.segment g SET name = p_name, active = true, updated_at = v_now
         WHERE g.tenant_id = p_tenant AND g.segment_id = v_id;
        RETURN v_id;
    ELSE
        UPDATE commerce.segment g
           SET name = p_name, definition = p_tree, select_all = prog.select_all, select_some = prog.select_some,
               nums = prog.nums, strs = prog.strs, tags = prog.tags, version = g.version + 1, active = true, updated_at = v_now
         WHERE g.tenant_id = p_tenant AND g.segment_id = v_id;
    END IF;
    IF p_rebuild THEN
        PERFORM commerce.rebuild_segment(p_tenant, p_code, p_kind, p_by);
    END IF;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.define_segment(bigint, text, text, jsonb, text, text, boolean) IS
  'Define a segment (p_kind segment) or the rule of a rule tag (tag) by its condition tree (compiled once, 22023 naming the bad node; tags it names must exist, and a rule tag reads no other rule tag). A changed tree is a new version; the same tree changes nothing but the name. Rebuilt at once unless p_rebuild is false. Returns the segment id.';

-- Include a person in a segment or exclude one by hand, or drop the override (mode NULL).
CREATE FUNCTION commerce.override_segment(p_tenant bigint, p_code text, p_customer text, p_mode text,
                                          p_by text DEFAULT 'operator') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE v_seg bigint; v_person bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_customer, 'p_customer');
    IF p_mode IS NOT NULL AND p_mode NOT IN ('include', 'exclude') THEN
        PERFORM commerce._invalid('p_mode', format('"%s"', left(p_mode, 64)), 'Include, exclude, or NULL to follow the tree again.');
    END IF;
    SELECT g.segment_id INTO v_seg FROM commerce.segment g WHERE g.tenant_id = p_tenant AND g.kind = 'segment' AND g.code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('segment', p_code, p_tenant);
    END IF;
    SELECT c.person_id INTO v_person FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    IF p_mode IS NULL THEN
        DELETE FROM commerce.segment_override o WHERE o.tenant_id = p_tenant AND o.segment_id = v_seg AND o.person_id = v_person;
    ELSE
        INSERT INTO commerce.segment_override AS o (tenant_id, segment_id, person_id, mode, by_whom, at)
        VALUES (p_tenant, v_seg, v_person, p_mode, left(coalesce(p_by, 'operator'), 200), commerce.now())
        ON CONFLICT (tenant_id, segment_id, person_id) DO UPDATE SET mode = EXCLUDED.mode, by_whom = EXCLUDED.by_whom, at = EXCLUDED.at;
    END IF;
    INSERT INTO commerce.crm_dirty (tenant_id, person_id, at) VALUES (p_tenant, v_person, commerce.now());
END $$;
COMMENT ON FUNCTION commerce.override_segment(bigint, text, text, text, text) IS
  'Include a customer''s person in a segment or exclude it (p_mode include / exclude), whatever the tree says, through every rebuild; NULL drops the override. Applied by the CRM pump (or the next rebuild).';

-- One batch of the CRM pump: re-evaluate the segments of persons whose features changed.
CREATE FUNCTION commerce.crm_evaluate(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; b record; s record;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('batch %s', p_limit), 'Use a batch of 1 to 100000.');
    END IF;
    FOR b IN
        WITH taken AS (
            DELETE FROM commerce.crm_dirty d
             WHERE (d.tenant_id, d.dirty_id) IN (SELECT x.tenant_id, x.dirty_id FROM commerce.crm_dirty x
                                                  ORDER BY x.dirty_id LIMIT p_limit FOR UPDATE SKIP LOCKED)
            RETURNING d.tenant_id, d.person_id)
        SELECT t.tenant_id, array_agg(DISTINCT t.person_id ORDER BY t.person_id) AS persons, count(*)::integer AS rows
          FROM taken t GROUP BY t.tenant_id ORDER BY t.tenant_id
    LOOP
        n := n + b.rows;
        -- the persons' rows locked in id order (row locks: no limit on a batch's size; orders, tags
        -- and events referencing them take key-share locks and never wait): a later pump taking the
        -- same person evaluates after this one commits
        PERFORM 1 FROM commerce.person p WHERE p.tenant_id = b.tenant_id AND p.person_id = ANY (b.persons)
         ORDER BY p.person_id FOR NO KEY UPDATE;
        -- their other queued changes are covered by this evaluation (they committed before it starts)
        WITH more AS (
            DELETE FROM commerce.crm_dirty d
             WHERE (d.tenant_id, d.dirty_id) IN (SELECT x.tenant_id, x.dirty_id FROM commerce.crm_dirty x
                                                  WHERE x.tenant_id = b.tenant_id AND x.person_id = ANY (b.persons)
                                                  FOR UPDATE SKIP LOCKED)
            RETURNING 1)
        SELECT n + count(*) INTO n FROM more;
        -- rule tags first: segments that read them see them current
        FOR s IN SELECT g.segment_id FROM commerce.segment g WHERE g.tenant_id = b.tenant_id AND g.active
                  ORDER BY g.kind = 'tag' DESC, g.segment_id LOOP
            PERFORM pg_advisory_xact_lock_shared(commerce._segment_lock_key(b.tenant_id, s.segment_id, 'eval'));
            PERFORM commerce._segment_apply(b.tenant_id, s.segment_id, b.persons);
        END LOOP;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.crm_evaluate(integer) IS
  'One batch of the CRM pump: take up to p_limit queued changes (crm_dirty) and the other queued changes of their persons, and re-evaluate every active segment and rule tag of their persons (rule tags first), applying only the difference. Their person rows are locked in id order, so two pumps never apply an older evaluation over a newer one. Returns the queued changes taken.';

-- Rebuild every active segment and rule tag (the nightly job: windows and "days since" move with the date).
CREATE PROCEDURE commerce.crm_nightly()
LANGUAGE plpgsql AS $$
DECLARE s record;
BEGIN
    FOR s IN SELECT g.tenant_id, g.kind, g.code FROM commerce.segment g WHERE g.active
              ORDER BY g.tenant_id, g.kind = 'tag' DESC, g.segment_id LOOP
        BEGIN
            PERFORM commerce.rebuild_segment(s.tenant_id, s.code, s.kind, 'job:commerce-crm-nightly');
        EXCEPTION WHEN SQLSTATE 'PT409' THEN
            NULL;   -- rebuilt by someone else right now
        END;
        COMMIT;
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.crm_nightly() IS
  'The nightly CRM job (pg_cron 02:30: commerce-crm-nightly): rebuilds every active segment and rule tag of every tenant, committed one by one (a segment being rebuilt by someone else is skipped), so windows ("the last 30 days") and "days since" follow the date.';

CREATE PROCEDURE commerce.crm_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.crm_evaluate', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.crm_pump(integer, integer) IS
  'The CRM job (pg_cron, every minute: commerce-crm): re-evaluates the segments and rule tags of persons whose features changed, committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-crm', '* * * * *', 'CALL commerce.crm_pump()');
INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-crm-nightly', '30 2 * * *', 'CALL commerce.crm_nightly()');

-- Export a segment's members: member id and phone (masked, plain for PII readers, SHA-256 or encrypted).
CREATE FUNCTION commerce.export_segment(p_tenant bigint, p_code text, p_mode text DEFAULT 'masked', p_key text DEFAULT NULL)
RETURNS TABLE (person_id bigint, member text, phone text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE v_seg bigint; v_crypto text; n bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    PERFORM commerce._require(p_mode, 'p_mode');
    IF p_mode NOT IN ('masked', 'plain', 'sha256', 'encrypted') THEN
        PERFORM commerce._invalid('p_mode', format('"%s"', left(p_mode, 64)),
            'Export phones masked, plain (PII readers), sha256 (hex of the E.164 number, for ad platforms) or encrypted (with p_key).');
    END IF;
    SELECT g.segment_id INTO v_seg FROM commerce.segment g WHERE g.tenant_id = p_tenant AND g.kind = 'segment' AND g.code = p_code;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('segment', p_code, p_tenant);
    END IF;
    IF p_mode = 'plain' AND NOT commerce.may_see_pii() THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'plain phone numbers are for PII readers only',
            DETAIL = 'The caller is not a member of commerce_pii_reader.',
            HINT = 'Export masked, sha256 or encrypted phones, or ask for the commerce_pii_reader role.';
    END IF;
    IF p_mode = 'encrypted' THEN
        PERFORM commerce._require(p_key, 'p_key');
        IF length(p_key) NOT BETWEEN 16 AND 1000 THEN
            PERFORM commerce._invalid('p_key', format('%s characters', length(p_key)),
                                      'Use a key of 16 to 1000 characters, kept outside the database.');
        END IF;
        SELECT ns.nspname INTO v_crypto FROM pg_extension e JOIN pg_namespace ns ON ns.oid = e.extnamespace
         WHERE e.extname = 'pgcrypto';
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'pgcrypto is not installed in this database',
                DETAIL = 'Encrypted exports use pgcrypto (AES-256).', HINT = 'CREATE EXTENSION pgcrypto (PostgreSQL contrib).';
        END IF;
    END IF;
    RETURN QUERY
    SELECT m.person_id, c.code,
           CASE p_mode WHEN 'masked' THEN commerce.mask_phone(ph.phone)
                       WHEN 'plain' THEN ph.phone
                       WHEN 'sha256' THEN encode(sha256(convert_to(ph.phone, 'UTF8')), 'hex')
                       ELSE encode(commerce._encrypt(v_crypto, ph.phone, p_key), 'base64') END
      FROM commerce.segment_member m
      JOIN LATERAL (SELECT c1.code, c1.phone FROM commerce.customer c1
                     WHERE c1.tenant_id = m.tenant_id AND c1.person_id = m.person_id
                     ORDER BY c1.customer_id LIMIT 1) c ON true
      LEFT JOIN LATERAL (SELECT coalesce(
                             (SELECT i.value FROM commerce.person_identity i
                               WHERE i.tenant_id = m.tenant_id AND i.person_id = m.person_id AND i.type = 'phone'
                               ORDER BY i.verified DESC, i.identity_id LIMIT 1),
                             CASE WHEN c.phone ~ '^1\d{10}$' THEN '+86' || c.phone ELSE c.phone END) AS phone) ph ON true
     WHERE m.tenant_id = p_tenant AND m.segment_id = v_seg
     ORDER BY m.person_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF p_mode <> 'masked' THEN
        PERFORM commerce._audit(p_tenant, 'pii.export', 'segment:' || p_code,
                                jsonb_build_object('segment', p_code, 'mode', p_mode, 'rows', n), p_mode);
    END IF;
END $$;
COMMENT ON FUNCTION commerce.export_segment(bigint, text, text, text) IS
  'The members of a segment for export (CRM09), by person: member id (its first account''s code) and phone (its verified phone identity first, else the account''s phone), masked (default), plain (commerce_pii_reader members only, 42501 otherwise), sha256 (hex of the E.164 number: what ad platforms match on) or encrypted (pgcrypto AES-256 under p_key, base64). Every export but a masked one is audited (pii.export).';

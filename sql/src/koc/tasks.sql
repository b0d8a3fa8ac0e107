-- sql/src/koc/tasks.sql: KOC tasks targeted by level and tag, with materials
-- (K08), and a KOC's open tasks.

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
COMMENT ON FUNCTION commerce.upsert_koc_task(bigint, text, text, timestamptz, timestamptz, integer, bigint, integer, text[], text[], text[]) IS
  'K08: create or update a task by code: window, reward (rate in bp and/or bounty in fen per redemption), goal in redemptions, target levels and/or tags (NULL: any), material references. tracking_link shares it only while it runs and only with KOCs it targets.';

-- The tasks a KOC can share now (its workbench).
CREATE FUNCTION commerce.koc_open_tasks(p_tenant bigint, p_koc text)
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
COMMENT ON FUNCTION commerce.koc_open_tasks(bigint, text) IS
  'K08: the running tasks open to a KOC (its level and tags), with the reward it would earn (task rate + its level bonus, bounty) and the materials.';

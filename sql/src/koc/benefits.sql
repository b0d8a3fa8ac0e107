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
CREATE FUNCTION commerce.koc_benefits(p_tenant bigint, p_koc text) RETURNS jsonb
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
                              'agreementSigned', commerce.koc_has_signed_current(p_tenant, k.koc_id),
                              'memberBenefits', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', p.kind, 'rateBp', p.rate_bp,
                                                                                              'label', coalesce(p.label, lv.name || ' KOC'))
                                                                           ORDER BY p.kind), '[]')
                                                   FROM commerce.koc_level_perk p
                                                  WHERE p.tenant_id = p_tenant AND p.level_code = lv.code AND k.status = 'active'),
                              'airdrops', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('level', d.level_code, 'status', d.status,
                                                                                                          'token', d.token_ref))
                                                                     ORDER BY d.requested_at, d.level_code), '[]')
                                             FROM commerce.koc_airdrop d WHERE d.tenant_id = p_tenant AND d.koc_id = k.koc_id));
END $$;
COMMENT ON FUNCTION commerce.koc_benefits(bigint, text) IS
  'K06: what a KOC has now: its level, the commission bonus, vote rights and airdrops (only while active), the exclusive materials of its level and the levels below, whether it signed the current agreement, the member benefits its level gives its customer account while active (memberBenefits) and its NFT airdrops (level, requested, issued with the token, or failed).';

-- Set a KOC's tags.
CREATE FUNCTION commerce.set_koc_tags(p_tenant bigint, p_koc text, p_tags text[]) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE v text[];
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_koc, 'p_koc');
    PERFORM commerce._require(p_tags, 'p_tags');
    IF EXISTS (SELECT 1 FROM unnest(p_tags) x WHERE coalesce(x, '') !~ '^[a-z0-9][a-z0-9_-]{0,39}$') THEN
        PERFORM commerce._invalid('p_tags', format('%s', p_tags), 'Tags are lower-case words of 1 to 40 characters (a-z, 0-9, _ and -).');
    END IF;
    UPDATE commerce.koc SET tags = ARRAY(SELECT DISTINCT x FROM unnest(p_tags) x ORDER BY x)
     WHERE tenant_id = p_tenant AND code = p_koc RETURNING tags INTO v;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', p_koc, p_tenant);
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.set_koc_tags(bigint, text, text[]) IS 'Replace a KOC''s tags (sorted, without repeats).';

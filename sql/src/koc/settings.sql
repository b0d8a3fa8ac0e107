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

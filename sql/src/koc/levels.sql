-- sql/src/koc/levels.sql: default levels of a tenant and the monthly level
-- recalculation (K05, K07, K15), C in src/koc_levels.c.

CREATE FUNCTION commerce.ensure_koc_levels(p_tenant bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO commerce.koc_level (tenant_id, code, name, rank, bonus_bp, airdrop, vote_rights)
    SELECT p_tenant, code, name, rank, bonus_bp, airdrop, vote_rights
      FROM (VALUES ('bronze', 'Bronze', 1, 0, false, false), ('silver', 'Silver', 2, 200, true, false),
                   ('gold', 'Gold', 3, 500, true, true))
           v(code, name, rank, bonus_bp, airdrop, vote_rights)
     WHERE NOT EXISTS (SELECT 1 FROM commerce.koc_level WHERE tenant_id = p_tenant);
$$;
COMMENT ON FUNCTION commerce.ensure_koc_levels(bigint) IS
  'Default levels for a tenant that has none: bronze; silver (+200 bp, airdrops); gold (+500 bp, airdrops, vote rights).';

-- C: recalculate the levels of a tenant's KOCs for one closed month.
CREATE FUNCTION commerce.recalculate_levels(p_tenant bigint, p_month date,
                                            OUT koc_count integer, OUT promoted integer, OUT demoted integer,
                                            OUT already_done boolean)
    AS 'MODULE_PATHNAME', 'commerce_recalculate_levels' LANGUAGE C;
COMMENT ON FUNCTION commerce.recalculate_levels(bigint, date) IS
  'Month close (K07): computes each KOC''s figures for the tenant-local month (redemptions, new customers, repurchase rate in bp, GMV in fen), promotes to the highest level whose rule they meet, demotes by the tenant''s rule, records the changes with the figures and notifies koc.level_changed. Once per month: a second run returns already_done.';

-- A KOC's figures for a tenant-local month, as the recalculation sees them.
CREATE FUNCTION commerce.koc_month_figures(p_tenant bigint, p_month date)
RETURNS TABLE (koc_id bigint, redemptions bigint, new_customers bigint, repurchase_rate_bp bigint, gmv_fen bigint)
LANGUAGE sql STABLE AS $$
    WITH b AS (SELECT (date_trunc('month', p_month::timestamp) AT TIME ZONE t.time_zone) AS lo,
                      ((date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE t.time_zone) AS hi
                 FROM commerce.tenant t WHERE t.tenant_id = p_tenant),
         c AS (SELECT l.koc_id, l.customer_id,
                      count(*) FILTER (WHERE l.kind = 'earn') AS earns,
                      bool_or(l.new_customer) AS new_customer,
                      sum(l.base_fen) AS gmv
                 FROM b, commerce.commission_line l
                WHERE l.tenant_id = p_tenant AND l.occurred_at >= b.lo AND l.occurred_at < b.hi
                GROUP BY l.koc_id, l.customer_id)
    SELECT c.koc_id, sum(earns)::bigint,
           count(*) FILTER (WHERE new_customer)::bigint,
           CASE WHEN count(*) FILTER (WHERE earns > 0) = 0 THEN 0
                ELSE (10000 * count(*) FILTER (WHERE earns >= 2) / count(*) FILTER (WHERE earns > 0))::bigint END,
           sum(gmv)::bigint
      FROM c GROUP BY c.koc_id;
$$;
COMMENT ON FUNCTION commerce.koc_month_figures(bigint, date) IS
  'Per KOC, for the tenant-local month: redemptions (earn lines), new customers (buyers whose first paid order it was), repurchase rate (buyers with two or more redemptions / buyers, bp, rounded down) and GMV (commission base net of refunds in the month, fen). KOCs without lines in the month are absent (all figures 0).';

-- Recalculate every closed month that is due, for every tenant (or one), oldest first.
CREATE FUNCTION commerce.recalculate_due_levels(p_tenant bigint DEFAULT NULL, p_max_months integer DEFAULT 24)
RETURNS TABLE (tenant_id bigint, month date, koc_count integer, promoted integer, demoted integer)
LANGUAGE plpgsql AS $$
DECLARE t record; m date; r record; v_local timestamp; n integer;
BEGIN
    FOR t IN SELECT tn.tenant_id, tn.time_zone FROM commerce.tenant tn
              WHERE p_tenant IS NULL OR tn.tenant_id = p_tenant ORDER BY tn.tenant_id LOOP
        v_local := commerce.now() AT TIME ZONE t.time_zone;
        SELECT (max(lr.month) + interval '1 month')::date INTO m
          FROM commerce.koc_level_run lr WHERE lr.tenant_id = t.tenant_id;
        IF m IS NULL THEN
            SELECT date_trunc('month', min(k.joined_at) AT TIME ZONE t.time_zone)::date INTO m
              FROM commerce.koc k WHERE k.tenant_id = t.tenant_id;
        END IF;
        n := 0;
        WHILE m IS NOT NULL AND (m + interval '1 month') <= v_local AND n < p_max_months LOOP
            SELECT * INTO r FROM commerce.recalculate_levels(t.tenant_id, m);
            IF NOT r.already_done THEN
                tenant_id := t.tenant_id; month := m; koc_count := r.koc_count;
                promoted := r.promoted; demoted := r.demoted;
                RETURN NEXT;
            END IF;
            m := (m + interval '1 month')::date;
            n := n + 1;
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION commerce.recalculate_due_levels(bigint, integer) IS
  'The month-close job (pg_cron, hourly): for each tenant, every month closed in its time zone and not yet recalculated, oldest first (a late run catches up, at most p_max_months per call).';

CREATE PROCEDURE commerce.level_pump()
LANGUAGE plpgsql AS $$
DECLARE t bigint;
BEGIN
    FOR t IN SELECT tenant_id FROM commerce.tenant ORDER BY tenant_id LOOP
        PERFORM commerce.recalculate_due_levels(t);
        COMMIT;
    END LOOP;
END $$;
COMMENT ON PROCEDURE commerce.level_pump() IS
  'The monthly level job: recalculate_due_levels tenant by tenant, committing after each.';

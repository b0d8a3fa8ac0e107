-- sql/src/core/retention.sql: the purge job. Rows that only serve
-- operations (idempotency keys, delivered outbox messages, funnel events,
-- clicks, pg_cron's run details) are deleted once older than
-- commerce.retention says, in bounded batches; ledgers, orders and money are
-- never touched. Late in the manifest: it purges tables of later modules.

-- Delete up to p_limit rows past their retention, oldest first per tenant and kind; returns how many.
CREATE FUNCTION commerce.purge_batch(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE r record; v_left integer := p_limit; v_cut timestamptz; n integer; v_total integer := 0;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    IF p_limit NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'Purge 1 to 100000 rows per batch.');
    END IF;
    FOR r IN
        SELECT t.tenant_id, d.what, coalesce(o.keep, d.keep) AS keep
          FROM commerce.tenant t
         CROSS JOIN commerce.retention d
          LEFT JOIN commerce.retention o ON o.tenant_id = t.tenant_id AND o.what = d.what
         WHERE d.tenant_id = 0 AND d.what <> 'cron.job_run_details'
         ORDER BY t.tenant_id, d.what
    LOOP
        EXIT WHEN v_left <= 0;
        v_cut := commerce.now() - r.keep;
        n := 0;
        CASE r.what
        WHEN 'request_log' THEN
            DELETE FROM commerce.request_log l
             WHERE l.ctid = ANY (ARRAY(SELECT x.ctid FROM commerce.request_log x
                                        WHERE x.tenant_id = r.tenant_id AND x.created_at < v_cut LIMIT v_left));
        WHEN 'outbox.done' THEN
            DELETE FROM commerce.outbox m
             WHERE m.tenant_id = r.tenant_id
               AND m.message_id IN (SELECT x.message_id FROM commerce.outbox x
                                     WHERE x.tenant_id = r.tenant_id AND x.status = 'done' AND x.done_at < v_cut
                                     ORDER BY x.message_id LIMIT v_left);
        WHEN 'outbox.dead' THEN
            DELETE FROM commerce.outbox m
             WHERE m.tenant_id = r.tenant_id
               AND m.message_id IN (SELECT x.message_id FROM commerce.outbox x
                                     WHERE x.tenant_id = r.tenant_id AND x.status = 'dead'
                                       AND coalesce(x.done_at, x.created_at) < v_cut
                                     ORDER BY x.message_id LIMIT v_left);
        WHEN 'play_event' THEN
            DELETE FROM commerce.play_event e
             WHERE e.tenant_id = r.tenant_id
               AND e.event_id IN (SELECT x.event_id FROM commerce.play_event x
                                   WHERE x.tenant_id = r.tenant_id AND x.at < v_cut
                                   ORDER BY x.event_id LIMIT v_left);
        WHEN 'click' THEN
            DELETE FROM commerce.click c
             WHERE c.tenant_id = r.tenant_id
               AND c.click_id IN (SELECT x.click_id FROM commerce.click x
                                   WHERE x.tenant_id = r.tenant_id AND x.clicked_at < v_cut
                                   ORDER BY x.click_id LIMIT v_left);
        WHEN 'visit_day' THEN       -- by day, in the tenant's calendar: the primary key's order
            DELETE FROM commerce.visit_day v
             WHERE v.ctid = ANY (ARRAY(SELECT x.ctid FROM commerce.visit_day x
                                        WHERE x.tenant_id = r.tenant_id
                                          AND x.day < (v_cut AT TIME ZONE (SELECT t.time_zone FROM commerce.tenant t
                                                                            WHERE t.tenant_id = r.tenant_id))::date
                                        ORDER BY x.day LIMIT v_left));
        END CASE;
        GET DIAGNOSTICS n = ROW_COUNT;
        v_left := v_left - n;
        v_total := v_total + n;
    END LOOP;
    -- pg_cron's run details of the commerce jobs, when pg_cron is in this database and may be written
    IF v_left > 0 AND to_regclass('cron.job_run_details') IS NOT NULL THEN
        BEGIN
            EXECUTE 'DELETE FROM cron.job_run_details d WHERE d.runid IN (
                         SELECT x.runid FROM cron.job_run_details x JOIN cron.job j ON j.jobid = x.jobid
                          WHERE j.jobname IN (SELECT job_name FROM commerce.job) AND x.end_time < $1
                          ORDER BY x.runid LIMIT $2)'
              USING commerce.now() - (SELECT keep FROM commerce.retention
                                       WHERE tenant_id = 0 AND what = 'cron.job_run_details'), v_left;
            GET DIAGNOSTICS n = ROW_COUNT;
            v_total := v_total + n;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;   -- the job role may not write pg_cron's tables: left to the DBA
        END;
    END IF;
    RETURN v_total;
END $$;
COMMENT ON FUNCTION commerce.purge_batch(integer) IS
  'Delete up to p_limit rows older than their retention (commerce.retention: tenant row, else the tenant-0 default): idempotency keys (request_log), delivered and dead outbox messages, play funnel events, clicks, visitors'' days (visit_day), and pg_cron''s run details of the commerce jobs. Never a ledger, an order or money. Returns the rows deleted.';

-- The purge job (pg_cron, daily): purge in committed batches until nothing is due.
CREATE PROCEDURE commerce.purge_pump(p_batch integer DEFAULT 10000, p_max_batches integer DEFAULT 1000)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.purge_batch', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.purge_pump(integer, integer) IS
  'The purge job (pg_cron, daily at 03:17 Beijing time): deletes everything past its retention in committed batches of 10000.';

-- What the purge job would delete now, per kind (a DBA's preview; nothing is deleted).
CREATE FUNCTION commerce.retention_report()
RETURNS TABLE (what text, keep interval, overridden_by integer, rows_due bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT d.what, d.keep, (SELECT count(*)::integer FROM commerce.retention o WHERE o.what = d.what AND o.tenant_id <> 0),
           CASE d.what
           WHEN 'request_log' THEN (SELECT count(*) FROM commerce.request_log x
                                     WHERE x.created_at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'outbox.done' THEN (SELECT count(*) FROM commerce.outbox x WHERE x.status = 'done'
                                       AND x.done_at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'outbox.dead' THEN (SELECT count(*) FROM commerce.outbox x WHERE x.status = 'dead'
                                       AND coalesce(x.done_at, x.created_at) < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'play_event' THEN (SELECT count(*) FROM commerce.play_event x
                                    WHERE x.at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'click' THEN (SELECT count(*) FROM commerce.click x
                               WHERE x.clicked_at < commerce.now() - commerce._retention(x.tenant_id, d.what))
           WHEN 'visit_day' THEN (SELECT count(*) FROM commerce.visit_day x JOIN commerce.tenant t ON t.tenant_id = x.tenant_id
                                   WHERE x.day < ((commerce.now() - commerce._retention(x.tenant_id, d.what)) AT TIME ZONE t.time_zone)::date)
           END
      FROM commerce.retention d WHERE d.tenant_id = 0 ORDER BY d.what;
END $$;
COMMENT ON FUNCTION commerce.retention_report() IS
  'Per kind of purged row: the default retention, how many tenants override it, and how many rows are due now (cron.job_run_details: not counted). Nothing is deleted.';

-- A tenant's retention of one kind (its own row, else the default).
CREATE FUNCTION commerce._retention(p_tenant bigint, p_what text) RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT keep FROM commerce.retention WHERE tenant_id = p_tenant AND what = p_what),
                    (SELECT keep FROM commerce.retention WHERE tenant_id = 0 AND what = p_what));
$$;

-- Set (or with p_keep NULL, remove) a tenant's retention of one kind; tenant 0 changes the default.
CREATE FUNCTION commerce.set_retention(p_tenant bigint, p_what text, p_keep interval) RETURNS interval
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._require(p_tenant, 'p_tenant');
    PERFORM commerce._require(p_what, 'p_what');
    IF p_tenant <> 0 THEN
        PERFORM commerce._tenant(p_tenant);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM commerce.retention WHERE tenant_id = 0 AND what = p_what) THEN
        PERFORM commerce._invalid('p_what', format('"%s"', left(p_what, 64)),
            'One of: request_log, outbox.done, outbox.dead, play_event, click, cron.job_run_details.');
    END IF;
    IF p_keep IS NULL THEN
        IF p_tenant = 0 THEN
            PERFORM commerce._require(p_keep, 'p_keep');
        END IF;
        DELETE FROM commerce.retention WHERE tenant_id = p_tenant AND what = p_what;
        RETURN commerce._retention(p_tenant, p_what);
    END IF;
    IF p_keep < interval '1 day' OR p_keep > interval '20 years' THEN
        PERFORM commerce._invalid('p_keep', format('%s', p_keep), 'Keep rows 1 day to 20 years.');
    END IF;
    IF p_what = 'cron.job_run_details' AND p_tenant <> 0 THEN
        PERFORM commerce._invalid('p_tenant', format('%s', p_tenant), 'pg_cron''s run details have one retention (tenant 0).');
    END IF;
    INSERT INTO commerce.retention (tenant_id, what, keep) VALUES (p_tenant, p_what, p_keep)
    ON CONFLICT (tenant_id, what) DO UPDATE SET keep = EXCLUDED.keep;
    RETURN p_keep;
END $$;
COMMENT ON FUNCTION commerce.set_retention(bigint, text, interval) IS
  'Set how long the purge job keeps one kind of row for a tenant (1 day to 20 years; tenant 0: the default); p_keep NULL removes the tenant''s own setting. Returns the retention now in force.';

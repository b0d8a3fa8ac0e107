-- sql/src/finance/reports.sql: what finance reads and checks: the splits with
-- their lines, a summary, the reconciliation of the gateway's split bill, and
-- the monthly payroll export of KOC commission.

-- Splits of a tenant, newest first, filtered by status and order.
CREATE FUNCTION commerce.profit_splits(p_tenant bigint, p_status text[] DEFAULT NULL, p_order text DEFAULT NULL,
                                       p_before bigint DEFAULT NULL, p_limit integer DEFAULT 50)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_limit', format('%s', p_limit), 'Ask for 1 to 500 splits at a time.');
    END IF;
    IF p_status IS NOT NULL AND NOT p_status <@ ARRAY['waiting', 'payable', 'review', 'approved', 'submitted', 'accepted',
                                                    'finished', 'failed', 'cancelled'] THEN
        PERFORM commerce._invalid('p_status', format('%s', p_status),
            'States: waiting, payable, review, approved, submitted, accepted, finished, failed, cancelled.');
    END IF;
    RETURN (
        SELECT coalesce(jsonb_agg(x.j ORDER BY x.split_id DESC), '[]')
          FROM (SELECT s.split_id, jsonb_build_object(
                       'split', s.split_id, 'request_no', s.request_no, 'order', o.external_order_id, 'method', s.method,
                       'status', s.status, 'due_at', s.due_at, 'base_fen', s.base_fen, 'parties_fen', s.parties_fen,
                       'owner_fen', s.owner_fen, 'netted_fen', s.netted_fen, 'base_yuan', commerce.yuan(s.base_fen),
                       'freeze_ends', so.freeze_ends, 'reviewed_by', s.reviewed_by, 'decided_by', s.decided_by,
                       'submitted_at', s.submitted_at, 'ended_at', s.ended_at, 'reason', s.reason,
                       'parties', (SELECT jsonb_agg(jsonb_build_object('receiver', rc.code, 'kind', rc.kind,
                                                                       'earned_fen', t.fen, 'paid_fen', l.paid_fen,
                                                                       'netted_fen', l.netted_fen,
                                                                       'account', coalesce(l.account, rc.account),
                                                                       'active', rc.active)
                                                    ORDER BY rc.code)
                                     FROM (SELECT receiver_id, sum(amount_fen)::bigint AS fen FROM commerce.profit_split_part
                                            WHERE tenant_id = s.tenant_id AND split_id = s.split_id AND party_no > 0
                                            GROUP BY 1) t
                                     JOIN commerce.sharing_receiver rc ON rc.tenant_id = s.tenant_id AND rc.receiver_id = t.receiver_id
                                     LEFT JOIN commerce.profit_split_line l ON l.tenant_id = s.tenant_id AND l.split_id = s.split_id
                                                                          AND l.receiver_id = t.receiver_id),
                       'adjustments', (SELECT jsonb_agg(jsonb_build_object('kind', a.kind, 'receiver', rc.code,
                                                                           'amount_fen', a.amount_fen, 'netted_fen', a.netted_fen,
                                                                           'status', a.status, 'return_no', a.return_no,
                                                                           'refund', a.source_key) ORDER BY a.adjustment_id)
                                         FROM commerce.profit_split_adjustment a
                                         JOIN commerce.sharing_receiver rc ON rc.tenant_id = a.tenant_id AND rc.receiver_id = a.receiver_id
                                        WHERE a.tenant_id = s.tenant_id AND a.split_id = s.split_id)) AS j
                  FROM commerce.profit_split s
                  JOIN commerce.orders o ON o.tenant_id = s.tenant_id AND o.order_id = s.order_id
                  JOIN commerce.sharing_order so ON so.tenant_id = s.tenant_id AND so.order_id = s.order_id
                 WHERE s.tenant_id = p_tenant AND (p_status IS NULL OR s.status = ANY (p_status))
                   AND (p_order IS NULL OR o.external_order_id = p_order)
                   AND (p_before IS NULL OR s.split_id < p_before)
                 ORDER BY s.split_id DESC LIMIT p_limit) x);
END $$;
COMMENT ON FUNCTION commerce.profit_splits(bigint, text[], text, bigint, integer) IS
  'Splits of a tenant, newest first (p_limit 1 to 500; pass the last split id as p_before for the next page), in some states and of one order (external id): request number, method, state, due time, base, parties'' and owner''s amounts, the freeze end, who reviewed and decided, each party''s earned, netted and paid amounts and the adjustments refunds made.';

-- The state of profit sharing at a glance.
CREATE FUNCTION commerce.split_summary(p_tenant bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'by_status', (SELECT coalesce(jsonb_object_agg(status, jsonb_build_object('splits', n, 'parties_fen', fen)), '{}')
                        FROM (SELECT status, count(*) AS n, sum(parties_fen)::bigint AS fen FROM commerce.profit_split
                               WHERE tenant_id = p_tenant GROUP BY status) x),
        'late', (SELECT count(*) FROM commerce.profit_split s JOIN commerce.sharing_order so USING (tenant_id, order_id)
                  WHERE s.tenant_id = p_tenant AND s.method = 'gateway'
                    AND s.status IN ('waiting', 'payable', 'review', 'approved') AND so.freeze_ends <= commerce.now()),
        'at_risk', (SELECT count(*) FROM commerce.profit_split s JOIN commerce.sharing_order so USING (tenant_id, order_id)
                     WHERE s.tenant_id = p_tenant AND s.method = 'gateway'
                       AND s.status IN ('payable', 'review', 'approved') AND so.freeze_ends > commerce.now()
                       AND so.freeze_ends <= commerce.now() + interval '2 days'),
        'open_debts_fen', (SELECT coalesce(sum(amount_fen - netted_fen), 0) FROM commerce.profit_split_adjustment
                            WHERE tenant_id = p_tenant AND kind = 'debt' AND status IN ('waiting', 'open')),
        'returns', (SELECT coalesce(jsonb_object_agg(status, fen), '{}')
                      FROM (SELECT status, sum(amount_fen)::bigint AS fen FROM commerce.profit_split_adjustment
                             WHERE tenant_id = p_tenant AND kind = 'return' GROUP BY status) r));
$$;
COMMENT ON FUNCTION commerce.split_summary(bigint) IS
  'Profit sharing at a glance: splits and parties'' amounts by state; gateway splits not submitted whose freeze has ended (late: the gateway released the money to the owner; pay them by transfer) or ends within 2 days (at_risk); persons'' debts not yet netted; merchants'' returns by state.';

-- Import a day's split bill (replacing an earlier import) and reconcile it.
CREATE FUNCTION commerce.reconcile_split_bill(p_tenant bigint, p_date date, p_lines jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row; l jsonb; n integer := 0; r record;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_date, 'p_date');
    PERFORM commerce._require(p_lines, 'p_lines');
    IF NOT isfinite(p_date) THEN
        PERFORM commerce._invalid('p_date', format('%s', p_date), 'A bill is of a calendar day.');
    END IF;
    IF jsonb_typeof(p_lines) <> 'array' THEN
        PERFORM commerce._invalid('p_lines', 'The bill is not a JSON array.',
            'Pass [{"request_no":"<split or return number>","account":"<receiver account>","kind":"split|return","amount_fen":<n>}, ...].');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.split_recon:' || p_tenant || ':' || p_date, 0));
    DELETE FROM commerce.split_bill_line WHERE tenant_id = p_tenant AND bill_date = p_date;
    DELETE FROM commerce.split_recon_difference WHERE tenant_id = p_tenant AND bill_date = p_date;
    FOR l IN SELECT value FROM jsonb_array_elements(p_lines) LOOP
        n := n + 1;
        IF jsonb_typeof(l) <> 'object' OR jsonb_typeof(l -> 'request_no') IS DISTINCT FROM 'string'
           OR jsonb_typeof(l -> 'account') IS DISTINCT FROM 'string'
           OR coalesce(l ->> 'kind', 'split') NOT IN ('split', 'return')
           OR jsonb_typeof(l -> 'amount_fen') IS DISTINCT FROM 'number' THEN
            PERFORM commerce._invalid('p_lines', format('Line %s is %s.', n, left(l::text, 200)),
                'Every line has a request_no and an account (strings), kind split or return, and amount_fen (a number).');
        END IF;
        INSERT INTO commerce.split_bill_line (tenant_id, bill_date, line_no, request_no, account, kind, amount_fen)
        VALUES (p_tenant, p_date, n, left(l ->> 'request_no', 64), left(l ->> 'account', 128), coalesce(l ->> 'kind', 'split'),
                commerce._fen(l -> 'amount_fen', format('line %s amount_fen', n)));
    END LOOP;
    -- ours: request lines of gateway splits finished that day, returns returned that day
    WITH ours AS (
        SELECT s.request_no, l.account, 'split'::text AS kind, sum(l.paid_fen)::bigint AS amount
          FROM commerce.profit_split s
          JOIN commerce.profit_split_line l ON l.tenant_id = s.tenant_id AND l.split_id = s.split_id
         WHERE s.tenant_id = p_tenant AND s.method = 'gateway' AND s.status = 'finished' AND l.paid_fen > 0
           AND (s.ended_at AT TIME ZONE t.time_zone)::date = p_date
         GROUP BY 1, 2
        UNION ALL
        SELECT a.return_no, (SELECT l.account FROM commerce.profit_split_line l WHERE l.tenant_id = a.tenant_id
                               AND l.split_id = a.split_id AND l.receiver_id = a.receiver_id), 'return', a.amount_fen
          FROM commerce.profit_split_adjustment a
         WHERE a.tenant_id = p_tenant AND a.kind = 'return' AND a.status = 'returned'
           AND (a.ended_at AT TIME ZONE t.time_zone)::date = p_date),
    bill AS (
        SELECT request_no, account, kind, sum(amount_fen)::bigint AS amount FROM commerce.split_bill_line
         WHERE tenant_id = p_tenant AND bill_date = p_date GROUP BY 1, 2, 3)
    INSERT INTO commerce.split_recon_difference (tenant_id, bill_date, request_no, account, kind, our_fen, bill_fen)
    SELECT p_tenant, p_date, d.request_no, d.account, d.kind, sum(d.ours), sum(d.theirs)
      FROM (SELECT coalesce(o.request_no, b.request_no) AS request_no, coalesce(o.account, b.account) AS account,
                   CASE WHEN b.request_no IS NULL THEN 'missing_in_bill' WHEN o.request_no IS NULL THEN 'missing_here'
                        ELSE 'amount_mismatch' END AS kind, o.amount AS ours, b.amount AS theirs
              FROM ours o FULL JOIN bill b ON b.request_no = o.request_no AND b.account = o.account AND b.kind = o.kind
             WHERE o.amount IS DISTINCT FROM b.amount) d
     GROUP BY d.request_no, d.account, d.kind;
    INSERT INTO commerce.split_recon_run (tenant_id, bill_date, run_at, our_lines, bill_lines, our_fen, bill_fen, differences)
    SELECT p_tenant, p_date, commerce.now(),
           (SELECT count(*) FROM commerce.profit_split s JOIN commerce.profit_split_line l USING (tenant_id, split_id)
             WHERE s.tenant_id = p_tenant AND s.method = 'gateway' AND s.status = 'finished' AND l.paid_fen > 0
               AND (s.ended_at AT TIME ZONE t.time_zone)::date = p_date)
         + (SELECT count(*) FROM commerce.profit_split_adjustment a WHERE a.tenant_id = p_tenant AND a.kind = 'return'
               AND a.status = 'returned' AND (a.ended_at AT TIME ZONE t.time_zone)::date = p_date),
           n,
           (SELECT coalesce(sum(l.paid_fen), 0) FROM commerce.profit_split s JOIN commerce.profit_split_line l USING (tenant_id, split_id)
             WHERE s.tenant_id = p_tenant AND s.method = 'gateway' AND s.status = 'finished'
               AND (s.ended_at AT TIME ZONE t.time_zone)::date = p_date)
         + (SELECT coalesce(sum(a.amount_fen), 0) FROM commerce.profit_split_adjustment a WHERE a.tenant_id = p_tenant
               AND a.kind = 'return' AND a.status = 'returned' AND (a.ended_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT coalesce(sum(amount_fen), 0) FROM commerce.split_bill_line WHERE tenant_id = p_tenant AND bill_date = p_date),
           (SELECT count(*) FROM commerce.split_recon_difference WHERE tenant_id = p_tenant AND bill_date = p_date)
    ON CONFLICT (tenant_id, bill_date) DO UPDATE
       SET run_at = EXCLUDED.run_at, our_lines = EXCLUDED.our_lines, bill_lines = EXCLUDED.bill_lines,
           our_fen = EXCLUDED.our_fen, bill_fen = EXCLUDED.bill_fen, differences = EXCLUDED.differences
    RETURNING * INTO r;
    RETURN jsonb_build_object('bill_date', r.bill_date, 'our_lines', r.our_lines, 'bill_lines', r.bill_lines,
                              'our_fen', r.our_fen, 'bill_fen', r.bill_fen, 'differences', r.differences,
                              'details', (SELECT coalesce(jsonb_agg(jsonb_build_object('request_no', d.request_no,
                                              'account', d.account, 'kind', d.kind, 'our_fen', d.our_fen,
                                              'bill_fen', d.bill_fen) ORDER BY d.request_no, d.account), '[]')
                                            FROM commerce.split_recon_difference d
                                           WHERE d.tenant_id = p_tenant AND d.bill_date = p_date));
END $$;
COMMENT ON FUNCTION commerce.reconcile_split_bill(bigint, date, jsonb) IS
  'Import the payment gateway''s profit-sharing bill of a day [{request_no, account, kind (split or return), amount_fen}] (a re-import replaces it) and reconcile it against the request lines of gateway splits finished that day (at the accounts they were sent to) and the returns returned that day (the tenant''s calendar): differences missing_in_bill, missing_here and amount_mismatch per request number, account and kind. 22023 for a day that is not finite or a line without a request_no, account or amount_fen. Runs of one day are serialized. Returns the run with its differences.';

-- Write the payroll export of a month once (from the KOC ledger) and tell HR.
CREATE FUNCTION commerce.payroll_export(p_tenant bigint, p_month date)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE t commerce.tenant_row; v_from timestamptz; v_to timestamptz; r record; v_new boolean := false;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_month, 'p_month');
    IF NOT isfinite(p_month) OR p_month <> date_trunc('month', p_month)::date THEN
        PERFORM commerce._invalid('p_month', format('%s', p_month), 'Name a month by its first day, e.g. 2026-11-01.');
    END IF;
    -- a month starts where the previous month's export ended (a change of time zone neither counts an
    -- entry twice nor loses one) and ends at the end of the month in the tenant's calendar now
    v_from := coalesce((SELECT period_to FROM commerce.payroll_run
                         WHERE tenant_id = p_tenant AND month = (p_month - interval '1 month')::date),
                       p_month::timestamp AT TIME ZONE t.time_zone);
    -- ... and, when the next month was exported first, ends where that one began
    v_to := coalesce((SELECT period_from FROM commerce.payroll_run
                       WHERE tenant_id = p_tenant AND month = (p_month + interval '1 month')::date),
                     (p_month + interval '1 month')::timestamp AT TIME ZONE t.time_zone);
    v_to := greatest(v_to, v_from + interval '1 second');
    IF v_to > commerce.now() THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('the month %s has not ended', to_char(p_month, 'YYYY-MM')),
            DETAIL  = format('It ends at %s (%s).', v_to, t.time_zone),
            HINT    = 'A month is exported once it is over; the commerce-payroll job does it on the 1st.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.payroll:' || p_tenant || ':' || p_month, 0));
    IF NOT EXISTS (SELECT 1 FROM commerce.payroll_run WHERE tenant_id = p_tenant AND month = p_month) THEN
        v_new := true;
        WITH l AS (
            SELECT koc_id, sum(settled_delta)::bigint AS settled, sum(paid_delta)::bigint AS paid, sum(fee_delta)::bigint AS fee,
                   count(*)::integer AS entries
              FROM commerce.koc_ledger
             WHERE tenant_id = p_tenant AND created_at >= v_from AND created_at < v_to
             GROUP BY koc_id),
        run AS (
            INSERT INTO commerce.payroll_run (tenant_id, month, period_from, period_to, kocs, settled_fen, paid_fen, created_at)
            SELECT p_tenant, p_month, v_from, v_to, count(*), coalesce(sum(settled), 0), coalesce(sum(paid), 0), commerce.now() FROM l
            RETURNING month)
        INSERT INTO commerce.payroll_line (tenant_id, month, koc_id, settled_fen, paid_fen, fee_fen, entries)
        SELECT p_tenant, run.month, l.koc_id, l.settled, l.paid, l.fee, l.entries FROM l CROSS JOIN run;
    END IF;
    SELECT * INTO r FROM commerce.payroll_run WHERE tenant_id = p_tenant AND month = p_month;
    IF v_new THEN
        PERFORM commerce.enqueue(p_tenant, 'finance.payroll',
            jsonb_build_object('month', to_char(p_month, 'YYYY-MM'), 'kocs', r.kocs, 'settled_fen', r.settled_fen,
                               'paid_fen', r.paid_fen), 'payroll:' || p_month);
    END IF;
    RETURN jsonb_build_object('month', to_char(r.month, 'YYYY-MM'), 'kocs', r.kocs, 'settled_fen', r.settled_fen,
                              'paid_fen', r.paid_fen, 'created_at', r.created_at,
                              'outcome', CASE WHEN v_new THEN 'exported' ELSE 'existing' END);
END $$;
COMMENT ON FUNCTION commerce.payroll_export(bigint, date) IS
  'Export a month''s KOC commission for payroll (seed 000''s HR story), once: per KOC with ledger entries in the month (the tenant''s calendar; from where the previous month''s export ended, so no entry is counted twice or lost when the time zone changes) the commission settled (settlement batches, net of refunds), paid out and the fees; a finance.payroll message tells HR. Again returns the same export (outcome existing). PT409 for a month not over, 22023 for a date that is not the 1st.';

-- The monthly job: every tenant's last month.
CREATE FUNCTION commerce.payroll_export_due() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE t record; n integer := 0;
BEGIN
    FOR t IN SELECT tenant_id, date_trunc('month', (commerce.now() AT TIME ZONE time_zone) - interval '1 month')::date AS month
               FROM commerce.tenant tn
              WHERE EXISTS (SELECT 1 FROM commerce.koc k WHERE k.tenant_id = tn.tenant_id)
              ORDER BY tenant_id LOOP
        IF NOT EXISTS (SELECT 1 FROM commerce.payroll_run WHERE tenant_id = t.tenant_id AND month = t.month) THEN
            PERFORM commerce.payroll_export(t.tenant_id, t.month);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.payroll_export_due() IS
  'The commerce-payroll job (the 1st of each month, and hourly that day so every time zone''s month has ended): exports the last month of each tenant with KOCs, once. Returns how many it exported.';

-- The lines of a month's payroll export, for HR.
CREATE FUNCTION commerce.payroll_lines(p_tenant bigint, p_month date)
RETURNS TABLE (koc text, name text, settled_fen bigint, settled_yuan text, paid_fen bigint, fee_fen bigint, entries integer)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_month, 'p_month');
    IF NOT EXISTS (SELECT 1 FROM commerce.payroll_run WHERE tenant_id = p_tenant AND month = p_month) THEN
        PERFORM commerce._not_found('payroll export', to_char(p_month, 'YYYY-MM'), p_tenant);
    END IF;
    RETURN QUERY
    SELECT k.code, k.name, l.settled_fen, commerce.yuan(l.settled_fen), l.paid_fen, l.fee_fen, l.entries
      FROM commerce.payroll_line l JOIN commerce.koc k ON k.tenant_id = l.tenant_id AND k.koc_id = l.koc_id
     WHERE l.tenant_id = p_tenant AND l.month = p_month
     ORDER BY k.code;
END $$;
COMMENT ON FUNCTION commerce.payroll_lines(bigint, date) IS
  'The lines of a month''s payroll export (PT404 before it is written): per KOC its code, name, commission settled in fen and yuan, paid out, fees, ledger entries.';

-- The job.
CREATE PROCEDURE commerce.payroll_pump()
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce.payroll_export_due();
END $$;
COMMENT ON PROCEDURE commerce.payroll_pump() IS
  'The payroll job (pg_cron, hourly on the 1st of each month): commerce.payroll_export_due().';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-payroll', '15 * 1 * *', 'CALL commerce.payroll_pump()');

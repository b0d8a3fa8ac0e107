-- sql/src/orders/reconciliation.sql: bill import and reconciliation
-- differences.

-- Import a day's bill (replacing an earlier import) and reconcile it against our orders.
CREATE FUNCTION commerce.reconcile_bill(p_tenant bigint, p_source text, p_date date, p_lines jsonb)
RETURNS commerce.recon_run_row LANGUAGE plpgsql AS $$
DECLARE
    t commerce.tenant_row; v_channel bigint; r commerce.recon_run_row; l jsonb; n integer := 0;
BEGIN
    t := commerce._tenant(p_tenant);
    PERFORM commerce._require(p_source, 'p_source');
    PERFORM commerce._require(p_date, 'p_date');
    PERFORM commerce._require(p_lines, 'p_lines');
    SELECT channel_id INTO v_channel FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_source;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_source, p_tenant);
    END IF;
    IF jsonb_typeof(p_lines) <> 'array' THEN
        PERFORM commerce._invalid('p_lines', 'The bill is not a JSON array.',
            'Pass [{"order_id":"<platform or merchant order id>","amount_fen":<n>,"refund_fen":<n>}, ...].');
    END IF;
    -- serialize runs of one source and day; a re-run replaces
    PERFORM pg_advisory_xact_lock(hashtextextended('commerce.recon:' || p_tenant || ':' || p_source || ':' || p_date, 0));
    DELETE FROM commerce.bill_line WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date;
    DELETE FROM commerce.recon_difference WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date;
    FOR l IN SELECT value FROM jsonb_array_elements(p_lines) LOOP
        n := n + 1;
        IF jsonb_typeof(l) <> 'object' OR l ->> 'order_id' IS NULL THEN
            PERFORM commerce._invalid('p_lines', format('Line %s has no order_id.', n), 'Every bill line names an order.');
        END IF;
        INSERT INTO commerce.bill_line (tenant_id, source, bill_date, line_no, external_order_id, amount_fen, refund_fen)
        VALUES (p_tenant, p_source, p_date, n, l ->> 'order_id',
                commerce._fen(l -> 'amount_fen', format('line %s amount_fen', n)),
                commerce._fen(l -> 'refund_fen', format('line %s refund_fen', n)));
    END LOOP;

    WITH ours AS (
        SELECT external_order_id, coalesce(paid_fen, 0) AS amount, refunded_fen AS refund
          FROM commerce.orders
         WHERE tenant_id = p_tenant AND channel_id = v_channel AND paid_at IS NOT NULL
           AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
    bill AS (
        SELECT external_order_id, sum(amount_fen) AS amount, sum(refund_fen) AS refund
          FROM commerce.bill_line
         WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date
         GROUP BY external_order_id),
    diff AS (
        SELECT coalesce(o.external_order_id, b.external_order_id) AS id,
               CASE WHEN b.external_order_id IS NULL THEN 'missing_in_bill'
                    WHEN o.external_order_id IS NULL THEN 'missing_in_orders'
                    WHEN o.amount <> b.amount THEN 'amount_mismatch' END AS kind,
               o.amount AS ours, b.amount AS theirs
          FROM ours o FULL JOIN bill b USING (external_order_id)
        UNION ALL
        SELECT o.external_order_id, 'refund_mismatch', o.refund, b.refund
          FROM ours o JOIN bill b USING (external_order_id)
         WHERE o.refund <> b.refund)
    INSERT INTO commerce.recon_difference (tenant_id, source, bill_date, external_order_id, kind, our_fen, bill_fen)
    SELECT p_tenant, p_source, p_date, id, kind, ours, theirs FROM diff WHERE kind IS NOT NULL;

    INSERT INTO commerce.recon_run
    SELECT p_tenant, p_source, p_date, commerce.now(),
           (SELECT count(*) FROM commerce.orders WHERE tenant_id = p_tenant AND channel_id = v_channel
               AND paid_at IS NOT NULL AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT count(DISTINCT external_order_id) FROM commerce.bill_line
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date),
           (SELECT coalesce(sum(paid_fen), 0) FROM commerce.orders WHERE tenant_id = p_tenant AND channel_id = v_channel
               AND paid_at IS NOT NULL AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT coalesce(sum(amount_fen), 0) FROM commerce.bill_line
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date),
           (SELECT coalesce(sum(refunded_fen), 0) FROM commerce.orders WHERE tenant_id = p_tenant AND channel_id = v_channel
               AND paid_at IS NOT NULL AND (paid_at AT TIME ZONE t.time_zone)::date = p_date),
           (SELECT coalesce(sum(refund_fen), 0) FROM commerce.bill_line
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date),
           (SELECT count(*) FROM commerce.recon_difference
             WHERE tenant_id = p_tenant AND source = p_source AND bill_date = p_date)
    ON CONFLICT (tenant_id, source, bill_date) DO UPDATE
       SET run_at = EXCLUDED.run_at, our_orders = EXCLUDED.our_orders, bill_orders = EXCLUDED.bill_orders,
           our_fen = EXCLUDED.our_fen, bill_fen = EXCLUDED.bill_fen, our_refund = EXCLUDED.our_refund,
           bill_refund = EXCLUDED.bill_refund, differences = EXCLUDED.differences
    RETURNING * INTO r;
    RETURN r;
END $$;
COMMENT ON FUNCTION commerce.reconcile_bill(bigint, text, date, jsonb) IS
  'Import a day''s bill of a platform or payment provider ([{"order_id","amount_fen","refund_fen"}]) and compare it with the orders of that channel paid that day (tenant time zone): counts, amounts, refunds. Differences are stored by kind; a re-run for the same source and day replaces, never duplicates.';

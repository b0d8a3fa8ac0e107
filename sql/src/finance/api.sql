-- sql/src/finance/api.sql: profit sharing and payroll for HTTP clients: HQ
-- operators keep receivers and split rules, HQ finance the gateway's limits,
-- reviews, approvals, submissions, the split bill and the payroll export;
-- the payment adapter (a service) reports results. Each function takes its
-- actor from the verified identity.

-- Refuse staff limited to stores (42501): profit sharing is HQ's.
CREATE FUNCTION commerce._api_hq(a commerce.actor) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.kind IN ('store', 'operator', 'finance') AND (a.stores IS NOT NULL OR a.channels IS NOT NULL) THEN
        PERFORM commerce._no_identity(format('%s is staff of stores %s and channels %s, not HQ', left(a.subject, 64),
                                             left(coalesce(array_to_string(a.stores, ', '), 'all'), 200),
                                             left(coalesce(array_to_string(a.channels, ', '), 'all'), 200)),
            'Profit sharing (receivers, rules, splits, the split bill, payroll) is kept by HQ.',
            'Call it as an HQ operator or HQ finance member (staff without a store list).');
    END IF;
END $$;
COMMENT ON FUNCTION commerce._api_hq(commerce.actor) IS
  'Refuse (42501) staff limited to stores or channels: profit sharing is kept by HQ staff (no store or channel list).';

CREATE FUNCTION commerce_api.set_sharing_gateway(max_share_bp integer DEFAULT NULL, freeze_days integer DEFAULT NULL,
                                                 margin_days integer DEFAULT NULL, fee_bp integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_sharing_gateway', '{finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_sharing_gateway(a.tenant_id, set_sharing_gateway.max_share_bp, set_sharing_gateway.freeze_days,
                                        set_sharing_gateway.margin_days, set_sharing_gateway.fee_bp);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_sharing_gateway(integer, integer, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_sharing_gateway(integer, integer, integer, integer) IS
  'HQ finance sets the payment gateway''s profit-sharing limits (H3.7.2; omitted values are kept): max_share_bp (WeChat Pay: 3000), freeze_days (30), margin_days before the freeze ends by which a split is due (3), fee_bp taken off the base (60). 22023 out of range or below a rule in force. Returns the limits.';

CREATE FUNCTION commerce_api.upsert_sharing_receiver(code text, kind text, account text, name text, koc text DEFAULT NULL,
                                                     active boolean DEFAULT true)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_sharing_receiver', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.upsert_sharing_receiver(a.tenant_id, upsert_sharing_receiver.code, upsert_sharing_receiver.kind,
                                            upsert_sharing_receiver.account, upsert_sharing_receiver.name,
                                            upsert_sharing_receiver.koc, upsert_sharing_receiver.active);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_sharing_receiver(text, text, text, text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_sharing_receiver(text, text, text, text, text, boolean) IS
  'An HQ operator adds or changes a profit-sharing receiver: code, kind (merchant or personal, never changed), gateway account (merchant number or openid), name, the KOC a person is, active. The gateway is told (finance.receiver); splits reviewed or approved for the receiver go back to review when its account changes. Finance, who approves splits, cannot change where they go. Returns the receiver.';

CREATE FUNCTION commerce_api.set_sharing_rule(scope text, code text, parties jsonb, cycle_days integer,
                                              late_parts text DEFAULT 'cap', note text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_sharing_rule', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_sharing_rule(a.tenant_id, set_sharing_rule.scope, set_sharing_rule.code, set_sharing_rule.parties,
                                     set_sharing_rule.cycle_days, set_sharing_rule.late_parts, set_sharing_rule.note,
                                     commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_sharing_rule(text, text, jsonb, integer, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_sharing_rule(text, text, jsonb, integer, text, text) IS
  'An HQ operator saves the split rule of a sku, product or play (H3.7.2) as a new version: parties [{receiver, ratio_bp} or {receiver, fixed_fen per unit}], cycle_days 7, 15 or 30 after completion, late_parts cap or transfer. 22023 when it passes the gateway''s limits; orders paid before keep their version. Returns {rule, version, outcome: created, new_version, unchanged}.';

CREATE FUNCTION commerce_api.retire_sharing_rule(scope text, code text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.retire_sharing_rule', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.retire_sharing_rule(a.tenant_id, retire_sharing_rule.scope, retire_sharing_rule.code);
END $$;
REVOKE ALL ON FUNCTION commerce_api.retire_sharing_rule(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.retire_sharing_rule(text, text) IS
  'An HQ operator retires the split rule in force of a sku, product or play: lines paid afterwards are not shared (PT404 without one).';

CREATE FUNCTION commerce_api.sharing_rules()
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sharing_rules', '{operator,finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.sharing_rules(a.tenant_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sharing_rules() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sharing_rules() IS
  'The split rules in force with their parties, for HQ operators and finance.';

CREATE FUNCTION commerce_api.profit_splits(status text[] DEFAULT NULL, order_id text DEFAULT NULL,
                                           before_split bigint DEFAULT NULL, page_size integer DEFAULT 50)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.profit_splits', '{finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.profit_splits(a.tenant_id, profit_splits.status, profit_splits.order_id, profit_splits.before_split,
                                  profit_splits.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.profit_splits(text[], text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.profit_splits(text[], text, bigint, integer) IS
  'HQ finance lists splits newest first, in some states (NULL: all) and of one order (its external id), page_size 1 to 500; pass the last split id as before_split for the next page. Each with its parties'' earned, netted and paid amounts and its adjustments.';

CREATE FUNCTION commerce_api.split_summary()
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.split_summary', '{finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.split_summary(a.tenant_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.split_summary() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.split_summary() IS
  'Profit sharing at a glance for HQ finance: splits by state, splits late or at risk of the gateway''s freeze, persons'' open debts, merchants'' returns by state.';

CREATE FUNCTION commerce_api.review_split(split bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_split', '{finance}'); s commerce.profit_split_row;
BEGIN
    PERFORM commerce._api_hq(a);
    s := commerce.review_split(a.tenant_id, review_split.split, a.subject);
    RETURN commerce.profit_splits(a.tenant_id, NULL, NULL, s.split_id + 1, 1) -> 0;
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_split(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_split(bigint) IS
  'HQ finance takes a payable split into review under its name (again: no-op; PT409 in another state). Returns the split.';

CREATE FUNCTION commerce_api.decide_split(split bigint, approve boolean, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.decide_split', '{finance}'); s commerce.profit_split_row;
BEGIN
    PERFORM commerce._api_hq(a);
    s := commerce.decide_split(a.tenant_id, decide_split.split, decide_split.approve, a.subject, decide_split.reason);
    RETURN commerce.profit_splits(a.tenant_id, NULL, NULL, s.split_id + 1, 1) -> 0;
END $$;
REVOKE ALL ON FUNCTION commerce_api.decide_split(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.decide_split(bigint, boolean, text) IS
  'HQ finance approves a payable or reviewed split (submitted next by submit_split or the commerce-splits job) or rejects it with a reason (failed: nothing paid). Recorded under the finance member''s name. Returns the split.';

CREATE FUNCTION commerce_api.submit_split(split bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.submit_split', '{finance}'); s commerce.profit_split_row;
BEGIN
    PERFORM commerce._api_hq(a);
    s := commerce.submit_split(a.tenant_id, submit_split.split);
    RETURN commerce.profit_splits(a.tenant_id, NULL, NULL, s.split_id + 1, 1) -> 0;
END $$;
REVOKE ALL ON FUNCTION commerce_api.submit_split(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.submit_split(bigint) IS
  'HQ finance submits an approved split now (else the commerce-splits job does within 10 minutes): its request lines with persons'' debts netted and one finance.split (or finance.transfer) message keyed by its request number. Again: no-op. Returns the split.';

CREATE FUNCTION commerce_api.record_split_result(request_no text, status text, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_split_result', '{service}'); s commerce.profit_split_row;
BEGIN
    s := commerce.record_split_result(a.tenant_id, record_split_result.request_no, record_split_result.status,
                                      left(record_split_result.reason, 400));
    RETURN jsonb_build_object('request_no', s.request_no, 'status', s.status, 'reason', s.reason);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_split_result(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_split_result(text, text, text) IS
  'The payment adapter reports a split request''s outcome: accepted, finished or failed (with the gateway''s reason). Repeats are no-ops; PT409 when it contradicts the split. Returns {request_no, status, reason}.';

CREATE FUNCTION commerce_api.record_split_return(return_no text, status text, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_split_return', '{service}');
BEGIN
    RETURN commerce.record_split_return(a.tenant_id, record_split_return.return_no, record_split_return.status,
                                        left(record_split_return.reason, 400));
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_split_return(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_split_return(text, text, text) IS
  'The payment adapter reports a merchant''s return (finance.split_return): returned or failed with the gateway''s reason. Repeats are no-ops. Returns {return_no, status, amount_fen, reason}.';

CREATE FUNCTION commerce_api.reconcile_split_bill(bill_date date, lines jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.reconcile_split_bill', '{finance,service}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.reconcile_split_bill(a.tenant_id, reconcile_split_bill.bill_date, reconcile_split_bill.lines);
END $$;
REVOKE ALL ON FUNCTION commerce_api.reconcile_split_bill(date, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.reconcile_split_bill(date, jsonb) IS
  'HQ finance or the payment adapter imports the gateway''s profit-sharing bill of a day [{request_no, account, kind, amount_fen}] (a re-import replaces it) and gets the differences against our finished splits and returns of that day.';

CREATE FUNCTION commerce_api.payroll_export(month date)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.payroll_export', '{finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.payroll_export(a.tenant_id, payroll_export.month) || jsonb_build_object(
        'lines', (SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.koc), '[]')
                    FROM commerce.payroll_lines(a.tenant_id, payroll_export.month) l));
END $$;
REVOKE ALL ON FUNCTION commerce_api.payroll_export(date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.payroll_export(date) IS
  'HQ finance gets a month''s payroll export of KOC commission (by its first day; written once, by the commerce-payroll job on the 1st or by this call): totals and per KOC its code, name, commission settled (fen and yuan), paid out, fees and ledger entries. PT409 for a month not over.';

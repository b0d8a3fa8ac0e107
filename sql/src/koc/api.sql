-- sql/src/koc/api.sql: clicks, withdrawals, payout results, stats and the
-- leaderboard for HTTP clients.

CREATE FUNCTION commerce_api.record_click(code text, visitor text, ip inet DEFAULT NULL,
                                          user_agent text DEFAULT NULL)
RETURNS commerce.click_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.record_click(commerce.current_tenant(), code, visitor, ip, user_agent);
$$;
REVOKE ALL ON FUNCTION commerce_api.record_click(text, text, inet, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS commerce.withdrawal_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.request_withdrawal(commerce.current_tenant(), request_id, koc, amount_fen, method, payee);
$$;
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;

CREATE FUNCTION commerce_api.record_payout(payout_ref text, status text, provider_ref text DEFAULT NULL,
                                           reason text DEFAULT NULL)
RETURNS text LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.record_payout(commerce.current_tenant(), payout_ref, status, provider_ref, reason);
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payout(text, text, text, text) FROM PUBLIC;

-- API: what the KOC workbench and the admin console call.
CREATE FUNCTION commerce_api.koc_stats("kocId" bigint, "startDate" date, "endDate" date)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.koc_stats(commerce.current_tenant(),
                              coalesce((SELECT code FROM commerce.koc WHERE tenant_id = commerce.current_tenant()
                                                                        AND koc_id = "kocId"), '#' || "kocId"),
                              "startDate", "endDate");
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_stats(bigint, date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_stats(bigint, date, date) IS
  'GET /rpc/koc_stats?kocId=&startDate=&endDate= (PostgREST): commerce.koc_stats for the caller''s tenant.';

CREATE FUNCTION commerce_api.koc_rank(start_date date, end_date date, region text DEFAULT NULL,
                                      metric text DEFAULT 'gmv', "limit" integer DEFAULT 100)
RETURNS TABLE (rank bigint, koc text, name text, region text, level text, clicks bigint, redemptions bigint,
               gmv_fen bigint, commission_fen bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.koc_rank(commerce.current_tenant(), start_date, end_date, region, metric, "limit");
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) IS
  'GET /rpc/koc_rank (PostgREST): commerce.koc_rank for the caller''s tenant.';

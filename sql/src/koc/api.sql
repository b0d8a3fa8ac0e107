-- sql/src/koc/api.sql: clicks, withdrawals, payout results, stats and the
-- leaderboard for HTTP clients. A KOC withdraws and reads its own figures
-- only; payout results are the payout service's.

CREATE FUNCTION commerce_api.record_click(code text, visitor text, ip inet DEFAULT NULL,
                                          user_agent text DEFAULT NULL)
RETURNS commerce.click_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.record_click', '{anonymous,customer,service}') a,
           LATERAL commerce.record_click(a.tenant_id, code,
                                         CASE WHEN a.kind = 'customer' THEN commerce._actor_subject(a, visitor, 'visitor')
                                              ELSE visitor END,
                                         commerce._client_ip(a, host(ip))::inet,
                                         commerce._client_header(a, user_agent, 'user-agent')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_click(text, text, inet, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_click(text, text, inet, text) IS
  'Record a click on a KOC''s tracking link (the signed code) by a visitor: an anonymous visitor by its cookie id, a signed-in customer as itself, the link redirector (service) for anyone. Counted once per visitor and window.';

CREATE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS commerce.withdrawal_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT w.* FROM commerce._api_actor('commerce_api.request_withdrawal', '{koc,service}') a,
           LATERAL commerce.request_withdrawal(a.tenant_id, request_id, commerce._actor_subject(a, koc, 'koc'),
                                               amount_fen, method, payee) w;
$$;
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) IS
  'A KOC asks to withdraw from its own balance (koc NULL or its own code; another is 42501); a service (the KOC workbench''s backend) names the KOC. PT409 when the balance is short. Idempotent by request_id.';

CREATE FUNCTION commerce_api.record_payout(payout_ref text, status text, provider_ref text DEFAULT NULL,
                                           reason text DEFAULT NULL)
RETURNS text LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.record_payout(a.tenant_id, payout_ref, status, provider_ref, reason)
      FROM commerce._api_actor('commerce_api.record_payout', '{service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_payout(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_payout(text, text, text, text) IS
  'The payout provider''s callback (service only): the result of a payout batch or withdrawal (paid or failed, with the provider''s reference).';

CREATE FUNCTION commerce_api.koc_stats("kocId" bigint, "startDate" date, "endDate" date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_stats', '{koc,operator,finance,service}'); v_code text;
BEGIN
    SELECT k.code INTO v_code FROM commerce.koc k WHERE k.tenant_id = a.tenant_id AND k.koc_id = "kocId";
    IF a.kind = 'koc' AND v_code IS DISTINCT FROM a.subject THEN
        PERFORM commerce._not_found('KOC', '#' || "kocId", a.tenant_id);    -- another KOC's figures do not exist for it
    END IF;
    RETURN commerce.koc_stats(a.tenant_id, coalesce(v_code, '#' || "kocId"), "startDate", "endDate");
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_stats(bigint, date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_stats(bigint, date, date) IS
  'GET /rpc/koc_stats?kocId=&startDate=&endDate= (PostgREST): a KOC''s clicks, redemptions, GMV and commission for a period. A KOC reads its own only (another is PT404); operators, finance and services any.';

CREATE FUNCTION commerce_api.koc_rank(start_date date, end_date date, region text DEFAULT NULL,
                                      metric text DEFAULT 'gmv', top integer DEFAULT 100)
RETURNS TABLE (rank bigint, koc text, name text, region text, level text, clicks bigint, redemptions bigint,
               gmv_fen bigint, commission_fen bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.koc_rank', '{koc,store,operator,finance,service}') a,
           LATERAL commerce.koc_rank(a.tenant_id, start_date, end_date, region, metric, top) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_rank(date, date, text, text, integer) IS
  'GET /rpc/koc_rank?start_date=&end_date=&top= (PostgREST): the KOC leaderboard of a period by gmv, redemptions or commission (metric), optionally for one region, the first top KOCs (default 100). Open to KOCs, staff and services.';

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

-- The shape of a KOC's account (an API row type: selects nothing itself).
CREATE VIEW commerce_api.koc_account AS
SELECT NULL::text AS koc, NULL::text AS name, NULL::text AS level, NULL::text AS status,
       NULL::bigint AS unsettled_fen, NULL::bigint AS settled_fen, NULL::bigint AS balance_fen,
       NULL::text AS balance_yuan, NULL::bigint AS in_flight_fen, NULL::bigint AS paid_fen, NULL::bigint AS fee_fen,
       NULL::timestamptz AS next_settlement_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_account IS
  E'@omit all\nA KOC''s money: commission earned but not yet settled (unsettled_fen: T+0.5), settled in all (settled_fen = balance + in flight + paid + fees), the balance it may withdraw (balance_yuan the exact string), what is on its way to it (in_flight_fen), paid out and paid in fees, and when its next settlement is due; with its level and status.';

CREATE FUNCTION commerce_api.koc_account(koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_account LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_account', '{koc,operator,finance,service}');
        v_koc text := koc_account.koc;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, koc_account.koc, 'koc');
    END IF;
    PERFORM commerce._require(v_koc, 'koc');
    RETURN QUERY
    SELECT k.code, k.name, k.level_code, k.status, coalesce(ac.unsettled_fen, 0), coalesce(ac.settled_fen, 0),
           coalesce(ac.balance_fen, 0), commerce.yuan(coalesce(ac.balance_fen, 0)), coalesce(ac.in_flight_fen, 0),
           coalesce(ac.paid_fen, 0), coalesce(ac.fee_fen, 0), ac.due_at
      FROM commerce.koc k
      LEFT JOIN commerce.koc_account ac ON ac.tenant_id = k.tenant_id AND ac.koc_id = k.koc_id
     WHERE k.tenant_id = a.tenant_id AND k.code = v_koc;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('KOC', v_koc, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_account(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_account(text) IS
  'A KOC''s account (koc_account): a KOC its own (koc left out or its own; another is 42501); operators, finance and services any KOC''s (koc required).';

-- The shape of a tracking link.
CREATE VIEW commerce_api.tracking_link AS
SELECT NULL::text AS koc, NULL::text AS task, NULL::text AS channel, NULL::text AS code WHERE false;
COMMENT ON VIEW commerce_api.tracking_link IS
  E'@omit all\nA KOC''s signed tracking code for a task and share channel: put code in the shared URL; a click on it is recorded with record_click and attributes the visitor''s orders to the KOC within the attribution window.';

CREATE FUNCTION commerce_api.tracking_link(task text DEFAULT NULL, channel text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.tracking_link LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.tracking_link', '{koc,service}');
        v_koc text := commerce._actor_subject(a, tracking_link.koc, 'koc');
BEGIN
    PERFORM commerce._require(v_koc, 'koc');
    RETURN QUERY SELECT v_koc, tracking_link.task, tracking_link.channel,
                        commerce.tracking_link(a.tenant_id, v_koc, tracking_link.task, tracking_link.channel);
END $$;
REVOKE ALL ON FUNCTION commerce_api.tracking_link(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.tracking_link(text, text, text) IS
  'A signed tracking code (tracking_link) for the calling KOC, optionally for a task and a share channel (wechat, douyin, xiaohongshu, ...): a KOC for itself (koc left out); a service names the KOC. The same arguments always give the same code.';

CREATE FUNCTION commerce_api.koc_overview(start_date date, end_date date)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.koc_overview(a.tenant_id, start_date, end_date)
      FROM commerce._api_actor('commerce_api.koc_overview', '{operator,finance,service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_overview(date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_overview(date, date) IS
  'The KOC programme overview of a period (K19, HQ dashboard): KOCs, active KOCs, clicks, redemptions, revenue and commission (fen and yuan), ROI, and the trend per day ({"trend":[{"date","clicks","redemptions","revenueFen"}, ...]}). Operators, finance and services.';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.koc_account(hasura_session json, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_account LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_account(koc_account.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_account(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_account(json, text) IS
  'Hasura: commerce_api.koc_account for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.tracking_link(hasura_session json, task text DEFAULT NULL, channel text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.tracking_link LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.tracking_link(tracking_link.task, tracking_link.channel, tracking_link.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.tracking_link(json, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.tracking_link(json, text, text, text) IS
  'Hasura: commerce_api.tracking_link for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

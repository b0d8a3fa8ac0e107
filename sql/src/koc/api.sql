-- sql/src/koc/api.sql: clicks, withdrawals, payout results, stats and the
-- leaderboard for HTTP clients. A KOC withdraws and reads its own figures
-- only; payout results are the payout service's.

-- The shape of a click's outcome (an API row type: selects nothing itself).
CREATE VIEW commerce_api.click_outcome AS
SELECT NULL::bigint AS click_id, NULL::boolean AS counted, NULL::bigint AS koc_id, NULL::bigint AS task_id WHERE false;
COMMENT ON VIEW commerce_api.click_outcome IS
  E'@omit all\nThe outcome of a click on a tracking link: the click, whether it counted (not a repeat within the dedupe window), the KOC and the task it attributes to.';

CREATE FUNCTION commerce_api.record_click(code text, visitor text, ip inet DEFAULT NULL,
                                          user_agent text DEFAULT NULL)
RETURNS SETOF commerce_api.click_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
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

-- The shape of a withdrawal.
CREATE VIEW commerce_api.koc_withdrawal AS
SELECT NULL::bigint AS withdrawal_id, NULL::text AS koc, NULL::bigint AS amount_fen, NULL::text AS amount_yuan,
       NULL::bigint AS fee_fen, NULL::text AS method, NULL::text AS status, NULL::text AS reviewer, NULL::text AS reason,
       NULL::timestamptz AS requested_at, NULL::timestamptz AS reviewed_at, NULL::timestamptz AS finished_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_withdrawal IS
  E'@omit all\nA KOC''s withdrawal (K14): amount and fee in fen (amount_yuan the exact string), method (wechat, alipay, bank_card), status (requested, approved, rejected, paid, failed), who reviewed it and why, and when it was requested, reviewed and finished. The payee details are not shown.';

-- Withdrawals as koc_withdrawal rows, newest first.
CREATE FUNCTION commerce._koc_withdrawals(p_tenant bigint, p_koc text, p_withdrawal bigint, p_status text,
                                          p_before bigint, p_page integer)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE sql STABLE AS $$
    SELECT w.withdrawal_id, k.code, w.amount_fen, commerce.yuan(w.amount_fen), w.fee_fen, w.method, w.status, w.reviewer,
           w.reason, w.requested_at, w.reviewed_at, w.finished_at
      FROM commerce.withdrawal w JOIN commerce.koc k ON k.tenant_id = w.tenant_id AND k.koc_id = w.koc_id
     WHERE w.tenant_id = p_tenant AND (p_koc IS NULL OR k.code = p_koc) AND (p_withdrawal IS NULL OR w.withdrawal_id = p_withdrawal)
       AND (p_status IS NULL OR w.status = p_status) AND (p_before IS NULL OR w.withdrawal_id < p_before)
     ORDER BY w.withdrawal_id DESC
     LIMIT p_page;
$$;

CREATE FUNCTION commerce_api.request_withdrawal(request_id text, koc text, amount_fen bigint, method text,
                                                payee jsonb)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.request_withdrawal', '{koc,service}');
        w commerce.withdrawal_row;
BEGIN
    w := commerce.request_withdrawal(a.tenant_id, request_withdrawal.request_id,
                                     commerce._actor_subject(a, request_withdrawal.koc, 'koc'),
                                     request_withdrawal.amount_fen, request_withdrawal.method, request_withdrawal.payee);
    -- a statement of its own: its snapshot sees the withdrawal just made
    RETURN QUERY SELECT * FROM commerce._koc_withdrawals(a.tenant_id, NULL, w.withdrawal_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_withdrawal(text, text, bigint, text, jsonb) IS
  'A KOC asks to withdraw from its own balance (koc NULL or its own code; another is 42501); a service (the KOC workbench''s backend) names the KOC. PT409 when the balance is short. Idempotent by request_id. Returns the withdrawal (koc_withdrawal); HQ finance reviews it (review_withdrawal).';

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

-- The shape of a place on the KOC leaderboard.
CREATE VIEW commerce_api.koc_rank_item AS
SELECT NULL::bigint AS rank, NULL::text AS koc, NULL::text AS name, NULL::text AS region, NULL::text AS level,
       NULL::bigint AS clicks, NULL::bigint AS redemptions, NULL::bigint AS gmv_fen, NULL::bigint AS commission_fen
 WHERE false;
COMMENT ON VIEW commerce_api.koc_rank_item IS
  E'@omit all\nA place on the KOC leaderboard (K18): rank, the KOC (code, name, region, level) and its clicks, redemptions, GMV and commission in fen for the period.';

CREATE FUNCTION commerce_api.koc_rank(start_date date, end_date date, region text DEFAULT NULL,
                                      metric text DEFAULT 'gmv', top integer DEFAULT 100)
RETURNS SETOF commerce_api.koc_rank_item
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
CREATE VIEW commerce_api.koc_link AS
SELECT NULL::text AS koc, NULL::text AS task, NULL::text AS channel, NULL::text AS code WHERE false;
COMMENT ON VIEW commerce_api.koc_link IS
  E'@omit all\nA KOC''s signed tracking code for a task and share channel: put code in the shared URL; a click on it is recorded with record_click and attributes the visitor''s orders to the KOC within the attribution window.';

CREATE FUNCTION commerce_api.tracking_link(task text DEFAULT NULL, channel text DEFAULT NULL, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_link LANGUAGE plpgsql VOLATILE SECURITY DEFINER
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
  'A signed tracking code (koc_link) for the calling KOC, optionally for a task and a share channel (a channel code: wechat_mp, douyin, ...): a KOC for itself (koc left out); a service names the KOC. The same arguments always give the same code. VOLATILE (POST): the tenant''s signing secret is made on the first call.';

CREATE FUNCTION commerce_api.koc_overview(start_date date, end_date date)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.koc_overview(a.tenant_id, start_date, end_date)
      FROM commerce._api_actor('commerce_api.koc_overview', '{operator,finance,service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.koc_overview(date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_overview(date, date) IS
  'The KOC programme overview of a period (K19, HQ dashboard): KOCs, active KOCs, clicks, redemptions, revenue and commission (fen and yuan), ROI, and the trend per day ({"trend":[{"date","clicks","redemptions","revenueFen"}, ...]}). Operators, finance and services.';

-- The shape of a KOC application.
CREATE VIEW commerce_api.koc_application AS
SELECT NULL::bigint AS application_id, NULL::text AS customer, NULL::text AS status, NULL::jsonb AS social_accounts,
       NULL::text AS note, NULL::text AS reviewer, NULL::text AS decision_reason, NULL::text AS koc,
       NULL::timestamptz AS created_at, NULL::timestamptz AS reviewed_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_application IS
  E'@omit all\nAn application to become a KOC (K03): the applying customer, status (submitted, approved, rejected), the social accounts and note it gave, who reviewed it and why, and the KOC code an approval created.';

-- Applications as koc_application rows, newest first.
CREATE FUNCTION commerce._koc_applications(p_tenant bigint, p_customer text, p_application bigint, p_status text,
                                           p_before bigint, p_page integer)
RETURNS SETOF commerce_api.koc_application LANGUAGE sql STABLE AS $$
    SELECT ap.application_id, cu.code, ap.status, ap.social_accounts, ap.note, ap.reviewer, ap.decision_reason, k.code,
           ap.created_at, ap.reviewed_at
      FROM commerce.koc_application ap
      JOIN commerce.customer cu ON cu.tenant_id = ap.tenant_id AND cu.customer_id = ap.customer_id
      LEFT JOIN commerce.koc k ON k.tenant_id = ap.tenant_id AND k.koc_id = ap.koc_id
     WHERE ap.tenant_id = p_tenant AND (p_customer IS NULL OR cu.code = p_customer)
       AND (p_application IS NULL OR ap.application_id = p_application)
       AND (p_status IS NULL OR ap.status = p_status) AND (p_before IS NULL OR ap.application_id < p_before)
     ORDER BY ap.application_id DESC
     LIMIT p_page;
$$;

CREATE FUNCTION commerce_api.apply_koc(request_id text, social_accounts jsonb, note text DEFAULT NULL,
                                       customer text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_koc', '{customer,service}');
        r commerce.koc_application_row;
BEGIN
    r := commerce.apply_koc(a.tenant_id, apply_koc.request_id, commerce._actor_subject(a, apply_koc.customer, 'customer'),
                            apply_koc.social_accounts, left(apply_koc.note, 1000));
    RETURN QUERY SELECT * FROM commerce._koc_applications(a.tenant_id, NULL, r.application_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.apply_koc(text, jsonb, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_koc(text, jsonb, text, text) IS
  'Apply to become a KOC (K03) with one''s social accounts ({"douyin":"@name","xiaohongshu":"..."}) and a note: a customer for itself; a service names the customer. One open application per customer; idempotent by request_id. Returns the application (koc_application); HQ reviews it (review_koc_application).';

CREATE FUNCTION commerce_api.koc_applications(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                              page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_applications', '{customer,operator,service}');
BEGIN
    PERFORM commerce._api_page(koc_applications.page_size);
    RETURN QUERY SELECT * FROM commerce._koc_applications(a.tenant_id, CASE WHEN a.kind = 'customer' THEN a.subject END,
                                                           NULL, koc_applications.status, koc_applications.before_id,
                                                           koc_applications.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_applications(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_applications(text, bigint, integer) IS
  'KOC applications newest first (koc_application), optionally of one status (submitted, approved, rejected): a customer its own; HQ operators and services all. Paged by cursor: before_id is the last application_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.review_koc_application(application bigint, approve boolean, reason text DEFAULT NULL,
                                                    koc_code text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_koc_application', '{operator}');
        r commerce.koc_application_row;
BEGIN
    r := commerce.review_koc_application(a.tenant_id, review_koc_application.application, review_koc_application.approve,
                                         a.subject, left(review_koc_application.reason, 500), review_koc_application.koc_code);
    RETURN QUERY SELECT * FROM commerce._koc_applications(a.tenant_id, NULL, r.application_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_koc_application(bigint, boolean, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_koc_application(bigint, boolean, text, text) IS
  'HQ approves (the customer becomes a KOC, koc_code or one made from the application) or rejects (reason required) a KOC application, as the calling operator. HQ operators only. Returns the application (koc_application).';

-- The shape of the agreement a KOC signs.
CREATE VIEW commerce_api.koc_agreement AS
SELECT NULL::integer AS version, NULL::text AS title, NULL::text AS body, NULL::text AS body_sha256,
       NULL::timestamptz AS published_at, NULL::timestamptz AS signed_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_agreement IS
  E'@omit all\nThe current KOC agreement (K04): version, title, body and its SHA-256 (what sign_agreement confirms), when it was published, and when the calling KOC signed it (NULL: not yet).';

CREATE FUNCTION commerce_api.koc_agreement()
RETURNS SETOF commerce_api.koc_agreement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_agreement', '{customer,koc,operator,service}');
BEGIN
    RETURN QUERY
    SELECT g.version, g.title, g.body, g.body_sha256, g.published_at,
           (SELECT sg.signed_at FROM commerce.agreement_signature sg JOIN commerce.koc k USING (tenant_id, koc_id)
             WHERE sg.tenant_id = g.tenant_id AND sg.version = g.version AND a.kind = 'koc' AND k.code = a.subject)
      FROM commerce.agreement g
     WHERE g.tenant_id = a.tenant_id
     ORDER BY g.version DESC LIMIT 1;
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_agreement() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_agreement() IS
  'The current KOC agreement to read before signing (koc_agreement), with when the calling KOC signed it. Open to customers (applicants), KOCs, operators and services; no row before HQ publishes one.';

CREATE FUNCTION commerce_api.sign_agreement(version integer, text_sha256 text, signer_name text)
RETURNS SETOF commerce_api.koc_agreement LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sign_agreement', '{koc}');
BEGIN
    PERFORM commerce.sign_agreement(a.tenant_id, a.subject, sign_agreement.version, sign_agreement.text_sha256,
                                    left(sign_agreement.signer_name, 100), commerce._client_ip(a, NULL)::inet);
    RETURN QUERY SELECT g.version, g.title, g.body, g.body_sha256, g.published_at, sg.signed_at
                   FROM commerce.agreement g
                   JOIN commerce.koc k ON k.tenant_id = g.tenant_id AND k.code = a.subject
                   JOIN commerce.agreement_signature sg ON sg.tenant_id = g.tenant_id AND sg.koc_id = k.koc_id
                                                       AND sg.version = g.version
                  WHERE g.tenant_id = a.tenant_id AND g.version = sign_agreement.version;
END $$;
REVOKE ALL ON FUNCTION commerce_api.sign_agreement(integer, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sign_agreement(integer, text, text) IS
  'The calling KOC signs an agreement version (K04), confirming the SHA-256 of the text it was shown, under the name it types; the client address comes from the request headers, as evidence. KOCs only. Returns the agreement with when it was signed (koc_agreement).';

-- The shape of a task open to a KOC.
CREATE VIEW commerce_api.koc_task AS
SELECT NULL::text AS task, NULL::text AS title, NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at,
       NULL::integer AS rate_bp, NULL::integer AS level_bonus_bp, NULL::bigint AS bounty_fen, NULL::integer AS goal,
       NULL::text[] AS materials
 WHERE false;
COMMENT ON VIEW commerce_api.koc_task IS
  E'@omit all\nA promotion task open to the KOC (K06): code and title, its window, the commission rate and the KOC level''s bonus in basis points, the bounty per redemption in fen, the goal, and the materials to share (URLs).';

CREATE FUNCTION commerce_api.koc_tasks()
RETURNS SETOF commerce_api.koc_task LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_tasks', '{koc}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.koc_open_tasks(a.tenant_id, a.subject);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_tasks() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_tasks() IS
  'The tasks open to the calling KOC now (koc_task), with its level''s bonus and the materials to share. KOCs only.';

-- The shape of a KOC's progress on a task.
CREATE VIEW commerce_api.koc_task_progress AS
SELECT NULL::text AS koc, NULL::text AS task, NULL::bigint AS clicks, NULL::bigint AS visitors,
       NULL::bigint AS new_customers, NULL::bigint AS pending_redemptions, NULL::bigint AS done_redemptions,
       NULL::integer AS goal, NULL::boolean AS goal_reached
 WHERE false;
COMMENT ON VIEW commerce_api.koc_task_progress IS
  E'@omit all\nA KOC''s progress on a task (K07): clicks and distinct visitors on its links, new customers, redemptions pending and done, the goal and whether it is reached.';

CREATE FUNCTION commerce_api.koc_task_progress(task text, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_task_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_task_progress', '{koc,operator,service}');
        v_koc text := koc_task_progress.koc;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, koc_task_progress.koc, 'koc');
    END IF;
    PERFORM commerce._require(v_koc, 'koc');
    RETURN QUERY SELECT * FROM commerce.koc_task_progress(a.tenant_id, v_koc, koc_task_progress.task);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_task_progress(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_task_progress(text, text) IS
  'A KOC''s progress on a task (koc_task_progress): a KOC its own (koc left out); HQ operators and services name the KOC.';

CREATE FUNCTION commerce_api.withdrawals(status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                         page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.withdrawals', '{koc,finance,service}');
        v_koc text := withdrawals.koc;
BEGIN
    PERFORM commerce._api_page(withdrawals.page_size);
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, withdrawals.koc, 'koc');
    END IF;
    RETURN QUERY SELECT * FROM commerce._koc_withdrawals(a.tenant_id, v_koc, NULL, withdrawals.status,
                                                          withdrawals.before_id, withdrawals.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.withdrawals(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.withdrawals(text, text, bigint, integer) IS
  'Withdrawals newest first (koc_withdrawal), optionally of one status or KOC: a KOC its own; finance and services any. Paged by cursor: before_id is the last withdrawal_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.review_withdrawal(withdrawal bigint, approve boolean, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_withdrawal', '{finance}');
        w commerce.withdrawal_row;
BEGIN
    w := commerce.review_withdrawal(a.tenant_id, review_withdrawal.withdrawal, review_withdrawal.approve, a.subject,
                                    left(review_withdrawal.reason, 500));
    RETURN QUERY SELECT * FROM commerce._koc_withdrawals(a.tenant_id, NULL, w.withdrawal_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_withdrawal(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_withdrawal(bigint, boolean, text) IS
  'HQ finance approves (the payout goes out through the outbox, koc.payout) or rejects (the amount goes back to the balance; reason required) a withdrawal, under its own name. Finance only. Returns the withdrawal (koc_withdrawal).';

-- The shape of a risk flag.
CREATE VIEW commerce_api.koc_risk_flag AS
SELECT NULL::bigint AS flag_id, NULL::text AS koc, NULL::text AS rule, NULL::jsonb AS evidence, NULL::text AS status,
       NULL::timestamptz AS raised_at, NULL::text AS reviewer, NULL::text AS reason, NULL::timestamptz AS decided_at
 WHERE false;
COMMENT ON VIEW commerce_api.koc_risk_flag IS
  E'@omit all\nA risk flag on a KOC (K20): the rule that raised it (click_burst, conversion, referral_ring) with its evidence, status (open, cleared, confirmed: the KOC frozen and the flagged commission reversed), who decided and why.';

-- Risk flags as koc_risk_flag rows, newest first.
CREATE FUNCTION commerce._koc_risk_flags(p_tenant bigint, p_flag bigint, p_status text, p_before bigint, p_page integer)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE sql STABLE AS $$
    SELECT f.flag_id, k.code, f.rule, f.evidence, f.status, f.raised_at, f.reviewer, f.reason, f.decided_at
      FROM commerce.koc_risk_flag f JOIN commerce.koc k ON k.tenant_id = f.tenant_id AND k.koc_id = f.koc_id
     WHERE f.tenant_id = p_tenant AND (p_flag IS NULL OR f.flag_id = p_flag) AND (p_status IS NULL OR f.status = p_status)
       AND (p_before IS NULL OR f.flag_id < p_before)
     ORDER BY f.flag_id DESC
     LIMIT p_page;
$$;

CREATE FUNCTION commerce_api.risk_flags(status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.risk_flags', '{operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(risk_flags.page_size);
    RETURN QUERY SELECT * FROM commerce._koc_risk_flags(a.tenant_id, NULL, risk_flags.status, risk_flags.before_id,
                                                         risk_flags.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.risk_flags(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.risk_flags(text, bigint, integer) IS
  'KOC risk flags newest first (koc_risk_flag), optionally of one status (open, cleared, confirmed), for HQ review. Operators, finance and services. Paged by cursor: before_id is the last flag_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.review_risk_flag(flag bigint, confirm boolean, reason text)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.review_risk_flag', '{operator}');
        f commerce.koc_risk_flag_row;
BEGIN
    f := commerce.review_risk_flag(a.tenant_id, review_risk_flag.flag, review_risk_flag.confirm, a.subject,
                                   left(review_risk_flag.reason, 500));
    RETURN QUERY SELECT * FROM commerce._koc_risk_flags(a.tenant_id, f.flag_id, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.review_risk_flag(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.review_risk_flag(bigint, boolean, text) IS
  'HQ confirms (the KOC is frozen and the flagged commission reversed) or clears a risk flag, with a reason, as the calling operator. Operators only. Returns the flag (koc_risk_flag).';

-- The shape of a KOC in HQ's list.
CREATE VIEW commerce_api.koc_list_item AS
SELECT NULL::text AS koc, NULL::text AS name, NULL::text AS region, NULL::text AS level, NULL::text AS status,
       NULL::timestamptz AS joined_at, NULL::bigint AS clicks, NULL::bigint AS redemptions, NULL::bigint AS gmv_fen,
       NULL::bigint AS commission_fen, NULL::bigint AS balance_fen, NULL::bigint AS paid_fen
 WHERE false;
COMMENT ON VIEW commerce_api.koc_list_item IS
  E'@omit all\nA KOC in HQ''s list (K20): code, name, region, level, status (active, frozen, suspended), when it joined, and for the period its clicks, redemptions, GMV and commission, with its balance and what it was paid in all (fen).';

CREATE FUNCTION commerce_api.koc_list(start_date date, end_date date, level text DEFAULT NULL, region text DEFAULT NULL,
                                      status text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_list_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_list', '{operator,finance,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.koc_list(a.tenant_id, koc_list.start_date, koc_list.end_date, koc_list.level,
                                                 koc_list.region, koc_list.status);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_list(date, date, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_list(date, date, text, text, text) IS
  'Every KOC with its figures for a period (K20, koc_list_item), optionally of one level, region or status. HQ operators, finance and services. koc_list_csv exports the same rows.';

CREATE FUNCTION commerce_api.koc_list_csv(start_date date, end_date date, level text DEFAULT NULL, region text DEFAULT NULL,
                                          status text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_list_csv', '{operator,finance,service}');
BEGIN
    RETURN commerce.koc_list_csv(a.tenant_id, koc_list_csv.start_date, koc_list_csv.end_date, koc_list_csv.level,
                                 koc_list_csv.region, koc_list_csv.status);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_list_csv(date, date, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_list_csv(date, date, text, text, text) IS
  'The KOC list of a period as CSV (K20 export: a header line, then one line per KOC, CRLF), with the same filters as koc_list. HQ operators, finance and services.';

-- The shape of a T+0.5 settlement batch.
CREATE VIEW commerce_api.settle_batch AS
SELECT NULL::bigint AS batch_id, NULL::text AS koc, NULL::integer AS line_count, NULL::bigint AS amount_fen,
       NULL::text AS amount_yuan, NULL::text AS status, NULL::text AS provider_ref, NULL::text AS failure_reason,
       NULL::timestamptz AS created_at, NULL::timestamptz AS finished_at
 WHERE false;
COMMENT ON VIEW commerce_api.settle_batch IS
  E'@omit all\nA T+0.5 settlement batch of a KOC''s commission lines (K14): how many lines and their net amount in fen (amount_yuan the exact string), status (paying: the payout is out; paid; failed: back in the balance; netted: nothing to pay), the provider''s reference or the failure''s reason, when it was made and finished.';

CREATE FUNCTION commerce_api.settle_batches(status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                            page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.settle_batch LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.settle_batches', '{koc,finance,service}');
        v_koc text := settle_batches.koc;
BEGIN
    PERFORM commerce._api_page(settle_batches.page_size);
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, settle_batches.koc, 'koc');
    END IF;
    RETURN QUERY
    SELECT b.batch_id, k.code, b.line_count, b.amount_fen, commerce.yuan(b.amount_fen), b.status, b.provider_ref,
           b.failure_reason, b.created_at, b.finished_at
      FROM commerce.settle_batch b JOIN commerce.koc k ON k.tenant_id = b.tenant_id AND k.koc_id = b.koc_id
     WHERE b.tenant_id = a.tenant_id AND (v_koc IS NULL OR k.code = v_koc)
       AND (settle_batches.status IS NULL OR b.status = settle_batches.status)
       AND (settle_batches.before_id IS NULL OR b.batch_id < settle_batches.before_id)
     ORDER BY b.batch_id DESC
     LIMIT settle_batches.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.settle_batches(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.settle_batches(text, text, bigint, integer) IS
  'T+0.5 settlement batches newest first (settle_batch), optionally of one status or KOC: a KOC its own; finance and services any. Paged by cursor: before_id is the last batch_id of the previous page, page_size 1 to 100 (default 20).';

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
RETURNS SETOF commerce_api.koc_link LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.tracking_link(tracking_link.task, tracking_link.channel, tracking_link.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.tracking_link(json, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.tracking_link(json, text, text, text) IS
  'Hasura: commerce_api.tracking_link for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.koc_rank(hasura_session json, start_date date, end_date date, region text DEFAULT NULL, metric text DEFAULT 'gmv', top integer DEFAULT 100)
RETURNS SETOF commerce_api.koc_rank_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_rank(koc_rank.start_date, koc_rank.end_date, koc_rank.region, koc_rank.metric, koc_rank.top);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_rank(json, date, date, text, text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_rank(json, date, date, text, text, integer) IS
  'Hasura: commerce_api.koc_rank for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.koc_applications(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_application LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_applications(koc_applications.status, koc_applications.before_id, koc_applications.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_applications(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_applications(json, text, bigint, integer) IS
  'Hasura: commerce_api.koc_applications for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.koc_agreement(hasura_session json)
RETURNS SETOF commerce_api.koc_agreement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_agreement();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_agreement(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_agreement(json) IS
  'Hasura: commerce_api.koc_agreement for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.koc_tasks(hasura_session json)
RETURNS SETOF commerce_api.koc_task LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_tasks();
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_tasks(json) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_tasks(json) IS
  'Hasura: commerce_api.koc_tasks for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.koc_task_progress(hasura_session json, task text, koc text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_task_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_task_progress(koc_task_progress.task, koc_task_progress.koc);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_task_progress(json, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_task_progress(json, text, text) IS
  'Hasura: commerce_api.koc_task_progress for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.withdrawals(hasura_session json, status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_withdrawal LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.withdrawals(withdrawals.status, withdrawals.koc, withdrawals.before_id, withdrawals.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.withdrawals(json, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.withdrawals(json, text, text, bigint, integer) IS
  'Hasura: commerce_api.withdrawals for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.risk_flags(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.koc_risk_flag LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.risk_flags(risk_flags.status, risk_flags.before_id, risk_flags.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.risk_flags(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.risk_flags(json, text, bigint, integer) IS
  'Hasura: commerce_api.risk_flags for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.koc_list(hasura_session json, start_date date, end_date date, level text DEFAULT NULL, region text DEFAULT NULL, status text DEFAULT NULL)
RETURNS SETOF commerce_api.koc_list_item LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.koc_list(koc_list.start_date, koc_list.end_date, koc_list.level, koc_list.region, koc_list.status);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.koc_list(json, date, date, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.koc_list(json, date, date, text, text, text) IS
  'Hasura: commerce_api.koc_list for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.settle_batches(hasura_session json, status text DEFAULT NULL, koc text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.settle_batch LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.settle_batches(settle_batches.status, settle_batches.koc, settle_batches.before_id, settle_batches.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.settle_batches(json, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.settle_batches(json, text, text, bigint, integer) IS
  'Hasura: commerce_api.settle_batches for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

-- Level benefits tied to the member system (K06): a KOC reads its own, HQ sets a level's
-- member benefits and retries airdrops, the NFT issuer answers them.
CREATE FUNCTION commerce_api.koc_benefits(koc text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_benefits', '{koc,operator}');
        v_koc text := koc_benefits.koc;
BEGIN
    IF a.kind = 'koc' THEN
        v_koc := commerce._actor_subject(a, koc_benefits.koc, 'koc');
    END IF;
    PERFORM commerce._require(v_koc, 'koc');
    RETURN commerce.koc_benefits(a.tenant_id, v_koc);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_benefits(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_benefits(text) IS
  'A KOC''s benefits now (K06): level, commission bonus, vote rights, airdrops, exclusive materials, the member benefits its customer account holds for the level and its NFT airdrops. A KOC its own (koc left out or its own; another is 42501); operators any KOC''s (koc required).';

CREATE FUNCTION commerce_api.set_level_perks(level text, perks jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_level_perks', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_level_perks(a.tenant_id, set_level_perks.level, set_level_perks.perks);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_level_perks(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_level_perks(text, jsonb) IS
  'HQ operators set the member benefits a KOC level gives its KOCs'' customer accounts: [{"kind":"member_discount","rate_bp":500,"label":"Gold KOC 5% off"}, {"kind":"priority_shipping"}] (member_discount, priority_shipping, birthday_double_points, badge, priority_service); effective at once for every active KOC of the level.';

CREATE FUNCTION commerce_api.retry_airdrop(koc text, level text)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.retry_airdrop', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.retry_airdrop(a.tenant_id, retry_airdrop.koc, retry_airdrop.level);
END $$;
REVOKE ALL ON FUNCTION commerce_api.retry_airdrop(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.retry_airdrop(text, text) IS
  'HQ operators request a failed NFT airdrop again (a new nft.airdrop message); returns the attempt number.';

CREATE FUNCTION commerce_api.record_airdrop(koc text, level text, outcome text, ref text)
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_airdrop', '{service}');
BEGIN
    RETURN commerce.record_airdrop(a.tenant_id, record_airdrop.koc, record_airdrop.level, record_airdrop.outcome, record_airdrop.ref);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_airdrop(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_airdrop(text, text, text, text) IS
  'The NFT issuer (service) answers a KOC''s airdrop for a level: issued (ref: the token reference) or failed (ref: the reason); once (the same answer again: repeated; another: PT409).';

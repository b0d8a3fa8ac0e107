-- sql/src/creators/api.sql: the creator pipeline for HTTP clients. Members
-- (and KOCs, through their account) record what they share; the link
-- redirector, visitors and signed-in customers record clicks; HQ operators
-- read the monthly candidate lists and their models, set the policy, publish
-- a list now and recruit from it, and read a campaign's delivery and lift;
-- the message adapter (a service) reports delivery receipts; a candidate opens
-- its notice. Each function takes its actor from the verified identity.

-- The customer account a customer or KOC caller shares as.
CREATE FUNCTION commerce._api_sharer(a commerce.actor) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE v text;
BEGIN
    IF a.kind = 'customer' THEN
        RETURN a.subject;
    END IF;
    SELECT cu.code INTO v FROM commerce.koc k JOIN commerce.customer cu ON cu.tenant_id = k.tenant_id AND cu.customer_id = k.customer_id
     WHERE k.tenant_id = a.tenant_id AND k.code = a.subject;
    IF v IS NULL THEN
        PERFORM commerce._no_identity(format('KOC "%s" has no customer account', left(a.subject, 64)),
            'A share is recorded against the account of the member who shares.',
            'Link the KOC to its customer account (commerce.upsert_koc).');
    END IF;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce._api_sharer(commerce.actor) IS
  'The customer account a caller shares as: a customer itself, a KOC its own account (42501 for a KOC without one).';

CREATE FUNCTION commerce_api.record_share(kind text, ref text, platform text, request_id text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_share', '{customer,koc}');
BEGIN
    RETURN commerce.record_share(a.tenant_id, commerce._api_sharer(a), record_share.kind, record_share.ref, record_share.platform,
                                 record_share.request_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_share(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_share(text, text, text, text) IS
  'A member (or a KOC, as its own account) records a share (K01, K10): kind product, play, page, material, review or post, what (ref), to which platform (wechat, moments, douyin, xiaohongshu, weibo, facebook, instagram, other), once per request_id. Returns the share with its signed code: put it in the shared link.';

CREATE FUNCTION commerce_api.record_share_click(code text, visitor text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_share_click', '{anonymous,customer,service}');
BEGIN
    RETURN commerce.record_share_click(a.tenant_id, record_share_click.code,
                                       CASE WHEN a.kind = 'customer' THEN commerce._actor_subject(a, record_share_click.visitor, 'visitor')
                                            ELSE record_share_click.visitor END);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_share_click(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_share_click(text, text) IS
  'Record a click on a share''s signed code: an anonymous visitor by its cookie id, a signed-in customer as itself, the link redirector (service) for anyone. The first click of each visitor counts; first:true says the share just succeeded.';

CREATE FUNCTION commerce_api.koc_candidates(run bigint DEFAULT NULL, page_size integer DEFAULT 100, page_offset integer DEFAULT 0)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_candidates', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.potential_candidates(a.tenant_id, koc_candidates.run, koc_candidates.page_size, koc_candidates.page_offset);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_candidates(bigint, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_candidates(bigint, integer, integer) IS
  'An HQ operator reads a monthly KOC candidate list (K01; the latest unless run): whether it was published on time or skipped and why, the model and its holdout figures, and a page of candidates by rank with their probability, control flag and the figures they were scored on.';

CREATE FUNCTION commerce_api.koc_potential_models(page_size integer DEFAULT 12)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_potential_models', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.potential_models(a.tenant_id, koc_potential_models.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_potential_models(integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_potential_models(integer) IS
  'An HQ operator reads the KOC potential models, newest first (K01): the time split, members, features and holdout figures (AUC, precision and lift of the top 5%, accuracy beside the base rate''s).';

CREATE FUNCTION commerce_api.set_potential_policy(enabled boolean DEFAULT NULL, horizon_days integer DEFAULT NULL,
                                                  list_bp integer DEFAULT NULL, max_list integer DEFAULT NULL,
                                                  holdout_bp integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_potential_policy', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_potential_policy(a.tenant_id, set_potential_policy.enabled, set_potential_policy.horizon_days,
                                         set_potential_policy.list_bp, set_potential_policy.max_list, set_potential_policy.holdout_bp);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_potential_policy(boolean, integer, integer, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_potential_policy(boolean, integer, integer, integer, integer) IS
  'An HQ operator sets the KOC potential settings (K01; omitted values are kept): whether the monthly job lists candidates, the horizon predicted (14 to 365 days), the part of the members listed (bp) and its maximum, the part of the list held out as the control (0 to 5000 bp). Returns the settings.';

CREATE FUNCTION commerce_api.publish_koc_candidates()
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.publish_koc_candidates', '{operator}');
        v_model bigint; v_run bigint;
BEGIN
    PERFORM commerce._api_hq(a);
    v_model := commerce.train_potential(a.tenant_id, commerce._api_by(a));
    v_run := commerce.publish_candidates(a.tenant_id, commerce._api_by(a), v_model);
    RETURN commerce.potential_candidates(a.tenant_id, v_run, 20, 0);
END $$;
REVOKE ALL ON FUNCTION commerce_api.publish_koc_candidates() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.publish_koc_candidates() IS
  'An HQ operator publishes this month''s KOC candidate list now instead of waiting for the commerce-potential job (K01): a new model is trained and every member scored. PT409 when the month''s list is out or there is too little history. Returns the list''s first page.';

CREATE FUNCTION commerce_api.recruit_candidates(code text, flow text, benefits text, guide_url text, run bigint DEFAULT NULL,
                                                window_days integer DEFAULT 30)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.recruit_candidates', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.recruit_candidates(a.tenant_id, recruit_candidates.code, recruit_candidates.flow, recruit_candidates.benefits,
                                       recruit_candidates.guide_url, recruit_candidates.run, recruit_candidates.window_days,
                                       commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.recruit_candidates(text, text, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.recruit_candidates(text, text, text, text, bigint, integer) IS
  'An HQ operator sends recruitment notices (K02) to the candidates of a list (the latest unless run) outside its control part, through an active CRM flow taking one-click sends ({"on": "recall"}; its message steps choose mini-program message, SMS or WeCom): each notice carries the benefits, the joining guide (https URL) and a signed link; an application within window_days is attributed to it. The same code again is a no-op. Returns {campaign, run, notices, control, outcome}.';

CREATE FUNCTION commerce_api.recruit_report(campaign text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.recruit_report', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.recruit_report(a.tenant_id, recruit_report.campaign);
END $$;
REVOKE ALL ON FUNCTION commerce_api.recruit_report(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.recruit_report(text) IS
  'An HQ operator reads a recruitment campaign (K02): notices sent, not sent by reason, delivered / sent per channel with failures by reason, opened, applications attributed, and the application rate of the notified against the list''s control part (the lift).';

CREATE FUNCTION commerce_api.record_notice_receipt(message_id bigint, status text, reason text DEFAULT NULL,
                                                   at timestamptz DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_notice_receipt', '{service}');
BEGIN
    RETURN commerce.record_notice_receipt(a.tenant_id, record_notice_receipt.message_id, record_notice_receipt.status,
                                          record_notice_receipt.reason, record_notice_receipt.at);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_notice_receipt(bigint, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_notice_receipt(bigint, text, text, timestamptz) IS
  'The message adapter (a service) reports the delivery receipt of a recruitment notice''s outbox message (K02): delivered, or failed with the gateway''s reason. A repeat changes nothing. Returns {notice, status, reason, channel, changed}.';

CREATE FUNCTION commerce_api.open_recruit_notice(code text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.open_recruit_notice', '{anonymous,customer}');
BEGIN
    RETURN commerce.open_recruit_notice(a.tenant_id, open_recruit_notice.code);
END $$;
REVOKE ALL ON FUNCTION commerce_api.open_recruit_notice(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.open_recruit_notice(text) IS
  'A candidate opens its recruitment notice''s signed link (K02): the benefits and the joining guide, and whether it applied; then apply_koc. The first opening is recorded.';

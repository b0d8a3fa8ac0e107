-- sql/src/creators/api.sql: the creator pipeline for HTTP clients. Members
-- (and KOCs, through their account) record what they share; the link
-- redirector, visitors and signed-in customers record clicks; HQ operators
-- read the monthly candidate lists and their models, set the policy, publish
-- a list now and recruit from it, and read a campaign's delivery and lift;
-- the message adapter (a service) reports delivery receipts; a candidate opens
-- its notice; HQ operators keep the material library, ask the AI service for
-- packs, export products for Taobao and Douyin and ask for QR codes; KOCs read
-- and share their materials; the AI and WeChat adapters (services) report back.
-- Each function takes its actor from the verified identity.

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

-- The material library (K09, K10, H3.1.4) -----------------------------------------------------

CREATE FUNCTION commerce_api.upsert_material(code text, kind text, title text, product text DEFAULT NULL, task text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_material', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.upsert_material(a.tenant_id, upsert_material.code, upsert_material.kind, upsert_material.title,
                                    upsert_material.product, upsert_material.task, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_material(text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_material(text, text, text, text, text) IS
  'An HQ operator creates or changes a material of the library (K10, H3.1.4): code, kind (image, video, copy; never changed), title, the product and KOC task it belongs to. Returns the material with its latest versions.';

CREATE FUNCTION commerce_api.add_material_version(code text, version jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.add_material_version', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.add_material_version(a.tenant_id, add_material_version.code, add_material_version.version, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.add_material_version(text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.add_material_version(text, jsonb) IS
  'An HQ operator adds an uploaded version to a material (K10): {"language", "duration_s" (videos: 15, 30, 60), "copy", "assets": [{"platform", "url", "sha256", "bytes", "width", "height", "mime"}]}, the files in object storage, each sized for its platform (commerce.material_platforms). Returns the material.';

CREATE FUNCTION commerce_api.retire_material(code text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.retire_material', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.retire_material(a.tenant_id, retire_material.code);
END $$;
REVOKE ALL ON FUNCTION commerce_api.retire_material(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.retire_material(text) IS
  'An HQ operator retires a material: KOCs no longer see or share it; its versions and shares stay.';

CREATE FUNCTION commerce_api.materials(product text DEFAULT NULL, task text DEFAULT NULL, include_retired boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.materials', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.materials(a.tenant_id, materials.product, materials.task, materials.include_retired);
END $$;
REVOKE ALL ON FUNCTION commerce_api.materials(text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.materials(text, text, boolean) IS
  'An HQ operator reads the material library by product or task (K10, H3.1.4): each material with the latest version per language and its files per platform.';

CREATE FUNCTION commerce_api.request_material_generation(request_id text, code text, kind text, title text, params jsonb,
                                                         product text DEFAULT NULL, task text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.request_material_generation', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.request_material_generation(a.tenant_id, request_material_generation.request_id, request_material_generation.code,
                                                request_material_generation.kind, request_material_generation.title,
                                                request_material_generation.params, request_material_generation.product,
                                                request_material_generation.task, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.request_material_generation(text, text, text, text, jsonb, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_material_generation(text, text, text, text, jsonb, text, text) IS
  'An HQ operator asks the AI service for a material pack (K09), once per request_id: params {"languages", "platforms", "durations" (videos), "versions", "brief"}; one ai.material outbox message with the product, task and each platform''s frame. Returns the generation with its requested time.';

CREATE FUNCTION commerce_api.record_generation_result(generation bigint, status text, versions jsonb DEFAULT NULL, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_generation_result', '{service}');
BEGIN
    RETURN commerce.record_generation_result(a.tenant_id, record_generation_result.generation, record_generation_result.status,
                                             record_generation_result.versions, record_generation_result.reason);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_generation_result(bigint, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_generation_result(bigint, text, jsonb, text) IS
  'The AI service (a service) reports a generation (K09): ready with its versions (as add_material_version takes them) or failed with a reason; the ready time is recorded. Again: no change. Returns the generation with its latency.';

CREATE FUNCTION commerce_api.generation_report(from_at timestamptz, to_at timestamptz)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.generation_report', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.generation_report(a.tenant_id, generation_report.from_at, generation_report.to_at);
END $$;
REVOKE ALL ON FUNCTION commerce_api.generation_report(timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.generation_report(timestamptz, timestamptz) IS
  'An HQ operator reads the AI generations requested in a span (K09): requested, ready, failed, waiting, latency p50, p95 and max, and the share ready within 5 s.';

CREATE FUNCTION commerce_api.koc_materials(koc text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.koc_materials', '{koc}');
BEGIN
    RETURN commerce.koc_materials(a.tenant_id, commerce._actor_subject(a, koc_materials.koc, 'koc'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.koc_materials(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.koc_materials(text) IS
  'A KOC reads the materials it may download and share now (K10): its open tasks'' and its level''s, each with the latest version per language and the files per platform (URL, sha256 to check the download).';

CREATE FUNCTION commerce_api.share_material(material text, platform text, request_id text, task text DEFAULT NULL,
                                            language text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.share_material', '{koc}');
BEGIN
    RETURN commerce.share_material(a.tenant_id, a.subject, share_material.material, share_material.platform, share_material.request_id,
                                   share_material.task, share_material.language);
END $$;
REVOKE ALL ON FUNCTION commerce_api.share_material(text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.share_material(text, text, text, text, text) IS
  'A KOC shares a material to a platform in one click (K10), once per request_id: returns the share code and the KOC''s signed tracking code for the link, the copy and the file to post. The first click on the share makes it successful and counts as the KOC''s click.';

CREATE FUNCTION commerce_api.material_share_report(from_at timestamptz, to_at timestamptz, material text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.material_share_report', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.material_share_report(a.tenant_id, material_share_report.from_at, material_share_report.to_at,
                                          material_share_report.material);
END $$;
REVOKE ALL ON FUNCTION commerce_api.material_share_report(timestamptz, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.material_share_report(timestamptz, timestamptz, text) IS
  'An HQ operator reads the share success rate of materials shared in a span (K10): shares, those whose first click arrived and the rate, per platform and per material.';

CREATE FUNCTION commerce_api.product_export_csv(platform text, products text[] DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.product_export_csv', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.product_export_csv(a.tenant_id, product_export_csv.platform, product_export_csv.products);
END $$;
REVOKE ALL ON FUNCTION commerce_api.product_export_csv(text, text[]) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.product_export_csv(text, text[]) IS
  'An HQ operator exports the products (or those named) as the CSV of the Taobao (淘宝助理) or Douyin (抖店) bulk product import (H3.1.4): one row per SKU with price, stock, copy and the platform-sized main picture.';

CREATE FUNCTION commerce_api.request_qr_code(request_id text, page text, scene text, material text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.request_qr_code', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.request_qr_code(a.tenant_id, request_qr_code.request_id, request_qr_code.page, request_qr_code.scene,
                                    request_qr_code.material, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.request_qr_code(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.request_qr_code(text, text, text, text) IS
  'An HQ operator asks WeChat for a mini-program QR code (H3.1.4) through the outbox, once per request_id: the page it opens and its scene (up to 32 characters), optionally the material it advertises. The adapter reports the image with record_qr_code.';

CREATE FUNCTION commerce_api.record_qr_code(qr bigint, status text, url text DEFAULT NULL, sha256 text DEFAULT NULL, reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_qr_code', '{service}');
BEGIN
    RETURN commerce.record_qr_code(a.tenant_id, record_qr_code.qr, record_qr_code.status, record_qr_code.url, record_qr_code.sha256,
                                   record_qr_code.reason);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_qr_code(bigint, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_qr_code(bigint, text, text, text, text) IS
  'The WeChat adapter (a service) reports a QR code: ready with the image''s URL and sha256, or failed with WeChat''s reason.';

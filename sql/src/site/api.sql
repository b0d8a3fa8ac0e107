-- sql/src/site/api.sql: the creator's site and live rooms for HTTP clients.
-- HQ operators edit, publish and template pages and run live rooms; fans
-- (anonymous or signed in) read published pages and a room's floating list;
-- a signed-in fan subscribes to a room's start; operators and the messaging
-- service send subscription messages, refused without a credit. Each
-- function takes its actor from the verified identity.

CREATE FUNCTION commerce_api.save_site_page(slug text, title text, doc jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.save_site_page', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.save_site_page(a.tenant_id, save_site_page.slug, save_site_page.title, save_site_page.doc, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.save_site_page(text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.save_site_page(text, text, jsonb) IS
  'An HQ operator saves a page of the creator''s site (H3.5.1) as its next version, the draft: {"components": [{"type": "banner" | "video_feed" | "product_card" | "article" | "coupon" | "follow_button" | "live_floating_list", "props": {...}}]}, each component''s props checked against its schema. Returns the page with the draft''s broken references.';

CREATE FUNCTION commerce_api.publish_site_page(slug text, version integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.publish_site_page', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.publish_site_page(a.tenant_id, publish_site_page.slug, publish_site_page.version, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.publish_site_page(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.publish_site_page(text, integer) IS
  'An HQ operator publishes a version of a site page (the draft unless version; an older one rolls back) once its product, coupon, material and live-room references resolve (PT409 naming what does not). Returns the page.';

CREATE FUNCTION commerce_api.unpublish_site_page(slug text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.unpublish_site_page', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.unpublish_site_page(a.tenant_id, unpublish_site_page.slug);
END $$;
REVOKE ALL ON FUNCTION commerce_api.unpublish_site_page(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.unpublish_site_page(text) IS
  'An HQ operator takes a site page off the site; its versions stay.';

CREATE FUNCTION commerce_api.site_pages()
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.site_pages', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.site_pages(a.tenant_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.site_pages() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.site_pages() IS
  'An HQ operator lists the site''s pages: versions, the published one, the draft''s broken references.';

CREATE FUNCTION commerce_api.site_page(slug text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.site_page', '{anonymous,customer}');
BEGIN
    RETURN commerce.site_page(a.tenant_id, site_page.slug);
END $$;
REVOKE ALL ON FUNCTION commerce_api.site_page(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.site_page(text) IS
  'A fan reads a published page of the creator''s site (H3.5.1): its components, each product''s name, SKUs and price, each material''s files per platform. PT404 while unpublished.';

CREATE FUNCTION commerce_api.upsert_site_template(code text, name text, doc jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_site_template', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.upsert_site_template(a.tenant_id, upsert_site_template.code, upsert_site_template.name, upsert_site_template.doc,
                                         commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_site_template(text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_site_template(text, text, jsonb) IS
  'An HQ operator creates or changes a page template (H3.5.1): a component document checked like a page.';

CREATE FUNCTION commerce_api.apply_site_template(template text, slug text, title text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_site_template', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.apply_site_template(a.tenant_id, apply_site_template.template, apply_site_template.slug, apply_site_template.title,
                                        commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.apply_site_template(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_site_template(text, text, text) IS
  'An HQ operator starts a site page from a template in one call (H3.5.1): the template''s document becomes the page''s draft.';

CREATE FUNCTION commerce_api.upsert_live_room(code text, title text, channel text, starts_at timestamptz, ends_at timestamptz,
                                              activity text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_live_room', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.upsert_live_room(a.tenant_id, upsert_live_room.code, upsert_live_room.title, upsert_live_room.channel,
                                     upsert_live_room.starts_at, upsert_live_room.ends_at, upsert_live_room.activity);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_live_room(text, text, text, timestamptz, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_live_room(text, text, text, timestamptz, timestamptz, text) IS
  'An HQ operator creates or changes a scheduled live room (H3.5.2): its sales channel (whose prices are the live-room prices), window and activity stock pool.';

CREATE FUNCTION commerce_api.set_live_room_items(room text, skus text[], pinned text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_live_room_items', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_live_room_items(a.tenant_id, set_live_room_items.room, set_live_room_items.skus, set_live_room_items.pinned);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_live_room_items(text, text[], text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_live_room_items(text, text[], text) IS
  'An HQ operator sets a live room''s floating product list (H3.5.2) and the SKU being presented.';

CREATE FUNCTION commerce_api.live_room_products(room text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.live_room_products', '{anonymous,customer}');
BEGIN
    RETURN commerce.live_room_products(a.tenant_id, live_room_products.room);
END $$;
REVOKE ALL ON FUNCTION commerce_api.live_room_products(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.live_room_products(text) IS
  'A fan reads a live room''s floating product list (H3.5.2): the pinned SKU first, each with its list price, live-room price and what the room''s pool has left.';

CREATE FUNCTION commerce_api.subscribe_live_room(room text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.subscribe_live_room', '{customer}');
BEGIN
    RETURN commerce.subscribe_live_room(a.tenant_id, subscribe_live_room.room, a.subject);
END $$;
REVOKE ALL ON FUNCTION commerce_api.subscribe_live_room(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.subscribe_live_room(text) IS
  'A signed-in fan subscribes to a live room''s start (H3.5.2), having accepted WeChat''s one-time subscription: one live_start credit, used by the "live starting" message.';

CREATE FUNCTION commerce_api.start_live_room(room text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.start_live_room', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.start_live_room(a.tenant_id, start_live_room.room, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.start_live_room(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.start_live_room(text) IS
  'An HQ operator starts a live room (H3.5.2): every subscriber holding a live_start credit gets the "live starting" message once. Returns the counts queued and no_credit.';

CREATE FUNCTION commerce_api.end_live_room(room text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.end_live_room', '{operator}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.end_live_room(a.tenant_id, end_live_room.room);
END $$;
REVOKE ALL ON FUNCTION commerce_api.end_live_room(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.end_live_room(text) IS
  'An HQ operator ends a live room (H3.5.2).';

CREATE FUNCTION commerce_api.send_subscription_message(customer text, template text, data jsonb, key text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.send_subscription_message', '{operator,service}');
BEGIN
    IF a.kind = 'operator' THEN
        PERFORM commerce._api_hq(a);
    END IF;
    RETURN commerce.send_subscription_message(a.tenant_id, send_subscription_message.customer, send_subscription_message.template,
                                              send_subscription_message.data, send_subscription_message.key);
END $$;
REVOKE ALL ON FUNCTION commerce_api.send_subscription_message(text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.send_subscription_message(text, text, jsonb, text) IS
  'An HQ operator or the messaging service sends one mini-program subscription message (live_start, shipped, coupon_arrived) by hand, once per key: it uses one of the customer''s credits; without one it is refused (PT409) instead of failing at the gateway.';

-- sql/src/metrics/api.sql: the shop's analytics for HTTP clients. The front
-- end's SDK (anonymous or signed in) and the relay service send events; HQ
-- operators and finance enter channel spend and read the core metrics. Each
-- function takes its actor from the verified identity.

CREATE FUNCTION commerce_api.record_events(batch_id text, events jsonb, customer text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_events', '{anonymous,customer,service}');
BEGIN
    RETURN commerce.record_events(a.tenant_id, record_events.batch_id, record_events.events,
                                  CASE a.kind WHEN 'anonymous' THEN NULL::text
                                              ELSE commerce._actor_subject(a, record_events.customer, 'customer') END);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_events(text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_events(text, jsonb, text) IS
  'The front end''s analytics SDK sends a batch of events (H5.2): [{"kind": "view" | "add_to_cart" | "checkout" | "pay", "channel", "visitor", "at", "sku"}], 1 to 1000, once per batch id. An anonymous visitor''s events carry no customer; a signed-in customer''s are its own; the relay service names the customer. Returns the events and visit rows recorded.';

CREATE FUNCTION commerce_api.set_channel_spend(channel text, month date, spend_fen bigint, note text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_channel_spend', '{operator,finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.set_channel_spend(a.tenant_id, set_channel_spend.channel, set_channel_spend.month, set_channel_spend.spend_fen,
                                      set_channel_spend.note, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_channel_spend(text, date, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_channel_spend(text, date, bigint, text) IS
  'HQ operators or finance enter what a channel cost in a month (fen; the month by its first day), replacing an earlier entry; the channel''s ROI in sales_metrics is its GMV over it.';

CREATE FUNCTION commerce_api.sales_metrics(from_day date, to_day date)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sales_metrics', '{operator,finance}');
BEGIN
    PERFORM commerce._api_hq(a);
    RETURN commerce.sales_metrics(a.tenant_id, sales_metrics.from_day, sales_metrics.to_day);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sales_metrics(date, date) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sales_metrics(date, date) IS
  'The shop''s core metrics (H5.1) for HQ operators and finance over [from_day, to_day) in the tenant''s calendar: shop-wide and per channel, orders, GMV, order value, refunds and return rate, GMV share, visitors and conversion, spend and ROI, on-time shipping, complaints.';

-- sql/src/metrics/events.sql: front-end event tracking (H5.2). The client's
-- analytics SDK sends its events in batches; each batch is taken once (its
-- id, request_log) and folded into visit_day, one row per visitor, channel
-- and tenant-local day, so a retried batch counts nothing twice and the
-- funnel is read from visitors, not from a log of every tap.

-- Whether a text is a timestamp with time zone (for checking before casting).
CREATE FUNCTION commerce._is_timestamptz(p text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE v timestamptz;
BEGIN
    IF p IS NULL OR length(p) > 64 OR p !~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$' THEN
        RETURN false;
    END IF;
    v := p::timestamptz;
    RETURN isfinite(v);
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format OR invalid_time_zone_displacement_value THEN
    RETURN false;
END $$;
COMMENT ON FUNCTION commerce._is_timestamptz(text) IS
  'Whether p is an ISO 8601 time with its zone (2030-06-01T10:00:00+08:00, ...Z) that PostgreSQL reads as a finite timestamptz.';

-- Record a batch of front-end events: view, add_to_cart, checkout, pay.
CREATE FUNCTION commerce.record_events(p_tenant bigint, p_batch_id text, p_events jsonb, p_customer text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_seen jsonb; v_customer bigint; v_tz text; v_bad record; v_n integer; v_rows integer; v_result jsonb;
        v_now timestamptz := commerce.now();
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_events, 'p_events');
    PERFORM commerce._request_key(p_batch_id, 'p_batch_id');
    IF jsonb_typeof(p_events) <> 'array' OR jsonb_array_length(p_events) NOT BETWEEN 1 AND 1000 THEN
        PERFORM commerce._invalid('p_events', left(p_events::text, 64), 'Send 1 to 1000 events: [{"kind", "channel", "visitor", "at"}, ...].');
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT c.customer_id INTO v_customer FROM commerce.customer c WHERE c.tenant_id = p_tenant AND c.code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;
    -- every event checked before anything is written; the first bad one is named
    SELECT e.ord, e.x INTO v_bad
      FROM jsonb_array_elements(p_events) WITH ORDINALITY e(x, ord)
     WHERE jsonb_typeof(e.x) <> 'object'
        OR EXISTS (SELECT 1 FROM jsonb_object_keys(e.x) k WHERE k NOT IN ('kind', 'channel', 'visitor', 'at', 'sku'))
        OR e.x ->> 'kind' IS NULL OR e.x ->> 'kind' NOT IN ('view', 'add_to_cart', 'checkout', 'pay')
        OR jsonb_typeof(e.x -> 'channel') IS DISTINCT FROM 'string'
        OR jsonb_typeof(e.x -> 'visitor') IS DISTINCT FROM 'string' OR length(e.x ->> 'visitor') NOT BETWEEN 1 AND 200
        OR jsonb_typeof(e.x -> 'at') IS DISTINCT FROM 'string'
        OR (e.x ? 'sku' AND (jsonb_typeof(e.x -> 'sku') <> 'string' OR length(e.x ->> 'sku') NOT BETWEEN 1 AND 200))
        OR NOT commerce._is_timestamptz(e.x ->> 'at')
     ORDER BY e.ord LIMIT 1;
    IF FOUND THEN
        PERFORM commerce._invalid('p_events', format('event %s: %s', v_bad.ord, left(v_bad.x::text, 120)),
            'An event is {"kind": "view" | "add_to_cart" | "checkout" | "pay", "channel": <code>, "visitor": <1 to 200 characters>, "at": <time with zone>, "sku": <code>}.');
    END IF;
    SELECT e.ord, e.x INTO v_bad
      FROM jsonb_array_elements(p_events) WITH ORDINALITY e(x, ord)
     WHERE (e.x ->> 'at')::timestamptz NOT BETWEEN v_now - interval '7 days' AND v_now + interval '5 minutes'
     ORDER BY e.ord LIMIT 1;
    IF FOUND THEN
        PERFORM commerce._invalid('p_events', format('event %s at %s', v_bad.ord, v_bad.x ->> 'at'),
            'Events are taken up to 7 days late and at most 5 minutes ahead of the server''s clock.');
    END IF;
    SELECT e.ord, e.x INTO v_bad
      FROM jsonb_array_elements(p_events) WITH ORDINALITY e(x, ord)
     WHERE NOT EXISTS (SELECT 1 FROM commerce.channel c WHERE c.tenant_id = p_tenant AND c.code = e.x ->> 'channel')
     ORDER BY e.ord LIMIT 1;
    IF FOUND THEN
        PERFORM commerce._not_found('channel', v_bad.x ->> 'channel', p_tenant);
    END IF;
    -- once per batch: the same batch again changes nothing
    v_seen := commerce._request_seen(p_tenant, 'record_events', p_batch_id,
                                     jsonb_build_object('events', md5(p_events::text), 'customer', p_customer));
    IF v_seen IS NOT NULL THEN
        RETURN v_seen || jsonb_build_object('outcome', 'repeat');
    END IF;
    SELECT t.time_zone INTO v_tz FROM commerce.tenant t WHERE t.tenant_id = p_tenant;
    -- folded per visitor, channel and day, rows taken in key order
    INSERT INTO commerce.visit_day AS v (tenant_id, day, channel_id, visitor, customer_id, views, carts, checkouts, pays, first_at, last_at)
    SELECT p_tenant, g.day, g.channel_id, g.visitor, v_customer, g.views, g.carts, g.checkouts, g.pays, g.first_at, g.last_at
      FROM (SELECT (ev.at AT TIME ZONE v_tz)::date AS day, c.channel_id, ev.visitor,
                   count(*) FILTER (WHERE ev.kind = 'view')::integer AS views,
                   count(*) FILTER (WHERE ev.kind = 'add_to_cart')::integer AS carts,
                   count(*) FILTER (WHERE ev.kind = 'checkout')::integer AS checkouts,
                   count(*) FILTER (WHERE ev.kind = 'pay')::integer AS pays,
                   min(ev.at) AS first_at, max(ev.at) AS last_at
              FROM (SELECT x ->> 'kind' AS kind, x ->> 'channel' AS channel, x ->> 'visitor' AS visitor, (x ->> 'at')::timestamptz AS at
                      FROM jsonb_array_elements(p_events) x) ev
              JOIN commerce.channel c ON c.tenant_id = p_tenant AND c.code = ev.channel
             GROUP BY 1, 2, 3) g
     ORDER BY g.day, g.channel_id, g.visitor
    ON CONFLICT (tenant_id, day, channel_id, visitor) DO UPDATE
       SET views = least(v.views::bigint + EXCLUDED.views, 2147483647)::integer,
           carts = least(v.carts::bigint + EXCLUDED.carts, 2147483647)::integer,
           checkouts = least(v.checkouts::bigint + EXCLUDED.checkouts, 2147483647)::integer,
           pays = least(v.pays::bigint + EXCLUDED.pays, 2147483647)::integer,
           customer_id = coalesce(EXCLUDED.customer_id, v.customer_id),
           first_at = least(v.first_at, EXCLUDED.first_at), last_at = greatest(v.last_at, EXCLUDED.last_at);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_n := jsonb_array_length(p_events);
    v_result := jsonb_build_object('batch', p_batch_id, 'events', v_n, 'visits', v_rows);
    PERFORM commerce._request_done(p_tenant, 'record_events', p_batch_id, v_result);
    RETURN v_result || jsonb_build_object('outcome', 'recorded');
END $$;
COMMENT ON FUNCTION commerce.record_events(bigint, text, jsonb, text) IS
  'Record a batch of the front end''s events (H5.2): 1 to 1000 of {"kind": view | add_to_cart | checkout | pay, "channel", "visitor", "at", "sku"}, taken up to 7 days late, folded into visit_day (one row per visitor, channel and tenant-local day), with the signed-in customer when p_customer is given. Every event is checked first (22023 naming the first bad one, PT404 for an unknown channel; nothing recorded). Once per batch id: the same batch again is a no-op (outcome repeat), another batch under the same id 23505. Returns the events and visit rows touched.';

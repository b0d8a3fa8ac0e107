-- sql/src/members/nudges.sql: private-traffic nudges and one-time
-- subscription messages (3.6.4), and the person's profile (3.6.1). A
-- platform order that ships queues its tenant's package card or SMS once;
-- a subscription message goes out only on a credit the customer granted.

-- Set the nudge a platform channel's shipped orders queue.
CREATE FUNCTION commerce.set_nudge_rule(p_tenant bigint, p_channel text, p_kind text, p_message text,
                                        p_batch text DEFAULT NULL, p_active boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE ch commerce.channel; v_batch bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_channel, 'p_channel');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_message, 'p_message');
    SELECT * INTO ch FROM commerce.channel WHERE tenant_id = p_tenant AND code = p_channel;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('channel', p_channel, p_tenant);
    END IF;
    IF ch.kind <> 'platform' THEN
        PERFORM commerce._invalid('p_channel', format('"%s" is a %s channel.', left(p_channel, 64), ch.kind),
                                  'Nudges go to buyers of platform channels (taobao, douyin, ...), who are not yet our contacts.');
    END IF;
    IF p_kind NOT IN ('package_card', 'sms') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', left(p_kind, 64)), 'A nudge is a package_card or an sms.');
    END IF;
    IF length(p_message) NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_message', format('%s characters', length(p_message)), 'A message is 1 to 500 characters.');
    END IF;
    IF p_batch IS NOT NULL THEN
        SELECT batch_id INTO v_batch FROM commerce.coupon_batch WHERE tenant_id = p_tenant AND code = p_batch;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('coupon batch', p_batch, p_tenant);
        END IF;
    END IF;
    INSERT INTO commerce.nudge_rule (tenant_id, channel_id, kind, message, batch_id, active)
    VALUES (p_tenant, ch.channel_id, p_kind, p_message, v_batch, coalesce(p_active, true))
    ON CONFLICT (tenant_id, channel_id, kind) DO UPDATE
       SET message = EXCLUDED.message, batch_id = EXCLUDED.batch_id, active = EXCLUDED.active;
END $$;
COMMENT ON FUNCTION commerce.set_nudge_rule(bigint, text, text, text, text, boolean) IS
  'When an order of platform channel p_channel ships, queue a nudge of p_kind (package_card: printed in the parcel; sms) with p_message ("add our WeCom for a 5 yuan coupon") and the coupon batch a new contact gets (p_batch), through the outbox (topic nudge.<kind>), once per order.';

-- Orders trigger: a platform order that ships queues its channel's nudges, once per order and kind.
CREATE FUNCTION commerce._nudge_on_ship() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'commerce._nudge_on_ship must fire AFTER INSERT OR UPDATE ... FOR EACH ROW';
    END IF;
    FOR r IN SELECT n.kind, n.message, b.code AS batch FROM commerce.nudge_rule n
               LEFT JOIN commerce.coupon_batch b ON b.tenant_id = n.tenant_id AND b.batch_id = n.batch_id
              WHERE n.tenant_id = NEW.tenant_id AND n.channel_id = NEW.channel_id AND n.active ORDER BY n.kind LOOP
        PERFORM commerce.enqueue(NEW.tenant_id, 'nudge.' || r.kind,
            jsonb_build_object('order_id', NEW.order_id, 'channel_order', NEW.external_order_id, 'message', r.message,
                               'coupon_batch', r.batch),
            format('nudge:%s:%s', r.kind, NEW.order_id));
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER after_50_nudge AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'shipped' AND OLD.status IS DISTINCT FROM 'shipped' AND NEW.customer_id IS NULL)
    EXECUTE FUNCTION commerce._nudge_on_ship();

CREATE TRIGGER after_51_nudge_insert AFTER INSERT ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'shipped' AND NEW.customer_id IS NULL)
    EXECUTE FUNCTION commerce._nudge_on_ship();

-- A customer accepted a one-time subscription of a template: one more message may go out.
CREATE FUNCTION commerce.grant_subscription(p_tenant bigint, p_customer text, p_template text, p_count integer DEFAULT 1)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE v_customer bigint; v integer;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_template, 'p_template');
    PERFORM commerce._require(p_count, 'p_count');
    IF p_template NOT IN ('coupon_arrived', 'shipped', 'live_start') THEN
        PERFORM commerce._invalid('p_template', format('"%s"', left(p_template, 64)), 'Templates: coupon_arrived, shipped, live_start.');
    END IF;
    IF p_count NOT BETWEEN 1 AND 10 THEN
        PERFORM commerce._invalid('p_count', format('%s', p_count), 'A customer accepts 1 to 10 messages at a time.');
    END IF;
    SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    INSERT INTO commerce.subscription_credit AS s (tenant_id, customer_id, template, credits, granted, updated_at)
    VALUES (p_tenant, v_customer, p_template, least(p_count, 1000), p_count, commerce.now())
    ON CONFLICT (tenant_id, customer_id, template) DO UPDATE
       SET credits = least(s.credits + p_count, 1000), granted = s.used + least(s.credits + p_count, 1000), updated_at = commerce.now()
    RETURNING credits INTO v;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.grant_subscription(bigint, text, text, integer) IS
  'A customer accepted a one-time subscription of p_template (coupon_arrived, shipped, live_start) p_count times (1 to 10; at most 1,000 held): that many messages of it may go out. Returns the credits held.';

-- Send a subscription message if the customer holds a credit for it (once per key).
CREATE FUNCTION commerce.notify_subscriber(p_tenant bigint, p_customer bigint, p_template text, p_payload jsonb, p_key text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM commerce.outbox WHERE tenant_id = p_tenant AND topic = 'mp.subscribe_message' AND dedupe_key = 'subscribe:' || p_key) THEN
        RETURN 'existing';
    END IF;
    UPDATE commerce.subscription_credit SET credits = credits - 1, used = used + 1, updated_at = commerce.now()
     WHERE tenant_id = p_tenant AND customer_id = p_customer AND template = p_template AND credits > 0;
    IF NOT FOUND THEN
        RETURN 'no_credit';
    END IF;
    PERFORM commerce.enqueue(p_tenant, 'mp.subscribe_message',
        jsonb_build_object('customer', (SELECT code FROM commerce.customer WHERE tenant_id = p_tenant AND customer_id = p_customer),
                           'template', p_template, 'data', p_payload),
        'subscribe:' || p_key);
    RETURN 'queued';
END $$;
COMMENT ON FUNCTION commerce.notify_subscriber(bigint, bigint, text, jsonb, text) IS
  'Queue a mini-program subscription message (topic mp.subscribe_message) of p_template to a customer only if it holds a credit for it (one is used), once per p_key; returns queued, no_credit (nothing sent: the platform would refuse it) or existing.';

-- Triggers: a coupon issued, a self-operated order shipped: tell the customer if it subscribed.
CREATE FUNCTION commerce._notify_coupon() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'commerce._notify_coupon must fire AFTER INSERT ... FOR EACH ROW';
    END IF;
    PERFORM commerce.notify_subscriber(NEW.tenant_id, NEW.customer_id, 'coupon_arrived',
        jsonb_build_object('coupon_id', NEW.coupon_id, 'valid_until', NEW.valid_until), 'coupon:' || NEW.coupon_id);
    RETURN NULL;
END $$;

CREATE TRIGGER after_10_notify AFTER INSERT ON commerce.coupon
    FOR EACH ROW EXECUTE FUNCTION commerce._notify_coupon();

CREATE FUNCTION commerce._notify_shipped() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'commerce._notify_shipped must fire AFTER UPDATE ... FOR EACH ROW';
    END IF;
    PERFORM commerce.notify_subscriber(NEW.tenant_id, NEW.customer_id, 'shipped',
        jsonb_build_object('order_id', NEW.order_id), 'shipped:' || NEW.order_id);
    RETURN NULL;
END $$;

CREATE TRIGGER after_52_notify_shipped AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'shipped' AND OLD.status IS DISTINCT FROM 'shipped' AND NEW.customer_id IS NOT NULL)
    EXECUTE FUNCTION commerce._notify_shipped();

-- Set a person's basic information.
CREATE FUNCTION commerce.set_person_profile(p_tenant bigint, p_customer text, p_profile jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE v_person bigint; v_key text;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_customer, 'p_customer');
    PERFORM commerce._require(p_profile, 'p_profile');
    IF jsonb_typeof(p_profile) <> 'object' THEN
        PERFORM commerce._invalid('p_profile', 'The profile is not a JSON object.', 'Send {"nickname", "gender", "age_band", "region"}.');
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_profile) LOOP
        IF v_key NOT IN ('nickname', 'gender', 'age_band', 'region') THEN
            PERFORM commerce._invalid('p_profile', format('Unknown key "%s".', left(v_key, 64)), 'A profile has nickname, gender, age_band and region.');
        END IF;
    END LOOP;
    IF p_profile ->> 'gender' NOT IN ('female', 'male', 'other')
       OR p_profile ->> 'age_band' NOT IN ('under_18', '18_24', '25_34', '35_44', '45_54', '55_plus')
       OR length(p_profile ->> 'nickname') > 64 OR length(p_profile ->> 'region') > 64 THEN
        PERFORM commerce._invalid('p_profile', format('The profile is %s.', left(p_profile::text, 100)),
            'gender: female, male or other; age_band: under_18, 18_24, 25_34, 35_44, 45_54, 55_plus; nickname and region at most 64 characters.');
    END IF;
    SELECT person_id INTO v_person FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('customer', p_customer, p_tenant);
    END IF;
    INSERT INTO commerce.person_profile AS x (tenant_id, person_id, nickname, gender, age_band, region, updated_at)
    VALUES (p_tenant, v_person, p_profile ->> 'nickname', p_profile ->> 'gender', p_profile ->> 'age_band', p_profile ->> 'region', commerce.now())
    ON CONFLICT (tenant_id, person_id) DO UPDATE
       SET nickname = CASE WHEN p_profile ? 'nickname' THEN EXCLUDED.nickname ELSE x.nickname END,
           gender = CASE WHEN p_profile ? 'gender' THEN EXCLUDED.gender ELSE x.gender END,
           age_band = CASE WHEN p_profile ? 'age_band' THEN EXCLUDED.age_band ELSE x.age_band END,
           region = CASE WHEN p_profile ? 'region' THEN EXCLUDED.region ELSE x.region END,
           updated_at = commerce.now();
    RETURN commerce.person_profile(p_tenant, v_person);
END $$;
COMMENT ON FUNCTION commerce.set_person_profile(bigint, text, jsonb) IS
  'Set the basic information of the person a customer account belongs to: {"nickname", "gender" (female, male, other), "age_band" (under_18 ... 55_plus), "region"}; keys left out keep what is there. Returns the profile (commerce.person_profile).';

-- A person's profile: basic information, preferences derived from its orders, behaviour tags by rule.
CREATE FUNCTION commerce.person_profile(p_tenant bigint, p_person bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE v jsonb; f record; v_tags text[] := ARRAY[]::text[]; v_cats jsonb; v_top_channel text; v_tenant_aov numeric;
BEGIN
    SELECT count(*) AS orders, coalesce(sum(o.paid_fen - o.refunded_fen), 0) AS spent,
           count(*) FILTER (WHERE o.discount_fen > 0) AS discounted,
           count(*) FILTER (WHERE o.paid_at > commerce.now() - interval '365 days') AS orders_year
      INTO f
      FROM commerce.orders o JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
     WHERE o.tenant_id = p_tenant AND cu.person_id = p_person AND o.paid_at IS NOT NULL;
    SELECT coalesce(jsonb_agg(c.category ORDER BY c.n DESC, c.category), '[]') INTO v_cats
      FROM (SELECT coalesce(p.category, 'none') AS category, sum(l.qty) AS n
              FROM commerce.orders o JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
              JOIN commerce.order_line l ON l.tenant_id = o.tenant_id AND l.order_id = o.order_id
              JOIN commerce.sku s ON s.tenant_id = l.tenant_id AND s.sku_id = l.sku_id
              JOIN commerce.product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id
             WHERE o.tenant_id = p_tenant AND cu.person_id = p_person AND o.paid_at IS NOT NULL
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3) c;
    SELECT ch.code INTO v_top_channel
      FROM commerce.orders o JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
     WHERE o.tenant_id = p_tenant AND cu.person_id = p_person AND o.paid_at IS NOT NULL
     GROUP BY ch.code ORDER BY count(*) DESC, ch.code LIMIT 1;
    SELECT avg(o.paid_fen) INTO v_tenant_aov FROM commerce.orders o WHERE o.tenant_id = p_tenant AND o.paid_at IS NOT NULL;
    -- behaviour tags by rule
    IF v_top_channel IS NOT NULL THEN
        v_tags := v_tags || ('fan_of_' || v_top_channel);
    END IF;
    IF f.orders >= 2 AND f.discounted * 2 >= f.orders THEN
        v_tags := v_tags || 'price_sensitive'::text;
    END IF;
    IF f.orders >= 1 AND v_tenant_aov > 0 AND f.spent::numeric / f.orders >= 2 * v_tenant_aov THEN
        v_tags := v_tags || 'quality_seeking'::text;
    END IF;
    SELECT jsonb_build_object(
               'person_id', p_person,
               'nickname', pp.nickname, 'gender', pp.gender, 'age_band', pp.age_band, 'region', pp.region,
               'birthday', (SELECT min(cu.birthday) FROM commerce.customer cu WHERE cu.tenant_id = p_tenant AND cu.person_id = p_person),
               'top_categories', v_cats,
               'orders', f.orders, 'orders_last_365_days', f.orders_year, 'spent_fen', f.spent,
               'average_order_fen', CASE WHEN f.orders > 0 THEN f.spent / f.orders END,
               'tags', to_jsonb(v_tags))
      INTO v
      FROM (SELECT 1) one LEFT JOIN commerce.person_profile pp ON pp.tenant_id = p_tenant AND pp.person_id = p_person;
    RETURN v;
END $$;
COMMENT ON FUNCTION commerce.person_profile(bigint, bigint) IS
  'A person''s profile (3.6.1) across all its accounts: basic information (nickname, gender, age band, region, birthday); preferences derived from its paid orders (the top 3 categories, orders and orders in the last 365 days, spent and average order in fen, after refunds); behaviour tags by rule: fan_of_<channel> (where most of its orders are), price_sensitive (at least half of 2+ orders discounted), quality_seeking (an average order at least twice the tenant''s).';

-- sql/src/plays/api.sql: the plays for HTTP clients. A customer joins, buys,
-- bargains and invites as itself (paying through pay_intent and the
-- provider's callback); store staff act for their own stores.

-- The shapes of the plays' calls (API row types: they select nothing themselves).
CREATE VIEW commerce_api.visible_play AS
SELECT NULL::bigint AS tenant_id, NULL::bigint AS config_id, NULL::text AS code, NULL::text AS title, NULL::text AS kind,
       NULL::text AS unit_name, NULL::text AS store, NULL::text AS store_city, NULL::bigint AS price_fen,
       NULL::bigint AS msrp_fen, NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at, NULL::text[] AS cities,
       NULL::text AS status, NULL::bigint AS available, NULL::text AS display_state
 WHERE false;
COMMENT ON VIEW commerce_api.visible_play IS
  E'@omit all\nA play a shopper may see now (M3): code, title, kind, the unit it sells in, store and city, the play price and the list price in fen, its window and cities, status, the units still available and its display state (not_started, active, sold_out, ended).';

CREATE VIEW commerce_api.join_outcome AS
SELECT NULL::bigint AS instance_id, NULL::text AS status, NULL::integer AS current, NULL::integer AS target,
       NULL::timestamptz AS deadline, NULL::bigint AS order_id, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.join_outcome IS
  E'@omit all\nThe outcome of joining a group buy: the group (instance_id), its status and progress (current of target places, deadline), the member''s order and what happened (opened, joined, opened_held, held: the place waits for the order''s payment; succeeded, repeated).';

CREATE VIEW commerce_api.bargain_outcome AS
SELECT NULL::bigint AS instance_id, NULL::text AS status, NULL::integer AS helps, NULL::integer AS helps_needed,
       NULL::bigint AS price_fen, NULL::bigint AS floor_fen, NULL::timestamptz AS deadline, NULL::text AS outcome
 WHERE false;
COMMENT ON VIEW commerce_api.bargain_outcome IS
  E'@omit all\nThe outcome of a bargain call: the bargain (instance_id), its status, helps so far and needed, the price reached and its floor in fen, the deadline and what happened (started, cut, succeeded, repeated).';

CREATE VIEW commerce_api.play_invite AS
SELECT NULL::bigint AS tenant_id, NULL::bigint AS invite_id, NULL::bigint AS config_id, NULL::text AS request_id,
       NULL::bigint AS inviter_id, NULL::bigint AS invitee_id, NULL::text AS status, NULL::timestamptz AS invited_at,
       NULL::bigint AS order_id, NULL::timestamptz AS rewarded_at, NULL::bigint AS reward_fen,
       NULL::bigint AS invitee_reward_fen
 WHERE false;
COMMENT ON VIEW commerce_api.play_invite IS
  E'@omit all\nAn invitation of an invite-reward play: inviter and invitee, status (invited, rewarded, ...), the invitee''s first order and when the inviter was rewarded, with both rewards in fen.';

CREATE VIEW commerce_api.play_template AS
SELECT NULL::bigint AS tenant_id, NULL::text AS code, NULL::text AS kind, NULL::text AS name, NULL::text AS unit_name,
       NULL::jsonb AS rule_schema, NULL::timestamptz AS created_at, NULL::timestamptz AS updated_at
 WHERE false;
COMMENT ON VIEW commerce_api.play_template IS
  E'@omit all\nA play template HQ offers its stores (M1.2): code, kind (group_buy, flash_sale, bargain, invite_reward), name, the unit what it sells counts in, and the rule schema stores'' rules follow.';

CREATE FUNCTION commerce_api.visible_plays(city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce_api.visible_play LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT v.* FROM commerce._api_actor('commerce_api.visible_plays', '{anonymous,customer,koc,store,operator,service}') a,
           LATERAL commerce.visible_plays(a.tenant_id, city, store) v;
$$;
REVOKE ALL ON FUNCTION commerce_api.visible_plays(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.visible_plays(text, text) IS
  'The plays running now that a shopper may see, optionally of one city or store. Open to every caller but finance.';

CREATE FUNCTION commerce_api.record_play_view(play text, customer text DEFAULT NULL, ip text DEFAULT NULL,
                                              device text DEFAULT NULL)
RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.record_play_view(a.tenant_id, play, commerce._actor_subject(a, customer, 'customer'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'))
      FROM commerce._api_actor('commerce_api.record_play_view', '{anonymous,customer,service}') a;
$$;
REVOKE ALL ON FUNCTION commerce_api.record_play_view(text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_play_view(text, text, text, text) IS
  'Count a view of a play for its funnel: an anonymous visitor (no customer), a signed-in customer as itself, a service for anyone.';

CREATE FUNCTION commerce_api.join_group(request_id text, play text, customer text DEFAULT NULL,
                                        payment_id text DEFAULT NULL, instance bigint DEFAULT NULL,
                                        ip text DEFAULT NULL, device text DEFAULT NULL,
                                        channel text DEFAULT 'wechat_mp')
RETURNS SETOF commerce_api.join_outcome LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.join_group', '{customer,service}');
BEGIN
    IF a.kind = 'customer' AND join_group.payment_id IS NOT NULL THEN
        PERFORM commerce._no_identity('a customer never names a payment',
            format('payment_id "%s" was given.', left(join_group.payment_id, 64)),
            'Leave payment_id out: the place is held and the order paid through pay_intent; the provider''s callback (record_payment) completes it.');
    END IF;
    RETURN QUERY SELECT * FROM commerce.join_group(a.tenant_id, join_group.request_id, join_group.play,
                               commerce._actor_subject(a, join_group.customer, 'customer'), join_group.payment_id,
                               join_group.instance, join_group.channel, commerce._client_ip(a, join_group.ip),
                               commerce._client_header(a, join_group.device, 'x-device-id'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text, text) IS
  'Open a group buy (instance left out: the customer leads it) or join one (instance): a customer as itself, holding its place with an order awaiting payment (outcome opened_held or held; pay it with pay_intent, the provider''s record_payment callback makes it joined, and the group succeeds when every place is paid; unpaid by the pay deadline, at the latest the group''s, the place is given back). A service names the customer and may pass payment_id for a place paid at once. channel: the self-operated channel ordered on (default wechat_mp). Idempotent by request_id.';

CREATE FUNCTION commerce_api.buy_play(request_id text, play text, customer text DEFAULT NULL, qty integer DEFAULT 1,
                                      ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL,
                                      channel text DEFAULT 'wechat_mp')
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_play', '{customer,service}') a,
           LATERAL commerce.buy_play(a.tenant_id, request_id, play, commerce._actor_subject(a, customer, 'customer'),
                                     qty, channel, commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb, text) IS
  'Buy a flash-sale (or other priced) play: a customer for itself, on a self-operated channel (default wechat_mp); creates the order awaiting payment (pay it with pay_intent; commerce_api.record_payment is the provider''s callback). Idempotent by request_id.';

CREATE FUNCTION commerce_api.start_bargain(request_id text, play text, customer text DEFAULT NULL,
                                           ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS SETOF commerce_api.bargain_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.start_bargain', '{customer,service}') a,
           LATERAL commerce.start_bargain(a.tenant_id, request_id, play,
                                          commerce._actor_subject(a, customer, 'customer'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) IS
  'Start a bargain on a play: a customer for itself. Idempotent by request_id.';

CREATE FUNCTION commerce_api.help_bargain(request_id text, bargain bigint, helper text DEFAULT NULL,
                                          ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS SETOF commerce_api.bargain_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.help_bargain', '{customer,service}') a,
           LATERAL commerce.help_bargain(a.tenant_id, request_id, bargain,
                                         commerce._actor_subject(a, helper, 'helper'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) IS
  'Cut the price of another customer''s bargain: the helper is the calling customer. Once per helper and bargain; idempotent by request_id.';

CREATE FUNCTION commerce_api.buy_bargain(request_id text, bargain bigint, customer text DEFAULT NULL,
                                         ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL,
                                         channel text DEFAULT 'wechat_mp')
RETURNS SETOF commerce_api.order_outcome LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_bargain', '{customer,service}') a,
           LATERAL commerce.buy_bargain(a.tenant_id, request_id, bargain,
                                        commerce._actor_subject(a, customer, 'customer'), channel,
                                        commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb, text) IS
  'Buy one''s own bargain at the price reached: a customer for itself, on a self-operated channel (default wechat_mp); creates the order awaiting payment (pay it with pay_intent). Idempotent by request_id.';

CREATE FUNCTION commerce_api.invite(request_id text, play text, inviter text, invitee text, ip text DEFAULT NULL,
                                    device text DEFAULT NULL)
RETURNS SETOF commerce_api.play_invite LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.invite', '{customer,service}') a,
           LATERAL commerce.invite(a.tenant_id, request_id, play, commerce._actor_subject(a, inviter, 'inviter'),
                                   invitee, commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.invite(text, text, text, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.invite(text, text, text, text, text, text) IS
  'Record that the inviter (the calling customer) invited a new customer to a play; rewarded once when the invitee pays. Idempotent by request_id.';

-- For store staff: the play's store must be one of theirs (42501); others pass.
CREATE FUNCTION commerce._api_play_scope(a commerce.actor, p_play text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE v_store text;
BEGIN
    IF a.kind IN ('store', 'operator', 'finance') THEN
        SELECT s.code INTO v_store FROM commerce.play_config c
          JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
         WHERE c.tenant_id = a.tenant_id AND c.code = p_play;
        IF FOUND THEN
            PERFORM commerce._actor_scope(a, v_store, NULL);
        END IF;
    END IF;
END $$;

-- The shape of a customer's asset (an API row type: selects nothing itself).
CREATE VIEW commerce_api.customer_asset AS
SELECT NULL::bigint AS asset_id, NULL::text AS customer, NULL::text AS asset_type, NULL::text AS unit_name,
       NULL::bigint AS total, NULL::bigint AS remaining, NULL::bigint AS consumed, NULL::text AS play,
       NULL::text AS play_title, NULL::text AS store, NULL::bigint AS group_id, NULL::bigint AS order_id,
       NULL::timestamptz AS created_at, NULL::timestamptz AS voided_at
 WHERE false;
COMMENT ON VIEW commerce_api.customer_asset IS
  E'@omit all\nWhat a customer bought and consumes over time: asset_type (COURSE, SERVICE, GOODS) counted in unit_name (lessons, hours, bags), total, remaining and consumed, the play (code and title) and store it came from, the group and the order; voided_at when a full refund voided what was left.';

-- The assets of a tenant as customer_asset rows.
CREATE FUNCTION commerce._customer_assets(p_tenant bigint, p_customer text, p_asset bigint, p_after bigint,
                                          p_first integer)
RETURNS SETOF commerce_api.customer_asset LANGUAGE sql STABLE AS $$
    SELECT ua.asset_id, cu.code, ua.asset_type, ua.unit_name, ua.total, ua.remaining,
           CASE WHEN ua.voided_at IS NULL THEN ua.total - ua.remaining END, c.code, c.title, st.code,
           ua.source_instance_id, ua.order_id, ua.created_at, ua.voided_at
      FROM commerce.user_asset ua
      JOIN commerce.customer cu ON cu.tenant_id = ua.tenant_id AND cu.customer_id = ua.customer_id
      LEFT JOIN commerce.play_config c ON c.tenant_id = ua.tenant_id AND c.activity = ua.source_activity
      LEFT JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
     WHERE ua.tenant_id = p_tenant AND (p_customer IS NULL OR cu.code = p_customer)
       AND (p_asset IS NULL OR ua.asset_id = p_asset) AND (p_after IS NULL OR ua.asset_id < p_after)
     ORDER BY ua.asset_id DESC
     LIMIT p_first;
$$;

CREATE FUNCTION commerce_api.consume_asset(request_id text, asset bigint, amount bigint, store text, operator text)
RETURNS SETOF commerce_api.customer_asset LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.consume_asset', '{store,operator,service}');
        u commerce.user_asset_row;
BEGIN
    PERFORM commerce._actor_scope(a, store, NULL);
    u := commerce.consume_asset(a.tenant_id, request_id, asset, amount, store,
                                commerce._actor_subject(a, operator, 'operator'));
    RETURN QUERY SELECT * FROM commerce._customer_assets(a.tenant_id, NULL, u.asset_id, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) IS
  'Consume units of a customer''s asset (a lesson, a visit) at a store: store staff at their own stores, with themselves as the operator (42501 otherwise); HQ operators anywhere as themselves; a service names the operator. Idempotent by request_id. Returns the asset (customer_asset).';

CREATE FUNCTION commerce_api.play_dashboard(play text)
RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.play_dashboard', '{store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_play_scope(a, play);
    RETURN commerce.play_dashboard(a.tenant_id, play);
END $$;
REVOKE ALL ON FUNCTION commerce_api.play_dashboard(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.play_dashboard(text) IS
  'The activity dashboard of a play (funnel, sales, groups, assets): store staff for their own stores'' plays (42501 otherwise), operators, finance and services any.';

-- The shape of a store's settlement of a play.
CREATE VIEW commerce_api.play_settlement AS
SELECT NULL::bigint AS settlement_id, NULL::text AS play, NULL::text AS store, NULL::text AS status,
       NULL::integer AS orders, NULL::bigint AS income_fen, NULL::integer AS store_share_bp, NULL::bigint AS store_fen,
       NULL::text AS store_yuan, NULL::bigint AS hq_fen, NULL::timestamptz AS applied_at, NULL::timestamptz AS decided_at,
       NULL::text AS decided_by, NULL::text AS reason, NULL::timestamptz AS paid_at
 WHERE false;
COMMENT ON VIEW commerce_api.play_settlement IS
  E'@omit all\nA store''s settlement of a play (M7): the completed orders and their income, the store''s share in basis points and fen (store_yuan the exact string) and HQ''s, status (applied, approved, rejected, paid, failed), who decided and why, when it was applied, decided and paid.';

-- Settlements of plays as play_settlement rows, newest first (p_stores NULL: all stores).
CREATE FUNCTION commerce._play_settlements(p_tenant bigint, p_settlement bigint, p_status text, p_stores text[],
                                           p_before bigint, p_page integer)
RETURNS SETOF commerce_api.play_settlement LANGUAGE sql STABLE AS $$
    SELECT x.settlement_id, c.code, st.code, x.status, x.orders, x.income_fen, x.store_share_bp, x.store_fen,
           commerce.yuan(x.store_fen), x.hq_fen, x.applied_at, x.decided_at, x.decided_by, x.reason, x.paid_at
      FROM commerce.play_settlement x
      JOIN commerce.play_config c ON c.tenant_id = x.tenant_id AND c.config_id = x.config_id
      JOIN commerce.store st ON st.tenant_id = x.tenant_id AND st.store_id = x.store_id
     WHERE x.tenant_id = p_tenant AND (p_settlement IS NULL OR x.settlement_id = p_settlement)
       AND (p_stores IS NULL OR st.code = ANY (p_stores)) AND (p_status IS NULL OR x.status = p_status)
       AND (p_before IS NULL OR x.settlement_id < p_before)
     ORDER BY x.settlement_id DESC
     LIMIT p_page;
$$;

CREATE FUNCTION commerce_api.apply_play_settlement(request_id text, play text)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_play_settlement', '{store,operator,service}');
        x commerce.play_settlement_row;
BEGIN
    PERFORM commerce._api_play_scope(a, play);
    x := commerce.apply_play_settlement(a.tenant_id, request_id, play);
    RETURN QUERY SELECT * FROM commerce._play_settlements(a.tenant_id, x.settlement_id, NULL, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.apply_play_settlement(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_play_settlement(text, text) IS
  'A store applies for the settlement of an ended play: store staff for their own stores'' plays (42501 otherwise), operators and services any. Idempotent by request_id.';

CREATE FUNCTION commerce_api.assets(customer text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.customer_asset LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.assets', '{customer,store,operator,service}');
        v_customer text := assets.customer;
BEGIN
    PERFORM commerce._api_page(assets.page_size);
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, assets.customer, 'customer');
    ELSIF a.kind = 'store' THEN
        PERFORM commerce._require(assets.customer, 'customer');   -- the clerk looks up the customer at the counter
    END IF;
    RETURN QUERY SELECT * FROM commerce._customer_assets(a.tenant_id, v_customer, NULL, assets.before_id, assets.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.assets(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.assets(text, bigint, integer) IS
  'Assets newest first (customer_asset): a customer its own (customer left out or its own); store staff look up the customer at the counter (customer required), operators and services any (customer filters). Paged by cursor: before_id is the last asset_id of the previous page, page_size 1 to 100 (default 20).';

-- The shape of a consumption.
CREATE VIEW commerce_api.asset_consumption AS
SELECT NULL::bigint AS consumption_id, NULL::bigint AS asset_id, NULL::bigint AS amount, NULL::text AS store,
       NULL::text AS operator, NULL::timestamptz AS consumed_at
 WHERE false;
COMMENT ON VIEW commerce_api.asset_consumption IS
  E'@omit all\nOne consumption (核销) of an asset: how many units, at which store, by which operator, when.';

CREATE FUNCTION commerce_api.asset_consumptions(asset bigint)
RETURNS SETOF commerce_api.asset_consumption LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.asset_consumptions', '{customer,store,operator,service}');
        v commerce_api.customer_asset;
BEGIN
    PERFORM commerce._require(asset_consumptions.asset, 'asset');
    SELECT * INTO v FROM commerce._customer_assets(a.tenant_id, NULL, asset_consumptions.asset, NULL, 1);
    IF NOT FOUND OR (a.kind = 'customer' AND v.customer IS DISTINCT FROM a.subject) THEN
        PERFORM commerce._not_found('asset', asset_consumptions.asset::text, a.tenant_id);   -- another's does not exist for it
    END IF;
    RETURN QUERY SELECT l.consumption_id, l.asset_id, l.amount, st.code, l.operator, l.consumed_at
                   FROM commerce.consumption_log l
                   JOIN commerce.store st ON st.tenant_id = l.tenant_id AND st.store_id = l.store_id
                  WHERE l.tenant_id = a.tenant_id AND l.asset_id = v.asset_id
                  ORDER BY l.consumption_id;
END $$;
REVOKE ALL ON FUNCTION commerce_api.asset_consumptions(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.asset_consumptions(bigint) IS
  'The consumption log of an asset, oldest first (asset_consumption): a customer of its own assets (another''s is PT404); store staff, operators and services any.';

-- The shape of a group's progress.
CREATE VIEW commerce_api.group_progress AS
SELECT NULL::bigint AS group_id, NULL::text AS play, NULL::text AS play_title, NULL::text AS status,
       NULL::integer AS current, NULL::integer AS target, NULL::integer AS paid, NULL::integer AS held,
       NULL::timestamptz AS deadline, NULL::bigint AS price_fen, NULL::text AS price_yuan, NULL::boolean AS mine
 WHERE false;
COMMENT ON VIEW commerce_api.group_progress IS
  E'@omit all\nA group buy''s progress as a share page shows it: the play, status (active, success, failed), current of target places (paid and held: held places await payment), the deadline, the play price (price_yuan the exact string), and whether the calling customer is in it (mine). Members are not named.';

CREATE FUNCTION commerce_api.group_buy(group_id bigint)
RETURNS SETOF commerce_api.group_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.group_buy', '{anonymous,customer,koc,store,operator,service}');
BEGIN
    PERFORM commerce._require(group_buy.group_id, 'group_id');
    RETURN QUERY
    SELECT i.instance_id, c.code, c.title, i.status, i.current, i.target,
           (SELECT count(*)::integer FROM commerce.play_participant p
             WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND p.status <> 'held'),
           (SELECT count(*)::integer FROM commerce.play_participant p
             WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND p.status = 'held'),
           i.deadline, c.price_fen, commerce.yuan(c.price_fen),
           a.kind = 'customer' AND EXISTS (SELECT 1 FROM commerce.play_participant p
                                             JOIN commerce.customer cu ON cu.tenant_id = p.tenant_id AND cu.customer_id = p.customer_id
                                            WHERE p.tenant_id = i.tenant_id AND p.instance_id = i.instance_id AND cu.code = a.subject)
      FROM commerce.play_instance i
      JOIN commerce.play_config c ON c.tenant_id = i.tenant_id AND c.config_id = i.config_id
      JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
     WHERE i.tenant_id = a.tenant_id AND i.instance_id = group_buy.group_id AND t.kind = 'group_buy';
    IF NOT FOUND THEN
        PERFORM commerce._not_found('group', group_buy.group_id::text, a.tenant_id);
    END IF;
END $$;
REVOKE ALL ON FUNCTION commerce_api.group_buy(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.group_buy(bigint) IS
  'A group buy''s progress (group_progress), for its share page: open to every caller but finance; members are not named. PT404 for an unknown group.';

CREATE FUNCTION commerce_api.decide_play_settlement(settlement bigint, approve boolean, reason text DEFAULT NULL)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.decide_play_settlement', '{finance}');
        x commerce.play_settlement_row;
BEGIN
    x := commerce.decide_play_settlement(a.tenant_id, settlement, approve, a.subject, left(reason, 500));
    RETURN QUERY SELECT * FROM commerce._play_settlements(a.tenant_id, x.settlement_id, NULL, NULL, NULL, 1);
END $$;
REVOKE ALL ON FUNCTION commerce_api.decide_play_settlement(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.decide_play_settlement(bigint, boolean, text) IS
  'HQ finance approves (the store''s share is paid out through the outbox, store.settlement_payout) or rejects (reason required) a store''s settlement of an ended play; the decision is recorded under the finance member''s name. Finance only.';

-- ---------------------------------------------------------------- the store counter
-- A store's orders are the orders of its plays. Store staff act on those of their
-- own stores (another store's is PT404 for them); HQ staff by their channels.

-- An order the actor may act on at the counter: store staff the orders of their stores' plays.
CREATE FUNCTION commerce._api_counter_order(a commerce.actor, p_order bigint) RETURNS commerce.orders_row
LANGUAGE plpgsql STABLE AS $$
DECLARE o commerce.orders_row; v_store text;
BEGIN
    IF a.kind <> 'store' THEN
        RETURN commerce._api_order(a, p_order);
    END IF;
    PERFORM commerce._require(p_order, 'order_id');
    SELECT o2.* INTO o FROM commerce.orders o2 WHERE o2.tenant_id = a.tenant_id AND o2.order_id = p_order;
    SELECT st.code INTO v_store FROM commerce.play_config c
      JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
     WHERE c.tenant_id = a.tenant_id AND c.activity = o.source_activity;
    IF o.order_id IS NULL OR v_store IS NULL OR NOT v_store = ANY (a.stores) THEN
        PERFORM commerce._not_found('order', p_order::text, a.tenant_id);   -- not of its stores: does not exist for it
    END IF;
    RETURN o;
END $$;

CREATE FUNCTION commerce_api.store_orders(status commerce.order_status DEFAULT NULL, play text DEFAULT NULL,
                                          before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.store_orders', '{store,operator,service}');
        v_ids bigint[];
BEGIN
    PERFORM commerce._api_page(store_orders.page_size);
    SELECT array_agg(x.order_id) INTO v_ids FROM (
        SELECT o.order_id FROM commerce.orders o
          JOIN commerce.play_config c ON c.tenant_id = o.tenant_id AND c.activity = o.source_activity
          JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
         WHERE o.tenant_id = a.tenant_id AND (a.stores IS NULL OR st.code = ANY (a.stores))
           AND (store_orders.play IS NULL OR c.code = store_orders.play)
           AND (store_orders.status IS NULL OR o.status = store_orders.status)
           AND (store_orders.before_id IS NULL OR o.order_id < store_orders.before_id)
         ORDER BY o.order_id DESC LIMIT store_orders.page_size) x;
    RETURN QUERY SELECT * FROM commerce._order_summary(a.tenant_id, coalesce(v_ids, '{}'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.store_orders(commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.store_orders(commerce.order_status, text, bigint, integer) IS
  'The orders of the plays of the caller''s stores, newest first (order_summary), optionally of one status or play: store staff their stores''; HQ operators and services every store''s. Paged by cursor: before_id is the last order_id of the previous page, page_size 1 to 100 (default 20).';

-- The shape of a play as a store sees it.
CREATE VIEW commerce_api.store_play AS
SELECT NULL::text AS play, NULL::text AS title, NULL::text AS template, NULL::text AS kind, NULL::text AS store,
       NULL::text AS sku, NULL::text AS status, NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at,
       NULL::bigint AS price_fen, NULL::text AS price_yuan, NULL::bigint AS stock, NULL::bigint AS available,
       NULL::bigint AS paid_orders
 WHERE false;
COMMENT ON VIEW commerce_api.store_play IS
  E'@omit all\nA play of a store: code, title, template and its kind (group_buy, flash_sale, bargain, invite_reward), store and SKU, status (active, closed) and window, the play price (price_yuan the exact string), the stock allocated to it and still available, and its paid orders.';

CREATE FUNCTION commerce_api.store_plays(status text DEFAULT NULL)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.store_plays', '{store,operator,finance,service}');
BEGIN
    RETURN QUERY
    SELECT c.code, c.title, c.template_code, t.kind, st.code, sk.code, c.status, c.starts_at, c.ends_at, c.price_fen,
           commerce.yuan(c.price_fen), c.stock, commerce._play_available(ROW(c.*)::commerce.play_config_row),
           (SELECT count(*) FROM commerce.orders o WHERE o.tenant_id = c.tenant_id AND o.source_activity = c.activity
               AND o.paid_at IS NOT NULL)
      FROM commerce.play_config c
      JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
      JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
      JOIN commerce.sku sk ON sk.tenant_id = c.tenant_id AND sk.sku_id = c.sku_id
     WHERE c.tenant_id = a.tenant_id AND (a.stores IS NULL OR st.code = ANY (a.stores))
       AND (store_plays.status IS NULL OR c.status = store_plays.status)
     ORDER BY c.starts_at DESC, c.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.store_plays(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.store_plays(text) IS
  'The plays of the caller''s stores, newest first (store_play), optionally of one status (active, closed): store staff their stores''; HQ staff and services all.';

CREATE FUNCTION commerce_api.ship_order(request_id text, order_id bigint, tracking_no text DEFAULT NULL,
                                        carrier text DEFAULT NULL)
RETURNS SETOF commerce_api.order_shipment LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.ship_order', '{store,operator,service}');
        o commerce.orders_row := commerce._api_counter_order(a, ship_order.order_id); sh commerce.shipment_row;
BEGIN
    sh := commerce.ship_order(a.tenant_id, o.order_id, ship_order.request_id, left(ship_order.tracking_no, 64),
                              left(ship_order.carrier, 64));
    RETURN QUERY SELECT sh.order_id, sh.shipment_id, sh.carrier, sh.tracking_no, sh.shipped_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.ship_order(text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ship_order(text, bigint, text, text) IS
  'Ship a paid order (the carrier routed unless given; the waybill job queued): store staff the orders of their stores'' plays (another''s is PT404), HQ operators those of their channels, services any. PT409 when the order is not paid. Idempotent by request_id. Returns the parcel (order_shipment).';

CREATE FUNCTION commerce_api.after_sales(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                         page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.after_sales', '{customer,store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(after_sales.page_size);
    RETURN QUERY
    SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
           r.decision_note, r.created_at, r.decided_at, r.completed_at
      FROM commerce.after_sale r
      JOIN commerce.orders o ON o.tenant_id = r.tenant_id AND o.order_id = r.order_id
      JOIN commerce.channel ch ON ch.tenant_id = o.tenant_id AND ch.channel_id = o.channel_id
      LEFT JOIN commerce.customer cu ON cu.tenant_id = o.tenant_id AND cu.customer_id = o.customer_id
      LEFT JOIN commerce.play_config c ON c.tenant_id = o.tenant_id AND c.activity = o.source_activity
      LEFT JOIN commerce.store st ON st.tenant_id = c.tenant_id AND st.store_id = c.store_id
     WHERE r.tenant_id = a.tenant_id
       AND (a.kind <> 'customer' OR cu.code = a.subject)
       AND (a.kind <> 'store' OR st.code = ANY (a.stores))
       AND (a.channels IS NULL OR ch.code = ANY (a.channels))
       AND (after_sales.status IS NULL OR r.status = after_sales.status)
       AND (after_sales.before_id IS NULL OR r.after_sale_id < after_sales.before_id)
     ORDER BY r.after_sale_id DESC
     LIMIT after_sales.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.after_sales(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.after_sales(text, bigint, integer) IS
  'After-sale requests newest first (after_sale_request), optionally of one status (requested, approved, rejected, goods_returned, refunded, exchanged): a customer its own; store staff those of their stores'' play orders; HQ staff those of their channels; services all. Paged by cursor: before_id is the last after_sale_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.decide_after_sale(after_sale bigint, approve boolean, note text DEFAULT NULL)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.decide_after_sale', '{store,operator,finance}');
        v_order bigint; r commerce.after_sale_row;
BEGIN
    PERFORM commerce._require(decide_after_sale.after_sale, 'after_sale');
    SELECT x.order_id INTO v_order FROM commerce.after_sale x
     WHERE x.tenant_id = a.tenant_id AND x.after_sale_id = decide_after_sale.after_sale;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('after-sale request', decide_after_sale.after_sale::text, a.tenant_id);
    END IF;
    PERFORM commerce._api_counter_order(a, v_order);    -- within the caller's stores or channels
    r := commerce.decide_after_sale(a.tenant_id, decide_after_sale.after_sale, decide_after_sale.approve,
                                    left(decide_after_sale.note, 500), a.subject);
    RETURN QUERY SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
                        r.decision_note, r.created_at, r.decided_at, r.completed_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.decide_after_sale(bigint, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.decide_after_sale(bigint, boolean, text) IS
  'Approve or reject an after-sale request, under the caller''s name (a refund at or above the tenant''s second-approval threshold needs two different approvers): store staff for their stores'' play orders (another''s is PT404), HQ operators and finance for their channels. Returns the request (after_sale_request).';

CREATE FUNCTION commerce_api.record_refund(after_sale bigint)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_refund', '{service}');
        r commerce.after_sale_row;
BEGIN
    r := commerce.complete_refund(a.tenant_id, record_refund.after_sale);
    RETURN QUERY SELECT r.after_sale_id, r.order_id, r.kind, r.status, r.refund_fen, commerce.yuan(r.refund_fen), r.reason,
                        r.decision_note, r.created_at, r.decided_at, r.completed_at;
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_refund(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_refund(bigint) IS
  'The payment provider''s refund callback (service only): the refund of an approved after-sale request went through (the payment.refund message''s after_sale_id); the order becomes refunded (or back to its state for a partial refund) and a group member refunded. Idempotent. Returns the request (after_sale_request).';

CREATE FUNCTION commerce_api.play_settlements(status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                              page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.play_settlements', '{store,operator,finance,service}');
BEGIN
    PERFORM commerce._api_page(play_settlements.page_size);
    RETURN QUERY SELECT * FROM commerce._play_settlements(a.tenant_id, NULL, play_settlements.status, a.stores,
                                                           play_settlements.before_id, play_settlements.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.play_settlements(text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.play_settlements(text, bigint, integer) IS
  'Stores'' settlements of plays newest first (play_settlement), optionally of one status: store staff their stores''; HQ staff and services all (finance approves with decide_play_settlement). Paged by cursor: before_id is the last settlement_id of the previous page, page_size 1 to 100 (default 20).';

CREATE FUNCTION commerce_api.configure_play(request_id text, code text, template text, store text, sku text, title text,
                                            price_fen bigint, stock bigint, starts_at timestamptz, ends_at timestamptz,
                                            rules jsonb DEFAULT '{}', cities text[] DEFAULT NULL,
                                            new_users_only boolean DEFAULT false, per_user_limit integer DEFAULT NULL,
                                            mutex_group text DEFAULT NULL, asset_type text DEFAULT NULL,
                                            units_per_sale bigint DEFAULT 1)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.configure_play', '{store,operator,service}');
        c commerce.play_config_row;
BEGIN
    PERFORM commerce._actor_scope(a, configure_play.store, NULL);
    c := commerce.configure_play(a.tenant_id, configure_play.request_id, configure_play.code, configure_play.template,
                                 configure_play.store, configure_play.sku, configure_play.title, configure_play.price_fen,
                                 configure_play.stock, configure_play.starts_at, configure_play.ends_at,
                                 coalesce(configure_play.rules, '{}')::text, configure_play.cities,
                                 configure_play.new_users_only, configure_play.per_user_limit, configure_play.mutex_group,
                                 configure_play.asset_type, configure_play.units_per_sale);
    RETURN QUERY SELECT * FROM commerce_api.store_plays() x WHERE x.play = c.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.configure_play(text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, jsonb, text[], boolean, integer, text, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.configure_play(text, text, text, text, text, text, bigint, bigint, timestamptz, timestamptz, jsonb, text[], boolean, integer, text, text, bigint) IS
  'A store applies a template to one of its SKUs (M2.1): the play code and title, the play price, the stock allocated from the shared pool, the window, the rules (checked against the template''s schema, 22023 naming the bad keyword), the cities it is seen in, who may join (new users only, a per-user limit, a mutex group) and what a sale becomes (asset_type, units_per_sale). Store staff for their own stores (42501 otherwise), HQ operators and services any. Idempotent by request_id. Returns the play (store_play).';

CREATE FUNCTION commerce_api.close_play(request_id text, play text)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.close_play', '{store,operator,service}');
BEGIN
    PERFORM commerce._api_play_scope(a, close_play.play);
    PERFORM commerce.close_play(a.tenant_id, close_play.play, close_play.request_id);
    RETURN QUERY SELECT * FROM commerce_api.store_plays() x WHERE x.play = close_play.play;
END $$;
REVOKE ALL ON FUNCTION commerce_api.close_play(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.close_play(text, text) IS
  'Close a play: its unsold stock goes back to the shared pool and nobody can join or buy any more. Store staff their own stores'' plays (42501 otherwise), HQ operators and services any. Closing again is a no-op. Returns the play (store_play).';

CREATE FUNCTION commerce_api.upsert_play_template(code text, kind text, name text, unit_name text, rule_schema jsonb)
RETURNS SETOF commerce_api.play_template LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_play_template', '{operator,service}');
BEGIN
    PERFORM commerce._require(upsert_play_template.rule_schema, 'rule_schema');
    RETURN QUERY SELECT * FROM commerce.upsert_play_template(a.tenant_id, upsert_play_template.code, upsert_play_template.kind,
                                         left(upsert_play_template.name, 200), left(upsert_play_template.unit_name, 32),
                                         upsert_play_template.rule_schema::text);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_play_template(text, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_play_template(text, text, text, text, jsonb) IS
  'HQ creates or changes a play template (M2.1): code, kind (group_buy, flash_sale, bargain, invite_reward; never changed later), name, the unit its assets count in (lessons, hours) and the rule schema (the JSON Schema subset of docs/plays.md; 22023 naming the bad keyword; a new schema must accept the rules of every play built on it, PT409 otherwise). HQ operators and services.';

-- Hasura's variants of the reads above (commerce_hasura: the session passed as hasura_session).

CREATE FUNCTION commerce_hasura.assets(hasura_session json, customer text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.customer_asset LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.assets(assets.customer, assets.before_id, assets.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.assets(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.assets(json, text, bigint, integer) IS
  'Hasura: commerce_api.assets for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.asset_consumptions(hasura_session json, asset bigint)
RETURNS SETOF commerce_api.asset_consumption LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.asset_consumptions(asset_consumptions.asset);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.asset_consumptions(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.asset_consumptions(json, bigint) IS
  'Hasura: commerce_api.asset_consumptions for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.group_buy(hasura_session json, group_id bigint)
RETURNS SETOF commerce_api.group_progress LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.group_buy(group_buy.group_id);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.group_buy(json, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.group_buy(json, bigint) IS
  'Hasura: commerce_api.group_buy for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.visible_plays(hasura_session json, city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce_api.visible_play LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.visible_plays(visible_plays.city, visible_plays.store);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.visible_plays(json, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.visible_plays(json, text, text) IS
  'Hasura: commerce_api.visible_plays for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.store_orders(hasura_session json, status commerce.order_status DEFAULT NULL, play text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.order_summary LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.store_orders(store_orders.status, store_orders.play, store_orders.before_id, store_orders.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.store_orders(json, commerce.order_status, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.store_orders(json, commerce.order_status, text, bigint, integer) IS
  'Hasura: commerce_api.store_orders for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.store_plays(hasura_session json, status text DEFAULT NULL)
RETURNS SETOF commerce_api.store_play LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.store_plays(store_plays.status);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.store_plays(json, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.store_plays(json, text) IS
  'Hasura: commerce_api.store_plays for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.after_sales(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.after_sale_request LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.after_sales(after_sales.status, after_sales.before_id, after_sales.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.after_sales(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.after_sales(json, text, bigint, integer) IS
  'Hasura: commerce_api.after_sales for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

CREATE FUNCTION commerce_hasura.play_settlements(hasura_session json, status text DEFAULT NULL, before_id bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.play_settlement LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
BEGIN
    PERFORM commerce._hasura_session(hasura_session);
    RETURN QUERY SELECT * FROM commerce_api.play_settlements(play_settlements.status, play_settlements.before_id, play_settlements.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_hasura.play_settlements(json, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_hasura.play_settlements(json, text, bigint, integer) IS
  'Hasura: commerce_api.play_settlements for the actor of the session variables hasura_session (x-hasura-role, x-hasura-user-id, x-hasura-tenant-id); track it with session_argument: hasura_session.';

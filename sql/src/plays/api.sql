-- sql/src/plays/api.sql: the plays for HTTP clients. A customer joins, buys,
-- bargains and invites as itself; store staff act for their own stores;
-- joining a group (paid at once) is the payment service's.

CREATE FUNCTION commerce_api.visible_plays(city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce.play_display_row LANGUAGE sql STABLE SECURITY DEFINER
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

CREATE FUNCTION commerce_api.join_group(request_id text, play text, customer text, payment_id text,
                                        instance bigint DEFAULT NULL, ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.join_group', '{service}') a,
           LATERAL commerce.join_group(a.tenant_id, request_id, play, customer, payment_id, instance,
                                       'wechat_mp', commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text) IS
  'Open or join a group buy for a customer, paid at once: the payment service''s call once the provider confirmed payment_id (service only; a customer never names a payment). Idempotent by request_id.';

CREATE FUNCTION commerce_api.buy_play(request_id text, play text, customer text DEFAULT NULL, qty integer DEFAULT 1,
                                      ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_play', '{customer,service}') a,
           LATERAL commerce.buy_play(a.tenant_id, request_id, play, commerce._actor_subject(a, customer, 'customer'),
                                     qty, 'wechat_mp', commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb) IS
  'Buy a flash-sale (or other priced) play: a customer for itself; creates the order awaiting payment (commerce_api.record_payment is the provider''s callback). Idempotent by request_id.';

CREATE FUNCTION commerce_api.start_bargain(request_id text, play text, customer text DEFAULT NULL,
                                           ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE sql VOLATILE SECURITY DEFINER
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
RETURNS commerce.bargain_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.help_bargain', '{customer,service}') a,
           LATERAL commerce.help_bargain(a.tenant_id, request_id, bargain,
                                         commerce._actor_subject(a, helper, 'helper'), commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id')) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) IS
  'Cut the price of another customer''s bargain: the helper is the calling customer. Once per helper and bargain; idempotent by request_id.';

CREATE FUNCTION commerce_api.buy_bargain(request_id text, bargain bigint, customer text DEFAULT NULL,
                                         ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT r.* FROM commerce._api_actor('commerce_api.buy_bargain', '{customer,service}') a,
           LATERAL commerce.buy_bargain(a.tenant_id, request_id, bargain,
                                        commerce._actor_subject(a, customer, 'customer'), 'wechat_mp',
                                        commerce._client_ip(a, ip), commerce._client_header(a, device, 'x-device-id'), receiver) r;
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb) IS
  'Buy one''s own bargain at the price reached: a customer for itself; creates the order awaiting payment. Idempotent by request_id.';

CREATE FUNCTION commerce_api.invite(request_id text, play text, inviter text, invitee text, ip text DEFAULT NULL,
                                    device text DEFAULT NULL)
RETURNS commerce.play_invite_row LANGUAGE sql VOLATILE SECURITY DEFINER
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

CREATE FUNCTION commerce_api.consume_asset(request_id text, asset bigint, amount bigint, store text, operator text)
RETURNS commerce.user_asset_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.consume_asset', '{store,operator,service}');
BEGIN
    PERFORM commerce._actor_scope(a, store, NULL);
    RETURN commerce.consume_asset(a.tenant_id, request_id, asset, amount, store,
                                  commerce._actor_subject(a, operator, 'operator'));
END $$;
REVOKE ALL ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) IS
  'Consume units of a customer''s asset (a lesson, a visit) at a store: store staff at their own stores, with themselves as the operator (42501 otherwise); HQ operators anywhere as themselves; a service names the operator. Idempotent by request_id.';

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

CREATE FUNCTION commerce_api.apply_play_settlement(request_id text, play text)
RETURNS commerce.play_settlement_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.apply_play_settlement', '{store,operator,service}');
BEGIN
    PERFORM commerce._api_play_scope(a, play);
    RETURN commerce.apply_play_settlement(a.tenant_id, request_id, play);
END $$;
REVOKE ALL ON FUNCTION commerce_api.apply_play_settlement(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.apply_play_settlement(text, text) IS
  'A store applies for the settlement of an ended play: store staff for their own stores'' plays (42501 otherwise), operators and services any. Idempotent by request_id.';

-- sql/src/plays/api.sql: the plays for HTTP clients.

CREATE FUNCTION commerce_api.visible_plays(city text DEFAULT NULL, store text DEFAULT NULL)
RETURNS SETOF commerce.play_display_row LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.visible_plays(commerce.current_tenant(), city, store);
$$;
REVOKE ALL ON FUNCTION commerce_api.visible_plays(text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.record_play_view(play text, customer text DEFAULT NULL, ip text DEFAULT NULL,
                                              device text DEFAULT NULL)
RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.record_play_view(commerce.current_tenant(), play, customer, ip, device);
$$;
REVOKE ALL ON FUNCTION commerce_api.record_play_view(text, text, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.join_group(request_id text, play text, customer text, payment_id text,
                                        instance bigint DEFAULT NULL, ip text DEFAULT NULL, device text DEFAULT NULL)
RETURNS commerce.join_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.join_group(commerce.current_tenant(), request_id, play, customer, payment_id, instance,
                                      'wechat_mp', ip, device);
$$;
REVOKE ALL ON FUNCTION commerce_api.join_group(text, text, text, text, bigint, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.buy_play(request_id text, play text, customer text, qty integer DEFAULT 1,
                                      ip text DEFAULT NULL, device text DEFAULT NULL, receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.buy_play(commerce.current_tenant(), request_id, play, customer, qty, 'wechat_mp',
                                    ip, device, receiver);
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_play(text, text, text, integer, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION commerce_api.start_bargain(request_id text, play text, customer text, ip text DEFAULT NULL,
                                           device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.start_bargain(commerce.current_tenant(), request_id, play, customer, ip, device);
$$;
REVOKE ALL ON FUNCTION commerce_api.start_bargain(text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.help_bargain(request_id text, bargain bigint, helper text, ip text DEFAULT NULL,
                                          device text DEFAULT NULL)
RETURNS commerce.bargain_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.help_bargain(commerce.current_tenant(), request_id, bargain, helper, ip, device);
$$;
REVOKE ALL ON FUNCTION commerce_api.help_bargain(text, bigint, text, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.buy_bargain(request_id text, bargain bigint, customer text, ip text DEFAULT NULL,
                                         device text DEFAULT NULL, receiver jsonb DEFAULT NULL)
RETURNS commerce.order_result LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.buy_bargain(commerce.current_tenant(), request_id, bargain, customer, 'wechat_mp',
                                       ip, device, receiver);
$$;
REVOKE ALL ON FUNCTION commerce_api.buy_bargain(text, bigint, text, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION commerce_api.invite(request_id text, play text, inviter text, invitee text, ip text DEFAULT NULL,
                                    device text DEFAULT NULL)
RETURNS commerce.play_invite_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.invite(commerce.current_tenant(), request_id, play, inviter, invitee, ip, device);
$$;
REVOKE ALL ON FUNCTION commerce_api.invite(text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.consume_asset(request_id text, asset bigint, amount bigint, store text, operator text)
RETURNS commerce.user_asset_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.consume_asset(commerce.current_tenant(), request_id, asset, amount, store, operator);
$$;
REVOKE ALL ON FUNCTION commerce_api.consume_asset(text, bigint, bigint, text, text) FROM PUBLIC;

CREATE FUNCTION commerce_api.play_dashboard(play text)
RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT commerce.play_dashboard(commerce.current_tenant(), play);
$$;
REVOKE ALL ON FUNCTION commerce_api.play_dashboard(text) FROM PUBLIC;

CREATE FUNCTION commerce_api.apply_play_settlement(request_id text, play text)
RETURNS commerce.play_settlement_row LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
    SELECT * FROM commerce.apply_play_settlement(commerce.current_tenant(), request_id, play);
$$;
REVOKE ALL ON FUNCTION commerce_api.apply_play_settlement(text, text) FROM PUBLIC;

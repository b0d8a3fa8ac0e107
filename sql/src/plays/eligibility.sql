-- sql/src/plays/eligibility.sql: rule layer 3: eligibility at transaction time
-- (blacklists, rate limits, events), C in src/plays_eligibility.c.

CREATE FUNCTION commerce._play_admit(p_tenant bigint, p_config_id bigint, p_customer_id bigint, p_action text,
                                     p_ip text DEFAULT NULL, p_device text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'commerce_play_admit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION commerce._play_admit(bigint, bigint, bigint, text, text, text) IS
  'Internal: eligibility at transaction time, in C (src/plays_eligibility.c): blacklist (PT403), new customers only (PT403), a new account without a profile (PT403), the per-customer limit (PT409), the mutex group (PT409), the per-customer rate (PT429), the per-IP rate (PT429) and the per-device rate (PT429); an admitted action is recorded as a play_event.';

-- Put a customer, an IP or a device on the tenant's play blacklist (or change the entry).
CREATE FUNCTION commerce.blacklist(p_tenant bigint, p_kind text, p_value text, p_reason text,
                                   p_expires_at timestamptz DEFAULT NULL)
RETURNS commerce.play_blacklist_row LANGUAGE plpgsql AS $$
DECLARE b commerce.play_blacklist_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_value, 'p_value');
    PERFORM commerce._require(p_reason, 'p_reason');
    IF p_kind NOT IN ('user', 'ip', 'device') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Kinds: user (a customer code), ip, device.');
    END IF;
    IF length(p_value) NOT BETWEEN 1 AND 200 THEN
        PERFORM commerce._invalid('p_value', 'A value is 1 to 200 characters.', 'Pass the customer code, the IP or the device id.');
    END IF;
    IF length(p_reason) NOT BETWEEN 1 AND 500 THEN
        PERFORM commerce._invalid('p_reason', 'A reason is 1 to 500 characters.', 'Say why, for the reviewer.');
    END IF;
    IF p_kind = 'user' AND NOT EXISTS (SELECT 1 FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_value) THEN
        PERFORM commerce._not_found('customer', p_value, p_tenant);
    END IF;
    IF p_expires_at IS NOT NULL AND p_expires_at <= commerce.now() THEN
        PERFORM commerce._invalid('p_expires_at', format('%s is not in the future.', p_expires_at),
                                  'Leave it NULL for an entry without end.');
    END IF;
    INSERT INTO commerce.play_blacklist (tenant_id, kind, value, reason, created_at, expires_at)
    VALUES (p_tenant, p_kind, p_value, p_reason, commerce.now(), p_expires_at)
    ON CONFLICT (tenant_id, kind, value) DO UPDATE
       SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at
    RETURNING * INTO b;
    RETURN b;
END $$;
COMMENT ON FUNCTION commerce.blacklist(bigint, text, text, text, timestamptz) IS
  'Bar a customer (kind user, by code), an IP or a device from every play of the tenant, with a reason and an optional end; a second call changes the entry. Plays refuse them with PT403.';

-- Take an entry off the blacklist; returns whether there was one.
CREATE FUNCTION commerce.unblacklist(p_tenant bigint, p_kind text, p_value text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_value, 'p_value');
    IF p_kind NOT IN ('user', 'ip', 'device') THEN
        PERFORM commerce._invalid('p_kind', format('"%s"', p_kind), 'Kinds: user (a customer code), ip, device.');
    END IF;
    DELETE FROM commerce.play_blacklist WHERE tenant_id = p_tenant AND kind = p_kind AND value = p_value;
    RETURN FOUND;
END $$;
COMMENT ON FUNCTION commerce.unblacklist(bigint, text, text) IS
  'Remove a blacklist entry; false when there was none.';

-- The rate limits of a play (operational knobs: they may change while it runs).
CREATE FUNCTION commerce.set_play_limits(p_tenant bigint, p_code text, p_user_per_minute integer,
                                         p_ip_per_minute integer, p_device_per_minute integer DEFAULT NULL,
                                         p_min_account_age interval DEFAULT NULL)
RETURNS commerce.play_config_row LANGUAGE plpgsql AS $$
DECLARE c commerce.play_config_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_code, 'p_code');
    IF p_user_per_minute IS NOT NULL AND p_user_per_minute NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_user_per_minute', format('%s', p_user_per_minute), 'Allow 1 to 100000 actions a minute (NULL: no limit).');
    END IF;
    IF p_ip_per_minute IS NOT NULL AND p_ip_per_minute NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_ip_per_minute', format('%s', p_ip_per_minute), 'Allow 1 to 100000 actions a minute (NULL: no limit).');
    END IF;
    IF p_device_per_minute IS NOT NULL AND p_device_per_minute NOT BETWEEN 1 AND 100000 THEN
        PERFORM commerce._invalid('p_device_per_minute', format('%s', p_device_per_minute), 'Allow 1 to 100000 actions a minute (NULL: no limit).');
    END IF;
    IF p_min_account_age IS NOT NULL AND (p_min_account_age <= interval '0' OR p_min_account_age > interval '365 days') THEN
        PERFORM commerce._invalid('p_min_account_age', format('%s', p_min_account_age), 'An age of more than 0 and at most 365 days (NULL: no rule), such as ''7 days''.');
    END IF;
    UPDATE commerce.play_config SET user_rate_per_minute = p_user_per_minute, ip_rate_per_minute = p_ip_per_minute,
                                    device_rate_per_minute = p_device_per_minute, min_account_age = p_min_account_age
     WHERE tenant_id = p_tenant AND code = p_code RETURNING * INTO c;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_code, p_tenant);
    END IF;
    RETURN c;
END $$;
COMMENT ON FUNCTION commerce.set_play_limits(bigint, text, integer, integer, integer, interval) IS
  'Set the limits of a play (all of them at once; NULL: none): admitted actions per customer, per IP and per device in a minute (PT429), and the youngest account that may take part without a profile (a bound phone or a paid order; PT403), as flash sales ask (M6.2).';

-- Record that a customer (or an anonymous visitor) saw a play.
CREATE FUNCTION commerce.record_play_view(p_tenant bigint, p_config text, p_customer text DEFAULT NULL,
                                          p_ip text DEFAULT NULL, p_device text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_config bigint; v_customer bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_config, 'p_config');
    SELECT config_id INTO v_config FROM commerce.play_config WHERE tenant_id = p_tenant AND code = p_config;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('play config', p_config, p_tenant);
    END IF;
    IF p_customer IS NOT NULL THEN
        SELECT customer_id INTO v_customer FROM commerce.customer WHERE tenant_id = p_tenant AND code = p_customer;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('customer', p_customer, p_tenant);
        END IF;
    END IF;
    IF length(p_ip) > 64 THEN
        PERFORM commerce._invalid('p_ip', 'An IP is at most 64 characters.', 'Pass the client address.');
    END IF;
    IF length(p_device) > 200 THEN
        PERFORM commerce._invalid('p_device', 'A device id is at most 200 characters.', 'Pass the device id.');
    END IF;
    INSERT INTO commerce.play_event (tenant_id, config_id, kind, customer_id, ip, device, at)
    VALUES (p_tenant, v_config, 'view', v_customer, nullif(p_ip, ''), nullif(p_device, ''), commerce.now())
    RETURNING event_id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION commerce.record_play_view(bigint, text, text, text, text) IS
  'Record a view of a play (the top of the dashboard''s funnel): by a customer or an anonymous visitor (IP, device). Returns the event id.';

-- sql/src/catalog/prices.sql: price resolution (channel, member tier, flash)
-- and the floor-price guards, in C.

CREATE FUNCTION commerce.resolve_price(p_tenant bigint, p_sku text, p_channel text,
                                       p_member_tier text DEFAULT NULL,
                                       p_at timestamptz DEFAULT NULL)
RETURNS commerce.resolved_price
    AS 'MODULE_PATHNAME', 'commerce_resolve_price' LANGUAGE C STABLE;
COMMENT ON FUNCTION commerce.resolve_price(bigint, text, text, text, timestamptz) IS
  'Price of a SKU for a channel, member tier and moment: the channel price (or MSRP) unless a valid member or flash price is lower. Returns the price in fen, its source (msrp/channel/member/flash) and the price row.';

CREATE FUNCTION commerce.price_floor_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_price_floor_guard' LANGUAGE C;

CREATE TRIGGER before_10_floor_guard BEFORE INSERT OR UPDATE ON commerce.price
    FOR EACH ROW EXECUTE FUNCTION commerce.price_floor_guard();

CREATE FUNCTION commerce.sku_floor_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_sku_floor_guard' LANGUAGE C;

CREATE TRIGGER before_10_floor_guard BEFORE INSERT OR UPDATE OF msrp_fen, floor_fen ON commerce.sku
    FOR EACH ROW EXECUTE FUNCTION commerce.sku_floor_guard();

-- Set a channel, member or flash price (upsert on its natural key).
CREATE FUNCTION commerce.set_price(p_tenant bigint, p_sku text, p_kind text, p_price_fen bigint,
                                   p_channel text DEFAULT NULL, p_member_tier text DEFAULT NULL,
                                   p_valid_from timestamptz DEFAULT '-infinity',
                                   p_valid_to timestamptz DEFAULT 'infinity')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_sku bigint; v_channel bigint; v_id bigint;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_sku, 'p_sku');
    PERFORM commerce._require(p_kind, 'p_kind');
    PERFORM commerce._require(p_price_fen, 'p_price_fen');
    IF p_kind NOT IN ('channel', 'member', 'flash') THEN
        PERFORM commerce._invalid('p_kind', format('Price kind "%s" is unknown.', p_kind),
                                  'Use channel, member or flash (the MSRP is set on the SKU).');
    END IF;
    IF p_price_fen < 0 THEN
        PERFORM commerce._invalid('p_price_fen', format('%s fen is negative.', p_price_fen),
                                  'Prices are integer fen, 0 or more.');
    END IF;
    IF coalesce(p_valid_from, '-infinity') >= coalesce(p_valid_to, 'infinity') THEN
        PERFORM commerce._invalid('p_valid_to', 'The validity window is empty.',
                                  'valid_to must be later than valid_from.');
    END IF;
    IF p_kind = 'channel' AND (p_channel IS NULL OR p_member_tier IS NOT NULL) THEN
        PERFORM commerce._invalid('p_channel', 'A channel price names a channel and no tier.',
                                  'Pass p_channel, leave p_member_tier NULL.');
    ELSIF p_kind = 'member' AND p_member_tier IS NULL THEN
        PERFORM commerce._invalid('p_member_tier', 'A member price names a member tier.',
                                  'Pass p_member_tier (and optionally p_channel).');
    ELSIF p_kind = 'flash' AND (p_member_tier IS NOT NULL OR p_valid_from IS NULL
                                OR p_valid_to IS NULL OR p_valid_from = '-infinity'
                                OR p_valid_to = 'infinity') THEN
        PERFORM commerce._invalid('p_valid_from', 'A flash price is time-boxed and for everyone.',
                                  'Pass finite p_valid_from and p_valid_to and no member tier.');
    END IF;
    SELECT sku_id INTO v_sku FROM commerce.sku WHERE tenant_id = p_tenant AND code = p_sku;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('SKU', p_sku, p_tenant);
    END IF;
    IF p_channel IS NOT NULL THEN
        SELECT channel_id INTO v_channel FROM commerce.channel
         WHERE tenant_id = p_tenant AND code = p_channel;
        IF NOT FOUND THEN
            PERFORM commerce._not_found('channel', p_channel, p_tenant);
        END IF;
    END IF;
    IF p_member_tier IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM commerce.member_tier WHERE tenant_id = p_tenant AND code = p_member_tier) THEN
        PERFORM commerce._not_found('member tier', p_member_tier, p_tenant);
    END IF;
    INSERT INTO commerce.price (tenant_id, sku_id, kind, channel_id, member_tier, price_fen,
                                valid_from, valid_to)
    VALUES (p_tenant, v_sku, p_kind, v_channel, p_member_tier, p_price_fen,
            coalesce(p_valid_from, '-infinity'), coalesce(p_valid_to, 'infinity'))
    ON CONFLICT (tenant_id, sku_id, kind, coalesce(channel_id, 0), coalesce(member_tier, ''),
                 valid_from, valid_to)
    DO UPDATE SET price_fen = EXCLUDED.price_fen
    RETURNING price_id INTO v_id;
    RETURN v_id;
END $$;

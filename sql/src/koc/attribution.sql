-- sql/src/koc/attribution.sql: signed tracking links (K12), clicks, and the
-- attribution of orders to KOCs (C in src/koc_attribution.c).

CREATE FUNCTION commerce.tracking_link(p_tenant bigint, p_koc text, p_task text DEFAULT NULL,
                                       p_channel text DEFAULT NULL)
RETURNS text AS 'MODULE_PATHNAME', 'commerce_tracking_link' LANGUAGE C;
COMMENT ON FUNCTION commerce.tracking_link(bigint, text, text, text) IS
  'A tracking code for a KOC (and task, and share channel), signed with the tenant''s secret: <tenant>.<koc>.<task>.<channel>.<signature>, base 36. Put it in the shared URL.';

CREATE FUNCTION commerce.record_click(p_tenant bigint, p_code text, p_visitor text,
                                      p_ip inet DEFAULT NULL, p_user_agent text DEFAULT NULL)
RETURNS commerce.click_result AS 'MODULE_PATHNAME', 'commerce_record_click' LANGUAGE C;
COMMENT ON FUNCTION commerce.record_click(bigint, text, text, inet, text) IS
  'Record a click on a tracking code by a visitor (the mini-program or H5 user id, which is the customer code at checkout). A forged or altered code is refused (22023); a repeat within the dedupe window returns the first click with counted = false.';

CREATE FUNCTION commerce.attribution_for(p_tenant bigint, p_visitor text,
                                         p_at timestamptz DEFAULT NULL, p_buyer bigint DEFAULT NULL)
RETURNS commerce.attribution AS 'MODULE_PATHNAME', 'commerce_attribution_for' LANGUAGE C STABLE;
COMMENT ON FUNCTION commerce.attribution_for(bigint, text, timestamptz, bigint) IS
  'Who an order by this visitor at this moment would be attributed to: the last click within the attribution window on a link of an active KOC, unless the buyer is that KOC and self-referral is denied. NULL when nobody.';

CREATE FUNCTION commerce.order_attribution() RETURNS trigger
    AS 'MODULE_PATHNAME', 'commerce_order_attribution' LANGUAGE C;

CREATE TRIGGER before_10_attribution BEFORE INSERT OR UPDATE OF koc_id, koc_task_id, attributed_at, click_id
    ON commerce.orders FOR EACH ROW EXECUTE FUNCTION commerce.order_attribution();

-- Sign the fields of another module's code with the tenant's secret (its purpose keeps the kinds apart).
CREATE FUNCTION commerce._sign_fields(p_tenant bigint, p_purpose text, p_fields text) RETURNS text
AS 'MODULE_PATHNAME', 'commerce_sign_fields' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION commerce._sign_fields(bigint, text, text) IS
  'The 13-character HMAC-SHA256 signature of p_fields for p_purpose (e.g. fission) under the tenant''s link secret, made on first use; link is the tracking codes'' purpose and refused here. For codes other modules build (src/koc_attribution.c).';

-- Whether a signature is the tenant's for those fields and purpose (constant-time).
CREATE FUNCTION commerce._fields_signed(p_tenant bigint, p_purpose text, p_fields text, p_signature text) RETURNS boolean
AS 'MODULE_PATHNAME', 'commerce_fields_signed' LANGUAGE C STABLE;
COMMENT ON FUNCTION commerce._fields_signed(bigint, text, text, text) IS
  'Whether p_signature is the tenant''s signature of p_fields for p_purpose (compared in constant time; false without a secret, for purpose link, or for a signature of the wrong length).';
-- end of the signed fields

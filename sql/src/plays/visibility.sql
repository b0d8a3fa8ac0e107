-- sql/src/plays/visibility.sql: rule layers 1 and 2: which plays a customer
-- sees (query time) and their display state.

-- The row of commerce.play_display as functions take and return it: a type of the
-- extension, since the table is provisioned (test/lint/rows.sh checks it equals the table).
CREATE TYPE commerce.play_display_row AS (
    tenant_id bigint, config_id bigint, code text, title text, kind text, unit_name text,
    store text, store_city text, price_fen bigint, msrp_fen bigint,
    starts_at timestamp with time zone, ends_at timestamp with time zone, cities text[],
    status text, available bigint, display_state text
);
COMMENT ON TYPE commerce.play_display_row IS 'A row of commerce.play_display (same columns, same order), as functions take and return it.';

CREATE VIEW commerce.play_display AS
SELECT c.tenant_id, c.config_id, c.code, c.title, t.kind, t.unit_name, s.code AS store, s.city AS store_city,
       c.price_fen, sk.msrp_fen, c.starts_at, c.ends_at, c.cities, c.status,
       coalesce(p.available, 0) AS available,
       CASE WHEN c.status = 'closed' OR commerce.now() >= c.ends_at THEN 'ended'
            WHEN commerce.now() < c.starts_at THEN 'not_started'
            WHEN coalesce(p.available, 0) <= 0 THEN 'sold_out'
            ELSE 'open' END AS display_state
  FROM commerce.play_config c
  JOIN commerce.play_template t ON t.tenant_id = c.tenant_id AND t.code = c.template_code
  JOIN commerce.store s ON s.tenant_id = c.tenant_id AND s.store_id = c.store_id
  JOIN commerce.sku sk ON sk.tenant_id = c.tenant_id AND sk.sku_id = c.sku_id
  LEFT JOIN LATERAL (SELECT sum(sl.on_hand - sl.reserved - sl.sold)::bigint AS available
                       FROM commerce.stock_pool sp
                       JOIN commerce.stock_slot sl ON sl.tenant_id = sp.tenant_id AND sl.pool_id = sp.pool_id
                      WHERE sp.tenant_id = c.tenant_id AND sp.activity = c.activity AND sp.sku_id = c.sku_id
                        AND sp.status = 'open') p ON true;
COMMENT ON VIEW commerce.play_display IS
  'Rule layer 2 (display time): each play config with what is left and its display state: not_started, open, sold_out or ended.';

-- Rule layer 1 (query time): the plays a customer may see in a city (and at a store) now.
CREATE FUNCTION commerce.visible_plays(p_tenant bigint, p_city text DEFAULT NULL, p_store text DEFAULT NULL,
                                       p_at timestamptz DEFAULT NULL)
RETURNS SETOF commerce.play_display_row LANGUAGE plpgsql STABLE AS $$
DECLARE v_at timestamptz := coalesce(p_at, commerce.now());
BEGIN
    PERFORM commerce._tenant(p_tenant);
    IF p_store IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commerce.store WHERE tenant_id = p_tenant AND code = p_store) THEN
        PERFORM commerce._not_found('store', p_store, p_tenant);
    END IF;
    RETURN QUERY
    SELECT d.tenant_id, d.config_id, d.code, d.title, d.kind, d.unit_name, d.store, d.store_city, d.price_fen,
           d.msrp_fen, d.starts_at, d.ends_at, d.cities, d.status, d.available,
           CASE WHEN d.available <= 0 THEN 'sold_out' ELSE 'open' END
      FROM commerce.play_display d
     WHERE d.tenant_id = p_tenant AND d.status = 'active'
       AND d.starts_at <= v_at AND v_at < d.ends_at
       AND (d.cities IS NULL OR p_city = ANY (d.cities))
       AND (p_store IS NULL OR d.store = p_store)
     ORDER BY d.ends_at, d.code;
END $$;
COMMENT ON FUNCTION commerce.visible_plays(bigint, text, text, timestamptz) IS
  'Rule layer 1 (query time, M3): the active plays running at the moment (default now) that a customer in the city (and at the store) may see; a play with cities is seen only there. Each row carries its display state (sold_out plays stay visible).';

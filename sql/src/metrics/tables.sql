-- sql/src/metrics/tables.sql: the shop's own analytics (H5.1, H5.2): the
-- front end's events folded into one row per visitor, channel and day, and
-- what each channel cost in a month (for its ROI). Back-end events are the
-- orders' own history (order_status_history, order_event).

CREATE TABLE commerce.visit_day (
    tenant_id   bigint NOT NULL REFERENCES commerce.tenant,
    day         date NOT NULL,
    channel_id  bigint NOT NULL,
    visitor     text NOT NULL CHECK (length(visitor) BETWEEN 1 AND 200),
    customer_id bigint,
    views       integer NOT NULL DEFAULT 0 CHECK (views >= 0),
    carts       integer NOT NULL DEFAULT 0 CHECK (carts >= 0),
    checkouts   integer NOT NULL DEFAULT 0 CHECK (checkouts >= 0),
    pays        integer NOT NULL DEFAULT 0 CHECK (pays >= 0),
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, day, channel_id, visitor),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES commerce.channel,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES commerce.customer,
    CHECK (first_at <= last_at)
);
COMMENT ON TABLE commerce.visit_day IS
  'A visitor''s day on one channel (H5.2), in the tenant''s calendar: the front end''s events (record_events: view, add_to_cart, checkout, pay) counted, the customer once it signed in, the first and last event. One row per visitor, channel and day, so the funnel and conversion per channel (sales_metrics) read visitors, not raw events. Purged after its retention (commerce.retention, visit_day: 400 days).';

CREATE TABLE commerce.channel_spend (
    tenant_id  bigint NOT NULL REFERENCES commerce.tenant,
    channel_id bigint NOT NULL,
    month      date NOT NULL CHECK (month = date_trunc('month', month)::date),
    spend_fen  bigint NOT NULL CHECK (spend_fen BETWEEN 0 AND 1000000000000000),
    note       text CHECK (length(note) <= 500),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, channel_id, month),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES commerce.channel
);
COMMENT ON TABLE commerce.channel_spend IS
  'What a channel cost in a month (H5.1: platform fees, ads, the live room''s host), entered by operators or finance, for the channel''s ROI = GMV / spend in sales_metrics. A month''s row is replaced, never summed.';
SELECT commerce._declare_audited('commerce.channel_spend', 'month', ARRAY['spend_fen']);

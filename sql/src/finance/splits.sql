-- sql/src/finance/splits.sql: profit-sharing splits (H3.7.2): the rule and
-- the gateway's limits snapshotted when an order is paid, the splits written
-- when it is completed, recomputed or adjusted by refunds, made payable by
-- the job, reviewed and approved by finance, submitted through the outbox
-- and ended by the gateway's results; returns from merchants and nets of
-- persons' debts. The arithmetic is commerce.share_fen (src/core_money.c).

-- The row of commerce.profit_split as functions take and return it.
CREATE TYPE commerce.profit_split_row AS (
    tenant_id bigint, split_id bigint, order_id bigint, request_no text, method text, status text,
    due_at timestamp with time zone, base_fen bigint, parties_fen bigint, owner_fen bigint, netted_fen bigint,
    created_at timestamp with time zone, payable_at timestamp with time zone, reviewed_by text,
    reviewed_at timestamp with time zone, decided_by text, decided_at timestamp with time zone,
    submitted_at timestamp with time zone, accepted_at timestamp with time zone, ended_at timestamp with time zone,
    reason text, finishes boolean
);
COMMENT ON TYPE commerce.profit_split_row IS 'A row of commerce.profit_split (same columns, same order), as functions take and return it.';

-- Trigger: a paid self-operated order with a shared line keeps its rules and the gateway's limits.
CREATE FUNCTION commerce._sharing_on_paid() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE g record; v_play text;
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_LEVEL <> 'ROW' OR NEW IS NULL THEN
        RAISE EXCEPTION 'commerce._sharing_on_paid must run AFTER UPDATE FOR EACH ROW';
    END IF;
    IF coalesce(NEW.paid_fen, 0) <= 0 OR NEW.paid_at IS NULL
       OR NOT EXISTS (SELECT 1 FROM commerce.sharing_rule WHERE tenant_id = NEW.tenant_id AND retired_at IS NULL)
       OR NOT EXISTS (SELECT 1 FROM commerce.channel WHERE tenant_id = NEW.tenant_id AND channel_id = NEW.channel_id
                         AND kind = 'self_operated') THEN
        RETURN NULL;
    END IF;
    SELECT code INTO v_play FROM commerce.play_config WHERE tenant_id = NEW.tenant_id AND activity = NEW.source_activity;
    SELECT * INTO g FROM commerce._sharing_gateway(NEW.tenant_id);
    -- a line takes the rule of its SKU, else of its product, else of the order's play; the order is
    -- kept only when one of its lines has a rule
    WITH priced AS (
        SELECT ol.line_no,
               coalesce((SELECT r.rule_id FROM commerce.sharing_rule r WHERE r.tenant_id = ol.tenant_id AND r.scope = 'sku'
                            AND r.scope_code = s.code AND r.retired_at IS NULL),
                        (SELECT r.rule_id FROM commerce.sharing_rule r WHERE r.tenant_id = ol.tenant_id AND r.scope = 'product'
                            AND r.scope_code = pr.code AND r.retired_at IS NULL),
                        (SELECT r.rule_id FROM commerce.sharing_rule r WHERE r.tenant_id = ol.tenant_id AND r.scope = 'play'
                            AND r.scope_code = v_play AND r.retired_at IS NULL)) AS rule_id,
               ol.qty,
               greatest(ol.amount_fen - coalesce((SELECT sum(d.amount_fen) FROM commerce.order_discount d
                                                   WHERE d.tenant_id = ol.tenant_id AND d.order_id = ol.order_id
                                                     AND d.line_no = ol.line_no), 0), 0)::bigint AS after_coupons
          FROM commerce.order_line ol
          JOIN commerce.sku s ON s.tenant_id = ol.tenant_id AND s.sku_id = ol.sku_id
          JOIN commerce.product pr ON pr.tenant_id = s.tenant_id AND pr.product_id = s.product_id
         WHERE ol.tenant_id = NEW.tenant_id AND ol.order_id = NEW.order_id),
    -- what the goods were paid: the payment less shipping, spread over the lines in proportion to what
    -- each costs after its coupons (a play's price cut or points take the rest off)
    spread AS (
        SELECT array_agg(line_no ORDER BY line_no) AS nos, array_agg(after_coupons ORDER BY line_no) AS w,
               least(greatest(NEW.paid_fen - NEW.shipping_fen, 0), sum(after_coupons))::bigint AS goods
          FROM priced),
    lines AS (
        SELECT p.line_no, p.rule_id, p.qty, a.net AS net_fen
          FROM spread x
         CROSS JOIN LATERAL unnest(x.nos, commerce.allocate_fen(x.goods, x.w, x.w)) a(line_no, net)
          JOIN priced p ON p.line_no = a.line_no),
    so AS (
        INSERT INTO commerce.sharing_order (tenant_id, order_id, paid_at, max_share_bp, fee_bp, freeze_ends, last_due)
        SELECT NEW.tenant_id, NEW.order_id, NEW.paid_at, g.max_share_bp, g.fee_bp,
               NEW.paid_at + make_interval(days => g.freeze_days),
               NEW.paid_at + make_interval(days => g.freeze_days - g.margin_days)
         WHERE EXISTS (SELECT 1 FROM lines WHERE rule_id IS NOT NULL)
        ON CONFLICT DO NOTHING
        RETURNING order_id)
    INSERT INTO commerce.sharing_order_line (tenant_id, order_id, line_no, rule_id, qty, net_fen)
    SELECT NEW.tenant_id, so.order_id, lines.line_no, lines.rule_id, lines.qty, lines.net_fen FROM lines CROSS JOIN so;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._sharing_on_paid() IS
  'Trigger (orders, AFTER UPDATE OF status to paid): a self-operated order with a line under a split rule in force keeps, in sharing_order and sharing_order_line, the rule version of each line (SKU, else product, else play), what was paid for each line (the payment less shipping, spread over the lines in proportion to their amounts after coupons: a play''s price cut or points lower every line) and the gateway''s limits of now.';

-- The parts of a split's lines as of now: share_fen of each line's base within its cap.
CREATE FUNCTION commerce._split_parts(p_tenant bigint, p_order bigint, p_lines integer[])
RETURNS TABLE (line_no integer, party_no integer, receiver_id bigint, amount_fen bigint)
LANGUAGE sql STABLE AS $$
    WITH l AS (
        SELECT sol.line_no, sol.rule_id, sol.qty, sol.net_fen, sol.net_fen - sol.refunded_fen AS left_fen,
               so.fee_bp, so.max_share_bp
          FROM commerce.sharing_order_line sol
          JOIN commerce.sharing_order so ON so.tenant_id = sol.tenant_id AND so.order_id = sol.order_id
         WHERE sol.tenant_id = p_tenant AND sol.order_id = p_order AND sol.line_no = ANY (p_lines)
           AND sol.rule_id IS NOT NULL),
    calc AS (
        SELECT l.line_no, x.parts, x.receivers
          FROM l CROSS JOIN LATERAL (
              SELECT commerce.share_fen(l.left_fen - commerce.rate_fen(l.left_fen, l.fee_bp),
                                        commerce.rate_fen(l.left_fen, l.max_share_bp),
                                        array_agg(CASE WHEN l.net_fen = 0 THEN 0
                                                       ELSE commerce.prorate_fen(least(p.fixed_fen * l.qty, 1000000000000000),
                                                                                 l.left_fen, l.net_fen) END
                                                  ORDER BY p.party_no),
                                        array_agg(p.ratio_bp::bigint ORDER BY p.party_no)) AS parts,
                     array_agg(p.receiver_id ORDER BY p.party_no) AS receivers
                FROM commerce.sharing_rule_party p
               WHERE p.tenant_id = p_tenant AND p.rule_id = l.rule_id) x)
    SELECT c.line_no, CASE WHEN u.ord > cardinality(c.receivers) THEN 0 ELSE u.ord::integer END,
           CASE WHEN u.ord > cardinality(c.receivers) THEN NULL ELSE c.receivers[u.ord] END, u.amount
      FROM calc c CROSS JOIN LATERAL unnest(c.parts) WITH ORDINALITY u(amount, ord);
$$;
COMMENT ON FUNCTION commerce._split_parts(bigint, bigint, integer[]) IS
  'What each party earns of some shared lines of an order as of now: for each line, base = paid less refunds less the payment fee (rate_fen of what is left at the fee the order was paid under), cap = the gateway''s max share of what is left, fixed parts = fixed_fen x quantity in proportion to what is left of the line, then commerce.share_fen. Position 0 is the owner.';

-- Trigger: a completed order's shared lines become splits, due after their cycle (capped before the freeze ends).
CREATE FUNCTION commerce._sharing_on_complete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE so record; v_tz text; s record; v_split bigint; n integer := 0; v_now timestamptz := commerce.now();
BEGIN
    IF TG_OP <> 'UPDATE' OR TG_LEVEL <> 'ROW' OR NEW IS NULL THEN
        RAISE EXCEPTION 'commerce._sharing_on_complete must run AFTER UPDATE FOR EACH ROW';
    END IF;
    SELECT * INTO so FROM commerce.sharing_order WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id;
    -- not shared, or split when first completed (an after-sale that ends completes it again)
    IF NOT FOUND OR EXISTS (SELECT 1 FROM commerce.profit_split WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id) THEN
        RETURN NULL;
    END IF;
    SELECT time_zone INTO v_tz FROM commerce.tenant WHERE tenant_id = NEW.tenant_id;
    FOR s IN
        WITH l AS (
            SELECT sol.line_no, r.late_parts,
                   (((coalesce(NEW.completed_at, v_now) AT TIME ZONE v_tz)::date + r.cycle_days)::timestamp
                     AT TIME ZONE v_tz) AS cycle_due
              FROM commerce.sharing_order_line sol
              JOIN commerce.sharing_rule r ON r.tenant_id = sol.tenant_id AND r.rule_id = sol.rule_id
             WHERE sol.tenant_id = NEW.tenant_id AND sol.order_id = NEW.order_id),
        d AS (
            -- within the freeze: the gateway; a cycle past last_due is capped to it (or by transfer if the
            -- rule says so, and always once the freeze has ended)
            SELECT line_no,
                   CASE WHEN cycle_due <= so.last_due THEN 'gateway'
                        WHEN late_parts = 'cap' AND v_now < so.freeze_ends THEN 'gateway'
                        ELSE 'transfer' END AS method,
                   CASE WHEN cycle_due <= so.last_due OR late_parts = 'transfer' OR v_now >= so.freeze_ends THEN cycle_due
                        ELSE greatest(so.last_due, v_now) END AS due_at
              FROM l)
        SELECT method, due_at, array_agg(line_no ORDER BY line_no) AS lines FROM d GROUP BY method, due_at ORDER BY due_at, method
    LOOP
        n := n + 1;
        INSERT INTO commerce.profit_split (tenant_id, order_id, request_no, method, status, due_at, base_fen, parties_fen,
                                           owner_fen, created_at, payable_at)
        VALUES (NEW.tenant_id, NEW.order_id, format('PS%s-%s', NEW.order_id, n), s.method,
                CASE WHEN s.due_at <= v_now THEN 'payable' ELSE 'waiting' END, s.due_at, 0, 0, 0, v_now,
                CASE WHEN s.due_at <= v_now THEN v_now END)
        RETURNING split_id INTO v_split;
        INSERT INTO commerce.profit_split_part (tenant_id, split_id, line_no, party_no, receiver_id, amount_fen)
        SELECT NEW.tenant_id, v_split, p.line_no, p.party_no, p.receiver_id, p.amount_fen
          FROM commerce._split_parts(NEW.tenant_id, NEW.order_id, s.lines) p;
        PERFORM commerce._split_totals(NEW.tenant_id, v_split, NULL);
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._sharing_on_complete() IS
  'Trigger (orders, AFTER UPDATE OF status to completed): the first completion of a sharing order writes its splits, one per due date and method: due at the start of day T+cycle in the tenant''s calendar; a due date past the gateway''s last safe moment (payment + freeze - margin) is capped to it (at once when that has passed but the freeze has not), unless the rule pays late parts by transfer (and always by transfer once the freeze has ended). A split already due is payable at once.';

-- Set a split's totals from its parts; cancel it when the parties get nothing before submission.
CREATE FUNCTION commerce._split_totals(p_tenant bigint, p_split bigint, p_reason text)
RETURNS commerce.profit_split_row LANGUAGE plpgsql AS $$
DECLARE t record; s commerce.profit_split_row;
BEGIN
    SELECT coalesce(sum(amount_fen), 0)::bigint AS base, coalesce(sum(amount_fen) FILTER (WHERE party_no > 0), 0)::bigint AS parties
      INTO t FROM commerce.profit_split_part WHERE tenant_id = p_tenant AND split_id = p_split;
    UPDATE commerce.profit_split
       SET base_fen = t.base, parties_fen = t.parties, owner_fen = t.base - t.parties,
           status = CASE WHEN status IN ('waiting', 'payable', 'review', 'approved') AND t.parties = 0 THEN 'cancelled'
                         WHEN status IN ('review', 'approved') AND t.parties <> parties_fen THEN 'payable'
                         ELSE status END,
           ended_at = CASE WHEN status IN ('waiting', 'payable', 'review', 'approved') AND t.parties = 0
                           THEN commerce.now() ELSE ended_at END,
           reason = CASE WHEN status IN ('waiting', 'payable', 'review', 'approved') AND t.parties = 0
                         THEN coalesce(p_reason || ' left the parties nothing', 'nothing to share')
                         WHEN status IN ('review', 'approved') AND t.parties <> parties_fen
                         THEN left(p_reason || '; review again', 500)
                         ELSE reason END,
           reviewed_by = CASE WHEN status IN ('review', 'approved') AND t.parties <> parties_fen THEN NULL ELSE reviewed_by END,
           reviewed_at = CASE WHEN status IN ('review', 'approved') AND t.parties <> parties_fen THEN NULL ELSE reviewed_at END,
           decided_by = CASE WHEN status IN ('review', 'approved') AND t.parties <> parties_fen THEN NULL ELSE decided_by END,
           decided_at = CASE WHEN status IN ('review', 'approved') AND t.parties <> parties_fen THEN NULL ELSE decided_at END
     WHERE tenant_id = p_tenant AND split_id = p_split
    RETURNING * INTO s;
    IF s.status = 'cancelled' AND s.method = 'gateway' THEN
        PERFORM commerce._split_release(p_tenant, s.order_id);
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce._split_totals(bigint, bigint, text) IS
  'Set a split''s base, parties and owner amounts from its parts. Before submission, a split whose parties get nothing is cancelled, and a reviewed or approved one whose parties'' amount changed goes back to payable for review (p_reason says why).';

-- The return number of a merchant's return and the adjustment id it goes with.
CREATE FUNCTION commerce._next_adjustment() RETURNS bigint
LANGUAGE sql AS $$
    SELECT nextval(pg_get_serial_sequence('commerce.profit_split_adjustment', 'adjustment_id'));
$$;
COMMENT ON FUNCTION commerce._next_adjustment() IS
  'The next adjustment id (a return''s number is made from it before the row is written).';

-- Request a merchant's return through the outbox.
CREATE FUNCTION commerce._split_request_return(p_tenant bigint, p_adjustment bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE a record;
BEGIN
    UPDATE commerce.profit_split_adjustment SET status = 'requested', requested_at = commerce.now()
     WHERE tenant_id = p_tenant AND adjustment_id = p_adjustment AND kind = 'return' AND status = 'waiting'
    RETURNING * INTO a;
    IF a.adjustment_id IS NOT NULL THEN
        PERFORM commerce.enqueue(p_tenant, 'finance.split_return',
            (SELECT jsonb_build_object('return_no', a.return_no, 'request_no', s.request_no, 'order', o.external_order_id,
                                       'payment_id', o.payment_id, 'receiver', rc.code,
                                       'account', coalesce(l.account, rc.account),
                                       'amount_fen', a.amount_fen, 'reason', a.source_key)
               FROM commerce.profit_split s
               JOIN commerce.orders o ON o.tenant_id = s.tenant_id AND o.order_id = s.order_id
               JOIN commerce.sharing_receiver rc ON rc.tenant_id = s.tenant_id AND rc.receiver_id = a.receiver_id
               LEFT JOIN commerce.profit_split_line l ON l.tenant_id = s.tenant_id AND l.split_id = s.split_id
                                                    AND l.receiver_id = a.receiver_id
              WHERE s.tenant_id = p_tenant AND s.split_id = a.split_id),
            a.return_no);
    END IF;
END $$;
COMMENT ON FUNCTION commerce._split_request_return(bigint, bigint) IS
  'A waiting return of a finished split is requested: a finance.split_return message {return_no, request_no, order, payment_id, receiver, account, amount_fen, reason} (deduplicated by return_no).';

-- A refund event reaches the splits of its order.
CREATE FUNCTION commerce._sharing_on_refund() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_order_lines integer[]; v_lines integer[]; v_left bigint[]; v_weights bigint[]; v_alloc bigint[]; v_amount bigint; s record;
    v_old record; v_adj bigint; v_rcv record;
BEGIN
    IF TG_OP <> 'INSERT' OR TG_LEVEL <> 'ROW' OR NEW IS NULL THEN
        RAISE EXCEPTION 'commerce._sharing_on_refund must run AFTER INSERT FOR EACH ROW';
    END IF;
    IF NEW.kind <> 'refund' OR NEW.amount_fen <= 0 THEN
        RETURN NULL;
    END IF;
    -- the payment first, as submissions take it
    PERFORM 1 FROM commerce.sharing_order WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- the refund over the order's lines: the returned SKUs' lines only when it names goods, else every
    -- line, as each has left (weights and caps are the same: what is left of each line it may take)
    SELECT array_agg(sol.line_no ORDER BY sol.line_no), array_agg(sol.net_fen - sol.refunded_fen ORDER BY sol.line_no),
           array_agg(CASE WHEN jsonb_array_length(NEW.lines) = 0
                            OR EXISTS (SELECT 1 FROM jsonb_array_elements(NEW.lines) x WHERE x ->> 'sku' = sk.code)
                          THEN sol.net_fen - sol.refunded_fen ELSE 0 END ORDER BY sol.line_no)
      INTO v_order_lines, v_weights, v_left
      FROM (SELECT * FROM commerce.sharing_order_line
             WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id ORDER BY line_no FOR UPDATE) sol
      JOIN commerce.order_line ol ON ol.tenant_id = sol.tenant_id AND ol.order_id = sol.order_id AND ol.line_no = sol.line_no
      JOIN commerce.sku sk ON sk.tenant_id = ol.tenant_id AND sk.sku_id = ol.sku_id;
    -- what passes those goods (shipping, goodwill) touches no line
    v_amount := least(NEW.amount_fen, (SELECT coalesce(sum(x), 0) FROM unnest(v_left) x));
    IF v_amount <= 0 THEN
        RETURN NULL;
    END IF;
    v_alloc := commerce.allocate_fen(v_amount, v_weights, v_left);
    UPDATE commerce.sharing_order_line sol SET refunded_fen = sol.refunded_fen + a.fen
      FROM unnest(v_order_lines, v_alloc) a(line_no, fen)
     WHERE sol.tenant_id = NEW.tenant_id AND sol.order_id = NEW.order_id AND sol.line_no = a.line_no AND a.fen > 0;
    -- every live split of the order, in id order, under its row lock
    FOR s IN SELECT * FROM commerce.profit_split
              WHERE tenant_id = NEW.tenant_id AND order_id = NEW.order_id AND status NOT IN ('failed', 'cancelled')
              ORDER BY split_id FOR UPDATE LOOP
        v_lines := ARRAY(SELECT DISTINCT line_no FROM commerce.profit_split_part
                          WHERE tenant_id = NEW.tenant_id AND split_id = s.split_id ORDER BY 1);
        IF s.status IN ('waiting', 'payable', 'review', 'approved') THEN
            -- not paid yet: the parts are recomputed
            UPDATE commerce.profit_split_part p SET amount_fen = n.amount_fen
              FROM commerce._split_parts(NEW.tenant_id, NEW.order_id, v_lines) n
             WHERE p.tenant_id = NEW.tenant_id AND p.split_id = s.split_id AND p.line_no = n.line_no
               AND p.party_no = n.party_no AND p.amount_fen <> n.amount_fen;
            PERFORM commerce._split_totals(NEW.tenant_id, s.split_id, format('refund %s', NEW.source_key));
            CONTINUE;
        END IF;
        -- submitted or paid: each part is recomputed but never grows (the largest remainder can move a fen
        -- up when the base shrinks; what was paid stays paid, the owner keeps the fen), and what each
        -- receiver now earns less becomes a return (merchant) or a debt (person)
        FOR v_old IN
            SELECT p.receiver_id, sum(p.amount_fen - least(n.amount_fen, p.amount_fen))::bigint AS less
              FROM commerce.profit_split_part p
              JOIN commerce._split_parts(NEW.tenant_id, NEW.order_id, v_lines) n
                ON n.line_no = p.line_no AND n.party_no = p.party_no
             WHERE p.tenant_id = NEW.tenant_id AND p.split_id = s.split_id AND p.party_no > 0
             GROUP BY p.receiver_id HAVING sum(p.amount_fen - least(n.amount_fen, p.amount_fen)) > 0
             ORDER BY p.receiver_id LOOP
            SELECT kind INTO v_rcv FROM commerce.sharing_receiver WHERE tenant_id = NEW.tenant_id AND receiver_id = v_old.receiver_id;
            v_adj := commerce._next_adjustment();
            INSERT INTO commerce.profit_split_adjustment (tenant_id, adjustment_id, split_id, receiver_id, kind, source_key,
                                                         amount_fen, status, return_no, created_at)
            VALUES (NEW.tenant_id, v_adj, s.split_id, v_old.receiver_id,
                    CASE v_rcv.kind WHEN 'merchant' THEN 'return' ELSE 'debt' END, NEW.source_key, v_old.less,
                    'waiting', CASE WHEN v_rcv.kind = 'merchant' THEN format('%s-R%s', s.request_no, v_adj) END, commerce.now())
            ON CONFLICT (tenant_id, split_id, receiver_id, source_key) DO NOTHING;
            IF FOUND AND s.status = 'finished' THEN
                IF v_rcv.kind = 'merchant' THEN
                    PERFORM commerce._split_request_return(NEW.tenant_id, v_adj);
                ELSE
                    UPDATE commerce.profit_split_adjustment SET status = 'open'
                     WHERE tenant_id = NEW.tenant_id AND adjustment_id = v_adj;
                END IF;
            END IF;
        END LOOP;
        UPDATE commerce.profit_split_part p SET amount_fen = n.amount_fen
          FROM commerce._split_parts(NEW.tenant_id, NEW.order_id, v_lines) n
         WHERE p.tenant_id = NEW.tenant_id AND p.split_id = s.split_id AND p.line_no = n.line_no
           AND p.party_no = n.party_no AND p.party_no > 0 AND n.amount_fen < p.amount_fen;
        -- the owner's part of a line is its new base less the parties'
        UPDATE commerce.profit_split_part p
           SET amount_fen = b.base - (SELECT coalesce(sum(q.amount_fen), 0) FROM commerce.profit_split_part q
                                       WHERE q.tenant_id = p.tenant_id AND q.split_id = p.split_id
                                         AND q.line_no = p.line_no AND q.party_no > 0)
          FROM (SELECT n.line_no, sum(n.amount_fen) AS base
                  FROM commerce._split_parts(NEW.tenant_id, NEW.order_id, v_lines) n GROUP BY n.line_no) b
         WHERE p.tenant_id = NEW.tenant_id AND p.split_id = s.split_id AND p.party_no = 0 AND p.line_no = b.line_no;
        -- the totals follow the parts (the request lines keep what was paid; a submitted split's state
        -- is left as it is)
        PERFORM commerce._split_totals(NEW.tenant_id, s.split_id, format('refund %s', NEW.source_key));
    END LOOP;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION commerce._sharing_on_refund() IS
  'Trigger (order_event, AFTER INSERT of a refund): the refund is spread over the sharing order''s lines (only the returned SKUs'' lines when it names goods, else every line, in proportion to what is left of each, never above it; what passes those goods is shipping and touches no line), then every live split of the order under its row lock: one not yet submitted is recomputed (and goes back to review, or is cancelled when nothing is left for the parties); for one submitted or paid, each part is recomputed but never grows (what was paid stays paid; a fen the largest remainder would move up stays with the owner), and what each receiver now earns less becomes a return (merchant) or a debt (person), waiting until the split is finished, and its parts follow.';

-- Lock a split of the tenant; PT404 when there is none.
CREATE FUNCTION commerce._lock_split(p_tenant bigint, p_split bigint)
RETURNS commerce.profit_split_row LANGUAGE plpgsql AS $$
DECLARE s commerce.profit_split_row;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_split, 'p_split');
    SELECT * INTO s FROM commerce.profit_split WHERE tenant_id = p_tenant AND split_id = p_split FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('profit split', p_split::text, p_tenant);
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce._lock_split(bigint, bigint) IS 'Lock a split of the tenant (PT404 when there is none).';

-- Finance takes a payable split into review.
CREATE FUNCTION commerce.review_split(p_tenant bigint, p_split bigint, p_by text)
RETURNS commerce.profit_split_row LANGUAGE plpgsql AS $$
DECLARE s commerce.profit_split_row;
BEGIN
    PERFORM commerce._require(p_by, 'p_by');
    s := commerce._lock_split(p_tenant, p_split);
    IF s.status = 'review' THEN
        RETURN s;
    END IF;
    IF s.status <> 'payable' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('split %s is %s, not payable', p_split, s.status),
            DETAIL  = CASE s.status WHEN 'waiting' THEN format('It is due at %s.', s.due_at)
                                    ELSE 'Only a payable split is taken into review.' END,
            HINT    = 'List payable splits with commerce.profit_splits.';
    END IF;
    UPDATE commerce.profit_split SET status = 'review', reviewed_by = left(p_by, 64), reviewed_at = commerce.now()
     WHERE tenant_id = p_tenant AND split_id = p_split RETURNING * INTO s;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.review_split(bigint, bigint, text) IS
  'Finance takes a payable split into review (H3.7.2: "approved by finance"); again is a no-op. PT409 for a split in any other state.';

-- Finance approves or rejects a split under review (or a payable one, which passes review on the way).
CREATE FUNCTION commerce.decide_split(p_tenant bigint, p_split bigint, p_approve boolean, p_by text,
                                      p_reason text DEFAULT NULL)
RETURNS commerce.profit_split_row LANGUAGE plpgsql AS $$
DECLARE s commerce.profit_split_row;
BEGIN
    PERFORM commerce._require(p_approve, 'p_approve');
    PERFORM commerce._require(p_by, 'p_by');
    IF NOT p_approve AND (p_reason IS NULL OR length(btrim(p_reason)) = 0) THEN
        PERFORM commerce._invalid('p_reason', 'A rejection without a reason.', 'Say why the split is rejected.');
    END IF;
    IF length(p_reason) > 500 THEN
        PERFORM commerce._invalid('p_reason', format('%s characters', length(p_reason)), 'A reason is at most 500 characters.');
    END IF;
    PERFORM commerce._lock_split_order(p_tenant, p_split);
    s := commerce._lock_split(p_tenant, p_split);
    IF (p_approve AND s.status IN ('approved', 'submitted', 'accepted', 'finished'))
       OR (NOT p_approve AND s.status = 'failed' AND s.reason LIKE 'rejected by finance: %') THEN
        RETURN s;
    END IF;
    IF s.status = 'payable' THEN
        s := commerce.review_split(p_tenant, p_split, p_by);
    END IF;
    IF s.status <> 'review' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('split %s is %s and cannot be %s', p_split, s.status,
                             CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END),
            DETAIL  = 'Finance decides payable splits and splits under review.',
            HINT    = CASE WHEN s.status = 'waiting' THEN format('It is due at %s.', s.due_at) ELSE 'Look the split up.' END;
    END IF;
    UPDATE commerce.profit_split
       SET status = CASE WHEN p_approve THEN 'approved' ELSE 'failed' END,
           decided_by = left(p_by, 64), decided_at = commerce.now(),
           ended_at = CASE WHEN p_approve THEN NULL ELSE commerce.now() END,
           reason = CASE WHEN p_approve THEN p_reason ELSE 'rejected by finance: ' || p_reason END
     WHERE tenant_id = p_tenant AND split_id = p_split RETURNING * INTO s;
    IF NOT p_approve AND s.method = 'gateway' THEN
        PERFORM commerce._split_release(p_tenant, s.order_id);
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.decide_split(bigint, bigint, boolean, text, text) IS
  'Finance approves a split (it is submitted by commerce.submit_split or the commerce-splits job) or rejects it with a reason (failed: nothing is paid, the money stays with the owner). A payable split passes review on the way. Deciding the same way again is a no-op; PT409 in any other state, 22023 for a rejection without a reason.';

-- Submit an approved split: its request lines (persons' debts netted) and one outbox message.
CREATE FUNCTION commerce.submit_split(p_tenant bigint, p_split bigint)
RETURNS commerce.profit_split_row LANGUAGE plpgsql AS $$
DECLARE s commerce.profit_split_row; r record; d record; v_left bigint; v_net bigint; v_netted bigint := 0;
        v_paid bigint := 0; v_lines jsonb := '[]'::jsonb; o record; v_freeze timestamptz; v_finish boolean;
        v_inactive text;
BEGIN
    -- the payment first (its splits decide together which one finishes it), then the split
    PERFORM commerce._lock_split_order(p_tenant, p_split);
    s := commerce._lock_split(p_tenant, p_split);
    IF s.status IN ('submitted', 'accepted', 'finished') THEN
        RETURN s;      -- submitted once: a retry sends nothing new (the outbox retries the one message)
    END IF;
    IF s.status <> 'approved' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('split %s is %s, not approved', p_split, s.status),
            DETAIL  = 'Only a split finance approved is submitted.',
            HINT    = 'Approve it with commerce.decide_split first.';
    END IF;
    -- past the freeze the gateway has released the payment: what is left is paid by transfer
    SELECT freeze_ends INTO v_freeze FROM commerce.sharing_order WHERE tenant_id = p_tenant AND order_id = s.order_id;
    IF s.method = 'gateway' AND commerce.now() >= v_freeze THEN
        UPDATE commerce.profit_split SET method = 'transfer',
               reason = left(coalesce(reason || '; ', '') || format('the gateway''s freeze ended at %s: paid by transfer', v_freeze), 500)
         WHERE tenant_id = p_tenant AND split_id = p_split RETURNING * INTO s;
    END IF;
    -- a receiver the gateway no longer knows would fail the whole gateway request
    SELECT string_agg(DISTINCT rc.code, ', ') INTO v_inactive
      FROM commerce.profit_split_part p
      JOIN commerce.sharing_receiver rc ON rc.tenant_id = p.tenant_id AND rc.receiver_id = p.receiver_id
     WHERE p.tenant_id = p_tenant AND p.split_id = p_split AND p.party_no > 0 AND p.amount_fen > 0 AND NOT rc.active;
    IF v_inactive IS NOT NULL AND s.method = 'gateway' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('split %s pays inactive receivers: %s', p_split, v_inactive),
            DETAIL  = 'The gateway pays only receivers added to it; an inactive one was removed.',
            HINT    = 'Activate the receiver again (commerce.upsert_sharing_receiver), or reject the split and pay that part another way.';
    END IF;
    -- the debts this request may net, locked once in one order (adjustment id) before any is changed
    PERFORM 1 FROM commerce.profit_split_adjustment a
     WHERE a.tenant_id = p_tenant AND a.kind = 'debt' AND a.status = 'open'
       AND a.receiver_id IN (SELECT p.receiver_id FROM commerce.profit_split_part p
                              WHERE p.tenant_id = p_tenant AND p.split_id = p_split AND p.party_no > 0)
     ORDER BY a.adjustment_id FOR UPDATE;
    FOR r IN SELECT p.receiver_id, rc.code, rc.kind, rc.account, rc.name, sum(p.amount_fen)::bigint AS earned
               FROM commerce.profit_split_part p
               JOIN commerce.sharing_receiver rc ON rc.tenant_id = p.tenant_id AND rc.receiver_id = p.receiver_id
              WHERE p.tenant_id = p_tenant AND p.split_id = p_split AND p.party_no > 0
              GROUP BY p.receiver_id, rc.code, rc.kind, rc.account, rc.name
             HAVING sum(p.amount_fen) > 0
              ORDER BY p.receiver_id LOOP
        v_left := r.earned;
        IF r.kind = 'personal' THEN
            -- a person's open debts, oldest first, are kept back from what it earns here
            FOR d IN SELECT adjustment_id, amount_fen - netted_fen AS owed FROM commerce.profit_split_adjustment
                      WHERE tenant_id = p_tenant AND receiver_id = r.receiver_id AND kind = 'debt' AND status = 'open'
                      ORDER BY adjustment_id FOR UPDATE LOOP
                EXIT WHEN v_left = 0;
                v_net := least(v_left, d.owed);
                INSERT INTO commerce.profit_split_net (tenant_id, split_id, adjustment_id, amount_fen, created_at)
                VALUES (p_tenant, p_split, d.adjustment_id, v_net, commerce.now());
                UPDATE commerce.profit_split_adjustment
                   SET netted_fen = netted_fen + v_net,
                       status = CASE WHEN netted_fen + v_net = amount_fen THEN 'netted' ELSE status END,
                       ended_at = CASE WHEN netted_fen + v_net = amount_fen THEN commerce.now() END
                 WHERE tenant_id = p_tenant AND adjustment_id = d.adjustment_id;
                v_left := v_left - v_net;
            END LOOP;
        END IF;
        INSERT INTO commerce.profit_split_line (tenant_id, split_id, receiver_id, account, name, earned_fen, netted_fen, paid_fen)
        VALUES (p_tenant, p_split, r.receiver_id, r.account, r.name, r.earned, r.earned - v_left, v_left);
        v_netted := v_netted + r.earned - v_left;
        v_paid := v_paid + v_left;
        IF v_left > 0 THEN
            v_lines := v_lines || jsonb_build_object('receiver', r.code, 'kind', r.kind, 'account', r.account,
                                                     'name', r.name, 'amount_fen', v_left);
        END IF;
    END LOOP;
    -- the last live gateway split of a payment releases the rest of it to the owner; an earlier one
    -- leaves the rest frozen for the next
    v_finish := s.method = 'gateway' AND NOT EXISTS (
        SELECT 1 FROM commerce.profit_split x
         WHERE x.tenant_id = p_tenant AND x.order_id = s.order_id AND x.split_id <> p_split AND x.method = 'gateway'
           AND x.status IN ('waiting', 'payable', 'review', 'approved'));
    IF v_paid = 0 THEN
        -- debts took it all: nothing goes to the gateway (a last split still releases the rest)
        UPDATE commerce.profit_split SET status = 'finished', netted_fen = v_netted, ended_at = commerce.now(),
               submitted_at = commerce.now(), finishes = v_finish, reason = 'nothing to pay: debts netted it all'
         WHERE tenant_id = p_tenant AND split_id = p_split RETURNING * INTO s;
        IF v_finish THEN
            PERFORM commerce._split_release(p_tenant, s.order_id);
        END IF;
        RETURN s;
    END IF;
    SELECT external_order_id, payment_id INTO o FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = s.order_id;
    PERFORM commerce.enqueue(p_tenant, CASE s.method WHEN 'gateway' THEN 'finance.split' ELSE 'finance.transfer' END,
        jsonb_build_object('request_no', s.request_no, 'split', s.split_id, 'order', o.external_order_id,
                           'payment_id', o.payment_id, 'method', s.method, 'receivers', v_lines,
                           'amount_fen', v_paid, 'finish', v_finish),
        s.request_no);
    UPDATE commerce.profit_split SET status = 'submitted', netted_fen = v_netted, submitted_at = commerce.now(),
           finishes = v_finish
     WHERE tenant_id = p_tenant AND split_id = p_split RETURNING * INTO s;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.submit_split(bigint, bigint) IS
  'Submit an approved split (H3.7.2): one request line per receiver with the account and name it goes to and what it earned, a person''s open debts (refunds after earlier splits) netted oldest first (locked up front in one order), and one message to the outbox, finance.split (through the gateway; finish: true only on the last live gateway split of the payment, which releases the rest to the owner) or finance.transfer, with the split''s request_no as its key, stable across retries. A gateway split whose payment''s freeze has ended goes by transfer. Submitting again is a no-op; a split whose debts took everything is finished at once. PT409 unless approved, or when it pays an inactive receiver.';

-- Release the rest of a payment to the owner when its last gateway split will send no request.
CREATE FUNCTION commerce._split_release(p_tenant bigint, p_order bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- when no gateway split of the payment is live any more and none that went through finished it
    IF NOT EXISTS (SELECT 1 FROM commerce.profit_split WHERE tenant_id = p_tenant AND order_id = p_order
                      AND method = 'gateway' AND status IN ('waiting', 'payable', 'review', 'approved'))
       AND NOT EXISTS (SELECT 1 FROM commerce.profit_split WHERE tenant_id = p_tenant AND order_id = p_order
                          AND method = 'gateway' AND finishes AND status IN ('submitted', 'accepted', 'finished')) THEN
        PERFORM commerce.enqueue(p_tenant, 'finance.split_finish',
            (SELECT jsonb_build_object('order', external_order_id, 'payment_id', payment_id)
               FROM commerce.orders WHERE tenant_id = p_tenant AND order_id = p_order),
            'finish:' || p_order);
    END IF;
END $$;
COMMENT ON FUNCTION commerce._split_release(bigint, bigint) IS
  'When an order''s last live gateway split ends without finishing the payment itself (cancelled by refunds, rejected by finance, failed at the gateway, netted to nothing) and no request that went through finished it, ask the gateway to release the rest of the payment to the owner: finance.split_finish {order, payment_id}, once.';

-- Lock the sharing order of a split (PT404 when there is no split): splits of one payment decide together.
CREATE FUNCTION commerce._lock_split_order(p_tenant bigint, p_split bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM commerce.sharing_order so
     WHERE so.tenant_id = p_tenant
       AND so.order_id = (SELECT s.order_id FROM commerce.profit_split s WHERE s.tenant_id = p_tenant AND s.split_id = p_split)
       FOR UPDATE;
END $$;
COMMENT ON FUNCTION commerce._lock_split_order(bigint, bigint) IS
  'Lock the sharing order a split belongs to, before the split itself: submission, rejection, gateway results and refunds of one payment''s splits are serialized, so exactly one of them finishes the payment. Lock order: sharing order, then its splits, then debts by id.';

-- The payment gateway (or the transfer) reports a split's outcome.
CREATE FUNCTION commerce.record_split_result(p_tenant bigint, p_request_no text, p_status text, p_reason text DEFAULT NULL)
RETURNS commerce.profit_split_row LANGUAGE plpgsql AS $$
DECLARE s commerce.profit_split_row; v_id bigint; a record; n record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_request_no, 'p_request_no');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('accepted', 'finished', 'failed') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', left(p_status, 80)),
            'accepted (the gateway took the request), finished (paid) or failed.');
    END IF;
    IF p_status = 'failed' AND (p_reason IS NULL OR length(btrim(p_reason)) = 0) THEN
        PERFORM commerce._invalid('p_reason', 'A failure without a reason.', 'Pass the gateway''s error code and message.');
    END IF;
    SELECT split_id INTO v_id FROM commerce.profit_split WHERE tenant_id = p_tenant AND request_no = p_request_no;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('split request', p_request_no, p_tenant);
    END IF;
    PERFORM commerce._lock_split_order(p_tenant, v_id);
    s := commerce._lock_split(p_tenant, v_id);
    -- repeats and late callbacks change nothing
    IF s.status = p_status OR (p_status = 'accepted' AND s.status = 'finished') THEN
        RETURN s;
    END IF;
    IF s.status NOT IN ('submitted', 'accepted') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('split %s is %s; a gateway result "%s" does not apply', p_request_no, s.status, p_status),
            DETAIL  = 'Results are for submitted splits; a finished split never fails and a failed one never finishes.',
            HINT    = 'Reconcile the split bill to find out what the gateway did.';
    END IF;
    UPDATE commerce.profit_split
       SET status = p_status,
           accepted_at = CASE WHEN p_status = 'accepted' THEN commerce.now() ELSE accepted_at END,
           ended_at = CASE WHEN p_status IN ('finished', 'failed') THEN commerce.now() END,
           reason = CASE WHEN p_status = 'failed' THEN left('gateway: ' || p_reason, 500) ELSE reason END
     WHERE tenant_id = p_tenant AND split_id = v_id RETURNING * INTO s;
    IF p_status = 'finished' THEN
        -- what refunds took back while it was in flight is now due from the receivers
        FOR a IN SELECT adjustment_id, kind FROM commerce.profit_split_adjustment
                  WHERE tenant_id = p_tenant AND split_id = v_id AND status = 'waiting' ORDER BY adjustment_id LOOP
            IF a.kind = 'return' THEN
                PERFORM commerce._split_request_return(p_tenant, a.adjustment_id);
            ELSE
                UPDATE commerce.profit_split_adjustment SET status = 'open'
                 WHERE tenant_id = p_tenant AND adjustment_id = a.adjustment_id;
            END IF;
        END LOOP;
    ELSIF p_status = 'failed' THEN
        -- nothing was paid: its adjustments are void and the debts it netted are owed again
        UPDATE commerce.profit_split_adjustment SET status = 'cancelled', ended_at = commerce.now(),
               reason = 'the split failed'
         WHERE tenant_id = p_tenant AND split_id = v_id AND status = 'waiting';
        FOR n IN SELECT adjustment_id, amount_fen FROM commerce.profit_split_net
                  WHERE tenant_id = p_tenant AND split_id = v_id ORDER BY adjustment_id LOOP
            UPDATE commerce.profit_split_adjustment
               SET netted_fen = netted_fen - n.amount_fen, status = 'open', ended_at = NULL
             WHERE tenant_id = p_tenant AND adjustment_id = n.adjustment_id;
        END LOOP;
        IF s.method = 'gateway' THEN
            PERFORM commerce._split_release(p_tenant, s.order_id);
        END IF;
    END IF;
    RETURN s;
END $$;
COMMENT ON FUNCTION commerce.record_split_result(bigint, text, text, text) IS
  'The payment adapter reports a split request''s outcome by its request_no: accepted, finished (paid: waiting returns are requested, waiting debts open) or failed with the gateway''s reason (waiting adjustments are cancelled and the debts it netted are owed again). Repeats are no-ops; PT409 for a result that contradicts the split''s state.';

-- The gateway reports a merchant's return.
CREATE FUNCTION commerce.record_split_return(p_tenant bigint, p_return_no text, p_status text, p_reason text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE a record;
BEGIN
    PERFORM commerce._tenant(p_tenant);
    PERFORM commerce._require(p_return_no, 'p_return_no');
    PERFORM commerce._require(p_status, 'p_status');
    IF p_status NOT IN ('returned', 'failed') THEN
        PERFORM commerce._invalid('p_status', format('"%s"', left(p_status, 80)), 'returned or failed.');
    END IF;
    IF p_status = 'failed' AND (p_reason IS NULL OR length(btrim(p_reason)) = 0) THEN
        PERFORM commerce._invalid('p_reason', 'A failure without a reason.', 'Pass the gateway''s error code and message.');
    END IF;
    SELECT * INTO a FROM commerce.profit_split_adjustment
     WHERE tenant_id = p_tenant AND return_no = p_return_no FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM commerce._not_found('split return', p_return_no, p_tenant);
    END IF;
    IF a.status <> p_status THEN
        IF a.status <> 'requested' THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('return %s is %s; "%s" does not apply', p_return_no, a.status, p_status),
                DETAIL  = 'Results are for requested returns.',
                HINT    = 'Reconcile the split bill to find out what the gateway did.';
        END IF;
        UPDATE commerce.profit_split_adjustment
           SET status = p_status, ended_at = commerce.now(),
               reason = CASE WHEN p_status = 'failed' THEN left('gateway: ' || p_reason, 500) END
         WHERE tenant_id = p_tenant AND adjustment_id = a.adjustment_id
        RETURNING * INTO a;
    END IF;
    RETURN jsonb_build_object('return_no', a.return_no, 'status', a.status, 'amount_fen', a.amount_fen, 'reason', a.reason);
END $$;
COMMENT ON FUNCTION commerce.record_split_return(bigint, text, text, text) IS
  'The payment adapter reports a merchant''s return by its return_no: returned, or failed with the gateway''s reason (finance then recovers it another way; the split report lists it). Repeats are no-ops; PT409 when the return is not requested.';

-- The job: due splits become payable, approved ones are submitted.
CREATE FUNCTION commerce.split_pump(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer := 0; s record;
BEGIN
    PERFORM commerce._require(p_limit, 'p_limit');
    WITH due AS (
        SELECT tenant_id, split_id FROM commerce.profit_split
         WHERE status = 'waiting' AND due_at <= commerce.now()
         ORDER BY due_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    UPDATE commerce.profit_split x SET status = 'payable', payable_at = commerce.now()
      FROM due WHERE x.tenant_id = due.tenant_id AND x.split_id = due.split_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    FOR s IN SELECT tenant_id, split_id FROM commerce.profit_split
              WHERE status = 'approved' ORDER BY due_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
        BEGIN
            PERFORM commerce.submit_split(s.tenant_id, s.split_id);
            n := n + 1;
        EXCEPTION WHEN OTHERS THEN
            -- one split that cannot be submitted does not hold back the others; it stays approved
            RAISE WARNING 'commerce: split % of tenant % not submitted: %', s.split_id, s.tenant_id, SQLERRM;
        END;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION commerce.split_pump(integer) IS
  'The commerce-splits job''s batch (every 10 minutes, through commerce.run_pump): waiting splits whose due time came become payable, approved splits are submitted (commerce.submit_split; one that fails stays approved with a warning and does not hold back the others), up to p_limit of each, skipping rows another session holds. Returns how many it moved (a split that could not be submitted is not counted, so the pump does not loop on it).';

-- The job, committed per batch.
CREATE PROCEDURE commerce.splits_pump(p_batch integer DEFAULT 1000, p_max_batches integer DEFAULT 100)
LANGUAGE plpgsql AS $$
BEGIN
    CALL commerce.run_pump('commerce.split_pump', p_batch, p_max_batches);
END $$;
COMMENT ON PROCEDURE commerce.splits_pump(integer, integer) IS
  'The profit-sharing job (pg_cron, every 10 minutes): due splits become payable and approved ones are submitted (commerce.split_pump), committed per batch.';

INSERT INTO commerce.job (job_name, schedule, command) VALUES
  ('commerce-splits', '*/10 * * * *', 'CALL commerce.splits_pump()');

CREATE TRIGGER after_80_sharing_paid AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status = 'pending_payment')
    EXECUTE FUNCTION commerce._sharing_on_paid();
CREATE TRIGGER after_81_sharing_completed AFTER UPDATE OF status ON commerce.orders
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status IS DISTINCT FROM 'completed')
    EXECUTE FUNCTION commerce._sharing_on_complete();
CREATE TRIGGER after_80_sharing_refund AFTER INSERT ON commerce.order_event
    FOR EACH ROW WHEN (NEW.kind = 'refund')
    EXECUTE FUNCTION commerce._sharing_on_refund();

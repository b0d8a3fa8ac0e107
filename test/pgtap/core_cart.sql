-- core_cart.sql: one rule for the lines of a cart or an order. reserve (a
-- cart as text), place_order (an order as jsonb) and commerce._cart_lines
-- read quantities with the same C parser, so every spelling of a quantity
-- gets the same answer from each; before 0.7.0, 1e0 was refused by one and
-- accepted by the other, and 1.0 gave place_order a raw 22P02. The goods of
-- an after-sale request are read the same way.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(23);

\o /dev/null
SET LOCAL commerce.now = '2030-01-01 10:00:00+08';
SELECT commerce.create_tenant('c1', 'Carts') AS t \gset
SELECT commerce.upsert_product(:t, 'P', 'Goods') > 0;
SELECT commerce.upsert_sku(:t, 'P', 'A1', 'A1', 100) > 0;
SELECT commerce.receive_stock(:t, 'r', 'A1', 2000000) > 0;
-- what a call gives, undone: 'ok:<units>' or '<SQLSTATE> <message>'
CREATE FUNCTION pg_temp.outcome(q text, units text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
DECLARE v text;
BEGIN
    BEGIN
        EXECUTE q INTO v;
        IF units IS NOT NULL THEN
            EXECUTE units INTO v;   -- the units the call wrote, seen by a later statement
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ok:' || coalesce(v, 'none');
    EXCEPTION WHEN OTHERS THEN
        RETURN CASE WHEN SQLSTATE = 'P0001' THEN SQLERRM ELSE SQLSTATE || ' ' || SQLERRM END;
    END;
END $$;
CREATE TEMP TABLE spelling (qty text, want text);
INSERT INTO spelling VALUES
    ('1', 'ok:1'), ('1.0', 'ok:1'), ('1e0', 'ok:1'), ('2.00', 'ok:2'), ('25E-1', '22023 invalid cart: lines[0].qty: expected an integer'),
    ('1.5', '22023 invalid cart: lines[0].qty: expected an integer'),
    ('"2"', '22023 invalid cart: lines[0].qty: expected an integer'),
    ('null', '22023 invalid cart: lines[0].qty: expected an integer'),
    ('true', '22023 invalid cart: lines[0].qty: expected an integer'),
    ('0', '22023 invalid cart: lines[0].qty: out of range'),
    ('-1', '22023 invalid cart: lines[0].qty: out of range'),
    ('1000000', 'ok:1000000'),
    ('1000001', '22023 invalid cart: lines[0].qty: out of range'),
    ('1e20', '22023 invalid cart: lines[0].qty: out of range'),
    ('100000000000000000000', '22023 invalid cart: lines[0].qty: out of range'),
    ('1e309', '22023 invalid cart: lines: a number is out of range');
CREATE TEMP TABLE answer AS
SELECT s.qty, s.want,
       pg_temp.outcome(format($q$SELECT string_agg(qty::text, ',') FROM commerce._cart_lines(%L)$q$,
                              '[{"sku":"A1","qty":' || s.qty || '}]')) AS cart_lines,
       pg_temp.outcome(format($q$SELECT reservation_id FROM commerce.reserve(%s, 'rq', 'h', %L)$q$,
                              :t, '[{"sku":"A1","qty":' || s.qty || '}]'),
                       format($q$SELECT sum(qty)::text FROM commerce.reservation_line WHERE tenant_id = %s$q$, :t)) AS reserve,
       pg_temp.outcome(format($q$SELECT order_id FROM commerce.place_order(%s, 'po', 'h5', %L)$q$,
                              :t, '{"lines":[{"sku":"A1","qty":' || s.qty || '}]}'),
                       format($q$SELECT sum(qty)::text FROM commerce.order_line WHERE tenant_id = %s$q$, :t)) AS place_order
  FROM spelling s;
\o

SELECT is(cart_lines || ' | ' || reserve || ' | ' || place_order, want || ' | ' || want || ' | ' || want,
          format('qty %s: _cart_lines, reserve and place_order all give %s', qty, want))
  FROM answer ORDER BY qty;

-- nothing of those calls stayed
SELECT is((SELECT count(*)::int FROM commerce.reservation WHERE tenant_id = :t) +
          (SELECT count(*)::int FROM commerce.orders WHERE tenant_id = :t), 0, 'the probes left no reservation or order');

-- after-sale goods: 1.0 is one unit (0.6.0: a raw 22P02), 1.5 a clear 22023
\o /dev/null
SELECT order_id AS o FROM commerce.place_order(:t, 'o1', 'h5', '{"lines":[{"sku":"A1","qty":2}]}') \gset
SELECT commerce.pay_order(:t, :o, 'pay-1', 200);
SELECT order_id AS o2 FROM commerce.place_order(:t, 'o2', 'h5', '{"lines":[{"sku":"A1","qty":1}]}') \gset
SELECT commerce.pay_order(:t, :o2, 'pay-2', 100);
\o
SELECT throws_ok(format($$SELECT commerce.request_after_sale(%s, 'as2', %s, 'return_refund', 100, 'x', '[{"sku":"A1","qty":1.5}]')$$, :t, :o),
    '22023', 'invalid value for p_lines', 'request_after_sale: qty 1.5 -> 22023 naming p_lines');
SELECT is((SELECT lines::text FROM commerce.request_after_sale(:t, 'as1', :o, 'return_refund', 100, 'x',
                                                              '[{"sku":"A1","qty":1.0}]')),
          '[{"qty": 1, "sku": "A1"}]', 'request_after_sale: qty 1.0 is one unit, stored as 1');
SELECT is((SELECT lines::text FROM commerce.request_after_sale(:t, 'as0', :o2, 'refund_only', 50, 'x', '[]')), '[]',
          'request_after_sale: a refund only may name no goods ([])');
SELECT throws_ok($$SELECT * FROM commerce._cart_lines(NULL)$$, '22004', 'argument p_cart must not be null', '_cart_lines: NULL -> 22004');
SELECT throws_ok($$SELECT * FROM commerce._cart_lines('[{"sku":"A1","qty":1')$$, '22P02', 'malformed cart JSON', '_cart_lines: not JSON -> 22P02');
SELECT is((SELECT string_agg(line_no || ':' || sku || ':' || qty || ':' || coalesce(warehouse, '-'), ' ' ORDER BY line_no)
             FROM commerce._cart_lines('{"lines":[{"sku":"A1","qty":2},{"sku":"B2","qty":3e0,"warehouse":"gz"}]}')),
          '1:A1:2:- 2:B2:3:gz', '_cart_lines: the lines, numbered, with their warehouse');

SELECT * FROM finish();
ROLLBACK;

#!/usr/bin/env bash
# Attribution against a known truth (issue 4): 40 KOCs, 800 visitors, 6,000
# generated clicks over 30 days and 2,000 orders at random moments, plus 200
# orders placed exactly at and one microsecond inside the 7-day window edge.
# Every order's attribution must equal the one computed independently from
# the generated click events (the last click within the window).
. "$(dirname "$0")/lib/common.sh"
fresh_db attribution

q >/dev/null <<'SQL'
CREATE EXTENSION commerce;
CALL commerce.provision();
SELECT commerce.create_tenant('attr', 'Attribution');
SELECT commerce.upsert_product(commerce.tenant_id('attr'), 'P', 'Goods');
SELECT commerce.upsert_sku(commerce.tenant_id('attr'), 'P', 'SKU', 'SKU', 1000);
SELECT commerce.receive_stock(commerce.tenant_id('attr'), 'rcv', 'SKU', 1000000);
SELECT commerce.upsert_customer(commerce.tenant_id('attr'), 'k' || i) FROM generate_series(1, 40) i;
SELECT commerce.upsert_koc(commerce.tenant_id('attr'), 'K' || i, 'k' || i, 'KOC ' || i) FROM generate_series(1, 40) i;
SELECT commerce.upsert_customer(commerce.tenant_id('attr'), 'v' || i) FROM generate_series(1, 800) i;
CREATE TABLE public.code AS SELECT i AS koc, commerce.tracking_link(commerce.tenant_id('attr'), 'K' || i) AS code
  FROM generate_series(1, 40) i;

-- generated click events: distinct whole hours per visitor (no dedupe can merge them)
SELECT setseed(0.42);
CREATE TABLE public.gen_click AS
SELECT DISTINCT ON (visitor, at) visitor, koc, at FROM (
    SELECT 'v' || (1 + floor(random() * 800))::int AS visitor, (1 + floor(random() * 40))::int AS koc,
           timestamptz '2026-10-01 00:00+08' + make_interval(hours => floor(random() * 720)::int) AS at
      FROM generate_series(1, 6000)) x ORDER BY visitor, at;
CREATE TABLE public.gen_order AS
SELECT row_number() OVER () AS n, 'v' || (1 + floor(random() * 800))::int AS visitor,
       timestamptz '2026-10-01 00:00+08' + make_interval(secs => floor(random() * 34 * 86400)) AS at
  FROM generate_series(1, 2000);
-- window edges: exactly 7 days after a click (outside) and one microsecond before (inside)
INSERT INTO public.gen_order
SELECT 2000 + rn, visitor,
       at + interval '7 days' - CASE WHEN rn % 2 = 0 THEN interval '0' ELSE interval '1 microsecond' END
  FROM (SELECT visitor, at, row_number() OVER (ORDER BY visitor, at) AS rn
          FROM public.gen_click ORDER BY visitor, at LIMIT 200) c;

-- replay the clicks at their moments, then the orders at theirs
DO $$
DECLARE c record; o record;
BEGIN
    FOR c IN SELECT g.*, k.code FROM public.gen_click g JOIN public.code k USING (koc) ORDER BY at LOOP
        PERFORM set_config('commerce.now', c.at::text, true);
        PERFORM commerce.record_click(commerce.tenant_id('attr'), c.code, c.visitor);
    END LOOP;
    FOR o IN SELECT * FROM public.gen_order ORDER BY n LOOP
        PERFORM set_config('commerce.now', o.at::text, true);
        PERFORM commerce.place_order(commerce.tenant_id('attr'), 'o' || o.n, 'h5',
                                     '{"lines":[{"sku":"SKU","qty":1}]}', o.visitor);
    END LOOP;
END $$;
SQL
# the truth, from the generated events only
q >/dev/null <<'SQL'
CREATE TABLE public.truth AS
SELECT o.n, (SELECT 'K' || c.koc FROM public.gen_click c
              WHERE c.visitor = o.visitor AND c.at <= o.at AND c.at > o.at - interval '7 days'
              ORDER BY c.at DESC LIMIT 1) AS koc
  FROM public.gen_order o;
SQL
total=$(q -c "SELECT count(*) FROM public.gen_order")
attributed=$(q -c "SELECT count(*) FROM public.truth WHERE koc IS NOT NULL")
correct=$(q -c "SELECT count(*) FROM public.truth t JOIN commerce.orders o ON o.external_order_id = 'o' || t.n LEFT JOIN commerce.koc k ON k.tenant_id = o.tenant_id AND k.koc_id = o.koc_id WHERE k.code IS NOT DISTINCT FROM t.koc")
edges=$(q -c "SELECT count(*) FROM public.truth t JOIN commerce.orders o ON o.external_order_id = 'o' || t.n LEFT JOIN commerce.koc k ON k.tenant_id = o.tenant_id AND k.koc_id = o.koc_id WHERE t.n > 2000 AND k.code IS NOT DISTINCT FROM t.koc")
echo "attribution: $total orders ($attributed attributable) over $(q -c "SELECT count(*) FROM commerce.click") clicks; $correct correct"
check "orders placed" "$(q -c "SELECT count(*) FROM commerce.orders")" "$total"
check "orders attributed as the truth says" "$correct" "$total"
check "window-edge orders correct" "$edges" "$(( total - 2000 ))"
check "accuracy >= 99.9%" "$(awk -v c="$correct" -v t="$total" 'BEGIN { print (c / t >= 0.999) ? "yes" : "no" }')" "yes"
exit $FAILED

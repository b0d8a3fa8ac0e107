-- test/gateway/console_data.sql: a day of the shop for the console to show
-- (after fixture.sql): three fans click KOC li's link, buy the flash sale
-- and pay, two of them consume lessons at the studio; a group of two fills.
SET client_min_messages = warning;
SELECT count(commerce.upsert_customer(commerce.tenant_id('shop'), c)) AS fans FROM unnest(ARRAY['f1', 'f2', 'f3', 'g1', 'g2']) c;
SELECT count(*) AS clicks FROM unnest(ARRAY['f1', 'f2', 'f3']) c,
       LATERAL commerce.record_click(commerce.tenant_id('shop'), commerce.tracking_link(commerce.tenant_id('shop'), 'koc-li'), c);
SELECT count(commerce.pay_order(commerce.tenant_id('shop'), o.order_id, 'wx-' || c, o.payable_fen)) AS paid
  FROM unnest(ARRAY['f1', 'f2', 'f3']) c,
       LATERAL commerce.buy_play(commerce.tenant_id('shop'), 'buy-' || c, 'FLASH10', c) o;
SELECT count(*) AS consumed FROM (VALUES ('f1', 3), ('f2', 10)) v(c, n)
  JOIN commerce.customer cu ON cu.tenant_id = commerce.tenant_id('shop') AND cu.code = v.c
  JOIN commerce.user_asset a ON a.tenant_id = cu.tenant_id AND a.customer_id = cu.customer_id,
  LATERAL commerce.consume_asset(cu.tenant_id, 'use-' || v.c, a.asset_id, v.n, 'SH-01', 'clerk-wang');
SELECT outcome FROM commerce.join_group(commerce.tenant_id('shop'), 'g-1', 'DUO', 'g1', 'wx-g1');
SELECT outcome FROM commerce.join_group(commerce.tenant_id('shop'), 'g-2', 'DUO', 'g2', 'wx-g2',
       (SELECT max(instance_id) FROM commerce.play_instance));

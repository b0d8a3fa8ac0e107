#!/usr/bin/env bash
# make demo: a creator's shop sells one stock pool on every channel, then runs
# a live-stream flash sale on one hot SKU: 60 concurrent buyers try 1,200
# times for 300 units set aside for the sale; 70% pay at once, the rest
# abandon their carts, which expire. Prints sold / reserved / expired /
# rejected and the invariant check. Then the KOC story (sections 9-14) and the
# plays story (15-16: HQ template, store group buy, a group that fills, one
# that fails and is refunded, lessons consumed, the activity dashboard and
# the store's settlement), and the members story (17: one person on three
# channels, points, the points mall, a yearly card, its discount, priority
# shipping and monthly gift), and the CRM story (18: levels, a rule tag and a
# segment kept current by the pump, a welcome flow that wakes a fan 7 days
# later, an export, a complaint from opened to closed, the customer 360 in the
# WeCom sidebar), and the community story (19: a KOC's WeCom group, one welcome
# per join, a fission campaign rewarding a fan once, a check-in week), and the
# one inbox (20: a fan asks where her hoodie is and gets the waybill, a question
# the bot cannot answer goes to a person with suggestions), and profit sharing
# (21: a collab tee split T+7 with a designer's studio, approved by finance,
# paid, reconciled), and potential KOCs (22: a model fitted on 300 fans' shares
# and friends, December's candidate list with its control part, a recruitment
# SMS, receipts, an application from the notice), and materials (23: a poster
# sized per platform, an AI video pack, a KOC's one-click share whose first
# click counts, the Taobao CSV, a QR code), and the creator's site (24: a page
# from a template, published once its live room exists, the room's own price
# and pool, subscribers told once at the start, a send without a credit
# refused). With CONSOLE=1 it then serves the HQ console over
# the GraphQL API and prints its address. Runs on the cluster test/harness.sh
# starts.
set -euo pipefail
cd "$(dirname "$0")"
WORK="$(mktemp -d /tmp/commerce-demo.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
p() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "1. A creator's shop: stores, warehouses, channels, products and SKUs"
p -f setup.sql

say "2. One SKU, one price per channel, member tier and moment (H3.1.2)"
p <<'SQL'
SELECT c AS channel, coalesce(t, '-') AS member_tier, to_char(at, 'HH24:MI') AS at,
       (r).price_fen AS price_fen, (r).source
  FROM unnest(ARRAY['wechat_mp', 'taobao', 'douyin']) c,
       unnest(ARRAY[NULL, 'annual']) t,
       unnest(ARRAY[date_trunc('day', now()) + interval '12 hours',
                    date_trunc('day', now()) + interval '20 hours 30 minutes']) at,
       LATERAL (SELECT commerce.resolve_price(commerce.tenant_id('up'), 'HOODIE-L', c, t, at) AS r) x
 ORDER BY 1, 2, 3;
SQL

say "3. Stock: 500 hoodies received, 300 set aside for tonight's live-stream flash sale"
p <<'SQL'
SELECT commerce.receive_stock(commerce.tenant_id('up'), 'grn-001', 'HOODIE-L', 500) > 0 AS received;
SELECT commerce.allocate_stock(commerce.tenant_id('up'), 'alloc-live-1111', 'live-1111', 'flash_sale',
                               'HOODIE-L', 300, p_slots => 32) > 0 AS allocated;
SELECT low_stock_threshold FROM commerce.set_stock_policy(commerce.tenant_id('up'), 'HOODIE-L', p_low_stock_threshold => 150);
SELECT coalesce(activity, '(all channels)') AS pool, on_hand, reserved, sold, available
  FROM commerce.stock WHERE sku = 'HOODIE-L' ORDER BY pool_id;
SQL

say "4. The flash sale: 60 buyers, 1,200 tries, 300 units (pgbench)"
cat > "$WORK/buy.sql" <<'SQL'
SELECT public.demo_buy(:client_id);
SQL
start=$(date +%s%N)
pgbench -n -c 60 -j 2 -t 20 -f "$WORK/buy.sql" > "$WORK/pgbench.out" 2>&1 || { cat "$WORK/pgbench.out"; exit 1; }
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf '1200 tries in %d ms (%s)\n' "$ms" "$(sed -n 's/^tps = \([0-9.]*\) .*/\1 tries\/s/p' "$WORK/pgbench.out")"
p <<'SQL'
SELECT count(*) FILTER (WHERE outcome = 'paid')      AS paid,
       count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned_carts,
       count(*) FILTER (WHERE outcome = 'rejected')  AS rejected_sold_out
  FROM public.demo_try;
SQL

say "5. Ten minutes later: the expiry job releases the abandoned carts"
p -c "SET commerce.now = '$(date -u -d '+10 minutes' '+%Y-%m-%d %H:%M:%S+00')'" -c "CALL commerce.expire_pump()"
p -c "SELECT status, count(*) AS reservations, sum(l.qty) AS units FROM commerce.reservation r JOIN commerce.reservation_line l USING (tenant_id, reservation_id) GROUP BY status ORDER BY status"

say "6. The sale ends: what is left goes back to the pool every channel sells from"
p <<'SQL'
SELECT commerce.end_allocation(commerce.tenant_id('up'), 'end-live-1111', 'live-1111') AS units_returned;
SELECT coalesce(activity, '(all channels)') AS pool, status, on_hand, reserved, sold, available
  FROM commerce.stock WHERE sku = 'HOODIE-L' ORDER BY pool_id;
SQL

say "7. Orders from Taobao, Douyin and the mini-program keep selling from the same pool; one low-stock alert"
p <<'SQL'
SELECT r.reservation_id IS NOT NULL AS reserved, c.status AS paid
  FROM (VALUES ('tb-9001', '[{"sku":"HOODIE-L","qty":60}]'),
               ('dy-9002', '[{"sku":"HOODIE-L","qty":50}]'),
               ('mp-9003', '[{"sku":"HOODIE-L","qty":40}]')) o(order_no, cart),
       LATERAL commerce.reserve(commerce.tenant_id('up'), 'res-' || o.order_no, 'order:' || o.order_no,
                                o.cart) r,
       LATERAL commerce.confirm_reservation(commerce.tenant_id('up'), r.reservation_id, 'pay-' || o.order_no) c;
SELECT coalesce(activity, '(all channels)') AS pool, on_hand, reserved, sold, available, low_stock_threshold
  FROM commerce.stock WHERE sku = 'HOODIE-L' AND activity IS NULL;
SELECT topic, payload ->> 'sku' AS sku, payload ->> 'available' AS available,
       payload ->> 'threshold' AS threshold, status
  FROM commerce.outbox ORDER BY message_id;
SQL

say "8. Orders from three channels: paid, cancelled, ingested, shipped, reconciled"
p <<'SQL'
SELECT commerce.upsert_customer(commerce.tenant_id('up'), 'wx-fan-1', 'A fan', '13800001234', 'annual') > 0 AS customer;
SELECT order_id AS mp_order, payable_fen FROM commerce.place_order(commerce.tenant_id('up'), 'mp-1001', 'wechat_mp',
  '{"lines":[{"sku":"HOODIE-L","qty":1}],"shipping_fen":1000,
    "receiver":{"name":"张三","phone":"13800001234","region":"浙江省","city":"杭州市","address":"文三路1号"}}', 'wx-fan-1') \gset
SELECT status, outcome FROM commerce.pay_order(commerce.tenant_id('up'), :mp_order, 'wxpay-1001', :payable_fen);
SELECT order_id AS h5_order FROM commerce.place_order(commerce.tenant_id('up'), 'h5-2001', 'h5',
  '{"lines":[{"sku":"HOODIE-L","qty":2}]}') \gset
SELECT status, outcome FROM commerce.cancel_order(commerce.tenant_id('up'), :h5_order, 'buyer changed mind');
\set taobao `cat ../fixtures/platform/taobao.json`
\set douyin `cat ../fixtures/platform/douyin.json`
SELECT 'taobao' AS platform, status, payable_fen, outcome FROM commerce.ingest_platform_order(commerce.tenant_id('up'), 'taobao', :'taobao')
UNION ALL
SELECT 'douyin', status, payable_fen, outcome FROM commerce.ingest_platform_order(commerce.tenant_id('up'), 'douyin', :'douyin');
SELECT channel, external_order_id, status, payable_fen FROM commerce.order_overview
 WHERE tenant_id = commerce.tenant_id('up') ORDER BY order_id;
SELECT o.external_order_id, h.from_status, h.to_status, h.reason
  FROM commerce.order_status_history h JOIN commerce.orders o USING (tenant_id, order_id)
 ORDER BY h.history_id;
SELECT * FROM commerce.missing_platform_orders(commerce.tenant_id('up'), 'taobao',
                                               ARRAY['2983749283749001', '2983749283749777']) AS missing_taobao_order;
-- ship the mini-program and the Taobao order: routed carrier, waybill job, Taobao write-back
SELECT o.external_order_id, s.carrier, s.tracking_no, s.weight_g
  FROM commerce.orders o,
       LATERAL commerce.ship_order(o.tenant_id, o.order_id, 'ship-' || o.external_order_id,
                                   'ZT' || o.order_id) s
 WHERE o.tenant_id = commerce.tenant_id('up') AND o.external_order_id IN ('mp-1001', '2983749283749001')
 ORDER BY o.order_id;
SELECT topic, count(*) FROM commerce.outbox WHERE topic IN ('waybill.print', 'platform.writeback') GROUP BY topic ORDER BY topic;
-- a customer-service clerk of HQ reads the receiver through the API, as a gateway would call it:
-- the actor roles exist (grant_api), the clerk is staff, and its verified token names it; the
-- receiver is masked. The DBA (superuser) sees it in full.
SELECT count(*) AS actor_roles FROM commerce.grant_api();
SELECT commerce.upsert_staff(commerce.tenant_id('up'), 'cs-wang', 'Wang (customer service)', 'operator') > 0 AS clerk;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'commerce_operator', 'sub', 'cs-wang', 'tenant_id', commerce.tenant_id('up'))::text,
                  false) IS NOT NULL AS token_verified;
SET ROLE commerce_operator;
SELECT 'clerk' AS seen_by, * FROM commerce_api.order_contact(:mp_order);
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) = '' AS token_gone;
SELECT 'DBA' AS seen_by, * FROM commerce.order_contact(commerce.tenant_id('up'), :mp_order);
-- the Taobao bill of the day: the order matches, one line we do not know
SELECT our_orders, bill_orders, our_fen, bill_fen, differences
  FROM commerce.reconcile_bill(commerce.tenant_id('up'), 'taobao',
       (SELECT (paid_at AT TIME ZONE 'Asia/Shanghai')::date FROM commerce.orders WHERE external_order_id = '2983749283749001'),
       '[{"order_id":"2983749283749001","amount_fen":21900},{"order_id":"2983749283749888","amount_fen":9900}]');
SELECT external_order_id, kind, our_fen, bill_fen FROM commerce.recon_difference;
SQL

say "9. A fan becomes a KOC: applies, is approved, signs the agreement (K03, K04)"
p <<'SQL'
SELECT commerce.upsert_customer(commerce.tenant_id('up'), 'wx-koc-1', 'Xiao Li', '13700001111') > 0 AS koc_customer;
SELECT application_id AS app, status FROM commerce.apply_koc(commerce.tenant_id('up'), 'apply-li', 'wx-koc-1',
  '[{"platform":"wechat","handle":"xiaoli","followers":3200},{"platform":"xiaohongshu","handle":"li_wears","followers":12800}]') \gset
SELECT status, koc_id IS NOT NULL AS koc_created
  FROM commerce.review_koc_application(commerce.tenant_id('up'), :app, true, 'store-manager-hz', NULL, 'KOC-LI');
UPDATE commerce.koc SET region = 'Hangzhou' WHERE code = 'KOC-LI';
SELECT commerce.publish_agreement(commerce.tenant_id('up'), 'KOC agreement v1',
  'Commission: the task rate plus the level bonus, settled T+0.5. No fake orders.') AS v \gset
SELECT version, signer_name, text_sha256 = encode(sha256(convert_to('Commission: the task rate plus the level bonus, settled T+0.5. No fake orders.', 'UTF8')), 'hex') AS hash_of_the_text
  FROM commerce.sign_agreement(commerce.tenant_id('up'), 'KOC-LI', :v,
       encode(sha256(convert_to('Commission: the task rate plus the level bonus, settled T+0.5. No fake orders.', 'UTF8')), 'hex'),
       'Li Xiao', '10.9.8.7');
SELECT code, level_code, status FROM commerce.koc WHERE code = 'KOC-LI';
SQL

say "10. She shares a signed link; fans click (a repeat counts once) and buy; a forged code is refused (K12)"
p <<'SQL'
SELECT commerce.upsert_koc_task(commerce.tenant_id('up'), 'HOODIE-PUSH', 'Push the hoodie', now() - interval '1 day',
                                now() + interval '60 days', 500, p_goal => 3) > 0 AS task_5_percent;
SELECT commerce.tracking_link(commerce.tenant_id('up'), 'KOC-LI', 'HOODIE-PUSH', 'wechat_mp') AS code \gset
SELECT :'code' AS tracking_code;
SELECT fan, counted FROM unnest(ARRAY['wx-fan-2', 'wx-fan-2', 'wx-fan-3', 'wx-fan-4', 'wx-fan-5']) fan,
       commerce.record_click(commerce.tenant_id('up'), :'code', fan, '10.1.2.3', 'WeChat/8.0');
SELECT count(*) AS fans FROM (SELECT commerce.upsert_customer(commerce.tenant_id('up'), f, 'Fan ' || f)
                                FROM unnest(ARRAY['wx-fan-2', 'wx-fan-3', 'wx-fan-4', 'wx-fan-5']) f) x;
SELECT f AS fan, r.status FROM unnest(ARRAY['wx-fan-2', 'wx-fan-3', 'wx-fan-4']) f,
       LATERAL commerce.place_order(commerce.tenant_id('up'), 'koc-' || f, 'wechat_mp',
                                    '{"lines":[{"sku":"HOODIE-L","qty":1}]}', f) r;
SELECT o.external_order_id, (commerce.pay_order(o.tenant_id, o.order_id, 'pay-' || o.external_order_id, o.payable_fen)).status
  FROM commerce.orders o WHERE o.external_order_id LIKE 'koc-%' ORDER BY o.order_id;
SELECT o.external_order_id, k.code AS koc, t.code AS task, o.payable_fen, o.status
  FROM commerce.orders o JOIN commerce.koc k USING (tenant_id, koc_id)
  JOIN commerce.koc_task t ON t.tenant_id = o.tenant_id AND t.task_id = o.koc_task_id
 ORDER BY o.order_id;
-- a forged code is refused (this error is expected)
\set ON_ERROR_STOP off
SELECT * FROM commerce.record_click(commerce.tenant_id('up'), regexp_replace(:'code', '\.[^.]+$', '.aaaaaaaaaaaaa'), 'wx-fan-9');
\set ON_ERROR_STOP on
SQL

say "11. Redemptions earn commission (5%, rounded down to the fen); one fan returns the hoodie (K13, K15)"
p <<'SQL'
SELECT o.external_order_id, c.status FROM commerce.orders o,
       LATERAL commerce.complete_order(o.tenant_id, o.order_id) c
 WHERE o.external_order_id LIKE 'koc-%' ORDER BY o.order_id;
SELECT after_sale_id AS a FROM commerce.orders o,
       LATERAL commerce.request_after_sale(o.tenant_id, 'return-fan-4', o.order_id, 'refund_only', o.paid_fen, 'too big')
 WHERE o.external_order_id = 'koc-wx-fan-4' \gset
SELECT status FROM commerce.decide_after_sale(commerce.tenant_id('up'), :a, true);
SELECT status FROM commerce.complete_refund(commerce.tenant_id('up'), :a);
SELECT l.seq, l.kind, l.base_fen, l.rate_bp, l.level_code, l.amount_fen, l.new_customer,
       to_char(l.payable_at - l.occurred_at, 'HH24"h"') AS payable_after
  FROM commerce.commission_line l ORDER BY l.seq;
SELECT * FROM commerce.koc_task_progress(commerce.tenant_id('up'), 'KOC-LI', 'HOODIE-PUSH');
SQL

say "12. T+0.5: nothing is payable 11 hours later; at 13 hours one batch, netted, goes to the payment provider (K14)"
p <<'SQL'
SELECT set_config('commerce.now', (now() + interval '11 hours')::text, false) IS NOT NULL AS eleven_hours_later;
SELECT commerce.settle_commissions(100) AS kocs_looked_at, (SELECT count(*) FROM commerce.settle_batch) AS batches;
SELECT set_config('commerce.now', (now() + interval '13 hours')::text, false) IS NOT NULL AS thirteen_hours_later;
CALL commerce.settle_pump();
SELECT from_seq, to_seq, line_count, amount_fen, status FROM commerce.settle_batch;
SELECT payload - 'lines' AS payout_request FROM commerce.outbox WHERE topic = 'koc.payout';
SELECT commerce.record_payout(commerce.tenant_id('up'), payload ->> 'payout_ref', 'paid', 'wxpay-4200001')
  FROM commerce.outbox WHERE topic = 'koc.payout';
SELECT settled_fen, balance_fen, in_flight_fen, paid_fen FROM commerce.koc_account;
SQL

say "13. Month close: her month meets silver's rule; the promotion is recorded with its figures (K05, K07)"
p <<'SQL'
SELECT commerce.set_level_rule(commerce.tenant_id('up'), 'silver',
  '{"all":[{"metric":"redemptions","op":">=","value":3},{"metric":"new_customers","op":">=","value":2}]}') AS silver_rule;
SELECT set_config('commerce.now', ((date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') + interval '1 month 5 minutes')
                                   AT TIME ZONE 'Asia/Shanghai')::text, false) IS NOT NULL AS month_closed;
SELECT month, koc_count, promoted, demoted FROM commerce.recalculate_due_levels(commerce.tenant_id('up'));
SELECT k.code, c.from_level, c.to_level, c.figures FROM commerce.koc_level_change c JOIN commerce.koc k USING (tenant_id, koc_id);
SELECT payload ->> 'koc' AS koc, payload ->> 'to' AS new_level FROM commerce.outbox WHERE topic = 'koc.level_changed';
SQL

say "14. The KOC's dashboard (GET /api/koc/stats) and the leaderboard (K13, K18)"
p <<'SQL'
SELECT jsonb_pretty(commerce.koc_stats(commerce.tenant_id('up'), 'KOC-LI', (now() AT TIME ZONE 'Asia/Shanghai')::date - 1,
                                       (now() AT TIME ZONE 'Asia/Shanghai')::date + 1) - 'channels') AS stats;
SELECT rank, koc, region, level, redemptions, gmv_fen, commission_fen
  FROM commerce.koc_rank(commerce.tenant_id('up'), (now() AT TIME ZONE 'Asia/Shanghai')::date - 1,
                         (now() AT TIME ZONE 'Asia/Shanghai')::date + 1);
SQL

say "15. Plays as products (M1-M7): HQ's template, a store's group buy, one group fills, one fails and is refunded"
p <<'SQL'
\set SHOW_CONTEXT never
SET commerce.now = '2026-12-01 10:00:00+08';
SELECT commerce.create_tenant('dance', 'Dance HQ') AS dance_tenant;
SELECT commerce.upsert_store(commerce.tenant_id('dance'), 'HZ-1', 'Hangzhou West Lake studio', 'Zhejiang', 'Hangzhou') > 0 AS store;
SELECT commerce.upsert_product(commerce.tenant_id('dance'), 'JAZZ', 'Jazz dance course', 'virtual', 'course') > 0 AS product;
SELECT commerce.upsert_sku(commerce.tenant_id('dance'), 'JAZZ', 'JAZZ-10', '10 jazz lessons', 99900, p_floor_fen => 40000) > 0 AS sku;
SELECT commerce.receive_stock(commerce.tenant_id('dance'), 'jazz-in', 'JAZZ-10', 100) > 0 AS received;
-- HQ: a group-buy template counted in lessons, groups of 2 to 6 dancers
SELECT code, kind, unit_name, rule_schema -> 'required' AS required
  FROM commerce.upsert_play_template(commerce.tenant_id('dance'), 'DANCE_GROUP', 'group_buy', 'Dance together', 'lessons',
       '{"type":"object","additionalProperties":false,"required":["target_size"],"properties":{
          "target_size":{"type":"integer","minimum":2,"maximum":6},
          "hours":{"type":"integer","minimum":1,"maximum":72,"default":24}}}');
-- the store: 3 dancers, 599 yuan instead of 999, 30 places from the shared stock; a bad rule first
\set ON_ERROR_STOP 0
SELECT commerce.configure_play(commerce.tenant_id('dance'), 'cfg-bad', 'JAZZ3', 'DANCE_GROUP', 'HZ-1', 'JAZZ-10',
       'Jazz for three', 59900, 30, '2026-12-01 00:00+08', '2026-12-31 00:00+08', '{"target_size":8}');
\set ON_ERROR_STOP 1
SELECT code, price_fen, stock, rules, asset_type, units_per_sale
  FROM commerce.configure_play(commerce.tenant_id('dance'), 'cfg-jazz', 'JAZZ3', 'DANCE_GROUP', 'HZ-1', 'JAZZ-10',
       'Jazz for three', 59900, 30, '2026-12-01 00:00+08', '2026-12-31 00:00+08', '{"target_size":3}',
       p_per_user_limit => 1, p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT count(commerce.upsert_customer(commerce.tenant_id('dance'), c)) AS dancers
  FROM unnest(ARRAY['ann', 'bo', 'cy', 'di', 'ed', 'fe']) c;
SELECT count(commerce.record_play_view(commerce.tenant_id('dance'), 'JAZZ3', c)) AS views
  FROM unnest(ARRAY['ann', 'bo', 'cy', 'di', 'ed', 'fe', 'ann', 'bo', 'fe']) c;
SELECT code, display_state, available FROM commerce.visible_plays(commerce.tenant_id('dance'), 'Hangzhou');
-- ann opens a group, bo and cy join: the third completes it and every member gets 10 lessons
SELECT outcome, status, current, target FROM commerce.join_group(commerce.tenant_id('dance'), 'j-ann', 'JAZZ3', 'ann', 'wx-ann');
SELECT outcome, status, current, target FROM commerce.join_group(commerce.tenant_id('dance'), 'j-bo', 'JAZZ3', 'bo', 'wx-bo',
       (SELECT min(instance_id) FROM commerce.play_instance));
SELECT outcome, status, current, target FROM commerce.join_group(commerce.tenant_id('dance'), 'j-cy', 'JAZZ3', 'cy', 'wx-cy',
       (SELECT min(instance_id) FROM commerce.play_instance));
-- ann tries a second place (the per-customer limit), then di opens a group only ed joins
\set ON_ERROR_STOP 0
SELECT commerce.join_group(commerce.tenant_id('dance'), 'j-ann-2', 'JAZZ3', 'ann', 'wx-ann-2');
\set ON_ERROR_STOP 1
SELECT outcome, current, target FROM commerce.join_group(commerce.tenant_id('dance'), 'j-di', 'JAZZ3', 'di', 'wx-di');
SELECT outcome, current, target FROM commerce.join_group(commerce.tenant_id('dance'), 'j-ed', 'JAZZ3', 'ed', 'wx-ed',
       (SELECT max(instance_id) FROM commerce.play_instance));
SQL
p <<'SQL'
SET commerce.now = '2026-12-02 10:00:01+08';
-- a day later the deadline job ends the second group: failed, both members refunded through the outbox
CALL commerce.play_pump();
SELECT instance_id, status, current, target FROM commerce.play_instance ORDER BY instance_id;
SELECT topic, payload ->> 'payment_id' AS payment, payload ->> 'amount_fen' AS amount_fen FROM commerce.outbox
 WHERE tenant_id = commerce.tenant_id('dance') AND topic IN ('payment.refund', 'play.group_failed', 'play.group_succeeded')
 ORDER BY message_id;
-- the refund worker: the payment provider confirms both refunds
SELECT count(commerce.complete_refund(commerce.tenant_id('dance'), (payload ->> 'after_sale_id')::bigint)) AS refunds_confirmed
  FROM commerce.outbox WHERE tenant_id = commerce.tenant_id('dance') AND topic = 'payment.refund';
SELECT c.code, p.role, p.status, o.status AS order_status FROM commerce.play_participant p
  JOIN commerce.customer c USING (tenant_id, customer_id) JOIN commerce.orders o ON o.tenant_id = p.tenant_id AND o.order_id = p.order_id
 ORDER BY p.instance_id, c.code;
-- lessons consumed at the studio: ann 3, bo all 10, cy 2 (the first consumption completes each order)
SELECT c.code, x.remaining FROM (VALUES ('ann', 3), ('bo', 10), ('cy', 2)) v(who, n)
  JOIN commerce.customer c ON c.tenant_id = commerce.tenant_id('dance') AND c.code = v.who
  JOIN commerce.user_asset a ON a.tenant_id = c.tenant_id AND a.customer_id = c.customer_id
  CROSS JOIN LATERAL commerce.consume_asset(c.tenant_id, 'use-' || v.who, a.asset_id, v.n, 'HZ-1', 'coach-lin') x
 ORDER BY c.code;
SQL

say "16. The activity dashboard and the store's settlement (M4 and M7)"
p <<'SQL'
SET commerce.now = '2026-12-02 12:00:00+08';
SELECT jsonb_pretty(commerce.play_dashboard(commerce.tenant_id('dance'), 'JAZZ3') - 'window' - 'title') AS dashboard;
SELECT commerce.play_dashboard(commerce.tenant_id('dance'), 'JAZZ3') #>> '{fulfilment,text}' AS fulfilment;
-- HQ's rule: 70% to the store; the store applies, HQ finance approves, the payout goes out through the outbox
SELECT template_code, store_share_bp FROM commerce.set_split_rule(commerce.tenant_id('dance'), NULL, 7000);
SELECT settlement_id, status, orders, income_fen, store_fen, hq_fen
  FROM commerce.apply_play_settlement(commerce.tenant_id('dance'), 'settle-jazz-1', 'JAZZ3');
SELECT status, decided_by FROM commerce.decide_play_settlement(commerce.tenant_id('dance'),
       (SELECT max(settlement_id) FROM commerce.play_settlement), true, 'finance-zhao');
SELECT topic, payload - 'settlement_id' AS payload FROM commerce.outbox WHERE topic = 'store.settlement_payout';
SQL

say "17. Members (issue 13): a fan on three channels becomes one person, earns, redeems, buys a yearly card, gets the discount and the monthly gift"
p <<'SQL'
SET commerce.now = '2026-12-03 10:00:00+08';
SELECT commerce.tenant_id('up') AS t \gset
-- the shop's rules: 1 point a yuan on the mini-program, a 10-yuan coupon for 500 points, a yearly card
SELECT true AS points_rule FROM commerce.set_points_rule(:t, 'wechat_mp', 1, 'paid', 0, 365);
SELECT commerce.create_coupon_template(:t, 'OFF10', '{"name":"10 yuan off from 100","kind":"amount","amount_fen":1000,"threshold_fen":10000,"valid_days":30,"stacking":"stackable"}') > 0 AS coupon_template,
       commerce.create_coupon_batch(:t, 'OFF10', 'MALL-OFF10', 1000, false) > 0 AS mall_batch,
       commerce.create_coupon_template(:t, 'GIFT5', '{"name":"Member gift: 5 yuan off","kind":"amount","amount_fen":500,"valid_days":30,"stacking":"stackable"}') > 0 AS gift_template,
       commerce.create_coupon_batch(:t, 'GIFT5', 'MEMBER-GIFTS', NULL, false) > 0 AS gift_batch;
SELECT commerce.upsert_product(:t, 'VIP', 'Fan club card', 'virtual', 'membership_card') > 0 AS card_product,
       commerce.upsert_sku(:t, 'VIP', 'VIP-YEAR', 'Fan club, one year', 9900) > 0 AS card_sku,
       commerce.receive_stock(:t, 'vip-cards', 'VIP-YEAR', 10000) IS NOT NULL AS cards,
       commerce.receive_stock(:t, 'xl-members', 'HOODIE-XL', 20) IS NOT NULL AS hoodies;
SELECT commerce.upsert_membership_plan(:t, 'YEAR', 'Fan club (yearly)', 'VIP-YEAR', 12, 1000,
         '{"priority_shipping":true,"birthday_double":true,"badge":"Fan club","gift_batch":"MEMBER-GIFTS"}') > 0 AS yearly_plan;
SELECT commerce.upsert_mall_item(:t, 'OFF10', '10 yuan off', 'coupon', 500, 'MALL-OFF10') > 0 AS mall_item;
-- Mei logs into the mini-program (one tap: OpenID, UnionID, the phone WeChat verified)
SELECT outcome, merged FROM commerce.mini_program_login(:t, 'wechat_mp', 'oMei', 'uMei', '13912345678', 'Mei');
-- her Taobao order carries the same phone, unverified: only a suggestion
SELECT outcome, suggested FROM commerce.observe_identities(:t, NULL,
       '[{"type":"taobao_buyer","value":"tb-mei"},{"type":"phone","value":"139 1234 5678"}]', 'taobao');
-- she signs up on the H5 site by SMS code: the verified phone makes it her
SELECT commerce.upsert_customer(:t, 'h5:mei', 'Mei') > 0 AS h5_account;
SELECT outcome, merged FROM commerce.observe_identities(:t, 'h5:mei',
       '[{"type":"h5_uid","value":"h5-mei","verified":true},{"type":"phone","value":"+86 139 1234 5678","verified":true}]', 'h5');
SELECT accounts, jsonb_array_length(identities) AS identities FROM commerce._person_view(:t,
       (SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'wechat_mp:oMei'));
-- a welcome gift, a hoodie bought in the mini-program: points
SELECT commerce.earn_points(:t, 'grant', 'welcome-mei', 'h5:mei', 500, 'welcome to the shop') > 0 AS welcome_points;
SELECT commerce.pay_order(:t, o.order_id, 'pay-mei-1', o.payable_fen) IS NOT NULL AS hoodie_paid
  FROM commerce.place_order(:t, 'mei-1', 'wechat_mp', '{"lines":[{"sku":"HOODIE-XL","qty":1}]}', 'wechat_mp:oMei') o;
SELECT points_available AS points_of_mei_on_both_accounts FROM commerce._person_view(:t,
       (SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'h5:mei'));
-- the points mall: 500 points for a coupon (spent from the H5 account's welcome lot)
SELECT item, points, available AS points_left, outcome FROM commerce.redeem_points(:t, 'mall-mei-1', 'h5:mei', 'OFF10');
-- the yearly card, paid once (the provider's callback arrives twice)
SELECT commerce.pay_order(:t, o.order_id, 'pay-mei-card', o.payable_fen) IS NOT NULL AS card_paid,
       (commerce.pay_order(:t, o.order_id, 'pay-mei-card', o.payable_fen)).outcome AS second_callback
  FROM commerce.buy_membership(:t, 'card-mei', 'wechat_mp:oMei', 'YEAR', 'wechat_mp') o;
SELECT status, period_end, (SELECT count(*) FROM commerce.membership_period p WHERE p.membership_id = m.membership_id) AS periods
  FROM commerce.membership m WHERE tenant_id = :t;
-- her next hoodie, on the H5 account: 10% member price (never below the floor) and the coupon, split by line
SELECT order_id AS mei2 FROM commerce.place_order(:t, 'mei-2', 'h5', jsonb_build_object('lines', '[{"sku":"HOODIE-XL","qty":1}]'::jsonb,
       'coupons', (SELECT jsonb_agg(coupon_id) FROM commerce.coupon WHERE tenant_id = :t AND source = 'redeem')), 'h5:mei') \gset
SELECT o.goods_fen, o.discount_fen AS coupon_fen, o.payable_fen, l.unit_price_fen, l.price_source,
       (SELECT amount_fen FROM commerce.order_discount d WHERE d.tenant_id = o.tenant_id AND d.order_id = o.order_id) AS coupon_on_the_line
  FROM commerce.orders o JOIN commerce.order_line l ON l.tenant_id = o.tenant_id AND l.order_id = o.order_id
 WHERE o.tenant_id = :t AND o.order_id = :mei2;
SELECT (commerce.pay_order(:t, order_id, 'pay-mei-2', payable_fen)).status AS paid
  FROM commerce.orders WHERE tenant_id = :t AND request_id = 'mei-2';
SELECT ship_by - paid_at AS priority_shipping_within FROM commerce.orders WHERE tenant_id = :t AND request_id = 'mei-2';
-- the membership job: this month's gift, once
SELECT commerce.grant_member_gifts(100) AS gifts_granted, commerce.grant_member_gifts(100) AS granted_again;
SELECT (SELECT count(*) FROM commerce.check_points_invariants()) + (SELECT count(*) FROM commerce.check_coupon_invariants())
       + (SELECT count(*) FROM commerce.check_membership_invariants()) + (SELECT count(*) FROM commerce.check_identity_invariants())
       + (SELECT count(*) FROM commerce.check_mall_invariants()) AS member_invariant_violations;
SQL

say "18. CRM (issue 14): growth levels, a rule tag and a segment kept current, a welcome flow that wakes a fan 7 days later, a complaint from opened to closed, the customer 360 in the WeCom sidebar, the health dashboard and RFM, a sync round trip"
p <<'SQL'
SET commerce.now = '2026-12-03 11:00:00+08';
SELECT commerce.tenant_id('up') AS t \gset
-- HQ: levels by growth (net yuan spent), a rule tag, and a segment of nested conditions
SELECT commerce.set_growth_levels(:t, '[{"level":1,"name":"Fan","min_growth":100},{"level":2,"name":"Super fan","min_growth":300}]') AS people_changed_level;
SELECT true AS tag_category FROM commerce.upsert_tag_category(:t, 'value', 'Value', 'value');
SELECT commerce.create_tag(:t, 'recent-buyer', 'Bought in the last 30 days', 'value', 'rule',
                           '{"field":"orders","days":30,"op":">=","value":1}') > 0 AS rule_tag;
SELECT commerce.define_segment(:t, 'fans-active', 'Fans who bought lately or browse a lot',
    '{"and":[{"field":"level","op":">=","value":1},{"or":[{"tag":"recent-buyer"},{"event":"browse","days":7,"op":">=","value":3}]}]}') > 0 AS segment;
-- a typo in a tree is refused, naming the node
DO $$ BEGIN
    PERFORM commerce.compile_segment('{"and":[{"field":"level","op":">=","value":1},{"or":[{"field":"levle","op":">","value":1}]}]}');
EXCEPTION WHEN invalid_parameter_value THEN RAISE NOTICE 'refused: %', SQLERRM;
END $$;
SELECT g.code, g.version, count(m.person_id) AS members, (SELECT count(*) FROM commerce.segment_run r WHERE r.segment_id = g.segment_id) AS builds
  FROM commerce.segment g LEFT JOIN commerce.segment_member m USING (tenant_id, segment_id)
 WHERE g.tenant_id = :t GROUP BY g.segment_id, g.code, g.version ORDER BY g.code;
-- a welcome flow for new fans: a coupon, 7 days, and a wake-up SMS for those who have not bought
SELECT commerce.create_coupon_template(:t, 'WELCOME5', '{"name":"Welcome: 5 yuan off","kind":"amount","amount_fen":500,"valid_days":30,"stacking":"stackable"}') > 0 AS welcome_template,
       commerce.create_coupon_batch(:t, 'WELCOME5', 'WELCOME', NULL, false) > 0 AS welcome_batch;
SELECT commerce.define_flow(:t, 'welcome', 'Welcome new fans', '{"trigger":{"on":"registered"},"steps":[
  {"id":"coupon","action":{"coupon":"WELCOME"}},
  {"id":"wait7","wait":{"days":7}},
  {"id":"bought","if":{"field":"orders","op":">=","value":1},"then":"end","else":"wake"},
  {"id":"wake","action":{"message":{"channel":"sms","template":"we-miss-you"}}}]}') AS welcome_flow_version;
SELECT commerce.upsert_customer(:t, 'wechat_mp:oYun', 'Yun', '13700001111') > 0 AS a_fan_who_will_not_buy;
-- a fan who never bought browses the hoodie four times: the pump puts her in (only she is re-evaluated)
SELECT commerce.upsert_customer(:t, 'wechat_mp:oLan', 'Lan') > 0 AS new_fan;
SELECT count(commerce.record_crm_event(:t, 'wechat_mp:oLan', 'browse', 'lan-view-' || i, 'HOODIE-XL')) AS views
  FROM generate_series(1, 4) i;
SELECT commerce.pay_order(:t, o.order_id, 'pay-lan-1', o.payable_fen) IS NOT NULL AS lan_buys_a_hoodie
  FROM commerce.place_order(:t, 'lan-1', 'wechat_mp', '{"lines":[{"sku":"HOODIE-XL","qty":1}]}', 'wechat_mp:oLan') o;
SELECT commerce.crm_evaluate(1000) AS changes_taken;
SELECT (SELECT count(*) FROM commerce.segment_member m JOIN commerce.segment g USING (tenant_id, segment_id)
         JOIN commerce.customer c ON c.tenant_id = m.tenant_id AND c.person_id = m.person_id
        WHERE g.code = 'fans-active' AND c.code = 'wechat_mp:oLan') AS lan_in_segment,
       (SELECT string_agg(tc.op || ' by ' || tc.by_whom, ', ') FROM commerce.tag_change tc
         JOIN commerce.customer c ON c.tenant_id = tc.tenant_id AND c.person_id = tc.person_id WHERE c.code = 'wechat_mp:oLan') AS lan_tag_history;
-- the flow job: both new fans get the welcome coupon and wait; 7 days later only Yun (no order) is woken
SELECT commerce.flow_intake(1000) AS triggers_taken, commerce.flow_advance(1000) AS runs_advanced;
SELECT set_config('commerce.now', '2026-12-10 11:00:00+08', false) IS NOT NULL AS seven_days_later;
SELECT commerce.flow_advance(1000) AS runs_advanced;
SELECT c.code, s.seq, s.step_id, s.outcome, s.detail FROM commerce.flow_step_run s
  JOIN commerce.flow_run r USING (tenant_id, run_id) JOIN commerce.customer c ON c.tenant_id = r.tenant_id AND c.person_id = r.person_id
 WHERE r.tenant_id = :t ORDER BY c.code, s.seq;
SELECT action, attempted, delivered, pending, ineligible FROM commerce.flow_stats(:t, 'welcome');
SELECT set_config('commerce.now', '2026-12-03 11:00:00+08', false) IS NOT NULL AS back_to_the_day;
-- the export for an ad platform: member id and SHA-256 of the phone
SELECT member, left(phone, 16) || '...' AS phone_sha256 FROM commerce.export_segment(:t, 'fans-active', 'sha256') ORDER BY member LIMIT 3;
-- Mei complains about her second hoodie: a ticket from complaint to closed
SELECT commerce.open_ticket(:t, 'tk-mei-1', 'h5:mei', 'complaint', 'The hoodie''s seam is torn', NULL,
                            (SELECT order_id FROM commerce.orders WHERE tenant_id = :t AND request_id = 'mei-2')) AS ticket \gset
SELECT priority, respond_by - created_at AS answer_within, due_at - created_at AS resolve_within
  FROM commerce.ticket WHERE tenant_id = :t AND ticket_id = :ticket;
SELECT commerce.upsert_staff(:t, 'cs-li', 'Li (service)', 'operator') > 0 AS service_agent;
SELECT commerce.assign_ticket(:t, :ticket, 'supply_chain', 'factory-hz', 'operator:cs-li') AS step_assigned,
       commerce.move_ticket(:t, :ticket, 'processing', 'Replacement on its way', 'operator:cs-li') AS step_processing,
       commerce.move_ticket(:t, :ticket, 'done', 'Replacement delivered', 'operator:cs-li') AS step_done,
       commerce.move_ticket(:t, :ticket, 'closed', 'Thanks!', 'customer:h5:mei') AS step_closed;
DO $$ BEGIN
    PERFORM commerce.move_ticket(commerce.tenant_id('up'), (SELECT max(ticket_id) FROM commerce.ticket), 'processing', NULL, 'operator:cs-li');
EXCEPTION WHEN SQLSTATE 'PT409' THEN RAISE NOTICE 'refused: %', SQLERRM;
END $$;
SELECT seq, kind, coalesce(from_status || ' > ' || to_status, note) AS step, actor FROM commerce.ticket_event
 WHERE tenant_id = :t AND ticket_id = :ticket ORDER BY seq;
SELECT count(*) AS notices_to_mei FROM commerce.outbox WHERE tenant_id = :t AND topic = 'ticket.updated' AND payload ->> 'ticket_id' = :'ticket';
-- the store's WeCom sidebar opens Mei by her phone: one call (masked: store staff do not read PII)
SELECT set_config('request.jwt.claims', json_build_object('role', 'commerce_store', 'sub', 'st-demo', 'tenant_id', :t)::text, false) IS NOT NULL AS sidebar_token
  FROM commerce.upsert_store(:t, 'SIDEBAR', 'Sidebar store', 'Zhejiang', 'Hangzhou') x,
       commerce.upsert_staff(:t, 'st-demo', 'Store staff', 'store', ARRAY['SIDEBAR']) y;
SET ROLE commerce_store;
SELECT commerce_api.customer_360(phone => '139 1234 5678') AS doc \gset
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS token_dropped;
SELECT :'doc'::jsonb #>> '{profile,phone}' AS phone, :'doc'::jsonb #>> '{profile,level_name}' AS level,
       :'doc'::jsonb #>> '{profile,orders}' AS orders, :'doc'::jsonb #>> '{profile,spent_fen}' AS spent_fen,
       :'doc'::jsonb #>> '{profile,points}' AS points, :'doc'::jsonb #>> '{profile,membership,plan}' AS card,
       :'doc'::jsonb #> '{profile,customers}' AS accounts, jsonb_array_length(:'doc'::jsonb #> '{orders,items}') AS orders_listed,
       :'doc'::jsonb #>> '{tickets,0,status}' AS last_ticket;
-- insight: the health dashboard (yesterday stored by the nightly job, today as it stands) and RFM tiers
SELECT commerce.crm_health_snapshot(:t, '2026-12-02') AS dashboard_rows_stored;
SELECT day, members, buyers, active, dormant, churned, churn_rate_bp, repurchase_rate_bp
  FROM commerce.crm_health(:t, NULL, '2026-12-02', '2026-12-03');
SELECT persons AS buyers_scored, tiers FROM commerce.crm_score_rfm(:t);
SELECT (SELECT c.code FROM commerce.customer c WHERE c.tenant_id = f.tenant_id AND c.person_id = f.person_id
         ORDER BY c.customer_id LIMIT 1) AS person, f.orders_count, f.spent_fen, f.rfm_tier, f.rfm_score
  FROM commerce.crm_feature f WHERE f.tenant_id = :t AND f.rfm_tier IS NOT NULL ORDER BY f.rfm_score DESC, 1 LIMIT 3;
-- the churn model is fitted only on history before today less 90 days: this shop is too young
DO $$ BEGIN
    PERFORM commerce.crm_train_churn(commerce.tenant_id('up'), 'demo');
EXCEPTION WHEN SQLSTATE 'PT409' THEN RAISE NOTICE 'the churn model waits: %', SQLERRM;
END $$;
-- a sync round trip with a third-party CRM: Mei's change goes out, WeLink answers with its id,
-- then sends her back with a newer tag list; a replayed older name is ignored and nothing echoes
SELECT commerce.upsert_sync_system(:t, 'welink', 'WeLink CRM',
    '{"person": {"code": "LocalCode", "name": "FullName", "level": "Level", "tags": "Tags"}}') > 0 AS sync_system;
SELECT true AS manual_tag FROM commerce.create_tag(:t, 'welink-vip', 'VIP in WeLink', 'value');
UPDATE commerce.customer SET name = 'Mei C.' WHERE tenant_id = :t AND code = 'wechat_mp:oMei';
SELECT m.topic, m.dedupe_key, m.payload -> 'data' AS data FROM commerce.outbox m WHERE m.tenant_id = :t AND m.topic = 'crm.sync.welink';
SELECT commerce.sync_result(:t, c.message_id, 'welink-adapter', true, NULL, 'WL-9001') AS delivered
  FROM commerce.claim('crm.sync.welink', 'welink-adapter', 10, '5 minutes', :t) c;
SELECT commerce.sync_inbound(:t, 'welink', 'WL-9001', '{"FullName": {"value": "Mei Chen", "version": 3}, "Tags": {"value": ["welink-vip"], "version": 3}}') AS inbound;
SELECT commerce.sync_inbound(:t, 'welink', 'WL-9001', '{"FullName": {"value": "Mei", "version": 2}}') AS replayed_older;
SELECT c.name, string_agg(t.code || ' (' || pt.tagged_by || ')', ', ') AS tags,
       (SELECT count(*) FROM commerce.outbox m WHERE m.tenant_id = :t AND m.topic = 'crm.sync.welink') AS messages_to_welink
  FROM commerce.customer c JOIN commerce.person_tag pt ON pt.tenant_id = c.tenant_id AND pt.person_id = c.person_id
  JOIN commerce.tag t ON t.tenant_id = pt.tenant_id AND t.tag_id = pt.tag_id
 WHERE c.tenant_id = :t AND c.code = 'wechat_mp:oMei' GROUP BY c.name;
SELECT object_type, objects, synced, pending, failed, acked, inbound, stale_fields FROM commerce.sync_monitor(:t, 'welink')
 WHERE object_type = 'person';
SELECT count(*) AS crm_invariant_violations FROM commerce.check_crm_invariants(:t);
SQL

say "19. Community (issue 15): Xiao Li's WeCom group, a welcome for every join, a check-in week with points, a fission campaign that rewards a fan once"
p <<'SQL'
SET commerce.now = '2026-12-04 10:00:00+08';
SELECT commerce.tenant_id('up') AS t \gset
-- the WeCom adapter reports the organisation: a department bound to the Hangzhou store, its staff account
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_contact', 'change', 'create_party', 'at', extract(epoch FROM commerce.now())::bigint - 600,
         'id', 2, 'name', 'Hangzhou store')) ->> 'applied' AS department;
SELECT commerce.bind_wecom_department(:t, 2, (SELECT code FROM commerce.store WHERE tenant_id = :t ORDER BY store_id LIMIT 1));
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_contact', 'change', 'create_user', 'at', extract(epoch FROM commerce.now())::bigint - 600,
         'user_id', 'guide-wang', 'name', 'Guide Wang', 'department', jsonb_build_array(2))) ->> 'store' AS staff_store;
-- a welcome, and Xiao Li's fan group owned by the guide and run by her
SELECT commerce.set_welcome_template(:t, 'default', 'Hi {nickname}! Welcome to Xiao Li''s hoodie club: {link}', 'https://m.example.com/club');
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'create', 'at', extract(epoch FROM commerce.now())::bigint - 300,
         'chat_id', 'wrHoodieClub', 'name', 'Hoodie club', 'owner', 'guide-wang')) ->> 'group' AS "group";
SELECT commerce.update_group(:t, 'wecom-wrHoodieClub', 'KOC-LI', (SELECT code FROM commerce.store WHERE tenant_id = :t ORDER BY store_id LIMIT 1), NULL);
-- a fission campaign: bring 2 new friends into the club, get 50 points
SELECT commerce.create_fission_campaign(:t, 'club-friends', 'group_forming', 'Bring two friends to the club', 'group',
    commerce.now() - interval '1 hour', commerce.now() + interval '14 days', '[{"threshold":2,"reward":{"points":50}}]',
    p_groups => '{wecom-wrHoodieClub}', p_koc => 'KOC-LI') > 0 AS campaign;
SELECT commerce.fission_progress(:t, 'club-friends', (SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'wechat_mp:oMei')) ->> 'code' AS mei_code \gset
-- Mei joins; Ning and Ou scan Mei's poster (its code is the live code's state); WeCom retries Ning's callback
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM commerce.now())::bigint - 200, 'chat_id', 'wrHoodieClub',
         'members', jsonb_build_array(jsonb_build_object('id', 'wmMei', 'type', 'external', 'name', 'Mei', 'unionid', 'uMei')))) -> 'members' AS mei_joins;
SELECT n AS callback, commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM commerce.now())::bigint - 100, 'chat_id', 'wrHoodieClub', 'cur_mem_ver', 'v3',
         'members', jsonb_build_array(jsonb_build_object('id', 'wmNing', 'type', 'external', 'name', 'Ning', 'state', :'mei_code')))) ->> 'replayed' AS replayed
  FROM generate_series(1, 2) n;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM commerce.now())::bigint - 50, 'chat_id', 'wrHoodieClub', 'cur_mem_ver', 'v4',
         'members', jsonb_build_array(jsonb_build_object('id', 'wmOu', 'type', 'external', 'name', 'Ou', 'state', :'mei_code')))) -> 'members' AS ou_joins;
SELECT payload ->> 'member' AS member, payload ->> 'text' AS welcome FROM commerce.outbox
 WHERE tenant_id = :t AND topic = 'wecom.welcome' ORDER BY message_id;
SELECT s ->> 'stage' AS stage, s ->> 'threshold' AS threshold, s ->> 'status' AS reward,
       (SELECT points FROM commerce.points_lot l JOIN commerce.customer c USING (tenant_id, customer_id)
         WHERE c.code = 'wechat_mp:oMei' AND l.source = 'grant') AS mei_points
  FROM jsonb_array_elements(commerce.fission_progress(:t, 'club-friends', (SELECT person_id FROM commerce.customer WHERE tenant_id = :t AND code = 'wechat_mp:oMei')) -> 'stages') s;
-- Ou leaves and comes back: the invite is the same row, never counted twice
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'del_member',
         'at', extract(epoch FROM commerce.now())::bigint - 40, 'chat_id', 'wrHoodieClub', 'members', jsonb_build_array('wmOu'))) -> 'members' AS ou_quits;
SELECT commerce.community_ingest(:t, jsonb_build_object('type', 'change_external_chat', 'change', 'update', 'update_detail', 'add_member',
         'at', extract(epoch FROM commerce.now())::bigint - 30, 'chat_id', 'wrHoodieClub', 'cur_mem_ver', 'v6',
         'members', jsonb_build_array(jsonb_build_object('id', 'wmOu', 'type', 'external', 'state', :'mei_code')))) -> 'members' AS ou_back;
SELECT (commerce.fission_stats(:t, 'club-friends') - 'starts_at' - 'ends_at' - 'levels' - 'rewards') AS campaign_stats;
-- Xiao Li starts a check-in week; Mei checks in three days running (the third day earns the streak bonus), once a day
SELECT commerce.start_group_checkin(:t, 'wecom-wrHoodieClub', 'Hoodie week', 7, 5, 3, 10, NULL, 'koc:KOC-LI', 'KOC-LI') AS round \gset
SELECT day, streak, points, outcome FROM commerce.group_check_in(:t, 'wecom-wrHoodieClub', 'wechat_mp:oMei', NULL, 'mini_program');
SELECT day, streak, points, outcome FROM commerce.group_check_in(:t, 'wecom-wrHoodieClub', NULL, 'wmMei', 'group_message');
SET commerce.now = '2026-12-05 09:30:00+08';
SELECT day, streak, points, outcome FROM commerce.group_check_in(:t, 'wecom-wrHoodieClub', 'wechat_mp:oMei', NULL, 'mini_program');
SET commerce.now = '2026-12-06 08:45:00+08';
SELECT day, streak, points, outcome FROM commerce.group_check_in(:t, 'wecom-wrHoodieClub', 'wechat_mp:oMei', NULL, 'mini_program');
SELECT b ->> 'today' AS today, b ->> 'checkins' AS checkins, b ->> 'points' AS points, b -> 'streaks' AS streaks
  FROM commerce.checkin_board(:t, :round) b;
SELECT code, name, koc, members, customers, joins_7d, quits_7d, checkins_today
  FROM commerce.community_groups(:t, NULL, NULL, NULL, NULL, 10);
SELECT count(*) AS fission_invariant_violations FROM commerce.check_fission_invariants(:t);
SQL

say "20. Customer service (issue 15): Mei asks the mini-program's chat where her hoodie is and gets the waybill; a question the bot cannot answer goes to a person with suggestions"
p <<'SQL'
SELECT commerce.tenant_id('up') AS t \gset
SET commerce.now = '2026-12-06 09:00:00+08';
-- the knowledge base: the 59 articles of test/fixtures/service (questions customers ask, answers, an order lookup, a handoff)
CREATE TABLE public.demo_kb (code text, kind text, title text, questions text, answer text);
\copy public.demo_kb FROM '../fixtures/service/kb_articles.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
SELECT count(commerce.upsert_kb_article(:t, code, kind, title, string_to_array(questions, ' | '), answer)) AS articles FROM public.demo_kb;
-- Mei's hoodie ships with SF
SELECT carrier, tracking_no FROM commerce.ship_order(:t, (SELECT order_id FROM commerce.orders WHERE tenant_id = :t AND request_id = 'mei-1'),
         'ship-mei-1', 'SF1402026120601', 'SF');
-- she asks in the mini-program's chat (the adapter passes her UnionID); WeChat delivers the webhook twice
SELECT d.n AS delivery, d.r ->> 'replayed' AS replayed, d.r -> 'answer' ->> 'source' AS answered_from, d.r ->> 'status' AS session
  FROM (SELECT n, commerce.service_ingest(:t, jsonb_build_object('channel', 'miniprogram', 'account', 'wxdemo', 'user', 'oMei',
                  'message_id', 'wx-msg-1', 'text', '我的卫衣发货了吗？快递到哪了', 'delivery', n,
                  'identities', jsonb_build_array(jsonb_build_object('type', 'wechat_unionid', 'value', 'uMei', 'verified', true)))) AS r
          FROM generate_series(1, 2) n) d;
SELECT payload ->> 'text' AS bot_reply FROM commerce.outbox WHERE tenant_id = :t AND topic = 'service.reply' ORDER BY message_id;
-- on WeCom customer service a fan asks something the knowledge base does not cover: queued, nothing sent
SELECT r -> 'answer' ->> 'source' AS answered_from, r ->> 'status' AS session
  FROM commerce.service_ingest(:t, '{"channel":"wecom_kf","account":"kf-hoodie","user":"wmNing","message_id":"kf-1","text":"可以定制印字吗？团建要20件"}') r;
SELECT commerce.upsert_staff(:t, 'cs-amy', 'Amy (service)', 'operator') > 0 AS service_staff;
SELECT conversation_id AS kf FROM commerce.conversation WHERE tenant_id = :t AND external_user = 'wmNing' \gset
SELECT status, channel, preview, unread FROM commerce.service_inbox(:t, NULL, '{queued}');
SELECT commerce.service_accept(:t, NULL, :kf, (SELECT staff_id FROM commerce.staff WHERE tenant_id = :t AND code = 'cs-amy')) ->> 'status' AS taken;
SELECT s ->> 'article' AS suggestion, s ->> 'confidence_bp' AS confidence_bp
  FROM jsonb_array_elements(commerce.service_suggest(:t, NULL, :kf) -> 'suggestions') s;
SELECT commerce.service_reply(:t, NULL, :kf, (SELECT staff_id FROM commerce.staff WHERE tenant_id = :t AND code = 'cs-amy'),
         '可以的，20件起可定制印字，我拉您进团购群详细沟通。') ? 'message' AS replied;
-- WeCom allows 5 replies within 48 hours of the fan's last message; the sixth is refused with a hint
SELECT count(commerce.service_reply(:t, NULL, :kf, (SELECT staff_id FROM commerce.staff WHERE tenant_id = :t AND code = 'cs-amy'), '补充 ' || i))
       AS more_replies FROM generate_series(1, 4) i;
\set ON_ERROR_STOP 0
SELECT commerce.service_reply(:t, NULL, :kf, (SELECT staff_id FROM commerce.staff WHERE tenant_id = :t AND code = 'cs-amy'), '第六条');
\set ON_ERROR_STOP 1
SELECT commerce.service_end(:t, NULL, :kf) ->> 'status' AS session;
SELECT s -> 'sessions' ->> 'sessions' AS sessions, s -> 'sessions' ->> 'contained' AS contained_by_bot,
       s -> 'sessions' ->> 'taken' AS taken_by_staff, s -> 'answers' ->> 'orders' AS order_lookups
  FROM commerce.service_stats(:t, '2026-12-06', '2026-12-07') s;
SQL

say "21. Profit sharing (issue 16): a collab tee with a designer's studio, T+7 after completion; the PRD's 7:3 is refused by WeChat Pay's 30% limit; finance approves, the gateway pays, the bill reconciles"
p <<'SQL'
SELECT commerce.tenant_id('up') AS t \gset
SET commerce.now = '2026-12-06 10:00:00+08';
SET timezone = 'Asia/Shanghai';
\set SHOW_CONTEXT never
SELECT commerce.upsert_product(:t, 'COLLAB', 'Studio Lin x Up collab tee') > 0 AS product,
       commerce.upsert_sku(:t, 'COLLAB', 'COLLAB-TEE', 'Collab tee', 25900) > 0 AS sku,
       commerce.receive_stock(:t, 'collab-in', 'COLLAB-TEE', 200) > 0 AS received;
SELECT commerce.upsert_sharing_receiver(:t, 'studio-lin', 'merchant', '1900000109', 'Studio Lin') ->> 'receiver' AS receiver,
       commerce.upsert_sharing_receiver(:t, 'up-creator', 'personal', 'oUpCreator01', 'Up (creator)') ->> 'receiver' AS receiver2;
-- the PRD's example, 7:3 to the studio, is more than WeChat Pay lets go to receivers
\set ON_ERROR_STOP 0
SELECT commerce.set_sharing_rule(:t, 'product', 'COLLAB', '[{"receiver":"studio-lin","ratio_bp":7000}]', 7);
\set ON_ERROR_STOP 1
-- within it: the creator 3 yuan a tee, the studio 20% of the rest, T+7 after completion
SELECT commerce.set_sharing_rule(:t, 'product', 'COLLAB',
         '[{"receiver":"up-creator","fixed_fen":300},{"receiver":"studio-lin","ratio_bp":2000}]', 7, 'cap', 'collab 2026', 'ops') AS rule;
SELECT order_id AS co FROM commerce.place_order(:t, 'collab-1', 'wechat_mp', '{"lines":[{"sku":"COLLAB-TEE","qty":2}]}') \gset
SELECT status FROM commerce.pay_order(:t, :co, 'wx-collab-1', 51800);
SET commerce.now = '2026-12-08 20:00:00+08';
SELECT status FROM commerce.complete_order(:t, :co);
SELECT request_no, status, due_at, commerce.yuan(base_fen) AS base_yuan, commerce.yuan(parties_fen) AS parties_yuan,
       commerce.yuan(owner_fen) AS owner_yuan FROM commerce.profit_split WHERE tenant_id = :t;
-- T+7: the job makes it payable on 12-15; finance reviews and approves; the job submits it
SET commerce.now = '2026-12-15 09:00:00+08';
CALL commerce.splits_pump();
SELECT split_id AS sp FROM commerce.profit_split WHERE tenant_id = :t \gset
SELECT status, decided_by FROM commerce.decide_split(:t, :sp, true, 'fin-wang');
CALL commerce.splits_pump();
SELECT p ->> 'receiver' AS receiver, p ->> 'earned_fen' AS earned_fen, p ->> 'paid_fen' AS paid_fen
  FROM jsonb_array_elements(commerce.profit_splits(:t) -> 0 -> 'parties') p;
SELECT topic, payload ->> 'request_no' AS request_no, payload ->> 'amount_fen' AS amount_fen FROM commerce.outbox
 WHERE tenant_id = :t AND topic = 'finance.split';
SELECT status FROM commerce.record_split_result(:t, 'PS' || :co || '-1', 'finished');
SELECT r ->> 'differences' AS differences, r ->> 'our_fen' AS our_fen, r ->> 'bill_fen' AS bill_fen
  FROM commerce.reconcile_split_bill(:t, '2026-12-15', (SELECT jsonb_agg(jsonb_build_object('request_no', s.request_no,
         'account', rc.account, 'kind', 'split', 'amount_fen', l.paid_fen))
    FROM commerce.profit_split_line l JOIN commerce.profit_split s USING (tenant_id, split_id)
    JOIN commerce.sharing_receiver rc USING (tenant_id, receiver_id) WHERE l.tenant_id = :t)) r;
SQL

say "22. Potential KOCs (issue 16, K01, K02): three months of 300 fans' shares and friends; a model fitted on the first two, judged on the last; December's list with a control part; a recruitment SMS with benefits and a signed link; receipts; an application from the notice"
p <<'SQL'
SELECT commerce.tenant_id('up') AS t \gset
SET timezone = 'Asia/Shanghai';
\set SHOW_CONTEXT never
SET commerce.now = '2026-09-01 10:00:00+08';
-- 300 members come over from the shop's old member system with the day they joined (two in three left a phone);
-- a sticker and an invite-reward play bring friends
INSERT INTO commerce.customer (tenant_id, code, name, phone, created_at)
SELECT :t, format('fan-k%s', lpad(i::text, 3, '0')), 'Fan', CASE WHEN i % 3 <> 0 THEN (13700000000 + i)::text END,
       timestamptz '2026-08-01 10:00+08' + i * interval '1 hour'
  FROM generate_series(1, 300) i;
SELECT count(*) AS fans FROM commerce.customer WHERE tenant_id = :t AND code LIKE 'fan-k%';
SELECT commerce.ensure_play_templates(:t) >= 0 AS templates,
       commerce.upsert_product(:t, 'STICKER', 'Up sticker pack') > 0 AS product,
       commerce.upsert_sku(:t, 'STICKER', 'STICKER-1', 'Sticker pack', 990) > 0 AS sku,
       commerce.receive_stock(:t, 'sticker-in', 'STICKER-1', 2000) > 0 AS received;
SELECT (commerce.configure_play(:t, 'cfg-friend', 'FRIEND', 'INVITE_REWARD', 'SH-01', 'STICKER-1', 'Bring a friend', 990, 1000,
                                '2026-09-01', '2027-03-01', '{"reward_fen":300}')).code AS play;
CREATE FUNCTION pg_temp.bring(p_t bigint, p_inviter text, p_friend text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE o bigint;
BEGIN
    PERFORM commerce.upsert_customer(p_t, p_friend, 'Friend');
    PERFORM commerce.invite(p_t, 'inv-' || p_friend, 'FRIEND', p_inviter, p_friend);
    SELECT order_id INTO o FROM commerce.place_order(p_t, 'ord-' || p_friend, 'wechat_mp', '{"lines":[{"sku":"STICKER-1","qty":1}]}', p_friend);
    RETURN (commerce.pay_order(p_t, o, 'wx-' || p_friend, 990)).status;
END $$;
-- October: every tenth fan shares three times and each share draws four visitors; others now and then; those ten bring two friends each
SET commerce.now = '2026-10-10 20:00:00+08';
SELECT count(commerce.record_share(:t, format('fan-k%s', lpad(i::text, 3, '0')), CASE WHEN k = 3 THEN 'review' ELSE 'product' END,
                                   'STICKER', 'moments', format('share-%s-%s', i, k))) AS shares
  FROM generate_series(1, 300) i, generate_series(1, 3) k WHERE i % 10 = 0 OR (i % 7 = 0 AND k = 1);
SELECT count(*) FILTER (WHERE (commerce.record_share_click(:t, commerce.share_code(:t, s.share_id), 'visitor-' || s.share_id || '-' || v) ->> 'counted')::boolean) AS clicks_counted
  FROM commerce.share s CROSS JOIN generate_series(1, 4) v
 WHERE s.tenant_id = :t AND s.request_id ~ '^share-[0-9]*0-';
SELECT count(*) FILTER (WHERE pg_temp.bring(:t, format('fan-k%s', lpad(i::text, 3, '0')), format('friend-%s-%s', i, k)) = 'paid') AS friends_paid
  FROM generate_series(10, 300, 10) i, generate_series(1, 2) k;
-- late November (after the cut, 30 days before today): most of them bring another friend, and so do a few quiet fans
SET commerce.now = '2026-11-25 20:00:00+08';
SELECT count(*) FILTER (WHERE pg_temp.bring(:t, format('fan-k%s', lpad(i::text, 3, '0')), format('friend-%s-3', i)) = 'paid') AS friends_paid
  FROM generate_series(1, 300) i WHERE (i % 10 = 0 AND i % 30 <> 0) OR i % 37 = 0;
-- December 16: a 30-day horizon, 10% of the members listed, a fifth of the list held out; the model is fitted on what happened before November 16 and judged on what came after
SET commerce.now = '2026-12-16 09:00:00+08';
SELECT commerce.set_potential_policy(:t, p_horizon_days => 30, p_list_bp => 1000, p_holdout_bp => 2000) AS policy;
SELECT commerce.train_potential(:t, 'ops') AS model \gset
SELECT version, trained_until, evaluated_to, persons, metrics ->> 'n' AS judged, metrics ->> 'positives' AS judged_positive,
       round((metrics ->> 'auc')::numeric, 3) AS auc, round((metrics ->> 'top_5pct_lift')::numeric, 2) AS top5_lift,
       round((metrics ->> 'accuracy')::numeric, 3) AS accuracy, round((metrics ->> 'accuracy_of_base_rate')::numeric, 3) AS always_no
  FROM commerce.potential_model WHERE model_id = :model;
SELECT commerce.publish_candidates(:t, 'ops', :model) AS run \gset
SELECT c ->> 'rank' AS rank, c ->> 'customer' AS fan, c ->> 'score_bp' AS score_bp, c ->> 'control' AS control,
       c -> 'figures' ->> 'shares' AS shares, c -> 'figures' ->> 'clicks' AS clicks, c -> 'figures' ->> 'customers_brought' AS brought
  FROM jsonb_array_elements(commerce.potential_candidates(:t, :run, 8) -> 'candidates') c;
SELECT persons AS scored, listed, control AS held_out FROM commerce.potential_run WHERE run_id = :run;
-- the recruitment flow: an SMS with the benefits, the joining guide and the fan's signed link; fan-k020 opted out of SMS
SELECT commerce.define_flow(:t, 'koc-recruit', 'KOC recruitment',
         '{"trigger":{"on":"recall"},"steps":[{"id":"sms","action":{"message":{"channel":"sms","template":"koc_recruit"}}}]}') AS flow_version;
SELECT commerce.set_contact_optout(:t, 'fan-k020', 'sms', true, 'replied TD');
SELECT commerce.recruit_candidates(:t, 'dec-koc', 'koc-recruit', '10% commission on every redemption, silver after 20 orders, free samples each month',
                                   'https://up.example/koc/guide', :run, 30, 'ops') AS campaign;
CALL commerce.flow_pump();
SELECT status, coalesce(reason, '') AS reason, coalesce(channel, '') AS channel, count(*) FROM commerce.recruit_notice n
  JOIN commerce.recruit_campaign c USING (tenant_id, campaign_id) WHERE c.tenant_id = :t AND c.code = 'dec-koc' GROUP BY 1, 2, 3 ORDER BY 1;
SELECT payload ->> 'customer' AS to_fan, payload ->> 'template' AS template, payload -> 'context' ->> 'benefits' AS benefits,
       payload -> 'context' ->> 'notice' AS signed_link_code
  FROM commerce.outbox WHERE tenant_id = :t AND topic = 'crm.message' AND payload -> 'context' ->> 'campaign' = 'dec-koc'
 ORDER BY message_id LIMIT 1;
-- the SMS gateway's receipts: all delivered but one wrong number
SELECT count(*) FILTER (WHERE commerce.record_notice_receipt(:t, n.message_id, CASE WHEN n.notice_id = m.first THEN 'failed' ELSE 'delivered' END,
                                                              CASE WHEN n.notice_id = m.first THEN 'invalid_number' END) ->> 'changed' = 'true') AS receipts
  FROM commerce.recruit_notice n, (SELECT min(notice_id) AS first FROM commerce.recruit_notice WHERE tenant_id = :t AND status = 'sent') m
 WHERE n.tenant_id = :t AND n.status = 'sent';
-- a fan opens the link the next day and applies
SET commerce.now = '2026-12-17 12:00:00+08';
SELECT o.payload -> 'context' ->> 'notice' AS code, o.payload ->> 'customer' AS fan FROM commerce.outbox o
  JOIN commerce.recruit_notice n ON n.tenant_id = o.tenant_id AND n.message_id = o.message_id
 WHERE o.tenant_id = :t AND n.status = 'delivered' ORDER BY n.notice_id LIMIT 1 \gset
SELECT r ->> 'campaign' AS campaign, r ->> 'guide_url' AS guide FROM commerce.open_recruit_notice(:t, :'code') r;
SELECT status AS application FROM commerce.apply_koc(:t, 'apply-' || :'fan', :'fan', '[{"platform":"xiaohongshu","handle":"@sticker_fan","followers":1200}]');
SELECT r ->> 'notices' AS notices, r ->> 'sent' AS sent, r ->> 'delivered' AS delivered, r ->> 'delivery_rate' AS delivery_rate,
       r -> 'channels' -> 0 -> 'failures' AS failures, r -> 'not_sent' AS not_sent, r ->> 'applications_attributed' AS attributed,
       r ->> 'notified_rate' AS notified_applied, r ->> 'control_rate' AS control_applied
  FROM commerce.recruit_report(:t, 'dec-koc') r;
SQL

say "23. Materials (issue 16, K09, K10, H3.1.4): a sticker poster sized for Douyin and Moments, an AI video pack back in 2.1 s, Xiao Li shares it to Douyin in one click, the first click makes the share count and attributes the fan; the Taobao CSV and a mini-program QR code"
p <<'SQL'
SELECT commerce.tenant_id('up') AS t \gset
SET timezone = 'Asia/Shanghai';
\set SHOW_CONTEXT never
SET commerce.now = '2026-12-18 10:00:00+08';
SELECT commerce.upsert_koc_task(:t, 'STICKER-DEC', 'December sticker push', '2026-12-18', '2027-01-18', 1000,
                                p_materials => ARRAY['STICKER-POSTER']) > 0 AS task;
SELECT commerce.upsert_material(:t, 'STICKER-POSTER', 'image', 'Sticker pack poster', 'STICKER') ->> 'code' AS material;
-- the designer uploads the poster to object storage in two frames; a square one for Douyin is refused
\set ON_ERROR_STOP 0
SELECT commerce.add_material_version(:t, 'STICKER-POSTER', '{"language":"zh-CN","assets":[{"platform":"douyin","url":"https://oss.up.example/sticker/sq.jpg","sha256":"1111111111111111111111111111111111111111111111111111111111111111","bytes":201000,"width":1080,"height":1080,"mime":"image/jpeg"}]}');
\set ON_ERROR_STOP 1
SELECT f ->> 'platform' AS platform, (f ->> 'width') || 'x' || (f ->> 'height') AS size, f ->> 'url' AS url
  FROM jsonb_array_elements(commerce.add_material_version(:t, 'STICKER-POSTER', '{"language":"zh-CN","copy":"贴满你的笔记本","assets":[
        {"platform":"douyin","url":"https://oss.up.example/sticker/dy.jpg","sha256":"2222222222222222222222222222222222222222222222222222222222222222","bytes":240000,"width":1080,"height":1920,"mime":"image/jpeg"},
        {"platform":"moments","url":"https://oss.up.example/sticker/wx.jpg","sha256":"3333333333333333333333333333333333333333333333333333333333333333","bytes":180000,"width":1080,"height":1080,"mime":"image/jpeg"},
        {"platform":"taobao","url":"https://oss.up.example/sticker/tb.jpg","sha256":"4444444444444444444444444444444444444444444444444444444444444444","bytes":90000,"width":800,"height":800,"mime":"image/jpeg"}]}') -> 'latest' -> 0 -> 'files') f;
-- an AI pack for the task: 15 s videos in Chinese and English for Douyin
SELECT x ->> 'status' AS status, x ->> 'material' AS material
  FROM commerce.request_material_generation(:t, 'gen-sticker-1', 'STICKER-VIDEO', 'video', 'Sticker video',
         '{"languages":["zh-CN","en"],"platforms":["douyin"],"durations":[15],"brief":"a laptop covered in stickers"}',
         'STICKER', 'STICKER-DEC', 'ops') x;
SELECT payload ->> 'languages' AS languages, payload -> 'sizes' -> 0 ->> 'video_width' || 'x' || (payload -> 'sizes' -> 0 ->> 'video_height') AS frame
  FROM commerce.outbox WHERE tenant_id = :t AND topic = 'ai.material';
SET commerce.now = '2026-12-18 10:00:02.1+08';
SELECT x ->> 'status' AS status, x ->> 'versions' AS versions, x ->> 'latency_ms' AS latency_ms
  FROM commerce.record_generation_result(:t, (SELECT generation_id FROM commerce.material_generation WHERE request_id = 'gen-sticker-1'), 'ready',
         '[{"language":"zh-CN","duration_s":15,"copy":"一秒变可爱","assets":[{"platform":"douyin","url":"https://oss.up.example/ai/zh15.mp4","sha256":"5555555555555555555555555555555555555555555555555555555555555555","bytes":3900000,"width":1080,"height":1920,"mime":"video/mp4"}]},
           {"language":"en","duration_s":15,"copy":"Cute in a second","assets":[{"platform":"douyin","url":"https://oss.up.example/ai/en15.mp4","sha256":"6666666666666666666666666666666666666666666666666666666666666666","bytes":3800000,"width":1080,"height":1920,"mime":"video/mp4"}]}]') x;
SELECT r ->> 'ready' AS ready, r ->> 'p95_ms' AS p95_ms, r ->> 'within_5s_rate' AS within_5s
  FROM commerce.generation_report(:t, '2026-12-18', '2026-12-19') r;
-- Xiao Li's materials, and a one-click share of the poster to Douyin
SELECT m ->> 'code' AS material, m ->> 'kind' AS kind, m ->> 'via' AS via FROM jsonb_array_elements(commerce.koc_materials(:t, 'KOC-LI')) m;
SELECT x ->> 'share_code' AS share_code, x ->> 'tracking_code' ~ '^[0-9a-z.]+$' AS has_tracking_code, x -> 'file' ->> 'url' AS post_this, x ->> 'copy' AS copy
  FROM commerce.share_material(:t, 'KOC-LI', 'STICKER-POSTER', 'douyin', 'li-share-1') x \gset
SELECT :'share_code' AS share_code, :'has_tracking_code' AS has_tracking_code, :'post_this' AS post_this, :'copy' AS copy;
SELECT commerce.share_material(:t, 'KOC-LI', 'STICKER-VIDEO', 'douyin', 'li-share-2', p_language => 'en') ->> 'version' AS video_version;
-- a fan taps the Douyin link: the share succeeds, and the click is Xiao Li's
SELECT x ->> 'counted' AS counted, x ->> 'first' AS share_succeeded FROM commerce.record_share_click(:t, :'share_code', 'dy-fan-88') x;
SELECT k.code AS attributed_to FROM commerce.attribution_for(:t, 'dy-fan-88') a JOIN commerce.koc k ON k.tenant_id = :t AND k.koc_id = a.koc_id;
SELECT r ->> 'shares' AS shares, r ->> 'succeeded' AS succeeded, r ->> 'success_rate' AS success_rate
  FROM commerce.material_share_report(:t, '2026-12-18', '2026-12-19') r;
-- one-click distribution: Taobao's bulk import CSV (header and the sticker) and a QR code for the poster
SELECT line FROM regexp_split_to_table(commerce.product_export_csv(:t, 'taobao', ARRAY['STICKER']), E'\r\n') line WHERE line <> '';
SELECT x ->> 'status' AS status, x ->> 'page' AS page
  FROM commerce.request_qr_code(:t, 'qr-sticker', 'pages/material/detail', :'share_code', 'STICKER-POSTER', 'ops') x;
SELECT x ->> 'status' AS status, x ->> 'url' AS url
  FROM commerce.record_qr_code(:t, (SELECT qr_id FROM commerce.qr_request WHERE tenant_id = :t AND request_id = 'qr-sticker'), 'ready',
                               'https://oss.up.example/qr/sticker.png', '7777777777777777777777777777777777777777777777777777777777777777') x;
SQL

say "24. The creator's site (issue 16, H3.5): Xiao Li's home page from a template, refused while its live room does not exist, published with the site price; tonight's live room at its own price and pool; two fans subscribe, one spent her credit, the start tells the other once; a message without a credit is refused"
p <<'SQL'
SELECT commerce.tenant_id('up') AS t \gset
SET timezone = 'Asia/Shanghai';
\set SHOW_CONTEXT never
SET commerce.now = '2026-12-18 12:00:00+08';
-- a template of components, checked against their schemas; a follow button for Facebook is refused
\set ON_ERROR_STOP 0
SELECT commerce.upsert_site_template(:t, 'creator-home', 'Creator home', '{"components":[{"type":"follow_button","props":{"target":"facebook"}}]}');
\set ON_ERROR_STOP 1
SELECT x ->> 'components' AS components, x -> 'refs' AS refers_to
  FROM commerce.upsert_site_template(:t, 'creator-home', 'Creator home', '{"components":[
    {"type":"banner","props":{"material":"STICKER-POSTER","title":"Stickers for your laptop"}},
    {"type":"product_card","props":{"product":"STICKER"}},
    {"type":"live_floating_list","props":{"room":"LI-LIVE-1218","max_items":5}},
    {"type":"follow_button","props":{"target":"wecom","label":"Add Xiao Li on WeCom"}}]}') x;
SELECT x ->> 'versions' AS versions, x -> 'draft_broken_refs' AS cannot_show_yet
  FROM commerce.apply_site_template(:t, 'creator-home', 'li', 'Xiao Li''s corner', 'ops') x;
\set ON_ERROR_STOP 0
SELECT commerce.publish_site_page(:t, 'li', NULL, 'ops');
\set ON_ERROR_STOP 1
-- tonight's live room: its own channel (9.90 becomes 6.90 there) and 200 packs set aside for it
SELECT commerce.upsert_channel(:t, 'li_live', 'Xiao Li live room', 'self_operated') > 0 AS channel,
       commerce.set_price(:t, 'STICKER-1', 'channel', 690, 'li_live') > 0 AS live_price,
       commerce.allocate_stock(:t, 'alloc-li-live', 'li-live-1218', 'live_room', 'STICKER-1', 200) > 0 AS pool;
SELECT x ->> 'status' AS status, x ->> 'channel' AS channel, x ->> 'activity' AS pool
  FROM commerce.upsert_live_room(:t, 'LI-LIVE-1218', 'Sticker night', 'li_live', '2026-12-18 20:00+08', '2026-12-18 22:00+08', 'li-live-1218') x;
SELECT p ->> 'sku' AS sku, p ->> 'list_price_fen' AS list_fen, p ->> 'live_price_fen' AS live_fen, p ->> 'available' AS available, p ->> 'pinned' AS pinned
  FROM jsonb_array_elements(commerce.set_live_room_items(:t, 'LI-LIVE-1218', ARRAY['STICKER-1'], 'STICKER-1') -> 'products') p;
SELECT x ->> 'published_version' AS published FROM commerce.publish_site_page(:t, 'li', NULL, 'ops') x;
-- what a fan's phone gets: the components and the sticker at the site's (mini-program) price
SELECT c ->> 'type' AS component, c -> 'props' AS props FROM jsonb_array_elements(commerce.site_page(:t, 'li') -> 'components') c;
SELECT s ->> 'sku' AS sku, s ->> 'price_fen' AS site_price_fen FROM jsonb_array_elements(commerce.site_page(:t, 'li') -> 'products' -> 'STICKER' -> 'skus') s;
-- two fans subscribe to the start (one one-time credit each); one spends hers on a warm-up message
SELECT x ->> 'new' AS subscribed, x ->> 'live_start_credits' AS credits FROM commerce.subscribe_live_room(:t, 'LI-LIVE-1218', 'fan-k001') x;
SELECT x ->> 'new' AS subscribed, x ->> 'live_start_credits' AS credits FROM commerce.subscribe_live_room(:t, 'LI-LIVE-1218', 'fan-k002') x;
SELECT x ->> 'outcome' AS warm_up, x ->> 'credits_left' AS credits_left
  FROM commerce.send_subscription_message(:t, 'fan-k002', 'live_start', '{"note":"8 pm tonight"}', 'warm-up-k002') x;
-- 8 pm: the room starts; fan-k001 is told, fan-k002 has no credit left, and nothing is sent her
SET commerce.now = '2026-12-18 20:00:00+08';
SELECT x ->> 'status' AS status, x ->> 'queued' AS told, x ->> 'no_credit' AS no_credit FROM commerce.start_live_room(:t, 'LI-LIVE-1218') x;
SELECT payload ->> 'customer' AS customer, payload -> 'data' ->> 'title' AS message FROM commerce.outbox
 WHERE tenant_id = :t AND topic = 'mp.subscribe_message' AND dedupe_key LIKE 'subscribe:live:%';
\set ON_ERROR_STOP 0
SELECT commerce.send_subscription_message(:t, 'fan-k002', 'live_start', '{"note":"we are live"}', 'live-k002');
\set ON_ERROR_STOP 1
-- fan-k001 buys three packs in the room at the live price, from the room's pool
SELECT status, payable_fen FROM commerce.place_order(:t, 'li-live-o1', 'li_live', '{"lines":[{"sku":"STICKER-1","qty":3}],"activity":"li-live-1218"}', 'fan-k001');
SELECT p ->> 'available' AS left_in_room FROM jsonb_array_elements(commerce.live_room_products(:t, 'LI-LIVE-1218') -> 'products') p;
SQL

say "25. Result"
p <<'SQL'
SELECT (SELECT count(*) FROM public.demo_try)                                   AS flash_sale_tries,
       (SELECT count(*) FROM commerce.reservation WHERE status = 'confirmed'
           AND holder LIKE 'fan-%')                                             AS sold,
       (SELECT count(*) FROM commerce.reservation WHERE status = 'active')      AS reserved,
       (SELECT count(*) FROM commerce.reservation WHERE status = 'expired')     AS expired,
       (SELECT count(*) FROM public.demo_try WHERE outcome = 'rejected')        AS rejected;
SELECT CASE WHEN count(*) = 0 THEN 'all invariants hold: no oversell, nothing negative, ledger = pool, every reservation ended once'
            ELSE 'INVARIANT VIOLATIONS: ' || string_agg(check_name || ' ' || detail, '; ') END AS invariant_check
  FROM commerce.check_stock_invariants();
SELECT CASE WHEN count(*) = 0 THEN 'the plays hold: groups never above target, failed groups refunded, assets = total - consumed, splits add up'
            ELSE 'PLAY INVARIANT VIOLATIONS: ' || string_agg(invariant || ' ' || detail, '; ') END AS play_check
  FROM commerce.check_play_invariants();
SELECT CASE WHEN count(*) = 0 THEN 'the KOC books balance: ledger = account, settled lines = batches, one line per redemption'
            ELSE 'MONEY INVARIANT VIOLATIONS: ' || string_agg(problem, '; ') END AS money_check
  FROM commerce.check_koc_invariants();
SELECT CASE WHEN count(*) = 0 THEN 'the splits hold: every line''s parts add up to its base within the gateway''s cap, one request per split'
            ELSE 'FINANCE INVARIANT VIOLATIONS: ' || string_agg(invariant || ' ' || detail, '; ') END AS finance_check
  FROM commerce.check_finance_invariants();
SELECT CASE WHEN count(*) = 0 THEN 'the candidate lists and notices hold: counts = rows, no notice to the control part or twice, receipts on real messages'
            ELSE 'CREATOR INVARIANT VIOLATIONS: ' || string_agg(invariant || ' ' || detail, '; ') END AS creators_check
  FROM commerce.check_creators_invariants();
SELECT CASE WHEN count(*) = 0 THEN 'the site holds: page versions 1..n, every live subscriber told once at the start, no subscription message without a credit'
            ELSE 'SITE INVARIANT VIOLATIONS: ' || string_agg(invariant || ' ' || detail, '; ') END AS site_check
  FROM commerce.check_site_invariants();
SQL
n=$(psql -X -At -c "SELECT (SELECT count(*) FROM commerce.check_stock_invariants()) + (SELECT count(*) FROM commerce.check_koc_invariants()) + (SELECT count(*) FROM commerce.check_play_invariants()) + (SELECT count(*) FROM commerce.check_crm_invariants()) + (SELECT count(*) FROM commerce.check_fission_invariants()) + (SELECT count(*) FROM commerce.check_finance_invariants()) + (SELECT count(*) FROM commerce.check_creators_invariants()) + (SELECT count(*) FROM commerce.check_site_invariants())")
[ "$n" = "0" ]

say "26. The HQ console (src/console/) over the GraphQL API"
if [ "${CONSOLE:-0}" != "1" ]; then
    echo "Run CONSOLE=1 make demo to serve the HQ console on this data (PostGraphile 4 from npm, Node.js);"
    echo "it prints the address to open and keeps serving until Ctrl-C."
    exit 0
fi
source ../gateway/lib/serve.sh
gateway_packages
p <<'SQL'
SELECT commerce.upsert_staff(commerce.tenant_id('dance'), 'hq-demo', 'HQ (demo)', 'operator') > 0 AS operator;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gw_auth') THEN CREATE ROLE gw_auth LOGIN NOINHERIT; END IF;
END $$;
SELECT count(*) AS actor_roles FROM commerce.grant_api('gw_auth');
SQL
gateway_start "${PGDATABASE:-commerce_demo}"
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
tok=$(cd ../gateway && node -e "import('./lib/gql.mjs').then((m) => console.log(m.token(process.argv[1], 'operator', process.argv[2], 'hq-demo')))" \
    "$JWT_SECRET" "$(psql -X -At -c "SELECT commerce.tenant_id('dance')")")
echo "The console, signed in as HQ operator hq-demo of the dance studio (token valid for an hour):"
echo "  $BASE_URL/console/index.html#token=$tok&play=JAZZ3"
echo "GraphQL: $GQL_URL (Authorization: Bearer <token>). Ctrl-C stops the server and the cluster."
wait "$SERVER"

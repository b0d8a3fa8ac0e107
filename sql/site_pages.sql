-- The creator's own front (H3.5): a page saved as checked component
-- documents in versions, published once its references resolve, read by fans
-- with live prices, rolled back and taken down; a template applied in one
-- call; a live room on its own channel and activity pool with its floating
-- list; subscriptions to its start as one-time credits, the start message
-- sent once per credit, a hand-sent message refused without one.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET client_min_messages = warning;
SET commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.create_tenant('site', 'Site test') AS t \gset
SELECT commerce.upsert_product(:t, 'TEE', 'Cloud tee', 'physical', NULL, 'Up', 'Apparel') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'TEE', 'TEE-M', 'M, white', 9900) > 0 AS sku, commerce.upsert_sku(:t, 'TEE', 'TEE-L', 'L, white', 9900) > 0 AS sku2;
SELECT commerce.upsert_product(:t, 'CAP', 'Sun cap') > 0 AS product2, commerce.upsert_sku(:t, 'CAP', 'CAP-1', 'One size', 4900) > 0 AS sku3;
SELECT commerce.set_price(:t, 'TEE-M', 'channel', 8900, 'wechat_mp') > 0 AS site_price;
SELECT commerce.receive_stock(:t, 'r1', 'TEE-M', 40) > 0 AS received, commerce.receive_stock(:t, 'r2', 'CAP-1', 5) > 0 AS received2;
SELECT commerce.upsert_customer(:t, 'c1', 'Lin') > 0 AS c1, commerce.upsert_customer(:t, 'c2', 'Wu') > 0 AS c2,
       commerce.upsert_customer(:t, 'c3', 'Zhao') > 0 AS c3;
SELECT commerce.upsert_material(:t, 'BANNER-A', 'image', 'June banner', 'TEE') ->> 'status' AS material;
SELECT commerce.add_material_version(:t, 'BANNER-A', jsonb_build_object('language', 'zh-CN', 'assets', jsonb_build_array(
    jsonb_build_object('platform', 'moments', 'url', 'https://oss.example/b/a.jpg', 'sha256', repeat('a', 64), 'bytes', 120000,
                       'width', 1080, 'height', 1080, 'mime', 'image/jpeg')))) ->> 'added_version' AS material_version;
SELECT commerce.create_coupon_template(:t, 'JUNE-10', '{"name":"June 10 off 99","kind":"amount","amount_fen":1000,"threshold_fen":9900,"valid_days":7}') > 0 AS template;
SELECT commerce.create_coupon_batch(:t, 'JUNE-10', 'june-10', 500) > 0 AS batch;

-- the components a page is made of
SELECT component, jsonb_path_query_array(schema, '$.required[*]') AS required FROM commerce.site_components() ORDER BY component;

-- the home page: a banner, a product card, a coupon, a follow button and the live room's list (the room does not exist yet)
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[
    {"type":"banner","props":{"material":"BANNER-A","link":"/p/tee"}},
    {"type":"product_card","props":{"product":"TEE"}},
    {"type":"coupon","props":{"batch":"june-10","label":"10 off"}},
    {"type":"follow_button","props":{"target":"wecom"}},
    {"type":"live_floating_list","props":{"room":"LIVE-0601"}}]}', 'op1') - 'updated_at' AS page;
-- defaults filled in; the references kept
SELECT doc -> 'components' -> 1 -> 'props' AS product_card, doc -> 'components' -> 3 -> 'props' AS follow, refs
  FROM commerce.site_page_version WHERE version = 1;
-- refused, nothing saved: no components, an unknown component, props that break the schema (the component and path named)
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[]}');
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[{"type":"carousel","props":{}}]}');
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[{"type":"banner","props":{"material":"BANNER-A"}},{"type":"follow_button","props":{"target":"facebook"}}]}');
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[{"type":"video_feed","props":{"videos":[{"material":"V1","products":[7]}]}}]}');
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[{"type":"article","props":{"title":"Hi","body":"x","extra":1}}]}');
SELECT commerce.save_site_page(:t, 'Home Page', 'Up studio', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}');
SELECT versions FROM commerce.site_page WHERE slug = 'home';
-- publishing is refused while the live room is unknown
SELECT commerce.publish_site_page(:t, 'home', NULL, 'op1');
SELECT commerce.site_page(:t, 'home');

-- the live room: its own channel (its prices are the live prices) and a 10-unit activity pool
SELECT commerce.upsert_channel(:t, 'live_up', 'Up live room', 'self_operated') > 0 AS channel;
SELECT commerce.set_price(:t, 'TEE-M', 'channel', 7900, 'live_up') > 0 AS live_price;
SELECT commerce.allocate_stock(:t, 'alloc-live', 'live-0601', 'live_room', 'TEE-M', 10) > 0 AS allocated;
SELECT commerce.upsert_live_room(:t, 'LIVE-0601', 'June launch live', 'live_up', '2030-06-01 20:00+08', '2030-06-01 23:00+08', 'live-0601') AS room;
SELECT commerce.set_live_room_items(:t, 'LIVE-0601', ARRAY['CAP-1', 'TEE-M'], 'TEE-M') AS floating_list;
-- refused: an unknown SKU, a pinned SKU not listed, a window the wrong way round, an unknown channel
SELECT commerce.set_live_room_items(:t, 'LIVE-0601', ARRAY['TEE-M', 'NOPE']);
SELECT commerce.set_live_room_items(:t, 'LIVE-0601', ARRAY['TEE-M'], 'CAP-1');
SELECT commerce.upsert_live_room(:t, 'LIVE-X', 'Backwards', 'live_up', '2030-06-02 20:00+08', '2030-06-02 19:00+08');
SELECT commerce.upsert_live_room(:t, 'LIVE-X', 'No channel', 'nope', '2030-06-02 20:00+08', '2030-06-02 21:00+08');

-- now the page publishes, and fans see it with the site's price
SELECT commerce.publish_site_page(:t, 'home', NULL, 'op1') - 'updated_at' - 'published_at' AS published;
SELECT x - 'published_at' - 'components' - 'materials' AS fan_view, jsonb_array_length(x -> 'components') AS components,
       x -> 'materials' -> 'BANNER-A' -> 0 -> 'files' -> 0 ->> 'url' AS banner_url
  FROM commerce.site_page(:t, 'home') x;
-- a second version: the draft; fans still see version 1 until it is published
SELECT commerce.save_site_page(:t, 'home', 'Up studio', '{"components":[
    {"type":"article","props":{"title":"Why cloud-soft","body":"Two-ply cotton ...","products":["TEE","CAP"]}},
    {"type":"product_card","props":{"product":"TEE","sku":"TEE-M","show_price":false}}]}', 'op2') ->> 'versions' AS versions;
SELECT x ->> 'version' AS fans_see, jsonb_array_length(x -> 'components') AS components FROM commerce.site_page(:t, 'home') x;
SELECT commerce.publish_site_page(:t, 'home', NULL, 'op2') ->> 'published_version' AS published;
SELECT x ->> 'version' AS fans_see, x -> 'components' -> 0 ->> 'type' AS first, x -> 'products' -> 'CAP' AS cap FROM commerce.site_page(:t, 'home') x;
-- roll back to version 1, then take the page down
SELECT commerce.publish_site_page(:t, 'home', 1, 'op1') ->> 'published_version' AS rolled_back;
SELECT commerce.publish_site_page(:t, 'home', 9);
SELECT commerce.unpublish_site_page(:t, 'home') ->> 'published_version' AS published;
SELECT commerce.site_page(:t, 'home');
-- a version is never edited
UPDATE commerce.site_page_version SET doc = '{}' WHERE version = 1;

-- a template, applied in one call; editing the template later changes no page
SELECT commerce.upsert_site_template(:t, 'launch', 'Launch page', '{"components":[
    {"type":"banner","props":{"material":"BANNER-A"}},{"type":"product_card","props":{"product":"CAP"}},
    {"type":"follow_button","props":{"target":"douyin","label":"Follow on Douyin"}}]}') AS template;
SELECT x - 'updated_at' AS from_template FROM commerce.apply_site_template(:t, 'launch', 'cap-launch', 'The sun cap', 'op1') x;
SELECT commerce.upsert_site_template(:t, 'launch', 'Launch page', '{"components":[{"type":"follow_button","props":{"target":"wecom"}}]}') ->> 'components' AS template_now;
SELECT template, jsonb_array_length(doc -> 'components') AS components
  FROM commerce.site_page_version v JOIN commerce.site_page p USING (tenant_id, page_id) WHERE p.slug = 'cap-launch';
SELECT commerce.apply_site_template(:t, 'nope', 'x', 'X');
SELECT jsonb_path_query_array(commerce.site_pages(:t), '$[*].slug') AS pages;

-- the floating list: the pinned SKU first, list and live price, what the room's pool has left
SELECT commerce.live_room_products(:t, 'LIVE-0601') -> 'products' AS products;

-- fans subscribe to the start: one live_start credit each, once per room
SELECT x - 'live_start_credits' AS sub, x ->> 'live_start_credits' AS credits FROM commerce.subscribe_live_room(:t, 'LIVE-0601', 'c1') x;
SELECT commerce.subscribe_live_room(:t, 'LIVE-0601', 'c1') AS again;
SELECT commerce.subscribe_live_room(:t, 'LIVE-0601', 'c2') ->> 'live_start_credits' AS c2_credits;
-- c2's credit goes on a message sent by hand; the same key again is no second send
SELECT commerce.send_subscription_message(:t, 'c2', 'live_start', '{"room":"LIVE-0601","note":"warm-up"}', 'warm-up-c2') AS sent;
SELECT commerce.send_subscription_message(:t, 'c2', 'live_start', '{"room":"LIVE-0601","note":"warm-up"}', 'warm-up-c2') ->> 'outcome' AS again;
-- c3 never subscribed: refused here, not at the gateway
SELECT commerce.send_subscription_message(:t, 'c3', 'shipped', '{"order":"x"}', 'ship-c3');
SELECT commerce.send_subscription_message(:t, 'c3', 'birthday', '{}', 'b-c3');

-- the room starts: c1's message goes out on its credit, c2 has none left
SET commerce.now = '2030-06-01 20:00:00+08';
SELECT x - 'started_at' AS started FROM commerce.start_live_room(:t, 'LIVE-0601') x;
SELECT dedupe_key, payload FROM commerce.outbox WHERE topic = 'mp.subscribe_message' ORDER BY message_id;
SELECT c.code, s.outcome FROM commerce.live_room_subscriber s JOIN commerce.customer c USING (tenant_id, customer_id) ORDER BY c.code;
SELECT x ->> 'outcome' AS again FROM commerce.start_live_room(:t, 'LIVE-0601') x;
-- c1 buys in the room: the room's channel gives the live price, its activity the pool
SELECT status, payable_fen FROM commerce.place_order(:t, 'live-o1', 'live_up', '{"lines":[{"sku":"TEE-M","qty":2}],"activity":"live-0601"}', 'c1');
SELECT jsonb_path_query_array(commerce.live_room_products(:t, 'LIVE-0601'), '$.products[*] ? (@.sku == "TEE-M").available') AS tee_left;
SELECT commerce.place_order(:t, 'live-o2', 'live_up', '{"lines":[{"sku":"CAP-1","qty":1}],"activity":"live-0601"}', 'c1');
SELECT commerce.subscribe_live_room(:t, 'LIVE-0601', 'c3');
SELECT commerce.send_subscription_message(:t, 'c1', 'live_start', '{"room":"LIVE-0601"}', 'again-c1');
SELECT commerce.upsert_live_room(:t, 'LIVE-0601', 'Renamed', 'live_up', '2030-06-01 20:00+08', '2030-06-01 23:00+08');
-- it ends; a page naming it no longer publishes
SELECT commerce.end_live_room(:t, 'LIVE-0601') ->> 'status' AS status;
SELECT commerce.end_live_room(:t, 'LIVE-0601') ->> 'status' AS again;
SELECT commerce.publish_site_page(:t, 'home', 1);
SELECT commerce.start_live_room(:t, 'LIVE-0601');
SELECT * FROM commerce.check_site_invariants();
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

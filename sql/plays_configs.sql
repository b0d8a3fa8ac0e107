-- Plays as products, first part (M1.2, 2.1, 3): HQ templates with
-- rule schemas (a JSON Schema subset checked in C), store configs whose
-- rules are checked against the schema with defaults filled in and the JSON
-- path of a bad field named, stock pre-allocated from the shared pool,
-- visibility by city and store, the display state, closing a config.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-20 10:00:00+08';
SELECT commerce.create_tenant('hq', 'Dance HQ') AS t \gset
SELECT commerce.upsert_store(:t, 'HZ-1', 'Hangzhou West Lake', 'Zhejiang', 'Hangzhou') > 0 AS store_hz;
SELECT commerce.upsert_store(:t, 'SH-1', 'Shanghai Jing''an', 'Shanghai', 'Shanghai') > 0 AS store_sh;
SELECT commerce.upsert_product(:t, 'DANCE', 'Dance course', 'virtual', 'course') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'DANCE', 'DANCE-10', '10 dance lessons', 99900, p_floor_fen => 30000) > 0 AS sku;
SELECT commerce.receive_stock(:t, 'r1', 'DANCE-10', 100) > 0 AS received;

-- the four standard templates; their schemas
SELECT commerce.ensure_play_templates(:t) AS created, commerce.ensure_play_templates(:t) AS again;
SELECT code, kind, unit_name, rule_schema -> 'required' AS required FROM commerce.play_template ORDER BY code;
-- an HQ template of its own: a group buy of 3 to 5 dancers, counted in lessons
SELECT code, kind, rule_schema FROM commerce.upsert_play_template(:t, 'DANCE_GROUP', 'group_buy', 'Dance group', 'lessons',
  '{"type":"object","additionalProperties":false,"required":["target_size"],"properties":{
     "target_size":{"type":"integer","minimum":3,"maximum":5},
     "hours":{"type":"integer","minimum":1,"maximum":72,"default":48},
     "virtual_fill":{"type":"boolean","default":false},
     "level":{"type":"string","enum":["beginner","advanced"],"default":"beginner"},
     "tags":{"type":"array","items":{"type":"string","maxLength":10},"maxItems":3}}}');
-- bad schemas name the offending keyword
SELECT commerce.check_play_schema('{"type":"object","properties":{"price":{"type":"number"}}}');
SELECT commerce.check_play_schema('{"type":"object","properties":{"n":{"type":"integer","minimum":5,"maximum":2}}}');
SELECT commerce.check_play_schema('{"type":"object","properties":{"n":{"type":"integer","pattern":"x"}}}');
SELECT commerce.check_play_schema('{"type":"object","properties":{"n":{"type":"integer","default":"three"}}}');
SELECT commerce.check_play_schema('{"type":"object","required":["m"],"properties":{"n":{"type":"integer"}}}');
SELECT commerce.check_play_schema('{"type":"array","items":{"type":"integer"}}');
SELECT commerce.check_play_schema('{"type":"object","properties":{"a":{"type":"array"}}}');
SELECT commerce.check_play_schema('not json');

-- rules against the schema: defaults filled in, bad fields named by path
SELECT commerce.apply_play_schema(rule_schema::text, '{"target_size":4}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';
SELECT commerce.apply_play_schema(rule_schema::text, '{"target_size":7}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';
SELECT commerce.apply_play_schema(rule_schema::text, '{}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';
SELECT commerce.apply_play_schema(rule_schema::text, '{"target_size":4,"level":"expert"}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';
SELECT commerce.apply_play_schema(rule_schema::text, '{"target_size":4.5}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';
SELECT commerce.apply_play_schema(rule_schema::text, '{"target_size":4,"tags":["ok","much too long"]}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';
SELECT commerce.apply_play_schema(rule_schema::text, '{"target_size":4,"colour":"red"}') FROM commerce.play_template WHERE code = 'DANCE_GROUP';

-- a store config: 20 places at 599 yuan, each sale is 10 lessons; the stock moves to the play's pool
SELECT code, price_fen, stock, activity, rules, asset_type, units_per_sale
  FROM commerce.configure_play(:t, 'cfg-1', 'HZ-DANCE-GROUP', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'Group dance: 10 lessons',
                               59900, 20, '2026-11-20 00:00+08', '2026-12-20 00:00+08', '{"target_size":3}',
                               p_cities => ARRAY['Hangzhou'], p_per_user_limit => 1, p_mutex_group => 'dance-intro',
                               p_asset_type => 'COURSE', p_units_per_sale => 10);
SELECT code FROM commerce.configure_play(:t, 'cfg-1', 'HZ-DANCE-GROUP', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'Group dance: 10 lessons',
                                         59900, 20, '2026-11-20 00:00+08', '2026-12-20 00:00+08', '{"target_size":3}');
SELECT sku, activity, activity_kind, on_hand, available FROM commerce.stock ORDER BY pool_id;
-- refused: a rule outside the schema, below the floor, above the SKU price, more stock than there is,
-- an unknown template, a code configured twice
SELECT * FROM commerce.configure_play(:t, 'cfg-2', 'X', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'X', 59900, 5,
                                      '2026-11-20', '2026-12-20', '{"target_size":9}');
SELECT * FROM commerce.configure_play(:t, 'cfg-2', 'X', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'X', 29900, 5,
                                      '2026-11-20', '2026-12-20', '{"target_size":3}');
SELECT * FROM commerce.configure_play(:t, 'cfg-2', 'X', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'X', 100000, 5,
                                      '2026-11-20', '2026-12-20', '{"target_size":3}');
SELECT * FROM commerce.configure_play(:t, 'cfg-2', 'X', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'X', 59900, 81,
                                      '2026-11-20', '2026-12-20', '{"target_size":3}');
SELECT * FROM commerce.configure_play(:t, 'cfg-2', 'X', 'TANGO', 'HZ-1', 'DANCE-10', 'X', 59900, 5,
                                      '2026-11-20', '2026-12-20', '{"target_size":3}');
SELECT * FROM commerce.configure_play(:t, 'cfg-2', 'HZ-DANCE-GROUP', 'DANCE_GROUP', 'HZ-1', 'DANCE-10', 'X', 59900, 5,
                                      '2026-11-20', '2026-12-20', '{"target_size":3}');
SELECT count(*) AS configs, (SELECT available FROM commerce.stock WHERE activity IS NULL) AS shared_available
  FROM commerce.play_config;
-- a schema change that its configs do not fit is refused
SELECT * FROM commerce.upsert_play_template(:t, 'DANCE_GROUP', 'group_buy', 'Dance group', 'lessons',
  '{"type":"object","properties":{"target_size":{"type":"integer","minimum":4}}}');

-- visibility (query time) and display state: Hangzhou sees it, Shanghai does not; a flash sale everywhere
SELECT code FROM commerce.configure_play(:t, 'cfg-3', 'ALL-FLASH', 'FLASH_SALE', 'SH-1', 'DANCE-10', 'Flash: 10 lessons',
                                         49900, 2, '2026-11-21 20:00+08', '2026-11-21 22:00+08');
SELECT code, display_state FROM commerce.visible_plays(:t, 'Hangzhou');
SELECT code, display_state FROM commerce.visible_plays(:t, 'Shanghai');
SELECT code, display_state FROM commerce.visible_plays(:t, 'Shanghai', p_at => '2026-11-21 20:30+08');
SELECT code, display_state FROM commerce.visible_plays(:t, 'Hangzhou', 'SH-1', '2026-11-21 20:30+08');
SELECT code, available, display_state FROM commerce.play_display ORDER BY code;
-- closing returns the unsold stock to the shared pool
SELECT status FROM commerce.close_play(:t, 'HZ-DANCE-GROUP', 'close-1');
SELECT status FROM commerce.close_play(:t, 'HZ-DANCE-GROUP', 'close-1');
SELECT code, available, display_state FROM commerce.play_display ORDER BY code;
SELECT available FROM commerce.stock WHERE activity IS NULL;
SELECT count(*) AS stock_invariant_violations FROM commerce.check_stock_invariants();

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- plays_bad_input.sql: bad calls of the play template and config entry points
-- (check_play_schema, apply_play_schema, upsert_play_template,
-- ensure_play_templates, configure_play, close_play, visible_plays) are
-- refused with the documented SQLSTATE and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(57);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('p1', 'Plays one') AS t \gset
SELECT commerce.create_tenant('p2', 'Plays two') AS t2 \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_store(:t2, 'S2', 'Store two');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000, p_floor_fen => 5000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 10);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.configure_play(:t, 'cfg', 'G1', 'GROUP_BUY', 'S1', 'C10', 'Group', 8000, 5, '2030-01-01', '2030-02-01', '{"target_size":3}');
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- schemas
SELECT throws_ok($$SELECT commerce.check_play_schema(NULL)$$, '22004', 'argument p_schema must not be null', 'schema: NULL -> 22004');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":')$$, '22P02', 'malformed rule schema JSON', 'schema: not JSON -> 22P02');
SELECT throws_ok($$SELECT commerce.check_play_schema('[]')$$, '22023', 'invalid rule schema: $: expected an object', 'schema: not an object -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"string"}')$$, '22023', 'invalid rule schema: $.type: the rules are an object', 'schema: top level not an object type -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object"}')$$, '22023', 'invalid rule schema: $.properties: expected an object', 'schema: no properties -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"float"}}}')$$, '22023', 'invalid rule schema: $.properties.x.type: unknown type "float"', 'schema: unknown type -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{}}}')$$, '22023', 'invalid rule schema: $.properties.x.type: expected a type', 'schema: missing type -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"integer","minimum":1.5}}}')$$, '22023', 'invalid rule schema: $.properties.x.minimum: expected an integer', 'schema: float bound -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"string","minLength":-1}}}')$$, '22023', 'invalid rule schema: $.properties.x.minLength: expected an integer of 0 or more', 'schema: negative length -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"string","minLength":5,"maxLength":2}}}')$$, '22023', 'invalid rule schema: $.properties.x.maxLength: below minLength', 'schema: maxLength below minLength -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"string","enum":[]}}}')$$, '22023', 'invalid rule schema: $.properties.x.enum: expected a non-empty array', 'schema: empty enum -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"string","enum":["a",1]}}}')$$, '22023', 'invalid rule schema: $.properties.x.enum[1]: not a value of type string', 'schema: enum of another type -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"boolean","minimum":1}}}')$$, '22023', 'invalid rule schema: $.properties.x.minimum: keyword not allowed for type boolean', 'schema: keyword of another type -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"integer","title":5}}}')$$, '22023', 'invalid rule schema: $.properties.x.title: expected a string', 'schema: title not text -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"integer","maximum":3,"default":4}}}')$$, '22023', 'invalid rule schema: $.properties.x.default: 4 is above the maximum 3', 'schema: default out of bounds -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"integer"}},"required":"x"}')$$, '22023', 'invalid rule schema: $.required: expected an array', 'schema: required not an array -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"x":{"type":"integer"}},"additionalProperties":{}}')$$, '22023', 'invalid rule schema: $.additionalProperties: expected true or false', 'schema: additionalProperties a schema -> 22023');
SELECT throws_ok($$SELECT commerce.check_play_schema('{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"object","properties":{"c":{"type":"object","properties":{"d":{"type":"object","properties":{"e":{"type":"object","properties":{"f":{"type":"object","properties":{"g":{"type":"object","properties":{"h":{"type":"object","properties":{}}}}}}}}}}}}}}}}}}')$$, '22023', NULL, 'schema: nested too deep -> 22023');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"n":{"type":"integer"}}}', NULL)$$, '22004', 'argument p_rules must not be null', 'rules: NULL -> 22004');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"n":{"type":"integer"}}}', '{')$$, '22P02', 'malformed rules JSON', 'rules: not JSON -> 22P02');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"n":{"type":"integer"}}}', '[1]')$$, '22023', 'invalid rules: $: expected an object', 'rules: not an object -> 22023');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"n":{"type":"integer","minimum":2}}}', '{"n":1}')$$, '22023', 'invalid rules: $.n: 1 is below the minimum 2', 'rules: below the minimum -> 22023');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"n":{"type":"integer"}}}', '{"n":"1"}')$$, '22023', 'invalid rules: $.n: expected an integer', 'rules: a string for an integer -> 22023');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"b":{"type":"boolean"}}}', '{"b":1}')$$, '22023', 'invalid rules: $.b: expected true or false', 'rules: a number for a boolean -> 22023');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"},"maxItems":1}}}', '{"a":[1,2]}')$$, '22023', 'invalid rules: $.a: too many items', 'rules: too many items -> 22023');
SELECT throws_ok($$SELECT commerce.apply_play_schema('{"type":"object","properties":{"o":{"type":"object","required":["k"],"properties":{"k":{"type":"integer"}}}}}', '{"o":{}}')$$, '22023', 'invalid rules: $.o.k: missing', 'rules: nested required -> 22023');
SELECT is(commerce.apply_play_schema('{"type":"object","additionalProperties":true,"properties":{"n":{"type":"integer","default":3}}}', '{"x":1}'), '{"n":3,"x":1}'::jsonb, 'rules: additionalProperties true keeps extra keys and fills defaults');

-- templates
SELECT throws_ok(format($$SELECT commerce.upsert_play_template(%s, 'bad code', 'group_buy', 'n', 'u', '{"type":"object","properties":{}}')$$, :t), '22023', 'invalid value for p_code', 'template: lower-case code -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_play_template(%s, 'RAFFLE', 'raffle', 'n', 'u', '{"type":"object","properties":{}}')$$, :t), '22023', 'invalid value for p_kind', 'template: unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_play_template(%s, 'RAFFLE', 'group_buy', 'n', '', '{"type":"object","properties":{}}')$$, :t), '22023', 'invalid value for p_unit_name', 'template: empty unit -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_play_template(%s, 'RAFFLE', 'group_buy', 'n', 'u', NULL)$$, :t), '22004', 'argument p_rule_schema must not be null', 'template: NULL schema -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_play_template(%s, 'GROUP_BUY', 'bargain', 'n', 'u', '{"type":"object","properties":{"target_size":{"type":"integer"},"hours":{"type":"integer"},"virtual_fill":{"type":"boolean"}}}')$$, :t), 'PT409', 'template GROUP_BUY is of another kind', 'template: changing the kind -> PT409');
SELECT throws_ok(format($$SELECT commerce.upsert_play_template(%s, 'GROUP_BUY', 'group_buy', 'n', 'u', '{"type":"object","properties":{"target_size":{"type":"integer","minimum":5}}}')$$, :t), 'PT409', 'template GROUP_BUY: the new schema does not accept config "G1"', 'template: a schema its configs do not fit -> PT409');
SELECT throws_ok($$SELECT commerce.ensure_play_templates(999999)$$, 'PT404', 'tenant "999999" not found', 'templates: unknown tenant -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'schemas and templates: nothing changed');

-- configs
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, NULL, 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01')$$, :t), '22004', 'argument p_request_id must not be null', 'config: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', NULL)$$, :t), '22004', 'argument p_rules must not be null', 'config: NULL rules -> 22004');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'bad code!', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '22023', 'invalid value for p_code', 'config: bad code -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'NOPE', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), 'PT404', 'play template "NOPE" not found', 'config: unknown template -> PT404');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S2', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), 'PT404', 'store "S2" not found', 'config: another tenant''s store -> PT404');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'NOSKU', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), 'PT404', 'SKU "NOSKU" not found', 'config: unknown SKU -> PT404');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', '', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '22023', 'invalid value for p_title', 'config: empty title -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 0, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '22023', 'invalid value for p_price_fen', 'config: zero price -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 4999, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '23514', 'price 4999 fen is below the floor of SKU "C10"', 'config: below the floor -> 23514');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 0, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '22023', 'invalid value for p_stock', 'config: no stock -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 6, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), 'PT409', 'insufficient stock to allocate 6 units', 'config: more stock than available -> PT409');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-02-01', '2030-02-01', '{"target_size":3}')$$, :t), '22023', 'invalid value for p_ends_at', 'config: empty window -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}', p_cities => '{}')$$, :t), '22023', 'invalid value for p_cities', 'config: empty city list -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}', p_per_user_limit => 0)$$, :t), '22023', 'invalid value for p_per_user_limit', 'config: zero per-user limit -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}', p_mutex_group => 'Has Space')$$, :t), '22023', 'invalid value for p_mutex_group', 'config: bad mutex group -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}', p_asset_type => 'POINTS')$$, :t), '22023', 'invalid value for p_asset_type', 'config: unknown asset type -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'X', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":1}')$$, :t), '22023', 'invalid rules: $.target_size: 1 is below the minimum 2', 'config: rules outside the schema -> 22023');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'cfg', 'OTHER', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '23505', 'request_id "cfg" was already used for play config "G1"', 'config: request_id reused -> 23505');
SELECT throws_ok(format($$SELECT commerce.configure_play(%s, 'c2', 'G1', 'GROUP_BUY', 'S1', 'C10', 'x', 8000, 1, '2030-01-01', '2030-02-01', '{"target_size":3}')$$, :t), '23505', 'play config "G1" already exists', 'config: a code configured twice -> 23505');
SELECT throws_ok(format($$SELECT commerce.close_play(%s, 'NOPE', 'r')$$, :t), 'PT404', 'play config "NOPE" not found', 'close: unknown config -> PT404');
SELECT throws_ok(format($$SELECT commerce.visible_plays(%s, 'Hangzhou', 'S2')$$, :t), 'PT404', 'store "S2" not found', 'visible: another tenant''s store -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'configs: nothing changed');

SELECT * FROM finish();
ROLLBACK;

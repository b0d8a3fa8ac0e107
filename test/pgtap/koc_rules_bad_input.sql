-- koc_rules_bad_input.sql: bad calls of the level-rule entry points
-- (validate_level_rule, set_level_rule, level_rule_holds) are refused with the
-- documented SQLSTATE, name the offending JSON field, and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(36);
\ir lib/fingerprint.psql

SELECT commerce.create_tenant('r1', 'Rules one') AS t \gset
SELECT commerce.set_level_rule(:t, 'silver', '{"metric":"redemptions","op":">=","value":20}') IS NOT NULL AS ok \gset
SELECT pg_temp.fingerprint() AS fp0 \gset

-- validate_level_rule: structure
SELECT throws_ok($$SELECT commerce.validate_level_rule(NULL)$$, '22004', 'argument p_rule must not be null', 'validate: NULL -> 22004');
SELECT throws_ok($$SELECT commerce.validate_level_rule('')$$, '22P02', 'malformed level rule JSON', 'validate: empty text -> 22P02');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"all":[')$$, '22P02', 'malformed level rule JSON', 'validate: truncated -> 22P02');
SELECT throws_ok($$SELECT commerce.validate_level_rule('"redemptions"')$$, '22023', 'invalid level rule: $: expected an object', 'validate: bare string -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('[1,2]')$$, '22023', 'invalid level rule: $: expected an object', 'validate: array -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{}')$$, '22023', NULL, 'validate: empty object -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"all":[]}')$$, '22023', 'invalid level rule: $.all: expected a non-empty array', 'validate: empty all -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"any":{}}')$$, '22023', 'invalid level rule: $.any: expected a non-empty array', 'validate: any not an array -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"all":[{"metric":"redemptions","op":">=","value":1}],"any":[]}')$$, '22023', 'invalid level rule: $: a combination has exactly one key, all or any', 'validate: all and any together -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"all":[1]}')$$, '22023', 'invalid level rule: $.all[0]: expected an object', 'validate: number inside all -> 22023');
-- conditions
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"op":">=","value":1}')$$, '22023', NULL, 'validate: no metric -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"redemptions","value":1}')$$, '22023', NULL, 'validate: no op -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"redemptions","op":">="}')$$, '22023', NULL, 'validate: no value -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"likes","op":">=","value":1}')$$, '22023', 'invalid level rule: $.metric: unknown metric "likes"', 'validate: unknown metric -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":7,"op":">=","value":1}')$$, '22023', NULL, 'validate: metric not a string -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"redemptions","op":"=>","value":1}')$$, '22023', 'invalid level rule: $.op: unknown operator "=>"', 'validate: unknown op -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"gmv_fen","op":">=","value":5000.5}')$$, '22023', 'invalid level rule: $.value: expected an integer', 'validate: fractional value -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"gmv_fen","op":">=","value":"5000"}')$$, '22023', 'invalid level rule: $.value: expected an integer', 'validate: string value -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"gmv_fen","op":">=","value":-1}')$$, '22023', NULL, 'validate: negative value -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"repurchase_rate_bp","op":">=","value":10001}')$$, '22023', 'invalid level rule: $.value: a rate above 10000 basis points', 'validate: rate above 100% -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"metric":"redemptions","op":">=","value":1,"weight":2}')$$, '22023', 'invalid level rule: $.weight: unknown key', 'validate: unknown key -> 22023');
SELECT throws_ok($$SELECT commerce.validate_level_rule('{"all":[{"metric":"redemptions","op":">=","value":1},{"any":[{"metric":"gmv_fen","op":"~","value":1}]}]}')$$, '22023', 'invalid level rule: $.all[1].any[0].op: unknown operator "~"', 'validate: nested path named -> 22023');
SELECT is(commerce.validate_level_rule('{"value":1,"op":">=","metric":"redemptions"}'), '{"metric":"redemptions","op":">=","value":1}'::jsonb, 'validate: a good rule comes back as jsonb');
SELECT is(pg_temp.fingerprint(), :'fp0', 'validate: nothing changed');

-- set_level_rule
SELECT throws_ok($$SELECT commerce.set_level_rule(NULL, 'silver', '{"metric":"redemptions","op":">=","value":1}')$$, '22004', 'argument p_tenant must not be null', 'set: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_level_rule(%s, NULL, '{"metric":"redemptions","op":">=","value":1}')$$, :t), '22004', 'argument p_level must not be null', 'set: NULL level -> 22004');
SELECT throws_ok($$SELECT commerce.set_level_rule(999999, 'silver', '{"metric":"redemptions","op":">=","value":1}')$$, 'PT404', 'tenant "999999" not found', 'set: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_level_rule(%s, 'platinum', '{"metric":"redemptions","op":">=","value":1}')$$, :t), 'PT404', 'KOC level "platinum" not found', 'set: unknown level -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_level_rule(%s, 'silver', '{"metric":"likes","op":">=","value":1}')$$, :t), '22023', 'invalid level rule: $.metric: unknown metric "likes"', 'set: bad rule -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_level_rule(%s, 'silver', 'not json')$$, :t), '22P02', 'malformed level rule JSON', 'set: not JSON -> 22P02');
SELECT is(pg_temp.fingerprint(), :'fp0', 'set: nothing changed (the old rule stands)');
SELECT is(commerce.set_level_rule(:t, 'silver', NULL), NULL, 'set: NULL rule clears it');
SELECT is((SELECT promotion_rule FROM commerce.koc_level WHERE tenant_id = :t AND code = 'silver'), NULL, 'set: cleared rule stored as NULL');

-- level_rule_holds
SELECT throws_ok($$SELECT commerce.level_rule_holds('{"metric":"redemptions","op":">=","value":1}', '{"redemptions":"many"}')$$, '22023', 'invalid figures: redemptions is not an integer', 'holds: figure not an integer -> 22023');
SELECT throws_ok($$SELECT commerce.level_rule_holds('{"metric":"likes","op":">=","value":1}', '{}')$$, '22023', 'invalid level rule: $.metric: unknown metric "likes"', 'holds: bad rule -> 22023');
SELECT throws_ok($$SELECT commerce.level_rule_holds('{"metric":"redemptions","op":">=","value":1}', '[')$$, '22P02', NULL, 'holds: figures not JSON -> 22P02');

SELECT * FROM finish();
ROLLBACK;

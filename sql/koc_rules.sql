-- level rules (K05): JSON rule documents parsed and validated with jansson;
-- a bad document is refused naming the JSON path of the offending field.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SELECT commerce.create_tenant('brand', 'A brand') AS t \gset
SELECT commerce.set_level_rule(:t, 'silver', '{"all":[{"metric":"redemptions","op":">=","value":20},
  {"any":[{"metric":"gmv_fen","op":">=","value":500000},{"metric":"new_customers","op":">=","value":5}]}]}');
SELECT commerce.set_level_rule(:t, 'gold', '{"all":[{"metric":"redemptions","op":">=","value":100},
  {"metric":"repurchase_rate_bp","op":">=","value":3000}]}') IS NOT NULL AS gold_rule;
SELECT code, promotion_rule IS NOT NULL AS has_rule FROM commerce.koc_level WHERE tenant_id = :t ORDER BY rank;
-- evaluation against a month's figures (absent figures count 0)
SELECT f AS figures, commerce.level_rule_holds(promotion_rule::text, f) AS meets_silver
  FROM commerce.koc_level, (VALUES ('{"redemptions":25,"gmv_fen":600000}'), ('{"redemptions":25,"new_customers":4}'),
                                   ('{"redemptions":19,"new_customers":9}'), ('{}')) v(f)
 WHERE tenant_id = :t AND code = 'silver';
-- bad documents: each names the offending field
SELECT commerce.validate_level_rule('{"all":[{"metric":"redemptions","op":"=>","value":20}]}');
SELECT commerce.validate_level_rule('{"all":[{"metric":"redemptions","op":">=","value":20},{"any":[{"metric":"likes","op":">=","value":5}]}]}');
SELECT commerce.validate_level_rule('{"metric":"gmv_fen","op":">=","value":5000.5}');
SELECT commerce.validate_level_rule('{"metric":"gmv_fen","op":">=","value":"5000"}');
SELECT commerce.validate_level_rule('{"metric":"repurchase_rate_bp","op":">=","value":12000}');
SELECT commerce.validate_level_rule('{"all":[]}');
SELECT commerce.validate_level_rule('{"all":[{"metric":"redemptions","op":">=","value":1}],"any":[]}');
SELECT commerce.validate_level_rule('{"metric":"redemptions","op":">=","value":1,"weight":2}');
SELECT commerce.validate_level_rule('[1,2]');
SELECT commerce.validate_level_rule('{"all":[{"metric":"redemptions"');
SELECT commerce.set_level_rule(:t, 'platinum', '{"metric":"redemptions","op":">=","value":1}');
SELECT commerce.level_rule_holds('{"metric":"redemptions","op":">=","value":1}', '{"redemptions":"many"}');
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

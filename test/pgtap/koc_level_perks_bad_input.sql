-- koc_level_perks_bad_input.sql: the member benefits of KOC levels and the
-- NFT airdrops (K06) refuse bad benefit lists, unknown levels, bad issuer
-- answers and retries of airdrops that did not fail with their SQLSTATE
-- and change nothing; an airdrop is answered once; a KOC reads only its
-- own benefits, only HQ operators set a level's and retry, only a service
-- answers, no tenant touches another's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(34);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:20:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('lpb', 'Level perks bad input') AS t \gset
SELECT commerce.create_tenant('lpb2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_customer(:t, 'u1', 'U1'), commerce.upsert_customer(:t, 'u2', 'U2');
SELECT commerce.upsert_koc(:t, 'K1', 'u1', 'Mei'), commerce.upsert_koc(:t, 'K2', 'u2', 'Lan');
SELECT commerce.ensure_koc_levels(:t2);
SELECT commerce.set_level_perks(:t, 'gold', '[{"kind":"member_discount","rate_bp":500}]');
UPDATE commerce.koc SET level_code = 'gold' WHERE tenant_id = :t AND code = 'K1';
UPDATE commerce.koc SET level_code = 'silver' WHERE tenant_id = :t AND code = 'K2';
SELECT commerce.record_airdrop(:t, 'K1', 'gold', 'issued', 'nft:1');
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- set_level_perks
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', NULL)$$, :t), '22004', NULL, 'set_level_perks: no list');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, NULL, '[]')$$, :t), '22004', NULL, 'set_level_perks: no level');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '{}')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: not a list');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"badge"},{"kind":"badge"},{"kind":"badge"},{"kind":"badge"},{"kind":"badge"},{"kind":"badge"}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: six benefits');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '["badge"]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a benefit that is not an object');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"rate_bp":100}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: no kind');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"badge","until":"2031-01-01"}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: an unknown key');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"cashback"}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":null}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a null kind');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"member_discount","rate_bp":10001}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a rate over 10000 bp');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"member_discount","rate_bp":-1}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a negative rate');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"member_discount","rate_bp":2.5}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a fraction of a basis point');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"member_discount","rate_bp":"500"}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a rate as a string');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"member_discount","rate_bp":0}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a member discount of 0');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"badge","label":""}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: an empty label');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', jsonb_build_array(jsonb_build_object('kind', 'badge', 'label', repeat('x', 101))))$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a label over 100 characters');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'gold', '[{"kind":"badge"},{"kind":"badge"}]')$$, :t), '22023', 'invalid value for p_perks', 'set_level_perks: a kind twice');
SELECT throws_ok(format($$SELECT commerce.set_level_perks(%s, 'platinum', '[]')$$, :t), 'PT404', 'KOC level "platinum" not found', 'set_level_perks: an unknown level');
-- record_airdrop and retry_airdrop
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K2', 'silver', 'burned', 'x')$$, :t), '22023', 'invalid value for p_outcome', 'record_airdrop: an unknown outcome');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K2', 'silver', 'issued', '')$$, :t), '22023', 'invalid value for p_ref', 'record_airdrop: an empty token');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K2', 'silver', 'issued', repeat('x', 201))$$, :t), '22023', 'invalid value for p_ref', 'record_airdrop: a token over 200 characters');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K2', 'silver', 'issued', NULL)$$, :t), '22004', NULL, 'record_airdrop: no reference');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K9', 'silver', 'issued', 'nft:2')$$, :t), 'PT404', 'KOC "K9" not found', 'record_airdrop: an unknown KOC');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K2', 'gold', 'issued', 'nft:2')$$, :t), 'PT404', 'airdrop "K2 gold" not found', 'record_airdrop: a level the KOC was not airdropped for');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K2', 'silver', 'issued', 'nft:2')$$, :t2), 'PT404', 'KOC "K2" not found', 'record_airdrop: another tenant''s KOC');
SELECT throws_ok(format($$SELECT commerce.record_airdrop(%s, 'K1', 'gold', 'issued', 'nft:other')$$, :t), 'PT409', 'the airdrop of K1 for gold is issued', 'record_airdrop: another answer to an answered airdrop');
SELECT throws_ok(format($$SELECT commerce.retry_airdrop(%s, 'K2', 'silver')$$, :t), 'PT409', 'the airdrop of K2 for silver is requested', 'retry_airdrop: an airdrop that did not fail');
SELECT throws_ok(format($$SELECT commerce.retry_airdrop(%s, 'K1', 'gold')$$, :t), 'PT409', 'the airdrop of K1 for gold is issued', 'retry_airdrop: an issued airdrop');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('koc', 'K2', $$SELECT commerce_api.koc_benefits('K1')$$), '^42501', 'a KOC reads no other KOC''s benefits');
SELECT matches(pg_temp.call_as('koc', 'K2', $$SELECT commerce_api.set_level_perks('silver', '[]')$$), '^42501', 'a KOC sets no level''s benefits');
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.set_level_perks('silver', '[]')$$), '^42501: op-s1 is staff of stores', 'store-level operators set no level''s benefits');
SELECT matches(pg_temp.call_as('operator', 'op1', $$SELECT commerce_api.record_airdrop('K2', 'silver', 'issued', 'nft:3')$$), '^42501', 'an operator answers no airdrop (the issuer does)');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;

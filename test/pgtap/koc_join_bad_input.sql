-- koc_join_bad_input.sql: bad calls of the joining entry points (apply_koc,
-- review_koc_application, publish_agreement, sign_agreement,
-- signature_evidence) are refused with the documented SQLSTATE and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(40);
\ir lib/fingerprint.psql

SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SELECT commerce.create_tenant('j1', 'Joining one') AS t \gset
SELECT commerce.create_tenant('j2', 'Joining two') AS t2 \gset
SELECT commerce.upsert_customer(:t, 'u-1') AS c1 \gset
SELECT commerce.upsert_customer(:t, 'u-2') AS c2 \gset
SELECT commerce.upsert_customer(:t2, 'u-x') AS cx \gset
SELECT application_id AS a1 FROM commerce.apply_koc(:t, 'app-1', 'u-1', '[{"platform":"douyin","handle":"one"}]') \gset
SELECT commerce.publish_agreement(:t, 'Agreement', 'The text.') AS v1 \gset
SELECT pg_temp.fingerprint() AS fp0 \gset

-- apply_koc
SELECT throws_ok(format($$SELECT commerce.apply_koc(NULL, 'r', 'u-2', '[{"platform":"douyin","handle":"h"}]')$$), '22004', 'argument p_tenant must not be null', 'apply: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, NULL, 'u-2', '[{"platform":"douyin","handle":"h"}]')$$, :t), '22004', 'argument p_request_id must not be null', 'apply: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', NULL, '[{"platform":"douyin","handle":"h"}]')$$, :t), '22004', 'argument p_customer must not be null', 'apply: NULL customer -> 22004');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', NULL)$$, :t), '22004', 'argument p_social_accounts must not be null', 'apply: NULL accounts -> 22004');
SELECT throws_ok(format($$SELECT commerce.apply_koc(999999, 'r', 'u-2', '[{"platform":"douyin","handle":"h"}]')$$), 'PT404', 'tenant "999999" not found', 'apply: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'nobody', '[{"platform":"douyin","handle":"h"}]')$$, :t), 'PT404', 'customer "nobody" not found', 'apply: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-x', '[{"platform":"douyin","handle":"h"}]')$$, :t), 'PT404', 'customer "u-x" not found', 'apply: another tenant''s customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', '[]')$$, :t), '22023', 'invalid value for p_social_accounts', 'apply: no accounts -> 22023');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', '{"platform":"douyin","handle":"h"}')$$, :t), '22023', 'invalid value for p_social_accounts', 'apply: accounts not an array -> 22023');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', '[{"platform":"myspace","handle":"h"}]')$$, :t), '22023', 'invalid value for p_social_accounts', 'apply: unknown platform -> 22023');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', '[{"platform":"douyin"}]')$$, :t), '22023', 'invalid value for p_social_accounts', 'apply: no handle -> 22023');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', '[{"platform":"douyin","handle":"h","followers":-5}]')$$, :t), '22023', 'invalid value for p_social_accounts', 'apply: negative followers -> 22023');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-2', '[{"platform":"douyin","handle":"h","followers":"many"}]')$$, :t), '22023', 'invalid value for p_social_accounts', 'apply: followers not a number -> 22023');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'r', 'u-1', '[{"platform":"douyin","handle":"h"}]')$$, :t), 'PT409', 'customer "u-1" already has an application under review', 'apply: second open application -> PT409');
SELECT throws_ok(format($$SELECT commerce.apply_koc(%s, 'app-1', 'u-2', '[{"platform":"douyin","handle":"h"}]')$$, :t), '23505', 'request_id "app-1" was already used for another application', 'apply: request_id of another customer -> 23505');
SELECT is(pg_temp.fingerprint(), :'fp0', 'apply: nothing changed');

-- review_koc_application
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, %s, NULL, 'r')$$, :t, :a1), '22004', 'argument p_approve must not be null', 'review: NULL decision -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, %s, true, NULL)$$, :t, :a1), '22004', 'argument p_reviewer must not be null', 'review: NULL reviewer -> 22004');
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, 999999, true, 'r')$$, :t), 'PT404', 'KOC application "999999" not found', 'review: unknown application -> PT404');
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, %s, true, 'r')$$, :t2, :a1), 'PT404', format('KOC application "%s" not found', :a1), 'review: another tenant''s application -> PT404');
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, %s, false, 'r')$$, :t, :a1), '22023', 'invalid value for p_reason', 'review: rejection without reason -> 22023');
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, %s, false, 'r', '   ')$$, :t, :a1), '22023', 'invalid value for p_reason', 'review: blank reason -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'review: nothing changed');
SELECT is((SELECT status FROM commerce.review_koc_application(:t, :a1, true, 'store')), 'approved', 'review: approval');
SELECT is((SELECT status FROM commerce.review_koc_application(:t, :a1, true, 'store')), 'approved', 'review: approving again is a no-op');
SELECT throws_ok(format($$SELECT commerce.review_koc_application(%s, %s, false, 'hq', 'no')$$, :t, :a1), 'PT409', 'koc_application cannot go from approved to rejected', 'review: reversing a decision -> PT409');
SELECT is((SELECT count(*) FROM commerce.koc WHERE tenant_id = :t), 1::bigint, 'review: one KOC created');
SELECT pg_temp.fingerprint() AS fp1 \gset

-- publish_agreement
SELECT throws_ok(format($$SELECT commerce.publish_agreement(%s, NULL, 'x')$$, :t), '22004', 'argument p_title must not be null', 'publish: NULL title -> 22004');
SELECT throws_ok(format($$SELECT commerce.publish_agreement(%s, 't', NULL)$$, :t), '22004', 'argument p_body must not be null', 'publish: NULL body -> 22004');
SELECT throws_ok(format($$SELECT commerce.publish_agreement(%s, 't', '')$$, :t), '22023', 'invalid value for p_body', 'publish: empty body -> 22023');
SELECT throws_ok($$SELECT commerce.publish_agreement(999999, 't', 'x')$$, 'PT404', 'tenant "999999" not found', 'publish: unknown tenant -> PT404');

-- sign_agreement
SELECT throws_ok(format($$SELECT commerce.sign_agreement(%s, 'KOC-%s', 1, NULL, 'n')$$, :t, :a1), '22004', 'argument p_text_sha256 must not be null', 'sign: NULL hash -> 22004');
SELECT throws_ok(format($$SELECT commerce.sign_agreement(%s, 'nobody', 1, repeat('a', 64), 'n')$$, :t), 'PT404', 'KOC "nobody" not found', 'sign: unknown KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.sign_agreement(%s, 'KOC-%s', 9, repeat('a', 64), 'n')$$, :t, :a1), 'PT404', 'agreement version "9" not found', 'sign: unknown version -> PT404');
SELECT throws_ok(format($$SELECT commerce.sign_agreement(%s, 'KOC-%s', 1, repeat('a', 64), 'n')$$, :t, :a1), '22023', 'invalid value for p_text_sha256', 'sign: hash of another text -> 22023');
SELECT throws_ok(format($$SELECT commerce.sign_agreement(%s, 'KOC-%s', 1, encode(sha256(convert_to('The text.', 'UTF8')), 'hex'), 'n')$$, :t2, :a1), 'PT404', format('KOC "KOC-%s" not found', :a1), 'sign: another tenant''s KOC -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp1', 'publish and sign: nothing changed');
SELECT ok(NOT commerce.koc_has_signed_current(:t, (SELECT koc_id FROM commerce.koc WHERE tenant_id = :t)), 'not signed yet');

-- signature_evidence
SELECT throws_ok(format($$SELECT * FROM commerce.signature_evidence(%s, 'KOC-%s', 1)$$, :t, :a1), 'PT404', format('signature "KOC-%s v1" not found', :a1), 'evidence: no signature -> PT404');
SELECT throws_ok(format($$SELECT * FROM commerce.signature_evidence(%s, NULL, 1)$$, :t), '22004', 'argument p_koc must not be null', 'evidence: NULL KOC -> 22004');

SELECT * FROM finish();
ROLLBACK;

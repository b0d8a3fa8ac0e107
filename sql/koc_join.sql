-- joining: applications with social accounts and their review (K03), and
-- versioned agreements signed with the SHA-256 of the exact text (K04).
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-01 10:00:00+08';
SELECT commerce.create_tenant('brand', 'A brand') AS t \gset
SELECT commerce.upsert_customer(:t, code, name) > 0 AS customer
  FROM (VALUES ('u-1', 'Xiao Li'), ('u-2', 'Xiao Wang')) v(code, name);

-- apply, review: approval creates the KOC at the lowest level
SELECT application_id AS a1, status FROM commerce.apply_koc(:t, 'app-1', 'u-1',
  '[{"platform":"douyin","handle":"xiaoli","followers":12000},{"platform":"xiaohongshu","handle":"li.notes"}]',
  'I post outfit videos') \gset
SELECT :'status' AS status;
SELECT application_id = :a1 AS same FROM commerce.apply_koc(:t, 'app-1', 'u-1', '[{"platform":"douyin","handle":"xiaoli"}]');
SELECT * FROM commerce.apply_koc(:t, 'app-1b', 'u-1', '[{"platform":"douyin","handle":"xiaoli"}]');
SELECT * FROM commerce.apply_koc(:t, 'app-x', 'u-2', '[{"platform":"myspace","handle":"w"}]');
SELECT status, reviewer, koc_id IS NOT NULL AS koc_created
  FROM commerce.review_koc_application(:t, :a1, true, 'store-SH-01');
SELECT code, level_code, status FROM commerce.koc WHERE tenant_id = :t;
SELECT * FROM commerce.review_koc_application(:t, :a1, false, 'hq', 'changed my mind');
SELECT * FROM commerce.apply_koc(:t, 'app-2', 'u-1', '[{"platform":"wechat","handle":"li"}]');
-- a rejection needs a reason
SELECT application_id AS a2 FROM commerce.apply_koc(:t, 'app-3', 'u-2', '[{"platform":"bilibili","handle":"wang"}]') \gset
SELECT * FROM commerce.review_koc_application(:t, :a2, false, 'hq');
SELECT status, decision_reason FROM commerce.review_koc_application(:t, :a2, false, 'hq', 'too few followers');

-- agreements: versions with the hash of the exact text; sign the current one
SELECT commerce.publish_agreement(:t, 'KOC agreement', 'Commission: 5% of redeemed orders. Content: no false claims.') AS v1;
SELECT version, body_sha256 = encode(sha256(convert_to(body, 'UTF8')), 'hex') AS hash_of_text FROM commerce.agreement;
SELECT commerce.koc_has_signed_current(:t, koc_id) AS signed FROM commerce.koc WHERE code = 'KOC-' || :a1;
SELECT version, signer_name, client_ip FROM commerce.sign_agreement(:t, 'KOC-' || :a1, 1,
  encode(sha256(convert_to('Commission: 5% of redeemed orders. Content: no false claims.', 'UTF8')), 'hex'),
  'Xiao Li', '10.9.8.7');
SELECT commerce.koc_has_signed_current(:t, koc_id) AS signed FROM commerce.koc WHERE code = 'KOC-' || :a1;
-- the text shown must be the version's text
SELECT * FROM commerce.sign_agreement(:t, 'KOC-' || :a1, 1, encode(sha256('other text'), 'hex'), 'Xiao Li');
-- a new version: the KOC must sign again before earning
SELECT commerce.publish_agreement(:t, 'KOC agreement', 'Commission: 6% of redeemed orders. Content: no false claims.') AS v2;
SELECT commerce.koc_has_signed_current(:t, koc_id) AS signed FROM commerce.koc WHERE code = 'KOC-' || :a1;
SELECT * FROM commerce.sign_agreement(:t, 'KOC-' || :a1, 1,
  encode(sha256(convert_to('Commission: 5% of redeemed orders. Content: no false claims.', 'UTF8')), 'hex'), 'Xiao Li');
-- the evidence, verified against the stored text; agreements and signatures never change
SELECT koc, version, signer_name, client_ip, signed_at, text_still_matches
  FROM commerce.signature_evidence(:t, 'KOC-' || :a1, 1);
UPDATE commerce.agreement SET body = 'Commission: 50%' WHERE tenant_id = :t AND version = 1;
DELETE FROM commerce.agreement_signature WHERE tenant_id = :t;
SELECT * FROM commerce.signature_evidence(:t, 'KOC-' || :a1, 2);

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- creators_materials_bad_input.sql: the material library, AI generation,
-- KOC shares, exports and QR codes (issue 16, K09, K10, H3.1.4) refuse bad
-- input with their SQLSTATE and change nothing; versions, assets and
-- generations are append-only or guarded; store staff, customers and other
-- KOCs reach none of it, and no tenant sees another's library.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(63);
\ir lib/fingerprint.psql
\ir lib/call_as.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.grant_api();
SELECT commerce.create_tenant('mt', 'Materials bad input') AS t \gset
SELECT commerce.create_tenant('mt2', 'Other') AS t2 \gset
SELECT set_config('act.t', :'t', true);
SELECT commerce.upsert_store(:t, 'S1', 'Store one');
SELECT commerce.upsert_staff(:t, 'op1', 'HQ', 'operator');
SELECT commerce.upsert_staff(:t, 'op-s1', 'Store one operator', 'operator', ARRAY['S1']);
SELECT commerce.upsert_product(:t, 'P', 'Tee');
SELECT commerce.upsert_sku(:t, 'P', 'P-M', 'M', 9900);
SELECT commerce.upsert_customer(:t, 'c1', 'C1');
SELECT commerce.upsert_customer(:t, 'c2', 'C2');
SELECT commerce.upsert_koc(:t, 'K1', 'c1', 'One');
SELECT commerce.upsert_koc(:t, 'K2', 'c2', 'Two');
SELECT commerce.upsert_koc_task(:t, 'T1', 'Task', '2030-05-01', '2030-07-01', 500, p_materials => ARRAY['IMG']);
SELECT commerce.upsert_material(:t, 'IMG', 'image', 'Poster', 'P');
SELECT commerce.add_material_version(:t, 'IMG', jsonb_build_object('language', 'zh-CN', 'assets', jsonb_build_array(
    jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.jpg', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))));
SELECT commerce.upsert_material(:t, 'VID', 'video', 'Video');
SELECT commerce.upsert_material(:t, 'SECRET', 'image', 'Not for KOCs');
SELECT commerce.add_material_version(:t, 'SECRET', jsonb_build_object('language', 'zh-CN', 'assets', jsonb_build_array(
    jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/s.jpg', 'sha256', repeat('b', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))));
SELECT commerce.upsert_material(:t2, 'IMG', 'image', 'Other tenant''s poster');
SELECT commerce.request_material_generation(:t, 'g1', 'GEN', 'copy', 'Copy', '{"languages":["en"],"platforms":["facebook"]}');
SELECT generation_id AS gen FROM commerce.material_generation WHERE request_id = 'g1' \gset
SELECT commerce.request_qr_code(:t, 'q1', 'pages/index', 'abc');
SELECT qr_id AS qr FROM commerce.qr_request WHERE request_id = 'q1' \gset
SELECT commerce.share_material(:t, 'K1', 'IMG', 'douyin', 'ks-1');
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- the library
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, 'bad code', 'image', 'T')$$, :t), '22023', 'invalid value for p_code', 'upsert_material: a bad code');
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, 'M', 'audio', 'T')$$, :t), '22023', 'invalid value for p_kind', 'upsert_material: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, 'M', 'image', '')$$, :t), '22023', 'invalid value for p_title', 'upsert_material: an empty title');
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, 'M', 'image', 'T', 'NOPE')$$, :t), 'PT404', NULL, 'upsert_material: an unknown product');
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, 'M', 'image', 'T', NULL, 'NOPE')$$, :t), 'PT404', NULL, 'upsert_material: an unknown task');
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, 'IMG', 'video', 'T')$$, :t), 'PT409', 'material IMG is an image', 'upsert_material: a kind changed');
SELECT throws_ok(format($$SELECT commerce.upsert_material(%s, NULL, 'image', 'T')$$, :t), '22004', NULL, 'upsert_material: no code');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'NOPE', '{"language":"en"}')$$, :t), 'PT404', NULL, 'add_material_version: an unknown material');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', '[]')$$, :t), '22023', 'invalid value for p_version', 'add_material_version: not an object');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', '{"language":"en","x":1}')$$, :t), '22023', 'invalid value for p_version', 'add_material_version: an unknown key');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', '{"language":"english","assets":[]}')$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a bad language tag');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', '{"language":"en","assets":[]}')$$, :t), '22023', 'invalid value for p_version', 'add_material_version: an image without files');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', '{"language":"en","assets":[{"platform":"myspace"}]}')$$, :t), '22023', 'invalid value for p_version', 'add_material_version: an unknown platform');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'http://oss.example/a.jpg', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a file over plain http');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.jpg', 'sha256', repeat('A', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a checksum in upper case');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.jpg', 'sha256', repeat('a', 64), 'bytes', 0, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a file of 0 bytes');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.jpg', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1080, 'mime', 'image/jpeg'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a square file for Douyin');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.mp4', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'video/mp4'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a video file for an image');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.jpg', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'), jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/b.jpg', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: two files for one platform');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'VID', jsonb_build_object('language', 'en', 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.mp4', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'video/mp4'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a video without a duration');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'VID', jsonb_build_object('language', 'en', 'duration_s', 60, 'assets', jsonb_build_array(jsonb_build_object('platform', 'moments', 'url', 'https://oss.example/a.mp4', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'video/mp4'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a 60 s video for Moments (30 s at most)');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'IMG', jsonb_build_object('language', 'en', 'copy', repeat('x', 1001), 'assets', jsonb_build_array(jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/a.jpg', 'sha256', repeat('a', 64), 'bytes', 10, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'))))$$, :t), '22023', 'invalid value for p_version', 'add_material_version: copy too long for Douyin');
SELECT throws_ok(format($$SELECT commerce.add_material_version(%s, 'GEN', '{"language":"en"}')$$, :t), '22023', 'invalid value for p_version', 'add_material_version: a copy material without copy');
SELECT throws_ok(format($$SELECT commerce.retire_material(%s, 'NOPE')$$, :t), 'PT404', NULL, 'retire_material: an unknown material');
SELECT throws_ok(format($$SELECT commerce.retire_material(%s, 'VID')$$, :t2), 'PT404', NULL, 'retire_material: another tenant''s material');

-- generation
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, 'g2', 'M', 'image', 'T', '{"languages":[],"platforms":["douyin"]}')$$, :t), '22023', 'invalid value for p_params', 'request_material_generation: no language');
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, 'g2', 'M', 'image', 'T', '{"languages":["en"],"platforms":["myspace"]}')$$, :t), '22023', 'invalid value for p_params', 'request_material_generation: an unknown platform');
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, 'g2', 'M', 'video', 'T', '{"languages":["en"],"platforms":["douyin"],"durations":[45]}')$$, :t), '22023', 'invalid value for p_params', 'request_material_generation: a 45 s video');
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, 'g2', 'M', 'image', 'T', '{"languages":["en"],"platforms":["douyin"],"durations":[15]}')$$, :t), '22023', 'invalid value for p_params', 'request_material_generation: durations for an image');
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, 'g2', 'M', 'image', 'T', '{"languages":["en"],"platforms":["douyin"],"versions":10}')$$, :t), '22023', 'invalid value for p_params', 'request_material_generation: ten versions');
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, 'g2', 'IMG', 'video', 'T', '{"languages":["en"],"platforms":["douyin"],"durations":[15]}')$$, :t), 'PT409', NULL, 'request_material_generation: into a material of another kind');
SELECT throws_ok(format($$SELECT commerce.request_material_generation(%s, '', 'M', 'image', 'T', '{}')$$, :t), '22023', 'invalid value for p_request_id', 'request_material_generation: an empty request id');
SELECT throws_ok(format($$SELECT commerce.record_generation_result(%s, %s, 'done')$$, :t, :gen), '22023', 'invalid value for p_status', 'record_generation_result: an unknown status');
SELECT throws_ok(format($$SELECT commerce.record_generation_result(%s, %s, 'failed')$$, :t, :gen), '22023', 'invalid value for p_reason', 'record_generation_result: a failure without a reason');
SELECT throws_ok(format($$SELECT commerce.record_generation_result(%s, %s, 'ready', '[]')$$, :t, :gen), '22023', 'invalid value for p_versions', 'record_generation_result: ready without versions');
SELECT throws_ok(format($$SELECT commerce.record_generation_result(%s, %s, 'ready', '[{"language":"en"}]')$$, :t, :gen), '22023', 'invalid value for p_version', 'record_generation_result: a copy version without copy (none added)');
SELECT throws_ok(format($$SELECT commerce.record_generation_result(%s, %s, 'ready', '[{"language":"en","copy":"ok"},{"language":"xx-1"}]')$$, :t, :gen), '22023', 'invalid value for p_version', 'record_generation_result: one bad version of two adds neither');
SELECT throws_ok(format($$SELECT commerce.record_generation_result(%s, %s, 'ready', '[{"language":"en","copy":"ok"}]')$$, :t2, :gen), 'PT404', NULL, 'record_generation_result: another tenant''s generation');
SELECT throws_ok(format($$SELECT commerce.generation_report(%s, '2030-06-02', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'generation_report: a span reversed');
SELECT throws_ok(format($$SELECT commerce.generation_report(%s, '-infinity', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'generation_report: an infinite span');

-- KOC shares
SELECT throws_ok(format($$SELECT commerce.koc_materials(%s, 'NOPE')$$, :t), 'PT404', NULL, 'koc_materials: an unknown KOC');
SELECT throws_ok(format($$SELECT commerce.share_material(%s, 'K1', 'SECRET', 'douyin', 'ks-9')$$, :t), 'PT404', NULL, 'share_material: a material not open to the KOC');
SELECT throws_ok(format($$SELECT commerce.share_material(%s, 'K1', 'IMG', 'myspace', 'ks-9')$$, :t), '22023', 'invalid value for p_platform', 'share_material: an unknown platform');
SELECT throws_ok(format($$SELECT commerce.share_material(%s, 'K1', 'IMG', 'moments', 'ks-9')$$, :t), 'PT404', NULL, 'share_material: no file for the platform');
SELECT throws_ok(format($$SELECT commerce.share_material(%s, 'K1', 'IMG', 'douyin', 'ks-9', 'NOPE')$$, :t), 'PT404', NULL, 'share_material: a task that is not the KOC''s');
SELECT throws_ok(format($$SELECT commerce.share_material(%s, 'K1', 'IMG', 'moments', 'ks-1')$$, :t), 'PT409', 'request ks-1 recorded another share', 'share_material: a request id reused');
SELECT throws_ok(format($$SELECT commerce.share_material(%s, 'K2', 'IMG', 'douyin', 'ks-1')$$, :t), 'PT409', 'request ks-1 recorded another share', 'share_material: another KOC''s request id');
SELECT throws_ok(format($$SELECT commerce.record_share(%s, 'c2', 'material', 'NOPE', 'wechat', 'rs-1')$$, :t), 'PT404', NULL, 'record_share: an unknown material');
SELECT throws_ok(format($$SELECT commerce.material_share_report(%s, '2030-06-02', '2030-06-01')$$, :t), '22023', 'invalid value for p_to', 'material_share_report: a span reversed');

-- exports and QR codes
SELECT throws_ok(format($$SELECT commerce.product_export_csv(%s, 'jd')$$, :t), '22023', 'invalid value for p_platform', 'product_export_csv: an unknown marketplace');
SELECT throws_ok(format($$SELECT commerce.product_export_csv(%s, 'taobao', ARRAY['P', 'NOPE'])$$, :t), 'PT404', NULL, 'product_export_csv: an unknown product');
SELECT is(commerce._csv('=HYPERLINK("x")'), '"''=HYPERLINK(""x"")"', '_csv: a formula is defused and quoted');
SELECT throws_ok(format($$SELECT commerce.request_qr_code(%s, 'q2', '/pages/index', 'abc')$$, :t), '22023', 'invalid value for p_page', 'request_qr_code: a page with a leading slash');
SELECT throws_ok(format($$SELECT commerce.request_qr_code(%s, 'q2', 'pages/index', 'a b')$$, :t), '22023', 'invalid value for p_scene', 'request_qr_code: a scene with a space');
SELECT throws_ok(format($$SELECT commerce.request_qr_code(%s, 'q1', 'pages/other', 'abc')$$, :t), 'PT409', NULL, 'request_qr_code: a request id reused for another code');
SELECT throws_ok(format($$SELECT commerce.record_qr_code(%s, %s, 'ready', 'https://oss.example/q.png', 'nothex')$$, :t, :qr), '22023', 'invalid value for p_url', 'record_qr_code: ready without a checksum');
SELECT throws_ok(format($$SELECT commerce.record_qr_code(%s, %s, 'failed')$$, :t, :qr), '22023', 'invalid value for p_reason', 'record_qr_code: a failure without a reason');
SELECT throws_ok(format($$SELECT commerce.record_qr_code(%s, %s, 'ready', 'https://oss.example/q.png', repeat('a', 64))$$, :t2, :qr), 'PT404', NULL, 'record_qr_code: another tenant''s request');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused calls changed nothing');

-- who may call
SELECT matches(pg_temp.call_as('operator', 'op-s1', $$SELECT commerce_api.materials()$$), '^42501: op-s1 is staff of stores', 'store-level operators do not keep the library');
SELECT matches(pg_temp.call_as('koc', 'K1', $$SELECT commerce_api.koc_materials('K2')$$), '^42501: a koc acts only as itself', 'a KOC reads only its own materials');
SELECT matches(pg_temp.call_as('customer', 'c2', $$SELECT commerce_api.share_material('IMG', 'douyin', 'x')$$), '^42501', 'a customer cannot share as a KOC');
SELECT is(pg_temp.fingerprint(), :'fp', 'the refused API calls changed nothing');

SELECT * FROM finish();
ROLLBACK;

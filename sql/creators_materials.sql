-- The material library (K09, K10, H3.1.4): materials per product and task in
-- versions sized per platform; a file of the wrong frame refused; an AI pack
-- requested through the outbox and answered, its latency measured; what a KOC
-- may share; a one-click share carrying the KOC's tracking code, successful at
-- its first click (which also counts as the KOC's click); the share success
-- rate; the Taobao and Douyin product CSV; a mini-program QR code.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET client_min_messages = warning;
SET commerce.now = '2030-06-01 10:00:00+08';
SELECT commerce.create_tenant('mat', 'Materials test') AS t \gset
SELECT commerce.upsert_product(:t, 'TEE', 'Cloud tee, "soft" cotton', 'physical', NULL, 'Up', 'Apparel') > 0 AS product;
SELECT commerce.upsert_sku(:t, 'TEE', 'TEE-M', 'M, white', 9900) > 0 AS sku, commerce.upsert_sku(:t, 'TEE', 'TEE-L', 'L, white', 9900) > 0 AS sku2;
SELECT commerce.receive_stock(:t, 'r1', 'TEE-M', 40) > 0 AS received;
SELECT commerce.upsert_customer(:t, 'kc1', 'Lin') > 0 AS customer;
SELECT commerce.upsert_koc(:t, 'K1', 'kc1', 'Lin') > 0 AS koc;
SELECT commerce.upsert_koc_task(:t, 'JUNE', 'June tee push', '2030-06-01', '2030-07-01', 800, p_materials => ARRAY['POSTER-A']) > 0 AS task;

-- the platforms' frames
SELECT platform, image_width || 'x' || image_height AS image, video_width || 'x' || video_height AS video, max_video_s, max_copy_chars
  FROM commerce.material_platforms() ORDER BY platform;
-- a poster for the tee, uploaded in Chinese for Douyin, Moments and Taobao
SELECT commerce.upsert_material(:t, 'POSTER-A', 'image', 'Tee poster', 'TEE') - 'updated_at' AS material;
SELECT commerce.add_material_version(:t, 'POSTER-A', jsonb_build_object('language', 'zh-CN', 'copy', '云朵T恤, 软到犯规',
    'assets', jsonb_build_array(
        jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/p/a-dy.jpg', 'sha256', repeat('a', 64), 'bytes', 182000, 'width', 1080, 'height', 1920, 'mime', 'image/jpeg'),
        jsonb_build_object('platform', 'moments', 'url', 'https://oss.example/p/a-wx.jpg', 'sha256', repeat('b', 64), 'bytes', 150000, 'width', 1080, 'height', 1080, 'mime', 'image/jpeg'),
        jsonb_build_object('platform', 'taobao', 'url', 'https://oss.example/p/a-tb.jpg', 'sha256', repeat('c', 64), 'bytes', 90000, 'width', 800, 'height', 800, 'mime', 'image/jpeg'))))
  -> 'latest' -> 0 -> 'files' AS files;
-- refused: a square file for Douyin, a checksum that is not one, a duration on an image, a video of 45 s
SELECT commerce.add_material_version(:t, 'POSTER-A', '{"language":"en","assets":[{"platform":"douyin","url":"https://oss.example/x.jpg","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","bytes":1,"width":1080,"height":1080,"mime":"image/jpeg"}]}');
SELECT commerce.add_material_version(:t, 'POSTER-A', '{"language":"en","assets":[{"platform":"moments","url":"https://oss.example/x.jpg","sha256":"not-a-hash","bytes":1,"width":1080,"height":1080,"mime":"image/jpeg"}]}');
SELECT commerce.add_material_version(:t, 'POSTER-A', '{"language":"en","duration_s":15,"assets":[]}');
SELECT commerce.upsert_material(:t, 'VID-X', 'video', 'A video') ->> 'kind' AS kind;
SELECT commerce.add_material_version(:t, 'VID-X', '{"language":"en","duration_s":45,"assets":[{"platform":"douyin","url":"https://oss.example/v.mp4","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","bytes":1,"width":1080,"height":1920,"mime":"video/mp4"}]}');
SELECT commerce.upsert_material(:t, 'VID-X', 'image', 'Not a video any more');
SELECT versions FROM commerce.material WHERE code = 'POSTER-A';
-- copy for the tee, in two languages
SELECT commerce.upsert_material(:t, 'COPY-A', 'copy', 'Tee copy', 'TEE') ->> 'kind' AS kind;
SELECT (commerce.add_material_version(:t, 'COPY-A', '{"language":"zh-CN","copy":"软, 透气, 不起球. 穿上就不想脱."}') ->> 'added_version') AS v1,
       (commerce.add_material_version(:t, 'COPY-A', '{"language":"en","copy":"Soft, breathable, no pilling."}') ->> 'added_version') AS v2;

-- an AI pack: 15 and 30 s videos in Chinese and English for Douyin and Instagram
SELECT x - 'requested_at' - 'generation_id' AS generation
  FROM commerce.request_material_generation(:t, 'gen-1', 'VID-A', 'video', 'Launch video',
         '{"languages":["zh-CN","en"],"platforms":["douyin","instagram"],"durations":[15,30],"versions":1,"brief":"summer, cloud-soft"}',
         'TEE', 'JUNE', 'op1') x;
SELECT payload - 'generation_id' AS ai_request FROM commerce.outbox WHERE topic = 'ai.material';
SELECT x ->> 'outcome' AS again FROM commerce.request_material_generation(:t, 'gen-1', 'VID-A', 'video', 'Launch video', '{"languages":["en"],"platforms":["douyin"],"durations":[15]}') x;
SELECT generation_id AS g1 FROM commerce.material_generation WHERE request_id = 'gen-1' \gset
SET commerce.now = '2030-06-01 10:00:02.4+08';
SELECT x - 'requested_at' - 'ready_at' - 'generation_id' AS result
  FROM commerce.record_generation_result(:t, :g1, 'ready', jsonb_build_array(
    jsonb_build_object('language', 'zh-CN', 'duration_s', 15, 'copy', '夏天的云', 'assets', jsonb_build_array(
        jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/v/zh15-dy.mp4', 'sha256', repeat('d', 64), 'bytes', 4200000, 'width', 1080, 'height', 1920, 'mime', 'video/mp4'),
        jsonb_build_object('platform', 'instagram', 'url', 'https://oss.example/v/zh15-ig.mp4', 'sha256', repeat('e', 64), 'bytes', 4100000, 'width', 1080, 'height', 1920, 'mime', 'video/mp4'))),
    jsonb_build_object('language', 'en', 'duration_s', 30, 'copy', 'Cloud-soft summer', 'assets', jsonb_build_array(
        jsonb_build_object('platform', 'douyin', 'url', 'https://oss.example/v/en30-dy.mp4', 'sha256', repeat('f', 64), 'bytes', 8300000, 'width', 1080, 'height', 1920, 'mime', 'video/mp4'))))) x;
SELECT x ->> 'changed' AS repeat_changed FROM commerce.record_generation_result(:t, :g1, 'ready', '[]') x;
SELECT commerce.record_generation_result(:t, :g1, 'failed', NULL, 'late');
-- a second pack fails after 7 s
SELECT (commerce.request_material_generation(:t, 'gen-2', 'COPY-B', 'copy', 'Copy in Malay', '{"languages":["ms-MY"],"platforms":["facebook"]}')) ->> 'status' AS status;
SET commerce.now = '2030-06-01 10:00:09.4+08';
SELECT commerce.record_generation_result(:t, (SELECT generation_id FROM commerce.material_generation WHERE request_id = 'gen-2'), 'failed', NULL, 'model overloaded') ->> 'status' AS status;
SELECT commerce.generation_report(:t, '2030-06-01', '2030-06-02');
SELECT jsonb_path_query_array(commerce.materials(:t, 'TEE'), '$[*].code') AS tee_materials,
       jsonb_path_query_array(commerce.materials(:t, NULL, 'JUNE'), '$[*].code') AS june_materials;

-- the KOC: the task names the poster, the video belongs to the task; the level's exclusive copy
SELECT (commerce.set_level_benefits(:t, (SELECT level_code FROM commerce.koc WHERE code = 'K1'), p_materials => ARRAY['COPY-A'])).materials AS level_materials;
SELECT m ->> 'code' AS code, m ->> 'via' AS via, jsonb_array_length(m -> 'latest') AS languages FROM jsonb_array_elements(commerce.koc_materials(:t, 'K1')) m;
-- a one-click share to Douyin: the share code and the KOC's tracking code for the link, the file to post
SELECT x - 'share_code' - 'tracking_code' - 'shared_at' AS share FROM commerce.share_material(:t, 'K1', 'POSTER-A', 'douyin', 'ks-1') x;
SELECT x ->> 'outcome' AS again FROM commerce.share_material(:t, 'K1', 'POSTER-A', 'douyin', 'ks-1') x;
SELECT commerce.share_material(:t, 'K1', 'POSTER-A', 'douyin', 'ks-1', p_language => 'en') ->> 'outcome' AS again_with_language;
SELECT commerce.share_material(:t, 'K1', 'POSTER-A', 'moments', 'ks-1');
SELECT commerce.share_material(:t, 'K1', 'POSTER-A', 'instagram', 'ks-2');
SELECT commerce.share_material(:t, 'K1', 'VID-X', 'douyin', 'ks-3');
SELECT commerce.share_material(:t, 'K1', 'VID-A', 'instagram', 'ks-4', p_language => 'en');
SELECT x ->> 'version' AS version, x -> 'file' ->> 'url' AS url FROM commerce.share_material(:t, 'K1', 'VID-A', 'instagram', 'ks-5') x;
SELECT x ->> 'platform' AS platform, x -> 'file' AS file, x ->> 'copy' AS copy FROM commerce.share_material(:t, 'K1', 'COPY-A', 'wechat', 'ks-6', p_language => 'en') x;
-- a fan follows the Douyin share: the share succeeds and the KOC has the click (the fan's orders are attributed)
SELECT x ->> 'counted' AS counted, x ->> 'first' AS first
  FROM commerce.record_share_click(:t, commerce.share_code(:t, (SELECT share_id FROM commerce.share WHERE request_id = 'ks-1')), 'fan-1') x;
SELECT k.code AS koc, t.code AS task, c.visitor_id FROM commerce.click c JOIN commerce.koc k USING (tenant_id, koc_id)
  LEFT JOIN commerce.koc_task t USING (tenant_id, task_id);
SELECT (commerce.attribution_for(:t, 'fan-1')).koc_id = (SELECT koc_id FROM commerce.koc WHERE code = 'K1') AS attributed_to_k1;
SELECT commerce.material_share_report(:t, '2030-06-01', '2030-06-02');

-- one-click distribution: the marketplaces' bulk-import CSV, a mini-program QR code carrying the share code
SELECT commerce.product_export_csv(:t, 'taobao');
SELECT commerce.product_export_csv(:t, 'douyin', ARRAY['TEE']);
SELECT commerce.product_export_csv(:t, 'jd');
SELECT commerce.product_export_csv(:t, 'douyin', ARRAY['NOPE']);
SELECT commerce.share_code(:t, (SELECT share_id FROM commerce.share WHERE request_id = 'ks-1')) AS scene \gset
SELECT x - 'requested_at' - 'scene' AS qr FROM commerce.request_qr_code(:t, 'qr-1', 'pages/material/detail', :'scene', 'POSTER-A') x;
SELECT payload - 'qr_id' - 'scene' AS wechat_request FROM commerce.outbox WHERE topic = 'wechat.qr_code';
SELECT commerce.request_qr_code(:t, 'qr-2', '/pages/index?x=1', 'abc');
SELECT commerce.request_qr_code(:t, 'qr-2', 'pages/index', repeat('s', 33));
SELECT x ->> 'status' AS status, x ->> 'changed' AS changed
  FROM commerce.record_qr_code(:t, (SELECT qr_id FROM commerce.qr_request WHERE request_id = 'qr-1'), 'ready', 'https://oss.example/qr/1.png', repeat('9', 64)) x;
SELECT x ->> 'changed' AS repeat_changed
  FROM commerce.record_qr_code(:t, (SELECT qr_id FROM commerce.qr_request WHERE request_id = 'qr-1'), 'ready', 'https://oss.example/qr/1.png', repeat('9', 64)) x;
SELECT commerce.record_qr_code(:t, (SELECT qr_id FROM commerce.qr_request WHERE request_id = 'qr-1'), 'failed', NULL, NULL, 'late');
-- a retired material is no longer the KOC's
SELECT commerce.retire_material(:t, 'POSTER-A') ->> 'status' AS status;
SELECT jsonb_path_query_array(commerce.koc_materials(:t, 'K1'), '$[*].code') AS k1_materials;
SELECT * FROM commerce.check_creators_invariants();
SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

-- koc_bad_input.sql: bad calls of the KOC attribution slice (upsert_koc,
-- upsert_koc_task, tracking_link, record_click and commerce_api.record_click,
-- attribution_for) and direct writes of an order's attribution are refused
-- with the documented SQLSTATE and change nothing: no KOC, task, click, link
-- secret or order. Forged, altered and foreign tracking codes are refused
-- with 22023 'invalid tracking code "<code>"'. The valid edges answer as
-- documented: a repeat click within the dedupe window is not counted, the
-- attribution window is (at - window, at] whatever the session's TimeZone,
-- the last click of an active KOC wins, the self-referral rule, platform
-- orders and orders without a customer are not attributed, an order's
-- attribution is made by the trigger only (never by a direct write), and a
-- code tracking_link made is accepted for any bigint id.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(217);

\ir lib/fingerprint.psql

-- Row counts of what a KOC call may create.
CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $ct$
    SELECT format('koc %s, koc_task %s, click %s, orders %s, koc_level %s, tenant_secret %s',
                  (SELECT count(*) FROM commerce.koc),
                  (SELECT count(*) FROM commerce.koc_task),
                  (SELECT count(*) FROM commerce.click),
                  (SELECT count(*) FROM commerce.orders),
                  (SELECT count(*) FROM commerce.koc_level),
                  (SELECT count(*) FROM commerce.tenant_secret));
$ct$;

\ir lib/or_undo.psql

-- Run an INSERT ... RETURNING koc_id, koc_task_id, attributed_at, click_id
-- and always undo it: 'refused <SQLSTATE>' if it raised, else the attribution
-- it stored as koc/task/at/click.
CREATE FUNCTION pg_temp.try_insert(p_sql text) RETURNS text LANGUAGE plpgsql AS $ti$
DECLARE r record; res text;
BEGIN
    BEGIN
        EXECUTE p_sql INTO r;
        res := format('%s/%s/%s/%s', r.koc_id, r.koc_task_id, r.attributed_at, r.click_id);
        RAISE EXCEPTION USING ERRCODE = 'XX002', MESSAGE = 'undo';
    EXCEPTION
        WHEN SQLSTATE 'XX002' THEN NULL;
        WHEN OTHERS THEN res := 'refused ' || SQLSTATE;
    END;
    RETURN res;
END $ti$;

-- An id in base 36, as in a tracking code.
CREATE FUNCTION pg_temp.b36(p_id bigint) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $b36$
DECLARE s text := ''; v bigint := p_id;
BEGIN
    LOOP
        s := substr('0123456789abcdefghijklmnopqrstuvwxyz', (v % 36)::int + 1, 1) || s;
        v := v / 36;
        EXIT WHEN v = 0;
    END LOOP;
    RETURN s;
END $b36$;

-- A tracking code with its part p_n (1 tenant, 2 KOC, 3 task, 4 channel,
-- 5 signature) replaced by p_value.
CREATE FUNCTION pg_temp.with_part(p_code text, p_n int, p_value text) RETURNS text LANGUAGE sql IMMUTABLE AS $wp$
    SELECT string_agg(CASE WHEN i = p_n THEN p_value ELSE x END, '.' ORDER BY i)
      FROM unnest(string_to_array(p_code, '.')) WITH ORDINALITY u(x, i);
$wp$;

-- The Taobao payload of test/fixtures/platform/taobao.json.
CREATE FUNCTION pg_temp.tb() RETURNS jsonb LANGUAGE sql IMMUTABLE AS $tb$
    SELECT '{"tid": "2983749283749001", "status": "WAIT_SELLER_SEND_GOODS",
             "created": "2026-11-11 20:01:13", "modified": "2026-11-11 20:02:40",
             "buyer_nick": "tb_fan_01", "receiver_name": "张三", "receiver_mobile": "13800001234",
             "receiver_state": "浙江省", "receiver_city": "杭州市", "receiver_address": "西湖区文三路1号",
             "total_fee": "219.00", "discount_fee": "10.00", "post_fee": "10.00", "payment": "219.00",
             "orders": {"order": [{"oid": "2983749283749002", "outer_sku_id": "HOODIE-L", "num": 1,
                                   "price": "219.00", "title": "Logo hoodie L"}]}}'::jsonb;
$tb$;

-- fixtures, at 2030-01-01 00:00 UTC. Tenant t1: SKU A1 (100 received);
-- customers c-k1, c-k2, c-kf (KOCs K1, K2, KF) and the buyers; tasks T1
-- (500 bp) and T2 (bounty 300 fen); link secret fixed (0x5a x 32); codes
-- k1 (K1, T1, wechat_mp), k1_h5 (K1, T1, h5), k1_t2 (K1, T2, wechat_mp),
-- k1_bare (K1 only), k2 (K2, T2, h5), kf (KF, T1, then KF is frozen).
-- Tenant t2: KOC KX, task TX, secret 0x6b x 32, code kx. Tenant t3: KOC KZ,
-- no code made yet (no link secret).
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SET LOCAL TimeZone = 'UTC';
SELECT commerce.create_tenant('koc1', 'KOC tenant one') AS t \gset
SELECT commerce.create_tenant('koc2', 'KOC tenant two') AS t2 \gset
SELECT commerce.create_tenant('koc3', 'KOC tenant without codes') AS t3 \gset
SELECT commerce.upsert_product(:t, 'P1', 'Product one') AS p1 \gset
SELECT commerce.upsert_sku(:t, 'P1', 'A1', 'SKU A1', 1000) AS a1 \gset
SELECT commerce.receive_stock(:t, 'rcv-a1', 'A1', 100) AS pool_a1 \gset
SELECT commerce.upsert_customer(:t, 'c-k1', 'KOC one') AS c_k1 \gset
SELECT commerce.upsert_customer(:t, 'c-k2', 'KOC two') AS c_k2 \gset
SELECT commerce.upsert_customer(:t, 'c-kf', 'KOC frozen') AS c_kf \gset
SELECT commerce.upsert_customer(:t, 'c-new', 'Not a KOC yet') AS c_new \gset
SELECT commerce.upsert_customer(:t, 'u-buyer', 'A buyer who clicked') AS c_buyer \gset
SELECT commerce.upsert_customer(:t, 'u-none', 'A buyer who never clicked') AS c_none \gset
SELECT commerce.upsert_customer(:t2, 'c-x', 'KOC of t2') AS c_x \gset
SELECT commerce.upsert_customer(:t3, 'c-z', 'KOC of t3') AS c_z \gset
SELECT commerce.upsert_koc(:t, 'K1', 'c-k1', 'One', 'Hangzhou') AS k1 \gset
SELECT commerce.upsert_koc(:t, 'K2', 'c-k2', 'Two', 'Chengdu') AS k2 \gset
SELECT commerce.upsert_koc(:t, 'KF', 'c-kf', 'Frozen', 'Wuhan') AS kf \gset
SELECT commerce.upsert_koc(:t2, 'KX', 'c-x', 'Ex') AS kx \gset
SELECT commerce.upsert_koc(:t3, 'KZ', 'c-z', 'Zed') AS kz \gset
SELECT commerce.upsert_koc_task(:t, 'T1', 'Rate task', '2029-12-01 00:00+00', '2030-02-01 00:00+00', 500) AS task1 \gset
SELECT commerce.upsert_koc_task(:t, 'T2', 'Bounty task', '2029-12-01 00:00+00', '2030-02-01 00:00+00', 0, 300) AS task2 \gset
SELECT commerce.upsert_koc_task(:t2, 'TX', 'Task of t2', '2029-12-01 00:00+00', '2030-02-01 00:00+00', 100) AS taskx \gset
SELECT channel_id AS ch_wechat FROM commerce.channel WHERE tenant_id = :t AND code = 'wechat_mp' \gset
SELECT channel_id AS ch_h5 FROM commerce.channel WHERE tenant_id = :t AND code = 'h5' \gset
SELECT channel_id AS ch_taobao FROM commerce.channel WHERE tenant_id = :t AND code = 'taobao' \gset
INSERT INTO commerce.tenant_secret (tenant_id, link_secret) VALUES (:t, decode(repeat('5a', 32), 'hex'));
INSERT INTO commerce.tenant_secret (tenant_id, link_secret) VALUES (:t2, decode(repeat('6b', 32), 'hex'));
SELECT commerce.tracking_link(:t, 'K1', 'T1', 'wechat_mp') AS k1_code \gset
SELECT commerce.tracking_link(:t, 'K1', 'T1', 'h5') AS k1_h5 \gset
SELECT commerce.tracking_link(:t, 'K1', 'T2', 'wechat_mp') AS k1_t2 \gset
SELECT commerce.tracking_link(:t, 'K1') AS k1_bare \gset
SELECT commerce.tracking_link(:t, 'K2', 'T2', 'h5') AS k2_code \gset
SELECT commerce.tracking_link(:t, 'KF', 'T1') AS kf_code \gset
SELECT commerce.tracking_link(:t2, 'KX') AS kx_code \gset
UPDATE commerce.koc SET status = 'frozen' WHERE tenant_id = :t AND code = 'KF';
-- the signature of k1_code, and a code for t3 that has the right shape
SELECT split_part(:'k1_code', '.', 5) AS k1_sig \gset
SELECT format('%s.%s.0.0.abcdefghijkmn', pg_temp.b36(:t3), pg_temp.b36(:kz)) AS kz_guess \gset

SELECT is((SELECT string_agg(format('%s:%s:%s', tenant_id = :t, code, level_code || '/' || status), ' ' ORDER BY tenant_id, koc_id)
             FROM commerce.koc),
    't:K1:bronze/active t:K2:bronze/active t:KF:bronze/frozen f:KX:bronze/active f:KZ:bronze/active',
    'fixture KOCs as expected (new KOCs start at the lowest level)');
SELECT is((SELECT string_agg(format('%s/%s/%s', code, rank, bonus_bp), ' ' ORDER BY rank) FROM commerce.koc_level WHERE tenant_id = :t),
    'bronze/1/0 silver/2/200 gold/3/500', 'fixture: default KOC levels seeded by the first upsert_koc');
SELECT is(:'k1_code', format('%s.%s.%s.%s.%s', pg_temp.b36(:t), pg_temp.b36(:k1), pg_temp.b36(:task1), pg_temp.b36(:ch_wechat), :'k1_sig'),
    'fixture: a code is <tenant>.<koc>.<task>.<channel>.<signature>, ids in base 36');
SELECT ok(:'k1_sig' ~ '^[a-km-np-z2-9]{13}$', 'fixture: the signature is 13 characters of the base-32 alphabet');
SELECT is(:'k1_bare', format('%s.%s.0.0.%s', pg_temp.b36(:t), pg_temp.b36(:k1), split_part(:'k1_bare', '.', 5)),
    'fixture: a code without task and channel has 0 for both');
SELECT is(pg_temp.counts(), 'koc 5, koc_task 3, click 0, orders 0, koc_level 9, tenant_secret 2',
    'fixture counts as expected');

-- upsert_koc -------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok($$SELECT commerce.upsert_koc(NULL, 'K9', 'c-new', 'Nine')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_koc: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, NULL, 'c-new', 'Nine')$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_koc: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K9', NULL, 'Nine')$$, :t),
    '22004', 'argument p_customer must not be null', 'upsert_koc: NULL customer -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K9', 'c-new', NULL)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_koc: NULL name -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_koc(999999, 'K9', 'c-new', 'Nine')$$,
    'PT404', 'tenant "999999" not found', 'upsert_koc: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K9', 'nobody', 'Nine')$$, :t),
    'PT404', 'customer "nobody" not found', 'upsert_koc: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K9', 'c-x', 'Nine')$$, :t),
    'PT404', 'customer "c-x" not found', 'upsert_koc: another tenant''s customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K9', 'c-new', 'Nine', NULL, 'diamond')$$, :t),
    'PT404', 'KOC level "diamond" not found', 'upsert_koc: unknown level -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K1', 'c-k1', 'Renamed', 'Suzhou', 'diamond')$$, :t),
    'PT404', 'KOC level "diamond" not found', 'upsert_koc: existing KOC, unknown level -> PT404 (not renamed)');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'Bad Code!', 'c-new', 'Nine')$$, :t),
    '23514', 'new row for relation "koc" violates check constraint "koc_code_check"',
    'upsert_koc: code ''Bad Code!'' -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, '', 'c-new', 'Nine')$$, :t),
    '23514', 'new row for relation "koc" violates check constraint "koc_code_check"',
    'upsert_koc: empty code -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, repeat('k', 64), 'c-new', 'Nine')$$, :t),
    '23514', 'new row for relation "koc" violates check constraint "koc_code_check"',
    'upsert_koc: 64-character code -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.upsert_koc(%s, 'K1b', 'c-k1', 'One again')$$, :t),
    '23505', 'duplicate key value violates unique constraint "koc_tenant_id_customer_id_key"',
    'upsert_koc: a second KOC code for the same customer -> 23505 (one KOC per customer)');
-- direct writes are held by the table's constraints
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.koc SET level_code = ''diamond'' WHERE tenant_id = %s AND code = ''K1''')$$, :t),
    '23503', 'insert or update on table "koc" violates foreign key constraint "koc_tenant_id_level_code_fkey"',
    'koc: a direct UPDATE to an unknown level -> 23503');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.koc SET customer_id = %s WHERE tenant_id = %s AND code = ''K1''')$$, :c_x, :t),
    '23503', 'insert or update on table "koc" violates foreign key constraint "koc_tenant_id_customer_id_fkey"',
    'koc: a direct UPDATE to another tenant''s customer -> 23503');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.koc SET status = ''banned'' WHERE tenant_id = %s AND code = ''K1''')$$, :t),
    '23514', 'new row for relation "koc" violates check constraint "koc_status_check"',
    'koc: a direct UPDATE to status ''banned'' -> 23514');
SELECT is(pg_temp.counts(), :'ct', 'upsert_koc: counts unchanged (no KOC, level)');
SELECT is(pg_temp.fingerprint(), :'fp', 'upsert_koc: no commerce table changed by refused calls');
-- valid repeats: same code updates name and region; a NULL level keeps the level
SELECT is(commerce.upsert_koc(:t, 'K2', 'c-k2', 'Two', 'Chengdu', 'silver'), :k2::bigint,
    'upsert_koc: the same code with a level -> the same KOC');
SELECT is(commerce.upsert_koc(:t, 'K2', 'c-k2', 'Two renamed', 'Xi''an'), :k2::bigint,
    'upsert_koc: the same code again without a level -> the same KOC');
SELECT is((SELECT format('%s/%s/%s/%s/%s', name, region, level_code, status, customer_id = :c_k2) FROM commerce.koc WHERE tenant_id = :t AND code = 'K2'),
    'Two renamed/Xi''an/silver/active/t', 'upsert_koc: name and region updated, level kept when p_level is NULL');
SELECT is((SELECT count(*) FROM commerce.koc), 5::bigint, 'upsert_koc: no KOC added by the repeats');

-- upsert_koc_task ----------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok($$SELECT commerce.upsert_koc_task(NULL, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500)$$,
    '22004', 'argument p_tenant must not be null', 'upsert_koc_task: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, NULL, 'Nine', '2030-01-01', '2030-02-01', 500)$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_koc_task: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', NULL, '2030-01-01', '2030-02-01', 500)$$, :t),
    '22004', 'argument p_title must not be null', 'upsert_koc_task: NULL title -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', NULL, '2030-02-01', 500)$$, :t),
    '22004', 'argument p_starts_at must not be null', 'upsert_koc_task: NULL starts_at -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', NULL, 500)$$, :t),
    '22004', 'argument p_ends_at must not be null', 'upsert_koc_task: NULL ends_at -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_koc_task(999999, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500)$$,
    'PT404', 'tenant "999999" not found', 'upsert_koc_task: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-01-01', 500)$$, :t),
    '22023', 'invalid value for p_ends_at', 'upsert_koc_task: empty window (ends = starts) -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-02-01', '2030-01-01', 500)$$, :t),
    '22023', 'invalid value for p_ends_at', 'upsert_koc_task: window ends before it starts -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 0, 0)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: rate and bounty both 0 (no reward) -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', NULL, NULL)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: rate and bounty both NULL (no reward) -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 10001)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: rate 10001 bp -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', -1, 300)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: rate -1 bp -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 0, -1)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: negative bounty -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500, -1)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: a valid rate with a negative bounty -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500, 0, 0)$$, :t),
    '22023', 'invalid value for p_goal', 'upsert_koc_task: goal 0 -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500, 0, -5)$$, :t),
    '22023', 'invalid value for p_goal', 'upsert_koc_task: goal -5 -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500, 0, 10, ARRAY['platinum'])$$, :t),
    '22023', 'invalid value for p_target_levels', 'upsert_koc_task: unknown target level -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500, 0, 10, ARRAY['gold', 'Gold'])$$, :t),
    '22023', 'invalid value for p_target_levels', 'upsert_koc_task: one known and one unknown target level -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T9', 'Nine', '2030-01-01', '2030-02-01', 500, 0, 10, ARRAY['gold', NULL])$$, :t),
    '22023', 'invalid value for p_target_levels', 'upsert_koc_task: a NULL target level -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'T1', 'Rate task', '2030-01-01', '2030-02-01', 20000)$$, :t),
    '22023', 'invalid value for p_rate_bp', 'upsert_koc_task: existing task, rate 20000 bp -> 22023 (not changed)');
SELECT throws_ok(format($$SELECT commerce.upsert_koc_task(%s, 'bad task', 'Nine', '2030-01-01', '2030-02-01', 500)$$, :t),
    '23514', 'new row for relation "koc_task" violates check constraint "koc_task_code_check"',
    'upsert_koc_task: code ''bad task'' -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.koc_task SET rate_bp = 10001 WHERE tenant_id = %s AND code = ''T1''')$$, :t),
    '23514', 'new row for relation "koc_task" violates check constraint "koc_task_rate_bp_check"',
    'koc_task: a direct UPDATE to rate 10001 bp -> 23514');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.koc_task SET ends_at = starts_at WHERE tenant_id = %s AND code = ''T1''')$$, :t),
    '23514', 'new row for relation "koc_task" violates check constraint "koc_task_check"',
    'koc_task: a direct UPDATE to an empty window -> 23514');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.koc_task SET goal = 0 WHERE tenant_id = %s AND code = ''T1''')$$, :t),
    '23514', 'new row for relation "koc_task" violates check constraint "koc_task_goal_check"',
    'koc_task: a direct UPDATE to goal 0 -> 23514');
SELECT is(pg_temp.counts(), :'ct', 'upsert_koc_task: counts unchanged (no task)');
SELECT is(pg_temp.fingerprint(), :'fp', 'upsert_koc_task: no commerce table changed by refused calls');

-- tracking_link -----------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok($$SELECT commerce.tracking_link(NULL, 'K1')$$,
    '22004', 'argument p_tenant must not be null', 'tracking_link: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, NULL)$$, :t),
    '22004', 'argument p_koc must not be null', 'tracking_link: NULL KOC -> 22004');
SELECT throws_ok($$SELECT commerce.tracking_link(999999, 'K1')$$,
    'PT404', NULL, 'tracking_link: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K9')$$, :t),
    'PT404', 'KOC "K9" not found', 'tracking_link: unknown KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'k1')$$, :t),
    'PT404', 'KOC "k1" not found', 'tracking_link: KOC codes are case-sensitive -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K1', 'T9')$$, :t),
    'PT404', 'task "T9" not found', 'tracking_link: unknown task -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K1', 'TX')$$, :t),
    'PT404', 'task "TX" not found', 'tracking_link: another tenant''s task -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K1', 'T1', 'wechat')$$, :t),
    'PT404', 'channel "wechat" not found', 'tracking_link: unknown channel -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K1', NULL, 'nowhere')$$, :t),
    'PT404', 'channel "nowhere" not found', 'tracking_link: unknown channel without a task -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'KX')$$, :t),
    'PT404', 'KOC "KX" not found', 'tracking_link: another tenant''s KOC -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K1')$$, :t2),
    'PT404', 'KOC "K1" not found', 'tracking_link: a KOC asked for in another tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'KF')$$, :t),
    'PT409', 'KOC "KF" is frozen', 'tracking_link: frozen KOC -> PT409');
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'KF', 'T1', 'h5')$$, :t),
    'PT409', 'KOC "KF" is frozen', 'tracking_link: frozen KOC with task and channel -> PT409');
UPDATE commerce.koc SET status = 'suspended' WHERE tenant_id = :t AND code = 'K2';
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'K2', 'T2', 'h5')$$, :t),
    'PT409', 'KOC "K2" is suspended', 'tracking_link: suspended KOC -> PT409');
UPDATE commerce.koc SET status = 'active' WHERE tenant_id = :t AND code = 'K2';
SELECT throws_ok(format($$SELECT commerce.tracking_link(%s, 'KZ', 'T9')$$, :t3),
    'PT404', 'task "T9" not found', 'tracking_link: unknown task in a tenant without a secret -> PT404 (no secret made)');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('INSERT INTO commerce.tenant_secret (tenant_id, link_secret) VALUES (%s, decode(repeat(''5a'', 16), ''hex''))')$$, :t3),
    '23514', 'new row for relation "tenant_secret" violates check constraint "tenant_secret_link_secret_check"',
    'tenant_secret: a 16-byte link secret -> 23514');
-- valid: codes are stable, and differ per task and channel
SELECT is(commerce.tracking_link(:t, 'K1', 'T1', 'wechat_mp'), :'k1_code', 'tracking_link: the same inputs -> the same code');
SELECT is(commerce.tracking_link(:t, 'K1'), :'k1_bare', 'tracking_link: the same KOC only -> the same code');
SELECT isnt(:'k1_t2'::text, :'k1_code', 'tracking_link: another task -> another code');
SELECT isnt(:'k1_h5'::text, :'k1_code', 'tracking_link: another channel -> another code');
SELECT isnt(split_part(:'k1_h5', '.', 5), :'k1_sig', 'tracking_link: another channel -> another signature');
SELECT isnt(:'k1_bare'::text, :'k1_code', 'tracking_link: no task and channel -> another code');
SELECT is(pg_temp.counts(), :'ct', 'tracking_link: counts unchanged (no secret made by refused calls, none by repeats)');
SELECT is(pg_temp.fingerprint(), :'fp', 'tracking_link: no commerce table changed');

-- record_click: a repeat is one visitor, one KOC and one task within the window (rolled back)
SAVEPOINT dedupe;
SELECT click_id AS c_first FROM commerce.record_click(:t, :'k1_code', 'dedupe-v') \gset
SELECT is((SELECT array[counted::text, click_id::text] FROM commerce.record_click(:t, :'k1_code', 'dedupe-v')),
    array['false', :'c_first'], 'record_click: the same code again -> not counted, the first click');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_t2', 'dedupe-v')), true,
    'record_click: the same KOC for another task -> counted');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_bare', 'dedupe-v')), true,
    'record_click: the same KOC without a task -> counted');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_bare', 'dedupe-v')), false,
    'record_click: the same KOC without a task again -> not counted');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_code', 'dedupe-w')), true,
    'record_click: another visitor -> counted');
SELECT is((SELECT count(*)::int FROM commerce.click WHERE visitor_id IN ('dedupe-v', 'dedupe-w')), 4,
    'record_click: four clicks stored for six calls');
ROLLBACK TO SAVEPOINT dedupe;
-- without the index click_visitor the repeat check is a statement again, with the same answers
DROP INDEX commerce.click_visitor;
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_code', 'dedupe-x')), true,
    'record_click without click_visitor: a first click -> counted');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_code', 'dedupe-x')), false,
    'record_click without click_visitor: the same code again -> not counted');
ROLLBACK TO SAVEPOINT dedupe;

-- record_click: arguments ------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
SELECT throws_ok(format($$SELECT commerce.record_click(NULL, %L, 'v1')$$, :'k1_code'),
    '22004', 'argument p_tenant must not be null', 'record_click: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_click(%s, NULL, 'v1')$$, :t),
    '22004', 'argument p_code must not be null', 'record_click: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_click(%s, %L, NULL)$$, :t, :'k1_code'),
    '22004', 'argument p_visitor must not be null', 'record_click: NULL visitor -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_click(%s, %L, '')$$, :t, :'k1_code'),
    '22023', 'invalid value for p_visitor', 'record_click: empty visitor -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_click(%s, %L, repeat('v', 201))$$, :t, :'k1_code'),
    '22023', 'invalid value for p_visitor', 'record_click: 201-character visitor -> 22023');

-- record_click: malformed, altered, forged and foreign codes
CREATE TEMP TABLE bad_code (n serial, tenant bigint, code text, what text);
INSERT INTO bad_code (tenant, code, what) VALUES
    (:t, 'not-a-code', 'one part'),
    (:t, '', 'an empty code'),
    (:t, array_to_string((string_to_array(:'k1_code', '.'))[1:4], '.'), 'four parts (no signature)'),
    (:t, format('%s.%s.%s', pg_temp.b36(:t), pg_temp.b36(:k1), :'k1_sig'), 'three parts'),
    (:t, :'k1_code' || '.' || :'k1_sig', 'six parts'),
    (:t, pg_temp.with_part(:'k1_code', 2, 'A'), 'KOC part upper-case A'),
    (:t, pg_temp.with_part(:'k1_code', 1, upper(pg_temp.b36(:t)) || 'A'), 'tenant part with an upper-case letter'),
    (:t, pg_temp.with_part(:'k1_code', 3, '-' || pg_temp.b36(:task1)), 'task part with a minus sign'),
    (:t, pg_temp.with_part(:'k1_code', 4, '+' || pg_temp.b36(:ch_wechat)), 'channel part with a plus sign'),
    (:t, pg_temp.with_part(:'k1_code', 3, ''), 'empty task part'),
    (:t, pg_temp.with_part(:'k1_code', 2, repeat('z', 13)), 'KOC part of 13 base-36 digits'),
    (:t, ' ' || :'k1_code', 'a leading space'),
    (:t, :'k1_code' || ' ', 'a trailing space'),
    (:t, left(:'k1_code', -1), 'signature of 12 characters'),
    (:t, :'k1_code' || 'a', 'signature of 14 characters'),
    (:t, pg_temp.with_part(:'k1_code', 5, ''), 'empty signature'),
    (:t, pg_temp.with_part(:'k1_code', 2, pg_temp.b36(:k2)), 'KOC part altered to another KOC'),
    (:t, pg_temp.with_part(:'k1_code', 2, pg_temp.b36(:k1 + 1000)), 'KOC part altered to a KOC that does not exist'),
    (:t, pg_temp.with_part(:'k1_code', 2, '0' || pg_temp.b36(:k1)), 'KOC part with a leading zero (same number)'),
    (:t, pg_temp.with_part(:'k1_code', 3, pg_temp.b36(:task2)), 'task part altered to another task'),
    (:t, pg_temp.with_part(:'k1_code', 3, '0'), 'task part altered to no task'),
    (:t, pg_temp.with_part(:'k1_code', 4, pg_temp.b36(:ch_h5)), 'channel part altered to another channel'),
    (:t, pg_temp.with_part(:'k1_code', 4, '0'), 'channel part altered to no channel'),
    (:t, left(:'k1_code', -1) || CASE right(:'k1_code', 1) WHEN 'a' THEN 'b' ELSE 'a' END, 'last signature character altered'),
    (:t, pg_temp.with_part(:'k1_code', 5, CASE left(:'k1_sig', 1) WHEN 'a' THEN 'b' ELSE 'a' END || substr(:'k1_sig', 2)), 'first signature character altered'),
    (:t, pg_temp.with_part(:'k1_code', 5, upper(:'k1_sig')), 'signature in upper case'),
    (:t, pg_temp.with_part(:'k1_code', 5, split_part(:'k1_h5', '.', 5)), 'the signature of another code'),
    (:t, :'kx_code', 'a code of another tenant'),
    (:t, pg_temp.with_part(:'kx_code', 1, pg_temp.b36(:t)), 'a code of another tenant relabelled with this tenant'),
    (:t2, :'k1_code', 'this tenant''s code sent for another tenant'),
    (:t2, pg_temp.with_part(:'k1_code', 1, pg_temp.b36(:t2)), 'this tenant''s code relabelled for another tenant'),
    (999999, :'k1_code', 'a code sent for a tenant that does not exist'),
    (:t3, :'kz_guess', 'a code for a tenant that never made codes'),
    (:t3, pg_temp.with_part(:'k1_code', 1, pg_temp.b36(:t3)), 'a signed code relabelled for a tenant that never made codes');
SELECT throws_ok(format($$SELECT commerce.record_click(%s, %L, 'v-bad')$$, tenant, code),
    '22023', format('invalid tracking code "%s"', code), format('record_click: %s -> 22023', what))
  FROM bad_code ORDER BY n;
SELECT is((SELECT count(*) FROM commerce.click), 0::bigint, 'record_click: no click stored for refused codes');
SELECT is((SELECT count(*) FROM commerce.tenant_secret WHERE tenant_id = :t3), 0::bigint,
    'record_click: no link secret made for a tenant that never made codes');
SELECT is(pg_temp.counts(), :'ct', 'record_click: counts unchanged by refused calls');
SELECT is(pg_temp.fingerprint(), :'fp', 'record_click: no commerce table changed by refused calls');
-- the tenant that never made codes makes one: the guessed code stays refused, its own works
SELECT commerce.tracking_link(:t3, 'KZ') AS kz_code \gset
SELECT is((SELECT length(link_secret) FROM commerce.tenant_secret WHERE tenant_id = :t3), 32,
    'tracking_link: the first code of a tenant makes its 32-byte link secret');
SELECT throws_ok(format($$SELECT commerce.record_click(%s, %L, 'v-bad')$$, :t3, :'kz_guess'),
    '22023', format('invalid tracking code "%s"', :'kz_guess'), 'record_click: the guessed code of t3 is still refused once t3 has a secret');
SELECT is((SELECT format('%s/%s', counted, koc_id = :kz) FROM commerce.record_click(:t3, :'kz_code', 'v-z')), 't/t',
    'record_click: t3''s own code is counted');

-- record_click: dedupe ----------------------------------------------------------------
SET LOCAL commerce.now = '2030-01-02 00:00:00+00';
SELECT click_id AS dd1 FROM commerce.record_click(:t, :'k1_code', 'v-dd', '10.1.2.3', 'WeChat/8.0') \gset
SELECT is((SELECT format('%s/%s/%s/%s/%s/%s/%s', koc_id = :k1, task_id = :task1, channel_id = :ch_wechat, visitor_id,
                         ip, user_agent, clicked_at = '2030-01-02 00:00:00+00')
             FROM commerce.click WHERE tenant_id = :t AND click_id = :dd1),
    't/t/t/v-dd/10.1.2.3/WeChat/8.0/t', 'record_click: the click stores KOC, task, channel, visitor, ip, agent and time');
SELECT is((SELECT format('%s/%s/%s/%s', click_id = :dd1, counted, koc_id = :k1, task_id = :task1)
             FROM commerce.record_click(:t, :'k1_code', 'v-dd')),
    't/f/t/t', 'record_click: a repeat at the same moment -> counted = f, the first click_id');
SET LOCAL commerce.now = '2030-01-02 00:09:59.999999+00';
SELECT is((SELECT format('%s/%s', click_id = :dd1, counted) FROM commerce.record_click(:t, :'k1_code', 'v-dd')),
    't/f', 'record_click: a repeat one microsecond before the end of the 10-minute window -> not counted');
SELECT is((SELECT format('%s/%s', click_id = :dd1, counted) FROM commerce.record_click(:t, :'k1_h5', 'v-dd')),
    't/f', 'record_click: the same KOC and task through another channel within the window -> not counted (docs/koc.md)');
SELECT is((SELECT format('%s/%s', click_id <> :dd1, counted) FROM commerce.record_click(:t, :'k1_code', 'v-dd2')),
    't/t', 'record_click: a different visitor within the window -> counted');
SELECT is((SELECT format('%s/%s', click_id <> :dd1, counted) FROM commerce.record_click(:t, :'k1_t2', 'v-dd')),
    't/t', 'record_click: the same KOC for another task within the window -> counted');
SELECT is((SELECT format('%s/%s/%s', click_id <> :dd1, counted, task_id IS NULL) FROM commerce.record_click(:t, :'k1_bare', 'v-dd')),
    't/t/t', 'record_click: the same KOC without a task within the window -> counted');
SELECT is((SELECT format('%s/%s', click_id <> :dd1, counted) FROM commerce.record_click(:t, :'k2_code', 'v-dd')),
    't/t', 'record_click: another KOC within the window -> counted');
SELECT is((SELECT count(*) FROM commerce.click WHERE tenant_id = :t AND visitor_id = 'v-dd'), 4::bigint,
    'record_click: repeats within the window stored no click');
SET LOCAL commerce.now = '2030-01-02 00:10:00+00';
SELECT click_id AS dd2 FROM commerce.record_click(:t, :'k1_code', 'v-dd') \gset
SELECT isnt(:dd2::bigint, :dd1::bigint, 'record_click: exactly 10 minutes after the first click (window end) -> a new click');
SELECT is((SELECT count(*) FROM commerce.click WHERE tenant_id = :t AND visitor_id = 'v-dd'), 5::bigint,
    'record_click: the click at the window end is stored');
SELECT is((SELECT format('%s/%s', click_id = :dd2, counted) FROM commerce.record_click(:t, :'k1_code', 'v-dd')),
    't/f', 'record_click: a repeat of the new click -> counted = f, the new click_id');
SET LOCAL commerce.now = '2030-01-02 01:00:00+00';
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_code', 'v-dd')), true,
    'record_click: an hour later -> counted');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_code', repeat('v', 200))), true,
    'record_click: a 200-character visitor -> counted');
SELECT is((SELECT format('%s/%s', counted, koc_id = :kx) FROM commerce.record_click(:t2, :'kx_code', 'v-dd')), 't/t',
    'record_click: the same visitor in another tenant -> counted there');
-- click_dedupe '0' counts every click; a negative window is refused by the table
UPDATE commerce.tenant SET click_dedupe = '0' WHERE tenant_id = :t;
SELECT click_id AS z1 FROM commerce.record_click(:t, :'k1_code', 'v-zero') \gset
SELECT is((SELECT format('%s/%s', click_id <> :z1, counted) FROM commerce.record_click(:t, :'k1_code', 'v-zero')),
    't/t', 'record_click: click_dedupe 0 -> a repeat at the same moment is counted');
SELECT is((SELECT counted FROM commerce.record_click(:t, :'k1_code', 'v-zero')), true,
    'record_click: click_dedupe 0 -> a third repeat is counted');
SELECT is((SELECT count(*) FROM commerce.click WHERE tenant_id = :t AND visitor_id = 'v-zero'), 3::bigint,
    'record_click: click_dedupe 0 -> every click stored');
UPDATE commerce.tenant SET click_dedupe = '10 minutes' WHERE tenant_id = :t;
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.tenant SET click_dedupe = ''-1 minute'' WHERE tenant_id = %s')$$, :t),
    '23514', 'new row for relation "tenant" violates check constraint "tenant_click_dedupe_check"',
    'tenant: a negative click_dedupe -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.tenant SET attribution_window = ''0'' WHERE tenant_id = %s')$$, :t),
    '23514', 'new row for relation "tenant" violates check constraint "tenant_attribution_window_check"',
    'tenant: an attribution_window of 0 -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT pg_temp.or_undo('UPDATE commerce.tenant SET self_referral = ''sometimes'' WHERE tenant_id = %s')$$, :t),
    '23514', 'new row for relation "tenant" violates check constraint "tenant_self_referral_check"',
    'tenant: self_referral ''sometimes'' -> 23514 (table CHECK)');

-- attribution_for ----------------------------------------------------------------------
SET LOCAL commerce.now = '2030-01-03 00:00:00+00';
SELECT click_id AS fz1 FROM commerce.record_click(:t, :'kf_code', 'u-frozen') \gset
SELECT click_id AS fz2a FROM commerce.record_click(:t, :'k2_code', 'u-frozen2') \gset
SELECT click_id AS last_a FROM commerce.record_click(:t, :'k2_code', 'u-last') \gset
SELECT click_id AS edge FROM commerce.record_click(:t, :'k1_code', 'u-edge') \gset
SELECT click_id AS self FROM commerce.record_click(:t, :'k1_code', 'c-k1') \gset
SET LOCAL commerce.now = '2030-01-03 01:00:00+00';
SELECT click_id AS fz2b FROM commerce.record_click(:t, :'kf_code', 'u-frozen2') \gset
SELECT click_id AS last_b FROM commerce.record_click(:t, :'k1_code', 'u-last') \gset
SET LOCAL commerce.now = '2030-01-03 02:00:00+00';
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok($$SELECT commerce.attribution_for(NULL, 'u-last')$$,
    '22004', 'argument p_tenant must not be null', 'attribution_for: NULL tenant -> 22004');
SELECT throws_ok(format($$SELECT commerce.attribution_for(%s, NULL)$$, :t),
    '22004', 'argument p_visitor must not be null', 'attribution_for: NULL visitor -> 22004');
SELECT ok(commerce.attribution_for(:t, 'u-none') IS NULL, 'attribution_for: a visitor without clicks -> NULL');
SELECT ok(commerce.attribution_for(:t2, 'u-last') IS NULL, 'attribution_for: clicks in another tenant -> NULL');
SELECT is((SELECT count(*) FROM commerce.click WHERE tenant_id = :t AND click_id = :fz1 AND koc_id = :kf), 1::bigint,
    'record_click: a click on a frozen KOC''s code is stored');
SELECT ok(commerce.attribution_for(:t, 'u-frozen') IS NULL, 'attribution_for: the only click is of a frozen KOC -> NULL');
SELECT is(commerce.attribution_for(:t, 'u-frozen2'), ROW(:k2, :task2, :fz2a)::commerce.attribution,
    'attribution_for: the last click is of a frozen KOC -> the last click of an active KOC');
SELECT is(commerce.attribution_for(:t, 'u-last'), ROW(:k1, :task1, :last_b)::commerce.attribution,
    'attribution_for: last click wins (K2 then K1 -> K1)');
SELECT is(commerce.attribution_for(:t, 'u-last', '2030-01-03 00:30:00+00'), ROW(:k2, :task2, :last_a)::commerce.attribution,
    'attribution_for: at a moment before the later click -> the earlier click');
SELECT is(commerce.attribution_for(:t, 'u-edge', '2030-01-09 23:59:59.999999+00'), ROW(:k1, :task1, :edge)::commerce.attribution,
    'attribution_for: one microsecond before click + 7 days -> attributed');
SELECT ok(commerce.attribution_for(:t, 'u-edge', '2030-01-10 00:00:00+00') IS NULL,
    'attribution_for: exactly click + 7 days -> NULL (window edge)');
SELECT is(commerce.attribution_for(:t, 'u-edge', '2030-01-03 00:00:00+00'), ROW(:k1, :task1, :edge)::commerce.attribution,
    'attribution_for: at the moment of the click -> attributed');
SELECT ok(commerce.attribution_for(:t, 'u-edge', '2030-01-02 23:59:59.999999+00') IS NULL,
    'attribution_for: one microsecond before the click -> NULL');
UPDATE commerce.tenant SET attribution_window = '1 day' WHERE tenant_id = :t;
SELECT is(commerce.attribution_for(:t, 'u-edge', '2030-01-03 23:59:59.999999+00'), ROW(:k1, :task1, :edge)::commerce.attribution,
    'attribution_for: a 1-day window, one microsecond before its end -> attributed');
SELECT ok(commerce.attribution_for(:t, 'u-edge', '2030-01-04 00:00:00+00') IS NULL,
    'attribution_for: a 1-day window, exactly at its end -> NULL');
UPDATE commerce.tenant SET attribution_window = '7 days' WHERE tenant_id = :t;
-- self-referral: the buyer is the KOC's customer
SELECT ok(commerce.attribution_for(:t, 'c-k1', NULL, :c_k1) IS NULL,
    'attribution_for: the KOC''s own customer buying through their link, self_referral deny -> NULL');
SELECT is(commerce.attribution_for(:t, 'c-k1', NULL, :c_k2), ROW(:k1, :task1, :self)::commerce.attribution,
    'attribution_for: the same click for another buyer -> attributed');
UPDATE commerce.tenant SET self_referral = 'allow' WHERE tenant_id = :t;
SELECT is(commerce.attribution_for(:t, 'c-k1', NULL, :c_k1), ROW(:k1, :task1, :self)::commerce.attribution,
    'attribution_for: the KOC''s own customer, self_referral allow -> attributed');
UPDATE commerce.tenant SET self_referral = 'deny' WHERE tenant_id = :t;
SELECT is(pg_temp.fingerprint(), :'fp', 'attribution_for: no commerce table changed');

-- the order_attribution trigger ---------------------------------------------------------
SET LOCAL commerce.now = '2030-01-04 00:00:00+00';
SELECT click_id AS cb FROM commerce.record_click(:t, :'k1_code', 'u-buyer') \gset
SELECT (commerce.place_order(:t, 'req-attr', 'wechat_mp', '{"lines":[{"sku":"A1","qty":1}]}', 'u-buyer')).order_id AS o_attr \gset
SELECT is((SELECT format('%s/%s/%s/%s', koc_id = :k1, koc_task_id = :task1, attributed_at = '2030-01-04 00:00:00+00', click_id = :cb)
             FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_attr),
    't/t/t/t', 'order_attribution: a self-operated order by a customer who clicked -> KOC, task, time and click set');
SELECT (commerce.place_order(:t, 'req-self', 'h5', '{"lines":[{"sku":"A1","qty":1}]}', 'c-k1')).order_id AS o_self \gset
SELECT is((SELECT format('%s/%s/%s/%s', koc_id, koc_task_id, attributed_at, click_id) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_self),
    '///', 'order_attribution: the KOC buying through their own link (deny) -> not attributed');
SELECT (commerce.place_order(:t, 'req-anon', 'h5', '{"lines":[{"sku":"A1","qty":1}]}')).order_id AS o_anon \gset
SELECT is((SELECT format('%s/%s/%s/%s', koc_id, koc_task_id, attributed_at, click_id) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_anon),
    '///', 'order_attribution: an order without a customer -> not attributed');
SELECT (commerce.place_order(:t, 'req-none', 'h5', '{"lines":[{"sku":"A1","qty":1}]}', 'u-none')).order_id AS o_none \gset
SELECT is((SELECT format('%s/%s/%s/%s', koc_id, koc_task_id, attributed_at, click_id) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_none),
    '///', 'order_attribution: a customer who never clicked -> not attributed');
SELECT (commerce.ingest_platform_order(:t, 'taobao',
        jsonb_set(jsonb_set(pg_temp.tb(), '{orders,order,0,outer_sku_id}', '"A1"'), '{buyer_nick}', '"u-buyer"'))).order_id AS o_tb \gset
SELECT is((SELECT format('%s/%s/%s/%s/%s', status, koc_id, koc_task_id, attributed_at, click_id) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_tb),
    'paid////', 'order_attribution: a Taobao order (buyer nick of a visitor who clicked) -> not attributed');
INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen)
VALUES (:t, :ch_taobao, 'TB-DIRECT-1', :c_buyer, 1000, 1000) RETURNING order_id AS o_direct \gset
SELECT is((SELECT format('%s/%s/%s/%s', koc_id, koc_task_id, attributed_at, click_id) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_direct),
    '///', 'order_attribution: a platform-channel order of a customer who clicked -> not attributed');
SELECT lives_ok(format($$UPDATE commerce.orders SET koc_id = koc_id, koc_task_id = koc_task_id, attributed_at = attributed_at,
                           click_id = click_id WHERE tenant_id = %s AND order_id = %s$$, :t, :o_attr),
    'order_attribution: an UPDATE that sets the attribution to what it is -> accepted');
SELECT is((commerce.pay_order(:t, :o_attr, 'pay-attr', 1000)).status, 'paid',
    'order_attribution: paying an attributed order works');
SELECT is((SELECT format('%s/%s/%s', koc_id = :k1, koc_task_id = :task1, click_id = :cb) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_attr),
    't/t/t', 'order_attribution: payment keeps the attribution');
-- the attribution never changes
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.counts() AS ct \gset
CREATE TEMP TABLE bad_update (n serial, order_id bigint, set_clause text, what text);
INSERT INTO bad_update (order_id, set_clause, what) VALUES
    (:o_attr, 'koc_id = NULL', 'an attributed order: koc_id to NULL'),
    (:o_attr, format('koc_id = %s', :k2), 'an attributed order: koc_id to another KOC'),
    (:o_attr, 'koc_task_id = NULL', 'an attributed order: koc_task_id to NULL'),
    (:o_attr, format('koc_task_id = %s', :task2), 'an attributed order: koc_task_id to another task'),
    (:o_attr, 'attributed_at = NULL', 'an attributed order: attributed_at to NULL'),
    (:o_attr, 'attributed_at = attributed_at + interval ''1 microsecond''', 'an attributed order: attributed_at one microsecond later'),
    (:o_attr, 'click_id = NULL', 'an attributed order: click_id to NULL'),
    (:o_attr, format('click_id = %s', :self), 'an attributed order: click_id to another click'),
    (:o_attr, format('koc_id = NULL, koc_task_id = NULL, attributed_at = NULL, click_id = NULL'), 'an attributed order: all four to NULL'),
    (:o_anon, format('koc_id = %s', :k1), 'an unattributed order: koc_id set'),
    (:o_anon, format('koc_task_id = %s', :task1), 'an unattributed order: koc_task_id set'),
    (:o_anon, 'attributed_at = ''2030-01-04 00:00:00+00''', 'an unattributed order: attributed_at set'),
    (:o_anon, format('click_id = %s', :cb), 'an unattributed order: click_id set'),
    (:o_none, format('koc_id = %s, koc_task_id = %s, attributed_at = ''2030-01-04 00:00:00+00'', click_id = %s', :k1, :task1, :cb),
        'an unattributed order: all four set'),
    (:o_self, format('koc_id = %s', :k1), 'a self-referral order: koc_id set'),
    (:o_tb, format('koc_id = %s', :k1), 'a platform order: koc_id set'),
    (:o_direct, format('click_id = %s', :cb), 'a platform-channel order: click_id set');
SELECT throws_ok(format($$SELECT pg_temp.or_undo(%L)$$,
        format('UPDATE commerce.orders SET %s WHERE tenant_id = %s AND order_id = %s', set_clause, :t, order_id)),
    'PT409', format('the attribution of order %s cannot change', order_id), format('order_attribution: %s -> PT409', what))
  FROM bad_update ORDER BY n;
SELECT is(pg_temp.counts(), :'ct', 'order_attribution: counts unchanged');
SELECT is(pg_temp.fingerprint(), :'fp', 'order_attribution: no commerce table changed by refused updates');

-- a direct INSERT cannot bring its own attribution: it is refused, or the
-- trigger attributes the order from the clicks (u-none never clicked)
SELECT pg_temp.fingerprint() AS fp \gset
SELECT matches(pg_temp.try_insert(format(
        $$INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, customer_id, goods_fen, payable_fen,
                                       koc_id, koc_task_id, attributed_at, click_id)
          VALUES (%s, %s, 'DIRECT-FORGED-1', %s, 1000, 1000, %s, %s, '2030-01-04 00:00:00+00', %s)
          RETURNING koc_id, koc_task_id, attributed_at, click_id$$, :t, :ch_h5, :c_none, :k1, :task1, :cb)),
    '^(refused [0-9A-Z]{5}|///)$',
    'order_attribution: a direct INSERT of a self-operated order with a made-up attribution (buyer never clicked) -> refused or not attributed');
SELECT matches(pg_temp.try_insert(format(
        $$INSERT INTO commerce.orders (tenant_id, channel_id, external_order_id, goods_fen, payable_fen, koc_task_id, click_id)
          VALUES (%s, %s, 'DIRECT-FORGED-2', 1000, 1000, %s, %s)
          RETURNING koc_id, koc_task_id, attributed_at, click_id$$, :t, :ch_h5, :task1, :cb)),
    '^(refused [0-9A-Z]{5}|///)$',
    'order_attribution: a direct INSERT of an order without customer carrying koc_task_id and click_id -> refused or not attributed');
SELECT is(pg_temp.fingerprint(), :'fp', 'order_attribution: the direct INSERT probes changed nothing');

-- the attribution window does not depend on the session's TimeZone ---------------------
-- (US daylight saving time starts on 2030-03-10 and ends on 2030-11-03)
SELECT commerce.upsert_customer(:t, 'u-dst', 'A buyer across DST') AS c_dst \gset
SET LOCAL commerce.now = '2030-03-04 12:00:00+00';
SELECT click_id AS dst1 FROM commerce.record_click(:t, :'k1_code', 'u-dst') \gset
SET LOCAL TimeZone = 'America/New_York';
SELECT is(commerce.attribution_for(:t, 'u-dst', '2030-03-11 11:30:00+00'), ROW(:k1, :task1, :dst1)::commerce.attribution,
    'attribution_for: 7 days minus 30 minutes after the click, asked from a New York session across spring DST -> attributed');
SET LOCAL commerce.now = '2030-03-11 11:30:00+00';
SELECT (commerce.place_order(:t, 'req-dst', 'h5', '{"lines":[{"sku":"A1","qty":1}]}', 'u-dst')).order_id AS o_dst \gset
SELECT is((SELECT format('%s/%s', koc_id = :k1, click_id = :dst1) FROM commerce.orders WHERE tenant_id = :t AND order_id = :o_dst),
    't/t', 'order_attribution: an order 7 days minus 30 minutes after the click, placed from a New York session across spring DST -> attributed');
SET LOCAL TimeZone = 'UTC';
SET LOCAL commerce.now = '2030-10-28 12:00:00+00';
SELECT click_id AS dst2 FROM commerce.record_click(:t, :'k2_code', 'u-dst') \gset
SET LOCAL TimeZone = 'America/New_York';
SELECT ok(commerce.attribution_for(:t, 'u-dst', '2030-11-04 12:30:00+00') IS NULL,
    'attribution_for: 7 days plus 30 minutes after the click, asked from a New York session across autumn DST -> NULL');
SET LOCAL TimeZone = 'UTC';

-- a code made by tracking_link is accepted for any bigint id (36^12 has 13 base-36 digits)
SELECT commerce.upsert_customer(:t, 'c-big', 'KOC with a large id') AS c_big \gset
INSERT INTO commerce.koc (tenant_id, koc_id, code, customer_id, name, level_code)
VALUES (:t, 4738381338321616896, 'KBIG', :c_big, 'Big', 'bronze');
SELECT commerce.tracking_link(:t, 'KBIG') AS big_code \gset
SELECT lives_ok(format($$SELECT commerce.record_click(%s, %L, 'v-big')$$, :t, :'big_code'),
    'record_click: the code tracking_link made for KOC id 36^12 is accepted');

-- commerce_api.record_click ----------------------------------------------------------
SET LOCAL request.jwt.claims = '';
SET LOCAL commerce.tenant_id = '';
SELECT pg_temp.fingerprint() AS fp \gset
SELECT throws_ok(format($$SELECT commerce_api.record_click(%L, 'v-api')$$, :'k1_code'),
    '42501', 'no tenant in the request', 'commerce_api.record_click: no tenant claims -> 42501');
SET LOCAL request.jwt.claims = '{"tenant_id":"one"}';
SELECT throws_ok(format($$SELECT commerce_api.record_click(%L, 'v-api')$$, :'k1_code'),
    '42501', 'no tenant in the request', 'commerce_api.record_click: a tenant claim that is not an id -> 42501');
SELECT format('{"tenant_id":"%s"}', :t2) AS claims2 \gset
SET LOCAL request.jwt.claims = :'claims2';
SELECT throws_ok(format($$SELECT commerce_api.record_click(%L, 'v-api')$$, :'k1_code'),
    '22023', format('invalid tracking code "%s"', :'k1_code'), 'commerce_api.record_click: another tenant''s code -> 22023');
SELECT format('{"tenant_id":"%s"}', :t) AS claims \gset
SET LOCAL request.jwt.claims = :'claims';
SELECT throws_ok($$SELECT commerce_api.record_click(NULL, 'v-api')$$,
    '22004', 'argument p_code must not be null', 'commerce_api.record_click: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce_api.record_click(%L, '')$$, :'k1_code'),
    '22023', 'invalid value for p_visitor', 'commerce_api.record_click: empty visitor -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp', 'commerce_api.record_click: no commerce table changed by refused calls');
SELECT is((SELECT format('%s/%s/%s', counted, koc_id = :k1, task_id = :task1)
             FROM commerce_api.record_click(:'k1_code', 'v-api', '10.9.8.7', 'H5')), 't/t/t',
    'commerce_api.record_click: with the tenant in the JWT claims -> counted');
SELECT is((SELECT format('%s/%s/%s', koc_id = :k1, ip, user_agent) FROM commerce.click WHERE tenant_id = :t AND visitor_id = 'v-api'),
    't/10.9.8.7/H5', 'commerce_api.record_click: the click is stored for the claimed tenant');
SELECT is((SELECT counted FROM commerce_api.record_click(:'k1_code', 'v-api')), false,
    'commerce_api.record_click: a repeat -> counted = false');

SELECT is((SELECT count(*) FROM commerce.check_stock_invariants()), 0::bigint, 'stock invariants hold at the end');

SELECT * FROM finish();
ROLLBACK;

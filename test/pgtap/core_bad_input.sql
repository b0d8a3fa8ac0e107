-- core_bad_input.sql: bad calls of the core entry points (tenants, stores,
-- warehouses, channels, member tiers) are refused with the documented
-- SQLSTATE and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(52);

\ir lib/fingerprint.psql

-- fixtures
SET LOCAL commerce.now = '2030-01-01 00:00:00+00';
SELECT commerce.create_tenant('t1', 'Tenant one') AS t \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'east', 'Shanghai') AS s1 \gset
SELECT commerce.upsert_member_tier(:t, 'gold', 'Gold card', 1) AS tier \gset
SELECT pg_temp.fingerprint() AS fp0 \gset

-- create_tenant ----------------------------------------------------------
SELECT throws_ok($$SELECT commerce.create_tenant(NULL, 'X')$$,
    '22004', 'argument p_code must not be null', 'create_tenant: NULL code -> 22004');
SELECT throws_ok($$SELECT commerce.create_tenant('t9', NULL)$$,
    '22004', 'argument p_name must not be null', 'create_tenant: NULL name -> 22004');
SELECT throws_ok($$SELECT commerce.create_tenant('t9', 'X', NULL)$$,
    '22004', 'argument p_time_zone must not be null', 'create_tenant: NULL time zone -> 22004');
-- a malformed code or name is refused by the tenant table's CHECK (23514)
SELECT throws_ok($$SELECT commerce.create_tenant('Bad Code!', 'X')$$,
    '23514', 'new row for relation "tenant" violates check constraint "tenant_code_check"',
    'create_tenant: code ''Bad Code!'' -> 23514 (table CHECK)');
SELECT throws_ok($$SELECT commerce.create_tenant('', 'X')$$,
    '23514', 'new row for relation "tenant" violates check constraint "tenant_code_check"',
    'create_tenant: empty code -> 23514 (table CHECK)');
SELECT throws_ok($$SELECT commerce.create_tenant('t9', '')$$,
    '23514', 'new row for relation "tenant" violates check constraint "tenant_name_check"',
    'create_tenant: empty name -> 23514 (table CHECK)');
SELECT throws_ok($$SELECT commerce.create_tenant('t9', repeat('n', 201))$$,
    '23514', 'new row for relation "tenant" violates check constraint "tenant_name_check"',
    'create_tenant: 201-character name -> 23514 (table CHECK)');
SELECT throws_ok($$SELECT commerce.create_tenant('t9', 'X', 'Mars/Olympus_Mons')$$,
    '22023', 'invalid value for p_time_zone', 'create_tenant: unknown time zone -> 22023');
-- a bad call on an existing code does not rename or re-zone it
SELECT throws_ok($$SELECT commerce.create_tenant('t1', 'Renamed', 'Mars/Olympus_Mons')$$,
    '22023', 'invalid value for p_time_zone', 'create_tenant: existing code, unknown time zone -> 22023');
SELECT throws_ok($$SELECT commerce.create_tenant('t1', '')$$,
    '23514', 'new row for relation "tenant" violates check constraint "tenant_name_check"',
    'create_tenant: existing code, empty name -> 23514');

SELECT is((SELECT count(*) FROM commerce.tenant), 1::bigint, 'create_tenant: no tenant created by bad calls');
SELECT is((SELECT name || '/' || time_zone FROM commerce.tenant WHERE tenant_id = :t),
    'Tenant one/Asia/Shanghai', 'create_tenant: existing tenant neither renamed nor re-zoned');
SELECT is((SELECT count(*) FROM commerce.channel), 7::bigint, 'create_tenant: no channels seeded by bad calls');
SELECT is((SELECT count(*) FROM commerce.warehouse), 1::bigint, 'create_tenant: no warehouse seeded by bad calls');

-- tenant_id --------------------------------------------------------------
SELECT throws_ok($$SELECT commerce.tenant_id('nope')$$,
    'PT404', 'tenant "nope" not found', 'tenant_id: unknown code -> PT404');
SELECT throws_ok($$SELECT commerce.tenant_id('T1')$$,
    'PT404', 'tenant "T1" not found', 'tenant_id: codes are case-sensitive -> PT404');
SELECT throws_ok($$SELECT commerce.tenant_id(NULL)$$,
    '22004', 'argument p_code must not be null', 'tenant_id: NULL code -> 22004');
SELECT is(commerce.tenant_id('t1'), :t::bigint, 'tenant_id: known code resolves');

-- upsert_store -----------------------------------------------------------
SELECT throws_ok($$SELECT commerce.upsert_store(NULL, 'S2', 'Store')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_store: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_store(999999, 'S2', 'Store')$$,
    'PT404', 'tenant "999999" not found', 'upsert_store: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_store(%s, NULL, 'Store')$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_store: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_store(%s, 'S2', NULL)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_store: NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_store(%s, 'S 2', 'Store')$$, :t),
    '23514', 'new row for relation "store" violates check constraint "store_code_check"',
    'upsert_store: code with a space -> 23514 (table CHECK)');
SELECT throws_ok(format($$SELECT commerce.upsert_store(%s, 'S1', NULL, 'west', 'Beijing')$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_store: existing code, NULL name -> 22004');

-- upsert_warehouse -------------------------------------------------------
SELECT throws_ok($$SELECT commerce.upsert_warehouse(NULL, 'east', 'East')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_warehouse: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_warehouse(999999, 'east', 'East')$$,
    'PT404', 'tenant "999999" not found', 'upsert_warehouse: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_warehouse(%s, NULL, 'East')$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_warehouse: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_warehouse(%s, 'east', NULL)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_warehouse: NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_warehouse(%s, '-east', 'East')$$, :t),
    '23514', 'new row for relation "warehouse" violates check constraint "warehouse_code_check"',
    'upsert_warehouse: code starting with ''-'' -> 23514 (table CHECK)');

-- upsert_channel ---------------------------------------------------------
SELECT throws_ok($$SELECT commerce.upsert_channel(NULL, 'kuaishou', 'Kuaishou')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_channel: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_channel(999999, 'kuaishou', 'Kuaishou')$$,
    'PT404', 'tenant "999999" not found', 'upsert_channel: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_channel(%s, NULL, 'Kuaishou')$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_channel: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_channel(%s, 'kuaishou', NULL)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_channel: NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_channel(%s, 'kuaishou', 'Kuaishou', 'marketplace')$$, :t),
    '22023', 'invalid value for p_kind', 'upsert_channel: unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_channel(%s, 'taobao', 'Renamed', 'marketplace')$$, :t),
    '22023', 'invalid value for p_kind', 'upsert_channel: existing code, unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.upsert_channel(%s, 'KuaiShou', 'Kuaishou')$$, :t),
    '23514', 'new row for relation "channel" violates check constraint "channel_code_check"',
    'upsert_channel: upper-case code -> 23514 (table CHECK)');

-- upsert_member_tier -----------------------------------------------------
SELECT throws_ok($$SELECT commerce.upsert_member_tier(NULL, 'silver', 'Silver')$$,
    '22004', 'argument p_tenant must not be null', 'upsert_member_tier: NULL tenant -> 22004');
SELECT throws_ok($$SELECT commerce.upsert_member_tier(999999, 'silver', 'Silver')$$,
    'PT404', 'tenant "999999" not found', 'upsert_member_tier: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.upsert_member_tier(%s, NULL, 'Silver')$$, :t),
    '22004', 'argument p_code must not be null', 'upsert_member_tier: NULL code -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_member_tier(%s, 'silver', NULL)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_member_tier: NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_member_tier(%s, 'gold', NULL, 9)$$, :t),
    '22004', 'argument p_name must not be null', 'upsert_member_tier: existing code, NULL name -> 22004');
SELECT throws_ok(format($$SELECT commerce.upsert_member_tier(%s, 'Gold Card', 'Gold')$$, :t),
    '23514', 'new row for relation "member_tier" violates check constraint "member_tier_code_check"',
    'upsert_member_tier: code with a space -> 23514 (table CHECK)');

-- nothing changed --------------------------------------------------------
SELECT is((SELECT count(*) FROM commerce.store), 1::bigint, 'no store created by bad calls');
SELECT is((SELECT name || '/' || region || '/' || city FROM commerce.store WHERE tenant_id = :t AND store_id = :s1),
    'Store one/east/Shanghai', 'existing store unchanged');
SELECT is((SELECT count(*) FROM commerce.warehouse), 1::bigint, 'no warehouse created by bad calls');
SELECT is((SELECT count(*) FROM commerce.channel), 7::bigint, 'no channel created by bad calls');
SELECT is((SELECT name || '/' || kind FROM commerce.channel WHERE tenant_id = :t AND code = 'taobao'),
    'Taobao/Tmall/platform', 'existing channel unchanged');
SELECT is((SELECT count(*) FROM commerce.member_tier), 1::bigint, 'no member tier created by bad calls');
SELECT is((SELECT name || '/' || rank FROM commerce.member_tier WHERE tenant_id = :t AND code = 'gold'),
    'Gold card/1', 'existing member tier unchanged');
SELECT is(pg_temp.fingerprint(), :'fp0', 'core: no commerce table changed');

-- the same calls with good arguments work (the refusals were about the input)
SELECT lives_ok(format($$SELECT commerce.upsert_channel(%s, 'kuaishou', 'Kuaishou', 'platform')$$, :t),
    'upsert_channel: valid call works');
SELECT lives_ok($$SELECT commerce.create_tenant('t9', 'Tenant nine', 'Europe/Paris')$$,
    'create_tenant: valid call works');

SELECT * FROM finish();
ROLLBACK;

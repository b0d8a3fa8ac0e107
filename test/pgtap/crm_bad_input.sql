-- crm_bad_input.sql: every CRM entry point refuses bad input with its
-- SQLSTATE and changes nothing: NULLs, unknown ids, another tenant's rows,
-- values outside their domain, malformed JSON.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(44);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-06-15 10:00:00+08';
SELECT commerce.create_tenant('bad', 'Bad input') AS t \gset
SELECT commerce.create_tenant('other', 'Other') AS t2 \gset
SELECT commerce.upsert_customer(:t, 'a', 'Ann', '13800000001');
SELECT commerce.upsert_customer(:t2, 'z', 'Zed');
SELECT commerce.upsert_tag_category(:t, 'beh', 'Behaviour', 'behaviour');
SELECT commerce.create_tag(:t, 'vip', 'VIP', 'beh');
SELECT commerce.create_tag(:t2, 'only2', 'Other tenant''s tag', 'beh') FROM commerce.upsert_tag_category(:t2, 'beh', 'B', 'behaviour') x;
SELECT commerce.define_segment(:t, 'all', 'All', '{"field":"orders","op":">=","value":0}');
SELECT commerce.define_segment(:t2, 'theirs', 'Theirs', '{"field":"orders","op":">=","value":0}');
SELECT commerce.open_ticket(:t2, 'tk-z', 'z', 'complaint', 'Theirs') AS k2 \gset
\o
SELECT pg_temp.fingerprint() AS fp \gset

-- events
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, NULL, 'browse', 'r1')$$, :t), '22004', 'argument p_customer must not be null', 'event: NULL customer');
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, 'a', 'Browse', 'r1')$$, :t), '22023', 'invalid value for p_kind', 'event: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, 'a', 'custom.', 'r1')$$, :t), '22023', 'invalid value for p_kind', 'event: custom without a name');
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, 'a', 'joined_group', 'r1')$$, :t), '22023', 'invalid value for p_ref', 'event: a group event without its group');
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, 'a', 'browse', 'r1', NULL, NULL, 'service', '2030-07-01')$$, :t), '22023', 'invalid value for p_at', 'event: in the future');
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, 'a', 'browse', 'r1', repeat('x', 201))$$, :t), '22023', 'invalid value for p_ref', 'event: a ref over 200 characters');
SELECT throws_ok(format($$SELECT commerce.record_crm_event(%s, 'z', 'browse', 'r1')$$, :t), 'PT404', 'customer "z" not found', 'event: another tenant''s customer');
SELECT throws_ok($$SELECT commerce.record_crm_event(999999, 'a', 'browse', 'r1')$$, 'PT404', NULL, 'event: an unknown tenant');

-- growth levels
SELECT throws_ok(format($$SELECT commerce.set_growth_levels(%s, '{"level":1}')$$, :t), '22023', 'invalid value for p_levels', 'levels: not a list');
SELECT throws_ok(format($$SELECT commerce.set_growth_levels(%s, '[{"level":2,"name":"X","min_growth":1}]')$$, :t), '22023', 'invalid value for p_levels', 'levels: not numbered from 1');
SELECT throws_ok(format($$SELECT commerce.set_growth_levels(%s, '[{"level":1,"name":"X","min_growth":5},{"level":2,"name":"Y","min_growth":5}]')$$, :t), '22023', 'invalid value for p_levels', 'levels: min_growth not rising');
SELECT throws_ok(format($$SELECT commerce.set_growth_levels(%s, '[{"level":1,"name":"","min_growth":5}]')$$, :t), '22023', 'invalid value for p_levels', 'levels: an empty name');
SELECT throws_ok(format($$SELECT commerce.set_growth_levels(%s, '[{"level":1.5,"name":"X","min_growth":5}]')$$, :t), '22023', 'invalid value for p_levels', 'levels: a fractional level');

-- tags
SELECT throws_ok(format($$SELECT commerce.upsert_tag_category(%s, 'c', 'C', 'mood')$$, :t), '22023', 'invalid value for p_kind', 'category: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.create_tag(%s, 'x', 'X', 'nope')$$, :t), 'PT404', 'tag category "nope" not found', 'tag: an unknown category');
SELECT throws_ok(format($$SELECT commerce.create_tag(%s, 'x', 'X', 'beh', 'manual', '{"tag":"vip"}')$$, :t), '22023', 'invalid value for p_rule', 'tag: a rule on a manual tag');
SELECT throws_ok(format($$SELECT commerce.create_tag(%s, 'vip', 'VIP', 'beh', 'model')$$, :t), 'PT409', 'tag vip is a manual tag', 'tag: a manual tag made a model tag');
SELECT throws_ok(format($$SELECT commerce.set_person_tag(%s, 'a', 'only2', true, 'staff:x')$$, :t), 'PT404', 'tag "only2" not found', 'tag: another tenant''s tag');
SELECT throws_ok(format($$SELECT commerce.set_person_tag(%s, 'a', 'vip', NULL, 'staff:x')$$, :t), '22004', 'argument p_on must not be null', 'tag: NULL on');

-- segments
SELECT throws_ok(format($$SELECT commerce.define_segment(%s, 's', 'S', NULL)$$, :t), '22004', 'argument p_tree must not be null', 'segment: NULL tree');
SELECT throws_ok(format($$SELECT commerce.define_segment(%s, 's', 'S', '{"tag":"only2"}')$$, :t), '22023', 'invalid value for p_tree', 'segment: another tenant''s tag');
SELECT throws_ok(format($$SELECT commerce.define_segment(%s, 's', 'S', '{"tag":"vip"}', 'list')$$, :t), '22023', 'invalid value for p_kind', 'segment: an unknown kind');
SELECT throws_ok(format($$SELECT commerce.define_segment(%s, 's', '', '{"tag":"vip"}')$$, :t), '22023', 'invalid value for p_name', 'segment: an empty name');
SELECT throws_ok(format($$SELECT commerce.compile_segment(jsonb_build_object('tag', repeat('x', 100001)))$$), '22023', 'invalid value for p_tree', 'segment: a tree over 100,000 characters');
SELECT throws_ok(format($$SELECT commerce.rebuild_segment(%s, 'theirs')$$, :t), 'PT404', 'segment "theirs" not found', 'rebuild: another tenant''s segment');
SELECT throws_ok(format($$SELECT commerce.override_segment(%s, 'all', 'a', 'maybe')$$, :t), '22023', 'invalid value for p_mode', 'override: an unknown mode');
SELECT throws_ok(format($$SELECT commerce.override_segment(%s, 'all', 'z', 'include')$$, :t), 'PT404', 'customer "z" not found', 'override: another tenant''s customer');
SELECT throws_ok(format($$SELECT * FROM commerce.export_segment(%s, 'all', 'csv')$$, :t), '22023', 'invalid value for p_mode', 'export: an unknown mode');
SELECT throws_ok(format($$SELECT * FROM commerce.export_segment(%s, 'all', 'encrypted', 'short')$$, :t), '22023', 'invalid value for p_key', 'export: a key under 16 characters');
SELECT throws_ok(format($$SELECT * FROM commerce.export_segment(%s, 'theirs')$$, :t), 'PT404', 'segment "theirs" not found', 'export: another tenant''s segment');
SELECT throws_ok($$SELECT commerce.crm_evaluate(0)$$, '22023', 'invalid value for p_limit', 'pump: a batch of 0');

-- the 360 and tickets across tenants
SELECT throws_ok(format($$SELECT commerce.find_person(%s, 'z')$$, :t), 'PT404', 'customer "z" not found', '360: another tenant''s customer');
SELECT throws_ok(format($$SELECT commerce.find_person(%s, p_phone => 'call me')$$, :t), '22023', 'invalid value for phone', '360: a phone that is no number');
SELECT throws_ok(format($$SELECT commerce.customer_360(%s, NULL)$$, :t), '22004', 'argument p_person must not be null', '360: NULL person');
SELECT throws_ok(format($$SELECT commerce.move_ticket(%s, %s, 'processing', NULL, 'cs')$$, :t, :k2), 'PT404', NULL, 'ticket: another tenant''s ticket');
SELECT throws_ok(format($$SELECT commerce.comment_ticket(%s, %s, '', 'cs')$$, :t2, :k2), '22023', 'invalid value for p_note', 'ticket: an empty comment');
SELECT throws_ok(format($$SELECT commerce.assign_ticket(%s, %s, 'robot', 'x', 'cs')$$, :t2, :k2), '22023', 'invalid value for p_kind', 'ticket: an unknown assignee kind');
SELECT throws_ok(format($$SELECT commerce.open_ticket(%s, 'tk-1', 'a', 'complaint', 'x', NULL, 999999)$$, :t), 'PT404', 'order "999999" not found', 'ticket: an unknown order');

-- flows
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'f', 'F', NULL)$$, :t), '22004', 'argument p_definition must not be null', 'flow: NULL definition');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'f', 'F', '{"trigger":{"on":"entered_segment","ref":"theirs"},"steps":[{"id":"a","exit":true}]}')$$, :t),
                 'PT404', 'segment "theirs" not found', 'flow: another tenant''s segment');
SELECT throws_ok(format($$SELECT commerce.define_flow(%s, 'f', 'F', '{"trigger":{"on":"registered","ref":"x"},"steps":[{"id":"a","exit":true}]}')$$, :t),
                 '22023', 'invalid value for p_definition', 'flow: a ref on a trigger without one');
SELECT throws_ok(format($$SELECT commerce.set_contact_optout(%s, 'a', 'pigeon', true, 'x')$$, :t), '22023', 'invalid value for p_channel', 'opt-out: an unknown channel');
SELECT throws_ok(format($$SELECT commerce.set_flow_status(%s, 'nope', 'paused')$$, :t), 'PT404', 'flow "nope" not found', 'flow: unknown');
SELECT is(pg_temp.fingerprint(), :'fp', 'nothing changed');
SELECT * FROM finish();
ROLLBACK;

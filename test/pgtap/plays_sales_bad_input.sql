-- plays_sales_bad_input.sql: bad calls of the play entry points customers
-- and operators use (join_group, buy_play, start_bargain, help_bargain,
-- buy_bargain, invite, consume_asset, blacklist, unblacklist,
-- set_play_limits, record_play_view, play_dashboard, end_expired_groups,
-- set_split_rule, apply_play_settlement, decide_play_settlement,
-- record_settlement_payout) are refused with the documented SQLSTATE, one
-- per eligibility rule, and change nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS commerce;
CALL commerce.provision();
SELECT plan(107);
\ir lib/fingerprint.psql
\o /dev/null

SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT commerce.create_tenant('s1', 'Sales one') AS t \gset
SELECT commerce.create_tenant('s2', 'Sales two') AS t2 \gset
SELECT commerce.upsert_store(:t, 'S1', 'Store one', 'Zhejiang', 'Hangzhou');
SELECT commerce.upsert_store(:t2, 'S2', 'Store two');
SELECT commerce.upsert_product(:t, 'P', 'Course', 'virtual', 'course');
SELECT commerce.upsert_sku(:t, 'P', 'C10', '10 lessons', 10000, p_floor_fen => 2000);
SELECT commerce.receive_stock(:t, 'r', 'C10', 40);
SELECT commerce.ensure_play_templates(:t);
SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['a', 'b', 'c', 'd', 'old', 'bad', 'r1', 'r2', 'new']) c;
SELECT commerce.upsert_customer(:t2, 'other');
SELECT commerce.pay_order(:t, (commerce.place_order(:t, 'old-1', 'h5', '{"lines":[{"sku":"C10","qty":1}]}', 'old')).order_id, 'pay-old', 10000);
SELECT commerce.configure_play(:t, 'cfg-g', 'G', 'GROUP_BUY', 'S1', 'C10', 'Group', 8000, 6, '2030-01-01', '2030-02-01', '{"target_size":2,"hours":2}',
                               p_per_user_limit => 1, p_mutex_group => 'm', p_asset_type => 'COURSE', p_units_per_sale => 2);
SELECT commerce.configure_play(:t, 'cfg-g2', 'G2', 'GROUP_BUY', 'S1', 'C10', 'Group 2', 8000, 2, '2030-01-01', '2030-02-01', '{"target_size":2}', p_mutex_group => 'm');
SELECT commerce.configure_play(:t, 'cfg-n', 'NEWG', 'GROUP_BUY', 'S1', 'C10', 'New only', 8000, 2, '2030-01-01', '2030-02-01', '{"target_size":2}', p_new_users_only => true);
SELECT commerce.configure_play(:t, 'cfg-late', 'LATE', 'GROUP_BUY', 'S1', 'C10', 'Later', 8000, 1, '2030-03-01', '2030-04-01', '{"target_size":2}');
SELECT commerce.configure_play(:t, 'cfg-f', 'F', 'FLASH_SALE', 'S1', 'C10', 'Flash', 5000, 3, '2030-01-01', '2030-02-01', '{"per_order_limit":1}');
SELECT commerce.configure_play(:t, 'cfg-f1', 'F1', 'FLASH_SALE', 'S1', 'C10', 'Flash one', 5000, 1, '2030-01-01', '2030-02-01', '{}');
SELECT commerce.configure_play(:t, 'cfg-b', 'B', 'BARGAIN', 'S1', 'C10', 'Bargain', 9000, 3, '2030-01-01', '2030-02-01', '{"floor_fen":5000,"cut_fen":3000}',
                               p_asset_type => 'COURSE');
SELECT commerce.configure_play(:t, 'cfg-i', 'I', 'INVITE_REWARD', 'S1', 'C10', 'Invite', 9000, 3, '2030-01-01', '2030-02-01', '{"reward_fen":1000}');
SELECT commerce.blacklist(:t, 'user', 'bad', 'fraud');
SELECT commerce.blacklist(:t, 'ip', '6.6.6.6', 'proxy');
SELECT commerce.blacklist(:t, 'device', 'emu-1', 'emulator');
SELECT commerce.set_play_limits(:t, 'F', 1, 1);
-- a full group (a, b), an open group of c, a flash buy of r1 from 1.1.1.1, F1 sold out, a bargain of a at its floor? no: one cut
SELECT commerce.join_group(:t, 'j-a', 'G', 'a', 'pa');
SELECT commerce.join_group(:t, 'j-b', 'G', 'b', 'pb', (SELECT min(instance_id) FROM commerce.play_instance));
SELECT commerce.join_group(:t, 'j-c', 'G', 'c', 'pc');
SELECT commerce.buy_play(:t, 'f-r1', 'F', 'r1', p_ip => '1.1.1.1');
SELECT commerce.buy_play(:t, 'f1-a', 'F1', 'a');
SELECT commerce.start_bargain(:t, 'b-a', 'B', 'a');
SELECT commerce.help_bargain(:t, 'h-b', (SELECT instance_id FROM commerce.play_instance WHERE request_id = 'b-a'), 'b');
SELECT commerce.invite(:t, 'i-1', 'I', 'a', 'new');
SELECT commerce.set_split_rule(:t, NULL, 7000);
SELECT min(instance_id) AS full_g, max(instance_id) FILTER (WHERE price_fen IS NULL) AS open_g,
       max(instance_id) FILTER (WHERE price_fen IS NOT NULL) AS bar FROM commerce.play_instance \gset
SELECT min(asset_id) AS asset FROM commerce.user_asset \gset
SELECT pg_temp.fingerprint() AS fp0 \gset
\o

-- join_group
SELECT throws_ok(format($$SELECT commerce.join_group(%s, NULL, 'G', 'd', 'p')$$, :t), '22004', 'argument p_request_id must not be null', 'join: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', NULL, 'p')$$, :t), '22004', 'argument p_customer must not be null', 'join: NULL customer -> 22004');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, repeat('x', 201), 'G', 'd', 'p')$$, :t), '22023', 'invalid value for p_request_id', 'join: request_id too long -> 22023');
SELECT throws_ok($$SELECT commerce.join_group(999999, 'x', 'G', 'd', 'p')$$, 'PT404', 'tenant "999999" not found', 'join: unknown tenant -> PT404');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'NOPE', 'd', 'p')$$, :t), 'PT404', 'play config "NOPE" not found', 'join: unknown play -> PT404');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'F', 'd', 'p')$$, :t), '22023', 'invalid value for p_config', 'join: a flash sale -> 22023');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'other', 'p')$$, :t), 'PT404', 'customer "other" not found', 'join: another tenant''s customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'LATE', 'd', 'p')$$, :t), 'PT409', 'play "LATE" is not open', 'join: play not started -> PT409');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'd', 'p', %s)$$, :t, :full_g), 'PT409', format('group %s is success', :full_g), 'join: a finished group -> PT409');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'd', 'p', 999999)$$, :t), 'PT404', 'group "999999" not found', 'join: unknown group -> PT404');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'c', 'p', %s)$$, :t, :open_g), 'PT409', format('customer "c" is already in group %s', :open_g), 'join: a second place -> PT409');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'a', 'p', %s)$$, :t, :open_g), 'PT409', 'customer "a" has reached the limit of play "G"', 'join: per-customer limit -> PT409');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G2', 'a', 'p')$$, :t), 'PT409', 'play "G2" excludes play "G" the customer is in', 'join: mutex group -> PT409');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'NEWG', 'old', 'p')$$, :t), 'PT403', 'play "NEWG" is for new customers only', 'join: new customers only -> PT403');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'bad', 'p', %s)$$, :t, :open_g), 'PT403', 'customer "bad" may not take part in play "G"', 'join: blacklisted customer -> PT403');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'd', 'p', %s, p_ip => '6.6.6.6')$$, :t, :open_g), 'PT403', 'customer "d" may not take part in play "G"', 'join: blacklisted IP -> PT403');
SELECT throws_ok(format($$SELECT commerce.join_group(%s, 'x', 'G', 'd', 'p', %s, p_device => 'emu-1')$$, :t, :open_g), 'PT403', 'customer "d" may not take part in play "G"', 'join: blacklisted device -> PT403');
SELECT throws_ok(format($$SET LOCAL commerce.now = '2030-01-10 12:00:00+08'; SELECT commerce.join_group(%s, 'x', 'G', 'd', 'p', %s)$$, :t, :open_g), 'PT410', format('group %s has expired', :open_g), 'join: past the deadline -> PT410');
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT is(pg_temp.fingerprint(), :'fp0', 'join_group: nothing changed');

-- buy_play
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', NULL)$$, :t), '22004', 'argument p_customer must not be null', 'buy: NULL customer -> 22004');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'd', NULL)$$, :t), '22004', 'argument p_qty must not be null', 'buy: NULL qty -> 22004');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'NOPE', 'd')$$, :t), 'PT404', 'play config "NOPE" not found', 'buy: unknown play -> PT404');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'G', 'd')$$, :t), '22023', 'invalid value for p_config', 'buy: a group buy -> 22023');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'B', 'd')$$, :t), '22023', 'invalid value for p_config', 'buy: a bargain -> 22023');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'nobody')$$, :t), 'PT404', 'customer "nobody" not found', 'buy: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'd', 2)$$, :t), '22023', 'invalid value for p_qty', 'buy: above the per-order limit -> 22023');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'd', 0)$$, :t), '22023', 'invalid value for p_qty', 'buy: zero units -> 22023');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F1', 'd')$$, :t), 'PT409', 'play "F1" is sold out', 'buy: sold out -> PT409');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'r1')$$, :t), 'PT429', 'customer "r1" is acting too fast on play "F"', 'buy: per-customer rate -> PT429');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'r2', p_ip => '1.1.1.1')$$, :t), 'PT429', 'too many actions from IP 1.1.1.1 on play "F"', 'buy: per-IP rate -> PT429');
SELECT throws_ok(format($$SELECT commerce.buy_play(%s, 'x', 'F', 'bad')$$, :t), 'PT403', 'customer "bad" may not take part in play "F"', 'buy: blacklisted -> PT403');
SELECT throws_ok(format($$SET LOCAL commerce.now = '2030-02-02 00:00:00+08'; SELECT commerce.buy_play(%s, 'x', 'F', 'd')$$, :t), 'PT409', 'play "F" is not open', 'buy: after the window -> PT409');
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT is(pg_temp.fingerprint(), :'fp0', 'buy_play: nothing changed');

-- bargains
SELECT throws_ok(format($$SELECT commerce.start_bargain(%s, NULL, 'B', 'd')$$, :t), '22004', 'argument p_request_id must not be null', 'start: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.start_bargain(%s, 'x', 'G', 'd')$$, :t), '22023', 'invalid value for p_config', 'start: a group buy -> 22023');
SELECT throws_ok(format($$SELECT commerce.start_bargain(%s, 'x', 'NOPE', 'd')$$, :t), 'PT404', 'play config "NOPE" not found', 'start: unknown play -> PT404');
SELECT throws_ok(format($$SELECT commerce.start_bargain(%s, 'x', 'B', 'nobody')$$, :t), 'PT404', 'customer "nobody" not found', 'start: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.start_bargain(%s, 'x', 'B', 'a')$$, :t), 'PT409', 'customer "a" already has a running bargain on play "B"', 'start: a second running bargain -> PT409');
SELECT throws_ok(format($$SELECT commerce.start_bargain(%s, 'x', 'B', 'bad')$$, :t), 'PT403', 'customer "bad" may not take part in play "B"', 'start: blacklisted -> PT403');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', NULL, 'c')$$, :t), '22004', 'argument p_instance must not be null', 'help: NULL bargain -> 22004');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', 999999, 'c')$$, :t), 'PT404', 'bargain "999999" not found', 'help: unknown bargain -> PT404');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', %s, 'c')$$, :t, :full_g), 'PT404', format('bargain "%s" not found', :full_g), 'help: a group is not a bargain -> PT404');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', %s, 'a')$$, :t, :bar), 'PT409', 'customer "a" cannot help their own bargain', 'help: the owner -> PT409');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', %s, 'b')$$, :t, :bar), 'PT409', format('customer "b" has already helped bargain %s', :bar), 'help: a second help -> PT409');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'h-b', %s, 'c')$$, :t, :bar), '23505', 'request_id "h-b" was already used for another help', 'help: request_id reused -> 23505');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', %s, 'bad')$$, :t, :bar), 'PT403', 'customer "bad" may not take part in play "B"', 'help: blacklisted -> PT403');
SELECT throws_ok(format($$SELECT commerce.help_bargain(%s, 'x', %s, 'nobody')$$, :t, :bar), 'PT404', 'customer "nobody" not found', 'help: unknown helper -> PT404');
SELECT throws_ok(format($$SET LOCAL commerce.now = '2030-01-11 10:00:00+08'; SELECT commerce.help_bargain(%s, 'x', %s, 'c')$$, :t, :bar), 'PT410', format('bargain %s has expired', :bar), 'help: past the deadline -> PT410');
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT throws_ok(format($$SELECT commerce.buy_bargain(%s, 'x', %s, 'a')$$, :t, :bar), 'PT409', format('bargain %s has not reached its floor', :bar), 'buy bargain: not at the floor -> PT409');
SELECT throws_ok(format($$SELECT commerce.buy_bargain(%s, 'x', %s, 'b')$$, :t, :bar), 'PT409', format('bargain %s is not customer "b"''s', :bar), 'buy bargain: not the owner -> PT409');
SELECT throws_ok(format($$SELECT commerce.buy_bargain(%s, 'x', 999999, 'a')$$, :t), 'PT404', 'bargain "999999" not found', 'buy bargain: unknown -> PT404');
SELECT throws_ok(format($$SELECT commerce.buy_bargain(%s, 'x', %s, NULL)$$, :t, :bar), '22004', 'argument p_customer must not be null', 'buy bargain: NULL customer -> 22004');
SELECT throws_ok(format($$SET LOCAL commerce.now = '2030-01-11 10:00:00+08'; SELECT commerce.buy_bargain(%s, 'x', %s, 'a')$$, :t, :bar), 'PT410', format('bargain %s has expired', :bar), 'buy bargain: past the deadline -> PT410');
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT is(pg_temp.fingerprint(), :'fp0', 'bargains: nothing changed');

-- invites
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'I', NULL, 'd')$$, :t), '22004', 'argument p_inviter must not be null', 'invite: NULL inviter -> 22004');
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'G', 'a', 'd')$$, :t), '22023', 'invalid value for p_config', 'invite: a group buy -> 22023');
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'I', 'a', 'a')$$, :t), '22023', 'invalid value for p_invitee', 'invite: oneself -> 22023');
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'I', 'a', 'old')$$, :t), 'PT403', 'customer "old" is not a new customer', 'invite: a customer who paid -> PT403');
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'I', 'b', 'new')$$, :t), 'PT409', 'customer "new" was already invited', 'invite: invited twice -> PT409');
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'I', 'bad', 'd')$$, :t), 'PT403', 'customer "bad" may not take part in play "I"', 'invite: blacklisted inviter -> PT403');
SELECT throws_ok(format($$SELECT commerce.invite(%s, 'x', 'I', 'a', 'nobody')$$, :t), 'PT404', 'customer "nobody" not found', 'invite: unknown invitee -> PT404');
SELECT throws_ok(format($$SET LOCAL commerce.now = '2030-02-02 00:00:00+08'; SELECT commerce.invite(%s, 'x', 'I', 'a', 'd')$$, :t), 'PT409', 'play "I" is not open', 'invite: after the window -> PT409');
SET LOCAL commerce.now = '2030-01-10 10:00:00+08';
SELECT is(pg_temp.fingerprint(), :'fp0', 'invites: nothing changed');

-- consumption
SELECT throws_ok(format($$SELECT commerce.consume_asset(%s, 'u', %s, 3, 'S1', 'op')$$, :t, :asset), 'PT409', format('asset %s has 2 items left, not 3', :asset), 'consume: beyond remaining -> PT409');
SELECT throws_ok(format($$SELECT commerce.consume_asset(%s, 'u', %s, 0, 'S1', 'op')$$, :t, :asset), '22023', 'invalid value for p_amount', 'consume: zero -> 22023');
SELECT throws_ok(format($$SELECT commerce.consume_asset(%s, 'u', 999999, 1, 'S1', 'op')$$, :t), 'PT404', 'asset "999999" not found', 'consume: unknown asset -> PT404');
SELECT throws_ok(format($$SELECT commerce.consume_asset(%s, 'u', %s, 1, 'S2', 'op')$$, :t, :asset), 'PT404', 'store "S2" not found', 'consume: another tenant''s store -> PT404');
SELECT throws_ok(format($$SELECT commerce.consume_asset(%s, 'u', %s, 1, 'S1', NULL)$$, :t, :asset), '22004', 'argument p_operator must not be null', 'consume: NULL operator -> 22004');
SELECT throws_ok(format($$SELECT commerce.consume_asset(%s, 'u', %s, 1, 'S2', 'op')$$, :t2, :asset), 'PT404', format('asset "%s" not found', :asset), 'consume: another tenant''s asset -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'consumption: nothing changed');

-- operators: blacklist, limits, views, dashboard, the deadline job
SELECT throws_ok(format($$SELECT commerce.blacklist(%s, 'phone', 'x', 'r')$$, :t), '22023', 'invalid value for p_kind', 'blacklist: unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.blacklist(%s, 'user', 'nobody', 'r')$$, :t), 'PT404', 'customer "nobody" not found', 'blacklist: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.blacklist(%s, 'ip', '1.2.3.4', NULL)$$, :t), '22004', 'argument p_reason must not be null', 'blacklist: no reason -> 22004');
SELECT throws_ok(format($$SELECT commerce.blacklist(%s, 'ip', '1.2.3.4', 'r', '2030-01-01')$$, :t), '22023', 'invalid value for p_expires_at', 'blacklist: an end in the past -> 22023');
SELECT throws_ok(format($$SELECT commerce.blacklist(%s, 'ip', '', 'r')$$, :t), '22023', 'invalid value for p_value', 'blacklist: empty value -> 22023');
SELECT throws_ok(format($$SELECT commerce.unblacklist(%s, 'phone', 'x')$$, :t), '22023', 'invalid value for p_kind', 'unblacklist: unknown kind -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_play_limits(%s, 'NOPE', 1, 1)$$, :t), 'PT404', 'play config "NOPE" not found', 'limits: unknown play -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_play_limits(%s, 'F', 0, 1)$$, :t), '22023', 'invalid value for p_user_per_minute', 'limits: zero per customer -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_play_limits(%s, 'F', 1, -1)$$, :t), '22023', 'invalid value for p_ip_per_minute', 'limits: negative per IP -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_play_limits(%s, 'F', 1, 1, 100001)$$, :t), '22023', 'invalid value for p_device_per_minute', 'limits: over 100000 per device -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_play_limits(%s, 'F', 1, 1, 1, '-1 day')$$, :t), '22023', 'invalid value for p_min_account_age', 'limits: a negative account age -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_play_limits(%s, 'F', 1, 1, 1, '366 days')$$, :t), '22023', 'invalid value for p_min_account_age', 'limits: an account age over a year -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_play_view(%s, 'NOPE')$$, :t), 'PT404', 'play config "NOPE" not found', 'view: unknown play -> PT404');
SELECT throws_ok(format($$SELECT commerce.record_play_view(%s, 'F', 'nobody')$$, :t), 'PT404', 'customer "nobody" not found', 'view: unknown customer -> PT404');
SELECT throws_ok(format($$SELECT commerce.record_play_view(%s, 'F', NULL, repeat('1', 65))$$, :t), '22023', 'invalid value for p_ip', 'view: IP too long -> 22023');
SELECT throws_ok(format($$SELECT commerce.play_dashboard(%s, 'G')$$, :t2), 'PT404', 'play config "G" not found', 'dashboard: another tenant''s play -> PT404');
SELECT throws_ok(format($$SELECT commerce.play_dashboard(%s, NULL)$$, :t), '22004', 'argument p_config must not be null', 'dashboard: NULL play -> 22004');
SELECT throws_ok($$SELECT commerce.end_expired_groups(0)$$, '22023', 'invalid value for p_limit', 'deadline job: zero batch -> 22023');
SELECT is(pg_temp.fingerprint(), :'fp0', 'operators: nothing changed');

-- store settlement
SELECT throws_ok($$SELECT commerce.split_fen(-1, 5000)$$, '22023', 'invalid value for p_amount', 'split: a negative amount -> 22023');
SELECT throws_ok($$SELECT commerce.split_fen(100, 10001)$$, '22023', 'invalid value for p_share_bp', 'split: above 10000 bp -> 22023');
SELECT throws_ok($$SELECT commerce.split_fen(NULL, 5000)$$, '22004', 'argument p_amount must not be null', 'split: NULL amount -> 22004');
SELECT throws_ok(format($$SELECT commerce.set_split_rule(%s, 'NOPE', 5000)$$, :t), 'PT404', 'play template "NOPE" not found', 'split rule: unknown template -> PT404');
SELECT throws_ok(format($$SELECT commerce.set_split_rule(%s, NULL, 10001)$$, :t), '22023', 'invalid value for p_store_share_bp', 'split rule: above 10000 bp -> 22023');
SELECT throws_ok(format($$SELECT commerce.set_split_rule(%s, NULL, NULL)$$, :t), '22004', 'argument p_store_share_bp must not be null', 'split rule: NULL share -> 22004');
SELECT throws_ok(format($$SELECT commerce.apply_play_settlement(%s, 'st', 'G')$$, :t), 'PT409', 'play "G" has no income to settle', 'settle: nothing completed -> PT409');
SELECT throws_ok(format($$SELECT commerce.apply_play_settlement(%s, 'st', 'G')$$, :t2), 'PT404', 'play config "G" not found', 'settle: another tenant''s play -> PT404');
SELECT throws_ok(format($$SELECT commerce.apply_play_settlement(%s, NULL, 'G')$$, :t), '22004', 'argument p_request_id must not be null', 'settle: NULL request_id -> 22004');
SELECT throws_ok(format($$SELECT commerce.decide_play_settlement(%s, 999999, true, 'fin')$$, :t), 'PT404', 'settlement "999999" not found', 'decide: unknown settlement -> PT404');
SELECT throws_ok(format($$SELECT commerce.decide_play_settlement(%s, 1, NULL, 'fin')$$, :t), '22004', 'argument p_approve must not be null', 'decide: NULL decision -> 22004');
SELECT throws_ok(format($$SELECT commerce.record_settlement_payout(%s, 999999, true)$$, :t), 'PT404', 'settlement "999999" not found', 'payout: unknown settlement -> PT404');
SELECT throws_ok(format($$SELECT split_fen FROM commerce.split_fen(100, 5000) split_fen WHERE commerce.apply_play_settlement(%s, 'st', 'NOPE') IS NULL$$, :t), 'PT404', 'play config "NOPE" not found', 'settle: unknown play -> PT404');
SELECT is(pg_temp.fingerprint(), :'fp0', 'settlement: nothing changed');

-- the same settlement path, with income: a completed order, then the bad decisions
\o /dev/null
SELECT count(commerce.consume_asset(:t, 'u-' || asset_id, asset_id, 1, 'S1', 'op')) FROM commerce.user_asset;
SELECT settlement_id AS st FROM commerce.apply_play_settlement(:t, 'st-ok', 'G') \gset
SELECT pg_temp.fingerprint() AS fp1 \gset
\o
SELECT throws_ok(format($$SELECT commerce.decide_play_settlement(%s, %s, false, 'fin')$$, :t, :st), '22023', 'invalid value for p_reason', 'decide: a rejection without reason -> 22023');
SELECT throws_ok(format($$SELECT commerce.record_settlement_payout(%s, %s, true)$$, :t, :st), 'PT409', format('settlement %s is applied, not waiting for a payout', :st), 'payout: before approval -> PT409');
SELECT throws_ok(format($$SELECT commerce.apply_play_settlement(%s, 'st-ok', 'F')$$, :t), '23505', 'request_id "st-ok" was already used for another settlement', 'settle: request_id reused -> 23505');
SELECT is(pg_temp.fingerprint(), :'fp1', 'settlement decisions: nothing changed');

SELECT * FROM finish();
ROLLBACK;

-- KOC benefits and task targeting (K06, K08): the benefits of each level
-- (commission bonus, vote rights, airdrops, exclusive materials) apply the
-- moment a KOC changes level; KOC tags; tasks open only to the levels and
-- tags they target and only while they run; the tasks a KOC can share; the
-- member benefits a level gives its KOCs' customer accounts and the NFT
-- airdrops of the levels with one, requested once and answered by the issuer.
CREATE EXTENSION commerce;
CALL commerce.provision();
\set SHOW_CONTEXT never
SET timezone = 'Asia/Shanghai';
SET commerce.now = '2026-11-10 10:00:00+08';
SELECT commerce.create_tenant('brand', 'A brand') AS t \gset
SELECT count(*) AS customers FROM (SELECT commerce.upsert_customer(:t, c) FROM unnest(ARRAY['u-1', 'u-2']) c) x;
SELECT commerce.upsert_koc(:t, 'K1', 'u-1', 'Mei') > 0 AND commerce.upsert_koc(:t, 'K2', 'u-2', 'Lan') > 0 AS kocs;
SELECT code, rank, bonus_bp, airdrop, vote_rights, materials FROM commerce.koc_level WHERE tenant_id = :t ORDER BY rank;
SELECT (commerce.set_level_benefits(:t, 'gold', p_materials => ARRAY['mat:gold-lookbook'])).materials AS gold_materials;
SELECT (commerce.set_level_benefits(:t, 'silver', p_bonus_bp => 300, p_materials => ARRAY['mat:silver-posters'])).bonus_bp AS silver_bonus;
SELECT commerce.koc_benefits(:t, 'K1');
-- promoted to gold: everything of gold at once, materials of gold and below
UPDATE commerce.koc SET level_code = 'gold' WHERE tenant_id = :t AND code = 'K1';
SELECT commerce.koc_benefits(:t, 'K1');
-- frozen: no votes, no airdrops
UPDATE commerce.koc SET status = 'frozen' WHERE tenant_id = :t AND code = 'K1';
SELECT benefits ->> 'voteRights' AS vote, benefits ->> 'airdrop' AS airdrop
  FROM commerce.koc_benefits(:t, 'K1') benefits;
UPDATE commerce.koc SET status = 'active' WHERE tenant_id = :t AND code = 'K1';

-- tags and targeted tasks
SELECT commerce.set_koc_tags(:t, 'K2', ARRAY['mom', 'fitness', 'mom']);
SELECT commerce.upsert_koc_task(:t, 'GOLD', 'Gold only', '2026-11-01', '2026-12-01', 800, p_target_levels => ARRAY['gold'],
                                p_materials => ARRAY['mat:poster-1', 'mat:video-2']) > 0 AS gold_task;
SELECT commerce.upsert_koc_task(:t, 'MOMS', 'For moms', '2026-11-01', '2026-12-01', 600, p_target_tags => ARRAY['mom']) > 0 AS moms_task;
SELECT commerce.upsert_koc_task(:t, 'LATER', 'Next month', '2026-12-01', '2026-12-31', 500) > 0 AS later_task;
SELECT commerce.upsert_koc_task(:t, 'OVER', 'Last month', '2026-10-01', '2026-11-01', 500) > 0 AS past_task;
SELECT commerce.tracking_link(:t, 'K1', 'GOLD') IS NOT NULL AS gold_shares_gold;
SELECT commerce.tracking_link(:t, 'K2', 'GOLD');
SELECT commerce.tracking_link(:t, 'K2', 'MOMS') IS NOT NULL AS mom_shares_moms;
SELECT commerce.tracking_link(:t, 'K1', 'MOMS');
SELECT commerce.tracking_link(:t, 'K1', 'LATER');
SELECT commerce.tracking_link(:t, 'K1', 'OVER');
SELECT commerce.tracking_link(:t, 'K1') IS NOT NULL AS no_task_always;
SELECT * FROM commerce.koc_open_tasks(:t, 'K1');
SELECT task, rate_bp, level_bonus_bp FROM commerce.koc_open_tasks(:t, 'K2');
-- bad input
SELECT commerce.set_level_benefits(:t, 'gold', p_bonus_bp => 10001);
SELECT commerce.set_level_benefits(:t, 'platinum', p_airdrop => true);
SELECT commerce.set_koc_tags(:t, 'K2', ARRAY['Mom!']);
SELECT commerce.upsert_koc_task(:t, 'X', 'X', '2026-11-01', '2026-12-01', 500, p_target_tags => ARRAY[]::text[]);
SELECT commerce.koc_open_tasks(:t, 'K9');

-- tied to the member system (K06): a level's member benefits go to its KOCs' customer accounts
SELECT commerce.set_level_perks(:t, 'gold', '[{"kind":"member_discount","rate_bp":500,"label":"Gold KOC 5% off"},{"kind":"priority_shipping"}]');
SELECT commerce.set_level_perks(:t, 'silver', '[{"kind":"badge","label":"Silver KOC"}]') ->> 'kocs' AS silver_kocs;
SELECT c.code, b.kind, b.rate_bp, b.label, b.source = 'koc_level:' || k.koc_id AS from_level, b.valid_until = 'infinity' AS open
  FROM commerce.customer_benefit b JOIN commerce.customer c USING (tenant_id, customer_id)
  JOIN commerce.koc k ON k.tenant_id = c.tenant_id AND k.customer_id = c.customer_id
 WHERE b.tenant_id = :t ORDER BY c.code, b.kind;
-- checkout reads them as it reads a paid membership's: 5% off for Mei's account
SELECT commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'u-1'), 'member_discount', commerce.now()) AS mei_discount_bp;
-- the airdrops of the levels with one: Mei was promoted to gold, once
SELECT k.code, d.level_code, d.status, d.attempts FROM commerce.koc_airdrop d JOIN commerce.koc k USING (tenant_id, koc_id)
 WHERE d.tenant_id = :t ORDER BY k.code, d.level_code;
SELECT topic, payload, dedupe_key FROM commerce.outbox WHERE tenant_id = :t AND topic = 'nft.airdrop' ORDER BY message_id;
-- frozen: the benefits end at once; active again: granted again from now, no second airdrop
SET commerce.now = '2026-11-12 10:00:00+08';
UPDATE commerce.koc SET status = 'frozen' WHERE tenant_id = :t AND code = 'K1';
SELECT kind, valid_until FROM commerce.customer_benefit WHERE tenant_id = :t AND source LIKE 'koc_level:%' AND valid_until <> 'infinity' ORDER BY kind;
SET commerce.now = '2026-11-13 10:00:00+08';
UPDATE commerce.koc SET status = 'active' WHERE tenant_id = :t AND code = 'K1';
SELECT kind, valid_from, valid_until FROM commerce.customer_benefit
 WHERE tenant_id = :t AND customer_id = (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'u-1') ORDER BY kind;
-- Lan reaches silver: its badge and its airdrop
UPDATE commerce.koc SET level_code = 'silver' WHERE tenant_id = :t AND code = 'K2';
SELECT benefits -> 'memberBenefits' AS member_benefits, benefits -> 'airdrops' AS airdrops FROM commerce.koc_benefits(:t, 'K2') benefits;
-- the issuer answers: issued once, a failure is retried
SELECT commerce.record_airdrop(:t, 'K1', 'gold', 'issued', 'nft:0xabc:17') AS k1,
       commerce.record_airdrop(:t, 'K2', 'silver', 'failed', 'wallet not bound') AS k2;
SELECT commerce.record_airdrop(:t, 'K1', 'gold', 'issued', 'nft:0xabc:17') AS again;
SELECT commerce.record_airdrop(:t, 'K1', 'gold', 'failed', 'late');
SELECT commerce.retry_airdrop(:t, 'K2', 'silver') AS attempt;
SELECT commerce.retry_airdrop(:t, 'K1', 'gold');
SELECT dedupe_key FROM commerce.outbox WHERE tenant_id = :t AND topic = 'nft.airdrop' ORDER BY message_id;
SELECT benefits -> 'airdrops' AS airdrops FROM commerce.koc_benefits(:t, 'K1') benefits;
-- the level stops granting the discount: ended at once for Mei
SELECT commerce.set_level_perks(:t, 'gold', '[{"kind":"priority_shipping"}]') ->> 'perks' AS gold_now;
SELECT commerce._benefit_bp(:t, (SELECT customer_id FROM commerce.customer WHERE tenant_id = :t AND code = 'u-1'), 'member_discount', commerce.now()) AS mei_discount_bp;
-- bad input
SELECT commerce.set_level_perks(:t, 'gold', '[{"kind":"cashback"}]');
SELECT commerce.set_level_perks(:t, 'gold', '[{"kind":"member_discount"}]');
SELECT commerce.set_level_perks(:t, 'gold', '[{"kind":"badge"},{"kind":"badge"}]');
SELECT commerce.set_level_perks(:t, 'platinum', '[]');
SELECT commerce.record_airdrop(:t, 'K2', 'gold', 'issued', 'nft:1');

SET client_min_messages = warning;
DROP SCHEMA commerce CASCADE;

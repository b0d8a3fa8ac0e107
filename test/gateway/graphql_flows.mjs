// test/gateway/graphql_flows.mjs: the four actors end to end through
// PostGraphile 4 (GraphQL), as their front ends would call it: a customer
// buys in a flash sale and joins a group buy, paying through the payment
// service's callback; a KOC shares a link, a fan buys, the order completes
// at the store counter, the KOC sees the commission and withdraws; a store
// clerk consumes a lesson; HQ finance approves a settlement and HQ reads the
// dashboards. Errors reach the client with SQLSTATE, DETAIL and HINT.
// Run by test/gateway/postgraphile.sh (URL, SECRET and TENANT from the env).
import fs from 'node:fs';
import { ok, is, done, token, gql, psql } from './lib/gql.mjs';

const URL = process.env.GQL_URL, SECRET = process.env.JWT_SECRET, T = process.env.TENANT, OTHER = process.env.OTHER_TENANT;
const as = (kind, sub, tenant = T) => token(SECRET, kind, tenant, sub);
const fanA = as('customer', 'fan-a'), fanB = as('customer', 'fan-b'), koc = as('koc', 'koc-li');
const clerk = as('store', 'clerk-wang'), ops = as('operator', 'ops-chen'), fin = as('finance', 'fin-zhao');
const svc = as('service', 'payments');
const guest = as('anonymous', null);   // a storefront's guest token: the shop's tenant, no subject
const q = (tok, doc, vars, headers) => gql(URL, tok, doc, vars, headers);
const err = (r) => (r.errors && r.errors[0]) || {};
let payN = 0;
// the payment service's callback for an order: paid with the amount the order asks
async function pay(orderId, amount) {
  payN += 1;
  return q(svc, `mutation($o: BigInt!, $p: String!, $a: BigInt!) {
    recordPayment(input: {orderId: $o, paymentId: $p, amountFen: $a}) { orderOutcomes { status outcome } } }`,
    { o: orderId, p: `wxpay-${payN}`, a: amount });
}

// ---- 0. the schema PostGraphile built: every function exposed, no name given twice
let r = await q(null, `{ __schema { queryType { fields { name } } mutationType { fields { name } } } }`);
const exposed = [...(r.data?.__schema?.queryType?.fields || []), ...(r.data?.__schema?.mutationType?.fields || [])].map((f) => f.name);
const wanted = Number(psql(`SELECT count(*) FROM pg_proc WHERE pronamespace = 'commerce_api'::regnamespace AND proname <> 'pre_request'`));
is(exposed.filter((n) => !['query', 'nodeId', 'node', 'preRequest'].includes(n)).length, wanted,
   'PostGraphile exposes every commerce_api function as a query or a mutation');
const conflicts = fs.readFileSync(process.env.SERVER_LOG, 'utf8').split('\n').filter((l) => /conflict/i.test(l));
is(conflicts, [], 'PostGraphile built the schema without a naming conflict');

// ---- 1. the KOC shares a link; a fan signs up and clicks it
r = await q(koc, `mutation { trackingLink(input: {channel: "wechat_mp"}) { kocLinks { koc code } } }`);
const code = r.data?.trackingLink?.kocLinks?.[0]?.code;
ok(/^[0-9a-z]+(\.[0-9a-z]+){4}$/.test(code || ''), 'KOC: trackingLink gives a signed code for itself', r);
r = await q(fanA, `mutation { signUp(input: {name: "Fan A", phone: "13800001111"}) { customerProfiles { customer name phoneMasked } } }`);
is(r.data?.signUp?.customerProfiles?.[0], { customer: 'fan-a', name: 'Fan A', phoneMasked: '138****1111' },
   'customer: signUp makes the token\'s subject a customer, phone masked');
await q(fanB, `mutation { signUp(input: {name: "Fan B"}) { clientMutationId } }`);
r = await q(fanA, `mutation($c: String!) { recordClick(input: {code: $c, visitor: null}) { clickOutcomes { counted } } }`, { c: code },
            { 'x-forwarded-for': '203.0.113.7', 'user-agent': 'MiniProgram' });
is(r.data?.recordClick?.clickOutcomes?.[0]?.counted, true, 'customer: the click on the KOC\'s link is counted');
is(psql(`SELECT host(ip) || ' ' || user_agent FROM commerce.click ORDER BY click_id DESC LIMIT 1`), '203.0.113.7 MiniProgram',
   'the click\'s address and user agent come from the request headers');

// ---- 2. the storefront: catalog and plays
r = await q(fanA, `{ catalog(channel: "wechat_mp") { nodes { sku priceFen priceYuan available } } }`);
is(r.data?.catalog?.nodes?.map((x) => x.sku), ['HOODIE-L', 'YOGA-10'], 'customer: catalog lists the active SKUs by code');
is(r.data?.catalog?.nodes?.[0]?.priceYuan, '199.00', 'customer: prices come in fen and as an exact yuan string');
r = await q(guest, `{ visiblePlays { nodes { code } } }`);
is(r.data?.visiblePlays?.nodes?.map((x) => x.code).sort(), ['DUO', 'FLASH10'], 'guest: the running plays are visible');

// ---- 3. flash sale: buy, pay intent, the provider's callback, the asset
r = await q(fanA, `mutation { buyPlay(input: {requestId: "flash-a", play: "FLASH10"}) { orderOutcomes { orderId status payableFen } } }`);
const flashOrder = r.data?.buyPlay?.orderOutcomes?.[0];
is(flashOrder && [flashOrder.status, flashOrder.payableFen], ['pending_payment', '39900'], 'customer: buyPlay creates the flash-sale order awaiting payment');
r = await q(fanA, `mutation($o: BigInt!) { payIntent(input: {orderId: $o}) { paymentIntents { amountYuan outcome } } }`, { o: flashOrder?.orderId });
is(r.data?.payIntent?.paymentIntents?.[0], { amountYuan: '399.00', outcome: 'queued' }, 'customer: payIntent queues the payment request once');
r = await q(fanA, `mutation($o: BigInt!) { payIntent(input: {orderId: $o}) { paymentIntents { outcome } } }`, { o: flashOrder?.orderId });
is(r.data?.payIntent?.paymentIntents?.[0]?.outcome, 'repeated', 'customer: asking again returns the same intent');
r = await q(fanA, `mutation($o: BigInt!) { recordPayment(input: {orderId: $o, paymentId: "forged", amountFen: "39900"}) { clientMutationId } }`, { o: flashOrder?.orderId });
is(err(r).errcode, '42501', 'customer: cannot report its own payment (42501)');
r = await pay(flashOrder?.orderId, 39900);
is(r.data?.recordPayment?.orderOutcomes?.[0]?.status, 'paid', 'service: the payment callback marks the order paid');
r = await q(fanA, `{ orders { nodes { orderId status payableYuan activity lines } } }`);
is(r.data?.orders?.nodes?.map((x) => [x.status, x.payableYuan, x.activity]), [['PAID', '399.00', 'play:FLASH10']],
   'customer: orders lists its own orders');
r = await q(fanA, `query($o: BigInt!) { orderHistory(orderId: $o) { nodes { fromStatus toStatus } } }`, { o: flashOrder?.orderId });
is(r.data?.orderHistory?.nodes?.map((x) => x.toStatus), ['PENDING_PAYMENT', 'PAID'], 'customer: orderHistory gives every status the order took');
r = await q(fanA, `{ assets { nodes { assetId assetType unitName total remaining play } } }`);
const flashAsset = r.data?.assets?.nodes?.[0];
is(flashAsset && [flashAsset.assetType, flashAsset.total, flashAsset.play], ['COURSE', '10', 'FLASH10'], 'customer: the paid flash sale issued 10 lessons');
is(psql(`SELECT k.code FROM commerce.orders o JOIN commerce.koc k USING (tenant_id, koc_id) WHERE o.order_id = ${flashOrder?.orderId}`),
   'koc-li', 'the order is attributed to the KOC whose link the fan clicked');

// ---- 4. errors as a client sees them
r = await q(fanB, `query($o: BigInt!) { orderHistory(orderId: $o) { nodes { toStatus } } }`, { o: flashOrder?.orderId });
is([err(r).errcode, !!err(r).detail, !!err(r).hint], ['PT404', true, true], 'another customer\'s order does not exist for fan B (PT404 with DETAIL and HINT)');
r = await q(fanA, `{ catalog(channel: "wechat_mp", pageSize: 1000) { nodes { sku } } }`);
is([err(r).errcode, err(r).message], ['22023', 'invalid value for page_size'], 'a page of 1000 rows is refused (22023)');
r = await q(guest, `mutation { placeOrder(input: {requestId: "anon", channel: "wechat_mp", lines: [{sku: "YOGA-10", qty: 1}]}) { clientMutationId } }`);
is(err(r).errcode, '42501', 'guest: cannot place an order (42501)');
r = await q(null, `{ visiblePlays { nodes { code } } }`);
is([err(r).errcode, err(r).message], ['42501', 'no tenant in the request'], 'no token and no x-tenant-id: no shop to show (42501)');
r = await q(as('customer', 'fan-a', OTHER), `{ orders { nodes { orderId } } }`);
is(r.data?.orders?.nodes?.length, 0, 'the same subject in another tenant sees none of this tenant\'s orders');

// ---- 5. group buy: hold a place, pay through the callback, the group fills
r = await q(fanA, `mutation { joinGroup(input: {requestId: "g-a", play: "DUO"}) { joinOutcomes { instanceId outcome current target orderId } } }`);
const ja = r.data?.joinGroup?.joinOutcomes?.[0];
is(ja && [ja.outcome, ja.current, ja.target], ['opened_held', 1, 2], 'customer: joinGroup opens a group holding the place until payment');
r = await q(fanA, `mutation { joinGroup(input: {requestId: "g-a2", play: "DUO", paymentId: "made-up"}) { clientMutationId } }`);
is([err(r).errcode, err(r).message], ['42501', 'a customer never names a payment'], 'customer: naming a payment is refused (42501)');
r = await q(null, `query($g: BigInt!) { groupBuy(groupId: $g) { nodes { status current target paid held } } }`, { g: ja?.instanceId }, { 'x-tenant-id': T });
// (a share page without a token names its shop with x-tenant-id, passed on in request.headers)
is(r.data?.groupBuy?.nodes?.[0], { status: 'active', current: 1, target: 2, paid: 0, held: 1 }, 'share page: the group shows one place held, none paid');
await pay(ja?.orderId, 59900);
r = await q(fanB, `mutation($g: BigInt!) { joinGroup(input: {requestId: "g-b", play: "DUO", instance: $g}) { joinOutcomes { outcome current orderId } } }`, { g: ja?.instanceId });
const jb = r.data?.joinGroup?.joinOutcomes?.[0];
is(jb && [jb.outcome, jb.current], ['held', 2], 'customer B: joins the group, holding the last place');
r = await q(fanB, `query($g: BigInt!) { groupBuy(groupId: $g) { nodes { status paid held mine } } }`, { g: ja?.instanceId });
is(r.data?.groupBuy?.nodes?.[0], { status: 'active', paid: 1, held: 1, mine: true }, 'the group is full but waits for B\'s payment');
r = await pay(jb?.orderId, 59900);
is(r.data?.recordPayment?.orderOutcomes?.[0]?.status, 'paid', 'service: B\'s payment arrives');
r = await q(fanB, `query($g: BigInt!) { groupBuy(groupId: $g) { nodes { status paid held } } }`, { g: ja?.instanceId });
is(r.data?.groupBuy?.nodes?.[0], { status: 'success', paid: 2, held: 0 }, 'the last payment makes the group a success');
r = await q(fanB, `{ assets { nodes { play total } } }`);
is(r.data?.assets?.nodes, [{ play: 'DUO', total: '10' }], 'customer B: the group issued its 10 lessons');

// ---- 6. the store counter: the clerk looks the fan up and consumes a lesson
r = await q(clerk, `{ assets(customer: "fan-a") { nodes { assetId play remaining } } }`);
is(r.data?.assets?.nodes?.map((x) => x.play).sort(), ['DUO', 'FLASH10'], 'clerk: finds the fan\'s assets at the counter');
r = await q(clerk, `mutation($a: BigInt!) { consumeAsset(input: {requestId: "use-1", asset: $a, amount: "1", store: "SH-01", operator: null}) { customerAssets { remaining } } }`,
            { a: flashAsset?.assetId });
is(r.data?.consumeAsset?.customerAssets?.[0]?.remaining, '9', 'clerk: consumes one lesson of the flash-sale course');
r = await q(clerk, `mutation($a: BigInt!) { consumeAsset(input: {requestId: "use-2", asset: $a, amount: "1", store: "SH-01", operator: "someone-else"}) { clientMutationId } }`,
            { a: flashAsset?.assetId });
is(err(r).errcode, '42501', 'clerk: cannot consume in another operator\'s name (42501)');
r = await q(fanA, `query($a: BigInt!) { assetConsumptions(asset: $a) { nodes { amount store operator } } }`, { a: flashAsset?.assetId });
is(r.data?.assetConsumptions?.nodes, [{ amount: '1', store: 'SH-01', operator: 'clerk-wang' }], 'customer: sees the consumption in its log');
r = await q(fanA, `{ orders(status: COMPLETED) { nodes { activity } } }`);
is(r.data?.orders?.nodes?.map((x) => x.activity), ['play:FLASH10'], 'the first consumption completed the order');

// ---- 7. the KOC's commission, settlement (the T+0.5 job), a failed payout, a withdrawal
r = await q(koc, `{ kocAccount { nodes { koc unsettledFen balanceFen } } }`);
is(r.data?.kocAccount?.nodes?.[0], { koc: 'koc-li', unsettledFen: '3990', balanceFen: '0' }, 'KOC: sees 10% of 399.00 as unsettled commission');
psql(`SET commerce.now = '${new Date(Date.now() + 2 * 86400e3).toISOString()}'; SELECT commerce.settle_commissions(100)`);
// (the job ran two days ahead, so its message is due then; bring it to now for the worker below)
psql(`UPDATE commerce.outbox SET available_at = now() WHERE topic = 'koc.payout' AND status = 'pending'`);
// the payout worker claims the payout message through the API, as the tenant's service
r = await q(svc, `mutation { claimMessages(input: {topic: "koc.payout", worker: "payout-1", max: 10}) { outboxMessages { messageId payload status } } }`);
const claimed = r.data?.claimMessages?.outboxMessages || [];
const payoutRef = claimed[0]?.payload?.payout_ref || '';
ok(claimed.length === 1 && claimed[0].status === 'claimed' && payoutRef.length > 0,
   'service: the payout worker claims the settlement job\'s koc.payout message', r.errors || claimed);
r = await q(as('service', 'payments', OTHER), `mutation { claimMessages(input: {topic: "koc.payout", worker: "intruder"}) { outboxMessages { messageId } } }`);
is(r.data?.claimMessages?.outboxMessages, [], 'another tenant\'s service claims none of this tenant\'s messages');
r = await q(svc, `mutation($p: String!) { recordPayout(input: {payoutRef: $p, status: "failed", reason: "wallet not verified"}) { string } }`, { p: payoutRef });
ok(!r.errors, 'service: the payout provider reports the payout failed', r.errors);
r = await q(svc, `mutation($m: BigInt!) { ackMessage(input: {message: $m, worker: "payout-1"}) { outboxMessages { status } } }`, { m: claimed[0]?.messageId });
is(r.data?.ackMessage?.outboxMessages?.[0]?.status, 'done', 'service: the worker acks the message it handled');
r = await q(fin, `{ settleBatches(koc: "koc-li") { nodes { status amountYuan failureReason } } }`);
is(r.data?.settleBatches?.nodes, [{ status: 'failed', amountYuan: '39.90', failureReason: 'wallet not verified' }],
   'finance: sees the KOC\'s settlement batch failed, with the provider\'s reason');
r = await q(koc, `{ kocAccount { nodes { settledFen balanceFen balanceYuan inFlightFen } } }`);
is(r.data?.kocAccount?.nodes?.[0], { settledFen: '3990', balanceFen: '3990', balanceYuan: '39.90', inFlightFen: '0' },
   'KOC: the failed payout is back in its balance');
r = await q(koc, `mutation { requestWithdrawal(input: {requestId: "wd-1", koc: null, amountFen: "3990", method: "bank_card", payee: {bank: "ICBC", card_no: "6222000011112222", holder: "Li"}}) { kocWithdrawals { status amountFen } } }`);
is(r.data?.requestWithdrawal?.kocWithdrawals?.[0]?.amountFen, '3990', 'KOC: withdraws its balance');
r = await q(koc, `mutation { requestWithdrawal(input: {requestId: "wd-2", koc: "koc-other", amountFen: "100", method: "bank", payee: {account: "x"}}) { clientMutationId } }`);
is(err(r).errcode, '42501', 'KOC: cannot withdraw another KOC\'s balance (42501)');

// ---- 8. HQ: the store applies for its settlement, finance approves, the dashboards
r = await q(clerk, `mutation { applyPlaySettlement(input: {requestId: "st-1", play: "FLASH10"}) { playSettlements { settlementId status incomeFen storeFen } } }`);
const st = r.data?.applyPlaySettlement?.playSettlements?.[0];
is(st && [st.status, st.incomeFen, st.storeFen], ['applied', '39900', '27930'], 'clerk: the store applies for 70% of the completed order');
r = await q(ops, `mutation($s: BigInt!) { decidePlaySettlement(input: {settlement: $s, approve: true}) { clientMutationId } }`, { s: st?.settlementId });
is(err(r).errcode, '42501', 'an operator cannot approve a settlement (finance only)');
r = await q(fin, `mutation($s: BigInt!) { decidePlaySettlement(input: {settlement: $s, approve: true}) { playSettlements { status decidedBy } } }`, { s: st?.settlementId });
is(r.data?.decidePlaySettlement?.playSettlements?.[0], { status: 'approved', decidedBy: 'fin-zhao' }, 'finance: approves under its own name');
r = await q(ops, `{ playDashboard(play: "DUO") }`);
is(r.data?.playDashboard?.group_buy?.succeeded, 1, 'HQ: the group-buy dashboard counts the successful group');
// yesterday to tomorrow (UTC dates): the tenant's local day of the click is in it whatever the hour
const dayAt = (ms) => new Date(ms).toISOString().slice(0, 10);
r = await q(ops, `query($a: Date!, $b: Date!) { kocOverview(startDate: $a, endDate: $b) }`,
            { a: dayAt(Date.now() - 86400e3), b: dayAt(Date.now() + 86400e3) });
is([r.data?.kocOverview?.clicks, r.data?.kocOverview?.redemptions], [1, 1], 'HQ: the KOC overview counts the click and the redemption');
r = await q(fanA, `{ playDashboard(play: "DUO") }`);
is(err(r).errcode, '42501', 'a customer cannot read a dashboard (42501)');

// ---- 9. the KOC workbench: a fan applies, HQ approves, the new KOC signs and sees its tasks
r = await q(fanB, `mutation { applyKoc(input: {requestId: "apply-b", socialAccounts: [{platform: "douyin", handle: "@fanb", followers: 1200}], note: "yoga every day"}) { kocApplications { applicationId status } } }`);
const app = r.data?.applyKoc?.kocApplications?.[0];
is(app?.status, 'submitted', 'customer: applies to become a KOC');
r = await q(ops, `{ kocApplications(status: "submitted") { nodes { applicationId customer } } }`);
is(r.data?.kocApplications?.nodes?.map((x) => x.customer), ['fan-b'], 'HQ: sees the submitted application');
r = await q(ops, `mutation($a: BigInt!) { reviewKocApplication(input: {application: $a, approve: true, kocCode: "koc-b"}) { kocApplications { status reviewer koc } } }`, { a: app?.applicationId });
is(r.data?.reviewKocApplication?.kocApplications?.[0], { status: 'approved', reviewer: 'ops-chen', koc: 'koc-b' }, 'HQ: approves it under its own name; fan B is KOC koc-b');
const kocB = as('koc', 'koc-b');
r = await q(kocB, `{ kocAgreement { nodes { version bodySha256 signedAt } } }`);
const ag = r.data?.kocAgreement?.nodes?.[0];
is(ag && [ag.version, ag.signedAt], [1, null], 'new KOC: reads the agreement it has not signed');
r = await q(kocB, `mutation($v: Int!, $h: String!) { signAgreement(input: {version: $v, textSha256: $h, signerName: "Fan B"}) { kocAgreements { signedAt } } }`,
            { v: ag?.version, h: ag?.bodySha256 }, { 'x-forwarded-for': '198.51.100.4' });
ok(!!r.data?.signAgreement?.kocAgreements?.[0]?.signedAt, 'new KOC: signs it', r.errors);
is(psql(`SELECT host(client_ip) FROM commerce.agreement_signature s JOIN commerce.koc k USING (tenant_id, koc_id) WHERE k.code = 'koc-b'`),
   '198.51.100.4', 'the signature\'s evidence address is the request header\'s');
r = await q(kocB, `{ kocTasks { nodes { task } } withdrawals { nodes { withdrawalId } } }`);
ok(Array.isArray(r.data?.kocTasks?.nodes) && r.data?.withdrawals?.nodes?.length === 0, 'new KOC: its tasks and (no) withdrawals', r.errors);

// ---- 10. HQ finance reviews the withdrawal; the store sees its orders and plays
r = await q(fin, `{ withdrawals(status: "requested") { nodes { withdrawalId koc amountYuan } } }`);
const wd = r.data?.withdrawals?.nodes?.[0];
is(wd && [wd.koc, wd.amountYuan], ['koc-li', '39.90'], 'finance: sees the requested withdrawal');
r = await q(fin, `mutation($w: BigInt!) { reviewWithdrawal(input: {withdrawal: $w, approve: true}) { kocWithdrawals { status reviewer } } }`, { w: wd?.withdrawalId });
is(r.data?.reviewWithdrawal?.kocWithdrawals?.[0], { status: 'approved', reviewer: 'fin-zhao' }, 'finance: approves it under its own name');
r = await q(koc, `{ withdrawals { nodes { status } } }`);
is(r.data?.withdrawals?.nodes?.map((x) => x.status), ['approved'], 'KOC: sees its withdrawal approved');
r = await q(clerk, `{ storePlays { nodes { play kind paidOrders } } storeOrders(status: COMPLETED) { nodes { activity } } }`);
is(r.data?.storePlays?.nodes?.map((x) => [x.play, x.kind]).sort(), [['DUO', 'group_buy'], ['FLASH10', 'flash_sale']], 'clerk: the store\'s plays');
is(r.data?.storeOrders?.nodes?.map((x) => x.activity), ['play:FLASH10'], 'clerk: the store\'s completed orders');
r = await q(fanA, `{ storeOrders { nodes { orderId } } }`);
is(err(r).errcode, '42501', 'a customer cannot list a store\'s orders (42501)');

is(psql(`SELECT (SELECT count(*) FROM commerce.check_play_invariants()) + (SELECT count(*) FROM commerce.check_koc_invariants())
              + (SELECT count(*) FROM commerce.check_stock_invariants()) + (SELECT count(*) FROM commerce.check_order_invariants())`),
   '0', 'every invariant holds after the flows');
done();

// test/gateway/console_check.mjs: the HQ console (src/console/) in headless
// Chromium (Debian's, driven by playwright-core): signed in with an
// operator's token it shows the play's funnel and fulfilment, the KOC
// overview and the hot SKUs' stock, each figure equal to what the GraphQL
// API answers the same token; a customer's token shows the API's refusal
// (SQLSTATE and hint) and no dashboard. Saves a screenshot (console.png).
import { chromium } from 'playwright-core';
import { ok, is, done, token, gql } from './lib/gql.mjs';

const { BASE_URL, GQL_URL, JWT_SECRET, TENANT } = process.env;
const ops = token(JWT_SECRET, 'operator', TENANT, 'ops-chen');
const fan = token(JWT_SECRET, 'customer', TENANT, 'f1');
const to = new Date(), from = new Date(to.getTime() - 6 * 86400e3), day = (d) => d.toISOString().slice(0, 10);
const api = await gql(GQL_URL, ops, `query($from: Date!, $to: Date!) { playDashboard(play: "FLASH10")
  kocOverview(startDate: $from, endDate: $to) catalog(channel: "wechat_mp") { nodes { sku available priceYuan } } }`,
  { from: day(from), to: day(to) });
ok(!api.errors, 'the API answers the operator', api.errors);
const d = api.data.playDashboard, o = api.data.kocOverview;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
                                        args: ['--no-sandbox', '--disable-dev-shm-usage'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(`${BASE_URL}/console/index.html#token=${ops}&play=FLASH10`);
  await page.waitForSelector('body[data-state]', { timeout: 20000 });
  is(await page.getAttribute('body', 'data-state'), 'ready', 'console: signed in as the operator, the dashboard is shown');
  const val = (id) => page.getAttribute(`#${id}`, 'data-value');
  is(await val('play-title'), `${d.title} (FLASH10)`, 'console: the play\'s title');
  is(await page.textContent('#funnel [data-key="paid"]'), String(d.funnel.paid), 'console: the funnel\'s paid count is the API\'s');
  is(await val('fulfilment-text'), d.fulfilment.text, 'console: the fulfilment line is the API\'s ("n items of m items")');
  const width = parseFloat(await page.$eval('#fulfilment-fill', (el) => el.style.width));
  const share = (100 * d.fulfilment.consumedAll) / d.fulfilment.totalAssetPool;
  ok(Math.abs(width - share) < 0.01, 'console: the fulfilment bar is consumed / total', `${width}% for ${share}%`);
  is(await val('revenue'), (d.revenue.netFen / 100).toFixed(2), 'console: the play\'s net revenue in yuan');
  is([await val('koc-clicks'), await val('koc-redemptions'), await val('koc-active')],
     [String(o.clicks), String(o.redemptions), String(o.activeKocs)], 'console: the KOC overview\'s clicks, redemptions, active KOCs');
  const rows = await page.$$eval('#trend-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  is(rows.map((r) => [r[0], Number(r[1]), Number(r[2])]), o.trend.map((t) => [t.date, t.clicks, t.redemptions]),
     'console: the trend table is the API\'s, day by day');
  is(await page.$$eval('#trend rect', (r) => r.length), o.trend.length, 'console: one bar a day in the trend chart');
  const stock = await page.$$eval('#stock-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.sku, tr.cells[3].textContent]));
  const want = [...api.data.catalog.nodes].sort((a, b) => Number(a.available) - Number(b.available) || a.sku.localeCompare(b.sku))
    .slice(0, 5).map((n) => [n.sku, String(n.available)]);
  is(stock, want, 'console: the hot SKUs with the units available, fewest first');
  ok(!(await page.url()).includes('token='), 'console: the token does not stay in the address bar');
  await page.screenshot({ path: new URL('./console.png', import.meta.url).pathname, fullPage: true });

  // a customer's token: the API refuses, the console says why and shows nothing
  const p2 = await browser.newPage();
  await p2.goto(`${BASE_URL}/console/index.html#token=${fan}&play=FLASH10`);
  await p2.waitForSelector('body[data-state]', { timeout: 20000 });
  is(await p2.getAttribute('body', 'data-state'), 'error', 'console: a customer\'s token is refused');
  const msg = await p2.textContent('#error');
  ok(msg.startsWith('42501: permission denied for function'), 'console: the refusal shows the SQLSTATE and the message', msg);
  ok(await p2.isHidden('#dashboard'), 'console: no dashboard for a customer');

  // an unknown play: the operator sees the SQLSTATE, DETAIL and HINT of the API's error
  const p3 = await browser.newPage();
  await p3.goto(`${BASE_URL}/console/index.html#token=${ops}&play=NOPE`);
  await p3.waitForSelector('body[data-state]', { timeout: 20000 });
  const msg3 = await p3.textContent('#error');
  ok(msg3.startsWith('PT404: play config "NOPE" not found') && msg3.includes('\nDETAIL: ') && msg3.includes('\nHINT: '),
     'console: an unknown play shows PT404 with its DETAIL and HINT', msg3);
} finally {
  await browser.close();
}
done();

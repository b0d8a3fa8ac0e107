// src/console/console.js: the HQ console's one script. Every figure comes
// from the GraphQL API (commerce_api through PostGraphile) under the
// operator's token; the page computes nothing but the bar's width and the
// trend's scale. The token is read from the form or the address fragment
// (#token=...&play=...) and kept for this tab only (sessionStorage).
'use strict';

const GRAPHQL = new URL('../graphql', document.baseURI).href;   // served beside the API
const $ = (id) => document.getElementById(id);

// One GraphQL request; errors raised with their SQLSTATE, DETAIL and HINT.
async function gql(token, query, variables) {
  const r = await fetch(GRAPHQL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    throw new Error([`${e.errcode || r.status}: ${e.message}`, e.detail && `DETAIL: ${e.detail}`, e.hint && `HINT: ${e.hint}`]
      .filter(Boolean).join('\n'));
  }
  return body.data;
}

const DASHBOARD = `query($play: String!, $from: Date!, $to: Date!) {
  playDashboard(play: $play)
  kocOverview(startDate: $from, endDate: $to)
  catalog(channel: "wechat_mp", pageSize: 100) { nodes { sku name priceYuan available } }
}`;

const day = (d) => d.toISOString().slice(0, 10);
const yuan = (fen) => (fen < 0 ? '-' : '') + Math.floor(Math.abs(fen) / 100) + '.' + String(Math.abs(fen) % 100).padStart(2, '0');
function text(id, value) { const el = $(id); el.textContent = String(value); el.dataset.value = String(value); }

// The token's claims, to say who is signed in (not verified here: the API verifies it).
function claims(token) {
  try { return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch (e) { return {}; }
}

function renderPlay(d) {
  text('play-title', `${d.title} (${d.play})`);
  text('play-status', d.window ? d.window.status : '');
  const f = d.funnel || {};
  $('funnel').innerHTML = '';
  for (const [label, key] of [['views', 'views'], ['joined', 'joins'], ['paid', 'paid']]) {
    const cell = document.createElement('div');
    cell.innerHTML = `<b data-key="${key}">${f[key] ?? 0}</b>${label}`;
    $('funnel').appendChild(cell);
  }
  const fu = d.fulfilment || {};
  const pct = fu.totalAssetPool ? Math.min(100, (100 * fu.consumedAll) / fu.totalAssetPool) : 0;
  $('fulfilment-fill').style.width = `${pct}%`;
  text('fulfilment-text', fu.text || 'nothing to fulfil');
  text('revenue', yuan(d.revenue ? d.revenue.netFen : 0));
  text('orders', d.revenue ? d.revenue.orders : 0);
}

function renderKoc(o) {
  text('koc-period', `${o.startDate} to ${o.endDate}`);
  text('koc-active', o.activeKocs); text('koc-count', o.kocCount);
  text('koc-clicks', o.clicks); text('koc-redemptions', o.redemptions);
  text('koc-revenue', yuan(o.revenueFen)); text('koc-commission', yuan(o.commissionFen));
  const svg = $('trend'), rows = o.trend || [], w = 560, h = 120, bw = w / Math.max(rows.length, 1);
  const max = Math.max(1, ...rows.map((r) => r.redemptions));
  svg.innerHTML = rows.map((r, i) => {
    const bh = Math.round(((h - 20) * r.redemptions) / max);
    return `<rect x="${i * bw + 2}" y="${h - 16 - bh}" width="${bw - 4}" height="${bh}" fill="#2f80ed"><title>${r.date}: ${r.redemptions}</title></rect>`
      + `<text x="${i * bw + bw / 2}" y="${h - 3}" font-size="10" text-anchor="middle">${r.date.slice(5)}</text>`;
  }).join('');
  $('trend-table').tBodies[0].innerHTML = rows.map((r) =>
    `<tr data-date="${r.date}"><td>${r.date}</td><td class="num">${r.clicks}</td><td class="num">${r.redemptions}</td><td class="num">${yuan(r.revenueFen)}</td></tr>`).join('');
}

function renderStock(nodes) {
  // hot: the SKUs closest to selling out first
  const hot = [...nodes].sort((a, b) => Number(a.available) - Number(b.available) || a.sku.localeCompare(b.sku)).slice(0, 5);
  $('stock-table').tBodies[0].innerHTML = hot.map((n) =>
    `<tr data-sku="${n.sku}"><td>${n.sku}</td><td>${n.name}</td><td class="num">${n.priceYuan}</td><td class="num">${n.available}</td></tr>`).join('');
}

async function show(token, play) {
  $('error').hidden = true;
  const c = claims(token);
  text('who', `Signed in as ${c.sub || '?'} (${c.role || '?'}), tenant ${c.tenant_id || '?'}`);
  const to = new Date(), from = new Date(to.getTime() - 6 * 86400e3);
  try {
    const data = await gql(token, DASHBOARD, { play, from: day(from), to: day(to) });
    renderPlay(data.playDashboard);
    renderKoc(data.kocOverview);
    renderStock(data.catalog.nodes);
    $('dashboard').hidden = false;
    document.body.dataset.state = 'ready';
  } catch (e) {
    $('dashboard').hidden = true;
    $('error').textContent = e.message;
    $('error').hidden = false;
    document.body.dataset.state = 'error';
  }
}

$('signin').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem('commerce.token', $('token').value);
  show($('token').value, $('play').value);
});

// #token=...&play=... signs in at once (how the test and make demo open it)
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get('token') || sessionStorage.getItem('commerce.token') || '';
$('token').value = token;
$('play').value = params.get('play') || '';
if (params.get('token')) history.replaceState(null, '', location.pathname);   // do not leave the token in the address bar
if (token && $('play').value) show(token, $('play').value);

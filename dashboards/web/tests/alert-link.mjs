// Browser test of an alert's explorer link: opens the link a robot message
// carried (its path and query on the running `minyi serve`) in Debian's
// headless Chromium and checks that the explorer shows what the alert is
// about — the link's filters as chips, its window, the drill-down into the
// incident — and lists exactly the items the API gives for it. Run by
// tests/it/alerts_e2e.rs; exits non-zero on the first failure. A
// screenshot goes to SHOTS.
//
//   node dashboards/web/tests/alert-link.mjs BASE_URL LINK SHOTS_DIR
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const [base, link, shots] = process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });
const step = (s) => console.log(`- ${s}`);
function check(ok, what) {
  if (!ok) throw new Error(what);
}

const linked = new URL(link);
const asked = linked.searchParams;
const incident = asked.get('drill_key');
check(asked.get('drill_dim') === 'incident' && /^i-[0-9a-f]{16}$/.test(incident || ''), `the link drills into an incident: ${link}`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}${linked.pathname}${linked.search}`);
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('items').dataset.ready === '1', null, { timeout: 30000 });
  step('the explorer opened the link');

  // The view is the link's: nothing it asked was ignored.
  const kept = new URL(page.url()).searchParams;
  for (const k of ['from', 'to', 'topic', 'district', 'q', 'drill_dim', 'drill_key']) {
    check(JSON.stringify(kept.getAll(k)) === JSON.stringify(asked.getAll(k)), `${k}: the page kept ${kept.getAll(k)}, the link asked ${asked.getAll(k)}`);
  }
  const chips = await page.$$eval('#chips .chip', (cs) => cs.map((c) => ({ f: c.dataset.f, v: c.dataset.v, text: c.textContent })));
  for (const f of ['topic', 'district']) {
    for (const v of asked.getAll(f)) check(chips.some((c) => c.f === f && c.v === v), `a chip of ${f}=${v} (${JSON.stringify(chips)})`);
  }
  check(chips.some((c) => c.f === 'drill' && c.text.includes('同一事件')), `a chip of the incident drill-down (${JSON.stringify(chips)})`);
  step(`chips: ${chips.map((c) => c.text.replace('×', '')).join(' | ')}`);

  // Its rows are the incident's items in the alert's window, as the API
  // lists them.
  const pairs = [];
  for (const [k, v] of asked) if (!k.startsWith('drill_')) pairs.push([k, v]);
  pairs.push(['incident', incident], ['limit', '50']);
  const r = await fetch(`${base}/api/v1/feedback?${new URLSearchParams(pairs)}`);
  check(r.ok, `the API answered ${r.status}`);
  const want = (await r.json()).items.map((i) => i.id).sort();
  const rows = (await page.$$eval('#items tbody tr', (trs) => trs.map((t) => t.dataset.id))).sort();
  check(want.length >= 2, `the API lists the incident's items (${want.length})`);
  check(JSON.stringify(rows) === JSON.stringify(want), `the list shows ${rows.length} rows, the API ${want.length}:\n${rows}\n${want}`);
  step(`the list is the incident's ${rows.length} items`);
  await page.screenshot({ path: `${shots}/alert-link.png` });
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
} finally {
  await browser.close();
}
console.log('alert link: ok');

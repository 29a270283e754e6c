// The main wall while `minyi serve` backfills the demo's history (its first
// start): today's figures are partial until it is done, and the wall must
// say so instead of telling a commander 今日受理 1 ▼271,992. Run by
// tests/browser.rs against a server started with `demo_backfill = true`.
//
//   node dashboards/web/tests/loading.mjs BASE_URL SHOTS_DIR
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const [base, shots] = process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });
const errors = [];
const step = (s) => console.log(`- ${s}`);
function check(ok, what) {
  if (!ok) throw new Error(what);
}

/** What an operator reads: the header's note, the subtitle, the alert, the
 *  KPI tiles' changes and the ticker's times. */
const read = () => ({
  loading: document.getElementById('loading').hidden ? null : document.getElementById('loading').textContent,
  subtitle: !document.getElementById('subtitle').hidden,
  alert: !document.getElementById('alert').hidden,
  deltas: [...document.querySelectorAll('.panel-kpi .kpi .delta')].map((d) => d.textContent),
  days: [...document.querySelectorAll('.panel-ticker li .t.day')].map((t) => t.textContent),
  ticks: Number(document.body.dataset.ticks || 0),
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  await page.goto(`${base}/`);

  step('while history loads, the header says up to when and no KPI tells a change');
  await page.waitForFunction(() => !document.getElementById('loading').hidden, null, { timeout: 60000 });
  let s = await page.evaluate(read);
  check(/^历史数据载入中 已至\d{1,2}月\d{1,2}日 \d\d:\d\d$/.test(s.loading), `the loading note reads ${s.loading}`);
  check(!s.subtitle, 'the subtitle gives the loading note its place');
  check(s.deltas.length >= 4 && s.deltas.every((d) => d === '历史数据载入中'), `KPI changes while loading: ${s.deltas}`);
  await page.screenshot({ path: `${shots}/wall-loading.png` });
  // The ticker streams the history as it is stored: each line of an
  // earlier day says which day.
  await page.waitForFunction(
    () => document.getElementById('loading').hidden || document.querySelector('.panel-ticker li .t.day'),
    null, { timeout: 60000 },
  );
  s = await page.evaluate(read);
  if (s.loading) {
    check(s.days.length > 0 && s.days.every((d) => /^\d{1,2}月\d{1,2}日\d\d:\d\d$/.test(d)), `ticker days ${s.days}`);
  }

  step('loaded: the note goes, the changes come back');
  await page.waitForFunction(() => document.getElementById('loading').hidden, null, { timeout: 240000 });
  const at = (await page.evaluate(read)).ticks;
  await page.waitForFunction((t) => Number(document.body.dataset.ticks || 0) > t, at, { timeout: 30000 });
  s = await page.evaluate(read);
  check(s.subtitle === !s.alert, `the subtitle shows unless an alert is up: ${JSON.stringify(s)}`);
  // No panel kept from the load: the topic ranking is today's, as the
  // count beside it.
  const today = await page.evaluate(() => ({
    received: Number(document.querySelector('.kpi[data-field="received"] .value').textContent.replace(/,/g, '')),
    ranked: document.querySelectorAll('.panel-rank li').length,
  }));
  check(today.received === 0 || today.ranked > 0, `today ${today.received} items but no topic ranked`);
  check(s.deltas.every((d) => d !== '历史数据载入中'), `KPI changes after loading: ${s.deltas}`);
  check(s.deltas.some((d) => /^较/.test(d)), `some KPI tells its change after loading: ${s.deltas}`);
  await page.screenshot({ path: `${shots}/wall-loaded.png` });
  check(errors.length === 0, `console errors: ${errors.join('; ')}`);
  console.log('loading wall OK');
} finally {
  await browser.close();
}

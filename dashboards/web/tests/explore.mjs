// Browser test of the analyst's explorer against a running `minyi serve`
// without the demo feed, in Debian's headless Chromium: the script posts
// its own items (today since midnight and yesterday, in two districts and
// none), then works as an analyst would — a shared URL, Back and Forward, a
// drill-down into one of two districts, today against the same window
// yesterday, the export, an error and an empty answer — and checks every
// figure on the page against the API. Run by tests/it/browser.rs; exits
// non-zero on the first failure. Screenshots go to SHOTS.
//
//   node dashboards/web/tests/explore.mjs BASE_URL SHOTS_DIR
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import { layoutProblems } from './layout.mjs';

const [base, shots] = process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });
const errors = [];
const step = (s) => console.log(`- ${s}`);
function check(ok, what) {
  if (!ok) throw new Error(what);
}

// The centre's clock is +08:00 (the default); days start at its midnight.
const OFFSET = 8 * 3600000;
const DAY = 86400000;
const now = Date.now();
const today = Math.floor((now + OFFSET) / DAY) * DAY - OFFSET;
const yesterday = today - DAY;
const iso = (ms) => new Date(ms).toISOString();
const CONGTAI = '丛台区';
const HANSHAN = '邯山区';

// Items in the first minute of today (so they are "so far" whatever the
// time of the run) and of yesterday, and late yesterday (outside the same
// window yesterday unless the run is in the day's last minute: the
// expectation is computed from the window the page asks).
const texts = [
  '交警在路口乱罚款，态度恶劣，根本不听解释',
  '违停贴条不合理，交巡警执法太随意，非常不满',
  '派出所民警很热情，户口办得很快，感谢',
  '报警后四十分钟才出警，太慢了',
];
const items = [];
// A station of each district, named by every item whose text is of one.
const STATIONS = { [CONGTAI]: '光明桥派出所', [HANSHAN]: '火磨派出所' };
const add = (prefix, n, at, district) => {
  for (let i = 0; i < n; i += 1) {
    const unit = district && texts[i % texts.length].includes('派出所') ? { unit: STATIONS[district] } : {};
    items.push({
      id: `${prefix}-${i}`, channel: i % 2 ? 'wechat' : 'hotline_12345', received_at: iso(at + i * 1000),
      text: texts[i % texts.length], ...(district ? { district } : {}), ...unit, ...(i % 3 === 0 ? { rating: 1 + (i % 3) } : {}),
    });
  }
};
add('t-ct', 9, today + 1000, CONGTAI);
add('t-hs', 5, today + 20000, HANSHAN);
add('t-none', 3, today + 40000, null);
add('y-ct', 3, yesterday + 1000, CONGTAI);
add('y-hs', 1, yesterday + 5000, HANSHAN);
add('y-late', 6, today - 20000, CONGTAI);

const api = async (page, path, pairs) => {
  const q = new URLSearchParams(pairs);
  const r = await page.request.get(`${base}${path}?${q}`);
  check(r.ok(), `${path}?${q}: ${r.status()}`);
  return r.json();
};
const ready = (page) => page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 30000 });
const kpi = (page, key) => page.$eval(`.kpi[data-kpi="${key}"] .v`, (e) => e.firstChild.textContent.trim());
const num = (s) => Number(String(s).replace(/,/g, ''));
/** The pairs of the page's window (from, to) plus filters. */
const windowPairs = async (page) => {
  const w = await page.$eval('#window', (e) => ({ ...e.dataset }));
  return { from: iso(Number(w.from)), to: iso(Number(w.to)), cmp: w.cmpFrom ? [Number(w.cmpFrom), Number(w.cmpTo)] : null, range: [Number(w.from), Number(w.to)] };
};
/** Clicks the first point of the trend's compared (dashed) line, and
 *  waits for the drill-down into it. */
const clickFirstComparedPoint = async (page) => {
  await page.waitForTimeout(1500); // the lines' entry animation
  const point = await page.evaluate(() => {
    const el = document.getElementById('ts-chart');
    const chart = echarts.getInstanceByDom(el);
    const prev = chart.getOption().series.find((s) => s.id === 'previous');
    const [x, y] = chart.convertToPixel({ seriesId: 'previous' }, [0, prev.data[0]]);
    const r = el.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y };
  });
  await page.mouse.click(point.x, point.y);
  await page.waitForFunction(() => new URLSearchParams(location.search).get('drill_period') === 'previous', null, { timeout: 20000 });
  await ready(page);
};
const rows = (page) => page.$$eval('#items tbody tr', (trs) => trs.map((r) => ({ id: r.dataset.id, district: r.dataset.district, at: r.dataset.at })));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1100 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));

  const posted = await page.request.post(`${base}/api/v1/feedback`, { data: items });
  check(posted.ok() && (await posted.json()).accepted === items.length, 'test items stored');

  // Two work orders: one on an item of today, resolved; one on an item of
  // yesterday, resolved only today — open at the same time yesterday.
  const orderEvents = [
    { order_id: 'WO-T', feedback_id: 't-ct-0', event: 'created', at: iso(today + 2000) },
    { order_id: 'WO-T', event: 'resolved', at: iso(now - 1000) },
    { order_id: 'WO-Y', feedback_id: 'y-ct-0', event: 'created', at: iso(yesterday + 2000) },
    { order_id: 'WO-Y', event: 'resolved', at: iso(now - 1000) },
  ];
  const events = await page.request.post(`${base}/api/v1/workorders/events`, { data: orderEvents });
  check(events.ok() && (await events.json()).accepted === orderEvents.length, 'test work orders stored');

  // --- a shared URL restores the view --------------------------------------
  const shared = `${base}/explore?range=today&compare=day&interval=1h&dim=district&district=${encodeURIComponent(CONGTAI)}&district=${encodeURIComponent(HANSHAN)}`;
  await page.goto(shared);
  await ready(page);
  check(await page.$eval('#presets .on', (b) => b.dataset.preset) === 'today', 'the 今天 preset is on');
  check(await page.$eval('#compare', (s) => s.value) === 'day', 'the comparison is the one of the URL');
  const chips = await page.$$eval('#chips .chip', (cs) => cs.map((c) => c.dataset.v));
  check(chips.includes(CONGTAI) && chips.includes(HANSHAN) && chips.length === 2, `chips of both districts (${chips})`);
  check((await page.$eval('#ms-district .n', (e) => e.textContent)).trim() === '2', 'the district picker counts 2');
  const w = await windowPairs(page);
  check(w.range[0] === today, `the window starts at midnight (${iso(w.range[0])} vs ${iso(today)})`);
  const both = [['district', CONGTAI], ['district', HANSHAN]];
  const sum = await api(page, '/api/v1/stats/summary', [['from', w.from], ['to', w.to], ...both]);
  check(sum.received === 14, `today so far: 14 items in the two districts (${sum.received})`);
  check(num(await kpi(page, 'received')) === sum.received && num(await kpi(page, 'negative')) === sum.negative,
    `KPIs as the API answers (${await kpi(page, 'received')}, ${await kpi(page, 'negative')} vs ${sum.received}, ${sum.negative})`);
  const title = await page.$eval('.kpi[data-kpi="satisfaction_rate"]', (e) => e.title);
  check(title.includes('满意率 =') && title.includes('窗口') && title.includes('对比'), `a KPI says its definition and window (${title})`);
  step(`explorer: a shared URL restores range, comparison and filters; KPIs match the API (${sum.received} items)`);

  // --- today so far against the same window yesterday ----------------------
  check(w.cmp && w.cmp[0] === yesterday && w.cmp[1] === w.range[1] - DAY,
    `compared with the same clock window yesterday (${w.cmp && w.cmp.map(iso)})`);
  // Up to the last whole minute, not the next: the window compared a day
  // earlier holds none of the seconds today has not had yet.
  check(w.range[1] % 60000 === 0 && (w.range[1] <= Date.now() || w.range[1] === today + 60000),
    `today's window ends at the last whole minute (${iso(w.range[1])})`);
  const expectedPrev = items.filter((it) => (it.district === CONGTAI || it.district === HANSHAN)
    && Date.parse(it.received_at) >= w.cmp[0] && Date.parse(it.received_at) < w.cmp[1]).length;
  const prevSum = await api(page, '/api/v1/stats/summary', [['from', iso(w.cmp[0])], ['to', iso(w.cmp[1])], ...both]);
  check(prevSum.received === expectedPrev, `the compared window holds yesterday's items up to this time (${prevSum.received} vs ${expectedPrev})`);
  const deltaText = await page.$eval('.kpi[data-kpi="received"] .d', (e) => e.textContent);
  check(deltaText.includes(`对比期 ${expectedPrev}`) && deltaText.includes(`+${14 - expectedPrev}`), `the KPI says the compared figure (${deltaText})`);
  check((await page.$eval('#window', (e) => e.textContent)).includes('前一天同时段'), 'the window names the comparison');
  // 办结率: yesterday's order as it stood at this time yesterday (open), not as it stands now.
  const orderDelta = await page.$eval('.kpi[data-kpi="completion_rate"] .d', (e) => e.textContent);
  check(orderDelta.includes('对比期 0.0%') && orderDelta.includes('+100.0个百分点'),
    `办结率 against yesterday's orders as they stood then (${orderDelta})`);
  // The store's history starts in the compared window's first minute: a whole base, no warning.
  check(await page.$eval('#cmp-warning', (e) => e.hidden), 'no partial-comparison warning when the compared window is covered from its start');
  step(`explorer: today so far (14) against the same window yesterday (${expectedPrev}), not all of yesterday (${expectedPrev + 6})`);
  await page.screenshot({ path: `${shots}/explore-today-vs-yesterday.png` });

  // --- drill into one of two selected districts -----------------------------
  await page.waitForTimeout(800); // the bars' entry animation
  const bar = await page.evaluate((name) => {
    const el = document.getElementById('rank-chart');
    const chart = echarts.getInstanceByDom(el);
    const opt = chart.getOption();
    const i = opt.yAxis[0].data.indexOf(name);
    const total = opt.series[0].data[i].value + opt.series[1].data[i].value;
    const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [total / 2, i]);
    const r = el.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y, i };
  }, CONGTAI);
  check(bar.i >= 0, 'the ranking has a 丛台区 bar');
  const beforeDrill = page.url();
  await page.mouse.click(bar.x, bar.y);
  await page.waitForFunction(() => new URLSearchParams(location.search).get('drill_key') !== null, null, { timeout: 20000 });
  await ready(page);
  const drilled = await rows(page);
  const ctToday = items.filter((it) => it.district === CONGTAI && Date.parse(it.received_at) >= today).length;
  check(drilled.length === ctToday && drilled.every((r) => r.district === CONGTAI),
    `every listed row is of ${CONGTAI} (${drilled.length} rows: ${JSON.stringify(drilled.map((r) => r.district))})`);
  check(num(await kpi(page, 'received')) === ctToday, `the KPIs follow the drill-down (${await kpi(page, 'received')})`);
  check((await page.$eval('#drill-chip', (e) => e.textContent)).includes(CONGTAI), 'the drill-down is a chip');
  const rankNames = await page.evaluate(() => echarts.getInstanceByDom(document.getElementById('rank-chart')).getOption().yAxis[0].data);
  check(rankNames.length === 1 && rankNames[0] === CONGTAI, `the ranking follows the drill-down (${rankNames})`);
  step(`explorer: drill-down into ${CONGTAI} of two districts: ${drilled.length} rows, all ${CONGTAI}; KPIs and ranking follow`);
  await page.screenshot({ path: `${shots}/explore-drill.png` });

  // --- the export is the view on screen --------------------------------------
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('#export')]);
  const name = download.suggestedFilename();
  const day = (ms) => new Date(ms + OFFSET).toISOString().slice(0, 10).replace(/-/g, '');
  check(name === `民意-${CONGTAI}-${day(today)}.csv`, `the file says what it holds (${name})`);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const lines = csv.replace(/^\ufeff/, '').trim().split('\r\n');
  check(lines[0].startsWith('编号,受理时间,渠道,地区,单位'), `Chinese header (${lines[0]})`);
  check(lines.length - 1 === ctToday && lines.slice(1).every((l) => l.split(',')[3] === CONGTAI),
    `the export holds the drilled rows (${lines.length - 1} vs ${ctToday})`);
  step(`explorer: export ${name} (${lines.length - 1} rows of ${CONGTAI})`);
  const [book] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('#export-xlsx')]);
  const bookName = book.suggestedFilename();
  check(bookName === `民意-${CONGTAI}-${day(today)}.xlsx`, `the workbook says what it holds (${bookName})`);
  const bytes = fs.readFileSync(await book.path());
  check(bytes.length > 4000 && bytes.subarray(0, 2).toString() === 'PK', `an XLSX (ZIP) file (${bytes.length} bytes)`);
  step(`explorer: export ${bookName} (${bytes.length} bytes)`);

  // --- Back and Forward walk the analyst's steps -----------------------------
  await page.goBack();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('drill_key') === null, null, { timeout: 20000 });
  await ready(page);
  check(page.url() === beforeDrill, `Back returns to the URL before the drill-down (${page.url()})`);
  check(num(await kpi(page, 'received')) === 14 && !(await page.$('#drill-chip')), 'Back restores the two-district view');
  const backRows = await rows(page);
  check(backRows.some((r) => r.district === HANSHAN), 'the list has both districts again');
  await page.goForward();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('drill_key') !== null, null, { timeout: 20000 });
  await ready(page);
  check(num(await kpi(page, 'received')) === ctToday && (await rows(page)).every((r) => r.district === CONGTAI), 'Forward drills in again');
  await page.goBack();
  await ready(page);
  step('explorer: Back and Forward walk through the drill-down');

  // --- a point of the compared line lists the compared period's items --------
  await clickFirstComparedPoint(page);
  const prevRows = await rows(page);
  const w2 = await windowPairs(page);
  check(w2.range[0] === yesterday && prevRows.length > 0 && prevRows.every((r) => Date.parse(r.at) >= yesterday && Date.parse(r.at) < today),
    `a point of the compared line lists yesterday's items (${prevRows.map((r) => r.at)})`);
  check((await page.$eval('#drill-chip', (e) => e.textContent)).includes('上期'), 'its chip says 上期');
  step(`explorer: a point of the compared line lists ${prevRows.length} items of yesterday`);
  // A step deeper keeps what was drilled: a point clicked in the view of
  // one district lists that district's items only (it lost the district
  // and listed both districts' items, found by an analyst).
  await page.goto(`${page.url().split('&drill_')[0]}&drill_dim=district&drill_key=${encodeURIComponent(CONGTAI)}`);
  await ready(page);
  await clickFirstComparedPoint(page);
  const deeperRows = await rows(page);
  const ctYesterday = items.filter((it) => it.district === CONGTAI && Date.parse(it.received_at) >= yesterday && Date.parse(it.received_at) < yesterday + 3600000).length;
  check(deeperRows.length === ctYesterday && deeperRows.every((r) => r.district === CONGTAI)
    && (await page.$eval('#drill-chip', (e) => e.textContent)).includes(CONGTAI),
    `a point of the drilled view keeps ${CONGTAI} (${JSON.stringify(deeperRows.map((r) => r.district))}, expected ${ctYesterday})`);
  step(`explorer: a point clicked inside the ${CONGTAI} drill-down lists ${deeperRows.length} items, all ${CONGTAI}`);
  // A filter chosen inside a drill-down narrows it; it does not end it.
  await page.goto(`${base}/explore?range=today&dim=district&drill_dim=district&drill_key=${encodeURIComponent(CONGTAI)}`);
  await ready(page);
  await page.click('#ms-sentiment .ms-btn');
  await page.click('#ms-sentiment .ms-opt[data-v="negative"] input');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('sentiment') === 'negative', null, { timeout: 20000 });
  await ready(page);
  const narrowedAt = await windowPairs(page);
  const narrowed = await rows(page);
  const ctNegative = (await api(page, '/api/v1/stats/summary', [['from', narrowedAt.from], ['to', narrowedAt.to], ['district', CONGTAI], ['sentiment', 'negative']])).negative;
  check(new URLSearchParams(new URL(page.url()).search).get('drill_key') === CONGTAI && narrowed.length === ctNegative
    && narrowed.length > 0 && narrowed.every((r) => r.district === CONGTAI),
    `a filter inside the drill-down keeps it (${page.url()}: ${narrowed.length} rows vs ${ctNegative})`);
  await page.click('#ms-sentiment .ms-close');
  step(`explorer: 负面 chosen inside the ${CONGTAI} drill-down narrows it to ${narrowed.length} rows, all ${CONGTAI}`);

  // --- 全选: every station at once (more than 32 of them) is one view -------
  await page.goto(`${base}/explore?range=today&dim=unit`);
  await ready(page);
  await page.click('#ms-unit .ms-btn');
  await page.fill('#ms-unit .ms-search', '派出所');
  const stations = await page.$$eval('#ms-unit .ms-opt:not([hidden])', (os) => os.map((o) => o.dataset.v));
  await page.click('#ms-unit .ms-all');
  await page.waitForFunction((n) => new URLSearchParams(location.search).getAll('unit').length === n, stations.length, { timeout: 20000 });
  await ready(page);
  const allAt = await windowPairs(page);
  const allStations = await api(page, '/api/v1/stats/summary', [['from', allAt.from], ['to', allAt.to], ...stations.map((u) => ['unit', u])]);
  check(stations.length > 32 && stations.every((u) => u.endsWith('派出所')) && await page.$eval('#error', (e) => e.hidden)
    && allStations.received >= 3
    && (await page.$eval('#ms-unit .n', (e) => e.textContent)).trim() === String(stations.length)
    && num(await kpi(page, 'received')) === allStations.received,
    `全选 of the ${stations.length} stations a search shows is one view (${await kpi(page, 'received')} vs ${allStations.received})`);
  await page.click('#ms-unit .ms-close');
  const unitChips = await page.$$eval('#chips .chip[data-f="unit"]', (cs) => cs.map((c) => c.textContent));
  check(unitChips.length === 1 && unitChips[0].includes(`等${stations.length}个`), `the stations are one chip (${unitChips})`);
  await page.click('#chips .chip[data-f="unit"] button');
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('unit'), null, { timeout: 20000 });
  await ready(page);
  step(`explorer: 全选 after searching 派出所 picks all ${stations.length} stations, one chip whose × ends the filter; the KPIs count ${allStations.received} items`);

  // --- 降幅最大: the ranking by its change against the compared day ----------
  await page.goto(`${base}/explore?range=today&compare=day&dim=district&order=fall`);
  await ready(page);
  const fallAt = await windowPairs(page);
  const fallApi = await api(page, '/api/v1/stats/rank', [['from', fallAt.from], ['to', fallAt.to], ['dim', 'district'],
    ['sort', 'change'], ['order', 'asc'], ['compare_from', iso(fallAt.cmp[0])], ['compare_to', iso(fallAt.cmp[1])]]);
  const fallNames = fallApi.rows.map((r) => r.name || r.key);
  const fallBars = (await page.evaluate(() => echarts.getInstanceByDom(document.getElementById('rank-chart')).getOption().yAxis[0].data))
    .filter((n) => !n.startsWith('未识别'));
  const changes = fallApi.rows.map((r) => r.change);
  // The axis is inverted: its first name is the top bar.
  check(fallNames.length === 2 && changes.every((c, i) => i === 0 || c >= changes[i - 1]) && changes[0] < changes[1]
    && JSON.stringify(fallBars) === JSON.stringify(fallNames)
    && (await page.$eval('#rank-note', (e) => e.textContent)).includes('降幅'),
    `降幅最大 ranks by change, smallest first, as the API (${fallBars} vs ${fallNames}: ${changes})`);
  // Without a compared period the ranking is by value again.
  await page.selectOption('#compare', '');
  await page.waitForFunction(() => !new URLSearchParams(location.search).get('compare'), null, { timeout: 20000 });
  await ready(page);
  check(await page.$eval('#order', (o) => o.value) === 'desc' && await page.$eval('#order option[value="fall"]', (o) => o.disabled)
    && !new URLSearchParams(new URL(page.url()).search).has('order'),
    `without a compared period the ranking reads 高→低, 降幅最大 cannot be chosen, and the URL drops it (${page.url()})`);
  // With a grouping, the compared period's dashed line is their total, and
  // it leads the legend (it was last, pages away behind 18 districts).
  await page.goto(`${base}/explore?range=today&compare=day&group_by=district`);
  await ready(page);
  const legendFirst = await page.evaluate(() => echarts.getInstanceByDom(document.getElementById('ts-chart')).getOption().legend[0].data[0]);
  check(legendFirst === '对比期合计（前一天同时段）', `the compared total leads the legend (${legendFirst})`);
  // Esc closes an open picker, its button focused again.
  await page.click('#ms-district .ms-btn');
  await page.keyboard.press('Escape');
  check(await page.$eval('#ms-district .ms-pop', (e) => e.hidden)
    && await page.evaluate(() => document.activeElement === document.querySelector('#ms-district .ms-btn')),
    'Esc closes the picker and focuses its button');
  step(`explorer: 降幅最大 against the day before ranks ${fallNames.join('、')} (changes ${changes.join(', ')}), as the API`);

  // --- 热点事件: the same words from one district today are one incident ---
  let found = [];
  for (let i = 0; i < 40 && !found.length; i += 1) {
    found = (await api(page, '/api/v1/incidents', [['from', iso(today)], ['to', iso(now + 60000)], ['sort', 'count']])).incidents;
    if (!found.length) await page.waitForTimeout(500);
  }
  check(found.length > 0, 'the tracker groups the repeated reports into incidents');
  await page.goto(`${base}/explore?range=today`);
  await ready(page);
  const incidentRows = await page.$$eval('#incidents tbody tr', (trs) => trs.map((r) => ({ id: r.dataset.incident, n: r.querySelector('.n').textContent })));
  check(incidentRows.length === found.length && incidentRows[0].id === found[0].id && num(incidentRows[0].n) === found[0].count,
    `the incidents as the API lists them (${JSON.stringify(incidentRows)} vs ${found.map((f) => `${f.id} ${f.count}`)})`);
  await page.click('#incidents tbody tr');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('drill_dim') === 'incident', null, { timeout: 20000 });
  await ready(page);
  const ofIncident = await rows(page);
  check(ofIncident.length === found[0].count && num(await kpi(page, 'received')) === found[0].count,
    `the drill-down lists the incident's ${found[0].count} items (${ofIncident.length}, KPI ${await kpi(page, 'received')})`);
  check((await page.$eval('#drill-chip', (e) => e.textContent)).includes('同一事件'), 'its chip says 同一事件');
  step(`explorer: ${found.length} incidents today; one clicked lists its ${found[0].count} items`);
  await page.screenshot({ path: `${shots}/explore-incident.png` });

  // --- errors in Chinese, stale numbers cleared; empty answers say so -------
  await page.goto(`${base}/explore?range=30d&interval=1m`);
  await page.waitForFunction(() => document.body.dataset.ready === 'error', null, { timeout: 30000 });
  const err = await page.$eval('#error', (e) => e.textContent);
  check(/时段过多/.test(err) && !/[a-z]{4,}/.test(err), `the error is in Chinese (${err})`);
  check(await kpi(page, 'received') === '—' && !(await page.$eval('#ts-chart + .empty', (e) => e.hidden)), 'no stale numbers after an error');
  step(`explorer: an API error reads “${err}”`);
  // A whole day reads to 24:00 (it read “12/4 00:00–00:00”, as if empty).
  await page.goto(`${base}/explore?from=${encodeURIComponent(iso(yesterday))}&to=${encodeURIComponent(iso(today))}`);
  await ready(page);
  const dayText = await page.$eval('#window', (e) => e.textContent);
  check(/00:00–24:00/.test(dayText), `a whole day's window ends at 24:00 (${dayText})`);
  // A search's limits as the API states them, in Chinese (they read
  // “最多64个字” against the API's 32 a word, and “more than 8 words”).
  for (const [q, says] of [['a'.repeat(33), /第1个词过长（每个词最多32个字）/], ['一 二 三 四 五 六 七 八 九', /词过多（最多8个/]]) {
    await page.goto(`${base}/explore?range=today&q=${encodeURIComponent(q)}`);
    await page.waitForFunction(() => document.body.dataset.ready === 'error', null, { timeout: 30000 });
    const said = await page.$eval('#error', (e) => e.textContent);
    check(says.test(said) && !/[a-z]{4,}/.test(said.replace(/a{33}/, '')), `the search's limit is named in Chinese (${said})`);
  }
  await page.goto(`${base}/explore?range=today&q=${encodeURIComponent('不存在的词语甲乙丙')}`);
  await ready(page);
  check(!(await page.$eval('#ts-chart + .empty', (e) => e.hidden)) && !(await page.$eval('.empty-list', (e) => e.hidden)), 'an empty answer shows 无数据');
  step('explorer: an empty answer shows 无数据');
  // A hand-made URL: what the page cannot use is named and left out, the rest applies.
  await page.goto(`${base}/explore?range=today&district=${encodeURIComponent('北京市')}&district=${encodeURIComponent(CONGTAI)}&metric=speed`);
  await ready(page);
  const ignoredText = await page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  check(ignoredText.includes('地区') && ignoredText.includes('排行指标'), `unusable parameters are named (${ignoredText})`);
  const kept = await page.$$eval('#chips .chip', (cs) => cs.map((c) => c.dataset.v));
  check(kept.length === 1 && kept[0] === CONGTAI && num(await kpi(page, 'received')) === ctToday, `the rest applies (${kept})`);
  step(`explorer: a hand-made URL's unknown values are named (${ignoredText}) and the rest applies`);

  // --- a compared week before the store's history says so -------------------
  await page.goto(`${base}/explore?range=today&compare=week`);
  await ready(page);
  const partialSaid = await page.$eval('#cmp-warning', (e) => (e.hidden ? '' : e.textContent));
  const weekDelta = await page.$eval('.kpi[data-kpi="received"] .d', (e) => ({ text: e.textContent, cls: e.className }));
  check(/尚无数据/.test(partialSaid) && /不可比/.test(weekDelta.text) && /flat/.test(weekDelta.cls),
    `a compared week before any stored item is named, its change not coloured (${partialSaid} / ${JSON.stringify(weekDelta)})`);
  step(`explorer: a compared period before the store's history: “${partialSaid}”`);

  // --- a rate says its base, and when it is few ------------------------------
  const todaySum = await api(page, '/api/v1/stats/summary', [['from', iso(today)], ['to', iso(w.range[1])]]);
  const rated = await page.$eval('.kpi[data-kpi="satisfaction_rate"] .share', (e) => ({ n: Number(e.dataset.base), few: e.classList.contains('few'), text: e.textContent }));
  check(rated.n === todaySum.rated && rated.few === (todaySum.rated > 0 && todaySum.rated < 30) && rated.text.includes(`n=${todaySum.rated}`),
    `满意率 shows its ${todaySum.rated} rated items (${JSON.stringify(rated)})`);
  step(`explorer: 满意率 stands on ${rated.text}`);

  // --- marks alone are no search; quotation marks are not searched -----------
  await page.goto(`${base}/explore?range=today&q=${encodeURIComponent('|')}`);
  await ready(page);
  check(!(await page.$$eval('#chips .chip', (cs) => cs.some((c) => c.dataset.f === 'q'))) && num(await kpi(page, 'received')) === todaySum.received,
    'a search of “|” alone is no search (no chip, every item)');
  await page.goto(`${base}/explore?range=today&q=${encodeURIComponent('"派出所"')}`);
  await ready(page);
  const quoted = (await api(page, '/api/v1/stats/summary', [['from', iso(today)], ['to', iso(w.range[1])], ['q', '派出所']])).received;
  check(quoted > 0 && num(await kpi(page, 'received')) === quoted, `a quoted “派出所” finds what 派出所 finds (${await kpi(page, 'received')} vs ${quoted})`);
  step(`explorer: “|” alone is no search; a quoted word finds ${quoted} items as the word does`);

  // --- an incident's link shared by address names it; 最近 with its day ------
  await page.goto(`${base}/explore?range=7d&drill_dim=incident&drill_key=${found[0].id}`);
  await ready(page);
  const chipText = await page.$eval('#drill-chip', (e) => e.textContent);
  check(chipText.includes(found[0].title.slice(0, 8)) && !chipText.includes(found[0].id), `a shared incident's chip names it (${chipText})`);
  const latest = await page.$eval('#incidents tbody tr td:last-child', (e) => e.textContent);
  check(/^\d{1,2}\/\d{1,2} \d{2}:\d{2}$/.test(latest), `最近 has its day in a 7-day view (${latest})`);
  step(`explorer: a shared incident reads “${chipText}”; 最近 ${latest}`);

  // --- repeat complaints: one citizen's third report on a matter -------------
  // Posted last (磁县, yesterday): the counts checked above stay as they were.
  const repeats = [0, 1, 2].map((i) => ({
    id: `rep-${i}`, channel: i === 1 ? 'wechat' : 'hotline_12345', received_at: iso(yesterday + 3600000 + i * 60000),
    district: '磁县', contact: '13700001111', text: ['小区门口违章停车堵住消防通道', '又有车乱停堵住消防通道', '第三次反映违停堵住消防通道'][i],
  }));
  check((await page.request.post(`${base}/api/v1/feedback`, { data: repeats })).ok(), 'repeat items stored');
  const repeatPairs = [['from', iso(yesterday)], ['to', iso(now + 60000)], ['repeat', 'true']];
  let marked = null;
  for (let i = 0; i < 40 && !(marked && marked.received === 1); i += 1) {
    if (marked) await page.waitForTimeout(250);
    marked = await api(page, '/api/v1/stats/summary', repeatPairs);
  }
  check(marked.received === 1 && marked.repeat === 1, `the third report is a repeat complaint (${JSON.stringify(marked)})`);
  await page.goto(`${base}/explore?from=${encodeURIComponent(iso(yesterday))}&to=${encodeURIComponent(iso(now + 60000))}`);
  await ready(page);
  const all = await api(page, '/api/v1/stats/summary', repeatPairs.slice(0, 2));
  const rateText = await kpi(page, 'repeat_rate');
  check(rateText === `${(100 * all.repeat_rate).toFixed(1)}%`, `重复诉求率 on the page ${rateText}, the API ${all.repeat_rate}`);
  await page.check('#repeat');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('repeat') === 'true', null, { timeout: 20000 });
  await ready(page);
  await page.waitForFunction(() => document.getElementById('items').dataset.ready === '1', null, { timeout: 20000 });
  const repeatRows = await rows(page);
  check(repeatRows.length === 1 && repeatRows[0].id === 'rep-2' && num(await kpi(page, 'received')) === 1,
    `仅重复诉求 lists the one repeat complaint (${JSON.stringify(repeatRows)})`);
  check((await page.$$eval('#chips .chip', (cs) => cs.map((c) => c.dataset.f))).includes('repeat'), 'a chip says 仅重复诉求');
  step(`explorer: 重复诉求率 ${rateText} as the API; 仅重复诉求 lists rep-2 alone`);

  // --- 仅评价: ratings without words, which the wall shows apart, are named
  // in the topic ranking's note with the API's count of them.
  const bare = [1, 2].map((i) => ({ id: `bare-${i}`, channel: 'scan_rate', rating: i, text: '', received_at: iso(today + 60000 + i * 1000) }));
  check((await page.request.post(`${base}/api/v1/feedback`, { data: bare })).ok(), 'ratings without words stored');
  await page.goto(`${base}/explore?range=today&dim=topic`);
  await ready(page);
  const win = await page.$eval('#window', (w) => ({ from: Number(w.dataset.from), to: Number(w.dataset.to) }));
  const onlyRated = await (await page.request.get(`${base}/api/v1/stats/summary?from=${new Date(win.from).toISOString()}&to=${new Date(win.to).toISOString()}&has_text=false`)).json();
  const rankNote = await page.$eval('#rank-note', (e) => e.textContent);
  check(onlyRated.received > 0 && rankNote.includes(`含仅评价（无文字）${onlyRated.received.toLocaleString('en-US')} 条`),
    `the topic ranking says how many ratings without words it counts (${onlyRated.received}: ${rankNote})`);
  step(`explorer: the topic ranking names its ${onlyRated.received} ratings without words (仅评价 on the wall)`);

  // --- readable at the centre's screen sizes ----------------------------------
  for (const [wd, ht] of [[1920, 1080], [1366, 768], [3840, 2160]]) {
    await page.setViewportSize({ width: wd, height: ht });
    await page.goto(`${base}/explore?range=today&compare=day&dim=unit&metric=satisfaction_rate`);
    await ready(page);
    await page.waitForTimeout(800);
    const problems = await page.evaluate(layoutProblems, 11);
    await page.screenshot({ path: `${shots}/explore-${wd}x${ht}.png` });
    check(problems.length === 0, `explorer at ${wd}×${ht}: ${problems.join('; ')}`);
    step(`explorer at ${wd}×${ht}: no covered text, no page scrolling`);
  }

  check(errors.filter((e) => !/status of 400/.test(e)).length === 0, `no console errors: ${errors.join(' | ')}`);
  console.log('explorer browser test passed');
} catch (e) {
  console.error(`explorer browser test FAILED: ${e.message}`);
  if (errors.length) console.error(errors.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}

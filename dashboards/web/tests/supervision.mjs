// Browser test of the supervision queue (督办台账, /supervision) against a
// running `minyi serve` without the demo feed, in Debian's headless
// Chromium: the script posts its own cases (a few at each stage, some
// late, one answered 不满意 again, one 化解) and their work orders, then
// checks what the page shows against the API — the counts, the order of
// the cases, a stage clicked, the overdue view, a shared URL with a
// district, Back, the CSV — and that it reads at the centre's screen
// sizes. Run by tests/it/browser.rs; exits non-zero on the first failure.
//
//   node dashboards/web/tests/supervision.mjs BASE_URL SHOTS_DIR
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

const HOUR = 3600000;
const now = Date.now();
const ago = (h) => new Date(now - h * HOUR).toISOString();
const CONGTAI = '丛台区';
const HANSHAN = '邯山区';
const rated = (id, h, district, unit, caseRef) => ({
  id, channel: 'scan_rate', received_at: ago(h), rating: 3, text: `${id}：等了很久没人处理，不满意`,
  district, unit, ...(caseRef ? { case_ref: caseRef } : {}),
});
const items = [
  rated('b-new', 2, HANSHAN, '火磨派出所'),
  rated('b-late', 30, HANSHAN, '火磨派出所'),
  rated('b-contact', 60, HANSHAN, '渚河派出所'),
  rated('b-rectify', 130, CONGTAI, '丛台派出所'),
  rated('b-again', 20, HANSHAN, '渚河派出所', 'cb-b1'),
  { id: 'b-cb', channel: 'phone_revisit', received_at: ago(5), rating: 3, text: '还是不满意', case_ref: 'cb-b1', district: HANSHAN, unit: '渚河派出所' },
  rated('b-done', 20, CONGTAI, '丛台派出所', 'cb-b2'),
  { id: 'b-ok', channel: 'phone_revisit', received_at: ago(10), rating: 1, text: '问题已解决', case_ref: 'cb-b2', district: CONGTAI, unit: '丛台派出所' },
];
const order = (id, feedback, unit, steps) => steps.map(([event, h]) => ({ order_id: id, feedback_id: feedback, event, unit, at: ago(h) }));
const events = [
  ...order('WO-B1', 'b-contact', '渚河派出所', [['created', 59], ['dispatched', 58]]),
  ...order('WO-B2', 'b-rectify', '丛台派出所', [['created', 129], ['dispatched', 128], ['responded', 120]]),
  // Revisit SMS (the funnel): one unanswered for over seven days, one answered.
  ...order('WO-R1', 'b-ok', '丛台派出所', [['revisit_sent', 200]]),
  ...order('WO-R2', 'b-ok', '丛台派出所', [['revisit_sent', 30]]),
  { order_id: 'WO-R2', event: 'revisited', rating: 1, at: ago(20) },
];

const api = async (page, path, pairs) => {
  const r = await page.request.get(`${base}${path}?${new URLSearchParams(pairs)}`);
  check(r.ok(), `${path}: ${r.status()}`);
  return r.json();
};
const ready = (page) => page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 30000 });
const kpi = async (page, key) => Number((await page.$eval(`.kpi[data-kpi="${key}"] .v`, (e) => e.textContent)).replace(/,/g, ''));
const rows = (page) => page.$$eval('#cases tbody tr', (trs) => trs.map((r) => ({
  id: r.dataset.id, stage: r.dataset.stage, district: r.dataset.district, overdue: r.classList.contains('overdue'),
})));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));

  const posted = await page.request.post(`${base}/api/v1/feedback`, { data: items });
  check(posted.ok() && (await posted.json()).accepted === items.length, 'test items stored');
  const sent = await page.request.post(`${base}/api/v1/workorders/events`, { data: events });
  check(sent.ok(), 'test events stored');

  // --- the open queue, as the API answers it --------------------------------
  await page.goto(`${base}/supervision`);
  await ready(page);
  const open = await api(page, '/api/v1/supervision', { limit: '1000' });
  check(open.total === 6 && open.overdue === 3 && open.escalate === 1, `the API's queue (${open.total}, ${open.overdue}, ${open.escalate})`);
  check(await kpi(page, 'total') === open.total && await kpi(page, 'overdue') === open.overdue
    && await kpi(page, 'escalate') === open.escalate, 'the counts as the API answers');
  const shown = await rows(page);
  check(JSON.stringify(shown.map((r) => r.id)) === JSON.stringify(open.items.map((c) => c.id)),
    `the cases in the API's order (${shown.map((r) => r.id)})`);
  check(JSON.stringify(shown.map((r) => r.id)) === JSON.stringify(['b-rectify', 'b-contact', 'b-late', 'b-again', 'b-cb', 'b-new']),
    `overdue first, then the oldest (${shown.map((r) => r.id)})`);
  check(shown.slice(0, 3).every((r) => r.overdue) && !shown[3].overdue, 'the late cases are marked');
  const stageCards = await page.$$eval('.kpi.stage', (ks) => ks.map((k) => [k.dataset.stage, Number(k.querySelector('.v').textContent)]));
  check(JSON.stringify(stageCards) === JSON.stringify(open.by_stage.map((s) => [s.stage, s.count])), `stage counts (${stageCards})`);
  const unitRows = await page.$$eval('#units tbody tr', (trs) => trs.map((r) => r.dataset.unit));
  check(JSON.stringify(unitRows) === JSON.stringify(open.by_unit.map((u) => u.unit)), `units (${unitRows})`);
  check(await page.$eval('#cases tr[data-id="b-again"]', (r) => r.dataset.stage === '未化解' && r.textContent.includes('升级')),
    'the case answered 不满意 again is 未化解 and flagged');
  step(`supervision: ${open.total} open cases, ${open.overdue} overdue first, counts as the API answers`);
  // The revisit funnel beside them: 回复率 and the SMS unanswered for a week.
  const funnel = await api(page, '/api/v1/stats/revisits', {});
  check(funnel.sent === 2 && funnel.replied === 1 && funnel.unanswered === 1, `the API's funnel (${JSON.stringify(funnel)})`);
  const rate = await page.$eval('.kpi[data-kpi="reply_rate"] .v', (e) => e.textContent);
  check(rate === '50.0%' && await kpi(page, 'unanswered') === 1, `回访回复率 ${rate} and 超7天未回复 as the API answers`);
  const ctRow = await page.$eval('#units tr[data-unit="丛台派出所"]', (r) => Array.from(r.cells).slice(-3).map((c) => c.textContent));
  check(JSON.stringify(ctRow) === JSON.stringify(['2', '50%', '1']), `丛台派出所's revisits (${ctRow})`);
  step(`supervision: 回访回复率 ${rate}, 1 unanswered for over seven days, by unit as the API answers`);
  await page.screenshot({ path: `${shots}/supervision-open.png` });

  // --- a stage clicked narrows the cases; the overdue view; Back -------------
  await page.click('.kpi.stage[data-stage="待派发"]');
  await ready(page);
  check(new URL(page.url()).searchParams.get('stage') === '待派发', 'the stage is in the URL');
  const dispatch = await rows(page);
  check(dispatch.length === 3 && dispatch.every((r) => r.stage === '待派发'), `only 待派发 (${dispatch.map((r) => r.id)})`);
  await page.click('#status button[data-status="overdue"]');
  await ready(page);
  const late = await rows(page);
  check(late.map((r) => r.id).join() === 'b-rectify,b-contact,b-late', `the overdue view (${late.map((r) => r.id)})`);
  await page.goBack();
  await ready(page);
  check((await rows(page)).length === 3, 'Back returns to the 待派发 view');
  step('supervision: a stage narrows the cases, 已超期 shows the late ones, Back walks back');

  // --- a shared URL with a district and the CSV of that view ------------------
  await page.goto(`${base}/supervision?status=all&district=${encodeURIComponent(CONGTAI)}`);
  await ready(page);
  check(await page.$eval('#district', (s) => s.value) === CONGTAI, 'the district of the URL is selected');
  const ct = await rows(page);
  check(ct.map((r) => r.id).join() === 'b-rectify,b-done' && ct.every((r) => r.district === CONGTAI),
    `丛台区's cases, the 化解 one too (${ct.map((r) => `${r.id}:${r.stage}`)})`);
  check(ct[1].stage === '已化解', 'the case answered 满意 is 已化解');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('#export')]);
  const name = download.suggestedFilename();
  check(name.startsWith('督办台账') && name.includes(CONGTAI) && name.endsWith('.csv'), `the file is named after the view (${name})`);
  const csv = fs.readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '').trim().split(/\r?\n/);
  check(csv[0].startsWith('编号,受理时间,渠道,地区,单位,评价,内容,工单号,环节,期限'), `Chinese headers (${csv[0]})`);
  check(csv.length === 3 && csv[1].startsWith('b-rectify,') && csv[2].includes(',已化解,'), `the view's cases (${csv.slice(1)})`);
  step(`supervision: a shared URL restores the view; its CSV ${name} holds its ${csv.length - 1} cases`);

  // --- readable at the centre's screen sizes -----------------------------------
  for (const [wd, ht] of [[1920, 1080], [1366, 768]]) {
    await page.setViewportSize({ width: wd, height: ht });
    await page.goto(`${base}/supervision?status=all`);
    await ready(page);
    const problems = await page.evaluate(layoutProblems, 11);
    await page.screenshot({ path: `${shots}/supervision-${wd}x${ht}.png` });
    check(problems.length === 0, `supervision at ${wd}×${ht}: ${problems.join('; ')}`);
    step(`supervision at ${wd}×${ht}: no covered text, no page scrolling`);
  }

  check(errors.length === 0, `no console errors: ${errors.join(' | ')}`);
  console.log('supervision browser test passed');
} catch (e) {
  console.error(`supervision browser test FAILED: ${e.message}`);
  if (errors.length) console.error(errors.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}

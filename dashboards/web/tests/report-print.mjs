// Browser test of the printable report (分析研判): opens the daily report's
// HTML on a running `minyi serve` in Debian's headless Chromium, prints it
// to A4 PDF and takes a screenshot (both into SHOTS), and checks what a
// leader reads on paper: the title, the KPI tiles, the charts, the cited
// items, set in a CJK font. Run by tests/it/reports.rs; exits non-zero on
// the first failure.
//
//   node dashboards/web/tests/report-print.mjs BASE_URL SHOTS_DIR
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const [base, shots] = process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });
function check(ok, what) {
  if (!ok) throw new Error(what);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 794, height: 1123 } });
  const r = await page.goto(`${base}/api/v1/reports/daily?format=html`);
  check(r.ok(), `the report answered ${r.status()}`);
  const title = await page.$eval('h1', (e) => e.textContent);
  check(/^民意日报 · \d{4}-\d{2}-\d{2}（全市）$/.test(title), `the title: ${title}`);
  const kpis = await page.$$eval('.kpi .n', (ns) => ns.map((n) => n.textContent));
  check(kpis.includes('受理量') && kpis.includes('不满意化解率'), `the KPI tiles: ${kpis}`);
  check((await page.$$('svg rect')).length >= 2, 'the charts are drawn');
  check((await page.$$('.cited li')).length >= 3, 'typical items are cited');
  const fonts = await page.evaluate(() => document.fonts.check('12px "Noto Sans CJK SC"'));
  check(fonts, 'a CJK font sets the text');
  await page.emulateMedia({ media: 'print' });
  await page.screenshot({ path: `${shots}/report-daily.png`, fullPage: true });
  const pdf = `${shots}/report-daily.pdf`;
  await page.pdf({ path: pdf, format: 'A4', printBackground: true });
  const bytes = fs.readFileSync(pdf);
  check(bytes.subarray(0, 5).toString() === '%PDF-' && bytes.length > 10000, `a PDF of ${bytes.length} bytes`);
  const pages = (bytes.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  check(pages >= 1 && pages <= 4, `the daily report prints on 1–4 A4 pages (${pages})`);
  console.log(`report printed: ${pages} page(s), ${bytes.length} bytes`);
} finally {
  await browser.close();
}

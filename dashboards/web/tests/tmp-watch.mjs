import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
const errs = [];
page.on('console', (m) => { if (m.type() === 'error') errs.push(m.text()); });
await page.goto('http://127.0.0.1:18082/');
await page.waitForTimeout(6000);
const states = [];
let grew = 0;
for (let i = 0; i < 150; i++) {
  const s = await page.evaluate(() => ({
    inc: [...document.querySelectorAll('#panel-incidents li')].map((l) => `${l.querySelector('.n').textContent}|${l.querySelector('.x').textContent.slice(0, 12)}`).join(' / '),
    grew: document.querySelectorAll('#panel-incidents li.grew').length,
    received: document.querySelector('#panel-kpi .kpi .value')?.textContent,
  }));
  if (s.grew) grew++;
  if (!states.length || states[states.length - 1].inc !== s.inc) states.push({ t: i * 0.4, ...s });
  if (i % 25 === 0) await page.screenshot({ path: `/tmp/shots/watch-${i}.png` });
  await page.waitForTimeout(400);
}
for (const s of states) console.log(s.t.toFixed(1), s.received, s.inc);
console.log('samples with a growing mark:', grew, 'errors:', errs.length, errs.slice(0, 3));
await browser.close();

import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log('console:', m.text()); });
await page.goto(process.argv[2] || 'http://127.0.0.1:18080/');
await page.waitForTimeout(8000);
const n = Number(process.argv[3] || 1);
for (let i = 0; i < n; i++) {
  await page.screenshot({ path: `/tmp/shots/wall-${i}.png` });
  await page.waitForTimeout(400);
}
const txt = await page.evaluate(() => document.querySelector('#panel-incidents')?.innerText);
console.log(txt);
await browser.close();

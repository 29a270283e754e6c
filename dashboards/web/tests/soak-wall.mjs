// Soak of the wall screen in Chromium: the wall open for DURATION seconds
// against a running `minyi serve` with the demo feed; every EVERY seconds
// the JS heap after a garbage collection, the DOM node count (live nodes,
// after the same collection), event listeners and the ticks the screen has
// shown. At the end: first/last/min/max and the slope of heap and nodes
// over the last half, per hour. Run by scripts/soak-wall; not a test.
//
//   node dashboards/web/tests/soak-wall.mjs BASE_URL [DURATION] [EVERY] [PATH]
import { chromium } from 'playwright-core';

const [base, duration = '3600', every = '60', path = '/'] = process.argv.slice(2);
const DURATION = Number(duration);
const EVERY = Number(every);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
});
const errors = [];
let status = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${base}${path}`);
  await page.waitForFunction(() => Number(document.body.dataset.ticks || 0) > 0, null, { timeout: 60000 });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const sample = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')).usedSize / 1048576;
    const dom = await cdp.send('Memory.getDOMCounters');
    const ticks = await page.evaluate(() => Number(document.body.dataset.ticks || 0));
    return { heap, nodes: dom.nodes, listeners: dom.jsEventListeners, ticks };
  };
  const rows = [];
  const t0 = Date.now();
  console.log('seconds\theap_MiB\tdom_nodes\tlisteners\tticks');
  for (;;) {
    const s = { t: (Date.now() - t0) / 1000, ...await sample() };
    rows.push(s);
    console.log(`${s.t.toFixed(0)}\t${s.heap.toFixed(2)}\t${s.nodes}\t${s.listeners}\t${s.ticks}`);
    if (s.t >= DURATION) break;
    await page.waitForTimeout(Math.max(0, Math.min(EVERY, DURATION - s.t) * 1000));
  }
  // Least-squares slope over the last half, per hour.
  const slope = (key) => {
    const half = rows.filter((r) => r.t >= rows[rows.length - 1].t / 2);
    const n = half.length;
    if (n < 2) return 0;
    const mt = half.reduce((a, r) => a + r.t, 0) / n;
    const mv = half.reduce((a, r) => a + r[key], 0) / n;
    const num = half.reduce((a, r) => a + (r.t - mt) * (r[key] - mv), 0);
    const den = half.reduce((a, r) => a + (r.t - mt) ** 2, 0);
    return den ? (num / den) * 3600 : 0;
  };
  const stat = (key, digits) => {
    const v = rows.map((r) => r[key]);
    const f = (x) => x.toFixed(digits);
    return `first ${f(v[0])}, last ${f(v[v.length - 1])}, min ${f(Math.min(...v))}, max ${f(Math.max(...v))}, `
      + `slope over the last half ${slope(key) >= 0 ? '+' : ''}${f(slope(key))}/hour`;
  };
  const last = rows[rows.length - 1];
  console.log(`summary: ${last.t.toFixed(0)} s, ${last.ticks - rows[0].ticks} ticks shown, ${rows.length} samples`);
  console.log(`  JS heap after GC (MiB): ${stat('heap', 2)}`);
  console.log(`  DOM nodes:              ${stat('nodes', 0)}`);
  console.log(`  event listeners:        ${stat('listeners', 0)}`);
  console.log(`  page errors: ${errors.length}${errors.length ? ` (${errors.slice(0, 3).join(' | ')})` : ''}`);
  if (last.ticks <= rows[0].ticks) { console.log('the wall stopped ticking'); status = 1; }
} catch (e) {
  console.error(`soak-wall: ${e.message}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);

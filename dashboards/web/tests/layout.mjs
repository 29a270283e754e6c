// What a reader could not read on a page, checked in the page itself: used
// by the wall's test (browser.mjs), the explorer's (explore.mjs) and the
// supervision queue's (supervision.mjs).

/** In the page: what an operator could not read — text covered by another
 *  element, text of a chart outside its canvas, text too small, a page
 *  that scrolls, an element that scrolls, a panel outside the canvas. */
export function layoutProblems(minFontPx) {
  const problems = [];
  const vw = window.innerWidth;
  const vh = window.innerHeight;
  const se = document.scrollingElement;
  if (se.scrollHeight > se.clientHeight + 1 || se.scrollWidth > se.clientWidth + 1) {
    problems.push(`the page scrolls (${se.scrollWidth}×${se.scrollHeight} in ${se.clientWidth}×${se.clientHeight})`);
  }
  const stage = document.getElementById('stage');
  const scale = stage ? stage.getBoundingClientRect().width / 1920 : 1;
  if (stage) {
    const s = stage.getBoundingClientRect();
    if (s.left < -1 || s.top < -1 || s.right > vw + 1 || s.bottom > vh + 1) problems.push('the wall canvas exceeds the window');
    for (const p of document.querySelectorAll('.panel')) {
      const r = p.getBoundingClientRect();
      if (r.left < s.left - 1 || r.top < s.top - 1 || r.right > s.right + 1 || r.bottom > s.bottom + 1) problems.push(`${p.id} exceeds the wall canvas`);
    }
  }
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ')[0]}` : ''}`;
  for (const el of document.querySelectorAll('body *')) {
    const cs = getComputedStyle(el);
    if (/(auto|scroll)/.test(cs.overflow + cs.overflowX + cs.overflowY) && el.tagName !== 'SELECT') {
      // Only the explorer's item list, its ranking and its incidents, and
      // the supervision queue's tables, may scroll inside their cards.
      if ((el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) && !el.matches('#drill .scroll, .rank-scroll, #incidents-card .scroll, .sup-grid .scroll')) {
        problems.push(`${name(el)} has a scrollbar`);
      }
    }
  }
  const clippedByScroll = (el) => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const acs = getComputedStyle(a);
      if (/(auto|scroll)/.test(acs.overflowY)) return true;
    }
    return false;
  };
  // A changed KPI digit also holds its start (`.flip`, raised) for 40 ms
  // before its transition runs: no animation yet, but turning all the same
  // (it covered the KPI's name in one CI run).
  const moving = document.getAnimations().map((a) => a.effect && a.effect.target).filter(Boolean)
    .concat([...document.querySelectorAll('.flip')]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const t = walker.currentNode;
    const el = t.parentElement;
    if (!t.textContent.trim() || !el || el.closest('[hidden], script, style, option, select')) continue;
    // Moving now (a new ticker line sliding in, a digit turning): judged when it rests.
    if (moving.some((m) => m.contains(el))) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none' || Number(cs.opacity) === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    for (const r of range.getClientRects()) {
      if (r.width < 1 || r.height < 1) continue;
      // What of it is visible: clipped by every ancestor that clips, and the window.
      let [l, tp, rt, bt] = [r.left, r.top, r.right, r.bottom];
      for (let a = el; a && a !== document.body; a = a.parentElement) {
        const acs = getComputedStyle(a);
        if (acs.overflow === 'visible' && acs.overflowX === 'visible' && acs.overflowY === 'visible') continue;
        const ar = a.getBoundingClientRect();
        l = Math.max(l, ar.left); tp = Math.max(tp, ar.top); rt = Math.min(rt, ar.right); bt = Math.min(bt, ar.bottom);
      }
      l = Math.max(l, 0); tp = Math.max(tp, 0); rt = Math.min(rt, vw); bt = Math.min(bt, vh);
      if (rt - l < 2 || bt - tp < 2) continue;
      // Cut through a line (not an ellipsis, not a list one may scroll).
      if (bt - tp < r.height - 2 && !clippedByScroll(el) && !seen.has(`v${name(el)}`)) {
        seen.add(`v${name(el)}`);
        problems.push(`"${t.textContent.trim().slice(0, 20)}" (${name(el)}) is cut off`);
      }
      const font = parseFloat(cs.fontSize) * scale;
      if (font < minFontPx && !seen.has(`f${name(el)}`)) {
        seen.add(`f${name(el)}`);
        problems.push(`text too small: ${name(el)} "${t.textContent.trim().slice(0, 20)}" at ${font.toFixed(1)}px`);
      }
      const y = (tp + bt) / 2;
      for (const x of [l + (rt - l) * 0.25, (l + rt) / 2, rt - (rt - l) * 0.25]) {
        const hit = document.elementFromPoint(x, y);
        // (Covered by something moving: judged when it rests, too.)
        if (hit && hit !== el && !el.contains(hit) && !hit.contains(el) && !moving.some((m) => m.contains(hit))) {
          const key = `${name(el)}<${name(hit)}`;
          if (!seen.has(key)) {
            seen.add(key);
            problems.push(`"${t.textContent.trim().slice(0, 20)}" (${name(el)}) covered by ${name(hit)}`);
          }
          break;
        }
      }
    }
  }
  // Text drawn in the charts: inside the chart's canvas (an axis label
  // beyond the left edge reads "5,000" for 35,000), and large enough.
  if (window.echarts) {
    for (const el of document.querySelectorAll('.chart, [id$="-chart"]')) {
      const c = echarts.getInstanceByDom(el);
      if (!c) continue;
      const zr = c.getZr();
      const [w, h] = [zr.getWidth(), zr.getHeight()];
      const owner = (el.closest('.panel') || el).id;
      const boxes = [];
      // A word cloud packs words by their glyphs' pixels, closer than their boxes
      // (declared before the list is walked: both checks below use it).
      const cloud = ((c.getOption() || {}).series || []).some((x) => x.type === 'wordCloud');
      for (const d of zr.storage.getDisplayList()) {
        if ((d.type !== 'tspan' && d.type !== 'text') || d.ignore || d.invisible || !d.style || !String(d.style.text || '').trim()) continue;
        const b = d.getBoundingRect().clone();
        const m = d.getComputedTransform ? d.getComputedTransform() : d.transform;
        if (m) b.applyTransform(m);
        // Texts of a chart that overlap one another (labels drawn over labels).
        const hit = !cloud && boxes.find((o) => Math.min(o.x + o.width, b.x + b.width) - Math.max(o.x, b.x) > 2
          && Math.min(o.y + o.height, b.y + b.height) - Math.max(o.y, b.y) > 2);
        if (hit && !seen.has(`o${owner}`)) {
          seen.add(`o${owner}`);
          problems.push(`${owner}: "${String(d.style.text).slice(0, 20)}" drawn over "${String(hit.text).slice(0, 20)}"`);
        }
        boxes.push({ x: b.x, y: b.y, width: b.width, height: b.height, text: d.style.text });
        // (A word cloud keeps its glyphs' pixels inside, drawOutOfBound: false;
        // its boxes, taller than the glyphs, may touch the edge.)
        if (!cloud && (b.x < -1 || b.y < -1 || b.x + b.width > w + 1 || b.y + b.height > h + 1)) {
          problems.push(`${owner}: "${String(d.style.text).slice(0, 20)}" is cut at the chart's edge`);
        }
        const size = parseFloat(d.style.fontSize || (/(\d+(\.\d+)?)px/.exec(d.style.font || '') || [])[1] || '0');
        if (size && size * scale < minFontPx && !seen.has(`c${owner}`)) {
          seen.add(`c${owner}`);
          problems.push(`${owner}: chart text "${String(d.style.text).slice(0, 20)}" at ${(size * scale).toFixed(1)}px`);
        }
      }
    }
  }
  return problems;
}

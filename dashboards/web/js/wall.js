// The wall screen. One SSE connection to /api/v1/live: `panels` carries
// the data of every panel of every dashboard (computed once per tick by the
// server for all screens), `item` the newest items for the ticker, `alert`
// the banner, `incident` an incident that grew. No polling. The 1920×1080 canvas is scaled to the display.
// A bureau's or a station's wall: `/wall/<name>?district=邯山区` (or
// `?unit=…`) asks the stream and the alerts for that place only, and the
// server computes the panels for it (within the token's scope).
'use strict';

(() => {
  const { url, getJSON, params, SENTIMENT_COLORS, PALETTE, pct, fmt, esc, local, pad } = MINYI;
  const stage = document.getElementById('stage');
  const panelsEl = document.getElementById('panels');
  const W = 1920;
  const H = 1080;

  let meta = null;
  let dashboards = [];
  let current = null; // the dashboard shown
  let lastData = null; // the last `panels` event
  let lastTick = 0;
  // While the server loads history (the demo's first start): up to when
  // (RFC 3339); null otherwise.
  let loadingUntil = null;
  let scale = 1;
  const charts = new Map(); // panel id → echarts instance
  const names = { channel: {}, topic: {} };
  // The place of this screen, passed on to the stream and the alerts.
  const place = [['district', params.get('district')], ['unit', params.get('unit')]].filter(([, v]) => v);

  /** Which place the wall shows: the URL's, the dashboard's, the token's. */
  function placeLabel(dashboard) {
    if (place.length) return place.map(([, v]) => v).join('·');
    const scoped = (s) => s && [...(s.districts || []), ...(s.units || [])].join('、');
    return scoped(dashboard.scope) || scoped(meta && meta.scope) || '';
  }

  // --- scaling: fit, letterbox, keep canvases sharp -----------------------
  function fit() {
    scale = Math.min(window.innerWidth / W, window.innerHeight / H);
    const x = (window.innerWidth - W * scale) / 2;
    const y = (window.innerHeight - H * scale) / 2;
    stage.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  }

  function chart(id, el) {
    let c = charts.get(id);
    if (!c) {
      // Render at the device's pixel density times the canvas scale, so a
      // scaled-up wall stays sharp.
      c = echarts.init(el, null, { devicePixelRatio: (window.devicePixelRatio || 1) * Math.max(scale, 1) });
      charts.set(id, c);
    }
    return c;
  }

  function resetCharts() {
    for (const c of charts.values()) c.dispose();
    charts.clear();
  }

  // --- layout -----------------------------------------------------------------
  function build(dashboard) {
    resetCharts();
    panelsEl.innerHTML = '';
    const where = placeLabel(dashboard);
    document.getElementById('title').textContent = dashboard.title;
    document.getElementById('subtitle').textContent = where || dashboard.subtitle || '';
    document.body.dataset.place = where;
    document.title = `${where ? `${where} · ` : ''}${dashboard.title} · 大屏`;
    for (const p of dashboard.panels) {
      const l = p.layout || {};
      if (!l.w || !l.h) continue; // data-only panels (e.g. part of the KPI row)
      const el = document.createElement('section');
      el.className = `panel panel-${p.type}`;
      el.id = `panel-${p.id}`;
      el.dataset.type = p.type;
      Object.assign(el.style, { left: `${l.x}px`, top: `${l.y}px`, width: `${l.w}px`, height: `${l.h}px` });
      // The note (top right) says what a panel leaves out or how far its
      // last bucket goes; the body holds the chart.
      el.innerHTML = `<h2>${esc(p.title)}</h2><small class="note"></small><div class="body"></div>`;
      panelsEl.appendChild(el);
    }
  }

  function show(name) {
    current = dashboards.find((d) => d.name === name) || dashboards[0];
    build(current);
    if (lastData) render(lastData);
  }

  // --- renderers ----------------------------------------------------------------
  function setDigits(el, text) {
    const old = el.dataset.text || '';
    if (old === text) return;
    el.dataset.text = text;
    const spans = Array.from(text).map((ch, i) => {
      const changed = old[i] !== ch;
      return `<span class="digit${changed ? ' flip' : ''}">${esc(ch)}</span>`;
    });
    el.innerHTML = spans.join('');
    setTimeout(() => el.querySelectorAll('.flip').forEach((d) => d.classList.remove('flip')), 40);
  }

  // "vs the same window one period earlier", from the panel's query.
  function compareLabel(q) {
    if (q.compare_by) return q.compare_by === '1d' ? '较昨日' : `较${q.compare_by}前`;
    return { today: '较昨日', yesterday: '较前日', '1h': '较前1小时', '24h': '较前24小时', '7d': '较前7日', '30d': '较前30日' }[q.range] || '较上期';
  }

  function delta(cur, prev, rate, vs) {
    if (cur === null || cur === undefined || prev === null || prev === undefined) return ['', `${vs} —`];
    const d = rate ? (cur - prev) * 100 : cur - prev;
    const cls = d > 0 ? 'up' : d < 0 ? 'down' : '';
    const arrow = d > 0 ? '▲' : d < 0 ? '▼' : '—';
    const v = rate ? `${Math.abs(d).toFixed(1)}个百分点` : fmt(Math.abs(d));
    return [cls, `${vs} ${arrow} ${v}`];
  }

  const RATES = new Set(['satisfaction_rate', 'completion_rate', 'dissatisfied_resolved_rate']);

  // The KPI row: each tile (options.tiles) is one field of one panel's
  // data — the row's own (today's counts) or a data-only panel with the
  // window that fits the figure (近30日 rates, orders due in it, the
  // backlog) — with its window on the tile and the change against the
  // same window one period earlier.
  function renderKpi(p, data, body, all) {
    const tiles = (p.options && p.options.tiles) || [];
    if (!body.querySelector('.kpis')) {
      body.innerHTML = `<div class="kpis">${tiles.map(() => '<div class="kpi"><div class="label"><span class="name"></span><span class="window"></span></div><div class="value"></div><div class="delta"></div></div>').join('')}</div>`;
    }
    const els = body.querySelectorAll('.kpi');
    let any = false;
    tiles.forEach((t, i) => {
      const src = t.panel ? all[t.panel] : data;
      const def = t.panel ? current.panels.find((q) => q.id === t.panel) : p;
      const ok = src && !src.error;
      const cur = ok ? (src.current || src) : {};
      const prev = ok ? src.previous : null;
      const rate = RATES.has(t.field);
      const v = cur[t.field];
      any = any || (v !== undefined && v !== null);
      const [cls, text] = delta(v, prev && prev[t.field], rate, def ? compareLabel(def.query) : '较上期');
      const el = els[i];
      el.dataset.field = t.field;
      el.querySelector('.name').textContent = t.label;
      el.querySelector('.window').textContent = t.window || '';
      setDigits(el.querySelector('.value'), rate ? pct(v) : fmt(v));
      const d = el.querySelector('.delta');
      // While history loads, today is partial: no change is told.
      d.className = loadingUntil ? 'delta' : `delta ${cls}`;
      d.textContent = loadingUntil ? '历史数据载入中' : prev ? text : '';
      el.classList.toggle('warn', !!t.warn && v > 0);
    });
    return any;
  }

  const axisStyle = {
    axisLine: { lineStyle: { color: '#3b5b85' } },
    axisLabel: { color: '#9fb7d6', fontSize: 18 },
    splitLine: { lineStyle: { color: 'rgba(59, 91, 133, 0.35)' } },
  };

  function panelNote(body, text) {
    const note = body.parentElement.querySelector('.note');
    if (note && note.textContent !== text) note.textContent = text;
  }

  const INTERVAL_SECONDS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86400 };

  // Values move in place: every series has a stable id (its key), so a
  // tick updates the drawn series instead of recreating them (which
  // replayed the entry animation every tick). The last bucket, when the
  // tick falls inside it, is partial: drawn as a dashed segment and
  // labelled 截至 HH:MM. The unknown district (key "") is no series of a
  // district chart; the note gives its count.
  function renderLine(p, data, body, all, at) {
    let el = body.querySelector('.chart');
    if (!el) { body.innerHTML = '<div class="chart"></div>'; el = body.querySelector('.chart'); }
    const fresh = !charts.has(p.id);
    const c = chart(p.id, el);
    const hourly = data.interval !== '1d';
    const n = data.buckets.length;
    const width = INTERVAL_SECONDS[data.interval] || 3600;
    const lastStart = n ? new Date(data.buckets[n - 1]).getTime() : 0;
    const partial = n > 1 && at && lastStart + width * 1000 > new Date(at).getTime();
    const asOf = partial ? MINYI.clock(at).slice(0, 5) : '';
    const labels = data.buckets.map((b, i) => {
      const d = MINYI.local(b);
      const label = hourly ? `${MINYI.pad(d.hours)}:${MINYI.pad(d.minutes)}` : `${d.month}/${d.day}`;
      return i === n - 1 && partial ? (hourly ? `截至${asOf}` : `${label}\n截至${asOf}`) : label;
    });
    const placeless = data.group_by === 'district' || data.group_by === 'unit';
    const unknown = placeless ? data.series.filter((s) => s.key === '') : [];
    const unknownCount = unknown.reduce((a, s) => a + s.data.reduce((x, y) => x + y, 0), 0);
    panelNote(body, unknownCount > 0 ? `未识别地区 ${fmt(unknownCount)} 条未计入` : '');
    const shown = data.series.filter((s) => !(placeless && s.key === '')).slice(0, 8);
    const series = [];
    shown.forEach((s, i) => {
      const color = SENTIMENT_COLORS[s.key] || PALETTE[i % PALETTE.length];
      const style = { lineStyle: { width: 3, color }, itemStyle: { color } };
      series.push({
        id: `s:${s.key}`, name: s.name, type: 'line', smooth: true, symbol: 'none', ...style,
        data: partial ? s.data.map((v, j) => (j === n - 1 ? '-' : v)) : s.data,
        areaStyle: { opacity: 0.18, color },
      });
      // The partial last segment, dashed (empty when the last bucket is whole).
      series.push({
        id: `p:${s.key}`, name: s.name, type: 'line', smooth: true, symbol: 'none', ...style,
        lineStyle: { width: 3, color, type: 'dashed' },
        data: s.data.map((v, j) => (partial && j >= n - 2 ? v : '-')),
        areaStyle: { opacity: 0.07, color },
      });
    });
    // Show as many x labels as fit, always the last one.
    const fit = Math.max(2, Math.floor(((p.layout && p.layout.w) || 600) / 130));
    const every = Math.max(1, Math.ceil(n / fit));
    c.setOption({
      // A tick's new values move in place within 300 ms; a series that joins
      // later (a district entering the first eight) appears without an
      // entry animation: only the first drawing grows in.
      animationDuration: fresh ? 600 : 0, animationDurationUpdate: 300,
      grid: { left: 8, right: 24, top: 40, bottom: 8, containLabel: true },
      legend: { top: 0, right: 0, textStyle: { color: '#cfe0f5', fontSize: 18 }, itemWidth: 18, data: shown.map((s) => s.name) },
      tooltip: { trigger: 'axis' },
      xAxis: {
        type: 'category', data: labels, boundaryGap: false, ...axisStyle,
        // The first and last labels stay inside the chart (截至 HH:MM is wide).
        axisLabel: {
          ...axisStyle.axisLabel, interval: (i) => (n - 1 - i) % every === 0, lineHeight: 20,
          showMaxLabel: true, alignMaxLabel: 'right',
        },
      },
      yAxis: { type: 'value', minInterval: 1, ...axisStyle },
      series,
    }, { replaceMerge: ['series'] });
    el.dataset.partial = partial ? asOf : '';
    return shown.some((s) => s.data.some((v) => v > 0));
  }

  function renderBar(p, data, body) {
    let el = body.querySelector('.chart');
    if (!el) { body.innerHTML = '<div class="chart"></div>'; el = body.querySelector('.chart'); }
    const c = chart(p.id, el);
    const rows = data.rows.slice().reverse();
    c.setOption({
      animationDuration: 600, animationDurationUpdate: 300,
      grid: { left: 4, right: 60, top: 0, bottom: 0, containLabel: true },
      // The longest bar spans the width: with a rounded maximum every bar
      // jumped shorter when the largest count passed a round number (a 4K
      // wall saw 7.5 % of the panel redrawn at such a tick).
      xAxis: { type: 'value', show: false, max: 'dataMax' },
      yAxis: { type: 'category', data: rows.map((r) => r.name), ...axisStyle, axisLabel: { color: '#cfe0f5', fontSize: 15, interval: 0 } },
      series: [{
        type: 'bar', barWidth: '62%', data: rows.map((r) => r.count),
        label: { show: true, position: 'right', color: '#fff', fontSize: 15 },
        itemStyle: {
          borderRadius: [0, 6, 6, 0],
          color: new echarts.graphic.LinearGradient(0, 0, 1, 0, [{ offset: 0, color: '#1673ff' }, { offset: 1, color: '#36c5ff' }]),
        },
      }],
    });
    return data.rows.length > 0;
  }

  // A ranking. A topic ranking counts items with text: options.rating_only
  // names the same ranking of the items that are a rating alone (no text,
  // has_text=false, computed at the same tick), which is taken out of each
  // topic and shown as its own line, 仅评价, below the ranking.
  function renderRank(p, data, body, all) {
    const only = p.options && p.options.rating_only && all[p.options.rating_only];
    const apart = only && !only.error ? new Map(only.rows.map((r) => [r.key, r])) : null;
    const rows = !apart ? data.rows : data.rows
      .map((r) => {
        const o = apart.get(r.key) || { count: 0, negative: 0 };
        return { ...r, count: r.count - o.count, negative: Math.max(0, r.negative - o.negative) };
      })
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
    const onlyCount = apart ? only.rows.reduce((a, r) => a + r.count, 0) : null;
    const max = Math.max(1, ...rows.map((r) => r.count));
    // The 仅评价 line is a row and its rule (7 px) more.
    const fits = Math.max(3, Math.floor((((p.layout && p.layout.h) || 370) - 70 - (apart ? 7 : 0)) / 38) - (apart ? 1 : 0));
    if (rows.length === 0 && !onlyCount) {
      body.innerHTML = '<div class="empty">本时段暂无诉求</div>';
      return false;
    }
    body.innerHTML = `<ol class="rank">${rows.slice(0, fits).map((r, i) => `
      <li><span class="no">${i + 1}</span><span>${esc(r.name)}</span>
      <span class="bar"><i class="${r.negative * 2 > r.count ? 'neg' : ''}" style="width:${(100 * r.count / max).toFixed(1)}%"></i></span>
      <span class="n">${fmt(r.count)}</span></li>`).join('')}${apart ? `
      <li class="aside"><span class="no">—</span><span>仅评价</span><span class="hint">无文字，不分类别</span>
      <span class="n">${fmt(onlyCount)}</span></li>` : ''}</ol>`;
    return rows.length > 0;
  }

  // A league table (排名通报): places by a rate (满意率 …), each with its
  // move against the previous period (▲ up, ▼ down); values standing on
  // too few rated items follow, unranked, as 样本不足.
  function renderLeague(p, data, body) {
    const rows = data.rows || [];
    const fits = Math.max(3, Math.floor((((p.layout && p.layout.h) || 370) - 70) / 38));
    const pct = (v) => (v == null ? '—' : `${(v * 100).toFixed(1)}%`);
    const move = (r) => {
      if (!r.ranked) return '<span class="move">样本不足</span>';
      if (r.rank_change == null) return '<span class="move">新</span>';
      if (r.rank_change > 0) return `<span class="move up">▲${r.rank_change}</span>`;
      if (r.rank_change < 0) return `<span class="move down">▼${-r.rank_change}</span>`;
      return '<span class="move">—</span>';
    };
    body.innerHTML = `<ol class="rank league">${rows.slice(0, fits).map((r) => `
      <li class="${r.ranked ? '' : 'unranked'}"><span class="no">${r.rank || '·'}</span><span>${esc(r.name)}</span>
      <span class="n">${pct(r.value)}</span>${move(r)}</li>`).join('')}</ol>`;
    return rows.length > 0;
  }

  // Handan's divisions placed roughly as on a map (column, row); other
  // places fill the grid in order.
  const TILE_POS = {
    '武安市': [1, 0], '永年区': [2, 0], '鸡泽县': [3, 0], '曲周县': [4, 0], '邱县': [5, 0],
    '涉县': [0, 1], '复兴区': [2, 1], '丛台区': [3, 1], '肥乡区': [4, 1], '广平县': [5, 1], '馆陶县': [6, 1],
    '峰峰矿区': [1, 2], '邯山区': [3, 2], '成安县': [4, 2], '大名县': [6, 2],
    '磁县': [2, 3], '临漳县': [3, 3], '魏县': [5, 3],
  };

  function heat(x) {
    // 0 → deep blue, 0.5 → amber, 1 → red
    const stops = [[15, 58, 102], [245, 165, 36], [224, 36, 36]];
    const t = Math.max(0, Math.min(1, x));
    const [a, b, f] = t < 0.5 ? [stops[0], stops[1], t * 2] : [stops[1], stops[2], (t - 0.5) * 2];
    return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * f)).join(',')})`;
  }

  // A real map when the centre configured one (dashboards/geo/<name>.json,
  // listed in meta.geo and named by the panel's options.geo); tiles else.
  const geoState = {}; // name → 'loading' | 'ready' | 'failed'

  function geoReady(name) {
    if (!name || !(meta.geo || []).includes(name)) return false;
    if (!geoState[name]) {
      geoState[name] = 'loading';
      getJSON(`/geo/${encodeURIComponent(name)}.json`)
        .then((g) => { echarts.registerMap(name, g); geoState[name] = 'ready'; if (lastData) render(lastData); })
        .catch((e) => { geoState[name] = 'failed'; console.warn(`map ${name}:`, e.message); });
    }
    return geoState[name] === 'ready';
  }

  function renderMap(p, data, body, byShare) {
    let el = body.querySelector('.chart');
    if (!el) { body.innerHTML = '<div class="chart"></div>'; el = body.querySelector('.chart'); }
    body.dataset.mode = 'map';
    const c = chart(p.id, el);
    const value = (r) => (byShare ? (r.count ? Math.round((100 * r.negative) / r.count) : 0) : r.count);
    const rows = data.rows.map((r) => ({ name: r.key, value: value(r), count: r.count, negative: r.negative }));
    c.setOption({
      tooltip: { formatter: (x) => `${x.name}<br>诉求 ${fmt(x.data ? x.data.count : 0)}，负面 ${fmt(x.data ? x.data.negative : 0)}` },
      visualMap: {
        min: 0, max: Math.max(1, ...rows.map((r) => r.value)), left: 8, bottom: 8, calculable: false,
        text: [byShare ? '负面占比高' : '多', byShare ? '低' : '少'], textStyle: { color: '#9fb7d6', fontSize: 16 },
        inRange: { color: ['#0f3a66', '#f5a524', '#e02424'] },
      },
      series: [{
        type: 'map', map: p.options.geo, roam: false, data: rows,
        label: { show: true, color: '#fff', fontSize: 15, textShadowColor: '#000', textShadowBlur: 3 },
        itemStyle: { borderColor: '#36c5ff', borderWidth: 1, areaColor: '#0f3a66' },
        emphasis: { label: { color: '#fff' }, itemStyle: { areaColor: '#36c5ff' } },
      }],
    });
    return data.rows.length > 0;
  }

  // The unknown district is no tile (the store ranks known places only):
  // the note gives its count, the total (options.total: a summary panel of
  // the same range) less the districts' counts.
  function unknownPlaces(p, data, body, all) {
    const total = p.options && p.options.total && all[p.options.total];
    let text = '';
    // Only when the ranking holds every district (no row was cut by the limit).
    const whole = data.rows.length < (p.query.limit || 10) || data.rows.length >= (meta.districts || []).length;
    if (total && !total.error && whole) {
      const n = (total.current || total).received - data.rows.reduce((a, r) => a + r.count, 0);
      if (n > 0) text = `未识别地区 ${fmt(n)} 条未计入`;
    }
    panelNote(body, text);
  }

  function renderTiles(p, data, body, all) {
    unknownPlaces(p, data, body, all);
    const byShare = p.options && p.options.color_by === 'negative_share';
    if (p.options && geoReady(p.options.geo)) return renderMap(p, data, body, byShare);
    body.dataset.mode = 'tiles';
    const counts = new Map(data.rows.map((r) => [r.key, r]));
    const districts = (meta.districts || []).slice();
    let next = 0;
    const pos = districts.map((d) => {
      if (TILE_POS[d]) return [d, TILE_POS[d]];
      const at = [next % 7, 4 + Math.floor(next / 7)];
      next += 1;
      return [d, at];
    });
    const cols = 7;
    const rows = Math.max(...pos.map(([, [, r]]) => r)) + 1;
    const rect = body.getBoundingClientRect();
    const bw = (rect.width / scale) || (p.layout.w - 36);
    const bh = ((rect.height / scale) || (p.layout.h - 66)) - 22;
    const tw = bw / cols;
    const th = bh / rows;
    const max = Math.max(1, ...data.rows.map((r) => r.count));
    body.innerHTML = `<div class="tiles">${pos.map(([d, [c, r]]) => {
      const row = counts.get(d) || { count: 0, negative: 0 };
      const share = row.count ? row.negative / row.count : 0;
      const level = byShare ? share : row.count / max;
      const sub = byShare ? `负面 ${(share * 100).toFixed(0)}%` : `负面 ${fmt(row.negative)}`;
      return `<div class="tile" style="left:${c * tw + 3}px;top:${r * th + 3}px;width:${tw - 6}px;height:${th - 6}px;background:${heat(level)}">
        <span>${esc(d)}</span><b>${fmt(row.count)}</b><small>${sub}</small></div>`;
    }).join('')}<div class="legend">${byShare ? '负面占比' : '诉求量'} 低 <i></i> 高</div></div>`;
    return data.rows.length > 0;
  }

  // A word cloud keeps its layout: it is laid out again only when its
  // words changed materially (a fifth of them came or went, or an emerging
  // mark) and at most once a minute; in between, ticks leave it as it is.
  // An empty cloud fills at once (a new day's first words, a fresh wall).
  const RELAYOUT_MS = 60000;
  const clouds = new Map(); // panel id → { words: Set, marks: string, at: ms, layouts: n }

  /** Whether a cloud laid out with `last` ({words, marks, at}) is laid
   *  out again for `words` and `marks` at `now`. */
  function cloudChanged(last, words, marks, now) {
    if (last.words.size === 0) return words.size > 0;
    const gone = [...last.words].filter((w) => !words.has(w)).length;
    const added = [...words].filter((w) => !last.words.has(w)).length;
    const changed = (gone + added) * 5 >= Math.max(last.words.size, words.size) || marks !== last.marks;
    return changed && now - last.at >= RELAYOUT_MS;
  }
  // For the browser test.
  window.minyiWall = { cloudChanged };

  // The colours of emerging terms in a word cloud, and their names.
  const MARK_COLORS = { 新: '#ffb547', 升: '#ffe45c' };
  const MARK_NAMES = { 新: '橙色：新出现', 升: '黄色：上升' };

  function renderWords(p, data, body) {
    const marks = emergingTerms();
    let el = body.querySelector('.chart');
    if (!el) { body.innerHTML = '<div class="chart"></div>'; el = body.querySelector('.chart'); }
    const fresh = !charts.has(p.id);
    const c = chart(p.id, el);
    const words = new Set(data.rows.map((r) => r.key));
    const markKey = data.rows.map((r) => marks.get(r.key) || '').join('');
    const last = fresh ? null : clouds.get(p.id);
    if (last && !cloudChanged(last, words, markKey, Date.now())) return data.rows.length > 0;
    const layouts = (last ? last.layouts : 0) + 1;
    clouds.set(p.id, { words, marks: markKey, at: Date.now(), layouts });
    el.dataset.layouts = String(layouts);
    el.dataset.layoutAt = String(Date.now());
    const shown = new Set(data.rows.map((r) => marks.get(r.key)).filter(Boolean));
    panelNote(body, ['新', '升'].filter((m) => shown.has(m)).map((m) => MARK_NAMES[m]).join('　'));
    c.setOption({
      series: [{
        type: 'wordCloud', shape: 'circle', left: 'center', top: 'center', width: '98%', height: '96%',
        sizeRange: [18, 62], rotationRange: [0, 0], gridSize: 8, drawOutOfBound: false, layoutAnimation: false,
        textStyle: {
          fontWeight: 600,
          color: (w) => MARK_COLORS[w.data.mark]
            || (w.data.negative * 2 > w.data.value ? '#ff7a7a' : PALETTE[w.dataIndex % PALETTE.length]),
        },
        // Emerging terms (alerts of emerging rules) by colour: 新 new, 升
        // rising, named in the panel's note. (A mark written after the word,
        // 烧烤摊↑, was laid out narrower than drawn and overlapped its
        // neighbours.)
        data: data.rows.map((r) => ({ name: r.name, value: r.count, negative: r.negative, mark: marks.get(r.key) })),
      }],
    });
    return data.rows.length > 0;
  }

  const TICKER_MAX = 14;

  /** A time on the centre's clock: whether it is of today, its day (M月D日)
   *  and its HH:MM. */
  function wallDay(iso) {
    const d = local(iso);
    const now = local(MINYI.iso(Date.now()));
    return {
      today: d.year === now.year && d.month === now.month && d.day === now.day,
      day: `${d.month}月${d.day}日`,
      hm: `${pad(d.hours)}:${pad(d.minutes)}`,
    };
  }

  // An item of an earlier day (history being loaded, a late arrival) says
  // which day: a bare time would read as today's.
  function tickerTime(at) {
    const d = wallDay(at);
    return d.today ? `<span class="t">${MINYI.clock(at)}</span>` : `<span class="t day">${d.day}<br>${d.hm}</span>`;
  }

  function tickerLine(it) {
    const color = SENTIMENT_COLORS[it.sentiment] || '#888';
    // A rating without words is 仅评价, as the topic ranking counts it, not 其他.
    const rated = !it.text && it.rating && (it.topics || []).every((t) => t === 'other');
    const topics = rated ? '仅评价' : (it.topic_names || it.topics || []).slice(0, 1).join('');
    const text = it.text || (it.rating ? ['', '满意', '基本满意', '不满意'][it.rating] : '');
    return `<li data-id="${esc(it.id)}"><span class="s" style="background:${color}"></span>
      ${tickerTime(it.received_at)}
      <span class="c">${esc(it.channel_name || names.channel[it.channel] || it.channel)}</span>
      <span class="x">${topics ? `<em>${esc(names.topic[topics] || topics)}</em>` : ''}${esc(text)}</span></li>`;
  }

  function renderTicker(p, data, body) {
    if (!body.querySelector('.ticker')) {
      // Whole lines only (46 px each) in the panel's body.
      const lines = Math.max(2, Math.floor((((p.layout && p.layout.h) || 392) - 66) / 46));
      body.innerHTML = `<div class="ticker" style="height:${lines * 46}px"><ul>${data.items.slice(0, TICKER_MAX).map(tickerLine).join('')}</ul></div>`;
    }
    return body.querySelectorAll('li').length > 0;
  }

  function pushTicker(item) {
    for (const ul of panelsEl.querySelectorAll('.panel-ticker ul')) {
      ul.insertAdjacentHTML('afterbegin', tickerLine(item));
      while (ul.children.length > TICKER_MAX) ul.lastElementChild.remove();
      ul.closest('.panel').dataset.ready = '1';
    }
  }

  // 热点事件: the largest incidents (one event reported by many, across
  // channels), each with its count, what a citizen wrote, where, through
  // how many channels and over how long. An `incident` event between
  // ticks updates a shown incident's count and marks it as growing.
  function incidentLine(i) {
    const hours = Math.max(0, (Date.parse(i.last_at) - Date.parse(i.first_at)) / 3600000);
    const span = hours < 1 ? `${Math.max(1, Math.round(hours * 60))}分钟` : `${Math.round(hours)}小时`;
    const where = i.unit || i.district || '';
    // How long it has run (first to last item) and when it last grew: "3小时"
    // alone read as "3 hours ago".
    const last = wallDay(i.last_at);
    const lastAt = `${last.today ? '' : last.day}${last.hm}`;
    // A wave of thanks (a 锦旗 for one deed, told by many) is an event too,
    // but no trouble: green and named 表扬, not read as a hot spot.
    const kind = praiseOnly(i) ? 'praise' : (i.negative * 2 > i.count ? 'neg' : '');
    return `<li data-id="${esc(i.id)}" class="${kind}">
      <span class="n">${fmt(i.count)}</span>
      <span class="x">${esc(i.title || '（无文字）')}</span>
      <span class="m">${kind === 'praise' ? '<b class="praise-tag">表扬</b> · ' : ''}${esc(where)}${where ? ' · ' : ''}${i.channels.length}渠道 · 历时${span} · 最近${lastAt}</span></li>`;
  }

  /** An incident of thanks alone: tagged 表扬 and not one negative report. */
  function praiseOnly(i) {
    return i.negative === 0 && (i.topics || []).includes('praise');
  }

  function renderIncidents(p, data, body) {
    const list = data.incidents || [];
    const fits = Math.max(1, Math.floor((((p.layout && p.layout.h) || 222) - 66) / 52));
    panelNote(body, '近24小时 · 条数');
    body.innerHTML = list.length
      ? `<ol class="incidents">${list.slice(0, fits).map(incidentLine).join('')}</ol>`
      : '<div class="empty">近24小时无多条诉求指向同一事件</div>';
    return true;
  }

  function incidentGrew(i) {
    for (const li of panelsEl.querySelectorAll(`.panel-incidents li[data-id="${CSS.escape(i.id)}"]`)) {
      li.querySelector('.n').textContent = fmt(i.count);
      li.classList.remove('grew');
      void li.offsetWidth; // restart the animation
      li.classList.add('grew');
    }
  }

  // 超期未化解 by unit (督办台账): the units with the most overdue open
  // cases (panel query: kind supervision, status overdue), each with its
  // cases answered 不满意 again (升级). Counts only: a case's text is for
  // analysts (/supervision), never for the wall.
  function renderOverdue(p, data, body) {
    const units = (data.by_unit || []).filter((u) => u.count > 0);
    const fits = Math.max(3, Math.floor((((p.layout && p.layout.h) || 370) - 70) / 38));
    const max = Math.max(1, ...units.map((u) => u.count));
    // A store that read only the newest cases says since when it counts:
    // the oldest overdue cases may be among those left out.
    const from = data.since && MINYI.local(data.since);
    const since = from ? ` · 仅计${from.month}月${from.day}日以来` : '';
    // Not the KPI row's 超期工单 (the orders dispatched in 30 days): the
    // dissatisfied cases of any time, at any stage — say so beside it.
    panelNote(body, `共${fmt(data.total || 0)}件${since || ' · 不限派单时间'} · 各单位件数`);
    body.innerHTML = units.length
      ? `<ol class="rank overdue">${units.slice(0, fits).map((u, i) => `
      <li><span class="no">${i + 1}</span><span>${esc(u.unit || '未识别单位')}</span>
      <span class="bar"><i class="neg" style="width:${(100 * u.count / max).toFixed(1)}%"></i></span>
      <span class="n">${fmt(u.count)}</span><span class="esc">${u.escalate ? `升级${fmt(u.escalate)}` : ''}</span></li>`).join('')}</ol>`
      : '<div class="empty">无超期未化解案件</div>';
    return true;
  }

  const RENDER = { kpi: renderKpi, line: renderLine, bar: renderBar, rank: renderRank, league: renderLeague, tilemap: renderTiles, wordcloud: renderWords, ticker: renderTicker, incidents: renderIncidents, overdue: renderOverdue };

  function render(event) {
    const all = event.dashboards[current.name] || {};
    for (const p of current.panels) {
      const el = document.getElementById(`panel-${p.id}`);
      if (!el) continue;
      const body = el.querySelector('.body');
      const data = all[p.id];
      if (!data) continue;
      if (data.error) {
        body.innerHTML = `<div class="err">${esc(data.error)}</div>`;
        continue;
      }
      const fn = RENDER[p.type];
      if (!fn) continue;
      try {
        const hasData = fn(p, data, body, all, event.at);
        el.dataset.ready = hasData ? '1' : (el.dataset.ready || '0');
      } catch (e) {
        console.warn(`panel ${p.id}:`, e);
      }
    }
  }

  // The subtitle's place in the header is the alert banner's while an alert
  // is up, and the loading note's (beside the clock) while history loads.
  function subtitleShown() {
    document.getElementById('subtitle').hidden = !document.getElementById('alert').hidden || !!loadingUntil;
  }

  // Today's figures and their comparisons are partial while history loads:
  // the header says up to when, and the KPI tiles tell no change.
  function showLoading(until) {
    loadingUntil = until;
    const el = document.getElementById('loading');
    el.hidden = !until;
    subtitleShown();
    if (until) {
      const d = wallDay(until);
      el.textContent = `历史数据载入中 已至${d.day} ${d.hm}`;
    }
  }

  // --- live connection ------------------------------------------------------------
  let source = null;
  let backoff = 1000;

  function connect() {
    const conn = document.getElementById('conn');
    source = new EventSource(url('/api/v1/live', place));
    source.addEventListener('hello', () => { backoff = 1000; conn.className = 'dot live'; loadAlerts(); });
    source.addEventListener('panels', (e) => {
      lastData = JSON.parse(e.data);
      lastTick = Date.now();
      showLoading(lastData.loading_until || null);
      render(lastData);
      // For tests and the soak: which tick the screen shows.
      document.body.dataset.ticks = String(Number(document.body.dataset.ticks || 0) + 1);
    });
    source.addEventListener('item', (e) => pushTicker(JSON.parse(e.data)));
    source.addEventListener('alert', (e) => showAlert(JSON.parse(e.data)));
    source.addEventListener('incident', (e) => incidentGrew(JSON.parse(e.data)));
    source.onerror = () => {
      // Reconnect ourselves with backoff (server restarts, network blips).
      conn.className = 'dot down';
      source.close();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  // --- alerts: the banner shows the newest firing alert nobody has
  // acknowledged; emerging terms are marked in the hot words.
  const alerts = new Map(); // id → alert
  const sound = params.get('sound') === '1';

  function beep() {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.25);
    } catch (_) { /* no audio device */ }
  }

  function showAlert(a) {
    const isNew = !alerts.has(a.id);
    if (a.status === 'firing') alerts.set(a.id, a); else alerts.delete(a.id);
    const shown = Array.from(alerts.values())
      .filter((x) => !x.acked_at && !x.silenced)
      .sort((x, y) => y.started_at - x.started_at);
    const el = document.getElementById('alert');
    el.hidden = shown.length === 0;
    subtitleShown();
    if (shown.length) {
      const top = shown[0];
      const mins = Math.round(top.window_seconds / 60);
      const what = top.detector === 'negative_share'
        ? `近${mins}分钟负面占比 ${(top.observed * 100).toFixed(0)}%`
        : `近${mins}分钟 ${top.observed} 条（常态 ${top.expected.toFixed(1)}）`;
      const text = `${top.title}：${what}${alertWhy(top)}${shown.length > 1 ? `　另有 ${shown.length - 1} 条预警` : ''}`;
      document.getElementById('alert-text').textContent = text;
      el.title = text;
      el.dataset.alert = top.id;
    }
    if (sound && isNew && a.status === 'firing') beep();
    if (lastData) render(lastData);
  }

  /** What an alert consists of, in a few words: its incident, the
   *  district (or unit) behind most of it. */
  function alertWhy(a) {
    const c = a.context;
    if (!c) return '';
    const parts = [];
    const inc = a.incident && c.incidents.find((i) => i.id === a.incident);
    if (inc) parts.push(`同一事件 ${inc.count} 条`);
    // The top place only when it stands for a good part of the rise: 1 of
    // 16 items would read as the reason when it is not.
    const top = c.districts[0] || c.units[0];
    const share = a.detector === 'negative_share' || top && top.count * 3 >= a.observed;
    if (top && top.count >= 2 && share) parts.push(`${top.name} ${top.count} 条`);
    return parts.length ? `（${parts.join('，')}）` : '';
  }

  function emergingTerms() {
    const terms = new Map();
    for (const a of alerts.values()) if (a.detector === 'emerging') terms.set(a.key, a.new ? '新' : '升');
    return terms;
  }

  async function loadAlerts() {
    try {
      const r = await getJSON('/api/v1/alerts', place);
      alerts.clear();
      for (const a of r.alerts) alerts.set(a.id, a);
      if (r.alerts.length) showAlert(r.alerts[0]);
    } catch (e) {
      console.warn('alerts:', e.message);
    }
  }

  function clock() {
    const now = MINYI.local(new Date().toISOString());
    document.getElementById('clock').textContent = MINYI.clock(new Date().toISOString());
    document.getElementById('date').textContent =
      `${now.year}年${now.month}月${now.day}日 星期${'日一二三四五六'[now.weekday]}`;
    // No tick for 10 s (or none at all 10 s after loading): say so.
    const quiet = lastTick ? Date.now() - lastTick : performance.now();
    document.getElementById('stale').hidden = quiet <= 10000;
  }

  function parseSeconds(s) {
    const m = /^(\d+)(s|m)?$/.exec(s || '');
    if (!m) return 0;
    return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
  }

  async function main() {
    fit();
    window.addEventListener('resize', () => { fit(); resetCharts(); if (lastData) { build(current); render(lastData); } });
    meta = await getJSON('/api/v1/meta');
    MINYI.setTimezone(meta.timezone);
    for (const c of meta.channels) names.channel[c.code] = c.name;
    for (const t of meta.topics) names.topic[t.code] = t.name;
    dashboards = meta.dashboards;
    const m = /^\/wall\/([^/]+)/.exec(location.pathname);
    show(m ? decodeURIComponent(m[1]) : 'wall');
    connect();
    clock();
    setInterval(clock, 1000);
    const rotate = parseSeconds(params.get('rotate'));
    if (rotate > 0 && dashboards.length > 1) {
      setInterval(() => {
        const i = dashboards.indexOf(current);
        show(dashboards[(i + 1) % dashboards.length].name);
      }, rotate * 1000);
    }
    // A kiosk runs for weeks: start afresh once a day.
    setTimeout(() => location.reload(), 24 * 3600 * 1000);
  }

  main().catch((e) => {
    console.error(e);
    panelsEl.innerHTML = `<div class="panel" style="left:40px;top:140px;width:900px;height:120px"><div class="err">无法加载: ${esc(e.message)}</div></div>`;
  });
})();

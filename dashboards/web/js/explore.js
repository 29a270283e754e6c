// The analyst's explorer: every view is a query of the API (summary,
// timeseries, top, feedback), built from the controls; clicking a point or
// a bar narrows the item list to it; CSV export uses the same filters.
'use strict';

(() => {
  const { getJSON, url, SENTIMENT_COLORS, SENTIMENT_NAMES, PALETTE, pct, fmt, esc } = MINYI;
  const $ = (id) => document.getElementById(id);
  const FILTERS = ['channel', 'topic', 'district', 'unit', 'sentiment', 'rating'];
  const INTERVAL_SECONDS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86400 };
  let meta = null;
  const names = { channel: {}, topic: {}, sentiment: SENTIMENT_NAMES, rating: { 1: '满意', 2: '基本满意', 3: '不满意' } };
  let tsChart = null;
  let topChart = null;
  let lastSeries = null; // for drill-down from a point
  let lastTop = null;
  let drill = null; // extra pairs of the item list
  let cursor = null;

  function selected(id) {
    return Array.from($(id).selectedOptions).map((o) => o.value);
  }

  /** The query pairs of the controls (without interval/group_by/dim). */
  function filterPairs() {
    const pairs = [['from', MINYI.fromInput($('from').value)], ['to', MINYI.fromInput($('to').value)]];
    for (const f of FILTERS) for (const v of selected(`f-${f}`)) pairs.push([f, v]);
    const q = $('q').value.trim();
    if (q) pairs.push(['q', q]);
    return pairs;
  }

  function previousPairs(pairs) {
    const from = new Date(pairs.find(([k]) => k === 'from')[1]).getTime();
    const to = new Date(pairs.find(([k]) => k === 'to')[1]).getTime();
    const span = to - from;
    return pairs.map(([k, v]) => {
      if (k === 'from') return [k, new Date(from - span).toISOString()];
      if (k === 'to') return [k, new Date(to - span).toISOString()];
      return [k, v];
    });
  }

  function showError(e) {
    $('error').hidden = false;
    $('error').textContent = `查询失败：${e.message}`;
  }

  function deltaText(cur, prev, rate) {
    if (prev === undefined || prev === null || cur === null || cur === undefined) return ['', ''];
    const d = rate ? (cur - prev) * 100 : cur - prev;
    const cls = d > 0 ? 'up' : d < 0 ? 'down' : '';
    return [cls, `较上期 ${d > 0 ? '+' : ''}${rate ? `${d.toFixed(1)}个百分点` : fmt(d)}`];
  }

  function renderKpis(cur, prev) {
    const tiles = [
      ['受理量', fmt(cur.received), deltaText(cur.received, prev && prev.received, false)],
      ['负面', fmt(cur.negative), deltaText(cur.negative, prev && prev.negative, false)],
      ['满意率', pct(cur.satisfaction_rate), deltaText(cur.satisfaction_rate, prev && prev.satisfaction_rate, true)],
      ['办结率', pct(cur.completion_rate), deltaText(cur.completion_rate, prev && prev.completion_rate, true)],
      ['不满意化解率', pct(cur.dissatisfied_resolved_rate), deltaText(cur.dissatisfied_resolved_rate, prev && prev.dissatisfied_resolved_rate, true)],
      ['超期工单', fmt(cur.overdue), deltaText(cur.overdue, prev && prev.overdue, false)],
    ];
    $('kpis').innerHTML = tiles.map(([l, v, [cls, d]]) =>
      `<div class="kpi"><div class="l">${l}</div><div class="v">${v}</div><div class="d ${cls}">${d}</div></div>`).join('');
  }

  function label(iso, interval) {
    const d = MINYI.local(iso);
    const hm = `${MINYI.pad(d.hours)}:${MINYI.pad(d.minutes)}`;
    return interval === '1d' ? `${d.month}/${d.day}` : `${d.month}/${d.day} ${hm}`;
  }

  function renderSeries(ts, prev) {
    lastSeries = ts;
    const interval = ts.interval;
    const series = ts.series.slice(0, 12).map((s, i) => ({
      name: s.name, type: 'line', smooth: true, showSymbol: ts.buckets.length < 60, data: s.data,
      itemStyle: { color: SENTIMENT_COLORS[s.key] || PALETTE[i % PALETTE.length] },
    }));
    if (prev) {
      const total = prev.buckets.map((_, i) => prev.series.reduce((a, s) => a + s.data[i], 0));
      series.push({ name: '上期', type: 'line', smooth: true, showSymbol: false, data: total,
        lineStyle: { type: 'dashed', width: 2 }, itemStyle: { color: '#8ea3c0' } });
    }
    tsChart.setOption({
      grid: { left: 8, right: 44, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: '#e3ecf8' }, type: 'scroll' },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: ts.buckets.map((b) => label(b, interval)), axisLabel: { color: '#8ea3c0' } },
      yAxis: { type: 'value', minInterval: 1, axisLabel: { color: '#8ea3c0' }, splitLine: { lineStyle: { color: '#1c3256' } } },
      series,
    }, { replaceMerge: ['series'] });
    $('ts-chart').dataset.ready = '1';
  }

  function renderTop(top) {
    // As many rows as the chart's height holds legibly.
    const fit = Math.max(5, Math.floor(topChart.getHeight() / 20));
    top = { ...top, rows: top.rows.slice(0, fit) };
    lastTop = top;
    const rows = top.rows.slice().reverse();
    topChart.setOption({
      grid: { left: 8, right: 50, top: 6, bottom: 6, containLabel: true },
      xAxis: { type: 'value', show: false },
      yAxis: { type: 'category', data: rows.map((r) => r.name), axisLabel: { color: '#e3ecf8', interval: 0 } },
      tooltip: {},
      series: [
        { name: '总量', type: 'bar', stack: 'a', data: rows.map((r) => r.count - r.negative), itemStyle: { color: '#36c5ff' } },
        { name: '负面', type: 'bar', stack: 'a', data: rows.map((r) => r.negative), itemStyle: { color: '#ff5b5b' },
          label: { show: true, position: 'right', color: '#e3ecf8', formatter: (p) => fmt(rows[p.dataIndex].count) } },
      ],
    }, { replaceMerge: ['series'] });
    $('top-chart').dataset.ready = '1';
  }

  function itemRow(it) {
    const topics = (it.topic_names || []).join('、');
    return `<tr data-id="${esc(it.id)}" data-channel="${esc(it.channel)}" data-district="${esc(it.district || '')}">
      <td>${esc(MINYI.clock(it.received_at))}<br><small>${esc(it.received_at.slice(0, 10))}</small></td>
      <td>${esc(it.channel_name)}</td><td>${esc(it.district || '—')}</td><td>${esc(it.unit || '—')}</td>
      <td>${esc(topics)}</td><td class="s-${esc(it.sentiment)}">${esc(SENTIMENT_NAMES[it.sentiment] || it.sentiment)}</td>
      <td>${it.rating ? esc(names.rating[it.rating]) : '—'}</td><td class="text">${itemText(it)}</td></tr>`;
  }

  // Items past retention or erased on request keep their row (their counts
  // are in every figure) without their text.
  const REDACTED = { expired: '已过期（内容已按保存期限清除）', erased: '已删除（内容已依申请删除）' };

  function itemText(it) {
    if (it.redacted) return `<span class="redacted">${esc(REDACTED[it.redacted] || it.redacted)}</span>`;
    return esc(it.text);
  }

  async function loadItems(append) {
    const pairs = filterPairs().filter(([k]) => !(drill && drill.override && drill.override.includes(k)));
    const all = pairs.concat(drill ? drill.pairs : []);
    const q = all.concat([['limit', '50']]);
    if (append && cursor) q.push(['cursor', cursor]);
    const page = await getJSON('/api/v1/feedback', q);
    const body = $('items').querySelector('tbody');
    if (!append) body.innerHTML = '';
    body.insertAdjacentHTML('beforeend', page.items.map(itemRow).join(''));
    cursor = page.next_cursor;
    $('more').hidden = !cursor;
    $('drill-scope').textContent = drill ? drill.label : '当前筛选下的最新条目';
    $('csv').href = url('/api/v1/feedback', all.concat([['format', 'csv']]));
    $('items').dataset.ready = '1';
  }

  async function apply() {
    $('error').hidden = true;
    drill = null;
    const pairs = filterPairs();
    const interval = $('interval').value;
    const groupBy = $('group_by').value;
    const tsPairs = pairs.concat([['interval', interval]]).concat(groupBy ? [['group_by', groupBy]] : []);
    const compare = $('compare').checked;
    try {
      const [sum, ts, top, prevSum, prevTs] = await Promise.all([
        getJSON('/api/v1/stats/summary', pairs),
        getJSON('/api/v1/stats/timeseries', tsPairs),
        getJSON('/api/v1/stats/top', pairs.concat([['dim', $('top-dim').value], ['limit', '15']])),
        compare ? getJSON('/api/v1/stats/summary', previousPairs(pairs)) : null,
        compare ? getJSON('/api/v1/stats/timeseries', previousPairs(pairs).concat([['interval', interval]])) : null,
      ]);
      renderKpis(sum, prevSum);
      renderSeries(ts, prevTs);
      renderTop(top);
      await loadItems(false);
    } catch (e) {
      showError(e);
    }
  }

  function drillTo(d) {
    drill = d;
    cursor = null;
    loadItems(false).catch(showError);
    $('drill').scrollIntoView({ behavior: 'smooth' });
  }

  function fillSelect(id, options) {
    $(id).innerHTML = options.map(([v, n]) => `<option value="${esc(v)}">${esc(n)}</option>`).join('');
  }

  async function main() {
    meta = await getJSON('/api/v1/meta');
    MINYI.setTimezone(meta.timezone);
    for (const c of meta.channels) names.channel[c.code] = c.name;
    for (const t of meta.topics) names.topic[t.code] = t.name;
    fillSelect('f-channel', meta.channels.map((c) => [c.code, c.name]));
    fillSelect('f-topic', meta.topics.map((t) => [t.code, t.name]));
    fillSelect('f-district', meta.districts.map((d) => [d, d]));
    fillSelect('f-unit', meta.units.map((u) => [u, u]));
    fillSelect('f-sentiment', meta.sentiments.map((s) => [s.code, s.name]));
    const now = new Date();
    $('to').value = MINYI.inputValue(new Date(now.getTime() + 60000).toISOString());
    $('from').value = MINYI.inputValue(new Date(now.getTime() - 7 * 86400000).toISOString());
    tsChart = echarts.init($('ts-chart'));
    topChart = echarts.init($('top-chart'));
    window.addEventListener('resize', () => { tsChart.resize(); topChart.resize(); });

    tsChart.on('click', (p) => {
      if (!lastSeries) return;
      const start = new Date(lastSeries.buckets[p.dataIndex]);
      const end = new Date(start.getTime() + INTERVAL_SECONDS[lastSeries.interval] * 1000);
      const s = lastSeries.series.find((x) => x.name === p.seriesName);
      const pairs = [['from', start.toISOString()], ['to', end.toISOString()]];
      if (s && lastSeries.group_by && s.key) pairs.push([lastSeries.group_by, s.key]);
      drillTo({ pairs, override: ['from', 'to'], label: `${label(lastSeries.buckets[p.dataIndex], lastSeries.interval)} · ${p.seriesName}` });
    });
    topChart.on('click', (p) => {
      if (!lastTop) return;
      const rows = lastTop.rows.slice().reverse();
      const row = rows[p.dataIndex];
      const dim = lastTop.dim;
      const pairs = dim === 'keyword' ? [['q', row.key]] : [[dim, row.key]];
      drillTo({ pairs, override: dim === 'keyword' ? ['q'] : [], label: `${row.name}（${fmt(row.count)}条）` });
    });
    $('controls').addEventListener('submit', (e) => { e.preventDefault(); apply(); });
    $('top-dim').addEventListener('change', apply);
    $('clear').addEventListener('click', () => {
      for (const f of FILTERS) for (const o of $(`f-${f}`).options) o.selected = false;
      $('q').value = '';
      apply();
    });
    $('more').addEventListener('click', () => loadItems(true).catch(showError));
    await apply();
  }

  main().catch(showError);
})();

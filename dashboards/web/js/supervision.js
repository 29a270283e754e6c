// The supervision queue (督办台账, /supervision): every dissatisfied item
// not yet 化解, at its stage, overdue first. The URL holds the view
// (status, received range, district, unit, channel, search, stage), so a
// view can be shared and reloaded; every control applies at once. The CSV
// is the view's queue, from the API (Chinese headers). A stage or a unit
// clicked narrows the listed cases; the counts stay those of the queue.
'use strict';

(() => {
  const { getJSON, url, fmt, esc, pad } = MINYI;
  const $ = (id) => document.getElementById(id);
  const STAGES = ['待派发', '待联系', '整改中', '待回访', '未化解', '已化解', '已关闭'];
  const STAGE_HELP = {
    待派发: '尚未派发督办工单（期限：受理后 dispatch_hours）',
    待联系: '已派发，承办单位尚未联系群众（期限：派发后 callback_hours）',
    整改中: '已联系，尚未办结（期限：工单创建后 sla_days）',
    待回访: '已办结，等待回访（无期限）',
    未化解: '回访再次不满意，或办结后回访仍不满意（期限：工单创建后 sla_days；无工单时受理后 dispatch_hours）',
    已化解: '回访满意或基本满意',
    已关闭: '中心结案，未化解（事件 closed）',
  };
  const STATUS = ['open', 'overdue', 'all'];
  const RATINGS = { 1: '满意', 2: '基本满意', 3: '不满意' };
  const LIMIT = 1000;
  const channelNames = {};
  let state = null;
  let answer = null;
  let revisits = null; // the revisit funnel of the view
  let knownUnits = []; // the units of the token's scope
  let seq = 0;

  // --- the state and the URL ---------------------------------------------------

  function fromUrl() {
    const p = new URLSearchParams(location.search);
    const one = (k) => p.get(k) || '';
    return {
      status: STATUS.includes(p.get('status')) ? p.get('status') : 'open',
      from: one('from'), to: one('to'), district: one('district'), unit: one('unit'),
      channel: one('channel'), q: one('q'), stage: STAGES.includes(p.get('stage')) ? p.get('stage') : '',
    };
  }

  function toParams(st) {
    const p = new URLSearchParams();
    if (st.status !== 'open') p.set('status', st.status);
    for (const k of ['from', 'to', 'district', 'unit', 'channel', 'q', 'stage']) if (st[k]) p.set(k, st[k]);
    const token = MINYI.params.get('access_token');
    if (token) p.set('access_token', token);
    return p;
  }

  /** The API's query of a state: dates are whole days on the centre's clock. */
  function apiQuery(st) {
    const q = new URLSearchParams();
    q.set('status', st.status);
    const day = (v, plus) => {
      const [y, m, d] = v.split('-').map(Number);
      return MINYI.iso(MINYI.wallTime(y, m, d + plus));
    };
    if (st.from) q.set('from', day(st.from, 0));
    if (st.to) q.set('to', day(st.to, 1));
    for (const k of ['district', 'unit', 'channel']) if (st[k]) q.set(k, st[k]);
    if (st.q.trim()) q.set('q', st.q.trim());
    return q;
  }

  function go(change) {
    state = { ...state, ...change };
    history.pushState(null, '', `${location.pathname}?${toParams(state)}`);
    if (Object.keys(change).some((k) => k !== 'stage')) load();
    else {
      render();
      document.body.dataset.ready = '1';
    }
  }

  // --- rendering -----------------------------------------------------------------

  function showControls() {
    for (const b of document.querySelectorAll('#status button')) b.classList.toggle('on', b.dataset.status === state.status);
    for (const k of ['from', 'to', 'district', 'unit', 'channel', 'q']) $(k).value = state[k];
    const q = apiQuery(state);
    q.set('format', 'csv');
    q.set('limit', '10000');
    $('export').href = url('/api/v1/supervision', q);
    $('to-explore').href = url('/explore');
  }

  function kpi(key, label, value, cls, title, stage) {
    const on = stage && state.stage === stage ? ' on' : '';
    const data = stage ? ` data-stage="${esc(stage)}"` : ` data-kpi="${key}"`;
    return `<div class="kpi${stage ? ' stage' : ''}${on}"${data} title="${esc(title)}"><div class="l">${esc(label)}</div>`
      + `<div class="v ${cls || ''}">${fmt(value)}</div></div>`;
  }

  function hours(h) {
    if (h < 48) return `${h.toFixed(1)}小时`;
    return `${(h / 24).toFixed(1)}天`;
  }

  function when(iso) {
    const d = MINYI.local(iso);
    return `${d.month}/${d.day} ${pad(d.hours)}:${pad(d.minutes)}`;
  }

  function render() {
    showControls();
    if (!answer) return;
    const a = answer;
    const r = revisits;
    const revisitTitle = state.from || state.to ? '回访短信在所选日期内发出' : '回访短信近30日发出';
    $('kpis').innerHTML = kpi('total', '案件', a.total, '', '筛选范围内的案件数')
      + kpi('overdue', '已超期', a.overdue, a.overdue ? 'bad' : '', '已过本环节期限')
      + kpi('escalate', '需升级', a.escalate, a.escalate ? 'bad' : '', '立案后回访再次不满意')
      + (r ? `<div class="kpi" data-kpi="reply_rate" title="${esc(`回复率 = 有评价的回复 ÷ 发出（${revisitTitle}，共 ${r.sent}）`)}"><div class="l">回访回复率</div><div class="v">${r.reply_rate === null ? '—' : `${(100 * r.reply_rate).toFixed(1)}%`}</div></div>`
        + kpi('unanswered', '超7天未回复', r.unanswered, r.unanswered ? 'bad' : '', `回访短信发出7天后仍未回复（${revisitTitle}）`) : '')
      + a.by_stage.map((s) => kpi('', s.stage, s.count, '', `${STAGE_HELP[s.stage]}；超期 ${s.overdue}`, s.stage)).join('');
    for (const el of document.querySelectorAll('.kpi.stage')) {
      el.addEventListener('click', () => go({ stage: state.stage === el.dataset.stage ? '' : el.dataset.stage }));
    }

    const stages = STAGES.slice(0, 5);
    $('units').querySelector('tbody').innerHTML = a.by_unit.map((u) => {
      const key = u.unit || '';
      return `<tr data-unit="${esc(key)}" class="${state.unit && state.unit === key ? 'on' : ''}">`
        + `<td>${esc(u.unit || '未识别')}</td><td class="n">${fmt(u.count)}</td>`
        + `<td class="n${u.overdue ? ' late' : ''}">${fmt(u.overdue)}</td><td class="n">${fmt(u.escalate)}</td>`
        + stages.map((s) => `<td class="n">${fmt(u.stages[s] || 0)}</td>`).join('')
        + revisitCells(key) + '</tr>';
    }).join('');
    $('units-card').querySelector('.empty-list').hidden = a.by_unit.length > 0;
    for (const tr of $('units').querySelectorAll('tbody tr')) {
      const unit = tr.dataset.unit;
      if (!unit || !knownUnits.includes(unit)) continue;
      tr.addEventListener('click', () => go({ unit: state.unit === unit ? '' : unit }));
    }

    const listed = a.items.filter((c) => !state.stage || c.stage === state.stage);
    $('cases').querySelector('tbody').innerHTML = listed.map((c) => `<tr class="${c.overdue ? 'overdue' : ''}" data-id="${esc(c.id)}" data-stage="${esc(c.stage)}" data-district="${esc(c.district || '')}">`
      + `<td><span class="stage-tag s-${esc(c.stage)}">${esc(c.stage)}</span>${c.escalate ? '<span class="esc" title="回访再次不满意，需升级督办">升级</span>' : ''}</td>`
      + `<td class="due">${c.deadline ? esc(when(c.deadline)) + (c.overdue ? ' 超期' : '') : '—'}</td>`
      + `<td>${esc(when(c.received_at))}<small>${esc(hours(c.age_hours))}</small></td>`
      + `<td>${esc(channelNames[c.channel] || c.channel)}</td>`
      + `<td>${esc(c.district || '—')}</td><td>${esc(c.unit || '—')}</td>`
      + `<td>${esc(c.rating ? RATINGS[c.rating] : '负面诉求')}</td><td>${esc(c.order_id || '—')}</td>`
      + `<td class="text">${esc(c.text)}</td></tr>`).join('');
    $('cases-card').querySelector('.empty-list').hidden = listed.length > 0;
    const parts = [`共 ${fmt(a.total)} 件`];
    if (a.items.length < a.total) parts.push(`列出超期与最早的 ${fmt(a.items.length)} 件`);
    if (state.stage) parts.push(`仅看“${state.stage}” ${fmt(listed.length)} 件`);
    if (a.truncated) parts.push(`案件过多，仅计 ${a.since ? when(a.since) : '最近'} 以来的，更早的未计入`);
    $('cases-note').textContent = parts.join('，');
  }

  /** The revisit funnel of a unit, as three cells (— when none was sent). */
  function revisitCells(unit) {
    const row = revisits && revisits.by_unit.find((x) => x.key === unit);
    if (!row) return '<td class="n">—</td><td class="n">—</td><td class="n">—</td>';
    const rate = row.reply_rate === null ? '—' : `${(100 * row.reply_rate).toFixed(0)}%`;
    return `<td class="n">${fmt(row.sent)}</td><td class="n">${rate}</td>`
      + `<td class="n${row.unanswered ? ' late' : ''}">${fmt(row.unanswered)}</td>`;
  }

  async function load() {
    const mine = ++seq;
    document.body.dataset.ready = '';
    showControls();
    $('loading').hidden = false;
    try {
      const q = apiQuery(state);
      q.set('limit', String(LIMIT));
      // The revisit funnel of the same place, its SMS sent within the dates.
      const rq = new URLSearchParams(apiQuery(state));
      rq.delete('status');
      const [a, r] = await Promise.all([
        getJSON('/api/v1/supervision', q),
        getJSON('/api/v1/stats/revisits', rq).catch(() => null),
      ]);
      if (mine !== seq) return;
      answer = a;
      revisits = r;
      $('error').hidden = true;
    } catch (e) {
      if (mine !== seq) return;
      answer = null;
      $('error').textContent = `查询失败：${e.message}`;
      $('error').hidden = false;
    } finally {
      if (mine === seq) $('loading').hidden = true;
    }
    render();
    if (mine === seq) document.body.dataset.ready = answer ? '1' : 'error';
  }

  // --- start -----------------------------------------------------------------------

  async function start() {
    const meta = await getJSON('/api/v1/meta');
    MINYI.setTimezone(meta.timezone);
    const scope = meta.scope || {};
    const within = (all, allowed) => (allowed && allowed.length ? all.filter((v) => allowed.includes(v)) : all);
    const districts = within(meta.districts, scope.districts);
    const units = within(meta.units, scope.units).filter((u) => !(scope.districts || []).length
      || (scope.districts || []).includes((meta.unit_districts || {})[u]));
    knownUnits = units;
    const options = (sel, list) => {
      for (const [v, n] of list) sel.insertAdjacentHTML('beforeend', `<option value="${esc(v)}">${esc(n)}</option>`);
    };
    options($('district'), districts.map((d) => [d, d]));
    options($('unit'), units.map((u) => [u, u]));
    for (const c of meta.channels) channelNames[c.code] = c.name;
    options($('channel'), meta.channels.map((c) => [c.code, c.name]));

    for (const b of document.querySelectorAll('#status button')) {
      b.addEventListener('click', () => go({ status: b.dataset.status, stage: '' }));
    }
    for (const k of ['from', 'to', 'district', 'unit', 'channel']) {
      $(k).addEventListener('change', () => go({ [k]: $(k).value }));
    }
    let typing = null;
    $('q').addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => go({ q: $('q').value }), 400);
    });
    window.addEventListener('popstate', () => {
      state = fromUrl();
      load();
    });
    state = fromUrl();
    await load();
  }

  start().catch((e) => {
    $('error').textContent = `加载失败：${e.message}`;
    $('error').hidden = false;
    document.body.dataset.ready = 'error';
  });
})();

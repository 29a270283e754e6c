// The analyst's explorer. One `state` holds the whole view — range (a
// preset such as 今天, or from/to), grouping, comparison, filters, search,
// ranking dimension and metric, and the drill-down — and the URL holds the
// state: loading a URL restores its view, every step is a history entry
// (Back and Forward walk the analyst's steps), and a link shares the view.
// Every control applies at once. A drill-down narrows the whole view
// (KPIs, trend, ranking, list) to exactly what was clicked and shows
// itself as a removable chip. The CSV and XLSX exports are of the view on screen.
'use strict';

(() => {
  const { getJSON, url, SENTIMENT_COLORS, SENTIMENT_NAMES, PALETTE, pct, fmt, esc, pad } = MINYI;
  const $ = (id) => document.getElementById(id);
  const FILTERS = ['channel', 'topic', 'district', 'unit', 'sentiment', 'rating'];
  /** Orders of the ranking by change against the compared period, as the
   *  API's `order` under `sort=change`. */
  const BY_CHANGE = { rise: 'desc', fall: 'asc' };
  /** Values of one filter shown as chips of their own; more are one chip. */
  const CHIPS_EACH = 6;
  const FILTER_NAMES = { channel: '渠道', topic: '类别', district: '地区', unit: '单位', sentiment: '情感', rating: '评价' };
  const INTERVAL_MS = { '1m': 60000, '5m': 300000, '1h': 3600000, '1d': 86400000 };
  const DAY = 86400000;
  const PRESETS = { today: '今天', yesterday: '昨天', week: '本周', month: '本月', '7d': '近7天', '30d': '近30天' };
  // The comparison that fits each preset: the same clock window a day, a
  // week or a month earlier — never the stretch just before, which for
  // 今天 so far would be yesterday afternoon and evening.
  const PRESET_COMPARE = { today: 'day', yesterday: 'day', week: 'week', month: 'month', '7d': 'week', '30d': 'month' };
  const COMPARE_NAMES = { day: '前一天同时段', week: '上周同时段', month: '上月同时段', span: '前一等长时段' };
  const METRIC_NAMES = { count: '数量', negative: '负面数', negative_share: '负面占比', satisfaction_rate: '满意率', completion_rate: '办结率', dissatisfied_resolved_rate: '不满意化解率' };
  const RATE_METRICS = ['negative_share', 'satisfaction_rate', 'completion_rate', 'dissatisfied_resolved_rate'];
  // Which way is good: a rising 满意率 is good, a rising 负面 is bad.
  const METRIC_GOOD = { count: 0, negative: -1, negative_share: -1, satisfaction_rate: 1, completion_rate: 1, dissatisfied_resolved_rate: 1 };
  const names = { channel: {}, topic: {}, district: {}, unit: {}, sentiment: SENTIMENT_NAMES, rating: { 1: '满意', 2: '基本满意', 3: '不满意' } };
  const DEFAULT = {
    preset: '7d', from: null, to: null, interval: '1d', group_by: '', compare: '', q: '', repeat: false,
    filters: {}, dim: 'district', metric: 'count', order: 'desc', min_volume: 0, drill: null,
  };

  let meta = null;
  let state = null;
  let tsChart = null;
  let rankChart = null;
  let view = null; // what is on screen: the effective query and its answers
  let runSeq = 0;
  let cursor = null;
  let coalesce = null; // the control whose steps are one history entry
  const pickers = {};

  // --- time ------------------------------------------------------------------

  const nowMs = () => Date.now();
  const minuteFloor = (ms) => Math.floor(ms / 60000) * 60000;
  const minuteCeil = (ms) => minuteFloor(ms) + 60000;

  function dayStart(ms) {
    const d = MINYI.local(new Date(ms).toISOString());
    return MINYI.wallTime(d.year, d.month, d.day);
  }

  /**
   * [from, to) in epoch ms of a preset at `now`; `to` is the last whole minute
   * (the first minute of the day still running: the next): ranges are whole
   * minutes in the API, and the window compared a day earlier must end where
   * today's items do, not hold up to 59 s more of the compared day.
   */
  function presetRange(p, now) {
    const today = dayStart(now);
    const end = Math.max(minuteFloor(now), today + 60000);
    const d = MINYI.local(new Date(now).toISOString());
    switch (p) {
      case 'today': return [today, end];
      case 'yesterday': return [today - DAY, today];
      case 'week': return [today - ((d.weekday + 6) % 7) * DAY, end];
      case 'month': return [MINYI.wallTime(d.year, d.month, 1), end];
      case '7d': return [today - 6 * DAY, end];
      case '30d': return [today - 29 * DAY, end];
      default: return null;
    }
  }

  /** The same wall-clock time a month earlier (the 31st → the 30th of a shorter month). */
  function monthBefore(ms) {
    const d = MINYI.local(new Date(ms).toISOString());
    const last = new Date(Date.UTC(d.year, d.month - 1, 0)).getUTCDate();
    return MINYI.wallTime(d.year, d.month - 1, Math.min(d.day, last), d.hours, d.minutes);
  }

  /** The compared range of [from, to) for a comparison mode. */
  function compareRange(mode, [from, to]) {
    switch (mode) {
      case 'day': return [from - DAY, to - DAY];
      case 'week': return [from - 7 * DAY, to - 7 * DAY];
      case 'month': return [monthBefore(from), monthBefore(to)];
      case 'span': return [from - (to - from), from];
      default: return null;
    }
  }

  /** A sensible bucket width for a range. */
  function autoInterval([from, to]) {
    const span = to - from;
    if (span <= 6 * 3600000) return '5m';
    if (span <= 3 * DAY) return '1h';
    return '1d';
  }

  const FINER = { '1d': '1h', '1h': '5m', '5m': '1m', '1m': '1m' };

  function stamp(ms, withDate) {
    const d = MINYI.local(new Date(ms).toISOString());
    const hm = `${pad(d.hours)}:${pad(d.minutes)}`;
    return withDate === false ? hm : `${d.month}/${d.day} ${hm}`;
  }

  /** `12/01 00:00–10:06`, `12/01 00:00–12/02 00:00` */
  function rangeText([from, to]) {
    const sameDay = dayStart(from) === dayStart(to - 1);
    // A stretch to the day's end reads 24:00, not 00:00 (a whole day read
    // as “12/1 00:00–00:00”).
    const end = to === dayStart(from) + DAY ? '24:00' : stamp(to, false);
    return `${stamp(from)}–${sameDay ? end : stamp(to)}`;
  }

  // --- the state and the URL ---------------------------------------------------

  /** The URL query of a state (defaults left out; the token kept). */
  function toParams(st) {
    const p = new URLSearchParams();
    if (st.preset) p.set('range', st.preset);
    else {
      p.set('from', MINYI.iso(st.from));
      p.set('to', MINYI.iso(st.to));
    }
    for (const k of ['interval', 'group_by', 'compare', 'q', 'dim', 'metric', 'order']) {
      if (st[k] && st[k] !== DEFAULT[k]) p.set(k, st[k]);
    }
    if (st.min_volume) p.set('min_volume', String(st.min_volume));
    if (st.repeat) p.set('repeat', 'true');
    for (const f of FILTERS) for (const v of st.filters[f] || []) p.append(f, v);
    const d = st.drill;
    if (d) {
      if (d.dim) p.set('drill_dim', d.dim);
      if (d.key !== undefined && d.key !== null) p.set('drill_key', d.key);
      if (d.from) {
        p.set('drill_from', MINYI.iso(d.from));
        p.set('drill_to', MINYI.iso(d.to));
      }
      if (d.previous) p.set('drill_period', 'previous');
    }
    const token = MINYI.params.get('access_token');
    if (token) p.set('access_token', token);
    return p;
  }

  /** The state a URL query describes; what it cannot use is named in `ignored`. */
  function fromParams(p) {
    const st = JSON.parse(JSON.stringify(DEFAULT));
    st.filters = {};
    const ignored = [];
    const time = (k) => {
      const v = p.get(k);
      if (v === null) return null;
      const ms = Date.parse(v);
      if (Number.isNaN(ms)) { ignored.push(k); return null; }
      return ms;
    };
    const choose = (k, allowed) => {
      const v = p.get(k);
      if (v === null) return;
      if (allowed.includes(v)) st[k] = v; else ignored.push(k);
    };
    const range = p.get('range');
    const from = time('from');
    const to = time('to');
    if (range && PRESETS[range]) st.preset = range;
    else if (from !== null && to !== null && from < to) {
      st.preset = '';
      st.from = from;
      st.to = to;
    } else if (range || from !== null || to !== null) ignored.push('range');
    choose('interval', Object.keys(INTERVAL_MS));
    if (!p.get('interval')) st.interval = autoInterval(rangeOf(st));
    choose('group_by', ['', 'sentiment', 'channel', 'topic', 'district', 'unit']);
    choose('compare', ['', 'day', 'week', 'month', 'span']);
    choose('dim', ['district', 'unit', 'topic', 'channel', 'keyword']);
    choose('metric', Object.keys(METRIC_NAMES));
    choose('order', ['desc', 'asc', 'rise', 'fall']);
    if (!st.compare && BY_CHANGE[st.order]) { st.order = 'desc'; ignored.push('order'); }
    st.q = searchText((p.get('q') || '').slice(0, 64));
    st.repeat = p.get('repeat') === 'true';
    if (p.get('repeat') !== null && p.get('repeat') !== 'true') ignored.push('repeat');
    const mv = Number(p.get('min_volume') || 0);
    st.min_volume = Number.isInteger(mv) && mv >= 0 ? mv : 0;
    for (const f of FILTERS) {
      const known = p.getAll(f).filter((v) => names[f][v] !== undefined);
      if (known.length < p.getAll(f).length) ignored.push(f);
      if (known.length) st.filters[f] = Array.from(new Set(known));
    }
    const dd = p.get('drill_dim');
    const dk = p.get('drill_key');
    const df = time('drill_from');
    const dt = time('drill_to');
    if (df !== null && dt !== null && df < dt) {
      st.drill = { from: df, to: dt, previous: p.get('drill_period') === 'previous' };
      if (dd && FILTERS.includes(dd) && names[dd][dk] !== undefined) Object.assign(st.drill, { dim: dd, key: dk });
    } else if (dd === 'keyword' && dk) st.drill = { dim: 'keyword', key: dk.slice(0, 32) };
    else if (dd === 'incident' && /^i-[0-9a-f]{16}$/.test(dk || '')) st.drill = { dim: 'incident', key: dk };
    else if (dd && FILTERS.includes(dd) && names[dd][dk] !== undefined) st.drill = { dim: dd, key: dk };
    else if (dd || dk || df !== null) ignored.push('drill');
    return { st, ignored };
  }

  /** The search as typed, or '' when it holds no word: marks alone (`|`,
   *  `、`, quotation marks; the grammar of src/query/search.rs) search for
   *  nothing, and the API answers every item — a chip would claim a search. */
  function searchText(typed) {
    const q = typed.trim();
    return /[^\s,，、;；|｜"“”＂‘’「」『』]/.test(q) ? q : '';
  }

  function rangeOf(st) {
    return st.preset ? presetRange(st.preset, nowMs()) : [st.from, st.to];
  }

  /** Moves to a new state: a history entry (steps of one open picker, one
   *  entry), then the view. */
  function go(next, coalesceKey) {
    state = next;
    const href = `${location.pathname}?${toParams(state)}`;
    if (coalesceKey && coalesceKey === coalesce) history.replaceState(null, '', href);
    else history.pushState(null, '', href);
    coalesce = coalesceKey || null;
    run();
  }

  /** A copy of the state with `change` applied. The drill-down stays where
   *  the change leaves it a meaning: a filter or a search narrows the
   *  drilled view; a new range keeps the drilled place, unit or kind (not
   *  its stretch of time); only a change of the drilled kind's own filter
   *  ends it (the picker would say one thing, the drill-down another). */
  function changed(change, keepDrill) {
    const next = { ...state, filters: { ...state.filters }, ...change };
    // A ranking by change needs a compared period: without one it is by
    // value again, in the state and so in the URL (not only in the box).
    if (!next.compare && BY_CHANGE[next.order]) next.order = 'desc';
    if (keepDrill || 'drill' in change || !state.drill) return next;
    let d = state.drill;
    if ('preset' in change || 'from' in change || 'to' in change) d = d.dim ? kindOf(d) : null;
    if (d && change.filters && FILTERS.includes(d.dim)
      && String(change.filters[d.dim] || []) !== String(state.filters[d.dim] || [])) d = null;
    next.drill = d;
    return next;
  }

  /** The kind part of a drill-down (its dimension and key), without its time. */
  function kindOf(d) {
    const k = { dim: d.dim, key: d.key };
    if (d.title) k.title = d.title;
    return k;
  }

  /** Makes a drilled kind a filter (or a search word) of `st`; false for
   *  one that is no filter (an incident). */
  function fold(st, d) {
    if (FILTERS.includes(d.dim)) st.filters[d.dim] = [d.key];
    else if (d.dim === 'keyword') st.q = st.q ? `${st.q} ${d.key}` : d.key;
    else return false;
    return true;
  }

  /** The state one drill step deeper. What was drilled before still
   *  applies: its stretch of time unless the step is a stretch of its own
   *  (a point of the finer trend), its kind unless the step drills another
   *  kind — then one of the two becomes a filter (a chip), so both apply. */
  function deeper(step) {
    const next = changed({}, true);
    const d = state.drill;
    let drill = { ...step };
    if (d) {
      if (!drill.from && d.from) Object.assign(drill, { from: d.from, to: d.to, previous: d.previous });
      if (d.dim && !drill.dim) Object.assign(drill, kindOf(d));
      else if (d.dim && (d.dim !== drill.dim || d.key !== drill.key) && !fold(next, d) && fold(next, drill)) {
        drill = { ...drill, ...kindOf(d) };
      }
    }
    next.drill = drill;
    return next;
  }

  // --- the effective query -------------------------------------------------------

  /** What the view asks: the state's filters with the drill-down applied. */
  function effective(st) {
    let range = rangeOf(st);
    const filters = {};
    for (const f of FILTERS) filters[f] = (st.filters[f] || []).slice();
    let interval = st.interval;
    const d = st.drill;
    if (d && d.from) {
      range = [d.from, d.to];
      interval = FINER[st.interval] || st.interval;
    }
    // The drilled kind as a filter or a search word (an incident is asked
    // apart, below).
    const asked = { filters, q: st.q };
    if (d && d.dim) fold(asked, d);
    const { q } = asked;
    // The compared range: of the drilled stretch when it is a point of the
    // current period; a point of the previous period is not compared again.
    const cmp = d && d.previous ? null : compareRange(st.compare, range);
    const pairs = [['from', MINYI.iso(range[0])], ['to', MINYI.iso(range[1])]];
    for (const f of FILTERS) for (const v of filters[f]) pairs.push([f, v]);
    if (q) pairs.push(['q', q]);
    if (st.repeat) pairs.push(['repeat', 'true']);
    if (d && d.dim === 'incident') pairs.push(['incident', d.key]);
    const cmpPairs = cmp ? pairs.map(([k, v]) => (k === 'from' ? [k, MINYI.iso(cmp[0])] : k === 'to' ? [k, MINYI.iso(cmp[1])] : [k, v])) : null;
    return { range, cmp, pairs, cmpPairs, interval, filters, q };
  }

  // --- feedback ----------------------------------------------------------------

  const PARAM_NAMES = {
    from: '开始时间', to: '结束时间', q: '关键词', interval: '粒度', group_by: '分组', dim: '排行维度',
    metric: '排行指标', min_volume: '样本下限', repeat: '重复诉求', compare_from: '对比开始时间', compare_to: '对比结束时间',
    // The explorer's own address: a range (preset or from/to), the drill-down, the comparison, the order.
    range: '时间范围', drill: '下钻', compare: '对比期', order: '排序',
    channel: '渠道', topic: '类别', district: '地区', unit: '单位', sentiment: '情感', rating: '评价', limit: '条数', cursor: '分页',
  };

  /** An API error in the analyst's words. */
  function explain(e) {
    if (!(e instanceof MINYI.ApiError)) {
      console.error(e);
      return `页面出错（${e.message}），请刷新页面`;
    }
    if (e.status === 0) return '无法连接服务器，请检查网络后点“刷新”';
    if (e.status === 401) return '未登录或令牌无效（地址需带有效的 access_token）';
    if (e.status === 403) return '当前令牌无权查看（条目明细与导出需要研判员权限）';
    if (e.status >= 500) return '服务器处理出错，请稍后点“刷新”重试';
    const m = /^parameter `([^`]+)`: (.*)$/.exec(e.message);
    if (!m) return `请求有误（${e.message}）`;
    const [, param, why] = m;
    const what = PARAM_NAMES[param] || param;
    if (/must be before/.test(why)) return `${what}须早于${param === 'from' ? '结束时间' : '对比结束时间'}`;
    if (/RFC 3339/.test(why)) return `${what}格式不正确`;
    if (/buckets/.test(why)) return '时间范围内的时段过多（超过5000个），请选更粗的粒度或更短的范围';
    // The limits as the API states them, not copied here.
    const word = /^word (\d+) is longer than (\d+)/.exec(why);
    if (word) return `${what}的第${word[1]}个词过长（每个词最多${word[2]}个字）`;
    const long = /longer than (\d+)/.exec(why);
    if (long) return `${what}过长（最多${long[1]}个字）`;
    const words = /^more than (\d+) words/.exec(why);
    if (words) return `${what}的词过多（最多${words[1]}个，以空格或“|”分开）`;
    if (/unknown value/.test(why)) return `${what}中有无法识别的取值`;
    if (/masked personal data/.test(why)) return `${what}不能含“*”：星号是已遮盖的个人信息，不可搜索`;
    if (/more than \d+ values/.test(why)) return `${what}选得过多（最多32项）`;
    if (/required/.test(why)) return `缺少${what}`;
    return `${what}不正确（${why}）`;
  }

  function showError(e) {
    $('error').hidden = false;
    $('error').textContent = `查询失败：${explain(e)}`;
  }

  let loadingTimer = null;
  let loadingCount = 0;

  /** The loading mark, shown only for what takes longer than a blink. */
  function loading(on, text) {
    loadingCount += on ? 1 : -1;
    clearTimeout(loadingTimer);
    if (loadingCount > 0) {
      loadingTimer = setTimeout(() => {
        $('loading-text').textContent = text || '查询中…';
        $('loading').hidden = false;
      }, on ? 250 : 0);
    } else $('loading').hidden = true;
    document.body.dataset.busy = loadingCount > 0 ? '1' : '';
  }

  // --- rendering: controls, chips, window, KPIs -------------------------------------

  function syncControls() {
    const range = rangeOf(state);
    for (const b of $('presets').querySelectorAll('button')) b.classList.toggle('on', b.dataset.preset === state.preset);
    $('from').value = MINYI.inputValue(new Date(range[0]).toISOString());
    $('to').value = MINYI.inputValue(new Date(range[1]).toISOString());
    for (const id of ['from', 'to']) $(id).classList.remove('invalid');
    for (const k of ['interval', 'group_by', 'compare', 'dim', 'metric', 'order']) $(k).value = state[k];
    $('q').value = state.q;
    $('repeat').checked = state.repeat;
    $('min_volume').value = state.min_volume;
    const rate = state.dim !== 'keyword';
    $('metric').disabled = !rate;
    $('order').disabled = !rate;
    // By change only against a compared period; without one, by value.
    for (const o of $('order').options) if (BY_CHANGE[o.value]) o.disabled = !state.compare;
    $('min_volume').disabled = !rate;
    for (const f of FILTERS) pickers[f].sync(state.filters[f] || []);
  }

  function drillLabel(d) {
    if (!d) return '';
    const parts = [];
    if (d.from) parts.push(`${d.previous ? '上期 ' : ''}${rangeText([d.from, d.to])}`);
    if (d.dim === 'keyword') parts.push(`关键词“${d.key}”`);
    else if (d.dim === 'incident') parts.push(`同一事件 ${d.title ? `“${d.title.slice(0, 16)}…”` : d.key}`);
    else if (d.dim) parts.push(names[d.dim][d.key] || d.key);
    return parts.join(' · ');
  }

  function renderChips() {
    const chips = [];
    for (const f of FILTERS) {
      const values = state.filters[f] || [];
      if (values.length > CHIPS_EACH) {
        // Many of one kind (全选 of 36 stations) are one chip, not five
        // rows of them: its × ends the filter, its title lists them.
        const all = values.map((v) => names[f][v] || v);
        chips.push(`<span class="chip" data-f="${f}" title="${esc(all.join('、'))}">${FILTER_NAMES[f]}：${esc(all.slice(0, 2).join('、'))}等${values.length}个<button type="button" aria-label="去掉">×</button></span>`);
        continue;
      }
      for (const v of values) {
        chips.push(`<span class="chip" data-f="${f}" data-v="${esc(v)}">${FILTER_NAMES[f]}：${esc(names[f][v] || v)}<button type="button" aria-label="去掉">×</button></span>`);
      }
    }
    if (state.q) chips.push(`<span class="chip" data-f="q">关键词：${esc(state.q)}<button type="button" aria-label="去掉">×</button></span>`);
    if (state.repeat) chips.push('<span class="chip" data-f="repeat">仅重复诉求<button type="button" aria-label="去掉">×</button></span>');
    if (state.drill) {
      chips.push(`<span class="chip drill" id="drill-chip" data-f="drill">下钻：${esc(drillLabel(state.drill))}<button type="button" aria-label="退出下钻">×</button></span>`);
    }
    if (chips.length > 1) chips.push('<button type="button" class="clear-all">清除全部</button>');
    $('chips').innerHTML = chips.length ? chips.join('') : '<span class="none">未筛选：全部条目</span>';
  }

  function renderWindow(e) {
    const range = rangeText(e.range);
    const preset = state.preset && !(state.drill && state.drill.from) ? `${PRESETS[state.preset]} ` : '';
    const open = e.range[1] > nowMs() ? `（截至 ${stamp(Math.min(nowMs(), e.range[1]), false)}）` : '';
    let text = `统计窗口：${preset}${range}${open}`;
    if (e.cmp) text += ` · 对比：${COMPARE_NAMES[state.compare]} ${rangeText(e.cmp)}`;
    $('window').textContent = text;
    // The instants asked, for tests and for anyone reading the page's source.
    Object.assign($('window').dataset, { from: e.range[0], to: e.range[1], cmpFrom: e.cmp ? e.cmp[0] : '', cmpTo: e.cmp ? e.cmp[1] : '' });
  }

  const KPIS = [
    { key: 'received', name: '受理量', good: 0, def: '收到的民意条目数（按受理时间）' },
    { key: 'negative', name: '负面', good: -1, def: '情感为负面的条目数' },
    { key: 'satisfaction_rate', name: '满意率', good: 1, rate: true, base: ['rated', '有评价'], def: '满意率 =（满意 + 基本满意）÷ 有评价的条目' },
    // Work orders and 不满意化解: the compared period's as they stood as
    // long before now (`as_of`), so both had as long to finish.
    { key: 'completion_rate', name: '办结率', good: 1, rate: true, base: ['orders_created', '工单'], def: '办结率 = 已办结 ÷ 本窗口内创建的工单（重新打开的不算办结；按当前状态计，对比期按同样早的时点计，两期办理时间相同）' },
    { key: 'dissatisfied_resolved_rate', name: '不满意化解率', good: 1, rate: true, base: ['dissatisfied', '不满意'], def: '不满意化解率 = 评价“不满意”后经回访或同案再评价为满意/基本满意的 ÷ 评价“不满意”的条目（回访常在数日后，近期窗口偏低；对比期按同样早的时点计）' },
    { key: 'overdue', name: '超期工单', good: -1, def: '本窗口内创建、仍未办结且已超过办理时限的工单（对比期按同样早的时点计）' },
    { key: 'repeat_rate', name: '重复诉求率', good: -1, rate: true, base: ['received', '受理'], def: '重复诉求率 = 重复诉求 ÷ 受理量；同一联系人（按加密后的联系方式比对）在设定期限内（默认30天）已就同一类别反映过至少两次的条目为重复诉求' },
  ];

  /** The change of a KPI against the compared period, coloured by whether
   *  it is good or bad news (not by its direction). */
  function delta(k, cur, prev, cmpPartial) {
    if (!prev) return ['', ''];
    const c = cur[k.key];
    const p = prev[k.key];
    if (c === null || c === undefined || p === null || p === undefined) return ['', '对比期无数据'];
    const d = k.rate ? (c - p) * 100 : c - p;
    const sign = d > 0 ? '+' : '';
    const text = k.rate ? `${sign}${d.toFixed(1)}个百分点` : `${sign}${fmt(d)}`;
    // A compared period the store's history does not cover whole says
    // nothing good or bad: not coloured, and said.
    if (cmpPartial) return ['flat', `较对比期 ${text}（对比期 ${k.rate ? pct(p) : fmt(p)}，数据不全，不可比）`];
    const cls = d === 0 || k.good === 0 ? 'flat' : (d > 0) === (k.good > 0) ? 'good' : 'bad';
    return [cls, `较对比期 ${text}（对比期 ${k.rate ? pct(p) : fmt(p)}）`];
  }

  /** Below this many a rate is shown as a rate of few (its base beside it
   *  in any case): 1 of 2 is 50 %, and a commander reads it as half. */
  const FEW = 30;

  /** Says on the window line when the compared period begins before the
   *  store holds anything: its figures are not a like-for-like base. */
  function renderCmpWarning(e, partial) {
    $('cmp-warning').hidden = !partial;
    $('cmp-warning').textContent = partial ? `注意：对比期（${rangeText(e.cmp)}）开始时系统中尚无数据，对比期数据不全，较对比期的变化不可比` : '';
  }

  function renderKpis(e, cur, prev, cmpPartial) {
    const windowText = e ? `窗口：${rangeText(e.range)}${e.cmp ? `；对比：${rangeText(e.cmp)}` : ''}` : '';
    $('kpis').innerHTML = KPIS.map((k) => {
      const v = cur ? (k.rate ? pct(cur[k.key]) : fmt(cur[k.key])) : '—';
      const [cls, d] = cur ? delta(k, cur, prev, cmpPartial) : ['', ''];
      let share = '';
      if (cur && k.key === 'negative' && cur.received) share = `<span class="share">占 ${pct(cur.negative / cur.received)}</span>`;
      if (cur && k.base) {
        const n = cur[k.base[0]] || 0;
        const few = n > 0 && n < FEW;
        share = `<span class="share${few ? ' few' : ''}" data-base="${n}" title="${k.base[1]} ${fmt(n)} 条${few ? `，不足${FEW}条，比率仅供参考` : ''}">n=${fmt(n)}${few ? ' 样本少' : ''}</span>`;
      }
      return `<div class="kpi" data-kpi="${k.key}" title="${esc(`${k.def}\n${windowText}`)}"><div class="l">${k.name} <i class="info">ⓘ</i></div>
        <div class="v">${v}${share}</div><div class="d ${cls}">${esc(d)}</div></div>`;
    }).join('');
  }

  // --- the trend ---------------------------------------------------------------------

  function bucketLabel(ms, interval) {
    const d = MINYI.local(new Date(ms).toISOString());
    return interval === '1d' ? `${d.month}/${d.day}` : `${d.month}/${d.day} ${pad(d.hours)}:${pad(d.minutes)}`;
  }

  function setEmpty(chartId, empty) {
    $(chartId).closest('.chart-box').querySelector('.empty').hidden = !empty;
  }

  function renderSeries(e, ts, prev) {
    const width = INTERVAL_MS[ts.interval];
    const starts = ts.buckets.map((b) => Date.parse(b));
    // Buckets the range covers only in part: before `from` or past `to` (or now).
    const end = Math.min(e.range[1], minuteCeil(nowMs()));
    const partial = starts.map((b) => b < e.range[0] || b + width > end);
    const series = ts.series.map((s, i) => ({
      id: `s-${s.key}`, name: s.name, type: 'line', showSymbol: ts.buckets.length < 60, data: s.data,
      itemStyle: { color: SENTIMENT_COLORS[s.key] || PALETTE[i % PALETTE.length] },
    }));
    if (prev) {
      const total = prev.buckets.map((_, i) => prev.series.reduce((a, s) => a + s.data[i], 0));
      // With a grouping the dashed line is the compared period's total,
      // and says so.
      const what = ts.series.length > 1 ? '对比期合计' : '对比期';
      series.push({ id: 'previous', name: `${what}（${COMPARE_NAMES[state.compare]}）`, type: 'line', showSymbol: ts.buckets.length < 60, symbol: 'emptyCircle', data: total,
        lineStyle: { type: 'dashed', width: 2 }, itemStyle: { color: '#8ea3c0' } });
    }
    // The compared line leads the legend: on its first page however many
    // groups follow.
    const legend = series.map((x) => x.name);
    if (prev) legend.unshift(legend.pop());
    // Partial buckets shaded over their whole width: a silent bar on a
    // hidden axis (a mark area on a category axis spans from centre to centre).
    series.push({ id: 'partial', name: '不完整时段', type: 'bar', yAxisIndex: 1, barWidth: '100%', silent: true, z: 0,
      data: partial.map((x) => (x ? 1 : '-')), itemStyle: { color: 'rgba(142,163,192,0.16)' } });
    const empty = ts.series.every((s) => s.data.every((v) => v === 0)) && !(prev && prev.series.some((s) => s.data.some((v) => v)));
    setEmpty('ts-chart', empty);
    // A tooltip left on a series that is gone (the mouse still over the
    // point just clicked) makes ECharts fail: close it first.
    tsChart.dispatchAction({ type: 'hideTip' });
    tsChart.setOption({
      grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: '#e3ecf8' }, type: 'scroll', pageTextStyle: { color: '#e3ecf8' }, data: legend },
      tooltip: {
        trigger: 'axis',
        formatter: (ps) => {
          const i = ps[0].dataIndex;
          const head = `${bucketLabel(starts[i], ts.interval)}${partial[i] ? '（不完整时段）' : ''}`;
          const lines = ps.filter((p) => p.seriesId !== 'partial').map((p) => {
            const when = p.seriesId === 'previous' && prev ? `${bucketLabel(Date.parse(prev.buckets[i]), ts.interval)} ` : '';
            return `${p.marker}${esc(p.seriesName)} ${when}<b>${fmt(p.value)}</b>`;
          });
          return [head, ...lines].join('<br>');
        },
      },
      xAxis: { type: 'category', data: starts.map((b) => bucketLabel(b, ts.interval)), axisLabel: { color: '#8ea3c0' } },
      yAxis: [
        { type: 'value', minInterval: 1, axisLabel: { color: '#8ea3c0' }, splitLine: { lineStyle: { color: '#1c3256' } } },
        { type: 'value', min: 0, max: 1, show: false },
      ],
      series,
    }, { replaceMerge: ['series', 'yAxis'] });
    const first = partial[0] ? `首时段自 ${stamp(e.range[0])} 起` : '';
    const last = partial.length > 1 && partial[partial.length - 1] ? `末时段截至 ${stamp(end)}` : '';
    const note = [first, last].filter(Boolean).join('，');
    $('ts-note').textContent = `${note ? `${note}（灰底，不完整）· ` : ''}点击数据点下钻`;
    $('ts-chart').dataset.ready = '1';
    view.ts = { starts, width, interval: ts.interval, series: ts.series, prev, group_by: ts.group_by };
  }

  // --- the ranking ---------------------------------------------------------------------

  const ROW_PX = 26;

  function rankValueText(metric, v) {
    if (v === null || v === undefined) return '—';
    return RATE_METRICS.includes(metric) ? pct(v) : fmt(v);
  }

  function changeText(metric, c) {
    if (c === null || c === undefined) return '';
    const rate = RATE_METRICS.includes(metric);
    const d = rate ? c * 100 : c;
    return `${d > 0 ? '+' : ''}${rate ? `${d.toFixed(1)}个百分点` : fmt(d)}`;
  }

  /** Rows of the ranking chart from a rank answer (or a keyword top). */
  function rankRows(answer, keyword) {
    if (keyword) {
      return answer.rows.map((r) => ({ key: r.key, name: r.name, value: r.count, volume: r.count, count: r.count, negative: r.negative, ranked: true }));
    }
    const rows = answer.rows.map((r) => ({ ...r }));
    if (answer.unknown) rows.push({ ...answer.unknown, unknown: true, ranked: false });
    return rows;
  }

  /** The ranking's order as API pairs: by value, or — with a compared
   *  period — by the change against it (`sort=change`). */
  function rankOrder(e) {
    const change = e.cmp ? BY_CHANGE[state.order] : null;
    if (change) return [['sort', 'change'], ['order', change]];
    return [['order', state.order === 'asc' ? 'asc' : 'desc']];
  }

  /** `ratingOnly`: the view's items that are a rating without words (by
   *  topic only): counted under the topic their channel rates, while the
   *  wall shows them apart as 仅评价 — the note says so, so that the two
   *  screens' figures can be read together. */
  function renderRank(e, answer, total, ratingOnly) {
    const keyword = state.dim === 'keyword';
    const metric = keyword ? 'count' : state.metric;
    const rows = rankRows(answer, keyword);
    view.rank = { rows, metric, dim: state.dim };
    const height = Math.max(rows.length * ROW_PX + 16, 120);
    $('rank-chart').style.height = `${height}px`;
    rankChart.resize();
    setEmpty('rank-chart', rows.length === 0);
    const unknownShare = answer.unknown && total ? answer.unknown.count / total : null;
    $('rank-note').textContent = keyword ? '关键词按出现次数' : [
      `${rows.filter((r) => !r.unknown).length}项`,
      e.cmp && BY_CHANGE[state.order] ? `按较对比期${state.order === 'rise' ? '升幅' : '降幅'}排序，名次仍按数值` : '',
      answer.unknown ? `未识别 ${fmt(answer.unknown.count)} 条${unknownShare !== null ? `（占 ${pct(unknownShare)}）` : ''}` : '',
      state.min_volume ? `样本<${state.min_volume}不排名` : '',
      ratingOnly ? `含仅评价（无文字）${fmt(ratingOnly)} 条，按渠道计入所评类别，大屏单列` : '',
    ].filter(Boolean).join(' · ');
    const grey = '#5b6b84';
    // Counts are scaled by the ranked rows: a 未识别 row larger than all of
    // them (43 % of a day's items by unit) would leave theirs a few pixels;
    // its bar runs to the edge and its label gives its count.
    const largest = Math.max(0, ...rows.filter((r) => !r.unknown).map((r) => r.count));
    const clipped = metric === 'count' && largest > 0 && rows.some((r) => r.unknown && r.count > largest);
    if (clipped) $('rank-note').textContent += ' · 未识别超出刻度，条长按其余各项';
    const nameOf = (r) => (r.unknown ? `未识别${unknownShare !== null ? `（${pct(unknownShare)}）` : ''}` : r.name);
    const counts = metric === 'count';
    const labelOf = (r) => {
      const v = rankValueText(metric, r.value);
      const n = counts ? '' : `（${RATE_METRICS.includes(metric) ? `n=${fmt(r.volume)}` : `共${fmt(r.count)}`}）`;
      // Against the compared period: the change, in the metric's unit.
      const c = e.cmp && !keyword && r.change !== null && r.change !== undefined ? ` ${changeText(metric, r.change).replace('个百分点', 'pt')}` : '';
      return r.ranked || r.unknown ? `${v}${n}${c}` : `${v}${n} 样本不足`;
    };
    const tooltip = (i) => {
      const r = rows[i];
      const lines = [`<b>${esc(nameOf(r))}</b>`];
      if (counts) {
        lines.push(`总量 ${fmt(r.count)}`, `其中负面 ${fmt(r.negative)}（${pct(r.count ? r.negative / r.count : null)}）`);
      } else {
        lines.push(`${METRIC_NAMES[metric]} ${rankValueText(metric, r.value)}`);
        if (metric === 'satisfaction_rate') lines.push(`有评价 ${fmt(r.rated)} 条，满意/基本满意 ${fmt(r.satisfied)}`);
        else if (metric === 'completion_rate') lines.push(`工单 ${fmt(r.orders_created)}，已办结 ${fmt(r.orders_resolved)}`);
        else if (metric === 'dissatisfied_resolved_rate') lines.push(`不满意 ${fmt(r.dissatisfied)} 条，已化解 ${fmt(r.dissatisfied_resolved)}`);
        else lines.push(`总量 ${fmt(r.count)}，负面 ${fmt(r.negative)}`);
      }
      if (!keyword && e.cmp) lines.push(`对比期 ${rankValueText(metric, r.previous)}${r.change !== null && r.change !== undefined ? `，变化 ${changeText(metric, r.change)}` : ''}`);
      if (r.rank != null && r.previous_rank != null) lines.push(`名次 第${r.rank}（对比期 第${r.previous_rank}，${r.rank_change > 0 ? `上升${r.rank_change}` : r.rank_change < 0 ? `下降${-r.rank_change}` : '持平'}）`);
      if (!r.ranked && !r.unknown) lines.push(`样本 ${fmt(r.volume)} 低于 ${state.min_volume}，不参与排名`);
      if (r.unknown) lines.push('无法识别地区/单位的条目，不参与排名，不可下钻');
      else lines.push('点击下钻');
      return lines.join('<br>');
    };
    const series = counts ? [
      { id: 'rest', name: '非负面', type: 'bar', stack: 'a', barMaxWidth: 18, data: rows.map((r) => ({ value: r.count - r.negative, itemStyle: r.unknown ? { color: grey } : undefined })), itemStyle: { color: '#36c5ff' } },
      { id: 'neg', name: '负面', type: 'bar', stack: 'a', barMaxWidth: 18, data: rows.map((r) => ({ value: r.negative, itemStyle: r.unknown ? { color: '#8a5b66' } : undefined })), itemStyle: { color: '#ff5b5b' },
        label: { show: true, position: 'right', color: '#e3ecf8', formatter: (p) => labelOf(rows[p.dataIndex]) } },
    ] : [
      { id: 'value', name: METRIC_NAMES[metric], type: 'bar', barMaxWidth: 18,
        data: rows.map((r) => ({ value: r.value === null ? 0 : r.value, itemStyle: { color: r.ranked && !r.unknown ? rateColor(metric, r) : grey } })),
        label: { show: true, position: 'right', color: '#e3ecf8', formatter: (p) => labelOf(rows[p.dataIndex]) } },
    ];
    rankChart.dispatchAction({ type: 'hideTip' });
    rankChart.setOption({
      grid: { left: 8, right: e.cmp && !keyword ? 190 : 150, top: counts ? 26 : 6, bottom: 6, containLabel: true },
      legend: counts ? { top: 0, left: 0, textStyle: { color: '#e3ecf8' }, data: ['非负面', '负面'] } : { show: false },
      xAxis: { type: 'value', show: false, max: RATE_METRICS.includes(metric) ? 1 : clipped ? largest : null },
      yAxis: { type: 'category', inverse: true, data: rows.map(nameOf), axisLabel: { color: '#e3ecf8', interval: 0 } },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, formatter: (ps) => tooltip(ps[0].dataIndex) },
      series,
    }, { replaceMerge: ['series', 'legend'] });
    $('rank-chart').dataset.ready = '1';
  }

  /** A rate's bar: green when its change is good news, red when bad, blue without a comparison. */
  function rateColor(metric, r) {
    if (r.change === null || r.change === undefined || r.change === 0) return '#36c5ff';
    return (r.change > 0) === (METRIC_GOOD[metric] > 0) ? '#2fd18c' : '#ff5b5b';
  }

  // --- the item list -------------------------------------------------------------------

  // Items past retention or erased on request keep their row (their counts
  // are in every figure) without their text.
  const REDACTED = { expired: '已过期（内容已按保存期限清除）', erased: '已删除（内容已依申请删除）' };

  function itemText(it) {
    if (it.redacted) return `<span class="redacted">${esc(REDACTED[it.redacted] || it.redacted)}</span>`;
    return esc(it.text);
  }

  /** The date on the centre's clock (an item keeps the zone it was sent in). */
  function localDate(isoText) {
    const d = MINYI.local(isoText);
    return `${d.year}-${pad(d.month)}-${pad(d.day)}`;
  }

  function itemRow(it) {
    const topics = (it.topic_names || []).join('、');
    const orders = (it.work_orders || []).map((o) => `${esc(o.order_id)}<small>${o.resolved ? '已办结' : '在办'}</small>`).join('<br>');
    return `<tr data-id="${esc(it.id)}" data-channel="${esc(it.channel)}" data-district="${esc(it.district || '')}" data-unit="${esc(it.unit || '')}" data-sentiment="${esc(it.sentiment)}" data-at="${esc(it.received_at)}">
      <td>${esc(MINYI.clock(it.received_at))}<br><small>${esc(localDate(it.received_at))}</small></td>
      <td>${esc(it.channel_name)}</td><td>${esc(it.district || '—')}</td><td>${esc(it.unit || '—')}</td>
      <td>${esc(topics)}</td><td class="s-${esc(it.sentiment)}">${esc(SENTIMENT_NAMES[it.sentiment] || it.sentiment)}</td>
      <td>${it.rating ? esc(names.rating[it.rating]) : '—'}</td><td>${orders || '—'}</td><td class="text">${itemText(it)}${it.incident_id ? `<a class="inc" data-incident="${esc(it.incident_id)}" title="与其他诉求同属一个事件，点击查看该事件的全部明细">同一事件</a>` : ''}</td></tr>`;
  }

  async function loadItems(e, append, seq) {
    const q = e.pairs.concat([['limit', '50']]);
    if (append && cursor) q.push(['cursor', cursor]);
    const page = await getJSON('/api/v1/feedback', q);
    if (seq !== runSeq) return;
    const body = $('items').querySelector('tbody');
    if (!append) body.innerHTML = '';
    body.insertAdjacentHTML('beforeend', page.items.map(itemRow).join(''));
    cursor = page.next_cursor;
    $('more').hidden = !cursor;
    $('drill').querySelector('.empty-list').hidden = body.children.length > 0;
    $('items').dataset.ready = '1';
  }

  /** 热点事件: the incidents of the view, the largest first. */
  function renderIncidents(answer, e) {
    const rows = (answer && answer.incidents) || [];
    // 最近 with its day when the window holds more than one.
    const days = e && dayStart(e.range[0]) !== dayStart(e.range[1] - 1);
    const body = $('incidents').querySelector('tbody');
    body.innerHTML = rows.map((i) => `<tr data-incident="${esc(i.id)}" data-title="${esc(i.title)}"
      title="${esc(i.title)}\n${i.channels.length}个渠道：${esc((i.channel_names || []).join('、'))}\n首次 ${esc(MINYI.clock(i.first_at))} ${esc(localDate(i.first_at))}；负面 ${i.negative} 条">
      <td class="n">${fmt(i.count)}</td><td class="x">${esc(i.title || '（无文字）')}</td>
      <td>${esc(i.district || '—')}</td>
      <td>${esc(days ? stamp(Date.parse(i.last_at)) : MINYI.clock(i.last_at))}</td></tr>`).join('');
    $('incidents-card').querySelector('.empty-list').hidden = rows.length > 0;
    $('incidents').dataset.ready = '1';
  }

  function drillIncident(id, title) {
    go(deeper({ dim: 'incident', key: id, title }));
  }

  // --- one run: every part of the view from the state ------------------------------------

  function clearView() {
    renderKpis(null, null, null);
    $('cmp-warning').hidden = true;
    tsChart.dispatchAction({ type: 'hideTip' });
    rankChart.dispatchAction({ type: 'hideTip' });
    tsChart.clear();
    rankChart.clear();
    setEmpty('ts-chart', true);
    setEmpty('rank-chart', true);
    $('items').querySelector('tbody').innerHTML = '';
    $('incidents').querySelector('tbody').innerHTML = '';
    $('drill').querySelector('.empty-list').hidden = false;
    $('more').hidden = true;
    $('drill-scope').textContent = '';
    $('rank-note').textContent = '';
    $('ts-note').textContent = '';
  }

  async function run() {
    const seq = ++runSeq;
    syncControls();
    renderChips();
    $('error').hidden = true;
    for (const id of ['ts-chart', 'rank-chart', 'items', 'incidents']) $(id).dataset.ready = '';
    document.body.dataset.ready = '';
    const e = effective(state);
    renderWindow(e);
    const tsPairs = e.pairs.concat([['interval', e.interval]]).concat(state.group_by ? [['group_by', state.group_by]] : []);
    const rank = state.dim === 'keyword'
      ? getJSON('/api/v1/stats/top', e.pairs.concat([['dim', 'keyword'], ['limit', '100']]))
      : getJSON('/api/v1/stats/rank', e.pairs.concat([['dim', state.dim], ['metric', state.metric]], rankOrder(e))
        .concat(state.min_volume ? [['min_volume', String(state.min_volume)]] : [])
        .concat(e.cmp ? [['compare_from', MINYI.iso(e.cmp[0])], ['compare_to', MINYI.iso(e.cmp[1])]] : []));
    loading(true);
    try {
      const [sum, ts, ranking, incidents, prevSum, prevTs, ratingOnly] = await Promise.all([
        getJSON('/api/v1/stats/summary', e.pairs),
        getJSON('/api/v1/stats/timeseries', tsPairs),
        rank,
        getJSON('/api/v1/incidents', e.pairs.concat([['sort', 'count'], ['limit', '20']])),
        // The compared period's work orders as they stood as long before
        // now as it lies before the current one: both had as long to finish.
        e.cmp ? getJSON('/api/v1/stats/summary', e.cmpPairs.concat([['as_of', MINYI.iso(nowMs() - (e.range[1] - e.cmp[1]))]])) : null,
        e.cmp ? getJSON('/api/v1/stats/timeseries', e.cmpPairs.concat([['interval', e.interval]])) : null,
        state.dim === 'topic' ? getJSON('/api/v1/stats/summary', e.pairs.concat([['has_text', 'false']])) : null,
      ]);
      if (seq !== runSeq) return;
      // Partial: the compared period's first stretch empty, and nothing
      // stored before it began — it lies (in part) before the store's
      // history. (A store whose history starts at its very start compares
      // whole; the store is asked only when the first stretch is empty.)
      const cmpEmptyStart = Boolean(e.cmp && prevTs && sum.received > 0
        && !prevTs.series.some((x) => x.data[0] > 0));
      const before = cmpEmptyStart ? await getJSON('/api/v1/stats/summary', [['to', MINYI.iso(e.cmp[0])]]) : null;
      if (seq !== runSeq) return;
      view = { e, sum, state };
      const cmpPartial = Boolean(before && before.received === 0);
      renderCmpWarning(e, cmpPartial);
      renderKpis(e, sum, prevSum, cmpPartial);
      renderSeries(e, ts, prevTs);
      renderRank(e, ranking, sum.received, ratingOnly && ratingOnly.received);
      renderIncidents(incidents, e);
      // A drill-down into an incident opened from an address has its id
      // alone: its title comes with the list (which the drill narrows to it).
      const drilled = state.drill && state.drill.dim === 'incident' && !state.drill.title
        && ((incidents && incidents.incidents) || []).find((i) => i.id === state.drill.key);
      if (drilled) {
        state.drill.title = drilled.title;
        renderChips();
      }
      $('drill-scope').textContent = `${state.drill ? `下钻 ${drillLabel(state.drill)} · ` : ''}共 ${fmt(sum.received)} 条，最新在前`;
      cursor = null;
      await loadItems(e, false, seq);
      if (seq === runSeq) document.body.dataset.ready = '1';
    } catch (err) {
      if (seq !== runSeq) return;
      clearView();
      showError(err);
      document.body.dataset.ready = 'error';
    } finally {
      loading(false);
    }
  }

  // --- drill-down from the charts ---------------------------------------------------

  function drillPoint(p) {
    const ts = view && view.ts;
    if (!ts) return;
    const i = p.dataIndex;
    const previous = p.seriesId === 'previous';
    const start = previous ? Date.parse(ts.prev.buckets[i]) : ts.starts[i];
    // Exactly the clicked bucket, within the range asked (a partial bucket is its covered part).
    const range = previous ? view.e.cmp : view.e.range;
    const drill = { from: Math.max(start, range[0]), to: Math.min(start + ts.width, range[1]), previous };
    const s = ts.series.find((x) => `s-${x.key}` === p.seriesId);
    if (!previous && s && ts.group_by && s.key && s.key !== '_other' && names[ts.group_by][s.key] !== undefined) {
      Object.assign(drill, { dim: ts.group_by, key: s.key });
    }
    if (drill.from >= drill.to) return;
    go(deeper(drill));
  }

  function drillBar(p) {
    const rank = view && view.rank;
    if (!rank) return;
    const row = rank.rows[p.dataIndex];
    if (!row || row.unknown) return;
    go(deeper({ dim: rank.dim, key: row.key }));
  }

  // --- export -------------------------------------------------------------------------

  /** Downloads the view on screen as CSV or XLSX (`format`), named by the server from its filters. */
  async function exportView(format) {
    if (!view) return;
    // The view on screen; a state whose answers are still coming is exported as it will show.
    const e = view.state === state ? view.e : effective(state);
    const href = url('/api/v1/feedback', e.pairs.concat([['format', format]]));
    const button = $(format === 'xlsx' ? 'export-xlsx' : 'export');
    button.disabled = true;
    loading(true, '导出中…');
    try {
      const r = await MINYI.request(href);
      if (!r.ok) {
        let msg = `${r.status}`;
        try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
        throw new MINYI.ApiError(r.status, msg);
      }
      const cd = r.headers.get('content-disposition') || '';
      const m = /filename\*=UTF-8''([^;]+)/.exec(cd);
      const name = m ? decodeURIComponent(m[1]) : `minyi-export.${format}`;
      const blob = await r.blob();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      button.dataset.last = name;
    } catch (err) {
      showError(err);
    } finally {
      loading(false);
      button.disabled = false;
    }
  }

  // --- searchable multi-selects -----------------------------------------------------

  /** A filter's picker: a button with the count chosen, a pop-up with a
   *  search box and check boxes; each check applies at once (one history
   *  entry while the pop-up is open). */
  function picker(f, options) {
    const el = document.createElement('div');
    el.className = 'ms';
    el.id = `ms-${f}`;
    el.innerHTML = `<button type="button" class="ms-btn" aria-haspopup="true">${FILTER_NAMES[f]}<b class="n"></b> ▾</button>
      <div class="ms-pop" hidden><input type="search" class="ms-search" placeholder="搜索${FILTER_NAMES[f]}"><div class="ms-list">${
  options.map(([v, n]) => `<label class="ms-opt" data-v="${esc(v)}" data-n="${esc(n)}"><input type="checkbox" value="${esc(v)}"> ${esc(n)}</label>`).join('')
}</div><div class="ms-foot"><button type="button" class="ms-all" title="选中列表中显示的全部（可先搜索，如“派出所”）">全选</button><button type="button" class="ms-none">清除</button><button type="button" class="ms-close">完成</button></div></div>`;
    $('filters').appendChild(el);
    const pop = el.querySelector('.ms-pop');
    const search = el.querySelector('.ms-search');
    const close = () => { pop.hidden = true; coalesce = null; };
    el.querySelector('.ms-btn').addEventListener('click', () => {
      const open = pop.hidden;
      for (const other of Object.values(pickers)) other.close();
      if (open) {
        pop.hidden = false;
        search.value = '';
        filterOptions('');
        search.focus();
      }
    });
    const filterOptions = (text) => {
      const t = text.trim().toLowerCase();
      for (const o of el.querySelectorAll('.ms-opt')) o.hidden = t !== '' && !o.dataset.n.toLowerCase().includes(t) && !o.dataset.v.toLowerCase().includes(t);
    };
    search.addEventListener('input', () => filterOptions(search.value));
    el.querySelector('.ms-list').addEventListener('change', () => {
      const chosen = Array.from(el.querySelectorAll('.ms-opt input:checked')).map((i) => i.value);
      go(changed({ filters: { ...state.filters, [f]: chosen } }), `picker-${f}`);
    });
    el.querySelector('.ms-all').addEventListener('click', () => {
      // What the search shows, beside what was chosen before.
      const shown = Array.from(el.querySelectorAll('.ms-opt:not([hidden]) input')).map((i) => i.value);
      const chosen = [...new Set([...(state.filters[f] || []), ...shown])];
      go(changed({ filters: { ...state.filters, [f]: chosen } }), `picker-${f}`);
    });
    el.querySelector('.ms-none').addEventListener('click', () => {
      go(changed({ filters: { ...state.filters, [f]: [] } }), `picker-${f}`);
    });
    el.querySelector('.ms-close').addEventListener('click', close);
    return {
      el,
      close,
      sync(values) {
        for (const i of el.querySelectorAll('.ms-opt input')) i.checked = values.includes(i.value);
        el.querySelector('.n').textContent = values.length ? ` ${values.length}` : '';
        el.classList.toggle('active', values.length > 0);
      },
    };
  }

  // --- wiring ---------------------------------------------------------------------------

  function wire() {
    $('presets').addEventListener('click', (ev) => {
      const p = ev.target.dataset && ev.target.dataset.preset;
      if (!p) return;
      const range = presetRange(p, nowMs());
      go(changed({ preset: p, from: null, to: null, interval: autoInterval(range), compare: state.compare ? PRESET_COMPARE[p] : '' }));
    });
    const customRange = () => {
      const from = Date.parse(MINYI.fromInput($('from').value));
      const to = Date.parse(MINYI.fromInput($('to').value));
      if (Number.isNaN(from) || Number.isNaN(to)) return;
      for (const id of ['from', 'to']) $(id).classList.toggle('invalid', from >= to);
      if (from >= to) {
        // Refused before asking: the figures stay the applied window's,
        // and the message says so (the boxes hold what was typed, marked).
        showError(new MINYI.ApiError(400, 'parameter `from`: must be before `to`'));
        $('error').textContent += `；下方仍为原窗口 ${rangeText(effective(state).range)} 的数据`;
        return;
      }
      go(changed({ preset: '', from, to, interval: autoInterval([from, to]) }));
    };
    $('from').addEventListener('change', customRange);
    $('to').addEventListener('change', customRange);
    // How the view is drawn and ranked changes nothing of what is selected:
    // the drill-down stays.
    for (const k of ['interval', 'group_by', 'compare', 'dim', 'order']) {
      $(k).addEventListener('change', () => go(changed({ [k]: $(k).value }, true)));
    }
    // A rate stands on its volume: ranking by one starts with a guard of 10
    // (a station with one rating at 100 % tops nothing); counts need none.
    $('metric').addEventListener('change', () => {
      const metric = $('metric').value;
      const rate = RATE_METRICS.includes(metric);
      const guard = rate && !RATE_METRICS.includes(state.metric) && !state.min_volume ? 10 : (rate ? state.min_volume : 0);
      go(changed({ metric, min_volume: guard }, true));
    });
    $('min_volume').addEventListener('change', () => {
      const n = Math.max(0, Math.floor(Number($('min_volume').value) || 0));
      go(changed({ min_volume: n }, true));
    });
    $('controls').addEventListener('submit', (ev) => ev.preventDefault());
    $('q').addEventListener('change', () => {
      const q = searchText($('q').value);
      $('q').value = q;
      if (q !== state.q) go(changed({ q }));
    });
    $('repeat').addEventListener('change', () => go(changed({ repeat: $('repeat').checked })));
    $('q').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); $('q').dispatchEvent(new Event('change')); }
    });
    $('refresh').addEventListener('click', () => run());
    $('export').addEventListener('click', () => exportView('csv'));
    $('export-xlsx').addEventListener('click', () => exportView('xlsx'));
    $('chips').addEventListener('click', (ev) => {
      if (ev.target.classList.contains('clear-all')) {
        go(changed({ filters: {}, q: '', repeat: false, drill: null }));
        return;
      }
      const chip = ev.target.tagName === 'BUTTON' && ev.target.closest('.chip');
      if (!chip) return;
      const f = chip.dataset.f;
      if (f === 'drill') go(changed({ drill: null }));
      else if (f === 'q') go(changed({ q: '' }));
      else if (f === 'repeat') go(changed({ repeat: false }));
      else if (chip.dataset.v === undefined) go(changed({ filters: { ...state.filters, [f]: [] } }));
      else go(changed({ filters: { ...state.filters, [f]: (state.filters[f] || []).filter((v) => v !== chip.dataset.v) } }));
    });
    $('more').addEventListener('click', () => loadItems(view.e, true, runSeq).catch(showError));
    $('incidents').addEventListener('click', (ev) => {
      const row = ev.target.closest('tr[data-incident]');
      if (row) drillIncident(row.dataset.incident, row.dataset.title);
    });
    $('items').addEventListener('click', (ev) => {
      const a = ev.target.closest('a.inc');
      if (a) drillIncident(a.dataset.incident, '');
    });
    document.addEventListener('click', (ev) => {
      if (!ev.target.closest('.ms')) for (const p of Object.values(pickers)) if (!p.el.querySelector('.ms-pop').hidden) p.close();
    });
    // Esc closes an open picker, its button focused again (the keyboard
    // stays where it was).
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      for (const p of Object.values(pickers)) {
        if (p.el.querySelector('.ms-pop').hidden) continue;
        p.close();
        p.el.querySelector('.ms-btn').focus();
      }
    });
    window.addEventListener('popstate', () => {
      const { st } = fromParams(new URLSearchParams(location.search));
      state = st;
      coalesce = null;
      run();
    });
    tsChart.on('click', drillPoint);
    rankChart.on('click', drillBar);
    window.addEventListener('resize', () => { tsChart.resize(); rankChart.resize(); });
  }

  async function main() {
    meta = await getJSON('/api/v1/meta');
    $('to-supervision').href = url('/supervision');
    MINYI.setTimezone(meta.timezone);
    for (const c of meta.channels) names.channel[c.code] = c.name;
    for (const t of meta.topics) names.topic[t.code] = t.name;
    for (const d of meta.districts) names.district[d] = d;
    for (const u of meta.units) names.unit[u] = u;
    // A scoped token (a bureau, a station) picks within its scope: a place
    // outside it would be refused (403).
    const scope = meta.scope || {};
    const within = (list, allowed) => (allowed && allowed.length ? list.filter((x) => allowed.includes(x)) : list);
    const units = within(meta.units, scope.units).filter((u) => !(scope.districts || []).length
      || (scope.districts || []).includes((meta.unit_districts || {})[u]));
    const options = {
      channel: meta.channels.map((c) => [c.code, c.name]),
      topic: meta.topics.map((t) => [t.code, t.name]),
      district: within(meta.districts, scope.districts).map((d) => [d, d]),
      unit: units.map((u) => [u, u]),
      sentiment: meta.sentiments.map((s) => [s.code, s.name]),
      rating: [['1', '满意'], ['2', '基本满意'], ['3', '不满意']],
    };
    for (const f of FILTERS) pickers[f] = picker(f, options[f]);
    tsChart = echarts.init($('ts-chart'));
    rankChart = echarts.init($('rank-chart'));
    wire();
    const { st, ignored } = fromParams(new URLSearchParams(location.search));
    state = st;
    history.replaceState(null, '', `${location.pathname}?${toParams(state)}`);
    await run();
    if (ignored.length) {
      // Beside a failed query's message, not over it.
      const before = $('error').hidden ? '' : `${$('error').textContent}；`;
      $('error').hidden = false;
      $('error').textContent = `${before}地址中有无法识别的参数，已忽略：${ignored.map((k) => PARAM_NAMES[k] || k).join('、')}`;
    }
  }

  main().catch((e) => { showError(e); document.body.dataset.ready = 'error'; });
})();

// Shared by the wall screen and the explorer: API access (with the
// page's ?access_token= passed on, for deployments with tokens), the
// vocabulary from /api/v1/meta, colours and number formats.
'use strict';

const MINYI = (() => {
  const params = new URLSearchParams(location.search);
  const token = params.get('access_token');

  function url(path, query) {
    const q = new URLSearchParams(query || []);
    if (token) q.set('access_token', token);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  /** An answer that is not 2xx: the API's message, with the status. */
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** Fetches, a failed connection being an ApiError of status 0. */
  async function request(href, init) {
    try {
      return await fetch(href, init);
    } catch (e) {
      throw new ApiError(0, `network: ${e.message}`);
    }
  }

  async function getJSON(path, query, init) {
    const r = await request(url(path, query), init);
    if (!r.ok) {
      let msg = `${r.status}`;
      try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
      throw new ApiError(r.status, msg);
    }
    return r.json();
  }

  const SENTIMENT_COLORS = { positive: '#2fd18c', neutral: '#4aa8ff', negative: '#ff5b5b' };
  const SENTIMENT_NAMES = { positive: '正面', neutral: '中性', negative: '负面' };
  const PALETTE = ['#36c5ff', '#ffb547', '#2fd18c', '#ff5b5b', '#a78bfa', '#f472b6', '#facc15',
    '#22d3ee', '#fb923c', '#84cc16', '#60a5fa', '#e879f9', '#34d399', '#f87171', '#c084fc', '#fbbf24'];

  function pct(x) {
    return x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`;
  }

  function fmt(n) {
    return n === null || n === undefined ? '—' : Number(n).toLocaleString('zh-CN');
  }

  function esc(s) {
    return String(s ?? '').replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    }[c]));
  }

  // Times are shown on the centre's wall clock (the server's configured
  // offset, from /api/v1/meta), whatever the zone of the browser.
  let offsetMinutes = 8 * 60;

  function setTimezone(tz) {
    const m = /^([+-])(\d{2}):(\d{2})$/.exec(tz || '');
    if (m) offsetMinutes = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  }

  function local(iso) {
    const d = new Date(new Date(iso).getTime() + offsetMinutes * 60000);
    return {
      year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), weekday: d.getUTCDay(),
      hours: d.getUTCHours(), minutes: d.getUTCMinutes(), seconds: d.getUTCSeconds(),
    };
  }

  const pad = (n) => String(n).padStart(2, '0');

  function clock(iso) {
    const d = local(iso);
    return `${pad(d.hours)}:${pad(d.minutes)}:${pad(d.seconds)}`;
  }

  /** `YYYY-MM-DDTHH:MM` on the centre's clock, for datetime-local inputs. */
  function inputValue(iso) {
    const d = local(iso);
    return `${d.year}-${pad(d.month)}-${pad(d.day)}T${pad(d.hours)}:${pad(d.minutes)}`;
  }

  /** Epoch milliseconds of a time on the centre's wall clock (the
   *  components may overflow: day 0 is the last day of the month before). */
  function wallTime(year, month, day, hours, minutes) {
    return Date.UTC(year, month - 1, day, hours || 0, minutes || 0) - offsetMinutes * 60000;
  }

  /** The RFC 3339 instant of epoch milliseconds, on the centre's clock. */
  function iso(ms) {
    const sign = offsetMinutes < 0 ? '-' : '+';
    const a = Math.abs(offsetMinutes);
    const d = local(new Date(ms).toISOString());
    return `${d.year}-${pad(d.month)}-${pad(d.day)}T${pad(d.hours)}:${pad(d.minutes)}:${pad(d.seconds)}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }

  /** The RFC 3339 instant of a datetime-local value on the centre's clock. */
  function fromInput(v) {
    const sign = offsetMinutes < 0 ? '-' : '+';
    const a = Math.abs(offsetMinutes);
    return `${v}:00${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  }

  return {
    url, getJSON, request, ApiError, params, SENTIMENT_COLORS, SENTIMENT_NAMES, PALETTE, pct, fmt, esc,
    setTimezone, local, pad, clock, inputValue, fromInput, wallTime, iso,
  };
})();

// The timeline page, whole: HTML, style sheet and script, served by the
// broker itself (no CDN, nothing from another origin) under a CSP that
// allows only this origin's script and style. Kept as strings here so the
// Node server, the Lambda bundle and the function bundle all carry them
// without a file to find at run time.
//
// Everything the page shows from the ledger is hostile input: it reaches the
// DOM only through textContent and setAttribute, never as markup.

export const timelineCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every timeline asset carries. */
export const timelineHeaders = {
  'Content-Security-Policy': timelineCsp,
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
} as const;

// URLs are relative, so the page also works behind a path prefix (an API
// gateway stage): from /stage/ui, "ui/timeline.js" is /stage/ui/timeline.js.
export const timelineHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyhold timeline</title>
<link rel="stylesheet" href="ui/timeline.css">
<script src="ui/timeline.js" defer></script>
</head>
<body data-state="loading">
<header><h1>keyhold timeline</h1><span id="who"></span></header>
<p id="status" role="status">Logging in…</p>
<div id="chart"></div>
<ul id="legend">
<li><span class="swatch interval"></span>holding, coloured by epoch</li>
<li><span class="swatch mark-promoted"></span>promotion</li>
<li><span class="swatch mark-takeover"></span>takeover</li>
<li><span class="swatch mark-fenced_ack"></span>fenced acknowledgement</li>
<li><span class="swatch mark-denied"></span>denial</li>
<li><span class="swatch mark-store_fallback"></span>store fallback or cache served</li>
<li><span class="swatch mark-overlap"></span>overlap: two holdings at once</li>
</ul>
</body>
</html>
`;

export const timelineCss = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #fafbfc; }
header { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.3rem; margin: 0; }
#who { color: #5a6270; }
#status { color: #5a6270; }
body[data-state="refused"] #status, body[data-state="failed"] #status { color: #b00020; font-weight: 600; }
#chart svg { background: #fff; border: 1px solid #d9dde3; }
.row-label { font-weight: 600; fill: #1d2330; }
.row-note { fill: #5a6270; font-size: 11px; }
.axis { stroke: #c4c9d1; }
.tick { fill: #5a6270; font-size: 11px; }
.interval { stroke: #1d2330; stroke-width: 0.5; }
.interval-label { fill: #1d2330; font-size: 11px; pointer-events: none; }
.mark { stroke-width: 2; }
.mark-promoted { stroke: #6a1b9a; fill: #6a1b9a; }
.mark-takeover { stroke: #e65100; fill: #e65100; }
.mark-fenced_ack { stroke: #2e7d32; fill: #2e7d32; }
.mark-denied { stroke: #5d4037; fill: #5d4037; }
.mark-store_fallback, .mark-cache_served { stroke: #0277bd; fill: #0277bd; }
.mark-overlap { fill: #e00000; fill-opacity: 0.55; stroke: #e00000; }
#legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 1rem; }
.swatch { display: inline-block; width: 0.9rem; height: 0.9rem; margin-right: 0.35rem; vertical-align: -0.1rem; border: 1px solid #1d2330; }
.swatch.interval { background: linear-gradient(90deg, hsl(67 60% 60%), hsl(134 60% 60%), hsl(201 60% 60%)); }
.swatch.mark-promoted { background: #6a1b9a; } .swatch.mark-takeover { background: #e65100; }
.swatch.mark-fenced_ack { background: #2e7d32; } .swatch.mark-denied { background: #5d4037; }
.swatch.mark-store_fallback { background: #0277bd; } .swatch.mark-overlap { background: #e00000; }
`;

export const timelineScript = String.raw`'use strict';
(() => {
  const svgNs = 'http://www.w3.org/2000/svg';
  const markKinds = ['promoted', 'takeover', 'fenced_ack', 'denied', 'store_fallback', 'cache_served'];
  const maxPages = 50;
  const layout = { label: 170, width: 900, row: 56, bar: 26, top: 28, right: 20 };
  let session = null; // the bearer lives in this closure only: no storage, no cookie

  const $ = (id) => document.getElementById(id);
  const say = (state, text) => {
    document.body.dataset.state = state;
    $('status').textContent = text;
  };
  const el = (name, attrs, text) => {
    const e = document.createElementNS(svgNs, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const titled = (e, text) => {
    e.appendChild(el('title', {}, text));
    return e;
  };
  const iso = (t) => (t === null ? 'now' : new Date(t).toISOString());

  async function login() {
    const m = /^#code=([A-Za-z0-9_.-]{16,4096})$/.exec(location.hash);
    // The code leaves the address bar and the history before anything else.
    history.replaceState(null, '', location.pathname + location.search);
    if (!m) {
      say('refused', 'No login code in the address: run keyhold ui.');
      return false;
    }
    const res = await fetch('v1/ui/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: m[1] }), credentials: 'omit' });
    const body = await res.json().catch(() => ({}));
    if (res.status !== 201 || typeof body.token !== 'string') {
      document.body.dataset.code = typeof body.code === 'string' ? body.code : String(res.status);
      say('refused', 'Login refused (' + document.body.dataset.code + '): run keyhold ui again for a new code.');
      return false;
    }
    session = body.token;
    $('who').textContent = 'signed in as ' + body.operator + ', read-only, until ' + body.expiresAt;
    return true;
  }

  async function answer(path) {
    const res = await fetch(path, { headers: { authorization: 'Bearer ' + session }, credentials: 'omit' });
    const body = await res.json().catch(() => ({}));
    return { ok: res.ok, code: (body && typeof body.code === 'string' && body.code) || String(res.status), body };
  }
  async function get(path) {
    const a = await answer(path);
    if (!a.ok) throw new Error(a.code);
    return a.body;
  }

  async function ledger() {
    const entries = [];
    let cursor = null;
    let pages = 0;
    do {
      const q = new URLSearchParams({ limit: '1000' });
      if (cursor) q.set('cursor', cursor);
      const page = await get('v1/audit?' + q);
      entries.push(...page.entries);
      cursor = page.cursor;
      pages += 1;
    } while (cursor && pages < maxPages);
    return { entries, truncated: cursor !== null };
  }

  /** Every stretch where two holdings of one validator both run; an open holding runs to the end of the drawing. */
  function overlaps(intervals, end) {
    const out = [];
    const stop = (i) => (i.to === null ? end : i.to);
    let running = [];
    for (const b of [...intervals].sort((x, y) => x.from - y.from)) {
      // Sorted by start: only holdings still running when b starts can overlap it.
      running = running.filter((a) => stop(a) > b.from);
      for (const a of running) {
        const to = Math.min(stop(a), stop(b));
        if (b.from < to) out.push({ from: b.from, to, epochs: [a.epoch, b.epoch] });
      }
      running.push(b);
    }
    return out;
  }

  function draw(rows, t0, t1) {
    const span = Math.max(1, t1 - t0);
    const x = (t) => layout.label + ((t - t0) / span) * layout.width;
    const height = layout.top + rows.length * layout.row + 10;
    const svg = el('svg', { width: layout.label + layout.width + layout.right, height, role: 'img', 'aria-label': 'holding intervals per validator' });
    svg.appendChild(el('line', { class: 'axis', x1: layout.label, y1: layout.top - 6, x2: layout.label + layout.width, y2: layout.top - 6 }));
    for (let k = 0; k <= 4; k++) {
      const t = t0 + (span * k) / 4;
      svg.appendChild(el('text', { class: 'tick', x: x(t), y: layout.top - 10, 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle' }, new Date(t).toISOString().replace('T', ' ').slice(0, 19)));
    }
    rows.forEach((row, r) => {
      const y = layout.top + r * layout.row;
      const g = el('g', { class: 'validator', 'data-validator': row.validator });
      g.appendChild(el('text', { class: 'row-label', x: 4, y: y + layout.bar / 2 + 5 }, row.validator));
      if (row.note) g.appendChild(el('text', { class: 'row-note', x: 4, y: y + layout.bar / 2 + 19, 'data-note': row.note }, row.note));
      for (const i of row.intervals) {
        const to = i.to === null ? t1 : i.to;
        const bar = el('rect', {
          class: 'interval',
          x: x(i.from),
          y,
          width: Math.max(2, x(to) - x(i.from)),
          height: layout.bar,
          fill: 'hsl(' + ((i.epoch * 67) % 360) + ' 60% 60%)',
          'data-validator': i.validator,
          'data-epoch': i.epoch,
          'data-from': i.from,
          'data-to': i.to === null ? '' : i.to,
          'data-slot': i.slot,
          'data-pod': i.pod,
          'data-ended': i.ended === null ? '' : i.ended,
        });
        g.appendChild(titled(bar, 'epoch ' + i.epoch + ' · ' + i.slot + ' · pod ' + i.pod + ' · ' + iso(i.from) + ' → ' + iso(i.to) + (i.ended ? ' (' + i.ended + ')' : ' (held)')));
        // A label only where it fits, clipped to its bar by a nested svg; the title says it all anyway.
        const w = x(to) - x(i.from);
        if (w >= 48) {
          const clip = el('svg', { x: x(i.from), y, width: w, height: layout.bar });
          clip.appendChild(el('text', { class: 'interval-label', x: 3, y: layout.bar / 2 + 4 }, 'e' + i.epoch + ' ' + i.pod));
          g.appendChild(clip);
        }
      }
      for (const o of overlaps(row.intervals, t1)) {
        g.appendChild(titled(el('rect', { class: 'mark mark-overlap', x: x(o.from), y: y - 3, width: Math.max(3, x(o.to) - x(o.from)), height: layout.bar + 6, 'data-mark': 'overlap', 'data-from': o.from, 'data-to': o.to, 'data-epochs': o.epochs.join(',') }), 'OVERLAP: epochs ' + o.epochs.join(' and ') + ' held at once, ' + iso(o.from) + ' → ' + iso(o.to)));
      }
      for (const m of row.marks) {
        const mx = x(m.time);
        const mark = el('g', { class: 'mark mark-' + m.action, 'data-mark': m.action, 'data-time': m.time, 'data-seq': m.seq, 'data-epoch': m.epoch === null ? '' : m.epoch });
        mark.appendChild(el('line', { x1: mx, y1: y - 4, x2: mx, y2: y + layout.bar + 4 }));
        mark.appendChild(el('circle', { cx: mx, cy: y + layout.bar + 9, r: 4 }));
        g.appendChild(titled(mark, m.action + ' · epoch ' + (m.epoch === null ? '-' : m.epoch) + ' · ' + iso(m.time) + ' · ' + m.actor + (m.reason ? ' · ' + m.reason : '')));
      }
      svg.appendChild(g);
    });
    const chart = $('chart');
    chart.replaceChildren(svg);
  }

  async function main() {
    if (!(await login())) return;
    say('loading', 'Reading the ledger…');
    const { entries, truncated } = await ledger();
    const validators = [...new Set(entries.map((e) => e.validator).filter((v) => typeof v === 'string'))].sort();
    const rows = [];
    for (const validator of validators) {
      // A denial may name an id that was never imported (a pod asking for it): a row of marks, no holdings.
      // Any other refusal is said on the row, not fatal to the page.
      const a = await answer('v1/audit/holders?' + new URLSearchParams({ validator }));
      const intervals = a.ok ? a.body.intervals : [];
      const note = a.ok ? null : a.code === 'unknown_validator' ? 'not a validator' : 'holdings not read: ' + a.code;
      const marks = entries.filter((e) => e.validator === validator && markKinds.includes(e.action)).sort((a, b) => a.time - b.time || a.seq - b.seq);
      rows.push({ validator, intervals, marks, note });
    }
    const times = rows.flatMap((r) => [...r.intervals.flatMap((i) => (i.to === null ? [i.from] : [i.from, i.to])), ...r.marks.map((m) => m.time)]);
    const open = rows.some((r) => r.intervals.some((i) => i.to === null));
    const t0 = times.length ? Math.min(...times) : Date.now();
    const t1 = Math.max(t0 + 1, ...times, open ? Math.max(Date.now(), ...times) : t0 + 1);
    draw(rows, t0, t1);
    const n = rows.reduce((s, r) => s + r.intervals.length, 0);
    say('ready', validators.length + ' validators, ' + n + ' holdings' + (truncated ? '; the ledger is longer than ' + maxPages + ',000 entries and the rest is not drawn' : '') + '.');
  }

  main().catch((e) => say('failed', 'Could not draw the timeline: ' + (e && e.message ? e.message : 'error')));
})();
`;

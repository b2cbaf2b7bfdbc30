// dynamod dashboard. Plain ES2020, no modules, no libraries: it polls the
// node that served it and redraws. Everything that comes from the server
// is written with textContent or as an attribute value, never as markup.
'use strict';

(function () {
  const POLL_MS = Number(document.body.dataset.pollMs) || 1000;
  const PBS_EVERY_MS = 5000; // a Monte Carlo estimate: no need for every second
  const BUCKETS_EVERY_MS = 10000;
  const FETCH_TIMEOUT_MS = 5000;
  const TOKEN_KEY = 'dynamod-token';
  const THEME_KEY = 'dynamod-theme';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  // Tableau 10: tells members apart in light and dark alike.
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2',
    '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const OPS = ['get', 'put', 'delete', 'list', 'other'];
  const COUNTERS = [
    ['quorum_failures', 'quorum failures', 'counters', true],
    ['read_repairs', 'read repairs', 'counters', false],
    ['hints_stored', 'hints stored', 'counters', false],
    ['hints_delivered', 'hints delivered', 'counters', false],
    ['ae_keys_repaired', 'keys repaired by anti-entropy', 'counters', false],
    ['hints_pending', 'hints pending', 'gauges', false],
  ];
  // The API lives next to /ui/, wherever a proxy put the two.
  const BASE = location.pathname.replace(/ui\/[^/]*$/, '');

  const $ = (id) => document.getElementById(id);

  // el builds an element; attrs are set as attributes (never as markup),
  // children are nodes or strings (text nodes).
  function el(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }
  function sv(tag, attrs, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }
  function build(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }
  function text(node, s) {
    node.textContent = s;
    return node;
  }

  // ---- formatting ----
  function fmtNum(n) {
    if (n === undefined || n === null || Number.isNaN(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    if (Number.isInteger(n)) return String(n);
    return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
  }
  function fmtBytes(n) {
    if (n === undefined || n === null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i];
  }
  function fmtMs(ms) {
    if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
    if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 0 : 1) + ' s';
    if (ms >= 10) return ms.toFixed(0) + ' ms';
    return ms.toFixed(ms >= 1 ? 1 : 2) + ' ms';
  }
  function fmtAgo(iso) {
    const t = Date.parse(iso);
    if (!iso || Number.isNaN(t) || t <= 0 || iso.startsWith('0001-')) return 'never';
    const s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 60) return s.toFixed(0) + ' s ago';
    if (s < 3600) return (s / 60).toFixed(0) + ' min ago';
    if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
    return (s / 86400).toFixed(1) + ' d ago';
  }
  function last(arr) {
    return Array.isArray(arr) && arr.length ? arr[arr.length - 1] : undefined;
  }
  function sum(arr, n) {
    if (!Array.isArray(arr)) return 0;
    let s = 0;
    for (const v of arr.slice(-n)) s += Number(v) || 0;
    return s;
  }

  // ---- server answers ----
  class HTTPError extends Error {
    constructor(status, body) {
      super('HTTP ' + status);
      this.status = status;
      this.body = body;
    }
  }

  // describe turns an error body ({"error", "detail"}) into one line.
  function describe(body) {
    if (body === null || body === undefined) return '';
    if (typeof body === 'string') return body;
    let s = typeof body.error === 'string' ? body.error : '';
    const d = flatten(body.detail);
    if (d.length) s += (s ? ': ' : '') + d.join('; ');
    return s || JSON.stringify(body);
  }
  function flatten(detail) {
    if (detail === undefined || detail === null) return [];
    if (typeof detail === 'string') return [detail];
    if (Array.isArray(detail)) return detail.flatMap(flatten);
    if (typeof detail === 'object') {
      if (Array.isArray(detail.problems)) return detail.problems.map(String);
      return Object.entries(detail).map(([k, v]) => k + ': ' + (typeof v === 'object' ? JSON.stringify(v) : String(v)));
    }
    return [String(detail)];
  }
  // errText is what a section shows when its request failed.
  function errText(e) {
    if (e instanceof HTTPError) {
      if (e.status === 401) return 'this node asks for a token (enter it above)';
      if (e.status === 403) {
        const d = e.body && typeof e.body.detail === 'string' ? e.body.detail : '';
        const m = /grant (\S+)/.exec(d);
        return 'this token lacks the grant ' + (m ? m[1] : 'this needs');
      }
      const s = describe(e.body);
      return e.status + (s ? ' ' + s : '');
    }
    if (e && e.name === 'TimeoutError') return 'the node did not answer in time';
    return 'the node is unreachable' + (e && e.message ? ' (' + e.message + ')' : '');
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return ''; }
  }

  // api fetches a path of the node's API with the tab's token, and
  // returns the decoded body; a non-2xx answer throws HTTPError.
  async function api(path, opts) {
    opts = opts || {};
    const headers = new Headers(opts.headers || {});
    headers.set('Accept', 'application/json');
    const tok = token();
    if (tok) headers.set('Authorization', 'Bearer ' + tok);
    // same-origin, not omit: a node with --http-client-ca needs the
    // browser's client certificate on these requests too.
    const init = { method: opts.method || 'GET', headers, cache: 'no-store', credentials: 'same-origin', redirect: 'error' };
    if (opts.body !== undefined) init.body = opts.body;
    if (typeof AbortSignal !== 'undefined' && AbortSignal.timeout) init.signal = AbortSignal.timeout(opts.timeout || FETCH_TIMEOUT_MS);
    const resp = await fetch(BASE + path, init);
    const raw = await resp.text();
    let body = null;
    if (raw) {
      try { body = JSON.parse(raw); } catch (_) { body = raw; }
    }
    if (resp.status === 401) needToken(tok !== '');
    if (!resp.ok) throw new HTTPError(resp.status, body);
    return body;
  }

  // ---- token ----
  function needToken(refused) {
    $('auth').hidden = false;
    $('token-button').hidden = false;
    text($('auth-msg'), refused
      ? 'The node refused this token (unknown, malformed or revoked). Enter another one.'
      : 'This node asks for a bearer token. A token with the cluster admin grant shows every section.');
  }
  function setupToken() {
    $('auth-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('token').value.trim();
      try {
        if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
      } catch (_) { /* storage off: the token lasts until reload */ }
      $('token').value = '';
      $('auth').hidden = true;
      refreshAll();
    });
    $('token-forget').addEventListener('click', () => {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing kept */ }
      $('token').value = '';
      text($('auth-msg'), 'Forgotten.');
    });
    $('token-button').addEventListener('click', () => {
      $('auth').hidden = !$('auth').hidden;
      if (!$('auth').hidden) $('token').focus();
    });
    if (token()) $('token-button').hidden = false;
  }

  // ---- theme ----
  function applyTheme(t) {
    if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
    else delete document.documentElement.dataset.theme;
    text($('theme'), 'theme: ' + (t === 'light' || t === 'dark' ? t : 'auto'));
  }
  function setupTheme() {
    let t = '';
    try { t = localStorage.getItem(THEME_KEY) || ''; } catch (_) { /* default */ }
    applyTheme(t);
    $('theme').addEventListener('click', () => {
      const cur = document.documentElement.dataset.theme || 'auto';
      const next = { auto: 'light', light: 'dark', dark: 'auto' }[cur] || 'auto';
      try {
        if (next === 'auto') localStorage.removeItem(THEME_KEY); else localStorage.setItem(THEME_KEY, next);
      } catch (_) { /* not kept */ }
      applyTheme(next);
    });
  }

  // ---- colours ----
  const colours = new Map();
  function assignColours(members) {
    const names = members.map((m) => m.name).sort();
    names.forEach((n, i) => {
      colours.set(n, i < PALETTE.length ? PALETTE[i] : 'hsl(' + ((i * 137.5) % 360).toFixed(0) + ' 55% 55%)');
    });
  }
  function colour(name) {
    return colours.get(name) || '#8a93a0';
  }
  function swatch(name) {
    const s = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    s.style.background = colour(name);
    return s;
  }

  // ---- members ----
  const state = { cluster: null, lastOK: 0, failing: false, stats: null, pbsAt: 0, bucketsAt: 0, buckets: [] };

  function renderMembers(doc) {
    text($('node-name'), doc.node || '?');
    document.title = 'dynamod · ' + (doc.node || '');
    const members = (doc.members || []).slice().sort((a, b) => a.name.localeCompare(b.name));
    assignColours(members);
    const total = Math.max(1, (doc.partitions || 0) * (doc.default_n_val || 1));
    const rows = members.map((m) => {
      const gone = m.status === 'left' || m.status === 'removed';
      const live = m.liveness === 'alive' ? 'alive' : 'dead';
      const bar = el('span', { class: 'bar' });
      bar.style.width = Math.min(120, Math.round(60 * (m.primary_partitions || 0) * (members.length || 1) / total)) + 'px';
      let http = m.http_addr ? el('a', { href: location.protocol + '//' + m.http_addr + '/ui/', title: 'this member\'s dashboard' }, m.http_addr) : '–';
      if (m.name === doc.node && m.http_addr) http = el('span', {}, m.http_addr, ' ', el('span', { class: 'muted' }, '(this page)'));
      return el('tr', { 'data-member': m.name, 'data-liveness': live, 'data-status': m.status, class: gone ? 'gone' : null },
        el('td', {}, swatch(m.name), el('strong', {}, m.name)),
        el('td', {}, m.status || '?'),
        el('td', {}, el('span', { class: 'badge ' + live }, live)),
        el('td', {}, http),
        el('td', { class: 'mono' }, m.rpc_addr || '–'),
        el('td', { class: 'mono' }, m.gossip_addr || '–'),
        el('td', { class: 'num' }, fmtNum(m.primary_partitions || 0), bar));
    });
    clear($('members')).append(...rows);
    const alive = members.filter((m) => m.liveness === 'alive').length;
    const joined = members.filter((m) => m.status === 'joined' || m.status === 'leaving').length;
    text($('members-summary'), joined + ' in the ring, ' + alive + ' alive, n_val ' + (doc.default_n_val || '?') + ', ' + (doc.partitions || '?') + ' partitions');

    const alerts = [];
    const dead = members.filter((m) => m.liveness !== 'alive' && m.status !== 'left' && m.status !== 'removed');
    if (dead.length) alerts.push(['bad', 'Down: ' + dead.map((m) => m.name).join(', ') + '. Their writes go to fallbacks with hints.']);
    if (doc.under_replicated) alerts.push(['bad', 'Under-replicated: the ring has fewer members (' + joined + ') than the default n_val (' + doc.default_n_val + '), so keys have fewer replicas than asked.']);
    const st = doc.storage || {};
    if (st.writable === false || st.readable === false) {
      alerts.push(['bad', 'Storage: ' + (st.readable === false ? 'not readable' : 'read-only') + (st.error ? ' (' + st.error + ')' : '') +
        (st.since ? ', since ' + fmtAgo(st.since) : '') + (st.next_reopen ? '; next reopen attempt ' + new Date(st.next_reopen).toLocaleTimeString() : '')]);
    }
    for (const w of doc.warnings || []) alerts.push(['warn', w]);
    if (doc.hints_pending) alerts.push(['info', fmtNum(doc.hints_pending) + ' hints pending on ' + doc.node + ', waiting for their primaries.']);
    if (doc.steady === false) alerts.push(['info', 'Membership change in progress: ' + (doc.pending_transfers || []).length + ' partition transfers pending.']);
    clear($('alerts')).append(...alerts.map(([cls, msg]) => el('div', { class: 'alert ' + cls, role: cls === 'bad' ? 'alert' : null }, msg)));
  }

  // ---- ring ----
  let ringKey = '';
  function polar(r, frac) {
    const a = 2 * Math.PI * frac - Math.PI / 2;
    return [r * Math.cos(a), r * Math.sin(a)];
  }
  function arcPath(r, f0, f1) {
    if (f1 - f0 >= 0.999999) {
      const [x0, y0] = polar(r, 0), [x1, y1] = polar(r, 0.5);
      return 'M' + x0 + ' ' + y0 + 'A' + r + ' ' + r + ' 0 1 1 ' + x1 + ' ' + y1 + 'A' + r + ' ' + r + ' 0 1 1 ' + x0 + ' ' + y0;
    }
    const [x0, y0] = polar(r, f0), [x1, y1] = polar(r, f1);
    return 'M' + x0.toFixed(2) + ' ' + y0.toFixed(2) + 'A' + r + ' ' + r + ' 0 ' + (f1 - f0 > 0.5 ? 1 : 0) + ' 1 ' + x1.toFixed(2) + ' ' + y1.toFixed(2);
  }
  const R_RING = 104, R_DOTS = 58;

  function renderRing(doc) {
    const svg = $('ring');
    const q = doc.partitions || 0;
    const ring = Array.isArray(doc.ring) && doc.ring.length === q ? doc.ring : null;
    const inRing = (doc.members || []).filter((m) => m.status !== 'left' && m.status !== 'removed')
      .map((m) => m.name).sort();
    const liveness = new Map((doc.members || []).map((m) => [m.name, m.liveness]));
    const key = q + '|' + (ring ? ring.join(',') : '-') + '|' + inRing.join(',') + '|' + inRing.map((n) => colour(n)).join(',');
    if (key !== ringKey) {
      ringKey = key;
      const arcs = sv('g', { id: 'ring-arcs' });
      if (!ring || q === 0) {
        arcs.append(sv('path', { class: 'arc empty', d: arcPath(R_RING, 0, 1) },
          sv('title', {}, 'owners unknown: this node sends no ring')));
      } else {
        let start = 0;
        for (let p = 1; p <= q; p++) {
          if (p < q && ring[p] === ring[start]) continue;
          const owner = ring[start] || '';
          arcs.append(sv('path', { class: owner ? 'arc' : 'arc empty', d: arcPath(R_RING, start / q, p / q), stroke: owner ? colour(owner) : null, 'data-owner': owner },
            sv('title', {}, 'partitions ' + start + (p - 1 > start ? '–' + (p - 1) : '') + ': ' + (owner || 'no owner'))));
          start = p;
        }
        // Quarter ticks help to read partition numbers off the circle.
        for (let i = 0; i < 4; i++) {
          const [x0, y0] = polar(R_RING - 9, i / 4), [x1, y1] = polar(R_RING + 9, i / 4);
          arcs.append(sv('line', { class: 'tick', x1: x0, y1: y0, x2: x1, y2: y1 }));
        }
      }
      const old = $('ring-arcs');
      if (old) old.replaceWith(arcs); else svg.append(arcs);
    }

    // Member dots on an inner circle; transfers run from the giver's dot,
    // past the partition's place on the ring, to the receiver's dot.
    const pos = new Map();
    inRing.forEach((n, i) => pos.set(n, polar(inRing.length > 1 ? R_DOTS : 0, i / Math.max(1, inRing.length))));
    const transfers = (doc.pending_transfers || []).slice().sort((a, b) => a.partition - b.partition);
    const defs = sv('defs', {}, [...new Set(transfers.map((t) => t.from))].map((f, i) =>
      sv('marker', { id: 'arrow-' + i, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 5, markerHeight: 5, orient: 'auto-start-reverse' },
        sv('path', { d: 'M0 0L10 5L0 10z', fill: colour(f) }))));
    const markerOf = new Map([...new Set(transfers.map((t) => t.from))].map((f, i) => [f, 'url(#arrow-' + i + ')']));
    const g = sv('g', { id: 'ring-live' }, defs);
    const shown = transfers.slice(0, 512);
    for (const t of shown) {
      const mid = (t.partition + 0.5) / Math.max(1, q);
      const [cx, cy] = polar(R_RING + 10, mid);
      const from = pos.get(t.from) || polar(R_RING - 12, mid);
      const to = pos.get(t.to) || [0, 0];
      const active = t.state === 'receiving' || t.state === 'verifying';
      const d = 'M' + from[0].toFixed(1) + ' ' + from[1].toFixed(1) + 'Q' + cx.toFixed(1) + ' ' + cy.toFixed(1) + ' ' + to[0].toFixed(1) + ' ' + to[1].toFixed(1);
      g.append(sv('path', {
        class: 'transfer ' + (active ? 'active ' : '') + (t.state || ''), d, stroke: colour(t.from),
        'marker-end': markerOf.get(t.from), 'data-transfer': t.partition, 'data-from': t.from, 'data-to': t.to, 'data-state': t.state,
      }, sv('title', {}, 'partition ' + t.partition + ': ' + t.from + ' → ' + t.to + ', ' + t.state + ', ' + fmtNum(t.keys) + ' keys, ' + fmtBytes(t.bytes))));
    }
    for (const n of inRing) {
      const [x, y] = pos.get(n);
      const dead = liveness.get(n) !== 'alive';
      const dot = sv('circle', { class: 'member-dot' + (dead ? ' dead' : ''), cx: x.toFixed(1), cy: y.toFixed(1), r: 13, fill: colour(n) },
        sv('title', {}, n + (dead ? ' (dead)' : '')));
      g.append(dot, sv('text', { class: 'member-label', x: x.toFixed(1), y: (y + 21).toFixed(1) }, n));
    }
    if (!inRing.length) g.append(sv('text', { class: 'centre', x: 0, y: 0 }, 'no members'));
    const old = $('ring-live');
    if (old) old.replaceWith(g); else svg.append(g);

    const owned = new Map();
    if (ring) for (const o of ring) owned.set(o, (owned.get(o) || 0) + 1);
    clear($('ring-legend')).append(...inRing.map((n) => el('span', {}, swatch(n), n + (ring ? ' ' + (owned.get(n) || 0) : ''))));
    text($('ring-summary'), ring ? q + ' partitions, coloured by first primary' : q + ' partitions (owners not sent by this node)');

    const wrap = $('transfers-wrap');
    wrap.hidden = transfers.length === 0;
    const order = { receiving: 0, verifying: 1, waiting: 2, pending: 3, done: 4 };
    const rows = transfers.slice().sort((a, b) => (order[a.state] ?? 5) - (order[b.state] ?? 5) || a.partition - b.partition).slice(0, 12);
    clear($('transfers')).append(...rows.map((t) => el('tr', { 'data-transfer-row': t.partition },
      el('td', { class: 'num' }, String(t.partition)),
      el('td', {}, t.from ? [swatch(t.from), t.from] : el('span', { class: 'muted', title: 'no source chosen yet' }, '…'), ' → ', swatch(t.to), t.to || '?'),
      el('td', {}, t.state || ''),
      el('td', { class: 'num' }, fmtNum(t.keys)),
      el('td', { class: 'num' }, fmtBytes(t.bytes)))));
    const byState = {};
    for (const t of transfers) byState[t.state] = (byState[t.state] || 0) + 1;
    text($('transfers-more'), transfers.length + ' pending (' + Object.entries(byState).map(([s, n]) => n + ' ' + s).join(', ') + ')' +
      (transfers.length > rows.length ? '; the first ' + rows.length + ' shown' : ''));
  }

  // ---- anti-entropy ----
  function renderAE(doc) {
    const ae = doc.anti_entropy;
    const totals = $('ae-totals');
    clear(totals);
    clear($('ae-peers'));
    if (!ae) {
      text($('ae-summary'), 'off on this node');
      $('ae-peers-table').hidden = true;
      return;
    }
    text($('ae-summary'), ae.built + ' of ' + ae.partitions + ' trees built');
    const kv = [
      ['keys covered', fmtNum(ae.keys)], ['tombstones', fmtNum(ae.tombstones)],
      ['segments per tree', fmtNum(ae.segments)], ['tree memory', fmtBytes(ae.tree_bytes)],
      ['exchanges', fmtNum(ae.exchanges)], ['failed exchanges', fmtNum(ae.failures)],
      ['keys pushed / pulled', fmtNum(ae.keys_pushed) + ' / ' + fmtNum(ae.keys_pulled)],
      ['bytes sent / received', fmtBytes(ae.bytes_sent) + ' / ' + fmtBytes(ae.bytes_received)],
      ['tombstones reaped', fmtNum(ae.tombstones_reaped)], ['tree rebuilds', fmtNum(ae.rebuilds)],
    ];
    totals.append(...kv.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
    const peers = ae.peers || [];
    $('ae-peers-table').hidden = peers.length === 0;
    $('ae-peers').append(...peers.map((p) => el('tr', { 'data-peer': p.peer },
      el('td', {}, swatch(p.peer), p.peer),
      el('td', { title: p.last_exchange || '' }, fmtAgo(p.last_exchange),
        p.last_error ? el('div', { class: 'error small' }, p.last_error) : null),
      el('td', { class: 'num' }, fmtNum(p.partitions)),
      el('td', { class: 'num' }, fmtNum(p.differing_partitions) + ' / ' + fmtNum(p.differing_segments) + ' / ' + fmtNum(p.differing_keys)),
      el('td', { class: 'num' }, fmtNum(p.exchanges)))));
  }

  // ---- sparklines ----
  // spark draws series (arrays of numbers, oldest first) as one inline
  // SVG, all on one scale from 0; the first gets a filled area.
  function spark(series, classes, label) {
    const n = Math.max(2, ...series.map((s) => (s || []).length));
    let max = 0;
    for (const s of series) for (const v of s || []) if (Number(v) > max) max = Number(v);
    if (max <= 0) max = 1;
    const W = 300, H = 40;
    const svg = sv('svg', { class: 'spark', viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
    svg.append(sv('line', { class: 'base', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
    series.forEach((s, i) => {
      s = s || [];
      // An all-zero series other than the first is left out: the
      // baseline says it.
      if (!s.length || (i > 0 && !s.some((v) => Number(v) > 0))) return;
      const off = n - s.length; // right-align: the newest is at the right edge
      const pts = s.map((v, j) => ((off + j) * W / (n - 1)).toFixed(1) + ',' + (H - 1 - (Number(v) || 0) * (H - 3) / max).toFixed(1));
      if (i === 0) {
        const first = (off * W / (n - 1)).toFixed(1);
        svg.append(sv('polygon', { class: 'area ' + classes[i], points: first + ',' + H + ' ' + pts.join(' ') + ' ' + W + ',' + H }));
      }
      svg.append(sv('polyline', { class: classes[i], points: pts.join(' ') }));
    });
    svg.append(sv('title', {}, label + ' (max ' + fmtNum(max) + ')'));
    return svg;
  }

  function renderStats(st) {
    const ops = $('ops'), counters = $('counters');
    clear(ops);
    clear(counters);
    const has = st && st.ops && typeof st.ops === 'object';
    $('stats-empty').hidden = !!has;
    $('counters-title').hidden = !has;
    if (!has) return;
    const step = Number(st.step_seconds) || 1;
    const len = Math.max(0, ...OPS.map((o) => ((st.ops[o] || {}).count || []).length));
    let totalRate = 0;
    ops.append(el('div', { class: 'head' }, ''), el('div', { class: 'head' }, 'requests/s (errors in red)'), el('div', { class: 'head lat' }, 'latency p50 / p99'));
    for (const op of OPS) {
      const o = st.ops[op];
      if (!o) continue;
      const rate = (Number(last(o.count)) || 0) / step;
      const errs = (Number(last(o.errors)) || 0) / step;
      totalRate += rate;
      const rateVal = el('span', { class: 'val' }, fmtNum(rate) + '/s', errs ? el('span', { class: 'errs' }, ' ' + fmtNum(errs) + ' err') : null);
      const idle = !(Number(last(o.count)) > 0); // no requests: no latency
      const latVal = el('span', { class: 'val' }, idle ? '–' : fmtMs(last(o.p50_ms)), ' / ', el('span', { class: 'p99' }, idle ? '–' : fmtMs(last(o.p99_ms))));
      ops.append(
        el('div', { class: 'op', 'data-op': op }, op),
        el('div', { class: 'spark-cell' }, spark([o.count, o.errors], ['s0', 'err'], op + ' requests per step'), rateVal),
        el('div', { class: 'spark-cell lat' }, spark([o.p50_ms, o.p99_ms], ['s0', 's1'], op + ' p50 and p99 latency, ms'), latVal));
    }
    for (const [name, label, group, bad] of COUNTERS) {
      const s = (st[group] || {})[name];
      if (!Array.isArray(s)) continue;
      const val = group === 'gauges' ? fmtNum(Number(last(s)) || 0) : fmtNum(sum(s, 60)) + ' in 1 min';
      counters.append(el('div', { class: 'counter', 'data-counter': name },
        el('span', { class: 'name' }, label), el('span', { class: 'val' + (bad && sum(s, 60) > 0 ? ' error' : '') }, val),
        spark([s], [bad && sum(s, s.length) > 0 ? 'err' : 's0'], label)));
    }
    text($('stats-summary'), fmtNum(totalRate) + ' req/s on ' + (st.node || 'this node') + ', last ' + Math.round(len * step / 60 * 10) / 10 + ' min');
  }

  // ---- PBS ----
  const pbsShown = new Set(); // curve keys the operator ticked ("r/w")
  let pbsBucketSeen = '';
  function curveKey(c) { return c.r + '/' + c.w; }

  function renderPBS(doc) {
    const chart = $('pbs-chart'), list = $('pbs-curves');
    clear(chart);
    clear(list);
    const curves = doc && Array.isArray(doc.curves) ? doc.curves : [];
    $('pbs-empty').hidden = curves.length > 0;
    chart.toggleAttribute('hidden', curves.length === 0); // an SVG element has no .hidden
    if (!doc) {
      text($('pbs-samples'), '');
      return;
    }
    const s = doc.samples || {};
    text($('pbs-summary'), doc.bucket ? 'bucket ' + doc.bucket + ': N=' + doc.n + ' R=' + doc.r + ' W=' + doc.w : '');
    text($('pbs-samples'), 'latency samples over the last ' + fmtNum(doc.window_seconds) + ' s: write ' + fmtNum(s.write_request) +
      ', ack ' + fmtNum(s.write_ack) + ', read ' + fmtNum(s.read_request) + ', response ' + fmtNum(s.read_response) +
      '; ' + fmtNum(doc.trials) + ' Monte Carlo trials per curve.');
    if (!curves.length) {
      text($('pbs-empty'), 'not enough latency samples yet for bucket ' + (doc.bucket || '') + ': write and read some keys');
      return;
    }
    if (pbsBucketSeen !== doc.bucket) { // a new bucket: its own curve and R=W=1
      pbsBucketSeen = doc.bucket;
      pbsShown.clear();
      pbsShown.add(curveKey(curves[0]));
      const weakest = curves.find((c) => c.r === 1 && c.w === 1);
      if (weakest) pbsShown.add(curveKey(weakest));
      const quorum = curves.find((c) => c.strict && c.r === c.w); // e.g. R=W=2 of N=3
      if (quorum) pbsShown.add(curveKey(quorum));
    }
    let tmax = 1;
    for (const c of curves) for (const pt of c.visibility || []) if (pt.t_ms > tmax) tmax = pt.t_ms;
    const L = 34, T = 18, W = 360 - L - 12, H = 200 - T - 28;
    const x = (t) => L + W * Math.log10(1 + Math.max(0, t)) / Math.log10(1 + tmax);
    const y = (p) => T + H * (1 - Math.min(1, Math.max(0, p)));
    for (const p of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
      chart.append(sv('line', { class: 'gridline', x1: L, y1: y(p), x2: L + W, y2: y(p) }),
        sv('text', { x: L - 4, y: y(p) + 3, 'text-anchor': 'end' }, String(p)));
    }
    let lastLabel = -Infinity;
    for (let t = 0; t <= tmax * 1.0001; t = t === 0 ? 1 : t * 10) {
      chart.append(sv('line', { class: 'gridline', x1: x(t), y1: T, x2: x(t), y2: T + H }));
      if (x(t) - lastLabel >= 28) { // ticks crowd at the left of a log axis
        chart.append(sv('text', { x: x(t), y: T + H + 12, 'text-anchor': 'middle' }, t === 0 ? '0' : fmtMs(t)));
        lastLabel = x(t);
      }
    }
    chart.append(sv('line', { class: 'axis', x1: L, y1: T + H, x2: L + W, y2: T + H }), sv('line', { class: 'axis', x1: L, y1: T, x2: L, y2: T + H }),
      sv('text', { x: L + W, y: T + H + 25, 'text-anchor': 'end' }, 't after the write\'s acknowledgement (log scale)'),
      sv('text', { x: L - 30, y: 9 }, 'P(a read started t after the ack sees the write)'));
    curves.forEach((c, i) => {
      const k = curveKey(c);
      const col = PALETTE[i % PALETTE.length];
      const on = pbsShown.has(k);
      if (on && Array.isArray(c.visibility) && c.visibility.length) {
        const pts = c.visibility.map((pt) => x(pt.t_ms).toFixed(1) + ',' + y(pt.p).toFixed(1));
        chart.append(sv('polyline', { class: 'curve', points: pts.join(' '), stroke: col, 'data-curve': k },
          sv('title', {}, 'R=' + c.r + ' W=' + c.w)));
      }
      const box = el('input', { type: 'checkbox', 'data-curve': k, checked: on });
      box.addEventListener('change', () => {
        if (box.checked) pbsShown.add(k); else pbsShown.delete(k);
        renderPBS(doc);
      });
      const p0 = c.visibility && c.visibility.length ? c.visibility[0].p : undefined;
      const sw = el('span', { class: 'swatch' });
      sw.style.background = col;
      list.append(el('label', { title: 'expected versions behind: ' + fmtNum(c.expected_versions_behind) },
        box, sw, 'R=' + c.r + ' W=' + c.w + (i === 0 ? ' (bucket)' : ''),
        c.strict ? el('span', { class: 'strict' }, 'R+W>N') : el('span', { class: 'muted' }, 'P₀=' + (p0 === undefined ? '–' : (p0 * 100).toFixed(1) + '%'))));
    });
  }

  async function pollPBS(force) {
    const b = $('pbs-bucket').value.trim();
    if (!b) return;
    if (!force && Date.now() - state.pbsAt < PBS_EVERY_MS) return;
    state.pbsAt = Date.now();
    try {
      renderPBS(await api('cluster/pbs?bucket=' + encodeURIComponent(b), { timeout: 15000 }));
    } catch (e) {
      renderPBS(null);
      text($('pbs-empty'), e instanceof HTTPError && e.status === 404 ? 'no data (this node serves no staleness estimate)' : errText(e));
      text($('pbs-summary'), '');
    }
  }

  // ---- buckets and props ----
  async function pollBuckets(force) {
    if (!force && Date.now() - state.bucketsAt < BUCKETS_EVERY_MS) return;
    state.bucketsAt = Date.now();
    try {
      const doc = await api('buckets');
      const list = Array.isArray(doc && doc.buckets) ? doc.buckets : [];
      state.buckets = list;
      clear($('bucket-list')).append(...list.map((b) => el('option', { value: b })));
      if (!$('pbs-bucket').value && list.length) {
        $('pbs-bucket').value = list[0];
        pollPBS(true);
      }
      if (!$('props-bucket').value && list.length) $('props-bucket').value = list[0];
      text($('props-summary'), list.length + ' bucket' + (list.length === 1 ? '' : 's'));
    } catch (e) {
      text($('props-summary'), 'bucket list: ' + errText(e));
    }
  }

  // PROPS lists the known properties in display order with their kind.
  const PROPS = [
    ['n_val', 'int'], ['r', 'quorum'], ['w', 'quorum'], ['pr', 'quorum'], ['pw', 'quorum'], ['dw', 'quorum'],
    ['notfound_ok', 'bool'], ['read_repair_chance', 'number'], ['resolver', 'string'],
    ['max_siblings', 'int'], ['warn_siblings', 'int'], ['max_value_bytes', 'int'], ['warn_value_bytes', 'int'],
  ];
  const props = { bucket: '', loaded: null };

  // propsError shows a title and the node's list of problems next to
  // the form; none hides it.
  function propsError(title, lines) {
    const box = document.querySelector('[data-props-error]');
    clear(box);
    box.hidden = !title;
    if (!title) return;
    box.append(el('strong', {}, title));
    if (lines && lines.length) box.append(el('ul', {}, lines.map((l) => el('li', {}, l))));
  }

  async function loadProps(bucket) {
    propsError('');
    text($('props-ok'), '');
    try {
      const doc = await api('buckets/' + seg(bucket) + '/props');
      props.bucket = bucket;
      props.loaded = doc;
      const fields = clear($('props-fields'));
      const known = new Set(PROPS.map(([k]) => k));
      const all = PROPS.filter(([k]) => k in doc).concat(Object.keys(doc).filter((k) => !known.has(k)).map((k) => [k, typeof doc[k] === 'number' ? 'number' : 'string']));
      for (const [name, kind] of all) {
        const v = doc[name];
        let input;
        if (kind === 'bool' || typeof v === 'boolean') {
          input = el('select', { id: 'prop-' + name, name }, el('option', { value: 'true' }, 'true'), el('option', { value: 'false' }, 'false'));
          input.value = String(v);
        } else {
          input = el('input', { id: 'prop-' + name, name, spellcheck: 'false', inputmode: kind === 'int' ? 'numeric' : null });
          input.value = v === null || v === undefined ? '' : String(v);
        }
        input.dataset.kind = kind;
        input.dataset.orig = input.value;
        const field = el('div', { class: 'field', 'data-field': name }, el('label', { for: 'prop-' + name }, name), input, el('span', { class: 'field-error' }));
        input.addEventListener('input', () => field.classList.toggle('changed', input.value !== input.dataset.orig));
        input.addEventListener('change', () => field.classList.toggle('changed', input.value !== input.dataset.orig));
        fields.append(field);
      }
      $('props-form').hidden = false;
      text($('props-summary'), 'bucket ' + bucket);
    } catch (e) {
      $('props-form').hidden = true;
      text($('props-summary'), errText(e));
    }
  }

  // value turns a field's text into the JSON value its kind wants. Text
  // that does not fit goes as a string, for the node to refuse by name.
  function value(kind, s) {
    s = s.trim();
    const num = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s);
    switch (kind) {
      case 'int': case 'number': return num ? Number(s) : s;
      case 'quorum': return /^\d+$/.test(s) ? Number(s) : s;
      case 'bool': return s === 'true' ? true : s === 'false' ? false : s;
      default: return s;
    }
  }

  async function saveProps() {
    propsError('');
    text($('props-ok'), '');
    for (const f of document.querySelectorAll('#props-fields .field')) {
      text(f.querySelector('.field-error'), '');
      const i = f.querySelector('input,select');
      if (i) i.removeAttribute('aria-invalid');
    }
    const change = {};
    for (const i of document.querySelectorAll('#props-fields input, #props-fields select')) {
      if (i.value !== i.dataset.orig) change[i.name] = value(i.dataset.kind, i.value);
    }
    if (!Object.keys(change).length) {
      text($('props-ok'), 'nothing changed');
      return;
    }
    try {
      await api('buckets/' + seg(props.bucket) + '/props', {
        method: 'PUT', body: JSON.stringify(change), headers: { 'Content-Type': 'application/json' },
      });
      await loadProps(props.bucket);
      text($('props-ok'), 'saved: ' + Object.keys(change).join(', '));
    } catch (e) {
      if (!(e instanceof HTTPError) || e.status !== 400 || !e.body || !e.body.detail) {
        propsError(errText(e));
        return;
      }
      const lines = flatten(e.body.detail);
      for (const l of lines) { // "n_val: ..." also goes next to its field
        const m = /^([a-z_]+)[: ]/.exec(l);
        const f = m && document.querySelector('#props-fields [data-field="' + m[1] + '"]');
        if (f) {
          text(f.querySelector('.field-error'), l.slice(m[1].length).replace(/^[: ]+/, ''));
          f.querySelector('input,select').setAttribute('aria-invalid', 'true');
        }
      }
      propsError((typeof e.body.error === 'string' ? e.body.error : 'refused') + '; nothing was changed:', lines);
    }
  }

  function setupProps() {
    $('props-load').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const b = $('props-bucket').value.trim();
      if (b) loadProps(b);
    });
    $('props-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveProps();
    });
    $('props-reset').addEventListener('click', () => {
      for (const i of document.querySelectorAll('#props-fields input, #props-fields select')) i.value = i.dataset.orig;
      for (const f of document.querySelectorAll('#props-fields .field')) f.classList.remove('changed');
      propsError('');
    });
    $('pbs-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      pollPBS(true);
    });
  }

  // seg percent-encodes one path segment, dots too, so that "." and ".."
  // stay keys rather than path steps.
  function seg(s) {
    return encodeURIComponent(s).replace(/\./g, '%2E');
  }

  // ---- finders ----
  const FINDERS = {
    siblings: { arg: 'min', label: 'more than', unit: 'siblings', def: 1 },
    large: { arg: 'bytes', label: 'larger than', unit: 'bytes', def: 262144 },
    tombstones: { arg: null },
  };
  function setupFinders() {
    const what = $('find-what');
    const sync = () => {
      const f = FINDERS[what.value];
      $('find-arg-group').hidden = !f.arg;
      if (f.arg) {
        text($('find-arg-label'), f.label);
        text($('find-arg-unit'), f.unit);
        $('find-arg').value = String(f.def);
      }
    };
    what.addEventListener('change', sync);
    sync();
    $('find-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      runFinder();
    });
  }

  async function runFinder() {
    const what = $('find-what').value;
    const f = FINDERS[what];
    const q = new URLSearchParams();
    if (f.arg) q.set(f.arg, $('find-arg').value);
    const limit = $('find-limit').value;
    if (limit && what !== 'tombstones') q.set('limit', limit);
    text($('find-summary'), 'scanning…');
    const table = $('find-table');
    try {
      const doc = await api('admin/find/' + what + (q.toString() ? '?' + q : ''), { timeout: 120000 });
      const head = clear($('find-head')), rows = clear($('find-rows'));
      if (what === 'tombstones') {
        const parts = (Array.isArray(doc) ? doc : []).slice().sort((a, b) => b.tombstones - a.tombstones || a.partition - b.partition);
        head.append(el('tr', {}, el('th', { class: 'num' }, 'partition'), el('th', { class: 'num' }, 'objects'),
          el('th', { class: 'num' }, 'tombstones'), el('th', { class: 'num' }, 'share'), el('th', { class: 'num' }, 'bytes')));
        const n = Math.min(parts.length, Number(limit) || 100);
        rows.append(...parts.slice(0, n).map((p) => el('tr', {},
          el('td', { class: 'num' }, String(p.partition)), el('td', { class: 'num' }, fmtNum(p.keys)),
          el('td', { class: 'num' }, fmtNum(p.tombstones)), el('td', { class: 'num' }, p.keys ? (100 * p.tombstones / p.keys).toFixed(1) + '%' : '–'),
          el('td', { class: 'num' }, fmtBytes(p.bytes)))));
        const tk = parts.reduce((a, p) => a + p.keys, 0), tt = parts.reduce((a, p) => a + p.tombstones, 0);
        text($('find-summary'), parts.length + ' partitions hold objects here: ' + fmtNum(tk) + ' objects, ' + fmtNum(tt) + ' tombstones' +
          (parts.length > n ? '; the ' + n + ' with most tombstones shown' : ''));
        table.hidden = parts.length === 0;
        return;
      }
      const keys = Array.isArray(doc && doc.keys) ? doc.keys : [];
      head.append(el('tr', {}, el('th', {}, 'bucket'), el('th', {}, 'key'), el('th', { class: 'num' }, 'partition'),
        el('th', { class: 'num' }, 'siblings'), el('th', { class: 'num' }, 'bytes'), el('th', {}, '')));
      rows.append(...keys.map((k) => el('tr', {},
        el('td', { class: 'key' }, k.bucket),
        el('td', { class: 'key' }, el('a', { href: BASE + 'kv/' + seg(k.bucket) + '/' + seg(k.key), target: '_blank', rel: 'noopener noreferrer' }, k.key)),
        el('td', { class: 'num' }, String(k.partition)), el('td', { class: 'num' }, fmtNum(k.siblings)),
        el('td', { class: 'num' }, fmtBytes(k.bytes)), el('td', {}, k.tombstone ? 'tombstone' : ''))));
      table.hidden = keys.length === 0;
      text($('find-summary'), fmtNum(doc.scanned) + ' objects scanned, ' + fmtNum(doc.matched) + ' matched' +
        (doc.truncated ? ' (first ' + keys.length + ' shown)' : '') + (doc.corrupt ? ', ' + doc.corrupt + ' corrupt skipped' : '') + '.');
    } catch (e) {
      table.hidden = true;
      text($('find-summary'), errText(e));
    }
  }

  // ---- polling ----
  function setLive(kind, msg) {
    const p = $('live');
    p.dataset.live = kind;
    text(p, msg);
  }

  async function pollCluster() {
    try {
      const doc = await api('cluster');
      state.cluster = doc;
      state.lastOK = Date.now();
      $('members-error').hidden = true;
      for (const c of document.querySelectorAll('.card.stale')) c.classList.remove('stale');
      renderMembers(doc);
      renderRing(doc);
      renderAE(doc);
      setLive('live', 'live · ' + new Date().toLocaleTimeString());
    } catch (e) {
      const msg = errText(e);
      const err = $('members-error');
      err.hidden = false;
      text(err, msg + (state.lastOK ? ' · showing what it said ' + fmtAgo(new Date(state.lastOK).toISOString()) : ''));
      for (const id of ['members-card', 'ring-card', 'ae-card']) $(id).classList.add('stale');
      setLive('error', e instanceof HTTPError ? 'error ' + e.status : 'node unreachable');
    }
  }

  async function pollStats() {
    try {
      renderStats(await api('cluster/stats'));
    } catch (e) {
      renderStats(null);
      text($('stats-empty'), e instanceof HTTPError && e.status === 404 ? 'no data (this node serves no request statistics)' : errText(e));
      text($('stats-summary'), '');
    }
  }

  let timer = null;
  let running = false;
  async function tick() {
    timer = null;
    if (document.hidden) {
      setLive('paused', 'paused (tab hidden)');
      return;
    }
    running = true;
    const started = Date.now();
    try {
      await Promise.allSettled([pollCluster(), pollStats(), pollBuckets(false), pollPBS(false)]);
    } finally {
      running = false;
    }
    schedule(Math.max(100, POLL_MS - (Date.now() - started)));
  }
  function schedule(ms) {
    if (timer === null && !running && !document.hidden) timer = setTimeout(tick, ms);
  }
  function refreshAll() {
    state.pbsAt = 0;
    state.bucketsAt = 0;
    if (timer !== null) { clearTimeout(timer); timer = null; }
    schedule(0);
    if (props.bucket) loadProps(props.bucket);
  }

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      if (timer !== null) { clearTimeout(timer); timer = null; }
      setLive('paused', 'paused (tab hidden)');
    } else {
      schedule(0);
    }
  });

  setupTheme();
  setupToken();
  setupProps();
  setupFinders();
  schedule(0);
})();

// One gateway: routes with weight sliders that keep the sum at 100 %, conditions and their strength, sticky,
// virtual hosts; live figures per route; the HAProxy configuration generated for it.
// Live: the gateway is read again on events tagged with it (unless there are unsaved edits); the figures come from
// GET /metrics/gateways/<g>?window=60s on a 5 s timer (Pulse publishes no event per request).

import { api, namePath, request } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, s, fill, fmt, percent, showError, clearError, statusTag, debounce } from '../dom.js';
import { sparkline } from '../charts.js';
import { parsePercent, conditionText, isConditionReference, rebalance, distribute } from '../model.js';

const FIGURES_EVERY_MS = 5000;
const HISTORY = 24;

export default async function gatewayPage(ctx) {
  const name = ctx.params.name;
  const path = `/gateways/${namePath(name)}`;
  ctx.setTitle(name);
  let gateway = null;
  let weights = [];
  let base = null;            // weights when the current drag started
  let dirty = false;
  const rows = [];            // { name, route, el, range, value, condition, strength, figures, chart, history }
  const history = new Map();  // route name → { rate: [], errors: [] } kept across reloads

  const kindTag = h('span');
  const routesBox = h('div', { dataset: { test: 'routes' } });
  const sticky = h('select', { id: 'gateway-sticky', dataset: { test: 'gateway-sticky' } },
    h('option', { value: '' }, 'none'), h('option', { value: 'route' }, 'route'), h('option', { value: 'instance' }, 'instance'));
  const hosts = h('ul', { class: 'instances', dataset: { test: 'virtual-hosts' }, 'aria-label': 'Virtual hosts' });
  const sum = h('span', { class: 'weights-sum', dataset: { test: 'weights-sum' } });
  const save = h('button', { type: 'button', class: 'btn btn-primary', dataset: { test: 'weights-save' } }, 'Save');
  const saveStatus = h('span', { role: 'status', class: 'save-status' });
  const changedNotice = h('span', { class: 'muted', hidden: true }, 'Changed on the server meanwhile. ',
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => { dirty = false; load(); } }, 'Reload'));
  const config = h('pre', { class: 'block', dataset: { test: 'haproxy-config' } }, 'Loading…');
  const whole = h('input', { type: 'checkbox', id: 'config-whole', dataset: { test: 'haproxy-whole' } });

  fill(ctx.view,
    h('div', { class: 'crumbs' }, h('a', { href: '#/gateways' }, 'Gateways'), ' / ', name),
    h('div', { class: 'page-head' }, h('h1', {}, name), kindTag),
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h2', { style: { margin: 0 } }, 'Routes'), h('span', { class: 'spacer', style: { flex: 1 } }),
        h('label', { for: 'gateway-sticky' }, 'Sticky'), sticky),
      h('div', { class: 'row muted', style: { marginTop: '.4rem' } }, 'Virtual hosts:', hosts),
      routesBox,
      h('div', { class: 'row', style: { marginTop: '.8rem' } }, save, sum, saveStatus, changedNotice)),
    h('section', { class: 'card' },
      h('div', { class: 'row' }, h('h2', { style: { margin: 0 } }, 'HAProxy configuration'), h('span', { style: { flex: 1 } }),
        h('label', { class: 'check' }, whole, 'whole file')),
      config));

  function markDirty() {
    dirty = true;
    saveStatus.replaceChildren();
  }

  function showWeights() {
    rows.forEach((r, i) => {
      r.range.value = String(weights[i]);
      r.value.textContent = `${weights[i]}%`;
      r.range.setAttribute('aria-valuetext', `${weights[i]} percent`);
    });
    const total = weights.reduce((a, b) => a + b, 0);
    sum.textContent = `Sum ${total}%`;
  }

  function figureBox(label, test) {
    const value = h('span', { class: 'value', dataset: { test } }, '—');
    return { el: h('div', { class: 'figure' }, h('span', { class: 'label' }, label), value), value };
  }

  function routeEl(routeName, route, index) {
    const range = h('input', { type: 'range', min: 0, max: 100, step: 1, dataset: { test: 'route-weight' },
      'aria-label': `Weight of ${routeName}` });
    const value = h('output', { dataset: { test: 'weight-value' } });
    const condition = h('input', { type: 'text', dataset: { test: 'route-condition' }, value: conditionText(route),
      placeholder: 'e.g. has cookie beta', 'aria-label': `Condition of ${routeName}`, spellcheck: 'false' });
    const strength = h('input', { type: 'text', dataset: { test: 'route-condition-strength' }, value: route.condition_strength ?? '',
      placeholder: '100%', 'aria-label': `Condition strength of ${routeName}`, inputmode: 'numeric' });
    const rate = figureBox('requests/s', 'route-rate');
    const errors = figureBox('error rate', 'route-error-rate');
    const p99 = figureBox('p99', 'route-p99');
    const chart = s('svg', { dataset: { test: 'route-chart' }, role: 'img', 'aria-label': `Requests per second of ${routeName}` });
    if (!history.has(routeName)) history.set(routeName, { rate: [], errors: [] });
    sparkline(chart, history.get(routeName).rate, { label: 'requests/s, last 2 min', slots: HISTORY });
    const el = h('div', { class: 'route', dataset: { test: 'route', route: routeName } },
      h('div', { class: 'stack' },
        h('div', { class: 'route-name' }, routeName),
        h('div', { class: 'weight-row' }, range, value),
        h('div', { class: 'condition-row caption', 'aria-hidden': 'true' }, h('span', {}, 'Condition'), h('span', {}, 'Strength')),
        h('div', { class: 'condition-row' }, condition, strength),
        isConditionReference(route) ? h('div', { class: 'muted' }, 'The condition is a stored one (by name).') : null),
      h('div', { class: 'figures', dataset: { test: 'route-figures' } }, rate.el, errors.el, p99.el, chart));
    range.addEventListener('input', () => {
      if (!base) base = weights.slice();
      weights = rebalance(base, index, Number(range.value));
      markDirty();
      showWeights();
    });
    range.addEventListener('change', () => { base = null; });
    condition.addEventListener('input', markDirty);
    strength.addEventListener('input', markDirty);
    return { name: routeName, route, el, range, value, condition, strength, rate, errors, p99, chart };
  }

  function render() {
    const tls = gateway.tls;
    fill(kindTag, gateway.internal ? statusTag('internal', 'muted') : statusTag('external', 'info'),
      ' ', h('span', { class: 'mono muted' }, gateway.port || ''),
      tls ? [' ', h('span', { dataset: { test: 'gateway-tls' } }, statusTag('HTTPS', 'ok'), ' ',
        tls.secret ? h('a', { href: '#/secrets', class: 'mono' }, `secret ${tls.secret}`) : h('span', { class: 'mono muted' }, tls.certificate ?? ''))] : null);
    sticky.value = gateway.sticky || '';
    fill(hosts, (gateway.virtual_hosts || []).length
      ? gateway.virtual_hosts.map((v) => h('li', { dataset: { test: 'virtual-host' } }, v)) : h('li', {}, 'none'));
    const entries = Object.entries(gateway.routes || {});
    const same = rows.length === entries.length && entries.every(([n], i) => rows[i].name === n);
    if (same) {
      // The same routes: update the elements in place (a slider found a moment ago stays the one on the page).
      entries.forEach(([, route], i) => {
        const r = rows[i];
        r.route = route;
        if (document.activeElement !== r.condition) r.condition.value = conditionText(route);
        if (document.activeElement !== r.strength) r.strength.value = route.condition_strength ?? '';
      });
    } else {
      rows.length = 0;
      entries.forEach(([n, r], i) => rows.push(routeEl(n, r, i)));
      fill(routesBox, rows.length ? rows.map((r) => r.el) : h('p', { class: 'empty' }, 'This gateway has no routes.'));
    }
    weights = initialWeights(rows.map((r) => parsePercent(r.route.weight)));
    base = null;
    showWeights();
  }

  // The charts start with the history Pulse published as `metrics:rate` events (every 5 s), then follow the timer.
  async function backfill() {
    await Promise.all(rows.map(async (r) => {
      const hist = history.get(r.name);
      if (hist.rate.length) return;
      try {
        const list = await api.get('/events', { params: { tag: [`routes:${r.name}`, 'metrics:rate'], per_page: HISTORY }, signal: ctx.signal });
        const values = (Array.isArray(list) ? list : []).sort((a, b) => String(a.timestamp).localeCompare(String(b.timestamp)))
          .map((e) => Number(e.value) || 0);
        if (!hist.rate.length) { hist.rate.push(...values); hist.errors.push(...values.map(() => 0)); }
      } catch { /* no history: the chart fills from now */ }
    }));
  }

  async function load() {
    gateway = await api.get(path, { signal: ctx.signal });
    if (!ctx.alive) return;
    dirty = false;
    changedNotice.hidden = true;
    render();
  }

  function body() {
    const out = JSON.parse(JSON.stringify(gateway));
    out.sticky = sticky.value || null;
    rows.forEach((r, i) => {
      const route = out.routes[r.name];
      route.weight = `${weights[i]}%`;
      const text = r.condition.value.trim();
      if (!text) route.condition = null;
      else if (!(isConditionReference(r.route) && text === conditionText(r.route))) route.condition = text;
      let st = r.strength.value.trim();
      if (st && /^\d+(\.\d+)?$/.test(st)) st = `${st}%`;
      route.condition_strength = text ? (st || '100%') : null;
    });
    return out;
  }

  save.addEventListener('click', async () => {
    save.disabled = true;
    saveStatus.replaceChildren(h('span', { class: 'muted' }, 'Saving…'));
    try {
      await api.put(path, body());
      clearError(ctx.view);
      dirty = false;
      saveStatus.replaceChildren(h('span', { dataset: { test: 'saved' } }, '✓ Saved'));
      loadConfig();
    } catch (err) {
      saveStatus.replaceChildren();
      showError(ctx.view, err);
    } finally { save.disabled = false; }
  });
  sticky.addEventListener('change', markDirty);

  // ---- figures (timer) ----
  async function loadFigures() {
    let m = null;
    try { m = await api.get(`/metrics${path}`, { params: { window: '60s' }, signal: ctx.signal }); } catch { m = null; }
    if (!ctx.alive) return;
    for (const r of rows) {
      const f = m?.routes?.[r.name];
      const hist = history.get(r.name);
      hist.rate.push(f ? Number(f.rate) || 0 : 0);
      hist.errors.push(f ? Number(f.error_rate) || 0 : 0);
      if (hist.rate.length > HISTORY) { hist.rate.shift(); hist.errors.shift(); }
      r.rate.value.textContent = f ? fmt(f.rate) : '—';
      r.errors.value.textContent = f ? percent(f.error_rate ?? 0) : '—';
      r.p99.value.textContent = f?.response_time ? `${fmt(f.response_time.p99, 1)} ms` : '—';
      sparkline(r.chart, hist.rate, { label: 'requests/s, last 2 min', secondary: hist.errors, slots: HISTORY });
    }
  }
  const timer = setInterval(loadFigures, FIGURES_EVERY_MS);
  ctx.cleanup(() => clearInterval(timer));

  // ---- HAProxy configuration ----
  async function loadConfig() {
    try {
      const r = await request('GET', '/vga/haproxy/2.6/configuration', { accept: 'text', signal: ctx.signal });
      if (!ctx.alive) return;
      const text = typeof r.data === 'string' ? r.data : JSON.stringify(r.data, null, 2);
      config.textContent = whole.checked ? text : (sectionOf(text, name) || `# no section for ${name} in the configuration (yet)`);
    } catch (err) {
      if (ctx.alive) config.textContent = `Could not read the configuration: ${err.message}`;
    }
  }
  whole.addEventListener('change', loadConfig);

  // ---- events ----
  const reload = debounce(() => {
    if (dirty) { changedNotice.hidden = false; return; }
    load().catch((err) => ctx.alive && showError(ctx.view, err));
    loadConfig();
  }, 300);
  ctx.cleanup(events.subscribe((e) => {
    if (!isPeriodic(e) && (e.tags || []).includes(`gateways:${name}`)) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));

  try {
    await load();
  } catch (err) {
    if (ctx.alive) showError(ctx.view, err);
  }
  await backfill();
  await Promise.all([loadFigures(), loadConfig()]);
  ctx.ready();
}

/** Routes without a weight share what the others leave, as the server does; whole numbers. */
export function initialWeights(given) {
  const known = given.filter((w) => w !== null).reduce((a, b) => a + b, 0);
  const open = given.filter((w) => w === null).length;
  const share = open ? distribute(Math.max(0, 100 - Math.round(known)), given.filter((w) => w === null).map(() => 1)) : [];
  let j = 0;
  return given.map((w) => (w === null ? share[j++] : Math.round(w)));
}

/** The sections of the HAProxy configuration that belong to gateway `name`: its `# gateway` and `# route` blocks. */
export function sectionOf(text, name) {
  const out = [];
  let keep = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('# gateway ') || line.startsWith('# route ')) {
      keep = line.startsWith(`# gateway ${name} (`) || line.startsWith(`# route ${name}//`);
    }
    if (keep) out.push(line);
  }
  return out.join('\n').trim();
}

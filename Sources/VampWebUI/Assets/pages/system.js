// System: the parts at a glance (server, store, driver, key-value store, gateway agent, HAProxy) from GET /info,
// what /info says, and the configuration from GET /config (flat, searchable).
// Live: /info is read again every 10 s (it has no event); health of gateways and deployments from the stream's
// `health` events (Pulse publishes them every 5 s).

import { api } from '../api.js';
import { events } from '../events.js';
import { h, fill, showError, clearError, statusTag } from '../dom.js';

const INFO_EVERY_MS = 10000;

/** The parts and their state from /info: [{part, label, state, detail}]. */
export function partsOf(info, storeOk) {
  const agent = info?.gateway_agent;
  const driver = info?.container_driver;
  const parts = [];
  parts.push({ part: 'server', label: 'Server', state: info ? 'ok' : 'error',
    detail: info ? `Vamp ${info.version ?? ''}, running since ${info.running_since ? new Date(info.running_since).toLocaleString() : '?'}` : 'no answer' });
  parts.push({ part: 'store', label: 'Store', state: storeOk === null ? 'unknown' : storeOk ? 'ok' : 'error',
    detail: `${info?.persistence?.database?.type ?? '?'}${storeOk === false ? ': unavailable' : ''}` });
  parts.push({ part: 'driver', label: 'Container driver', state: !driver ? 'unknown' : driver.error ? 'error' : 'ok',
    detail: driver ? `${driver.type ?? '?'}${driver.error ? `: ${driver.error}` : ''}` : 'not reported' });
  const kvState = !agent || agent.embedded === false || !agent.store ? 'unknown' : agent.store === 'reachable' ? 'ok' : 'error';
  parts.push({ part: 'kv', label: 'Key-value store', state: kvState,
    detail: `${info?.key_value?.type ?? '?'}${agent?.store ? `, ${agent.store}` : ''}` });
  const agentProblems = ['error', 'last_error', 'haproxy_error', 'failed_services'].filter((k) => agent?.[k]).map((k) => `${k}: ${JSON.stringify(agent[k])}`);
  parts.push({ part: 'gateway-agent', label: 'Gateway agent', state: !agent || agent.embedded === false ? 'unknown' : agent.healthy ? 'ok' : 'error',
    detail: !agent ? 'not reported' : agent.embedded === false ? `not embedded${agent.reason ? `: ${agent.reason}` : ''}`
      : [`configuration ${agent.configuration ?? '?'}`, `${agent.reloads ?? 0} reloads`, ...agentProblems].join(', ') });
  parts.push({ part: 'haproxy', label: 'HAProxy', state: !agent?.haproxy ? 'unknown' : agent.haproxy === 'running' ? 'ok' : 'error',
    detail: agent?.haproxy ? `${agent.haproxy}${agent.haproxy_error ? `: ${agent.haproxy_error}` : ''}` : 'not reported' });
  return parts;
}

const STATE_WORD = { ok: 'OK', error: 'Problem', unknown: 'Unknown' };
const STATE_TONE = { ok: 'ok', error: 'error', unknown: 'muted' };

export default async function systemPage(ctx) {
  ctx.setTitle('System');
  const partsBox = h('div', { class: 'parts', dataset: { test: 'system-parts' } });
  const infoPre = h('pre', { class: 'block output', dataset: { test: 'system-info' } });
  const configFilter = h('input', { type: 'search', id: 'config-filter', placeholder: 'setting contains…', dataset: { test: 'config-filter' } });
  const configBody = h('tbody');
  const healthBody = h('tbody');
  const health = new Map();   // subject → { value, timestamp }
  let config = {};

  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'System')),
    partsBox,
    h('section', { class: 'card' }, h('h2', {}, 'Health from Pulse'),
      h('p', { class: 'muted' }, 'The newest health event of each gateway and deployment (1 is healthy, 0 is not).'),
      h('div', { class: 'table-wrap' }, h('table', { dataset: { test: 'health-table' } },
        h('thead', {}, h('tr', {}, h('th', {}, 'Of'), h('th', { class: 'num' }, 'Health'), h('th', {}, ''))), healthBody))),
    h('section', { class: 'card' }, h('h2', {}, 'Information'), infoPre),
    h('section', { class: 'card' }, h('h2', {}, 'Configuration'),
      h('div', { class: 'row', style: { marginBottom: '.5rem' } }, h('label', { for: 'config-filter' }, 'Filter'), configFilter),
      h('div', { class: 'table-wrap' }, h('table', { dataset: { test: 'system-config' } },
        h('thead', {}, h('tr', {}, h('th', {}, 'Setting'), h('th', {}, 'Value'))), configBody))));

  async function loadInfo() {
    let info = null;
    let storeOk = null;
    try {
      info = await api.get('/info', { signal: ctx.signal });
      clearError(ctx.view);
      storeOk = true;
    } catch (err) {
      if (!ctx.alive) return;
      showError(ctx.view, err);
      if (err.status === 503) storeOk = false;
    }
    if (!ctx.alive) return;
    fill(partsBox, partsOf(info, storeOk).map((p) => h('div', { class: 'part', dataset: { test: 'system-part', part: p.part, state: p.state } },
      h('h3', {}, p.label), statusTag(STATE_WORD[p.state], STATE_TONE[p.state], { dataset: { test: 'system-part-state' } }),
      h('div', { class: 'detail' }, p.detail))));
    infoPre.textContent = info ? JSON.stringify(info, null, 2) : '';
  }

  function renderConfig() {
    const f = configFilter.value.trim().toLowerCase();
    const rows = Object.entries(config).filter(([k, v]) => !f || k.toLowerCase().includes(f) || String(v).toLowerCase().includes(f));
    fill(configBody, rows.map(([k, v]) => h('tr', {}, h('td', { class: 'mono' }, k),
      h('td', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v)))));
  }
  configFilter.addEventListener('input', renderConfig);

  function renderHealth() {
    const rows = [...health.entries()].sort(([a], [b]) => a.localeCompare(b));
    fill(healthBody, rows.length ? rows.map(([subject, { value }]) => h('tr', { dataset: { test: 'health-row', subject } },
      h('td', { class: 'mono' }, subject), h('td', { class: 'num' }, Number(value).toFixed(2)),
      h('td', {}, statusTag(value >= 1 ? 'healthy' : value > 0 ? 'degraded' : 'unhealthy', value >= 1 ? 'ok' : value > 0 ? 'warn' : 'error'))))
      : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'Waiting for Pulse\u2019s next health events (every 5 s)…')));
  }
  function onHealth(e) {
    if (e.type !== 'health') return;
    const tags = e.tags || [];
    const subject = tags.includes('route') ? null
      : tags.find((t) => t.startsWith('services:')) ? null
        : tags.includes('cluster') ? null
          : tags.find((t) => t.startsWith('gateways:')) || tags.find((t) => t.startsWith('deployments:'));
    if (!subject) return;
    const known = health.get(subject);
    if (known && String(known.timestamp) > String(e.timestamp)) return;
    health.set(subject, { value: Number(e.value), timestamp: e.timestamp });
    renderHealth();
  }
  ctx.cleanup(events.subscribe(onHealth));
  api.get('/events', { params: { tag: 'health', per_page: 30 }, signal: ctx.signal })
    .then((list) => { if (ctx.alive && Array.isArray(list)) list.forEach(onHealth); }).catch(() => {});

  const timer = setInterval(loadInfo, INFO_EVERY_MS);
  ctx.cleanup(() => clearInterval(timer));
  renderHealth();
  try {
    const [, c] = await Promise.all([loadInfo(), api.get('/config', { params: { flatten: true }, signal: ctx.signal })]);
    config = c || {};
    renderConfig();
  } catch (err) {
    if (ctx.alive) showError(ctx.view, err);
  }
  ctx.ready();
}

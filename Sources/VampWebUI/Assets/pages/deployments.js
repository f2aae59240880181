// Deployments: every deployment with its status, and a form that deploys a stored blueprint.
// Live: the list is read again when an event about deployments arrives (not Pulse's periodic figures).

import { api, getAll, namePath } from '../api.js';
import { events, hasTag, isPeriodic } from '../events.js';
import { h, fill, timeEl, statusTag, phaseTone, showError, clearError, debounce, labelCells } from '../dom.js';
import { servicesOf, deploymentPhase, breedName, phaseOf } from '../model.js';

export default async function deploymentsPage(ctx) {
  ctx.setTitle('Deployments');
  const tbody = h('tbody');
  const count = h('span', { class: 'muted', dataset: { test: 'deployment-count' } });
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'cards', dataset: { test: 'deployments' } },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Clusters'),
      h('th', {}, 'Services'), h('th', { class: 'num' }, 'Instances'), h('th', {}, 'Health'), h('th', {}, 'Since'))),
    tbody));

  const nameInput = h('input', { id: 'deployment-name', dataset: { test: 'deployment-name' }, required: true,
    placeholder: 'e.g. sava', autocomplete: 'off', spellcheck: 'false' });
  const select = h('select', { id: 'blueprint-select', dataset: { test: 'blueprint-select' }, required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { test: 'deploy-submit' } }, 'Deploy');
  const formStatus = h('span', { class: 'muted', role: 'status' });
  const form = h('form', { class: 'card', dataset: { test: 'deploy-form' } },
    h('h2', {}, 'Deploy a blueprint'),
    h('div', { class: 'row' },
      h('div', { class: 'stack' }, h('label', { for: 'blueprint-select' }, 'Blueprint'), h('div', {}, select)),
      h('div', { class: 'stack' }, h('label', { for: 'deployment-name' }, 'Deployment name'), h('div', {}, nameInput)),
      h('div', { class: 'stack' }, h('span', { 'aria-hidden': 'true' }, '\u00a0'), h('div', {}, submit))),
    h('p', { class: 'muted' }, 'A deployment that exists already gets the blueprint merged into it. ', formStatus));

  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Deployments'), count, h('span', { class: 'spacer' }),
      h('a', { class: 'btn', href: '#/artifacts/blueprints/new' }, 'New blueprint')),
    table, h('div', { style: { height: '1rem' } }), form);

  select.addEventListener('change', () => {
    if (!nameInput.value || nameInput.dataset.auto === 'true') {
      nameInput.value = select.value.replace(/[^a-z0-9-]+/gi, '-').replace(/^-+|-+$/g, '').toLowerCase();
      nameInput.dataset.auto = 'true';
    }
  });
  nameInput.addEventListener('input', () => { nameInput.dataset.auto = 'false'; });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name || !select.value) return;
    submit.disabled = true;
    formStatus.textContent = 'Deploying…';
    try {
      // The stored blueprint by name, as the bare YAML body (JSON-quoted, so any name reads as text).
      await api.put(`/deployments/${namePath(name)}`, JSON.stringify(select.value));
      clearError(ctx.view);
      formStatus.textContent = `Deployed ${select.value} as ${name}.`;
      await load();
    } catch (err) {
      formStatus.textContent = '';
      showError(ctx.view, err);
    } finally {
      submit.disabled = false;
    }
  });

  async function loadBlueprints() {
    const blueprints = await getAll('/blueprints', {}, ctx.signal);
    const previous = select.value;
    fill(select, h('option', { value: '' }, blueprints.length ? 'Choose a blueprint…' : 'No blueprint stored'),
      blueprints.map((b) => h('option', { value: b.name }, b.name)));
    if (previous) select.value = previous;
  }

  async function load() {
    const deployments = await getAll('/deployments', {}, ctx.signal);
    if (!ctx.alive) return;
    count.textContent = `${deployments.length} deployment${deployments.length === 1 ? '' : 's'}`;
    if (!deployments.length) {
      fill(tbody, h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'Nothing deployed yet. Deploy a blueprint below.')));
      return;
    }
    // Rows stay in place (keyed by name) so a link found a moment ago is still the one on the page.
    const existing = new Map([...tbody.querySelectorAll('tr[data-test=deployment-row]')].map((tr) => [tr.dataset.name, tr]));
    tbody.querySelector('td.empty')?.parentElement.remove();
    for (const d of deployments) {
      const fresh = row(d);
      const tr = existing.get(d.name);
      if (tr) {
        tr.replaceChildren(tr.firstElementChild, ...[...fresh.children].slice(1));
        existing.delete(d.name);
        tbody.append(tr);
      } else tbody.append(fresh);
    }
    for (const tr of existing.values()) tr.remove();
    labelCells(table);
  }

  function row(d) {
    const services = servicesOf(d);
    const phase = deploymentPhase(d);
    const since = services.map(({ service }) => phaseOf(service).since).filter(Boolean).sort().pop();
    const instances = services.reduce((n, { service }) => n + (service.instances || []).length, 0);
    const href = `#/deployments/${encodeURIComponent(d.name)}`;
    return h('tr', { dataset: { test: 'deployment-row', name: d.name } },
      h('td', {}, h('a', { href, dataset: { test: 'deployment-link' } }, d.name)),
      h('td', {}, statusTag(phase, phaseTone(phase), { dataset: { test: 'deployment-status' } })),
      h('td', {}, Object.keys(d.clusters || {}).join(', ')),
      h('td', { class: 'mono' }, services.map(({ service }) => breedName(service)).join(', ')),
      h('td', { class: 'num' }, String(instances)),
      h('td', {}, healthCell(d.name)),
      h('td', {}, since ? timeEl(since) : '—'));
  }

  // Each deployment's health from Pulse's `health` events (every 5 s), in a fixed-width cell.
  const health = new Map();
  function healthCell(name) {
    const v = health.get(name);
    const state = v === undefined ? undefined : v >= 1 ? 'ok' : v > 0 ? 'warn' : 'error';
    return h('span', { class: 'health-box', dataset: { test: 'deployment-health', name, ...(state ? { state } : {}) } },
      v === undefined ? '—' : Number(v).toFixed(2));
  }
  function onHealth(e) {
    const tags = e.tags || [];
    if (e.type !== 'health' || !tags.includes('deployment')) return;
    const name = tags.find((t) => t.startsWith('deployments:'))?.slice(12);
    if (!name) return;
    health.set(name, Number(e.value));
    const cell = [...tbody.querySelectorAll('[data-test=deployment-health]')].find((c) => c.dataset.name === name);
    cell?.replaceWith(healthCell(name));
  }

  const reload = debounce(() => load().catch((err) => ctx.alive && showError(ctx.view, err)), 300);
  ctx.cleanup(events.subscribe((e) => {
    if (isPeriodic(e)) { onHealth(e); return; }
    if (hasTag(e, 'deployments') || hasTag(e, 'synchronization')) reload();
    if (hasTag(e, 'blueprints')) loadBlueprints().catch(() => {});
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));

  // The newest health event of each deployment, until the stream brings the next ones.
  api.get('/events', { params: { tag: ['health', 'deployment'], per_page: 30 }, signal: ctx.signal })
    .then((list) => { if (ctx.alive && Array.isArray(list)) list.slice().reverse().forEach(onHealth); }).catch(() => {});

  try {
    await Promise.all([load(), loadBlueprints()]);
  } catch (err) {
    if (ctx.alive) showError(ctx.view, err);
  }
  ctx.ready();
}

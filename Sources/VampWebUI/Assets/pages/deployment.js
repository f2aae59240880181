// One deployment: clusters, services (breed, scale, phase and since when, instances), its gateways; merge a stored
// blueprint, remove a service, change a scale, show it as a blueprint.
// Live: read again when an event tagged with this deployment arrives (Pulse's periodic figures aside); the clusters are
// updated in place (deployment-clusters.js). Health and allocation come from Pulse's events on the stream.

import { api, getAll, namePath, request } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, statusTag, phaseTone, showError, clearError, confirmIn, debounce } from '../dom.js';
import { deploymentPhase } from '../model.js';
import { clustersView } from './deployment-clusters.js';

export default async function deploymentPage(ctx) {
  const name = ctx.params.name;
  const path = `/deployments/${namePath(name)}`;
  ctx.setTitle(name);
  const status = h('span');
  let breeds = [];
  const view = clustersView({ ctx, name, path, afterChange: () => load(), breeds: () => breeds });
  const clustersBox = view.el;
  const gatewaysBox = h('ul', { class: 'stack', dataset: { test: 'deployment-gateways' } });
  const mergeSelect = h('select', { id: 'merge-blueprint', dataset: { test: 'merge-blueprint' } });
  const mergeButton = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { test: 'merge-submit' } }, 'Merge');
  const mergeStatus = h('span', { class: 'muted', role: 'status' });
  const blueprintText = h('pre', { class: 'block', dataset: { test: 'blueprint-text' }, hidden: true });
  const asBlueprint = h('button', { type: 'button', class: 'btn', dataset: { test: 'as-blueprint' }, 'aria-expanded': 'false' }, 'Show as blueprint');
  const undeploy = h('button', { type: 'button', class: 'btn btn-danger', dataset: { test: 'undeploy' } }, 'Undeploy');
  const allocation = h('span', { class: 'allocation muted', dataset: { test: 'deployment-allocation' }, title: 'From Pulse\u2019s allocation events' }, '');
  const head = h('div', { class: 'page-head' }, h('h1', {}, name), status, allocation, h('span', { class: 'spacer' }), asBlueprint, undeploy);

  const mergeForm = h('form', { class: 'card', dataset: { test: 'merge-form' } },
    h('h2', {}, 'Merge a blueprint'),
    h('p', { class: 'muted' }, 'Services that are new are added next to the running ones; a new route gets 0 % until you move its weight.'),
    h('div', { class: 'row' }, h('label', { for: 'merge-blueprint' }, 'Blueprint'), mergeSelect, mergeButton, mergeStatus));

  fill(ctx.view,
    h('div', { class: 'crumbs' }, h('a', { href: '#/deployments' }, 'Deployments'), ' / ', name),
    head,
    h('div', { class: 'card' }, h('h2', {}, 'Gateways'), gatewaysBox),
    clustersBox, mergeForm,
    h('div', { class: 'card' }, h('h2', {}, 'As a blueprint'), blueprintText,
      h('p', { class: 'muted' }, 'What ', h('code', {}, `GET ${path}?as_blueprint=true`), ' answers.')));

  asBlueprint.addEventListener('click', async () => {
    try {
      const r = await request('GET', path, { params: { as_blueprint: true }, accept: 'yaml' });
      blueprintText.textContent = r.data;
      blueprintText.hidden = false;
      asBlueprint.setAttribute('aria-expanded', 'true');
      blueprintText.scrollIntoView({ block: 'nearest' });
    } catch (err) { showError(ctx.view, err); }
  });

  undeploy.addEventListener('click', async () => {
    if (!(await confirmIn(head, `Undeploy all of ${name}?`, 'Undeploy'))) return;
    try {
      // Slicing with the deployment as a blueprint removes every service.
      const bp = await api.get(path, { params: { as_blueprint: true } });
      await api.delete(path, bp);
      location.hash = '#/deployments';
    } catch (err) { showError(ctx.view, err); }
  });

  mergeForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!mergeSelect.value) return;
    mergeButton.disabled = true;
    mergeStatus.textContent = 'Merging…';
    try {
      await api.put(path, JSON.stringify(mergeSelect.value));
      clearError(ctx.view);
      mergeStatus.textContent = `Merged ${mergeSelect.value}.`;
      await load();
    } catch (err) {
      mergeStatus.textContent = '';
      showError(ctx.view, err);
    } finally { mergeButton.disabled = false; }
  });

  function onPeriodic(e) {
    const tags = e.tags || [];
    if (!tags.includes(`deployments:${name}`)) return;
    if (e.type === 'allocation' && e.value && typeof e.value === 'object') {
      const v = e.value;
      allocation.textContent = `cpu ${Number(v.cpu ?? 0).toFixed(1)} · memory ${v.memory ?? 0} MB · ${v.instances ?? 0} instance${Number(v.instances) === 1 ? '' : 's'}`;
      return;
    }
    const cluster = tags.find((t) => t.startsWith('clusters:'))?.slice(9);
    const breed = tags.find((t) => t.startsWith('services:'))?.slice(9);
    if (e.type === 'health' && cluster && breed) view.health(cluster, breed, e.value);
  }

  async function load() {
    const d = await api.get(path, { signal: ctx.signal });
    if (!ctx.alive) return;
    const phase = deploymentPhase(d);
    fill(status, statusTag(phase, phaseTone(phase), { dataset: { test: 'deployment-status' } }));
    view.render(d);
  }

  async function loadGateways() {
    const all = await getAll('/gateways', {}, ctx.signal);
    const mine = all.filter((g) => g.name.startsWith(`${name}/`));
    fill(gatewaysBox, mine.length ? mine.map((g) => h('li', {},
      h('a', { href: `#/gateways/${encodeURIComponent(g.name)}`, dataset: { test: 'deployment-gateway', name: g.name } }, g.name),
      ' ', h('span', { class: 'muted' }, `${g.port}${g.internal ? ' · internal' : ''} · `,
        Object.entries(g.routes || {}).map(([r, v]) => `${r.split('/').slice(-2, -1)[0] || r} ${v.weight ?? ''}`).join(', '))))
      : h('li', { class: 'muted' }, 'none'));
  }

  async function loadBreeds() {
    breeds = (await getAll('/breeds', {}, ctx.signal)).map((b) => b.name);
  }

  async function loadBlueprints() {
    const blueprints = await getAll('/blueprints', {}, ctx.signal);
    fill(mergeSelect, h('option', { value: '' }, 'Choose a blueprint…'), blueprints.map((b) => h('option', { value: b.name }, b.name)));
  }

  const reload = debounce(() => Promise.all([load(), loadGateways()]).catch((err) => {
    if (!ctx.alive) return;
    if (err.status === 404) view.gone();
    else showError(ctx.view, err);
  }), 300);
  ctx.cleanup(events.subscribe((e) => {
    if (isPeriodic(e)) { onPeriodic(e); return; }
    if ((e.tags || []).includes(`deployments:${name}`) || (e.tags || []).some((t) => t.startsWith('gateways:' + name + '/'))) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));

  try {
    await loadBreeds().catch(() => {});
    await Promise.all([load(), loadGateways(), loadBlueprints()]);
  } catch (err) {
    if (ctx.alive) showError(ctx.view, err);
  }
  ctx.ready();
}

// One deployment: clusters, services (breed, scale, phase and since when, instances), its gateways; merge a stored
// blueprint, remove a service, change a scale, show it as a blueprint.
// Live: read again when an event tagged with this deployment arrives (Pulse's periodic figures aside).

import { api, getAll, namePath, request } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, timeEl, statusTag, phaseTone, showError, clearError, confirmIn, debounce } from '../dom.js';
import { breedName, phaseOf, instanceAddresses, deploymentPhase } from '../model.js';

export default async function deploymentPage(ctx) {
  const name = ctx.params.name;
  const path = `/deployments/${namePath(name)}`;
  ctx.setTitle(name);
  const status = h('span');
  const clustersBox = h('div', { dataset: { test: 'clusters' } });
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

  // Each service's health from Pulse's `health` events (every 5 s), written into a fixed-width box.
  const health = new Map();   // "cluster\nbreed" → value
  function healthText(v) { return v === undefined ? 'health —' : `health ${Number(v).toFixed(2)}`; }
  function healthEl(clusterName, breed) {
    const v = health.get(`${clusterName}\n${breed}`);
    const state = v === undefined ? undefined : Number(v) >= 1 ? 'ok' : Number(v) > 0 ? 'warn' : 'error';
    return h('span', { class: 'health-box', dataset: { test: 'service-health', cluster: clusterName, breed, ...(state ? { state } : {}) },
      title: 'From Pulse: 1 is healthy, 0 is not' }, healthText(v));
  }
  function onHealth(e) {
    const tags = e.tags || [];
    if (e.type === 'allocation' && tags.includes(`deployments:${name}`) && e.value && typeof e.value === 'object') {
      const v = e.value;
      allocation.textContent = `cpu ${Number(v.cpu ?? 0).toFixed(1)} · memory ${v.memory ?? 0} MB · ${v.instances ?? 0} instance${Number(v.instances) === 1 ? '' : 's'}`;
      return;
    }
    if (e.type !== 'health' || !tags.includes(`deployments:${name}`)) return;
    const cluster = tags.find((t) => t.startsWith('clusters:'))?.slice(9);
    const breed = tags.find((t) => t.startsWith('services:'))?.slice(9);
    if (!cluster || !breed) return;
    health.set(`${cluster}\n${breed}`, e.value);
    for (const el of clustersBox.querySelectorAll('[data-test=service-health]')) {
      if (el.dataset.cluster === cluster && el.dataset.breed === breed) {
        el.textContent = healthText(e.value);
        el.dataset.state = Number(e.value) >= 1 ? 'ok' : Number(e.value) > 0 ? 'warn' : 'error';
      }
    }
  }

  function serviceEl(clusterName, service) {
    const breed = breedName(service);
    const phase = phaseOf(service);
    const scale = service.scale || {};
    const instancesInput = h('input', { type: 'number', min: 0, max: 1000, step: 1, value: scale.instances ?? 1,
      dataset: { test: 'scale-instances', original: String(scale.instances ?? 1) }, 'aria-label': `Instances of ${breed}` });
    const scaleButton = h('button', { type: 'submit', class: 'btn btn-small', dataset: { test: 'scale-submit' } }, 'Scale');
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { test: 'service-remove' } }, 'Remove');
    const el = h('section', { class: 'service', dataset: { test: 'service', breed, cluster: clusterName } },
      h('div', { class: 'service-head' },
        h('h3', {}, breed),
        h('span', { dataset: { test: 'service-status', phase: phase.name } },
          statusTag(phase.name, phaseTone(phase.name)), ' ', h('span', { class: 'muted' }, 'since '), timeEl(phase.since)),
        phase.intention && phase.intention !== 'Deployment' ? statusTag(phase.intention, 'muted') : null,
        healthEl(clusterName, breed),
        h('span', { class: 'spacer' }), remove),
      phase.notification ? h('p', { class: 'alert alert-error' }, String(phase.notification)) : null,
      h('div', { class: 'row muted', dataset: { test: 'service-scale' } },
        `${scale.instances ?? '?'} × (cpu ${scale.cpu ?? '?'}, memory ${scale.memory ?? '?'})`),
      h('ul', { class: 'instances', 'aria-label': 'Instances' },
        (service.instances || []).length
          ? service.instances.flatMap((i) => instanceAddresses(i).map((a) =>
            h('li', { dataset: { test: 'instance', name: i.name || '' }, title: `${i.name || ''} ${a.name || ''}${i.deployed === false ? ' (not deployed)' : ''}` }, a.text)))
          : h('li', { class: 'muted' }, 'no instance yet')),
      h('form', { class: 'row scale-form' }, h('label', {}, 'Instances', ' ', instancesInput), scaleButton));
    el.querySelector('form').addEventListener('submit', async (e) => {
      e.preventDefault();
      scaleButton.disabled = true;
      try {
        const body = { cpu: scale.cpu ?? 0.1, memory: scale.memory ?? '64MB', instances: Number(instancesInput.value) };
        await api.put(`${path}/clusters/${encodeURIComponent(clusterName)}/services/${encodeURIComponent(breed)}/scale`, body);
        clearError(ctx.view);
        await load();
      } catch (err) { showError(ctx.view, err); } finally { scaleButton.disabled = false; }
    });
    remove.addEventListener('click', async () => {
      if (!(await confirmIn(el, `Remove ${breed} from ${clusterName}? Its routes leave the gateways.`, 'Remove'))) return;
      try {
        await api.delete(path, { name, clusters: { [clusterName]: { services: [{ breed }] } } });
        clearError(ctx.view);
        await load();
      } catch (err) { showError(ctx.view, err); }
    });
    return el;
  }

  // What the operator is doing in the clusters survives a re-render: typed instance counts and the focus.
  function pendingInput() {
    const typed = new Map();
    for (const input of clustersBox.querySelectorAll('[data-test=scale-instances]')) {
      const svc = input.closest('[data-test=service]');
      if (input.value !== input.dataset.original) typed.set(`${svc.dataset.cluster}\n${svc.dataset.breed}`, input.value);
    }
    const active = clustersBox.contains(document.activeElement) ? document.activeElement : null;
    const svc = active?.closest('[data-test=service]');
    return { typed, focus: svc ? { key: `${svc.dataset.cluster}\n${svc.dataset.breed}`, test: active.dataset.test } : null };
  }

  function restore({ typed, focus }) {
    for (const svc of clustersBox.querySelectorAll('[data-test=service]')) {
      const key = `${svc.dataset.cluster}\n${svc.dataset.breed}`;
      if (typed.has(key)) svc.querySelector('[data-test=scale-instances]').value = typed.get(key);
      if (focus?.key === key && focus.test) svc.querySelector(`[data-test="${focus.test}"]`)?.focus();
    }
  }

  async function load() {
    const d = await api.get(path, { signal: ctx.signal });
    if (!ctx.alive) return;
    const pending = pendingInput();
    const phase = deploymentPhase(d);
    fill(status, statusTag(phase, phaseTone(phase), { dataset: { test: 'deployment-status' } }));
    fill(clustersBox, Object.entries(d.clusters || {}).map(([cname, c]) =>
      h('section', { class: 'card', dataset: { test: 'cluster', name: cname } },
        h('h2', {}, 'Cluster ', h('span', { class: 'mono' }, cname)),
        Object.keys(c.gateways || {}).length
          ? h('p', { class: 'muted' }, 'Ports: ', Object.entries(c.gateways).map(([p, g]) => `${p} (${g.port || ''})`).join(', '))
          : null,
        (c.services || []).map((s) => serviceEl(cname, s)),
        addBreedForm(cname, c))));
    restore(pending);
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

  // Merging one stored breed into a cluster (a blueprint naming only the new service, as the quick start does).
  let breeds = [];
  function addBreedForm(clusterName, cluster) {
    const present = new Set((cluster.services || []).map(breedName));
    const first = (cluster.services || [])[0]?.scale || {};
    const select = h('select', { dataset: { test: 'add-breed' }, 'aria-label': `Breed to add to ${clusterName}` },
      h('option', { value: '' }, 'Add a breed…'),
      breeds.map((b) => h('option', { value: b, disabled: present.has(b) }, present.has(b) ? `${b} (here)` : b)));
    const instances = h('input', { type: 'number', min: 1, max: 1000, step: 1, value: 1, dataset: { test: 'add-breed-instances' },
      'aria-label': 'Instances of the new service' });
    const submit = h('button', { type: 'submit', class: 'btn btn-small', dataset: { test: 'add-breed-submit' } }, 'Add');
    const form = h('form', { class: 'row scale-form add-breed', dataset: { test: 'add-breed-form' } }, select,
      h('label', {}, 'Instances', ' ', instances), submit,
      h('span', { class: 'muted' }, 'Its route starts at 0 %.'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!select.value) return;
      submit.disabled = true;
      try {
        const scale = { cpu: first.cpu ?? 0.1, memory: first.memory ?? '64MB', instances: Number(instances.value) || 1 };
        await api.put(path, { name, clusters: { [clusterName]: { services: [{ breed: select.value, scale }] } } });
        clearError(ctx.view);
        await load();
      } catch (err) { showError(ctx.view, err); } finally { submit.disabled = false; }
    });
    return form;
  }

  async function loadBreeds() {
    breeds = (await getAll('/breeds', {}, ctx.signal)).map((b) => b.name);
  }

  async function loadBlueprints() {
    const blueprints = await getAll('/blueprints', {}, ctx.signal);
    fill(mergeSelect, h('option', { value: '' }, 'Choose a blueprint…'), blueprints.map((b) => h('option', { value: b.name }, b.name)));
  }

  // A re-render waits while a confirmation is open in the clusters (it would take the question away).
  const reload = debounce(() => {
    if (clustersBox.querySelector('.confirm-box')) { reload(); return; }
    refresh();
  }, 300);
  const refresh = () => Promise.all([load(), loadGateways()]).catch((err) => {
    if (!ctx.alive) return;
    if (err.status === 404) fill(clustersBox, h('p', { class: 'card empty', dataset: { test: 'gone' } }, 'This deployment is gone (all of its services were removed).'));
    else showError(ctx.view, err);
  });
  ctx.cleanup(events.subscribe((e) => {
    if (isPeriodic(e)) { onHealth(e); return; }
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

// A deployment's clusters and services, kept in place between reads: each cluster and service element is made
// once and then updated, so buttons, typed numbers, the focus and an open confirmation survive live updates.

import { api } from '../api.js';
import { h, fill, timeEl, statusTag, phaseTone, showError, clearError, confirmIn } from '../dom.js';
import { breedName, phaseOf, instanceAddresses } from '../model.js';

/** `afterChange()` reads the deployment again after a write; `breeds()` lists the stored breeds' names. */
export function clustersView({ ctx, name, path, afterChange, breeds }) {
  const el = h('div', { dataset: { test: 'clusters' } });
  const clusters = new Map();        // cluster name → { el, update }
  const health = new Map();          // "cluster\nbreed" → value

  async function write(fn) {
    try {
      await fn();
      clearError(ctx.view);
      await afterChange();
    } catch (err) { showError(ctx.view, err); }
  }

  function healthState(v) { return v === undefined ? '' : Number(v) >= 1 ? 'ok' : Number(v) > 0 ? 'warn' : 'error'; }
  function showHealth(box, v) {
    box.textContent = v === undefined ? 'health —' : `health ${Number(v).toFixed(2)}`;
    if (v === undefined) delete box.dataset.state; else box.dataset.state = healthState(v);
  }

  function serviceView(cluster, breed) {
    let current = {};
    const status = h('span', { dataset: { test: 'service-status' } });
    const intention = h('span');
    const healthBox = h('span', { class: 'health-box', dataset: { test: 'service-health', cluster, breed }, title: 'From Pulse: 1 is healthy, 0 is not' });
    const notification = h('div');
    const scaleText = h('div', { class: 'row muted', dataset: { test: 'service-scale' } });
    const instances = h('ul', { class: 'instances', 'aria-label': 'Instances' });
    const input = h('input', { type: 'number', min: 0, max: 1000, step: 1, dataset: { test: 'scale-instances' }, 'aria-label': `Instances of ${breed}` });
    const scaleButton = h('button', { type: 'submit', class: 'btn btn-small', dataset: { test: 'scale-submit' } }, 'Scale');
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { test: 'service-remove' } }, 'Remove');
    const form = h('form', { class: 'row scale-form' }, h('label', {}, 'Instances', ' ', input), scaleButton);
    const view = h('section', { class: 'service', dataset: { test: 'service', breed, cluster } },
      h('div', { class: 'service-head' }, h('h3', {}, breed), status, intention, healthBox, h('span', { class: 'spacer' }), remove),
      notification, scaleText, instances, form);
    showHealth(healthBox, health.get(`${cluster}\n${breed}`));

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      scaleButton.disabled = true;
      const scale = current.scale || {};
      const body = { cpu: scale.cpu ?? 0.1, memory: scale.memory ?? '64MB', instances: Number(input.value) };
      await write(() => api.put(`${path}/clusters/${encodeURIComponent(cluster)}/services/${encodeURIComponent(breed)}/scale`, body));
      scaleButton.disabled = false;
    });
    remove.addEventListener('click', async () => {
      if (!(await confirmIn(view, `Remove ${breed} from ${cluster}? Its routes leave the gateways.`, 'Remove'))) return;
      await write(() => api.delete(path, { name, clusters: { [cluster]: { services: [{ breed }] } } }));
    });

    function update(service) {
      current = service;
      const phase = phaseOf(service);
      status.dataset.phase = phase.name;
      fill(status, statusTag(phase.name, phaseTone(phase.name)), ' ', h('span', { class: 'muted' }, 'since '), timeEl(phase.since));
      fill(intention, phase.intention && phase.intention !== 'Deployment' ? statusTag(phase.intention, 'muted') : null);
      fill(notification, phase.notification ? h('p', { class: 'alert alert-error' }, String(phase.notification)) : null);
      const scale = service.scale || {};
      scaleText.textContent = `${scale.instances ?? '?'} × (cpu ${scale.cpu ?? '?'}, memory ${scale.memory ?? '?'})`;
      // The number box follows the server unless the operator is typing in it.
      const known = String(scale.instances ?? 1);
      if (document.activeElement !== input && (input.value === '' || input.value === input.dataset.original)) input.value = known;
      input.dataset.original = known;
      const items = (service.instances || []).flatMap((i) => instanceAddresses(i).map((a) => h('li', {
        dataset: { test: 'instance', name: i.name || '' }, title: `${i.name || ''} ${a.name || ''}${i.deployed === false ? ' (not deployed)' : ''}` }, a.text)));
      fill(instances, items.length ? items : h('li', { class: 'muted' }, 'no instance yet'));
    }
    return { el: view, update, healthBox };
  }

  // Merging one stored breed into a cluster (a blueprint naming only the new service, as the quick start does).
  function addBreedForm(cluster) {
    let first = {};
    const select = h('select', { dataset: { test: 'add-breed' }, 'aria-label': `Breed to add to ${cluster}` });
    const count = h('input', { type: 'number', min: 1, max: 1000, step: 1, value: 1, dataset: { test: 'add-breed-instances' },
      'aria-label': 'Instances of the new service' });
    const submit = h('button', { type: 'submit', class: 'btn btn-small', dataset: { test: 'add-breed-submit' } }, 'Add');
    const form = h('form', { class: 'row scale-form add-breed', dataset: { test: 'add-breed-form' } }, select,
      h('label', {}, 'Instances', ' ', count), submit, h('span', { class: 'muted' }, 'Its route starts at 0 %.'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!select.value) return;
      submit.disabled = true;
      const scale = { cpu: first.cpu ?? 0.1, memory: first.memory ?? '64MB', instances: Number(count.value) || 1 };
      await write(() => api.put(path, { name, clusters: { [cluster]: { services: [{ breed: select.value, scale }] } } }));
      submit.disabled = false;
    });
    function update(c) {
      first = (c.services || [])[0]?.scale || {};
      const present = new Set((c.services || []).map(breedName));
      const chosen = select.value;
      fill(select, h('option', { value: '' }, 'Add a breed…'),
        breeds().map((b) => h('option', { value: b, disabled: present.has(b) }, present.has(b) ? `${b} (here)` : b)));
      if (chosen && !present.has(chosen)) select.value = chosen;
    }
    return { el: form, update };
  }

  function clusterView(cluster) {
    const ports = h('p', { class: 'muted' });
    const servicesBox = h('div');
    const services = new Map();
    const add = addBreedForm(cluster);
    const view = h('section', { class: 'card', dataset: { test: 'cluster', name: cluster } },
      h('h2', {}, 'Cluster ', h('span', { class: 'mono' }, cluster)), ports, servicesBox, add.el);
    function update(c) {
      const gw = Object.entries(c.gateways || {});
      ports.textContent = gw.length ? `Ports: ${gw.map(([p, g]) => `${p} (${g.port || ''})`).join(', ')}` : '';
      ports.hidden = !gw.length;
      const seen = new Set();
      for (const service of c.services || []) {
        const breed = breedName(service);
        seen.add(breed);
        let s = services.get(breed);
        if (!s) { s = serviceView(cluster, breed); services.set(breed, s); servicesBox.append(s.el); }
        s.update(service);
      }
      for (const [breed, s] of services) if (!seen.has(breed)) { s.el.remove(); services.delete(breed); }
      add.update(c);
    }
    return { el: view, update, services };
  }

  return {
    el,
    render(deployment) {
      const seen = new Set();
      el.querySelector(':scope > [data-test=gone]')?.remove();
      for (const [cname, c] of Object.entries(deployment.clusters || {})) {
        seen.add(cname);
        let cv = clusters.get(cname);
        if (!cv) { cv = clusterView(cname); clusters.set(cname, cv); el.append(cv.el); }
        cv.update(c);
      }
      for (const [cname, cv] of clusters) if (!seen.has(cname)) { cv.el.remove(); clusters.delete(cname); }
    },
    gone() {
      for (const cv of clusters.values()) cv.el.remove();
      clusters.clear();
      if (!el.querySelector('[data-test=gone]')) el.append(h('p', { class: 'card empty', dataset: { test: 'gone' } }, 'This deployment is gone (all of its services were removed).'));
    },
    /** A `health` event of one of this deployment's services. */
    health(cluster, breed, value) {
      health.set(`${cluster}\n${breed}`, value);
      const s = clusters.get(cluster)?.services.get(breed);
      if (s) showHealth(s.healthBox, value);
    },
  };
}

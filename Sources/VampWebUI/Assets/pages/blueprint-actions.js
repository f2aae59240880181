// On a blueprint's page: deploy it as a new deployment, merge it into one, or remove its services from one
// (as the original UI's "Deploy as", "Merge to" and "Remove from").

import { api, getAll, namePath } from '../api.js';
import { h, showError, clearError, confirmIn } from '../dom.js';

export function blueprintActions(ctx, blueprintName) {
  const nameInput = h('input', { id: 'deploy-as-name', dataset: { test: 'deploy-as-name' }, placeholder: 'deployment name',
    autocomplete: 'off', spellcheck: 'false', value: blueprintName.replace(/[^a-z0-9-]+/gi, '-').toLowerCase() });
  const deployButton = h('button', { type: 'submit', class: 'btn btn-primary btn-small', dataset: { test: 'deploy-as-submit' } }, 'Deploy');
  const targets = h('select', { id: 'blueprint-target', dataset: { test: 'blueprint-target' } }, h('option', { value: '' }, 'Choose a deployment…'));
  const mergeButton = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'merge-to-submit' } }, 'Merge into');
  const removeButton = h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { test: 'remove-from-submit' } }, 'Remove from');
  const result = h('p', { class: 'muted', role: 'status' });
  const deployForm = h('form', { class: 'row' }, h('label', { for: 'deploy-as-name' }, 'Deploy as'), nameInput, deployButton);
  const card = h('section', { class: 'card', dataset: { test: 'blueprint-actions' } },
    h('h2', {}, 'Use this blueprint'),
    deployForm,
    h('div', { class: 'row', style: { marginTop: '.6rem' } }, h('label', { for: 'blueprint-target' }, 'Deployment'), targets, mergeButton, removeButton),
    result);

  // The stored blueprint by name as the body: the server reads it from the store.
  async function run(label, fn) {
    try {
      await fn();
      clearError(ctx.view);
      result.textContent = label;
    } catch (err) {
      result.textContent = '';
      showError(ctx.view, err);
    }
  }
  deployForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const d = nameInput.value.trim();
    if (!d) return;
    run(`Deployed as ${d}.`, async () => {
      await api.put(`/deployments/${namePath(d)}`, JSON.stringify(blueprintName));
      result.replaceChildren(`Deployed as ${d}: `, h('a', { href: `#/deployments/${encodeURIComponent(d)}` }, 'open it'));
    });
  });
  mergeButton.addEventListener('click', () => {
    const d = targets.value;
    if (d) run(`Merged into ${d}.`, () => api.put(`/deployments/${namePath(d)}`, JSON.stringify(blueprintName)));
  });
  removeButton.addEventListener('click', async () => {
    const d = targets.value;
    if (!d || !(await confirmIn(card, `Remove the services of ${blueprintName} from ${d}?`, 'Remove'))) return;
    run(`Removed from ${d}.`, async () => {
      const blueprint = await api.get(`/blueprints/${namePath(blueprintName)}`);
      await api.delete(`/deployments/${namePath(d)}`, { ...blueprint, name: d });
    });
  });
  getAll('/deployments', {}, ctx.signal)
    .then((list) => targets.append(...list.map((d) => h('option', { value: d.name }, d.name))))
    .catch(() => {});
  return card;
}

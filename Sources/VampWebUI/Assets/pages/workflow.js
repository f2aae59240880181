// One workflow: status with suspend/resume, the schedule's phase and next run, the last runs with their output.
// Live: read again on events tagged `workflows:<name>`, and once the next run is due (timer to that time).

import { api, namePath } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, timeEl, statusTag, phaseTone, showError, clearError, debounce } from '../dom.js';
import { statusEl, scheduleText, controls } from './workflow-common.js';

export default async function workflowPage(ctx) {
  const name = ctx.params.name;
  const path = `/workflows/${namePath(name)}`;
  ctx.setTitle(name);
  const facts = h('dl', { class: 'facts' });
  const head = h('div', { class: 'page-head' }, h('h1', {}, name));
  const runsBox = h('ol', { class: 'stack', style: { listStyle: 'none', padding: 0, margin: 0 }, dataset: { test: 'workflow-runs' } });
  let dueTimer = null;
  let control = null;       // made once: its buttons stay the same elements across updates
  fill(ctx.view,
    h('div', { class: 'crumbs' }, h('a', { href: '#/workflows' }, 'Workflows'), ' / ', name),
    head,
    h('section', { class: 'card' }, facts),
    h('section', { class: 'card' }, h('h2', {}, 'Last runs'), runsBox));

  function fail(err) { if (ctx.alive) showError(ctx.view, err); }

  async function load() {
    const [w, runs] = await Promise.all([api.get(path, { signal: ctx.signal }), api.get(`${path}/runs`, { signal: ctx.signal })]);
    if (!ctx.alive) return;
    clearError(ctx.view);
    const status = runs.status || w.status;
    if (!control) control = controls(name, status, () => load().catch(fail), fail);
    else control.set(status);
    fill(head, h('h1', {}, name), statusEl(status), h('span', { class: 'spacer' }), control.el,
      h('a', { class: 'btn btn-small', href: `#/artifacts/workflows/${encodeURIComponent(name)}` }, 'Edit'));
    const breed = w.breed?.reference ? `${w.breed.reference} (built in or stored)` : `${w.breed?.name ?? ''}: ${w.breed?.deployable?.definition ?? ''}`;
    fill(facts,
      h('dt', {}, 'Schedule'), h('dd', {}, scheduleText(w.schedule)),
      h('dt', {}, 'Phase'), h('dd', {}, runs.schedule?.phase ? statusTag(runs.schedule.phase, 'muted') : '—',
        runs.schedule?.reason ? h('span', { class: 'muted' }, ` ${runs.schedule.reason}`) : null),
      h('dt', {}, 'Next run'), h('dd', { dataset: { test: 'workflow-next-run' } }, runs.schedule?.next_run ? timeEl(runs.schedule.next_run) : '—'),
      h('dt', {}, 'Breed'), h('dd', { class: 'mono' }, breed));
    const list = runs.runs || [];
    fill(runsBox, list.length ? list.map(runEl) : h('li', { class: 'muted' }, 'No run yet.'));
    clearTimeout(dueTimer);
    const due = Date.parse(runs.schedule?.next_run);
    if (!Number.isNaN(due)) dueTimer = setTimeout(() => load().catch(fail), Math.max(1000, due - Date.now() + 1200));
  }
  ctx.cleanup(() => clearTimeout(dueTimer));

  function runEl(r) {
    return h('li', { class: 'service', dataset: { test: 'workflow-run', id: r.id || '', outcome: r.outcome || '' } },
      h('div', { class: 'service-head' },
        statusTag(r.outcome || 'running', phaseTone(r.outcome)),
        h('span', {}, r.trigger || ''), timeEl(r.started),
        r.duration !== undefined ? h('span', { class: 'muted' }, `${Number(r.duration).toFixed(3)} s`) : null,
        r.exit_status !== undefined && r.exit_status !== null ? h('span', { class: 'muted' }, `exit ${r.exit_status}`) : null,
        r.skipped ? h('span', { class: 'muted' }, `${r.skipped} skipped`) : null,
        r.coalesced ? h('span', { class: 'muted' }, `${r.coalesced} coalesced`) : null),
      h('pre', { class: 'block output', dataset: { test: 'workflow-run-output' } }, r.output || '(no output)'));
  }

  const reload = debounce(() => load().catch(fail), 300);
  ctx.cleanup(events.subscribe((e) => {
    if (!isPeriodic(e) && (e.tags || []).includes(`workflows:${name}`)) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));
  await load().catch(fail);
  ctx.ready();
}

// Workflows: status, schedule and its phase, next run, the last run; suspend and resume.
// Live: a workflow is read again on events tagged `workflows:<name>` (scheduled, unscheduled, archive), and its runs
// once its next run is due (a timer set to that time: runs publish no event).

import { api, getAll, namePath } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, timeEl, statusTag, phaseTone, showError, debounce, labelCells } from '../dom.js';
import { statusEl, scheduleText, controls } from './workflow-common.js';

export default async function workflowsPage(ctx) {
  ctx.setTitle('Workflows');
  const tbody = h('tbody');
  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Workflows'), h('span', { class: 'spacer' }),
      h('a', { class: 'btn btn-primary', href: '#/artifacts/workflows/new' }, 'New workflow')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'cards' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', {}, 'Schedule'), h('th', {}, 'Phase'),
        h('th', {}, 'Next run'), h('th', {}, 'Last run'), h('th', {}, ''))),
      tbody)));
  const rows = new Map();   // name → tr
  const controlsOf = new Map();
  let dueTimer = null;

  function fail(err) { if (ctx.alive) showError(ctx.view, err); }

  async function rowFor(w) {
    let runs = null;
    try { runs = await api.get(`/workflows/${namePath(w.name)}/runs`, { signal: ctx.signal }); } catch { runs = null; }
    const last = runs?.runs?.[0];
    const next = runs?.schedule?.next_run;
    const status = runs?.status || w.status;
    // One control per workflow for the page's life: its buttons stay the same elements across updates.
    let control = controlsOf.get(w.name);
    if (!control) { control = controls(w.name, status, () => refresh(w.name), fail); controlsOf.set(w.name, control); }
    else control.set(status);
    const tr = h('tr', { dataset: { test: 'workflow-row', name: w.name, nextRun: next || '' } },
      h('td', {}, h('a', { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name)),
      h('td', {}, statusEl(status)),
      h('td', { class: 'muted' }, scheduleText(w.schedule)),
      h('td', {}, runs?.schedule?.phase ? statusTag(runs.schedule.phase, 'muted') : '—',
        runs?.schedule?.reason ? h('div', { class: 'muted' }, String(runs.schedule.reason)) : null),
      h('td', { dataset: { test: 'workflow-next-run' } }, next ? timeEl(next) : '—'),
      h('td', {}, last ? [statusTag(last.outcome || '?', phaseTone(last.outcome)), ' ', timeEl(last.started)] : '—'),
      h('td', {}, control.el));
    return tr;
  }

  async function refresh(name) {
    try {
      const w = await api.get(`/workflows/${namePath(name)}`, { signal: ctx.signal });
      const tr = await rowFor(w);
      if (!ctx.alive) return;
      const old = rows.get(name);
      if (old) {
        // Keep the row and its link; the cells after the name are new.
        old.replaceChildren(old.firstElementChild, ...[...tr.children].slice(1));
        old.dataset.nextRun = tr.dataset.nextRun;
      } else {
        rows.set(name, tr);
        tbody.append(tr);
      }
      labelCells(ctx.view.querySelector('table'));
      planDue();
    } catch (err) {
      if (err.status === 404) { rows.get(name)?.remove(); rows.delete(name); } else fail(err);
    }
  }

  async function load() {
    const list = await getAll('/workflows', {}, ctx.signal);
    const trs = await Promise.all(list.map(rowFor));
    if (!ctx.alive) return;
    rows.clear();
    list.forEach((w, i) => rows.set(w.name, trs[i]));
    fill(tbody, trs.length ? trs : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No workflow.')));
    labelCells(ctx.view.querySelector('table'));
    planDue();
  }

  // Read a workflow again a second after its next run is due.
  function planDue() {
    clearTimeout(dueTimer);
    let soonest = null;
    for (const [name, tr] of rows) {
      const t = Date.parse(tr.dataset.nextRun);
      if (!Number.isNaN(t) && (!soonest || t < soonest.t)) soonest = { name, t };
    }
    if (!soonest) return;
    dueTimer = setTimeout(() => refresh(soonest.name), Math.max(1000, soonest.t - Date.now() + 1200));
  }
  ctx.cleanup(() => clearTimeout(dueTimer));

  const pending = new Set();
  const flush = debounce(() => { for (const n of pending) refresh(n); pending.clear(); }, 300);
  ctx.cleanup(events.subscribe((e) => {
    if (isPeriodic(e)) return;
    for (const t of e.tags || []) {
      if (!t.startsWith('workflows:')) continue;
      const name = t.slice('workflows:'.length);
      if (rows.has(name)) pending.add(name); else { load().catch(fail); return; }
    }
    if (pending.size) flush();
  }));
  ctx.cleanup(() => flush.cancel());
  ctx.cleanup(events.onResync(() => load().catch(fail)));

  await load().catch(fail);
  ctx.ready();
}

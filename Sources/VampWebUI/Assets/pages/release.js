// One release: state, step, weight, evidence, the latest checks and the timeline; pause, resume, approve, promote, abort.
// Live: every decision is an event tagged `releases:<name>`, on which the release is read again. The evidence grows
// between decisions without an event (Pulse publishes none per request), so while the release runs it is also read
// every 5 s, as the gateway page reads its figures; a release that ended is read only on events.

import { api, namePath } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, showError, clearError, confirmIn, debounce } from '../dom.js';
import { ACTIONS, isFinal, setStateEl, stateEl } from './release-common.js';
import { factsView, evidenceView, checksView, timelineView } from './release-view.js';

const POLL_MS = 5000;

export default async function releasePage(ctx) {
  const name = ctx.params.name;
  const path = `/releases/${namePath(name)}`;
  ctx.setTitle(name);
  const title = h('h1', { tabindex: '-1' }, name);
  const state = stateEl('unknown', { dataset: { test: 'release-state' }, 'aria-live': 'polite' });
  const message = h('p', { class: 'release-message', dataset: { test: 'release-message' } });
  const actionStatus = h('span', { class: 'muted', role: 'status', dataset: { test: 'release-action-status' } });
  const buttons = new Map(ACTIONS.map((a) => [a.name, h('button', {
    type: 'button', disabled: true, dataset: { test: `release-action-${a.name}`, action: a.name },
    class: a.name === 'abort' ? 'btn btn-danger' : 'btn',
  }, a.label)]));
  const actionsCard = h('div', { class: 'card release-actions', dataset: { test: 'release-actions' } },
    h('div', { class: 'row', role: 'group', 'aria-label': 'Actions' }, [...buttons.values()], actionStatus));
  const facts = factsView();
  const evidence = evidenceView();
  const checks = checksView();
  const timeline = timelineView();
  fill(ctx.view,
    h('div', { class: 'crumbs' }, h('a', { href: '#/releases' }, 'Releases'), ' / ', name),
    h('div', { class: 'page-head' }, title, state, h('span', { class: 'spacer' }),
      h('a', { class: 'btn', href: `#/artifacts/releases/${encodeURIComponent(name)}`, dataset: { test: 'release-definition' } }, 'Definition')),
    message, actionsCard, h('div', { class: 'release-grid' }, facts.el, evidence.el), checks.el, timeline.el);

  let current = null;     // the status shown
  let busy = false;       // an action is on its way
  let gone = false;
  let pollTimer = null;

  function applyButtons() {
    const s = current?.state;
    for (const a of ACTIONS) buttons.get(a.name).disabled = gone || busy || !s || !a.applies(s);
    // Approve stands out only when an approval is awaited.
    buttons.get('approve').classList.toggle('btn-primary', s === 'awaiting_approval');
  }

  function render(release) {
    if (!ctx.alive || !release) return;
    const s = release.status;
    if (!s) {
      // Stored without a status (before releases were driven): its definition, and no action.
      facts.update(release);
      message.textContent = 'This release has no status: it has not been started.';
      return;
    }
    // An answer older than what is shown (a read that crossed an action's answer) changes nothing.
    if (current && Date.parse(s.updated) < Date.parse(current.updated) && s.started === current.started) return;
    current = s;
    gone = false;
    setStateEl(state, s.state);
    const last = (s.timeline || []).at(-1);
    message.textContent = last?.message ?? '';
    facts.update(release);
    evidence.update(s.evidence);
    checks.update(s.checks, release.checks);
    timeline.update(s.timeline, s.started, release.checks);
    applyButtons();
    plan();
  }

  async function load() {
    try {
      const release = await api.get(path, { signal: ctx.signal });
      if (!ctx.alive) return;
      clearError(ctx.view);
      render(release);
    } catch (err) {
      if (!ctx.alive || err.name === 'AbortError') return;
      if (err.status === 404) {
        gone = true;
        applyButtons();
        message.textContent = `There is no release ${name} (any more).`;
      }
      showError(ctx.view, err);
    }
  }

  // While the release runs, its evidence is read again every few seconds; an ended one waits for events.
  function plan() {
    clearTimeout(pollTimer);
    if (!ctx.alive || gone || isFinal(current?.state)) return;
    pollTimer = setTimeout(() => load(), POLL_MS);
  }
  ctx.cleanup(() => clearTimeout(pollTimer));

  async function act(action) {
    const button = buttons.get(action.name);
    if (action.confirm && !(await confirmIn(actionsCard, action.confirm(name), action.label, 'release'))) { button.focus(); return; }
    if (!ctx.alive) return;
    busy = true;
    applyButtons();
    actionStatus.textContent = `${action.label}…`;
    try {
      const r = await api.post(`${path}/${action.name}`);
      if (!ctx.alive) return;
      clearError(ctx.view);
      actionStatus.textContent = `${action.label}: done.`;
      if (r.data && typeof r.data === 'object' && r.data.status) render(r.data); else await load();
    } catch (err) {
      if (!ctx.alive) return;
      actionStatus.textContent = '';
      showError(ctx.view, err);
      await load();   // the state moved on meanwhile (a 409 says so): show where it is
    } finally {
      busy = false;
      applyButtons();
      // The focus stays on the actions: the next one that applies, or the page's title.
      if (ctx.alive && (button.disabled && document.activeElement === button || document.activeElement === document.body)) {
        const next = [...buttons.values()].find((b) => !b.disabled);
        (next || title).focus();
      }
    }
  }
  for (const a of ACTIONS) buttons.get(a.name).addEventListener('click', () => act(a));

  const reload = debounce(() => load(), 150);
  ctx.cleanup(events.subscribe((e) => {
    if (!isPeriodic(e) && (e.tags || []).includes(`releases:${name}`)) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));

  await load();
  ctx.ready();
}

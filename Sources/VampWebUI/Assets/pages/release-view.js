// One release's parts, each built once and updated in place: facts and steps, evidence, the latest checks, timeline.
// Server text (messages, explanations, names) goes in only as text (dom.js `h`).

import { h, fill, timeEl, statusTag, refreshTimes } from '../dom.js';
import {
  stepText, gatewayOf, stepOf, share, ms, num, checkFigure, checkBound, checkName, outcomeTone, outcomeWords,
} from './release-common.js';

const DECISIONS = {
  started: ['started', 'info'], advanced: ['advanced', 'ok'], holding: ['holding', 'warn'],
  approval_needed: ['approval needed', 'warn'], approved: ['approved', 'ok'], paused: ['paused', 'muted'],
  resumed: ['resumed', 'info'], promoted: ['promoted', 'ok'], rolled_back: ['rolled back', 'error'],
  aborted: ['aborted', 'error'], failed: ['failed', 'error'], webhook: ['webhook', 'info'],
  canary_deployed: ['canary deployed', 'info'],
};

/** Decisions whose figures are the answer to "why did it stop?": their checks are shown open. */
const OPEN_CHECKS = new Set(['holding', 'rolled_back', 'failed']);

export function decisionTag(decision) {
  const [words, tone] = DECISIONS[decision] || [String(decision ?? '?'), 'muted'];
  return statusTag(words, tone, { dataset: { test: 'release-decision', decision: decision || '' } });
}

/** A table of checks: outcome, canary vs baseline, statistic vs threshold, explanation; `rules` the release's `checks`. */
export function checksTable(checks, rules, test = 'release-checks') {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'cards checks', dataset: { test } },
    h('thead', {}, h('tr', {}, h('th', {}, 'Check'), h('th', {}, 'Outcome'), h('th', { class: 'num' }, 'Canary'),
      h('th', { class: 'num' }, 'Baseline'), h('th', { class: 'num' }, 'Statistic / threshold'), h('th', {}, 'Explanation'))),
    h('tbody', {}, (checks || []).map((c) => h('tr', { dataset: { test: 'release-check', check: c.check || '', outcome: c.outcome || '' } },
      h('td', { 'data-label': 'Check' }, checkName(c.check)),
      h('td', { 'data-label': 'Outcome' }, statusTag(outcomeWords(c.outcome), outcomeTone(c.outcome), { dataset: { test: 'release-check-outcome' } })),
      h('td', { class: 'num', 'data-label': 'Canary' }, checkFigure(c, c.canary)),
      h('td', { class: 'num', 'data-label': 'Baseline' }, checkFigure(c, c.baseline)),
      h('td', { class: 'num', 'data-label': 'Statistic / threshold' }, `${checkBound(c, c.statistic, rules)} / ${checkBound(c, c.threshold, rules)}`),
      h('td', { 'data-label': 'Explanation', class: 'explanation' }, c.explanation ?? ''))))));
}

/** The release's gateway, versions, step and weight, times, what it waits for; its steps as a strip. */
export function factsView() {
  const cell = (test) => h('dd', { dataset: { test } });
  const dd = {
    gateway: cell('release-gateway'), versions: cell('release-versions'), step: cell('release-step'), weight: cell('release-weight'),
    requests: cell('release-step-requests'), started: cell('release-started'), stepStarted: cell('release-step-started'),
    updated: cell('release-updated'), waiting: cell('release-waiting'), holding: cell('release-holding-since'),
  };
  const waitingLabel = h('dt', {}, 'Waiting for');
  const holdingLabel = h('dt', {}, 'Holding since');
  const strip = h('ol', { class: 'release-steps', dataset: { test: 'release-steps' }, 'aria-label': 'Steps' });
  const el = h('div', { class: 'card' },
    h('dl', { class: 'facts' },
      h('dt', {}, 'Gateway'), dd.gateway, h('dt', {}, 'Baseline → canary'), dd.versions,
      h('dt', {}, 'Step'), dd.step, h('dt', {}, 'Canary weight'), dd.weight,
      h('dt', {}, 'This step'), dd.requests,
      h('dt', {}, 'Started'), dd.started, h('dt', {}, 'Step started'), dd.stepStarted, h('dt', {}, 'Last decision'), dd.updated,
      waitingLabel, dd.waiting, holdingLabel, dd.holding),
    strip);

  // A link or time is made again only when it changed: a link a user has reached stays the same element.
  const keep = (el, key, make) => { if (el.dataset.key !== String(key)) { el.dataset.key = String(key); fill(el, make()); } };
  const time = (el, iso) => keep(el, iso, () => (iso ? timeEl(iso) : '—'));

  function update(release) {
    const s = release.status || {};
    const gateway = gatewayOf(release);
    keep(dd.gateway, gateway, () => h('a', { href: `#/gateways/${encodeURIComponent(gateway)}`, class: 'mono' }, gateway));
    dd.versions.textContent = `${release.baseline ?? '?'} → ${release.canary ?? '?'}`;
    dd.step.textContent = stepText(s);
    dd.weight.textContent = s.weight ?? '—';
    const minimum = release.step?.minimum_requests;
    const needs = [minimum !== undefined ? `${minimum} requests` : null, release.step?.minimum_duration || null].filter(Boolean);
    dd.requests.textContent = s.step_requests === undefined ? '—'
      : `${s.step_requests} requests to the canary${needs.length ? ` (needs ${needs.join(' and ')})` : ''}`;
    time(dd.started, s.started);
    time(dd.stepStarted, s.step_started);
    time(dd.updated, (s.timeline || []).at(-1)?.time);
    refreshTimes(el);   // kept <time>s say how long ago now, not at their first showing
    const waits = [];
    if (s.awaiting_approval !== undefined && s.awaiting_approval !== null) waits.push(`an approval of step ${s.awaiting_approval}`);
    if (s.waiting_for_webhook) waits.push(`the ${String(s.waiting_for_webhook).replace(/_/g, ' ')} webhook`);
    dd.waiting.textContent = waits.join(' and ');
    dd.waiting.hidden = waitingLabel.hidden = !waits.length;
    time(dd.holding, s.holding_since);
    dd.holding.hidden = holdingLabel.hidden = !s.holding_since;
    const steps = (release.steps || []).map(stepOf);
    const current = Number(s.step) || 0;
    const ended = ['promoted', 'rolled_back', 'aborted', 'failed'].includes(s.state);
    fill(strip, steps.map((st, i) => {
      const n = i + 1;
      // Where each step stands: passed, the current one, where an ended release stopped (not promoted), or to come.
      const where = n < current || s.state === 'promoted' ? 'done' : n === current ? (ended ? 'stopped' : 'current') : 'later';
      return h('li', { class: `release-step-${where}`, dataset: { test: 'release-step-item', step: String(n), where },
        'aria-current': where === 'current' ? 'step' : null },
      h('span', { class: 'step-weight' }, st.weight),
      st.approval ? h('span', { class: 'step-note' }, 'after approval') : null,
      st.condition ? h('span', { class: 'step-note' }, `if ${st.condition}`) : null);
    }));
  }
  return { el, update };
}

/** Both routes' requests, errors, error rate and p50/p95/p99 since the start, over the same seconds. */
export function evidenceView() {
  const rows = {};
  const tbody = h('tbody', {}, ['baseline', 'canary'].map((route) => {
    const cells = ['requests', 'errors', 'error_rate', 'p50', 'p95', 'p99'].map((k) => h('td', { class: 'num', dataset: { figure: k } }, '—'));
    rows[route] = cells;
    return h('tr', { dataset: { test: 'release-evidence-row', route } }, h('th', { scope: 'row' }, route), cells);
  }));
  const el = h('div', { class: 'card' }, h('h2', {}, 'Evidence'),
    h('p', { class: 'muted' }, 'Both routes since the release started, over the same seconds (from Pulse).'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'evidence', dataset: { test: 'release-evidence' } },
      h('thead', {}, h('tr', {}, h('th', {}, 'Route'), ['Requests', 'Errors', 'Error rate', 'p50', 'p95', 'p99'].map((t) => h('th', { class: 'num' }, t)))),
      tbody)));
  function update(evidence) {
    for (const route of ['baseline', 'canary']) {
      const e = evidence?.[route] || {};
      const text = [num(e.requests), num(e.errors), share(e.error_rate), ms(e.p50), ms(e.p95), ms(e.p99)];
      rows[route].forEach((td, i) => { if (td.textContent !== text[i]) td.textContent = text[i]; });
    }
  }
  return { el, update };
}

/** The latest judgement of every check. */
export function checksView() {
  const box = h('div');
  const el = h('div', { class: 'card' }, h('h2', {}, 'Latest checks'), box);
  function update(checks, rules) {
    fill(box, checks?.length ? checksTable(checks, rules) : h('p', { class: 'muted', dataset: { test: 'release-checks-none' } }, 'Not judged yet.'));
  }
  return { el, update };
}

/** Every decision, newest first; entries are kept (an open list of figures stays open), new ones go on top. */
export function timelineView() {
  const list = h('ol', { class: 'timeline', dataset: { test: 'release-timeline' }, reversed: true });
  const el = h('div', { class: 'card' }, h('h2', {}, 'Timeline'), h('p', { class: 'muted' }, 'Every decision with the figures that led to it, newest first.'), list);
  let shown = 0;
  let releaseStarted = null;
  let rules = null;

  function entry(d, index) {
    const checks = d.checks || [];
    const summary = checks.map((c) => `${checkName(c.check).toLowerCase()} ${outcomeWords(c.outcome)}`).join(' · ');
    return h('li', { class: 'timeline-entry', dataset: { test: 'release-timeline-entry', decision: d.decision || '', index: String(index) } },
      h('div', { class: 'timeline-head' },
        h('time', { datetime: d.time, title: d.time ? new Date(d.time).toLocaleString() : '' }, d.time ? new Date(d.time).toLocaleTimeString() : '—'),
        decisionTag(d.decision),
        h('span', { class: 'muted', dataset: { test: 'release-timeline-step' } }, d.step !== undefined ? `step ${d.step}` : ''),
        h('span', { class: 'timeline-weight', dataset: { test: 'release-timeline-weight' } }, d.weight ?? '')),
      h('div', { class: 'timeline-message', dataset: { test: 'release-timeline-message' } }, d.message ?? ''),
      checks.length ? h('details', { class: 'timeline-checks', open: OPEN_CHECKS.has(d.decision) },
        h('summary', { dataset: { test: 'release-timeline-checks' } }, `Checks: ${summary}`),
        checksTable(checks, rules, 'release-timeline-check-table')) : null);
  }

  function update(timeline, started, checkRules) {
    const all = timeline || [];
    rules = checkRules;
    // A release started again (PUT once final) has a new timeline: start over.
    if (started !== releaseStarted || all.length < shown) { list.replaceChildren(); shown = 0; releaseStarted = started; }
    if (all.length) list.querySelector(':scope > .timeline-none')?.remove();
    for (let i = shown; i < all.length; i++) list.prepend(entry(all[i], i));
    shown = all.length;
    if (!all.length) fill(list, h('li', { class: 'muted timeline-none' }, 'No decision yet.'));
  }
  return { el, update };
}

// Shared by the releases list and one release's page: a state in words and colour, which actions apply, figures.

import { h, fmt } from '../dom.js';

/** Every state of `status.state`: its words and its tone (the colour always comes with the words). */
export const STATES = {
  progressing: { words: 'Progressing', tone: 'info' },
  holding: { words: 'Holding', tone: 'warn' },
  paused: { words: 'Paused', tone: 'muted' },
  awaiting_approval: { words: 'Awaiting approval', tone: 'warn' },
  promoted: { words: 'Promoted', tone: 'ok' },
  rolled_back: { words: 'Rolled back', tone: 'error' },
  aborted: { words: 'Aborted', tone: 'error' },
  failed: { words: 'Failed', tone: 'error' },
};

const FINAL = new Set(['promoted', 'rolled_back', 'aborted', 'failed']);

/** A release that ended (promoted, rolled back, aborted or failed) takes no more actions. */
export function isFinal(state) { return FINAL.has(String(state)); }

/** The words of a state (an unknown state as it is). */
export function stateWords(state) { return STATES[state]?.words || String(state || 'unknown'); }

/**
 * Sets `el` to show `state`: words, `tag tag-<tone> release-state-<state>` and `data-state`. The same element is kept
 * across updates (a test or a screen reader holding it sees the change).
 */
export function setStateEl(el, state) {
  const s = String(state || 'unknown');
  el.className = `tag tag-${STATES[s]?.tone || 'muted'} release-state release-state-${s.replace(/[^a-z_]/g, '')}`;
  el.dataset.state = s;
  el.textContent = stateWords(s);
  return el;
}

export function stateEl(state, attrs = {}) {
  return setStateEl(h('span', attrs), state);
}

/** The actions in the order of the page, and when each applies (the server answers 409 otherwise). */
export const ACTIONS = [
  { name: 'pause', label: 'Pause', applies: (s) => !isFinal(s) && s !== 'paused' },
  { name: 'resume', label: 'Resume', applies: (s) => s === 'paused' },
  { name: 'approve', label: 'Approve', applies: (s) => s === 'awaiting_approval' },
  { name: 'promote', label: 'Promote now', applies: (s) => !isFinal(s), confirm: (n) => `Promote ${n} now: the canary to 100%, skipping the steps left?` },
  { name: 'abort', label: 'Abort', applies: (s) => !isFinal(s), confirm: (n) => `Abort ${n}: the canary back to 0% at once?` },
];

/** "step 2 of 4" from a status. */
export function stepText(status) {
  if (!status || status.step === undefined || status.step === null) return '—';
  return `${status.step} of ${status.steps ?? '?'}`;
}

/** The gateway a release shifts, as `deployment/cluster/port` (the gateway's name). */
export function gatewayOf(release) {
  return [release?.deployment, release?.cluster, release?.port].map((p) => p ?? '?').join('/');
}

/** A step of the release as written: `"5%"` or `{weight, condition, approval}`. */
export function stepOf(step) {
  if (step && typeof step === 'object') return { weight: String(step.weight ?? '?'), condition: step.condition || null, approval: Boolean(step.approval) };
  return { weight: String(step ?? '?'), condition: null, approval: false };
}

/** A share as a percentage (0.0042 → "0.42%"); null → "—". */
export function share(x) {
  if (x === undefined || x === null || Number.isNaN(Number(x))) return '—';
  const p = Number(x) * 100;
  return `${p === 0 ? '0' : p < 1 ? p.toFixed(2) : p.toFixed(1)}%`;
}

/** Milliseconds: 12.345 → "12.3 ms"; null → "—". */
export function ms(x) {
  if (x === undefined || x === null || Number.isNaN(Number(x))) return '—';
  return `${fmt(Number(x), 1)} ms`;
}

/** A test statistic or threshold: four significant digits at most; null → "—". */
export function num(x) {
  if (x === undefined || x === null || Number.isNaN(Number(x))) return '—';
  const n = Number(x);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 1e4 || Math.abs(n) < 1e-3 ? n.toExponential(2) : String(Number(n.toPrecision(4)));
}

/** A check's canary and baseline figure in its unit: a share for error_rate, milliseconds for response_time. */
export function checkFigure(check, x) {
  return check?.check === 'error_rate' ? share(x) : check?.check === 'response_time' ? ms(x) : num(x);
}

/**
 * A check's statistic or threshold in its unit, as the check's `measure` says: `evidence` (a likelihood ratio against
 * 1/α, no unit: the error rate), `ratio` (`1.2×`), `difference` (ms for a response time) or `ceiling` (the check's
 * unit). Without a measure (a judgement recorded before it was said): a ratio when the release's rule is a `max_ratio`
 * equal to the threshold, else the check's unit.
 */
export function checkBound(check, x, rules) {
  if (x === null || x === undefined) return '—';
  switch (check?.measure) {
    case 'evidence': return `E ${num(x)}`;
    case 'ratio': return `${num(x)}×`;
    case 'difference':
    case 'ceiling': return checkFigure(check, x);
  }
  const ratio = rules?.[check?.check]?.max_ratio;
  if (ratio !== undefined && ratio !== null && Number(ratio) === Number(check?.threshold)) return `${num(x)}×`;
  return checkFigure(check, x);
}

export function checkName(name) {
  return { error_rate: 'Error rate', response_time: 'Response time' }[name] || String(name ?? '?');
}

export function outcomeTone(outcome) {
  return { pass: 'ok', fail: 'error', holding: 'warn', not_judged: 'muted' }[outcome] || 'muted';
}

export function outcomeWords(outcome) {
  return { pass: 'pass', fail: 'fail', holding: 'holding', not_judged: 'not judged' }[outcome] || String(outcome ?? '?');
}

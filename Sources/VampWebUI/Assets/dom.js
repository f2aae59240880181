// Small DOM helpers: every text goes in through textContent (names and tags are user input), never innerHTML.

/**
 * h('div', {class: 'card', dataset: {test: 'x'}, onclick: fn}, 'text', child, [more])
 * Attributes: `class`, `dataset`, `style` (object), `on<event>` (listener), boolean `true`/`false`, others set as is.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
  return el;
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** "3 s ago", "5 min ago"... from an ISO timestamp; the exact time goes in a title. */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso ?? '');
  const d = Math.round((now - t) / 1000);
  const future = d < 0;
  const a = Math.abs(d);
  const text = a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min` : a < 86400 ? `${Math.floor(a / 3600)} h` : `${Math.floor(a / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** <time> with the relative text and the exact time as title. */
export function timeEl(iso, attrs = {}) {
  return h('time', { datetime: iso, class: 'rel', title: iso ? new Date(iso).toLocaleString() : '', ...attrs }, iso ? ago(iso) : '—');
}

/** Brings every relative time on the page up to date (the shell calls it every 10 s). */
export function refreshTimes(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll('time.rel[datetime]')) {
    const text = ago(t.getAttribute('datetime'), now);
    if (t.textContent !== text) t.textContent = text;
  }
}

export function fmt(n, digits = 2) {
  if (n === undefined || n === null || Number.isNaN(Number(n))) return '—';
  const x = Number(n);
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

export function percent(ratio) {
  if (ratio === undefined || ratio === null) return '—';
  return `${(Number(ratio) * 100).toFixed(ratio > 0 && ratio < 0.01 ? 2 : 1)}%`;
}

/** A status tag: the colour comes from `tone` (ok, warn, error, info, muted), the meaning is in the text. */
export function statusTag(text, tone, attrs = {}) {
  return h('span', { class: `tag tag-${tone}`, ...attrs }, text);
}

export function phaseTone(phase) {
  switch (String(phase)) {
    case 'Done': case 'running': case 'succeeded': case 'ok': return 'ok';
    case 'Failed': case 'failed': case 'timed-out': case 'error': return 'error';
    case 'Initiated': case 'Updating': case 'starting': case 'suspending': case 'restarting': return 'warn';
    case 'suspended': case 'stopped': return 'muted';
    default: return 'info';
  }
}

/** Shows an API error in the page's [data-test=error] box (created at the top of `main` if needed). */
export function showError(main, err) {
  let box = main.querySelector(':scope > [data-test=error]');
  if (!box) {
    box = h('div', { class: 'alert alert-error', role: 'alert', dataset: { test: 'error' } });
    main.prepend(box);
  }
  fill(box, h('strong', {}, err?.status ? `Error ${err.status}: ` : 'Error: '), String(err?.message ?? err));
  return box;
}

export function clearError(main) {
  main.querySelector(':scope > [data-test=error]')?.remove();
}

/**
 * A confirmation inside the page (never window.confirm): resolves true on [data-test=confirm] (or `<prefix>-confirm`),
 * false on [data-test=cancel] (`<prefix>-cancel`) or Escape.
 */
export function confirmIn(container, question, confirmLabel = 'Confirm', prefix = '') {
  container.querySelector('.confirm-box')?.remove();
  const test = (word) => (prefix ? `${prefix}-${word}` : word);
  return new Promise((resolve) => {
    const done = (answer) => { box.remove(); resolve(answer); };
    const yes = h('button', { type: 'button', class: 'btn btn-danger', dataset: { test: test('confirm') }, onclick: () => done(true) }, confirmLabel);
    const box = h('div', { class: 'confirm-box', role: 'alertdialog', 'aria-label': question },
      h('span', {}, question),
      yes,
      h('button', { type: 'button', class: 'btn', dataset: { test: test('cancel') }, onclick: () => done(false) }, 'Cancel'));
    box.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); done(false); } });
    container.append(box);
    yes.focus();
  });
}

/** Gives each cell the text of its column's header (`data-label`): on a phone such tables show rows as cards. */
export function labelCells(table) {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  for (const tr of table.querySelectorAll('tbody tr')) {
    [...tr.children].forEach((td, i) => { if (heads[i]) td.dataset.label = heads[i]; });
  }
}

export function debounce(fn, ms) {
  let t = null;
  const wrapped = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  wrapped.cancel = () => clearTimeout(t);
  return wrapped;
}

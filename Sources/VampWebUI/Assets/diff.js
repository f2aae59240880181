// A line diff by longest common subsequence: [{op: 'same'|'ins'|'del', text}], and its DOM (<ins>, <del>, <span>).

import { h } from './dom.js';

const MAX_CELLS = 4_000_000;   // beyond that (2000 × 2000 lines) a plain "all removed, all added" is answered

export function lineDiff(before, after) {
  const a = String(before ?? '').split('\n');
  const b = String(after ?? '').split('\n');
  if (a[a.length - 1] === '') a.pop();
  if (b[b.length - 1] === '') b.pop();
  // Common head and tail first: most revisions change a few lines in the middle.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const head = a.slice(0, start).map((text) => ({ op: 'same', text }));
  const tail = a.slice(endA).map((text) => ({ op: 'same', text }));
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  return [...head, ...middle(x, y), ...tail];
}

function middle(x, y) {
  const n = x.length;
  const m = y.length;
  if (!n) return y.map((text) => ({ op: 'ins', text }));
  if (!m) return x.map((text) => ({ op: 'del', text }));
  if (n * m > MAX_CELLS) return [...x.map((text) => ({ op: 'del', text })), ...y.map((text) => ({ op: 'ins', text }))];
  // lcs[i][j]: the LCS length of x[i..] and y[j..], in one flat array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = x[i] === y[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push({ op: 'same', text: x[i] }); i++; j++; }
    else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) out.push({ op: 'del', text: x[i++] });
    else out.push({ op: 'ins', text: y[j++] });
  }
  while (i < n) out.push({ op: 'del', text: x[i++] });
  while (j < m) out.push({ op: 'ins', text: y[j++] });
  return out;
}

/** The diff as elements: <ins> added lines, <del> removed ones, <span> the same. */
export function diffElement(before, after, attrs = {}) {
  const lines = lineDiff(before, after);
  const el = h('div', { class: 'diff', ...attrs });
  for (const { op, text } of lines) {
    el.append(h(op === 'same' ? 'span' : op, {}, text));
  }
  const changes = lines.filter((l) => l.op !== 'same').length;
  el.setAttribute('aria-label', `${changes} changed line${changes === 1 ? '' : 's'}`);
  return el;
}

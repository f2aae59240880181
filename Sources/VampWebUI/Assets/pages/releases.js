// Releases: the running ones first, then the past ones; name, gateway, baseline → canary, state, step, canary weight.
// Live: read again on events tagged `releases…` or `release` (every decision and every change of a stored release).

import { getAll } from '../api.js';
import { events, hasTag, isPeriodic } from '../events.js';
import { h, fill, timeEl, showError, clearError, debounce, labelCells } from '../dom.js';
import { isFinal, stateEl, stepText, gatewayOf } from './release-common.js';

/** Running first (newest start first), then the past ones (latest change first). */
export function orderReleases(list) {
  const time = (r, key) => Date.parse(r?.status?.[key] || '') || 0;
  const running = list.filter((r) => !isFinal(r.status?.state)).sort((a, b) => time(b, 'started') - time(a, 'started'));
  const past = list.filter((r) => isFinal(r.status?.state)).sort((a, b) => time(b, 'updated') - time(a, 'updated'));
  return { running, past };
}

export default async function releasesPage(ctx) {
  ctx.setTitle('Releases');
  const runningBody = h('tbody');
  const pastBody = h('tbody');
  const runningCount = h('span', { class: 'muted', dataset: { test: 'releases-running-count' } });
  const pastCount = h('span', { class: 'muted', dataset: { test: 'releases-past-count' } });
  const table = (body, test) => h('div', { class: 'table-wrap' }, h('table', { class: 'cards', dataset: { test } },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Gateway'), h('th', {}, 'Baseline → canary'),
      h('th', {}, 'State'), h('th', {}, 'Step'), h('th', { class: 'num' }, 'Canary weight'), h('th', {}, 'Last decision'))),
    body));
  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Releases'), h('span', { class: 'spacer' }),
      h('a', { class: 'btn btn-primary', href: '#/artifacts/releases/new', dataset: { test: 'release-new' } }, 'Start a release')),
    h('p', { class: 'muted' }, 'A release moves a canary\u2019s weight step by step and judges it against its baseline on the same seconds of traffic. ',
      'Start one by storing a ', h('code', {}, 'kind: release'), ' (the editor begins with an example): it starts at once.'),
    h('section', { 'aria-labelledby': 'releases-running' },
      h('h2', { id: 'releases-running' }, 'Running ', runningCount),
      table(runningBody, 'releases-running')),
    h('section', { 'aria-labelledby': 'releases-past', class: 'releases-past' },
      h('h2', { id: 'releases-past' }, 'Past ', pastCount),
      table(pastBody, 'releases-past')));

  function fail(err) { if (ctx.alive) showError(ctx.view, err); }

  function row(r) {
    const s = r.status || {};
    const href = `#/releases/${encodeURIComponent(r.name)}`;
    // `updated` moves with every reading of the figures; the last decision is what changed.
    const lastDecision = (s.timeline || []).at(-1)?.time;
    return h('tr', { dataset: { test: 'release-row', name: r.name, state: s.state || '' } },
      h('td', {}, h('a', { href, dataset: { test: 'release-link' } }, r.name)),
      h('td', { class: 'mono' }, h('a', { href: `#/gateways/${encodeURIComponent(gatewayOf(r))}` }, gatewayOf(r))),
      h('td', { class: 'mono' }, `${r.baseline ?? '?'} → ${r.canary ?? '?'}`),
      h('td', {}, stateEl(s.state, { dataset: { test: 'release-state' } })),
      h('td', { dataset: { test: 'release-step' } }, stepText(s)),
      h('td', { class: 'num', dataset: { test: 'release-weight' } }, s.weight ?? '—'),
      h('td', {}, lastDecision ? timeEl(lastDecision) : '—'));
  }

  function show(body, count, list, empty) {
    count.textContent = `(${list.length})`;
    fill(body, list.length ? list.map(row) : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, empty)));
    labelCells(body.closest('table'));
  }

  async function load() {
    const list = await getAll('/releases', {}, ctx.signal);
    if (!ctx.alive) return;
    clearError(ctx.view);
    const { running, past } = orderReleases(list);
    show(runningBody, runningCount, running, 'No release is running.');
    show(pastBody, pastCount, past, 'No release has ended yet.');
  }

  const reload = debounce(() => load().catch(fail), 300);
  ctx.cleanup(events.subscribe((e) => {
    if (!isPeriodic(e) && (e.type === 'release' || hasTag(e, 'releases') || hasTag(e, 'release'))) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));
  await load().catch(fail);
  ctx.ready();
}

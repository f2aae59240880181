// Gateways: every gateway with its port, routes and weights, paged as the API pages them.
// Live: read again on events tagged `gateways` (not Pulse's periodic figures).

import { getPage } from '../api.js';
import { events, hasTag, isPeriodic } from '../events.js';
import { h, fill, showError, statusTag, debounce, labelCells } from '../dom.js';
import { conditionText } from '../model.js';

export default async function gatewaysPage(ctx) {
  ctx.setTitle('Gateways');
  let page = Number(ctx.query.get('page')) || 1;
  const perPage = 20;
  const tbody = h('tbody');
  const info = h('span', { dataset: { test: 'page-info' } });
  const prev = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'page-prev' } }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'page-next' } }, 'Next ›');
  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Gateways'), h('span', { class: 'spacer' }),
      h('a', { class: 'btn', href: '#/artifacts/gateways/new' }, 'New gateway')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'cards' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Port'), h('th', {}, 'Kind'), h('th', {}, 'Routes'), h('th', {}, 'Sticky'))),
      tbody)),
    h('div', { class: 'pager' }, prev, info, next));
  prev.addEventListener('click', () => { page -= 1; load().catch(fail); });
  next.addEventListener('click', () => { page += 1; load().catch(fail); });

  function fail(err) { if (ctx.alive) showError(ctx.view, err); }

  async function load() {
    const r = await getPage('/gateways', page, perPage, {}, ctx.signal);
    if (!ctx.alive) return;
    page = Math.min(Math.max(1, page), r.pages);
    info.textContent = `Page ${page} of ${r.pages} · ${r.total} in all`;
    prev.disabled = page <= 1;
    next.disabled = page >= r.pages;
    if (!r.items.length) {
      fill(tbody, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No gateway yet. Deploying a blueprint with gateways makes some.')));
      return;
    }
    fill(tbody, r.items.map((g) => h('tr', { dataset: { test: 'gateway-row', name: g.name } },
      h('td', {}, h('a', { href: `#/gateways/${encodeURIComponent(g.name)}` }, g.name)),
      h('td', { class: 'mono' }, g.port || ''),
      h('td', {}, g.internal ? statusTag('internal', 'muted') : statusTag('external', 'info')),
      h('td', {}, Object.entries(g.routes || {}).map(([name, route]) => h('div', { class: 'mono' },
        `${name} ${route.weight ?? '—'}`, conditionText(route) ? h('span', { class: 'muted' }, ` if ${conditionText(route)}`) : null))),
      h('td', {}, g.sticky || 'none'))));
    labelCells(ctx.view.querySelector('table'));
  }

  const reload = debounce(() => load().catch(fail), 300);
  ctx.cleanup(events.subscribe((e) => { if (!isPeriodic(e) && hasTag(e, 'gateways')) reload(); }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));
  await load().catch(fail);
  ctx.ready();
}

// Artifacts of one kind: search by name and paging with the API's page/per_page and X-Total-Count.
// Without a search the API pages; with one, every page is read (30 at a time) and the matches are paged here.
// Live: the page is read again on archive events of this kind.

import { getPage, getAll } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, showError, clearError, debounce, statusTag, phaseTone } from '../dom.js';
import { ARTIFACT_KINDS, KIND_SINGULAR, breedName } from '../model.js';

const PER_PAGE = 20;

export default async function artifactsPage(ctx) {
  const kind = ctx.params.kind;
  if (!KIND_SINGULAR[kind]) throw new Error(`There is no kind '${kind}'. The kinds: ${ARTIFACT_KINDS.map(([k]) => k).join(', ')}.`);
  const label = ARTIFACT_KINDS.find(([k]) => k === kind)[1];
  ctx.setTitle(label);
  let page = Number(ctx.query.get('page')) || 1;
  let search = ctx.query.get('q') || '';

  const kindSelect = h('select', { id: 'artifact-kind', dataset: { test: 'artifact-kind' } },
    ARTIFACT_KINDS.map(([k, l]) => h('option', { value: k, selected: k === kind }, l)));
  const searchInput = h('input', { type: 'search', id: 'artifact-search', dataset: { test: 'artifact-search' }, value: search,
    placeholder: 'name contains…', autocomplete: 'off', spellcheck: 'false' });
  const tbody = h('tbody');
  const info = h('span', { dataset: { test: 'page-info' }, 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'page-prev' } }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'page-next' } }, 'Next ›');
  const canCreate = kind !== 'deployments';

  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Artifacts'), h('span', { class: 'spacer' }),
      canCreate ? h('a', { class: 'btn btn-primary', href: `#/artifacts/${kind}/new`, dataset: { test: 'artifact-new' } }, `New ${KIND_SINGULAR[kind]}`)
        : h('a', { class: 'btn btn-primary', href: '#/deployments' }, 'Deploy a blueprint')),
    h('div', { class: 'row', style: { marginBottom: '.75rem' } },
      h('label', { for: 'artifact-kind' }, 'Kind'), kindSelect,
      h('label', { for: 'artifact-search' }, 'Search'), searchInput),
    h('div', { class: 'table-wrap' }, h('table', { dataset: { test: 'artifacts', kind } },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Summary'))), tbody)),
    h('div', { class: 'pager' }, prev, info, next));

  kindSelect.addEventListener('change', () => { location.hash = `#/artifacts/${kindSelect.value}`; });
  prev.addEventListener('click', () => { page -= 1; load().catch(fail); });
  next.addEventListener('click', () => { page += 1; load().catch(fail); });
  const onSearch = debounce(() => { search = searchInput.value.trim(); page = 1; load().catch(fail); }, 300);
  searchInput.addEventListener('input', onSearch);
  ctx.cleanup(() => onSearch.cancel());

  function fail(err) { if (ctx.alive) showError(ctx.view, err); }

  function href(name) {
    return kind === 'deployments' ? `#/deployments/${encodeURIComponent(name)}` : `#/artifacts/${kind}/${encodeURIComponent(name)}`;
  }

  async function load() {
    let items; let total; let pages;
    if (!search) {
      const r = await getPage(`/${kind}`, page, PER_PAGE, {}, ctx.signal);
      ({ items, total, pages } = r);
      if (page > pages) { page = pages; }
    } else {
      const all = (await getAll(`/${kind}`, {}, ctx.signal)).filter((a) => String(a.name).toLowerCase().includes(search.toLowerCase()));
      total = all.length;
      pages = Math.max(1, Math.ceil(total / PER_PAGE));
      page = Math.min(Math.max(1, page), pages);
      items = all.slice((page - 1) * PER_PAGE, page * PER_PAGE);
    }
    if (!ctx.alive) return;
    clearError(ctx.view);
    page = Math.max(1, page);
    info.textContent = `Page ${page} of ${pages} · ${total} ${search ? 'matching' : 'in all'}`;
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
    const q = new URLSearchParams({ ...(page > 1 ? { page } : {}), ...(search ? { q: search } : {}) }).toString();
    history.replaceState(null, '', `#/artifacts/${kind}${q ? `?${q}` : ''}`);
    if (!items.length) {
      fill(tbody, h('tr', {}, h('td', { colspan: 2, class: 'empty' }, search ? `No ${kind} match “${search}”.` : `No ${kind} stored.`)));
      return;
    }
    fill(tbody, items.map((a) => h('tr', { dataset: { test: 'artifact-row', name: a.name } },
      h('td', {}, h('a', { href: href(a.name), class: 'mono' }, a.name)),
      h('td', {}, summary(kind, a)))));
  }

  const reload = debounce(() => load().catch(fail), 300);
  ctx.cleanup(events.subscribe((e) => {
    if (!isPeriodic(e) && (e.tags || []).includes('archive') && (e.tags || []).includes(kind)) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(reload));
  await load().catch(fail);
  ctx.ready();
}

function summary(kind, a) {
  switch (kind) {
    case 'breeds': return h('span', { class: 'mono muted' }, `${a.deployable?.type ?? ''} ${a.deployable?.definition ?? ''}`.trim());
    case 'blueprints': case 'deployments':
      return h('span', { class: 'muted' }, Object.entries(a.clusters || {})
        .map(([c, v]) => `${c}: ${(v.services || []).map(breedName).join(', ')}`).join(' · '));
    case 'gateways': return h('span', { class: 'muted' }, `${a.port ?? ''} → ${Object.keys(a.routes || {}).join(', ')}`);
    case 'workflows': return h('span', {}, statusTag(a.status || '?', phaseTone(a.status)), ' ',
      h('span', { class: 'muted' }, typeof a.schedule === 'string' ? a.schedule : Object.keys(a.schedule || {}).join(', ')));
    case 'scales': return h('span', { class: 'muted' }, `cpu ${a.cpu}, memory ${a.memory}, ${a.instances} instance(s)`);
    case 'conditions': return h('span', { class: 'mono muted' }, a.condition ?? a.definition ?? '');
    case 'slas': case 'escalations': return h('span', { class: 'muted' }, a.type ?? '');
    default: return h('span', { class: 'muted' }, a.kind ?? '');
  }
}

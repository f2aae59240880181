// Events: the latest events (GET /events) and then every new one from the stream, filtered by tag.
// Live: the event stream (one reader in events.js); nothing is polled.

import { api } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, showError } from '../dom.js';

const MAX_ITEMS = 200;

export default async function eventsPage(ctx) {
  ctx.setTitle('Events');
  const filter = h('input', { type: 'search', id: 'events-filter', dataset: { test: 'events-filter' }, value: ctx.query.get('tag') || '',
    placeholder: 'tag, e.g. deployments:sava', autocomplete: 'off', spellcheck: 'false' });
  const hidePeriodic = h('input', { type: 'checkbox', id: 'events-hide-periodic', dataset: { test: 'events-hide-periodic' } });
  const pause = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': 'false', dataset: { test: 'events-pause' } }, 'Pause');
  const counter = h('span', { class: 'muted', 'aria-live': 'off' });
  const list = h('ol', { class: 'events-list', dataset: { test: 'events-list' } });
  const panel = h('section', { class: 'table-wrap', dataset: { test: 'events-panel' }, 'aria-label': 'Events' }, list);
  let paused = false;
  let all = [];               // newest first
  const seen = new Set();

  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Events'), counter),
    h('div', { class: 'row', style: { marginBottom: '.75rem' } },
      h('label', { for: 'events-filter' }, 'Tag'), filter,
      h('label', { class: 'check' }, hidePeriodic, 'Hide health, metrics and allocation'),
      h('span', { style: { flex: 1 } }), pause),
    panel);

  function matches(e) {
    if (hidePeriodic.checked && isPeriodic(e)) return false;
    const f = filter.value.trim().toLowerCase();
    if (!f) return true;
    return (e.tags || []).some((t) => String(t).toLowerCase().includes(f));
  }

  function itemEl(e) {
    const tags = (e.tags || []).map(String);
    const value = e.value === undefined ? '' : typeof e.value === 'string' ? e.value : JSON.stringify(e.value);
    return h('li', { dataset: { test: 'event', tags: tags.join(' '), type: e.type || '', id: e.id || '' } },
      h('time', { datetime: e.timestamp, title: e.timestamp || '' }, e.timestamp ? new Date(e.timestamp).toLocaleTimeString() : ''),
      h('span', { class: 'event-type' }, e.type || 'event'),
      h('span', {}, tags.map((t) => h('button', { type: 'button', class: 'tag-chip', title: `Show only ${t}`,
        onclick: () => { filter.value = t; render(); } }, t))),
      value ? h('span', { class: 'event-value', title: value.slice(0, 2000) }, value.slice(0, 300)) : null);
  }

  function render() {
    const shown = all.filter(matches).slice(0, MAX_ITEMS);
    fill(list, shown.length ? shown.map(itemEl) : h('li', { class: 'empty', style: { display: 'block' } }, 'No event matches.'));
    counter.textContent = `${shown.length} shown`;
  }

  function add(e) {
    if (e.id && seen.has(e.id)) return;
    if (e.id) seen.add(e.id);
    all.unshift(e);
    if (all.length > 1000) all.length = 1000;
  }

  filter.addEventListener('input', render);
  hidePeriodic.addEventListener('change', render);
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) render();
  });

  ctx.cleanup(events.subscribe((e) => {
    add(e);
    if (paused || !matches(e)) return;
    const first = list.firstElementChild;
    if (first?.classList.contains('empty')) first.remove();
    list.prepend(itemEl(e));
    while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
    counter.textContent = `${list.children.length} shown`;
  }));

  try {
    const history = await api.get('/events', { params: { per_page: 30 }, signal: ctx.signal });
    const live = all;
    all = [];
    seen.clear();
    for (const e of (Array.isArray(history) ? history : []).slice().reverse()) add(e);
    for (const e of live.slice().reverse()) add(e);
    all.sort((a, b) => String(b.timestamp).localeCompare(String(a.timestamp)));
    render();
  } catch (err) {
    if (ctx.alive) showError(ctx.view, err);
  }
  ctx.ready();
}

// The shell: hash router, token form, navigation state, connection state and the footer's latest events.

import { token, namespace, apiBase, request } from './api.js';
import { events, isPeriodic } from './events.js';
import { h, fill, $, refreshTimes } from './dom.js';

// Hash routes → page modules (loaded on first use). `page` is the name set on document.body.dataset.page.
const routes = [
  { pattern: /^deployments$/, page: 'deployments', module: './pages/deployments.js' },
  { pattern: /^deployments\/(.+)$/, page: 'deployment', module: './pages/deployment.js', params: ['name'] },
  { pattern: /^gateways$/, page: 'gateways', module: './pages/gateways.js' },
  { pattern: /^gateways\/(.+)$/, page: 'gateway', module: './pages/gateway.js', params: ['name'] },
  { pattern: /^secrets$/, page: 'secrets', module: './pages/secrets.js' },
  { pattern: /^artifacts$/, redirect: 'artifacts/breeds' },
  { pattern: /^artifacts\/([^/]+)$/, page: 'artifacts', module: './pages/artifacts.js', params: ['kind'] },
  { pattern: /^artifacts\/([^/]+)\/new$/, page: 'artifact', module: './pages/artifact.js', params: ['kind'], extra: { isNew: true } },
  { pattern: /^artifacts\/([^/]+)\/(.+)$/, page: 'artifact', module: './pages/artifact.js', params: ['kind', 'name'] },
  { pattern: /^workflows$/, page: 'workflows', module: './pages/workflows.js' },
  { pattern: /^workflows\/(.+)$/, page: 'workflow', module: './pages/workflow.js', params: ['name'] },
  { pattern: /^events$/, page: 'events', module: './pages/events.js' },
  { pattern: /^system$/, page: 'system', module: './pages/system.js' },
  { pattern: /^releases$/, page: 'releases', module: './pages/releases.js' },
  { pattern: /^releases\/(.+)$/, page: 'release', module: './pages/release.js', params: ['name'] },
];

const main = $('main[data-test=page]');
let current = null;   // { cleanups, controller }

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const path = raw.split('?')[0];
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    if (r.redirect) return { redirect: r.redirect };
    const params = { ...(r.extra || {}) };
    (r.params || []).forEach((p, i) => {
      if (m[i + 1] !== undefined) params[p] = safeDecode(m[i + 1]);
    });
    return { route: r, params, query: new URLSearchParams(raw.split('?')[1] || '') };
  }
  return null;
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

function teardown() {
  if (!current) return;
  current.controller.abort();
  for (const fn of current.cleanups.splice(0)) {
    try { fn(); } catch (e) { console.error(e); }
  }
  current = null;
}

async function navigate() {
  const match = parseHash();
  if (!match) { location.replace('#/deployments'); return; }
  if (match.redirect) { location.replace(`#/${match.redirect}`); return; }
  teardown();
  delete main.dataset.ready;
  if (!token.get() && !(await authIsOff())) { showTokenForm(); return; }
  const { route, params, query } = match;
  document.body.dataset.page = route.page;
  markNav(route.page);
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  const controller = new AbortController();
  const mine = { cleanups: [], controller };
  current = mine;
  const ctx = {
    view,
    main,
    params,
    query,
    signal: controller.signal,
    get alive() { return current === mine; },
    cleanup(fn) { mine.cleanups.push(fn); },
    ready() {
      if (current !== mine || main.dataset.ready) return;
      main.dataset.ready = 'true';
      // For measurements: performance.getEntriesByName('vamp:ready:<page>') is when the page's first data showed.
      performance.mark(`vamp:ready:${route.page}`);
    },
    setTitle(title) { document.title = `${title} · Vamp${namespace ? ` (${namespace})` : ''}`; },
  };
  try {
    const module = await import(route.module);
    if (!ctx.alive) return;
    await module.default(ctx);
  } catch (e) {
    if (e.name === 'AbortError' || !ctx.alive) return;
    console.error(e);
    view.prepend(h('div', { class: 'alert alert-error', role: 'alert', dataset: { test: 'error' } }, String(e.message || e)));
    ctx.ready();
  }
}

// A server with `auth: none` answers without a token: then the page asks for none. Asked once per page load.
let authOff = null;
async function authIsOff() {
  if (authOff === null) {
    try {
      const r = await fetch(`${apiBase}/info`, { headers: { Accept: 'application/json' } });
      authOff = r.ok;
    } catch { authOff = false; }
    if (authOff) { events.start(); seedFooter(); }
  }
  return authOff;
}

function markNav(page) {
  const section = { deployment: 'deployments', gateway: 'gateways', release: 'releases', artifact: 'artifacts', workflow: 'workflows' }[page] || page;
  for (const a of document.querySelectorAll('.sidebar a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function showTokenForm(message) {
  teardown();
  document.body.dataset.page = 'token';
  markNav('');
  $('[data-test=sign-out]').hidden = true;
  const input = h('input', {
    type: 'password', id: 'token-input', dataset: { test: 'token-input' }, autocomplete: 'off',
    spellcheck: 'false', required: true, placeholder: 'the token\'s secret',
  });
  const form = h('form', { class: 'card token-card', dataset: { test: 'token-form' } },
    h('h1', {}, 'Sign in to Vamp'),
    h('p', { class: 'muted' },
      'The API needs a token. An admin token is printed at the server\'s first start and kept in ',
      h('code', {}, '.vamp/admin-token'), '. It is kept in this browser tab only (sessionStorage).'),
    message ? h('p', { class: 'alert alert-error', dataset: { test: 'error' } }, message) : null,
    h('label', { for: 'token-input' }, 'Token'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit', class: 'btn btn-primary', dataset: { test: 'token-submit' } }, 'Sign in')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    token.set(value);
    $('[data-test=sign-out]').hidden = false;
    renderConnection(events.state);
    events.start();
    seedFooter();
    navigate();
  });
  fill(main, form);
  main.dataset.ready = 'true';
  input.focus();
}

// ---- connection state and the footer's latest events ----

function renderConnection(state) {
  const signedIn = Boolean(token.get()) || authOff === true;
  $('[data-test=disconnected]').hidden = !signedIn || state === 'open';
  const live = $('[data-test=live-state]');
  live.dataset.state = state;
  live.hidden = !signedIn;
  live.textContent = state === 'open' ? 'Live' : 'Offline';
  live.title = state === 'open' ? 'The event stream is connected' : 'The event stream is disconnected';
}

const footerList = $('[data-test=events-footer]');
function footerEvent(e) {
  const li = h('li', { class: 'footer-event', dataset: { test: 'footer-event', tags: (e.tags || []).join(' ') } },
    h('time', { datetime: e.timestamp }, e.timestamp ? new Date(e.timestamp).toLocaleTimeString() : ''),
    h('span', { class: 'event-type' }, e.type || 'event'),
    h('span', { class: 'event-tags' }, (e.tags || []).join(' ')));
  footerList.prepend(li);
  while (footerList.children.length > 3) footerList.lastElementChild.remove();
}

// ---- start ----

const ns = $('[data-test=namespace]');
ns.textContent = namespace ? `namespace ${namespace}` : 'default namespace';
ns.title = `API: ${apiBase}`;
$('[data-test=sign-out]').addEventListener('click', () => {
  token.clear();
  events.stop();
  showTokenForm();
});
window.addEventListener('vamp:unauthorized', (e) => {
  if (document.body.dataset.page === 'token') return;
  token.clear();
  events.stop();
  showTokenForm(`The server refused the token: ${e.detail}`);
});
// After a navigation by link, the focus goes to the new page (screen readers and keyboards start there).
window.addEventListener('hashchange', async () => {
  await navigate();
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
});
events.onState(renderConnection);
setInterval(() => refreshTimes(main), 10000);
// Pulse's health/metrics/allocation figures every 5 s would flood the footer: it shows the other events.
events.subscribe((e) => { if (!isPeriodic(e)) footerEvent(e); });
// The footer starts with the latest changes (archive events), then follows the stream.
function seedFooter() {
  request('GET', '/events', { params: { tag: 'archive', per_page: 3 } })
    .then((r) => { if (!footerList.children.length) (r.data || []).slice().reverse().forEach(footerEvent); })
    .catch(() => {});
}
if (token.get()) {
  $('[data-test=sign-out]').hidden = false;
  events.start();
  seedFooter();
}
navigate();

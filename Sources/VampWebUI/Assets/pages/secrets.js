// Secrets: the certificates stored for HTTPS gateways (tls: {secret: NAME}) — what each certificate says (names,
// expiry, fingerprint), the gateways that name it; store one (a PEM file or pasted text), delete one no gateway names.
// The server never sends a certificate's text or key back; the page clears the text it sent once stored.
// Live: the list is read again on events tagged `secrets:<name>` or `gateways:<name>` (a gateway that starts or stops
// naming a secret).

import { api, namePath } from '../api.js';
import { events, isPeriodic } from '../events.js';
import { h, fill, timeEl, statusTag, showError, clearError, confirmIn, labelCells, debounce } from '../dom.js';

/** Certificates that end within this many days are marked. */
const SOON_DAYS = 30;

/** The tone and words of a certificate's expiry. */
function expiry(certificate, now = Date.now()) {
  if (!certificate) return ['unreadable', 'error'];
  const end = Date.parse(certificate.not_after);
  if (certificate.expired || end <= now) return ['expired', 'error'];
  const days = Math.floor((end - now) / 86_400_000);
  if (days < SOON_DAYS) return [`ends in ${days} day${days === 1 ? '' : 's'}`, 'warn'];
  return ['valid', 'ok'];
}

export default async function secretsPage(ctx) {
  ctx.setTitle('Secrets');
  const tbody = h('tbody');
  const name = h('input', { id: 'secret-name', dataset: { test: 'secret-name' }, autocomplete: 'off', spellcheck: false, placeholder: 'shop-cert' });
  const pem = h('textarea', {
    id: 'secret-pem', class: 'code secret-pem', rows: 8, spellcheck: false, autocomplete: 'off', dataset: { test: 'secret-pem' },
    placeholder: 'The PEM blocks: the certificate, its chain, then the key',
  });
  const file = h('input', { type: 'file', id: 'secret-file', accept: '.pem,.crt,.key,text/plain', dataset: { test: 'secret-file' } });
  const check = h('button', { type: 'button', class: 'btn', dataset: { test: 'secret-check' } }, 'Check');
  const store = h('button', { type: 'button', class: 'btn btn-primary', dataset: { test: 'secret-store' } }, 'Store');
  const status = h('div', { role: 'status', class: 'save-status', dataset: { test: 'secret-status' } });
  const form = h('section', { class: 'card', style: { marginTop: '1rem' } },
    h('h2', {}, 'Store a certificate'),
    h('p', { class: 'muted' }, 'The certificate, its chain and its unencrypted key, in PEM. Storing a name again replaces the certificate on every gateway that names it. The text is not shown again.'),
    h('div', { class: 'row' }, h('label', { for: 'secret-name' }, 'Name'), name),
    h('div', { class: 'row' }, h('label', { for: 'secret-file' }, 'PEM file'), file),
    h('label', { for: 'secret-pem', class: 'muted' }, 'or paste it:'),
    pem,
    h('div', { class: 'row', style: { marginTop: '.6rem' } }, check, store, status));

  fill(ctx.view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Secrets')),
    h('p', { class: 'muted' }, 'Certificates for HTTPS gateways (tls: {secret: NAME}). Their text and keys are never shown.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'cards', dataset: { test: 'secrets' } },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'For'), h('th', {}, 'Not after'), h('th', {}, 'Fingerprint (SHA-256)'),
        h('th', {}, 'Gateways'), h('th', {}, ''))),
      tbody)),
    form);

  function fail(err) { if (ctx.alive) showError(ctx.view, err); }

  function row(secret) {
    const c = secret.certificate;
    const [words, tone] = expiry(c);
    const used = secret.gateways || [];
    const remove = h('button', {
      type: 'button', class: 'btn btn-small', dataset: { test: 'secret-delete' }, disabled: used.length > 0,
      title: used.length ? `Named by ${used.join(', ')}: change those gateways first` : 'Delete this secret',
    }, 'Delete');
    const actions = h('td', {}, remove);
    remove.addEventListener('click', async () => {
      if (!(await confirmIn(actions, `Delete the secret ${secret.name}?`, 'Delete', 'secret'))) return;
      try {
        await api.delete(`/secrets/${namePath(secret.name)}`);
        clearError(ctx.view);
        await load();
      } catch (err) { fail(err); }
    });
    return h('tr', { dataset: { test: 'secret-row', name: secret.name, expiry: tone } },
      h('td', { class: 'mono' }, secret.name),
      h('td', { dataset: { test: 'secret-names' } }, c ? (c.names || []).join(', ') : h('span', { class: 'muted' }, secret.error ?? '—')),
      h('td', { dataset: { test: 'secret-not-after' } }, c ? [timeEl(c.not_after), ' '] : null, statusTag(words, tone, { dataset: { test: 'secret-expiry' } })),
      h('td', { class: 'mono muted', title: c?.sha256 ?? '' }, c ? `${c.sha256.replaceAll(':', '').slice(0, 16).toLowerCase()}…` : '—'),
      h('td', { dataset: { test: 'secret-gateways' } }, used.length
        ? used.map((g, i) => [i ? ', ' : '', h('a', { href: `#/gateways/${encodeURIComponent(g)}`, dataset: { test: 'secret-gateway' } }, g)])
        : h('span', { class: 'muted' }, 'none')),
      actions);
  }

  async function load() {
    const list = await api.get('/secrets', { signal: ctx.signal });
    if (!ctx.alive) return;
    fill(tbody, list.length ? list.map(row) : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No secret.')));
    labelCells(ctx.view.querySelector('table'));
  }

  file.addEventListener('change', async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    pem.value = await chosen.text();
    if (!name.value) name.value = chosen.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '-').replace(/^\.+/, '');
    file.value = '';
  });

  async function send(validateOnly) {
    const secretName = name.value.trim();
    status.replaceChildren();
    if (!secretName) { fail(new Error('Give the secret a name.')); name.focus(); return; }
    check.disabled = store.disabled = true;
    try {
      const answer = await api.put(`/secrets/${namePath(secretName)}`, { name: secretName, certificate: pem.value },
        { params: validateOnly ? { validate_only: 'true' } : undefined });
      clearError(ctx.view);
      const c = answer.data?.certificate;
      const about = c ? ` for ${(c.names || []).join(', ')}, until ${new Date(c.not_after).toLocaleDateString()}` : '';
      if (validateOnly) {
        status.textContent = `Valid${about}.`;
      } else {
        // The key leaves the page once the server holds it.
        pem.value = '';
        status.textContent = `Stored ${secretName}${about}.`;
        await load();
      }
    } catch (err) {
      fail(err);
    } finally {
      check.disabled = store.disabled = false;
    }
  }
  // A refusal is about what was sent: editing it clears the message.
  for (const field of [name, pem]) field.addEventListener('input', () => { clearError(ctx.view); status.replaceChildren(); });
  check.addEventListener('click', () => send(true));
  store.addEventListener('click', () => send(false));

  const reload = debounce(() => load().catch(fail), 300);
  ctx.cleanup(events.subscribe((e) => {
    if (isPeriodic(e)) return;
    if ((e.tags || []).some((t) => t.startsWith('secrets:') || t.startsWith('gateways:'))) reload();
  }));
  ctx.cleanup(() => reload.cancel());
  ctx.cleanup(events.onResync(() => load().catch(fail)));

  await load().catch(fail);
  ctx.ready();
}

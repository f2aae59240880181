// One artifact in a YAML editor: validated with ?validate_only=true as you type (the error's line marked),
// created (POST), updated (PUT), deleted (DELETE); its revisions from the archive events, with a line diff.
// Live: revisions (and the text, when not edited here) are read again on archive events of this artifact.

import { api, request, namePath } from '../api.js';
import { events } from '../events.js';
import { h, fill, timeEl, showError, clearError, confirmIn, debounce, statusTag } from '../dom.js';
import { yamlEditor } from '../yaml-editor.js';
import { diffElement } from '../diff.js';
import { ARTIFACT_KINDS, KIND_SINGULAR } from '../model.js';
import { TEMPLATES } from './templates.js';
import { blueprintActions } from './blueprint-actions.js';

export default async function artifactPage(ctx) {
  const { kind, name, isNew } = ctx.params;
  if (!KIND_SINGULAR[kind]) throw new Error(`There is no kind '${kind}'.`);
  const label = ARTIFACT_KINDS.find(([k]) => k === kind)[1];
  const path = isNew ? `/${kind}` : `/${kind}/${namePath(name)}`;
  ctx.setTitle(isNew ? `New ${KIND_SINGULAR[kind]}` : name);
  let loadedText = '';
  let validation = 0;          // the newest validation's number: older answers are dropped

  const status = h('div', { class: 'editor-status', dataset: { test: 'editor-status' }, 'aria-live': 'polite' });
  const editor = yamlEditor({ label: `${KIND_SINGULAR[kind]} as YAML`, onInput: () => { status.replaceChildren(h('span', { class: 'muted' }, 'Checking…')); validate(); } });
  const save = h('button', { type: 'button', class: 'btn btn-primary', dataset: { test: 'artifact-save' } }, isNew ? 'Create' : 'Save');
  const del = isNew ? null : h('button', { type: 'button', class: 'btn btn-danger', dataset: { test: 'artifact-delete' } }, 'Delete');
  const saveStatus = h('span', { role: 'status' });
  const actions = h('div', { class: 'row', style: { marginTop: '.5rem' } }, save, del, saveStatus);
  const revisions = h('ol', { class: 'revisions', dataset: { test: 'revisions' } });
  const diffBox = h('div', { dataset: { test: 'revision-diff-box' } });

  fill(ctx.view,
    h('div', { class: 'crumbs' }, h('a', { href: `#/artifacts/${kind}` }, label), ' / ', isNew ? 'new' : name),
    h('div', { class: 'page-head' }, h('h1', {}, isNew ? `New ${KIND_SINGULAR[kind]}` : name), statusTag(KIND_SINGULAR[kind], 'muted')),
    h('div', { class: 'layout-2' },
      h('section', { class: 'card' }, editor.el, status, actions),
      h('aside', {},
        kind === 'blueprints' && !isNew ? blueprintActions(ctx, name) : null,
        h('section', { class: 'card' }, h('h2', {}, 'Revisions'),
          isNew ? h('p', { class: 'muted' }, 'Revisions appear once the artifact is stored.') : revisions, diffBox))));

  // ---- validation as you type ----
  const validate = debounce(async () => {
    const mine = ++validation;
    const text = editor.value;
    if (!text.trim()) { showValidation(mine, null, 'empty'); return; }
    try {
      await request(isNew ? 'POST' : 'PUT', path, { body: text, params: { validate_only: true } });
      showValidation(mine, null);
    } catch (err) {
      showValidation(mine, err);
    }
  }, 400);
  ctx.cleanup(() => validate.cancel());

  function showValidation(mine, err, empty) {
    if (mine !== validation || !ctx.alive) return;
    if (empty) { editor.markError(null); status.replaceChildren(h('span', { class: 'muted' }, 'Empty.')); return; }
    if (!err) {
      editor.markError(null);
      status.replaceChildren(h('span', { class: 'editor-ok', dataset: { test: 'editor-valid' } }, '✓ Valid'));
      return;
    }
    const line = err.line;
    editor.markError(line);
    const lineLink = line ? h('button', { type: 'button', class: 'btn btn-small', onclick: () => editor.goTo(line) },
      'Line ', h('span', { dataset: { test: 'editor-error-line' } }, String(line))) : null;
    status.replaceChildren(h('div', { dataset: { test: 'editor-error' }, role: 'alert' },
      lineLink, lineLink ? ' ' : null, h('span', { dataset: { test: 'editor-error-message' } }, err.message)));
  }

  // Ctrl+S (or Cmd+S) in the editor saves.
  editor.textarea.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') { e.preventDefault(); save.click(); }
  });

  // ---- save and delete ----
  save.addEventListener('click', async () => {
    save.disabled = true;
    saveStatus.replaceChildren(h('span', { class: 'muted' }, 'Saving…'));
    try {
      const r = await request(isNew ? 'POST' : 'PUT', path, { body: editor.value });
      clearError(ctx.view);
      const stored = Array.isArray(r.data) ? r.data[0] : r.data;
      if (isNew) {
        // A stored release has started: its own page shows how it goes.
        location.hash = `#/${kind === 'releases' ? 'releases' : `artifacts/${kind}`}/${encodeURIComponent(stored?.name ?? '')}`;
        return;
      }
      saveStatus.replaceChildren(h('span', { class: 'editor-ok', dataset: { test: 'artifact-saved' } }, `✓ Saved (${r.status})`));
      await Promise.all([loadText(), loadRevisions()]);
    } catch (err) {
      saveStatus.replaceChildren();
      showError(ctx.view, err);
      if (err.line) showValidation(++validation, err);
    } finally { save.disabled = false; }
  });

  del?.addEventListener('click', async () => {
    if (!(await confirmIn(actions, `Delete ${KIND_SINGULAR[kind]} ${name}?`, 'Delete'))) return;
    try {
      await api.delete(path);
      location.hash = `#/artifacts/${kind}`;
    } catch (err) { showError(ctx.view, err); }
  });

  // ---- text and revisions ----
  async function loadText() {
    const r = await request('GET', path, { accept: 'yaml', signal: ctx.signal });
    if (!ctx.alive) return;
    loadedText = r.data;
    editor.value = loadedText;
    status.replaceChildren();
    editor.markError(null);
  }

  async function loadRevisions() {
    const list = await api.get('/events', { params: { tag: ['archive', `${kind}:${name}`], per_page: 30 }, signal: ctx.signal });
    if (!ctx.alive) return;
    const items = (Array.isArray(list) ? list : []).slice().sort((a, b) => String(b.timestamp).localeCompare(String(a.timestamp)));
    if (!items.length) { fill(revisions, h('li', { class: 'muted' }, 'No archive events for it.')); return; }
    fill(revisions, items.map((e, i) => {
      const action = (e.tags || []).find((t) => t.startsWith('archive:'))?.slice(8) || 'change';
      const user = (e.tags || []).find((t) => t.startsWith('token:'))?.slice(6);
      const button = h('button', { type: 'button', class: 'btn btn-small', 'aria-pressed': 'false', dataset: { test: 'revision', id: e.id || '' } },
        h('span', {}, `${items.length - i}. ${action}`), timeEl(e.timestamp));
      if (user) button.title = `by ${user}`;
      button.addEventListener('click', () => {
        for (const b of revisions.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === button));
        const older = items[i + 1];
        fill(diffBox,
          h('p', { class: 'muted', style: { margin: '.75rem 0 0' } },
            older ? `Revision ${items.length - i} against ${items.length - i - 1}` : `Revision ${items.length - i} (the first)`),
          diffElement(textOf(older), textOf(e), { dataset: { test: 'revision-diff' } }));
      });
      return h('li', {}, button);
    }));
  }

  if (!isNew) {
    ctx.cleanup(events.subscribe((e) => {
      const tags = e.tags || [];
      if (!tags.includes('archive') || !tags.includes(`${kind}:${name}`)) return;
      loadRevisions().catch(() => {});
      if (editor.value === loadedText) loadText().catch(() => {});
    }));
    ctx.cleanup(events.onResync(() => {
      loadRevisions().catch(() => {});
      if (editor.value === loadedText) loadText().catch(() => {});
    }));
  }

  try {
    if (isNew) {
      editor.value = TEMPLATES[kind] || `name: my-${KIND_SINGULAR[kind]}\n`;
      validate();
    } else {
      await Promise.all([loadText(), loadRevisions()]);
    }
  } catch (err) {
    if (ctx.alive) showError(ctx.view, err);
  }
  ctx.ready();
}

function textOf(event) {
  if (!event) return '';
  const v = event.value;
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2);
}

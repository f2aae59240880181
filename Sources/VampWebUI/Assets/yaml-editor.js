// A YAML editor: a textarea with a line-number gutter that scrolls with it; one line can be marked as an error.

import { h } from './dom.js';

export function yamlEditor({ value = '', label = 'YAML', onInput = () => {} } = {}) {
  const gutter = h('ol', { class: 'gutter', 'aria-hidden': 'true', dataset: { test: 'editor-gutter' } });
  const textarea = h('textarea', {
    class: 'code', dataset: { test: 'artifact-editor' }, spellcheck: 'false', autocapitalize: 'off',
    autocomplete: 'off', wrap: 'off', 'aria-label': label,
  });
  textarea.value = value;
  const el = h('div', { class: 'editor' }, gutter, textarea);
  let errorLine = null;

  function lines() {
    const count = textarea.value.split('\n').length;
    while (gutter.children.length < count) gutter.append(h('li', {}, String(gutter.children.length + 1)));
    while (gutter.children.length > count) gutter.lastElementChild.remove();
    markError(errorLine);
  }

  function markError(line) {
    errorLine = line;
    for (const li of gutter.querySelectorAll('li.error')) li.classList.remove('error');
    if (line && gutter.children[line - 1]) gutter.children[line - 1].classList.add('error');
  }

  textarea.addEventListener('input', () => { lines(); onInput(textarea.value); });
  textarea.addEventListener('scroll', () => { gutter.scrollTop = textarea.scrollTop; });
  // Tab indents by two spaces (YAML has no tabs); Escape then Tab leaves the editor, as keyboard users expect.
  let escaped = false;
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { escaped = true; return; }
    if (e.key === 'Tab' && !e.shiftKey && !escaped && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      const { selectionStart: a, selectionEnd: b } = textarea;
      textarea.setRangeText('  ', a, b, 'end');
      lines();
      onInput(textarea.value);
    }
    escaped = false;
  });
  lines();

  return {
    el,
    textarea,
    get value() { return textarea.value; },
    set value(v) { textarea.value = v; lines(); },
    markError,
    /** Scrolls the textarea so `line` is visible and puts the caret at its start. */
    goTo(line) {
      const parts = textarea.value.split('\n');
      const offset = parts.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      textarea.focus();
      textarea.setSelectionRange(offset, offset);
      const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
      textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
    },
  };
}

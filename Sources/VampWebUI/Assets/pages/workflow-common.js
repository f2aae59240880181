// Shared by the workflows list and one workflow's page: status control and the schedule's words.

import { api, namePath } from '../api.js';
import { h, statusTag, phaseTone } from '../dom.js';

export function statusEl(status) {
  return h('span', { dataset: { test: 'workflow-status', status: status || '' } }, statusTag(status || 'unknown', phaseTone(status)));
}

export function scheduleText(schedule) {
  if (!schedule) return '';
  if (typeof schedule === 'string') return schedule;
  if (schedule.time) return `every ${schedule.time.period}${schedule.time.repeat ? `, ${schedule.time.repeat} times` : ''}`;
  if (schedule.event) return `on events ${[].concat(schedule.event.tags || schedule.event).join(', ')}`;
  return Object.keys(schedule).join(', ');
}

/** Suspend and resume buttons; `onChange(newStatus)` after the server took it. */
export function controls(name, status, onChange, onError) {
  const suspend = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'workflow-suspend' } }, 'Suspend');
  const resume = h('button', { type: 'button', class: 'btn btn-small', dataset: { test: 'workflow-resume' } }, 'Resume');
  const set = (s) => {
    suspend.disabled = s === 'suspended' || s === 'suspending';
    resume.disabled = s === 'running' || s === 'starting';
  };
  set(status);
  async function put(word) {
    try {
      // The bare word as the body (YAML: a plain scalar).
      const r = await api.put(`/workflows/${namePath(name)}/status`, word);
      const next = typeof r.data === 'string' ? r.data : word;
      set(next);
      onChange(next);
    } catch (err) { onError(err); }
  }
  suspend.addEventListener('click', () => put('suspended'));
  resume.addEventListener('click', () => put('running'));
  return { el: h('span', { class: 'row' }, suspend, resume), set };
}

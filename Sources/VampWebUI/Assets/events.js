// The one reader of GET /events/stream, broadcasting each event to any number of listeners.
// Pages subscribe and unsubscribe; the stream itself is opened once by the shell and kept for the session.

import { streamEvents } from './api.js';

const listeners = new Set();
const stateListeners = new Set();
const resyncListeners = new Set();
let everOpen = false;
const recent = [];            // the newest events, newest last (for panels that open later)
const RECENT_MAX = 300;
let stream = null;
let state = 'down';

/** Every tag of an event, plus `group` for each `group:name` tag (as the server's tag matching does). */
export function tagsOf(event) {
  return Array.isArray(event?.tags) ? event.tags.map(String) : [];
}

/** Does the event carry a tag that equals `tag`, or starts with `tag:`? */
export function hasTag(event, tag) {
  return tagsOf(event).some((t) => t === tag || t.startsWith(`${tag}:`));
}

/** The figures Pulse publishes every few seconds; pages that reload on changes ignore them. */
export function isPeriodic(event) {
  return ['health', 'metrics', 'allocation'].includes(event?.type);
}

function emit(event) {
  recent.push(event);
  if (recent.length > RECENT_MAX) recent.splice(0, recent.length - RECENT_MAX);
  for (const fn of [...listeners]) {
    try { fn(event); } catch (e) { console.error('event listener failed', e); }
  }
}

function setState(next, reason) {
  const reconnected = next === 'open' && state !== 'open' && everOpen;
  if (next === 'open') everOpen = true;
  state = next;
  for (const fn of [...stateListeners]) fn(next, reason);
  // Events published while the stream was down are not replayed: pages read their data again instead.
  if (reconnected) for (const fn of [...resyncListeners]) fn();
}

export const events = {
  start() {
    if (stream) { stream.restart(); return; }
    stream = streamEvents('/events/stream', ({ data }) => {
      if (data && typeof data === 'object' && Array.isArray(data.tags)) emit(data);
    }, setState);
  },
  stop() { stream?.stop(); stream = null; everOpen = false; setState('down', 'stopped'); },
  /** `fn(event)` for every event from now on; returns the unsubscribe function. */
  subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  /** `fn(state, reason)` now and on every change; returns the unsubscribe function. */
  onState(fn) { stateListeners.add(fn); fn(state); return () => stateListeners.delete(fn); },
  /** `fn()` when the stream is back after a break (what happened meanwhile came as no event). */
  onResync(fn) { resyncListeners.add(fn); return () => resyncListeners.delete(fn); },
  get state() { return state; },
  recent() { return [...recent]; },
};

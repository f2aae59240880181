// The REST API: base path from the page's namespace, the token from sessionStorage, JSON or YAML bodies,
// errors as ApiError with the server's message, and the SSE reader (fetch streaming, so the token can be sent).

const TOKEN_KEY = 'vamp.token';

/** `/` → default namespace; `/shop/` → namespace `shop`. */
export function namespaceFromPath(pathname = location.pathname) {
  const first = pathname.split('/').filter(Boolean)[0];
  if (!first || first === 'index.html' || first === 'ui') return null;
  return decodeURIComponent(first);
}

export const namespace = namespaceFromPath();
export const apiBase = namespace ? `/${encodeURIComponent(namespace)}/api/v1` : '/api/v1';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
  /** The line named by a DSL error (`..., line 5:1: ...`), or null. */
  get line() {
    const m = /\bline (\d+)(?::(\d+))?/.exec(this.message);
    return m ? Number(m[1]) : null;
  }
}

/** A path of names that may hold slashes (gateways): each segment encoded, slashes kept. */
export function namePath(name) {
  return String(name).split('/').map(encodeURIComponent).join('/');
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * One request. `body`: a string is sent as YAML (`application/x-yaml`), anything else as JSON.
 * `accept: 'yaml' | 'text'` answers the text instead of parsed JSON.
 * Resolves `{ status, data, headers }`; rejects with ApiError (401 also fires `vamp:unauthorized`).
 */
export async function request(method, path, { body, params, accept = 'json', signal } = {}) {
  const headers = { Accept: accept === 'yaml' ? 'application/x-yaml' : 'application/json' };
  const t = token.get();
  if (t) headers.Authorization = `Bearer ${t}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') {
      headers['Content-Type'] = 'application/x-yaml';
      payload = body;
    } else {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(apiBase + path + query(params), { method, headers, body: payload, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `The server cannot be reached (${e.message}).`);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try { message = JSON.parse(text).message || text; } catch { /* not JSON */ }
    if (!message) message = response.status === 404 ? `Not found: ${path}` : `${response.status} ${response.statusText}`;
    if (response.status === 401) window.dispatchEvent(new CustomEvent('vamp:unauthorized', { detail: message }));
    throw new ApiError(response.status, message);
  }
  let data = text;
  if (accept === 'json' && text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  return { status: response.status, data, headers: response.headers };
}

export const api = {
  get: (path, opts) => request('GET', path, opts).then((r) => r.data),
  getFull: (path, opts) => request('GET', path, opts),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),
  delete: (path, body, opts) => request('DELETE', path, { ...opts, body }),
};

/** One page of a list with the whole list's count (X-Total-Count). */
export async function getPage(path, page = 1, perPage = 30, params = {}, signal) {
  const r = await request('GET', path, { params: { ...params, page, per_page: perPage }, signal });
  const total = Number(r.headers.get('X-Total-Count') ?? (r.data || []).length);
  return { items: r.data || [], total, page, perPage, pages: Math.max(1, Math.ceil(total / perPage)) };
}

/** Every item of a list, page after page (per_page is at most 30). */
export async function getAll(path, params = {}, signal) {
  const first = await getPage(path, 1, 30, params, signal);
  const rest = [];
  for (let p = 2; p <= first.pages; p++) rest.push(getPage(path, p, 30, params, signal));
  return [...first.items, ...(await Promise.all(rest)).flatMap((r) => r.items)];
}

/**
 * Reads the server-sent events of `path` with fetch streaming and calls `onEvent({type, data})` for each;
 * `onState('open' | 'down', reason)`; reconnects 3 s after the stream ends or fails. Returns `stop()`.
 */
export function streamEvents(path, onEvent, onState, retryMs = 3000) {
  let controller = null;
  let stopped = false;
  let timer = null;
  let generation = 0;

  async function connect() {
    const mine = ++generation;
    controller = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    const t = token.get();
    if (t) headers.Authorization = `Bearer ${t}`;
    try {
      const response = await fetch(apiBase + path, { headers, signal: controller.signal, cache: 'no-store' });
      if (response.status === 401) {
        let message = 'The event stream needs a token.';
        try { message = JSON.parse(await response.text()).message || message; } catch { /* keep the default */ }
        window.dispatchEvent(new CustomEvent('vamp:unauthorized', { detail: message }));
        throw new Error('401');
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onState('open');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          dispatchBlock(block);
        }
      }
      throw new Error('the stream ended');
    } catch (e) {
      if (stopped || mine !== generation) return;
      onState('down', e.message);
      timer = setTimeout(connect, retryMs);
    }
  }

  function dispatchBlock(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    let parsed = data.join('\n');
    try { parsed = JSON.parse(parsed); } catch { /* keep the text */ }
    onEvent({ type, data: parsed });
  }

  connect();
  return {
    stop() { stopped = true; clearTimeout(timer); controller?.abort(); },
    /** A new connection now (a new token): the old one is dropped without a retry of its own. */
    restart() { generation++; clearTimeout(timer); controller?.abort(); if (!stopped) connect(); },
  };
}

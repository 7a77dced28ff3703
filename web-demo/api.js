// The public API, same-origin, with the token from POST /authenticate in the
// X-Access-Token header. The session lives in sessionStorage: closing the tab
// forgets it, and sign-out ends the token on the server too.

const KEY = 'eider-webmail-session';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

let session = null;
try {
  session = JSON.parse(sessionStorage.getItem(KEY) || 'null');
} catch {
  session = null;
}

export function getSession() {
  return session;
}

export function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const h = { ...extra };
  if (session && session.token) h['X-Access-Token'] = session.token;
  return h;
}

/** Call the API; resolves to the parsed JSON, rejects with ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: headers(), cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok || (data && data.error)) throw new ApiError(res.status, data);
  return data;
}

/** Fetch raw bytes (attachments, .eml) as a Blob. */
export async function blob(path) {
  const res = await fetch(path, { headers: headers(), cache: 'no-store', credentials: 'omit' });
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    throw new ApiError(res.status, data);
  }
  return res.blob();
}

/** A path under the signed-in user's routes. */
export function userPath(rest = '') {
  return `/users/${encodeURIComponent(session.user)}${rest}`;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The change stream. EventSource cannot send headers, so the token goes in the
 *  query string, as WildDuck's clients do (`accessToken`). */
export function updates(onEvent, onState) {
  const url = userPath('/updates') + query({ accessToken: session.token });
  const es = new EventSource(url);
  es.onopen = () => onState(true);
  es.onerror = () => onState(false);
  es.onmessage = (ev) => {
    try {
      onEvent(JSON.parse(ev.data));
    } catch {
      /* a keep-alive or malformed line: nothing to do */
    }
  };
  return es;
}

// WebAuthn: the API speaks hex, the browser ArrayBuffers.
export function hexToBuf(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out.buffer;
}

export function bufToHex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(',', 2)[1] || '');
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

export function blobToDataUrl(b) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(b);
  });
}

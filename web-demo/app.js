// Eider webmail: sign-in, mailboxes, message list, reading pane and live updates,
// all on the public API. Compose and settings live in their own modules.

import {
  api, blob, getSession, setSession, userPath, query, updates, hexToBuf, bufToHex,
  blobToDataUrl, ApiError,
} from './api.js';
import {
  $, $$, h, toast, formatDate, formatSize, formatAddress, shortAddress, download, clip,
} from './dom.js';
import { openCompose, initCompose } from './compose.js';
import { openSettings, initSettings } from './settings.js';

const PAGE = 25;

// Symbols every system font has (no emoji font is assumed).
const ICONS = {
  INBOX: '✉', '\\Sent': '➤', '\\Drafts': '✎', '\\Junk': '⚠', '\\Trash': '✖',
  '\\Archive': '▣', '\\Flagged': '★', '\\All': '≡', folder: '▸',
};
const ORDER = ['INBOX', '\\Drafts', '\\Sent', '\\Archive', '\\Junk', '\\Trash'];

export const state = {
  mailboxes: [],
  view: null, // {mailbox} or {search}
  cursor: { next: null, previous: null, page: 1, total: 0, from: null },
  items: [],
  expanded: new Set(),
  open: null, // the message shown, as the API returned it
  showImages: false,
  events: null,
};

// ---------------------------------------------------------------- sign-in

function showLogin() {
  $('#app-view').hidden = true;
  $('#login-view').hidden = false;
  $('#login-form').hidden = false;
  $('#second-form').hidden = true;
  $('#login-pass').value = '';
  $('#login-user').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  $('#login-error').textContent = '';
  $('#login-submit').disabled = true;
  try {
    setSession(null);
    const r = await api('POST', '/authenticate', {
      username: $('#login-user').value.trim(),
      password: $('#login-pass').value,
      scope: 'master',
      token: true,
      protocol: 'Webmail',
    });
    const s = { token: r.token, user: r.id, username: r.username, address: r.address };
    if (r.require2fa && r.require2fa.length) {
      s.pending = r.require2fa;
      setSession(s);
      showSecondStep(r.require2fa);
      return;
    }
    setSession(s);
    await startApp();
  } catch (e) {
    $('#login-error').textContent = e.message || 'Sign-in failed';
  } finally {
    $('#login-submit').disabled = false;
  }
}

function showSecondStep(methods) {
  $('#login-form').hidden = true;
  $('#second-form').hidden = false;
  $('#second-error').textContent = '';
  $('#totp-step').hidden = !methods.includes('totp');
  $('#webauthn-step').hidden = !methods.includes('webauthn') || !window.PublicKeyCredential;
  if (methods.includes('totp')) $('#totp-code').focus();
  else $('#webauthn-button').focus();
}

async function secondStepDone() {
  const s = getSession();
  delete s.pending;
  setSession(s);
  await startApp();
}

async function checkTotp(ev) {
  ev.preventDefault();
  $('#second-error').textContent = '';
  try {
    await api('POST', userPath('/2fa/totp/check'), { token: $('#totp-code').value.replace(/\s+/g, '') });
    $('#totp-code').value = '';
    await secondStepDone();
  } catch (e) {
    $('#second-error').textContent = e.message;
  }
}

async function useSecurityKey() {
  $('#second-error').textContent = '';
  try {
    const rpId = location.hostname;
    const c = await api('POST', userPath('/2fa/webauthn/authentication-challenge'), {
      origin: location.origin, rpId,
    });
    const o = c.authenticationOptions;
    const publicKey = {
      ...o,
      challenge: hexToBuf(o.challenge),
      allowCredentials: (o.allowCredentials || []).map((a) => ({ type: a.type || 'public-key', id: hexToBuf(a.rawId) })),
    };
    const cred = await navigator.credentials.get({ publicKey });
    const r = await api('POST', userPath('/2fa/webauthn/authentication-assertion'), {
      challenge: o.challenge,
      rawId: bufToHex(cred.rawId),
      clientDataJSON: bufToHex(cred.response.clientDataJSON),
      authenticatorData: bufToHex(cred.response.authenticatorData),
      signature: bufToHex(cred.response.signature),
      rpId,
    });
    if (r.token) setSession({ ...getSession(), token: r.token });
    await secondStepDone();
  } catch (e) {
    $('#second-error').textContent = e.message || String(e);
  }
}

async function signOut() {
  if (state.events) state.events.close();
  state.events = null;
  try {
    if (getSession()) await api('DELETE', '/authenticate');
  } catch {
    /* the token may already be gone */
  }
  setSession(null);
  state.open = null;
  state.items = [];
  showLogin();
}

// ---------------------------------------------------------------- app

async function startApp() {
  const s = getSession();
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#who').textContent = s.address || s.username || '';
  await loadMailboxes();
  const inbox = state.mailboxes.find((m) => m.path === 'INBOX') || state.mailboxes[0];
  if (inbox) await selectMailbox(inbox.id);
  connectUpdates();
}

function connectUpdates() {
  if (state.events) state.events.close();
  state.events = updates(onChange, (live) => {
    $('#live-state').classList.toggle('on', live);
    $('#live-state').title = live ? 'Live updates on' : 'Live updates reconnecting';
  });
}

export function mailboxBy(use) {
  if (use === 'INBOX') return state.mailboxes.find((m) => m.path === 'INBOX');
  return state.mailboxes.find((m) => m.specialUse === use);
}

function mailboxRank(m) {
  const i = ORDER.indexOf(m.path === 'INBOX' ? 'INBOX' : m.specialUse);
  return i < 0 ? ORDER.length : i;
}

export async function loadMailboxes() {
  const r = await api('GET', userPath('/mailboxes') + query({ counters: 'true' }));
  const byPath = new Map(r.results.map((m) => [m.path, m]));
  // Children sort under their top-level mailbox; top levels by special use, then name.
  const topRank = (m) => {
    const top = byPath.get(m.path.split('/')[0]);
    return top ? mailboxRank(top) : ORDER.length;
  };
  state.mailboxes = r.results.sort((a, b) => topRank(a) - topRank(b) || a.path.localeCompare(b.path));
  renderMailboxes();
}

function renderMailboxes() {
  const ul = $('#mailboxes');
  const current = state.view && state.view.mailbox;
  ul.replaceChildren(...state.mailboxes.map((m) => {
    const depth = m.path.split('/').length - 1;
    const icon = ICONS[m.path === 'INBOX' ? 'INBOX' : m.specialUse] || ICONS.folder;
    const unseen = m.unseen || 0;
    const btn = h('button', {
      type: 'button',
      class: 'mailbox',
      'aria-current': m.id === current ? 'true' : false,
      'aria-label': `${m.name}${unseen ? `, ${unseen} unread` : ''}`,
      style: false,
      onclick: () => { closeSidebar(); selectMailbox(m.id); },
    }, h('span', { class: 'icon', 'aria-hidden': 'true' }, icon),
    h('span', { class: 'name' }, m.path === 'INBOX' ? 'Inbox' : m.name),
    unseen ? h('span', { class: 'unread', 'aria-hidden': 'true' }, String(unseen)) : null);
    btn.dataset.depth = String(Math.min(depth, 6));
    const li = h('li', { dataset: { id: m.id, path: m.path } }, btn);
    li.addEventListener('dragover', (e) => {
      if (e.dataTransfer.types.includes('application/x-eider-message')) {
        e.preventDefault();
        li.classList.add('drop');
      }
    });
    li.addEventListener('dragleave', () => li.classList.remove('drop'));
    li.addEventListener('drop', (e) => {
      li.classList.remove('drop');
      const data = e.dataTransfer.getData('application/x-eider-message');
      if (!data) return;
      e.preventDefault();
      const { mailbox, id } = JSON.parse(data);
      moveMessage(mailbox, id, m.id);
    });
    return li;
  }));
  // Menus of mailboxes: move-to and filter targets.
  const move = $('#move-to');
  move.replaceChildren(h('option', { value: '' }, 'Move to…'),
    ...state.mailboxes.map((m) => h('option', { value: m.id }, m.path === 'INBOX' ? 'Inbox' : m.path)));
  const flt = $('#flt-mailbox');
  flt.replaceChildren(h('option', { value: '' }, '(keep in Inbox)'),
    ...state.mailboxes.map((m) => h('option', { value: m.id }, m.path === 'INBOX' ? 'Inbox' : m.path)));
}

function mailboxName(id) {
  const m = state.mailboxes.find((x) => x.id === id);
  if (!m) return '';
  return m.path === 'INBOX' ? 'Inbox' : m.name;
}

async function selectMailbox(id) {
  state.view = { mailbox: id };
  state.expanded.clear();
  $('#search-input').value = '';
  renderMailboxes();
  $('#list-title').textContent = mailboxName(id);
  await loadList({});
}

async function loadList({ next, previous, keep } = {}) {
  const v = state.view;
  if (!v) return;
  const params = { limit: PAGE, next, previous, threadCounters: 'true' };
  let r;
  try {
    if (v.search !== undefined) {
      r = await api('GET', userPath('/search') + query({ ...params, q: v.search }));
    } else {
      r = await api('GET', userPath(`/mailboxes/${v.mailbox}/messages`) + query({ ...params, order: 'desc' }));
    }
  } catch (e) {
    toast(e.message, true);
    return;
  }
  if (state.view !== v) return; // the reader moved on meanwhile
  state.items = r.results.map((m) => ({ ...m, mailbox: m.mailbox || v.mailbox }));
  state.cursor = {
    next: r.nextCursor || null,
    previous: r.previousCursor || null,
    page: r.page || 1,
    total: r.total || 0,
    from: next ? { next } : previous ? { previous } : {},
  };
  renderList(keep);
}

/** Group the page's messages by thread, newest first (the list's order). */
function groups(items) {
  if (!$('#thread-toggle').checked || (state.view && state.view.search !== undefined)) {
    return items.map((m) => [m]);
  }
  const byThread = new Map();
  const out = [];
  for (const m of items) {
    const key = m.thread || `m${m.id}`;
    if (!byThread.has(key)) {
      byThread.set(key, []);
      out.push(byThread.get(key));
    }
    byThread.get(key).push(m);
  }
  return out;
}

function isSentBox() {
  const m = state.view && state.mailboxes.find((x) => x.id === state.view.mailbox);
  return m && (m.specialUse === '\\Sent' || m.specialUse === '\\Drafts');
}

function row(m, { child = false, count = 0, key = '' } = {}) {
  const who = isSentBox() ? `To: ${shortAddress(m.to) || '(no recipient)'}` : shortAddress(m.from) || '(unknown sender)';
  const selected = state.open && state.open.id === m.id && state.open.mailbox === m.mailbox;
  const el = h('div', {
    role: 'option',
    class: `row${m.seen ? '' : ' unread'}${m.flagged ? ' flagged' : ''}${child ? ' child' : ''}`,
    tabindex: '-1',
    draggable: 'true',
    'aria-selected': selected ? 'true' : 'false',
    dataset: { id: String(m.id), mailbox: m.mailbox },
    onclick: () => openMessage(m.mailbox, m.id),
    ondragstart: (e) => {
      e.dataTransfer.setData('application/x-eider-message', JSON.stringify({ mailbox: m.mailbox, id: m.id }));
      e.dataTransfer.effectAllowed = 'move';
    },
  },
  h('span', { class: 'who' }, who),
  count > 1 ? h('button', {
    type: 'button',
    class: 'count',
    'aria-expanded': state.expanded.has(key) ? 'true' : 'false',
    'aria-label': `${count} messages in this conversation`,
    onclick: (e) => {
      e.stopPropagation();
      if (state.expanded.has(key)) state.expanded.delete(key);
      else state.expanded.add(key);
      renderList(true);
    },
  }, String(count)) : null,
  h('span', { class: 'subject' }, m.subject || '(no subject)'),
  h('span', { class: 'intro' }, m.intro || ''),
  h('span', { class: 'meta' },
    m.attachments ? h('span', { class: 'clip', title: 'Has attachments' }, clip()) : null,
    h('button', {
      type: 'button',
      class: 'star',
      'aria-label': m.flagged ? 'Unflag' : 'Flag',
      'aria-pressed': m.flagged ? 'true' : 'false',
      onclick: (e) => { e.stopPropagation(); updateMessage(m.mailbox, m.id, { flagged: !m.flagged }); },
    }, m.flagged ? '★' : '☆'),
    h('time', { datetime: m.date || m.idate || '' }, formatDate(m.date || m.idate)),
    state.view && state.view.search !== undefined ? h('span', { class: 'box' }, mailboxName(m.mailbox)) : null));
  el.setAttribute('aria-label', `${m.seen ? '' : 'Unread, '}${m.flagged ? 'flagged, ' : ''}${who}: ${m.subject || '(no subject)'}`);
  return el;
}

function renderList(keepFocus) {
  const list = $('#messages');
  const focusedId = keepFocus && document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.id : null;
  const rows = [];
  for (const g of groups(state.items)) {
    const head = g[0];
    const key = head.thread || `m${head.id}`;
    const count = Math.max(g.length, head.threadMessageCount || 0);
    rows.push(row(head, { count: g.length > 1 ? count : 0, key }));
    if (g.length > 1 && state.expanded.has(key)) {
      for (const m of g.slice(1)) rows.push(row(m, { child: true }));
    } else if (g.length > 1) {
      // The head row stands for its thread: unread if any of it is.
      const first = rows[rows.length - 1];
      if (g.some((m) => !m.seen)) first.classList.add('unread');
    }
  }
  if (!rows.length) rows.push(h('p', { class: 'empty' }, state.view && state.view.search !== undefined ? 'Nothing found.' : 'No messages.'));
  list.replaceChildren(...rows);
  const c = state.cursor;
  $('#btn-older').disabled = !c.next;
  $('#btn-newer').disabled = !c.previous;
  $('#page-info').textContent = c.total ? `Page ${c.page} · ${c.total} messages` : '';
  if (focusedId) {
    const again = list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
}

function rowsInOrder() {
  return $$('#messages .row');
}

function focusRow(delta) {
  const rows = rowsInOrder();
  if (!rows.length) return;
  let i = rows.indexOf(document.activeElement);
  if (i < 0) i = rows.findIndex((r) => r.getAttribute('aria-selected') === 'true');
  i = Math.max(0, Math.min(rows.length - 1, i + delta));
  rows[i].focus();
  rows[i].scrollIntoView({ block: 'nearest' });
}

// ---------------------------------------------------------------- reading

function findItem(mailbox, id) {
  return state.items.find((m) => m.mailbox === mailbox && m.id === id);
}

async function openMessage(mailbox, id) {
  let msg;
  try {
    msg = await api('GET', userPath(`/mailboxes/${mailbox}/messages/${id}`) + query({ markAsSeen: 'true' }));
  } catch (e) {
    toast(e.message, true);
    return;
  }
  msg.mailbox = msg.mailbox || mailbox;
  state.open = msg;
  state.showImages = false;
  const item = findItem(mailbox, id);
  if (item && !item.seen) {
    item.seen = true;
    const box = state.mailboxes.find((m) => m.id === mailbox);
    if (box && box.unseen) box.unseen -= 1;
    renderMailboxes();
  }
  renderList(true);
  await renderReader();
  document.body.classList.add('reading');
}

function closeReader() {
  state.open = null;
  $('#reader').hidden = true;
  document.body.classList.remove('reading');
  renderList(true);
}

function headerRow(label, value) {
  if (!value) return [];
  return [h('dt', {}, label), h('dd', {}, value)];
}

async function renderReader() {
  const m = state.open;
  const reader = $('#reader');
  reader.hidden = false;
  $('#msg-subject').textContent = m.subject || '(no subject)';
  $('#msg-headers').replaceChildren(
    ...headerRow('From', formatAddress(m.from)),
    ...headerRow('To', formatAddress(m.to)),
    ...headerRow('Cc', formatAddress(m.cc)),
    ...headerRow('Date', m.date ? new Date(m.date).toLocaleString() : ''),
  );
  $('#btn-flag').textContent = m.flagged ? 'Unflag' : 'Flag';
  $('#btn-flag').setAttribute('aria-pressed', m.flagged ? 'true' : 'false');
  $('#btn-read').textContent = m.seen === false ? 'Mark read' : 'Mark unread';
  const box = state.mailboxes.find((x) => x.id === m.mailbox);
  $('#btn-edit-draft').hidden = !(m.draft || (box && box.specialUse === '\\Drafts'));
  $('#btn-junk').hidden = !!(box && box.specialUse === '\\Junk');
  $('#move-to').value = '';
  const atts = (m.attachments || []).filter((a) => !a.related);
  $('#msg-attachments').replaceChildren(...atts.map((a) => h('li', {},
    h('button', {
      type: 'button',
      class: 'attachment',
      dataset: { attachment: a.id },
      onclick: () => downloadAttachment(m, a),
    }, clip(), ` ${a.filename || a.id}`, h('span', { class: 'size' }, ` ${formatSize((a.sizeKb || 0) * 1024)}`)))));
  await renderBody(m);
  renderThread(m);
}

async function downloadAttachment(m, a) {
  try {
    const b = await blob(userPath(`/mailboxes/${m.mailbox}/messages/${m.id}/attachments/${a.id}`));
    download(b, a.filename || `${a.id}.bin`);
  } catch (e) {
    toast(e.message, true);
  }
}

const REMOTE = /<img\b[^>]*\bsrc\s*=\s*["']?\s*(https?:)?\/\//i;

async function renderBody(m) {
  const body = $('#msg-body');
  const html = (m.html || []).join('\n');
  if (!html) {
    body.replaceChildren(h('pre', { class: 'text' }, m.text || ''));
    $('#remote-banner').hidden = true;
    return;
  }
  // Inline images (cid:) become data: URLs, fetched with the token.
  let doc = html;
  for (const a of m.attachments || []) {
    if (!a.cid || !doc.includes(`cid:${a.cid}`)) continue;
    try {
      const b = await blob(userPath(`/mailboxes/${m.mailbox}/messages/${m.id}/attachments/${a.id}`));
      const url = await blobToDataUrl(b);
      doc = doc.split(`cid:${a.cid}`).join(url);
    } catch {
      /* leave the reference; the image just stays empty */
    }
  }
  const remote = REMOTE.test(doc);
  $('#remote-banner').hidden = !remote || state.showImages;
  const images = state.showImages ? 'data: blob: https: http:' : 'data: blob:';
  // The frame may not run scripts (no allow-scripts) and has its own, narrower
  // policy; allow-same-origin only lets this page size it and open its links.
  const csp = `default-src 'none'; img-src ${images}; style-src 'self'; font-src 'none'; form-action 'none'`;
  const frame = h('iframe', {
    title: 'Message body',
    sandbox: 'allow-same-origin allow-popups allow-popups-to-escape-sandbox',
    referrerpolicy: 'no-referrer',
    class: 'mailframe',
  });
  frame.srcdoc = `<!doctype html><html><head><meta charset="utf-8">`
    + `<meta http-equiv="Content-Security-Policy" content="${csp}">`
    + `<meta name="referrer" content="no-referrer">`
    + `<link rel="stylesheet" href="${location.origin}/webmail/mail.css"></head><body>${doc}</body></html>`;
  frame.addEventListener('load', () => {
    const d = frame.contentDocument;
    if (!d) return;
    for (const a of d.querySelectorAll('a[href]')) {
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
    }
    const fit = () => { frame.style.height = `${Math.max(60, d.documentElement.scrollHeight + 4)}px`; };
    fit();
    for (const img of d.images) img.addEventListener('load', fit);
  });
  body.replaceChildren(frame);
}

async function renderThread(m) {
  const section = $('#thread-others');
  section.hidden = true;
  if (!m.thread) return;
  try {
    const r = await api('GET', userPath('/search') + query({ thread: m.thread, limit: 50 }));
    const others = r.results.filter((x) => !(x.id === m.id && x.mailbox === m.mailbox));
    if (state.open !== m || !others.length) return;
    $('#thread-list').replaceChildren(...others.map((x) => h('li', {},
      h('button', { type: 'button', class: 'link', onclick: () => openMessage(x.mailbox, x.id) },
        `${shortAddress(x.from)} — ${x.subject || '(no subject)'} · ${formatDate(x.date)} · ${mailboxName(x.mailbox)}`))));
    section.hidden = false;
  } catch {
    /* the thread list is a convenience */
  }
}

// ---------------------------------------------------------------- actions

export async function updateMessage(mailbox, id, changes) {
  try {
    const r = await api('PUT', userPath(`/mailboxes/${mailbox}/messages/${id}`), changes);
    const item = findItem(mailbox, id);
    if (item) Object.assign(item, pick(changes, ['seen', 'flagged']));
    if (state.open && state.open.mailbox === mailbox && state.open.id === id) {
      Object.assign(state.open, pick(changes, ['seen', 'flagged']));
      $('#btn-flag').textContent = state.open.flagged ? 'Unflag' : 'Flag';
      $('#btn-flag').setAttribute('aria-pressed', state.open.flagged ? 'true' : 'false');
      $('#btn-read').textContent = state.open.seen === false ? 'Mark read' : 'Mark unread';
    }
    renderList(true);
    refreshCounters();
    return r;
  } catch (e) {
    toast(e.message, true);
    return null;
  }
}

function pick(o, keys) {
  const out = {};
  for (const k of keys) if (k in o) out[k] = o[k];
  return out;
}

function afterRemoval(mailbox, id) {
  const rows = rowsInOrder();
  const idx = rows.findIndex((r) => r.dataset.mailbox === mailbox && r.dataset.id === String(id));
  state.items = state.items.filter((m) => !(m.mailbox === mailbox && m.id === id));
  const wasOpen = state.open && state.open.mailbox === mailbox && state.open.id === id;
  renderList(false);
  if (wasOpen) {
    const next = rowsInOrder()[Math.max(0, Math.min(idx, rowsInOrder().length - 1))];
    if (next && idx >= 0) {
      openMessage(next.dataset.mailbox, Number(next.dataset.id));
      next.focus();
    } else {
      closeReader();
    }
  }
  refreshCounters();
}

async function moveMessage(mailbox, id, target) {
  if (!target || target === mailbox) return;
  try {
    await api('PUT', userPath(`/mailboxes/${mailbox}/messages/${id}`), { moveTo: target });
    toast(`Moved to ${mailboxName(target)}`);
    afterRemoval(mailbox, id);
  } catch (e) {
    toast(e.message, true);
  }
}

async function deleteMessage(mailbox, id) {
  const trash = mailboxBy('\\Trash');
  if (trash && trash.id !== mailbox) {
    await moveMessage(mailbox, id, trash.id);
    return;
  }
  try {
    await api('DELETE', userPath(`/mailboxes/${mailbox}/messages/${id}`));
    toast('Deleted');
    afterRemoval(mailbox, id);
  } catch (e) {
    toast(e.message, true);
  }
}

async function reportSpam(mailbox, id) {
  const junk = mailboxBy('\\Junk');
  if (!junk) {
    toast('There is no Junk mailbox', true);
    return;
  }
  await moveMessage(mailbox, id, junk.id);
}

let counterTimer = null;
export function refreshCounters() {
  clearTimeout(counterTimer);
  counterTimer = setTimeout(async () => {
    try {
      await loadMailboxes();
    } catch {
      /* next change tries again */
    }
  }, 150);
}

let listTimer = null;
function refreshList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => loadList({ ...(state.cursor.from || {}), keep: true }), 150);
}

// One event of the change stream.
function onChange(ev) {
  const v = state.view || {};
  const inView = v.mailbox === ev.mailbox || v.search !== undefined;
  switch (ev.command) {
    case 'EXISTS':
      if (inView) refreshList();
      refreshCounters();
      break;
    case 'EXPUNGE': {
      const gone = state.items.find((m) => m.mailbox === ev.mailbox && m.id === ev.uid);
      if (gone) afterRemoval(ev.mailbox, ev.uid);
      else refreshCounters();
      break;
    }
    case 'FETCH': {
      const item = state.items.find((m) => m.mailbox === ev.mailbox && m.id === ev.uid);
      if (item && Array.isArray(ev.flags)) {
        item.seen = ev.flags.includes('\\Seen');
        item.flagged = ev.flags.includes('\\Flagged');
        renderList(true);
        if (state.open && state.open.mailbox === ev.mailbox && state.open.id === ev.uid) {
          state.open.seen = item.seen;
          state.open.flagged = item.flagged;
          $('#btn-flag').textContent = item.flagged ? 'Unflag' : 'Flag';
          $('#btn-read').textContent = item.seen ? 'Mark unread' : 'Mark read';
        }
      }
      refreshCounters();
      break;
    }
    default:
      refreshCounters();
  }
}

async function search(ev) {
  ev.preventDefault();
  const q = $('#search-input').value.trim();
  if (!q) {
    const inbox = mailboxBy('INBOX');
    if (inbox) selectMailbox(inbox.id);
    return;
  }
  state.view = { search: q };
  renderMailboxes();
  $('#list-title').textContent = `Search: ${q}`;
  await loadList({});
}

function withOpen(fn) {
  return () => {
    if (state.open) fn(state.open);
  };
}

function focusedOrOpen() {
  const el = document.activeElement;
  if (el && el.classList && el.classList.contains('row')) {
    return { mailbox: el.dataset.mailbox, id: Number(el.dataset.id) };
  }
  return state.open ? { mailbox: state.open.mailbox, id: state.open.id } : null;
}

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if ($('#app-view').hidden || document.querySelector('dialog[open]')) return;
  const t = e.target;
  if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) {
    if (e.key === 'Escape') t.blur();
    return;
  }
  const target = focusedOrOpen();
  const handled = () => e.preventDefault();
  switch (e.key) {
    case 'j': case 'ArrowDown': focusRow(1); handled(); break;
    case 'k': case 'ArrowUp': focusRow(-1); handled(); break;
    case 'Enter': case 'o':
      if (t && t.classList && t.classList.contains('row')) { t.click(); handled(); }
      break;
    case '/': $('#search-input').focus(); handled(); break;
    case 'c': openCompose({ mode: 'new' }); handled(); break;
    case 'r': if (state.open) { openCompose({ mode: 'reply', original: state.open }); handled(); } break;
    case 'a': if (state.open) { openCompose({ mode: 'replyAll', original: state.open }); handled(); } break;
    case 'f': if (state.open) { openCompose({ mode: 'forward', original: state.open }); handled(); } break;
    case 's': if (target) {
      const item = findItem(target.mailbox, target.id) || state.open;
      updateMessage(target.mailbox, target.id, { flagged: !(item && item.flagged) });
      handled();
    } break;
    case 'u': if (target) {
      const item = findItem(target.mailbox, target.id) || state.open;
      updateMessage(target.mailbox, target.id, { seen: !(item && item.seen) });
      handled();
    } break;
    case '#': case 'Delete': if (target) { deleteMessage(target.mailbox, target.id); handled(); } break;
    case '!': if (target) { reportSpam(target.mailbox, target.id); handled(); } break;
    case 'Escape': if (state.open) { closeReader(); handled(); } break;
    default:
  }
}

function closeSidebar() {
  document.body.classList.remove('sidebar-open');
  $('#btn-menu').setAttribute('aria-expanded', 'false');
}

function wire() {
  $('#login-form').addEventListener('submit', signIn);
  $('#second-form').addEventListener('submit', checkTotp);
  $('#webauthn-button').addEventListener('click', useSecurityKey);
  $('#second-cancel').addEventListener('click', signOut);
  $('#btn-logout').addEventListener('click', signOut);
  $('#search-form').addEventListener('submit', search);
  $('#btn-older').addEventListener('click', () => loadList({ next: state.cursor.next }));
  $('#btn-newer').addEventListener('click', () => loadList({ previous: state.cursor.previous }));
  $('#thread-toggle').addEventListener('change', () => renderList(true));
  $('#btn-compose').addEventListener('click', () => { closeSidebar(); openCompose({ mode: 'new' }); });
  $('#btn-settings').addEventListener('click', () => openSettings());
  $('#btn-reply').addEventListener('click', withOpen((m) => openCompose({ mode: 'reply', original: m })));
  $('#btn-reply-all').addEventListener('click', withOpen((m) => openCompose({ mode: 'replyAll', original: m })));
  $('#btn-forward').addEventListener('click', withOpen((m) => openCompose({ mode: 'forward', original: m })));
  $('#btn-edit-draft').addEventListener('click', withOpen((m) => openCompose({ mode: 'draft', original: m })));
  $('#btn-flag').addEventListener('click', withOpen((m) => updateMessage(m.mailbox, m.id, { flagged: !m.flagged })));
  $('#btn-read').addEventListener('click', withOpen((m) => updateMessage(m.mailbox, m.id, { seen: m.seen === false })));
  $('#btn-junk').addEventListener('click', withOpen((m) => reportSpam(m.mailbox, m.id)));
  $('#btn-delete').addEventListener('click', withOpen((m) => deleteMessage(m.mailbox, m.id)));
  $('#btn-back').addEventListener('click', closeReader);
  $('#btn-images').addEventListener('click', () => {
    state.showImages = true;
    if (state.open) renderBody(state.open);
  });
  $('#move-to').addEventListener('change', (e) => {
    const target = e.target.value;
    if (state.open && target) moveMessage(state.open.mailbox, state.open.id, target);
  });
  $('#btn-menu').addEventListener('click', () => {
    const open = !document.body.classList.contains('sidebar-open');
    document.body.classList.toggle('sidebar-open', open);
    $('#btn-menu').setAttribute('aria-expanded', open ? 'true' : 'false');
  });
  $('#messages').addEventListener('focus', (e) => {
    if (e.target === $('#messages')) focusRow(0);
  });
  document.addEventListener('keydown', onKey);
  initCompose({ afterSend: () => { refreshCounters(); if (state.view && state.view.mailbox) refreshList(); } });
  initSettings();
}

async function boot() {
  wire();
  const s = getSession();
  if (!s || !s.token || s.pending) {
    setSession(null);
    showLogin();
    return;
  }
  try {
    await startApp();
  } catch (e) {
    if (e instanceof ApiError) {
      setSession(null);
      showLogin();
    } else {
      throw e;
    }
  }
}

boot();

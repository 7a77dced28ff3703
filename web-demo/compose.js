// Compose, reply, reply-all, forward and drafts. Attachments are uploaded as
// storage files (POST /users/{user}/storage) and sent by id; a forward carries
// the original's attachments the same way. Sending is POST /users/{user}/submit.

import { api, blob, userPath, fileToBase64, getSession } from './api.js';
import { $, h, toast, formatAddress, parseAddresses, formatSize, clip } from './dom.js';
import { mailboxBy } from './app.js';

let ctx = null; // {reference, draft, files: [{id, filename, size}]}
let hooks = { afterSend() {} };
let addresses = [];

function prefixed(prefix, subject) {
  const s = subject || '';
  return new RegExp(`^${prefix}:`, 'i').test(s) ? s : `${prefix}: ${s}`;
}

function quote(m) {
  const text = (m.text || '').replace(/\r\n/g, '\n');
  const when = m.date ? new Date(m.date).toLocaleString() : '';
  return `\n\nOn ${when}, ${formatAddress(m.from)} wrote:\n${text.split('\n').map((l) => `> ${l}`).join('\n')}\n`;
}

function forwardBlock(m) {
  return `\n\n---------- Forwarded message ----------\nFrom: ${formatAddress(m.from)}\n`
    + `Date: ${m.date ? new Date(m.date).toLocaleString() : ''}\nSubject: ${m.subject || ''}\n`
    + `To: ${formatAddress(m.to)}\n${m.cc && m.cc.length ? `Cc: ${formatAddress(m.cc)}\n` : ''}\n${m.text || ''}\n`;
}

function own(a) {
  const mine = new Set(addresses.map((x) => x.address.toLowerCase()));
  const s = getSession();
  if (s && s.address) mine.add(s.address.toLowerCase());
  return a && a.address && mine.has(a.address.toLowerCase());
}

async function loadAddresses() {
  if (addresses.length) return;
  try {
    const r = await api('GET', userPath('/addresses'));
    addresses = r.results || [];
  } catch {
    addresses = [];
  }
}

function renderFiles() {
  $('#compose-attachments').replaceChildren(...ctx.files.map((f) => h('li', {},
    clip(), ` ${f.filename} (${formatSize(f.size)}) `,
    h('button', {
      type: 'button',
      'aria-label': `Remove ${f.filename}`,
      onclick: () => { ctx.files = ctx.files.filter((x) => x !== f); renderFiles(); },
    }, 'Remove'))));
}

async function uploadFile(name, type, content, size) {
  const r = await api('POST', userPath('/storage'), {
    filename: name, contentType: type || 'application/octet-stream', encoding: 'base64', content,
  });
  ctx.files.push({ id: r.id, filename: name, size });
  renderFiles();
}

/** Open the composer. mode: new | reply | replyAll | forward | draft. */
export async function openCompose({ mode, original }) {
  await loadAddresses();
  const dlg = $('#compose');
  ctx = { mode, reference: null, draft: null, files: [] };
  $('#compose-error').textContent = '';
  const from = $('#compose-from');
  const s = getSession();
  const list = addresses.length ? addresses : [{ address: s.address, main: true }];
  from.replaceChildren(...list.map((a) => h('option', { value: a.address, selected: a.main ? true : false }, a.address)));
  let to = [];
  let cc = [];
  let subject = '';
  let body = '';
  const m = original;
  if (mode === 'reply' || mode === 'replyAll') {
    const replyTo = m.replyTo && m.replyTo.length ? m.replyTo : m.from ? [].concat(m.from) : [];
    to = replyTo;
    if (mode === 'replyAll') {
      const seen = new Set(to.map((a) => (a.address || '').toLowerCase()));
      const more = [...(m.to || []), ...(m.cc || [])].filter((a) => {
        const k = (a.address || '').toLowerCase();
        if (!k || seen.has(k) || own(a)) return false;
        seen.add(k);
        return true;
      });
      cc = more;
    }
    subject = prefixed('Re', m.subject);
    body = quote(m);
    ctx.reference = { mailbox: m.mailbox, id: m.id, action: mode };
  } else if (mode === 'forward') {
    subject = prefixed('Fwd', m.subject);
    body = forwardBlock(m);
    ctx.reference = { mailbox: m.mailbox, id: m.id, action: 'forward' };
  } else if (mode === 'draft') {
    to = m.to || [];
    cc = m.cc || [];
    subject = m.subject || '';
    body = m.text || '';
    ctx.draft = { mailbox: m.mailbox, id: m.id };
  }
  $('#compose-title').textContent = {
    new: 'New message', reply: 'Reply', replyAll: 'Reply all', forward: 'Forward', draft: 'Draft',
  }[mode];
  $('#compose-to').value = formatAddress(to);
  $('#compose-cc').value = formatAddress(cc);
  $('#compose-bcc').value = formatAddress(m && mode === 'draft' ? m.bcc : []);
  $('#compose-subject').value = subject;
  $('#compose-body').value = body;
  $('#compose-files').value = '';
  renderFiles();
  dlg.showModal();
  if (mode === 'reply' || mode === 'replyAll') {
    const ta = $('#compose-body');
    ta.focus();
    ta.setSelectionRange(0, 0);
  } else {
    $('#compose-to').focus();
  }
  // A forward or a draft keeps the original's attachments: copy them into storage files.
  if ((mode === 'forward' || mode === 'draft') && m.attachments) {
    for (const a of m.attachments.filter((x) => !x.related)) {
      try {
        const b = await blob(userPath(`/mailboxes/${m.mailbox}/messages/${m.id}/attachments/${a.id}`));
        await uploadFile(a.filename || 'attachment', b.type || a.contentType, await fileToBase64(b), b.size);
      } catch (e) {
        $('#compose-error').textContent = `Attachment ${a.filename}: ${e.message}`;
      }
    }
  }
}

function fields() {
  const fromAddr = $('#compose-from').value;
  const known = addresses.find((a) => a.address === fromAddr);
  const s = getSession();
  return {
    from: { name: (known && known.name) || s.name || '', address: fromAddr },
    to: parseAddresses($('#compose-to').value),
    cc: parseAddresses($('#compose-cc').value),
    bcc: parseAddresses($('#compose-bcc').value),
    subject: $('#compose-subject').value,
    text: $('#compose-body').value,
    files: ctx.files.map((f) => f.id),
  };
}

async function send() {
  const f = fields();
  if (!f.to.length && !f.cc.length && !f.bcc.length) {
    $('#compose-error').textContent = 'Add at least one recipient.';
    $('#compose-to').focus();
    return;
  }
  const btn = $('#compose-send');
  btn.disabled = true;
  try {
    const body = { ...f };
    if (!body.from.name) delete body.from.name;
    if (ctx.reference) body.reference = ctx.reference;
    if (ctx.draft) body.draft = ctx.draft;
    await api('POST', userPath('/submit'), body);
    $('#compose').close();
    toast('Message sent');
    hooks.afterSend();
  } catch (e) {
    $('#compose-error').textContent = e.message;
  } finally {
    btn.disabled = false;
  }
}

async function saveDraft() {
  const drafts = mailboxBy('\\Drafts');
  if (!drafts) {
    $('#compose-error').textContent = 'There is no Drafts mailbox.';
    return;
  }
  const f = fields();
  const body = { ...f, draft: true, unseen: false };
  for (const k of ['to', 'cc', 'bcc']) if (!body[k].length) delete body[k];
  if (!body.from.name) delete body.from.name;
  if (ctx.draft) body.replacePrevious = { mailbox: ctx.draft.mailbox, id: ctx.draft.id };
  try {
    const r = await api('POST', userPath(`/mailboxes/${drafts.id}/messages`), body);
    ctx.draft = { mailbox: r.message.mailbox || drafts.id, id: r.message.id };
    toast('Draft saved');
    hooks.afterSend();
  } catch (e) {
    $('#compose-error').textContent = e.message;
  }
}

export function initCompose(h2) {
  hooks = { ...hooks, ...h2 };
  $('#compose-send').addEventListener('click', send);
  $('#compose-save').addEventListener('click', saveDraft);
  $('#compose-discard').addEventListener('click', () => $('#compose').close());
  $('#compose-files').addEventListener('change', async (e) => {
    const input = e.target;
    for (const file of Array.from(input.files || [])) {
      try {
        await uploadFile(file.name, file.type, await fileToBase64(file), file.size);
      } catch (err) {
        $('#compose-error').textContent = `${file.name}: ${err.message}`;
      }
    }
    input.value = '';
  });
}

// Settings: application passwords (with the Apple profile), two-factor (TOTP with
// its QR code, security keys), password, autoreply, filters and forwarding.

import { api, userPath, getSession, hexToBuf, bufToHex } from './api.js';
import { $, $$, h, download, formatDate } from './dom.js';
import { state } from './app.js';

function say(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function selectTab(name) {
  for (const t of $$('#settings [role=tab]')) {
    const on = t.dataset.tab === name;
    t.setAttribute('aria-selected', on ? 'true' : 'false');
    t.tabIndex = on ? 0 : -1;
  }
  for (const p of $$('#settings [role=tabpanel]')) p.hidden = p.dataset.panel !== name;
  LOADERS[name]();
}

export function openSettings(tab = 'asps') {
  $('#settings').showModal();
  selectTab(tab);
}

// ------------------------------------------------------------ ASPs

async function loadAsps() {
  const r = await api('GET', userPath('/asps'));
  $('#asp-list').replaceChildren(...r.results.map((a) => h('li', {},
    h('span', {}, `${a.description} · ${(a.scopes || []).join(', ')} · created ${formatDate(a.created)}`
      + `${a.lastUse && a.lastUse.time ? ` · last used ${formatDate(a.lastUse.time)}` : ''}`),
    h('button', {
      type: 'button',
      'aria-label': `Delete ${a.description}`,
      onclick: async () => {
        await api('DELETE', userPath(`/asps/${a.id}`));
        loadAsps();
      },
    }, 'Delete'))));
}

function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function createAsp(ev) {
  ev.preventDefault();
  const scopes = $$('#asp-form input[name=scope]:checked').map((i) => i.value);
  const box = $('#asp-result');
  try {
    const r = await api('POST', userPath('/asps'), {
      description: $('#asp-description').value.trim(),
      scopes: scopes.includes('*') || !scopes.length ? ['*'] : scopes,
      generateMobileconfig: $('#asp-mobileconfig').checked,
    });
    const pretty = r.password.replace(/(.{4})(?=.)/g, '$1 ');
    const children = [
      h('p', {}, 'Your new application password (shown once): '),
      h('code', { id: 'asp-password' }, pretty),
    ];
    if (r.mobileconfig) {
      const bytes = base64ToBytes(r.mobileconfig);
      children.push(h('p', {}, h('button', {
        id: 'asp-download',
        type: 'button',
        onclick: () => download(new Blob([bytes], { type: 'application/x-apple-aspen-config' }), `${r.name || 'eider'}.mobileconfig`),
      }, 'Download profile (.mobileconfig)')));
    }
    box.replaceChildren(...children);
    box.hidden = false;
    $('#asp-description').value = '';
    loadAsps();
  } catch (e) {
    box.replaceChildren(h('p', { class: 'error' }, e.message));
    box.hidden = false;
  }
}

// ------------------------------------------------------------ two-factor

async function loadSecurity() {
  say('#security-msg', '');
  const u = await api('GET', userPath(''));
  const on = (u.enabled2fa || []).includes('totp');
  const st = $('#totp-state');
  $('#totp-setup').hidden = true;
  st.replaceChildren(on
    ? h('p', {}, 'The authenticator app is on. ',
      h('button', { type: 'button', id: 'totp-disable', onclick: disableTotp }, 'Turn off'))
    : h('p', {}, 'Not set up. ',
      h('button', { type: 'button', id: 'totp-start', onclick: setupTotp }, 'Set up')));
  try {
    const c = await api('GET', userPath('/2fa/webauthn/credentials'));
    $('#webauthn-list').replaceChildren(...c.credentials.map((k) => h('li', {},
      h('span', {}, k.description),
      h('button', {
        type: 'button',
        'aria-label': `Remove ${k.description}`,
        onclick: async () => {
          await api('DELETE', userPath(`/2fa/webauthn/credentials/${k.id}`));
          loadSecurity();
        },
      }, 'Remove'))));
  } catch {
    $('#webauthn-list').replaceChildren();
  }
}

async function setupTotp() {
  try {
    const s = getSession();
    const r = await api('POST', userPath('/2fa/totp/setup'), { issuer: 'Eider', label: s.address || s.username });
    $('#totp-qr').src = r.qrcode;
    $('#totp-seed').textContent = r.seed;
    $('#totp-setup').hidden = false;
    $('#totp-enable-code').focus();
  } catch (e) {
    say('#security-msg', e.message, true);
  }
}

async function enableTotp() {
  try {
    await api('POST', userPath('/2fa/totp/enable'), { token: $('#totp-enable-code').value.replace(/\s+/g, '') });
    $('#totp-enable-code').value = '';
    await loadSecurity();
    say('#security-msg', 'Two-factor authentication is on.');
  } catch (e) {
    say('#security-msg', e.message, true);
  }
}

async function disableTotp() {
  try {
    await api('DELETE', userPath('/2fa/totp'));
    await loadSecurity();
    say('#security-msg', 'The authenticator app is off.');
  } catch (e) {
    say('#security-msg', e.message, true);
  }
}

/** Register a security key through navigator.credentials.create. */
export async function webauthnCreate(description) {
  const rpId = location.hostname;
  const c = await api('POST', userPath('/2fa/webauthn/registration-challenge'), {
    description, origin: location.origin, rpId, authenticatorAttachment: 'cross-platform',
  });
  const o = c.registrationOptions;
  // credProtect comes as a wish (not enforced); Chromium refuses userVerificationRequired
  // for a non-discoverable key outright, so the wish is left out.
  const extensions = { ...(o.extensions || {}) };
  if (!extensions.enforceCredentialProtectionPolicy) {
    delete extensions.credentialProtectionPolicy;
    delete extensions.enforceCredentialProtectionPolicy;
  }
  const publicKey = {
    ...o,
    extensions,
    challenge: hexToBuf(o.challenge),
    user: { ...o.user, id: hexToBuf(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((x) => ({ type: x.type || 'public-key', id: hexToBuf(x.rawId) })),
  };
  const cred = await navigator.credentials.create({ publicKey });
  return api('POST', userPath('/2fa/webauthn/registration-attestation'), {
    challenge: o.challenge,
    rawId: bufToHex(cred.rawId),
    clientDataJSON: bufToHex(cred.response.clientDataJSON),
    attestationObject: bufToHex(cred.response.attestationObject),
    rpId,
  });
}

async function addKey() {
  try {
    await webauthnCreate($('#webauthn-description').value.trim() || 'Security key');
    await loadSecurity();
    say('#security-msg', 'Security key added.');
  } catch (e) {
    say('#security-msg', e.message || String(e), true);
  }
}

// ------------------------------------------------------------ password

async function changePassword(ev) {
  ev.preventDefault();
  if ($('#pw-new').value !== $('#pw-repeat').value) {
    say('#password-msg', 'The new passwords differ.', true);
    return;
  }
  try {
    await api('PUT', userPath(''), { existingPassword: $('#pw-current').value, password: $('#pw-new').value });
    for (const id of ['#pw-current', '#pw-new', '#pw-repeat']) $(id).value = '';
    say('#password-msg', 'Password changed.');
  } catch (e) {
    say('#password-msg', e.message, true);
  }
}

// ------------------------------------------------------------ autoreply

function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

async function loadAutoreply() {
  const r = await api('GET', userPath('/autoreply'));
  $('#ar-status').checked = !!r.status;
  $('#ar-subject').value = r.subject || '';
  $('#ar-text').value = r.text || '';
  $('#ar-start').value = localInput(r.start);
  $('#ar-end').value = localInput(r.end);
  say('#autoreply-msg', '');
}

async function saveAutoreply(ev) {
  ev.preventDefault();
  const start = $('#ar-start').value;
  const end = $('#ar-end').value;
  try {
    await api('PUT', userPath('/autoreply'), {
      status: $('#ar-status').checked,
      subject: $('#ar-subject').value,
      text: $('#ar-text').value,
      start: start ? new Date(start).toISOString() : false,
      end: end ? new Date(end).toISOString() : false,
    });
    say('#autoreply-msg', 'Saved.');
  } catch (e) {
    say('#autoreply-msg', e.message, true);
  }
}

// ------------------------------------------------------------ filters

function describeFilter(f) {
  const q = f.query || {};
  const a = f.action || {};
  const when = Object.entries(q).filter(([, v]) => v !== undefined && v !== '' && v !== null)
    .map(([k, v]) => `${k}: ${v}`).join(', ') || 'every message';
  const mailbox = a.mailbox && state.mailboxes.find((m) => m.id === a.mailbox);
  const what = [
    a.seen ? 'mark read' : '', a.flag ? 'flag' : '', a.spam ? 'to Junk' : '', a.delete ? 'delete' : '',
    mailbox ? `move to ${mailbox.path}` : '',
  ].filter(Boolean).join(', ') || 'nothing';
  return `${f.name || '(unnamed)'} — when ${when} → ${what}`;
}

async function loadFilters() {
  const r = await api('GET', userPath('/filters'));
  $('#filter-list').replaceChildren(...r.results.map((f) => h('li', {},
    h('span', {}, describeFilter(f)),
    h('button', {
      type: 'button',
      'aria-label': `Delete filter ${f.name || ''}`,
      onclick: async () => {
        await api('DELETE', userPath(`/filters/${f.id}`));
        loadFilters();
      },
    }, 'Delete'))));
}

async function addFilter(ev) {
  ev.preventDefault();
  const query = {};
  if ($('#flt-from').value.trim()) query.from = $('#flt-from').value.trim();
  if ($('#flt-subject').value.trim()) query.subject = $('#flt-subject').value.trim();
  const action = {};
  if ($('#flt-seen').checked) action.seen = true;
  if ($('#flt-flag').checked) action.flag = true;
  if ($('#flt-spam').checked) action.spam = true;
  if ($('#flt-mailbox').value) action.mailbox = $('#flt-mailbox').value;
  try {
    await api('POST', userPath('/filters'), { name: $('#flt-name').value.trim(), query, action });
    $('#filter-form').reset();
    say('#filter-msg', 'Filter added.');
    loadFilters();
  } catch (e) {
    say('#filter-msg', e.message, true);
  }
}

// ------------------------------------------------------------ forwarding

async function loadForwarding() {
  const u = await api('GET', userPath(''));
  $('#fwd-targets').value = (u.targets || []).join('\n');
  say('#forward-msg', '');
}

async function saveForwarding(ev) {
  ev.preventDefault();
  const targets = $('#fwd-targets').value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
  try {
    await api('PUT', userPath(''), { targets });
    say('#forward-msg', 'Saved.');
  } catch (e) {
    say('#forward-msg', e.message, true);
  }
}

const LOADERS = {
  asps: () => loadAsps().catch(() => {}),
  security: () => loadSecurity().catch((e) => say('#security-msg', e.message, true)),
  password: () => say('#password-msg', ''),
  autoreply: () => loadAutoreply().catch((e) => say('#autoreply-msg', e.message, true)),
  filters: () => loadFilters().catch((e) => say('#filter-msg', e.message, true)),
  forwarding: () => loadForwarding().catch((e) => say('#forward-msg', e.message, true)),
};

export function initSettings() {
  $('#settings-close').addEventListener('click', () => $('#settings').close());
  const tabs = $$('#settings [role=tab]');
  for (const t of tabs) {
    t.addEventListener('click', () => selectTab(t.dataset.tab));
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      let j = -1;
      if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
      if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      if (j >= 0) {
        e.preventDefault();
        tabs[j].focus();
        selectTab(tabs[j].dataset.tab);
      }
    });
  }
  $('#asp-form').addEventListener('submit', createAsp);
  $('#totp-enable').addEventListener('click', enableTotp);
  $('#webauthn-add').addEventListener('click', addKey);
  $('#password-form').addEventListener('submit', changePassword);
  $('#autoreply-form').addEventListener('submit', saveAutoreply);
  $('#filter-form').addEventListener('submit', addFilter);
  $('#forward-form').addEventListener('submit', saveForwarding);
}

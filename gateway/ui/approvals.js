// Support Access admin page: one-request approvals (SPEC §10). Plain JavaScript, no
// dependencies. Lists the requests support asked to run once, and approves or denies
// one with a note, behind a confirmation. Uses the admin token app.js keeps for this
// tab, and only the management API.
'use strict';

(function () {
  const API = '/support-access/v1';
  const TOKEN_KEY = 'support-access.admin-token';

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (_) {
      return '';
    }
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso || '') : timeFormat.format(date);
  }

  // The restriction's title, from app.js's catalogue.
  function reason(number) {
    const titles = window.SupportAccessRestrictions || {};
    if (!number) return 'Refused by the route policy';
    return `Restriction ${number}${titles[number] ? `: ${titles[number]}` : ''}`;
  }

  async function api(method, path, body) {
    const init = {
      method,
      headers: { Accept: 'application/json', Authorization: `Bearer ${token()}` },
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.message) || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = data && data.error;
      throw error;
    }
    return data;
  }

  function say(text, isError) {
    const status = $('approvals-status');
    status.textContent = text;
    status.classList.toggle('approvals__status--error', Boolean(isError));
  }

  // ---------------------------------------------------------------- the list

  async function load() {
    const list = $('approvals-list');
    if (!token()) {
      list.replaceChildren();
      $('approvals-empty').hidden = false;
      $('approvals-empty').textContent = 'Paste an admin token to see approval requests.';
      return;
    }
    list.setAttribute('aria-busy', 'true');
    try {
      const answer = await api('GET', '/approvals?status=pending');
      const approvals = (answer && Array.isArray(answer.approvals)) ? answer.approvals : [];
      list.replaceChildren(...approvals.map(item));
      $('approvals-empty').hidden = approvals.length > 0;
      $('approvals-empty').textContent = 'No requests are waiting for approval.';
    } catch (error) {
      say(`Approval requests could not be loaded: ${error.message}`, true);
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function item(approval) {
    const target = approval.query ? `${approval.path}?${approval.query}` : approval.path;
    const node = el('li', { class: 'approval', 'data-id': approval.id },
      el('p', { class: 'mono request approval__request' },
        el('span', { class: 'method' }, approval.method), ' ', target),
      el('p', { class: 'approval__reason' }, reason(approval.restriction),
        approval.rule ? el('span', { class: 'rule mono' }, ` rule ${approval.rule}`) : null),
      el('p', { class: 'muted approval__meta' },
        `Asked by ${approval.actor} on ${formatTime(approval.requested_at)}; waits until ${formatTime(approval.expires_at)}.`));
    if (approval.body_preview) {
      node.append(el('pre', { class: 'approval__body mono', 'aria-label': 'Request body' }, approval.body_preview));
    } else {
      node.append(el('p', { class: 'muted' }, 'No request body.'));
    }
    node.append(el('div', { class: 'actions' },
      el('button', { type: 'button', class: 'btn btn--primary approval__approve', 'data-verdict': 'approve' }, 'Approve…'),
      el('button', { type: 'button', class: 'btn btn--danger approval__deny', 'data-verdict': 'deny' }, 'Deny…')));
    node.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-verdict]');
      if (button) open(approval, button.dataset.verdict, button);
    });
    return node;
  }

  // ---------------------------------------------------------------- the decision

  let pending = null; // { approval, verdict, opener }

  function open(approval, verdict, opener) {
    pending = { approval, verdict, opener };
    const approve = verdict === 'approve';
    const target = approval.query ? `${approval.path}?${approval.query}` : approval.path;
    $('approval-dialog-title').textContent = approve ? 'Approve this request?' : 'Deny this request?';
    $('approval-dialog-what').textContent = approve
      ? `${approval.actor} may then send ${approval.method} ${target} once, exactly as shown, within the next minutes. Any other request stays refused.`
      : `${approval.actor} will not be able to send ${approval.method} ${target}.`;
    $('approval-note').value = '';
    const confirm = $('approval-confirm');
    confirm.textContent = approve ? 'Approve once' : 'Deny';
    confirm.className = `btn ${approve ? 'btn--primary' : 'btn--danger'}`;
    const dialog = $('approval-dialog');
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    $('approval-cancel').focus();
  }

  function close() {
    const dialog = $('approval-dialog');
    if (typeof dialog.close === 'function' && dialog.open) dialog.close();
    else dialog.removeAttribute('open');
    if (pending && pending.opener && pending.opener.isConnected) pending.opener.focus();
    pending = null;
  }

  async function confirmDecision() {
    if (!pending) return;
    const { approval, verdict } = pending;
    const button = $('approval-confirm');
    button.disabled = true;
    const note = $('approval-note').value.trim();
    try {
      const decided = await api('POST', `/approvals/${encodeURIComponent(approval.id)}/${verdict}`, note ? { note } : {});
      close();
      say(decided.status === 'approved'
        ? `Approved: ${approval.method} ${approval.path} may be sent once until ${formatTime(decided.expires_at)}.`
        : `Denied: ${approval.method} ${approval.path}.`);
    } catch (error) {
      close();
      say(error.status === 409
        ? 'This request is no longer waiting for approval (it was decided, expired or voided meanwhile).'
        : `The decision was not recorded: ${error.message}`, true);
    } finally {
      button.disabled = false;
      await load();
    }
  }

  function init() {
    $('approvals-refresh').addEventListener('click', () => { say(''); load(); });
    $('approval-cancel').addEventListener('click', close);
    $('approval-confirm').addEventListener('click', confirmDecision);
    $('approval-dialog').addEventListener('cancel', () => { pending = null; });
    // The token is set or forgotten by app.js (its handlers run first).
    $('token-form').addEventListener('submit', () => setTimeout(load, 0));
    $('token-forget').addEventListener('click', () => setTimeout(load, 0));
    $('status-refresh').addEventListener('click', load);
    document.body.dataset.approvalsReady = 'true';
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());

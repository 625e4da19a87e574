// What every section of the admin page shares (app.js, approvals.js, changes.js,
// checkpoint.js, webhooks.js): the admin token of this tab, management API calls with
// it, how a failed call reads, element building, times, dialogs and lists.
// Plain JavaScript, no dependencies; loaded before the sections, as window.SupportAccess.
'use strict';

window.SupportAccess = (function () {
  const API = '/support-access/v1';
  const TOKEN_KEY = 'support-access.admin-token';

  const $ = (id) => document.getElementById(id);

  // An element with attributes (`class`, `text`, any other; null/false leave one out)
  // and children (nodes or text).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // ---------------------------------------------------------------- the token

  // The token lives in sessionStorage (this tab only); in memory where that is refused.
  let memoryToken = '';

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
    } catch (_) {
      return memoryToken;
    }
  }

  function setToken(value) {
    memoryToken = value || '';
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // sessionStorage unavailable: the token then lives only in memory until reload.
    }
  }

  // Runs `reload` whenever app.js has taken or forgotten a token (its handlers run
  // first, so `reload` comes a turn later).
  function onTokenChange(reload) {
    const later = () => setTimeout(reload, 0);
    $('token-form').addEventListener('submit', later);
    $('token-forget').addEventListener('click', later);
  }

  // ---------------------------------------------------------------- API calls

  class ApiError extends Error {
    constructor(status, code, message, body) {
      super(message || code || `HTTP ${status}`);
      this.status = status;
      this.code = code || '';
      this.serverMessage = message || '';
      this.body = body || null;
    }
  }

  // A management call with the tab's token; resolves to the Response, whatever its
  // status. An unreachable gateway is an ApiError with status 0.
  async function request(method, path, body, accept) {
    const headers = { Accept: accept || 'application/json', Authorization: `Bearer ${token()}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    try {
      return await fetch(API + path, init);
    } catch (err) {
      throw new ApiError(0, 'network', String(err && err.message ? err.message : err));
    }
  }

  // The ApiError of a failed answer, with the body's `error`, `message` and details.
  async function errorOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    const details = body && typeof body.details === 'object' && body.details ? body.details : null;
    const code = body && (typeof body.error === 'string' ? body.error : details && details.error);
    const message = body && typeof body.message === 'string' ? body.message : '';
    return new ApiError(response.status, code, message, details ? { ...details, ...body } : body);
  }

  // A management call; resolves to the JSON answer (null for none), or throws ApiError.
  async function api(method, path, body) {
    const response = await request(method, path, body);
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // What went wrong, in a phrase: the gateway's own message where it gave one.
  function problem(error) {
    if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
    if (error.status === 0) return 'the gateway could not be reached. Check the connection and try again.';
    if (error.serverMessage) return error.serverMessage;
    if (error.status === 401) return 'the admin token is missing, invalid or expired. Paste a fresh token.';
    if (error.status === 403) return 'this token does not belong to an administrator of this account.';
    return `the gateway answered HTTP ${error.status}${error.code ? ` (${error.code})` : ''}.`;
  }

  // ---------------------------------------------------------------- showing things

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  // An RFC 3339 time as local date and time to the second; anything else as it is.
  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso || '') : timeFormat.format(date);
  }

  // A section's status line: a sentence, marked as an error or not; '' hides it.
  function say(node, text, isError) {
    node.textContent = text || '';
    node.classList.toggle('status-line--error', Boolean(text && isError));
  }

  // Fills `list` with one rendered node per item; `empty` says `emptyText` when none.
  function renderList(list, empty, items, render, emptyText) {
    list.replaceChildren(...items.map(render));
    if (empty) {
      empty.hidden = items.length > 0;
      if (emptyText !== undefined) empty.textContent = emptyText;
    }
  }

  // A modal <dialog>, with the focus on `focus` (its safe choice).
  function openDialog(dialog, focus) {
    if (!dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    }
    if (focus) focus.focus();
  }

  // Closes it; the focus goes back to `returnTo` (what opened it) while it is on the page.
  function closeDialog(dialog, returnTo) {
    if (typeof dialog.close === 'function' && dialog.open) dialog.close();
    else dialog.removeAttribute('open');
    if (returnTo && returnTo.isConnected) returnTo.focus();
  }

  return Object.freeze({
    API, $, el, token, setToken, onTokenChange, ApiError, request, errorOf, api, problem,
    formatTime, say, renderList, openDialog, closeDialog,
  });
}());

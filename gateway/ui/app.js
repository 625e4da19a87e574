// Support Access admin page. Plain JavaScript, no dependencies, no build step.
// Talks only to the management API at /support-access/v1 on the same origin, with the
// admin's bearer token, which lives in sessionStorage for this tab only (common.js
// keeps it and makes the calls).
'use strict';

(function () {
  const {
    $, el, token: currentToken, setToken, ApiError, request: call, errorOf, api, openDialog, closeDialog,
    formatTime: formatEventTime,
  } = window.SupportAccess;
  const DAY = 86400;
  const DEFAULT_BOUNDS = { min_duration_seconds: DAY, max_duration_seconds: 365 * DAY };
  const PAGE_SIZE = 25;

  // The restriction catalogue (crates/core/src/restriction.rs), by number.
  const RESTRICTIONS = {
    1: 'Open or use the Support Access settings',
    2: 'Change user details of other users',
    3: 'Use Tab Groups, Mail Merge, Trusted Domains, Workflow actions by Zoho Flow',
    4: 'Manage the account subscription',
    5: 'Send email',
    6: 'Change email permissions (mass email, autoresponders, scheduled mass email, workflow emails)',
    7: 'Export: export, data backup',
    8: 'Export reports',
    9: 'Export the audit log',
    10: 'Generate ZSC keys',
    11: 'Use anything in Setup > Company Details',
    12: 'Change admin-level permissions',
    13: 'Set up integrations',
    14: 'Copy customization',
    15: 'Change connections (view only)',
    16: 'Use the Marketplace',
    17: 'Be the target of assignment rules',
    18: 'Use Channels',
    19: 'Use Sheet and Print view',
    20: 'Pick dates more than 5 years from now',
    21: 'Ask Zia chatbot',
    22: 'Conversation AI in the Zia tab',
    23: 'Zia Voice in the developer space',
    24: 'Create online meetings',
    25: 'Use Data Enrichment',
    26: 'Voice of Customer',
    27: 'Zia Vision',
    28: 'Zia Voice',
    29: 'Zoho Survey',
    30: 'Build connections',
    31: 'Client Script',
    32: 'Social',
  };

  // Audit event kinds, in the order the filter offers them.
  const KINDS = {
    'grant.created': 'Access granted',
    'grant.changed': 'End date changed',
    'grant.revoked': 'Access revoked',
    'grant.expired': 'Access expired',
    'token.issued': 'Support signed in',
    'seat.released': 'Seat released',
    'request.allowed': 'Request allowed',
    'request.blocked': 'Request blocked',
    'request.completed': 'Request completed',
    'change.recorded': 'Support changed records',
    'change.reverted': 'Change put back',
    'approval.requested': 'Approval requested',
    'approval.approved': 'Approval granted',
    'approval.denied': 'Approval denied',
    'approval.used': 'Approval used',
  };
  // For approvals.js, which names the restriction of each approval request.
  window.SupportAccessRestrictions = RESTRICTIONS;

  // What each error code of the API means to an administrator.
  const ERRORS = {
    // The grant and its end date.
    no_grant: 'Support access has never been granted for this account.',
    no_active_grant: 'There is no active support access to change or revoke. It may have been revoked or have expired meanwhile.',
    grant_already_active: 'Support access is already active. Change its end date or revoke it first.',
    grant_too_short: 'The end date is too soon: access must last at least {min}.',
    grant_too_long: 'The end date is too far away: access can last at most {max}.',
    end_date_in_past: 'The end date is in the past. Choose a later date.',
    invalid_date: 'The end date was not understood. Choose the day from the date picker.',
    // The admin's token.
    token_missing: 'No admin token was sent. Paste an administrator token.',
    token_malformed: 'The admin token is not a valid token. Paste the whole token again.',
    token_scheme_refused: 'The token was sent with an authorization scheme the gateway does not accept.',
    token_claim_missing: 'The admin token lacks a required claim (organisation, subject or roles). Ask for a new token.',
    token_header_refused: 'The admin token was refused because of its header. Ask for a new token.',
    token_algorithm_refused: 'The admin token is signed with an algorithm the gateway does not accept.',
    token_unknown_key: 'The admin token is signed with a key the gateway does not know. Sign in to the CRM again and paste a fresh token.',
    token_signature_invalid: 'The admin token\'s signature is invalid. Paste the whole token again.',
    token_wrong_issuer: 'The admin token was issued by an identity provider this gateway does not trust.',
    token_wrong_audience: 'The admin token is meant for another service.',
    token_expired: 'Your admin token has expired. Sign in to the CRM again and paste a fresh token.',
    token_not_yet_valid: 'Your admin token is not valid yet. Check the computer\'s clock, or wait a minute.',
    several_authorization_headers: 'The request carried several tokens and was refused.',
    not_an_admin: 'This token does not belong to an administrator of this account. Only administrators can manage Support Access.',
    wrong_token_kind: 'This is not a CRM administrator\'s token. Paste the token of an administrator of this account.',
    not_support_staff: 'This token does not belong to an administrator of this account.',
    support_access_restricted: 'Support users cannot open or use the Support Access settings.',
    // The audit log.
    invalid_cursor: 'That page of the audit log is no longer available. The list was reloaded from the start.',
    invalid_query: 'The audit filters were not accepted: {message}',
    invalid_kind: 'The event filter was not accepted. Choose an event from the list.',
    invalid_decision: 'The decision filter was not accepted. Choose Allowed or Blocked.',
    invalid_grant: 'The grant filter was not accepted.',
    invalid_support_user: 'The support user filter was not accepted.',
    invalid_limit: 'The page size was not accepted.',
    invalid_format: 'That export format is not offered. Choose CSV or JSONL.',
    // Anything else.
    invalid_body: 'The gateway did not accept the request: {message}',
    malformed_json: 'The gateway did not accept the request: {message}',
    body_too_large: 'The request was too large.',
    store_unavailable: 'The gateway cannot reach its database right now. Nothing was changed. Try again in a moment.',
    rate_limited: 'Too many requests. Wait a moment and try again.',
  };

  // ---------------------------------------------------------------- helpers

  const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
  });

  function formatDateTime(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso) : dateTimeFormat.format(date);
  }

  function formatDuration(seconds) {
    const days = Math.round(seconds / DAY);
    if (seconds >= DAY && seconds % DAY === 0) return days === 1 ? '1 day' : `${days} days`;
    const hours = Math.round(seconds / 3600);
    return hours === 1 ? '1 hour' : `${hours} hours`;
  }

  // A local calendar date as the value of <input type="date">.
  function isoDate(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  function parseIsoDate(value) {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
    if (!match) return null;
    return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  }

  function addDays(date, days) {
    const copy = new Date(date.getTime());
    copy.setDate(copy.getDate() + days);
    return copy;
  }

  function tomorrow() {
    const now = new Date();
    return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  }

  // ---------------------------------------------------------------- state

  const state = {
    bounds: { ...DEFAULT_BOUNDS },
    grant: null, // the last grant the API returned, or null
    audit: { cursors: [null], page: 0, next: null, loaded: false, filters: {} },
    actorsSeen: new Set(),
    exportUrl: null,
  };

  // ---------------------------------------------------------------- messages

  let noticeTimer = null;

  function notify(text) {
    clearAlert();
    const notice = $('notice');
    notice.textContent = text;
    notice.classList.add('notice--visible');
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      notice.textContent = '';
      notice.classList.remove('notice--visible');
    }, 8000);
  }

  function alertError(text) {
    const alert = $('alert');
    alert.textContent = text;
    alert.classList.add('notice--visible');
  }

  // Shows why a call failed; a refused token brings the token field back.
  function failed(error) {
    alertError(explain(error));
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      $('token-form').hidden = false;
      $('token-set').hidden = true;
    }
  }

  function clearAlert() {
    const alert = $('alert');
    alert.textContent = '';
    alert.classList.remove('notice--visible');
  }

  // ---------------------------------------------------------------- API client

  // A sentence for an administrator, for any failure of an API call.
  function explain(error) {
    if (!(error instanceof ApiError)) return `Something went wrong: ${error && error.message ? error.message : error}`;
    if (error.status === 0) {
      return 'The gateway could not be reached. Check the connection and try again.';
    }
    const template = ERRORS[error.code];
    if (template) {
      return template
        .replace('{min}', formatDuration(state.bounds.min_duration_seconds))
        .replace('{max}', formatDuration(state.bounds.max_duration_seconds))
        .replace('{message}', error.serverMessage || `HTTP ${error.status}`);
    }
    if (error.body && error.body.restriction === 1) return ERRORS.support_access_restricted;
    switch (error.status) {
      case 401: return 'Your admin token is missing, invalid or expired. Paste a fresh token.';
      case 403: return ERRORS.not_an_admin;
      case 404: return error.serverMessage || 'Not found.';
      case 409: return error.serverMessage || 'The request conflicts with the current state. Refresh and try again.';
      case 413: return ERRORS.body_too_large;
      case 422: return error.serverMessage || 'The gateway could not accept these values.';
      case 429: return ERRORS.rate_limited;
      case 502:
      case 503:
      case 504:
        return `The gateway is temporarily unable to answer (HTTP ${error.status}). Try again in a moment.`;
      default:
        break;
    }
    const detail = error.serverMessage ? `: ${error.serverMessage}` : '.';
    return `The request failed (HTTP ${error.status}${error.code ? `, ${error.code}` : ''})${detail}`;
  }

  function requireToken() {
    if (currentToken()) return true;
    alertError('Paste an administrator token first.');
    $('token-input').focus();
    return false;
  }

  // ---------------------------------------------------------------- token panel

  function showTokenState(focusInput) {
    const has = Boolean(currentToken());
    $('token-form').hidden = has;
    $('token-set').hidden = !has;
    if (focusInput && !has) $('token-input').focus();
  }

  async function useToken(event) {
    event.preventDefault();
    const raw = $('token-input').value.trim().replace(/^(Bearer|Zoho-oauthtoken)\s+/i, '');
    if (!raw) {
      alertError('The token field is empty. Paste an administrator token.');
      $('token-input').focus();
      return;
    }
    setToken(raw);
    $('token-input').value = '';
    showTokenState();
    clearAlert();
    const error = await loadAll();
    if (!error) {
      notify('Token accepted.');
    } else if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      // A refused token is not kept.
      setToken('');
      showTokenState(true);
      renderGrant(null, 'unknown');
    }
  }

  function forgetToken() {
    setToken('');
    showTokenState(true);
    state.grant = null;
    renderGrant(null, 'unknown');
    clearAudit();
    notify('The token was forgotten.');
  }

  // ---------------------------------------------------------------- settings

  async function loadBounds() {
    const response = await call('GET', '/settings');
    if (response.status === 404 || response.status === 405) {
      state.bounds = { ...DEFAULT_BOUNDS };
      return;
    }
    if (!response.ok) throw await errorOf(response);
    const body = await response.json();
    const min = Number(body && body.min_duration_seconds);
    const max = Number(body && body.max_duration_seconds);
    state.bounds = {
      min_duration_seconds: Number.isFinite(min) && min > 0 ? min : DEFAULT_BOUNDS.min_duration_seconds,
      max_duration_seconds: Number.isFinite(max) && max > 0 ? max : DEFAULT_BOUNDS.max_duration_seconds,
    };
  }

  // The first and last day the date pickers offer.
  function pickerRange() {
    const now = new Date();
    const minDays = Math.max(1, Math.ceil(state.bounds.min_duration_seconds / DAY));
    let first = addDays(new Date(now.getFullYear(), now.getMonth(), now.getDate()), minDays);
    if (first < tomorrow()) first = tomorrow();
    const last = new Date(now.getTime() + state.bounds.max_duration_seconds * 1000);
    const lastDay = new Date(last.getFullYear(), last.getMonth(), last.getDate());
    return { first, last: lastDay < first ? first : lastDay };
  }

  function setupPickers() {
    const { first, last } = pickerRange();
    const help = `Earliest ${dateOnly(first)}, latest ${dateOnly(last)} (at most ${formatDuration(state.bounds.max_duration_seconds)}). Access ends at the end of the chosen day.`;
    for (const id of ['grant-end', 'change-end']) {
      const input = $(id);
      input.min = isoDate(first);
      input.max = isoDate(last);
      $(`${id}-help`).textContent = help;
    }
    const grantEnd = $('grant-end');
    if (!grantEnd.value) {
      const week = addDays(first, 6);
      grantEnd.value = isoDate(week > last ? last : week);
    }
  }

  function dateOnly(date) {
    return date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
  }

  // The instant access ends for a picked day: the end of that local day, kept inside
  // the configured bounds counted from now.
  function endInstant(value) {
    const day = parseIsoDate(value);
    if (!day) return { error: 'Choose the day access ends.' };
    const { first, last } = pickerRange();
    if (day < first) return { error: `Choose a day from ${dateOnly(first)} on.` };
    if (day > last) return { error: `Choose a day no later than ${dateOnly(last)}.` };
    const now = Date.now();
    let end = new Date(day.getFullYear(), day.getMonth(), day.getDate(), 23, 59, 59).getTime();
    const latest = now + state.bounds.max_duration_seconds * 1000 - 60 * 1000;
    const earliest = now + state.bounds.min_duration_seconds * 1000 + 60 * 1000;
    if (end > latest) end = latest;
    if (end < earliest) end = earliest;
    return { iso: new Date(Math.floor(end / 1000) * 1000).toISOString().replace('.000Z', 'Z') };
  }

  function fieldError(input, message) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    alertError(message);
  }

  function clearFieldError(input) {
    input.removeAttribute('aria-invalid');
  }

  async function loadGrant() {
    try {
      const grant = await api('GET', '/grant');
      state.grant = grant;
      renderGrant(grant, grant && grant.status);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404 && (error.code === 'no_grant' || !error.code)) {
        state.grant = null;
        renderGrant(null, 'none');
        return;
      }
      renderGrant(null, 'unknown');
      throw error;
    }
  }

  function renderGrant(grant, status) {
    const statusBox = $('status');
    const badge = $('status-badge');
    const text = $('status-text');
    statusBox.dataset.status = status || 'unknown';
    const hasToken = Boolean(currentToken());
    let badgeText = 'Unknown';
    let badgeClass = 'badge--muted';
    let sentence = hasToken
      ? 'The status could not be loaded.'
      : 'Paste an admin token to see the current status.';
    if (status === 'none') {
      badgeText = 'Off';
      sentence = 'Not granted. The vendor\'s support cannot access this account.';
    } else if (grant && status === 'active') {
      badgeText = 'Active';
      badgeClass = 'badge--ok';
      sentence = `Active until ${formatDateTime(grant.expires_at)}`;
    } else if (grant && status === 'revoked') {
      badgeText = 'Revoked';
      badgeClass = 'badge--danger';
      sentence = `Revoked ${formatDateTime(grant.revoked_at)}${grant.revoked_by ? ` by ${grant.revoked_by}` : ''}. Support can no longer access this account.`;
    } else if (grant && status === 'expired') {
      badgeText = 'Expired';
      badgeClass = 'badge--warn';
      sentence = `Expired ${formatDateTime(grant.expires_at)}. Support can no longer access this account.`;
    }
    badge.textContent = badgeText;
    badge.className = `badge ${badgeClass}`;
    text.textContent = sentence;

    const details = $('grant-details');
    details.hidden = !grant;
    if (grant) {
      $('d-support-user').textContent = grant.support_user || '—';
      // Only an active grant has a seat holder; a closed grant's last holder holds nothing.
      const seat = status === 'active' ? grant.seat : null;
      $('d-seat').textContent = seat && seat.holder
        ? `Held by ${seat.holder} since ${formatDateTime(seat.claimed_at)}`
        : status === 'active' ? 'Free: no support engineer is signed in' : '—';
      $('d-created').textContent = `${formatDateTime(grant.created_at)}${grant.created_by ? ` by ${grant.created_by}` : ''}`;
      $('d-expires').textContent = formatDateTime(grant.expires_at);
      $('d-revoked-row').hidden = !grant.revoked_at;
      $('d-revoked').textContent = grant.revoked_at
        ? `${formatDateTime(grant.revoked_at)}${grant.revoked_by ? ` by ${grant.revoked_by}` : ''}`
        : '';
      $('d-reason').textContent = grant.reason || '—';
      $('d-ticket').textContent = grant.ticket || '—';
      $('d-grant-id').textContent = grant.id || '—';
    }

    const active = status === 'active';
    $('grant-card').hidden = !hasToken || active || status === 'unknown';
    $('change-card').hidden = !active;
    $('revoke-card').hidden = !active;
    if (active) {
      const current = new Date(grant.expires_at);
      const { first, last } = pickerRange();
      let day = new Date(current.getFullYear(), current.getMonth(), current.getDate());
      if (day < first) day = first;
      if (day > last) day = last;
      $('change-end').value = isoDate(day);
    }
  }

  // Grant and change share the end date's checks, the call and how its refusal reads:
  // `send(iso)` makes the call, `done(grant)` tells of it, `stale(error)` says when the
  // grant shown is out of date.
  async function submitEndDate(event, ids, send, done, stale) {
    event.preventDefault();
    if (!requireToken()) return;
    const input = $(ids.input);
    clearFieldError(input);
    const end = endInstant(input.value);
    if (end.error) {
      fieldError(input, end.error);
      return;
    }
    const button = $(ids.button);
    button.disabled = true;
    try {
      const grant = await send(end.iso);
      state.grant = grant;
      renderGrant(grant, grant.status);
      done(grant);
      invalidateAudit();
    } catch (error) {
      if (error instanceof ApiError && ['grant_too_short', 'grant_too_long', 'end_date_in_past'].includes(error.code)) {
        fieldError(input, explain(error));
      } else {
        failed(error);
      }
      if (error instanceof ApiError && stale(error)) await refreshGrantQuietly();
    } finally {
      button.disabled = false;
    }
  }

  function submitGrant(event) {
    return submitEndDate(event, { input: 'grant-end', button: 'grant-submit' }, (iso) => {
      const body = { expires_at: iso };
      const reason = $('grant-reason').value.trim();
      const ticket = $('grant-ticket').value.trim();
      if (reason) body.reason = reason;
      if (ticket) body.ticket = ticket;
      return api('POST', '/grant', body);
    }, (grant) => {
      $('grant-reason').value = '';
      $('grant-ticket').value = '';
      notify(`Support access granted until ${formatDateTime(grant.expires_at)}.`);
    }, (error) => error.code === 'grant_already_active');
  }

  function submitChange(event) {
    return submitEndDate(event, { input: 'change-end', button: 'change-submit' },
      (iso) => api('PATCH', '/grant', { expires_at: iso }),
      (grant) => notify(`The end date is now ${formatDateTime(grant.expires_at)}.`),
      (error) => error.status === 404);
  }

  function openRevoke() {
    if (!requireToken()) return;
    const grant = state.grant;
    const seat = grant && grant.seat && grant.seat.holder;
    $('revoke-dialog-what').textContent = grant
      ? `Support access ends immediately. The hidden support user ${grant.support_user} can no longer sign in, and its very next request is refused.`
      : 'Support access ends immediately, and the support user\'s very next request is refused.';
    $('revoke-dialog-seat').textContent = seat
      ? `${seat} is signed in as the support user and loses access now.`
      : 'No support engineer is signed in right now.';
    openDialog($('revoke-dialog'), $('revoke-cancel'));
  }

  function closeRevoke() {
    closeDialog($('revoke-dialog'), $('revoke-open'));
  }

  async function confirmRevoke() {
    const button = $('revoke-confirm');
    button.disabled = true;
    try {
      await api('DELETE', '/grant');
      closeDialog($('revoke-dialog'));
      await refreshGrantQuietly();
      notify('Support access was revoked. The support user\'s next request is refused.');
      invalidateAudit();
      $('status-heading').focus();
    } catch (error) {
      closeRevoke();
      failed(error);
      if (error instanceof ApiError && error.status === 404) await refreshGrantQuietly();
    } finally {
      button.disabled = false;
    }
  }

  async function refreshGrantQuietly() {
    try {
      await loadGrant();
    } catch (error) {
      failed(error);
    }
  }

  // ---------------------------------------------------------------- audit log

  function readFilters() {
    const filters = {};
    const actor = $('f-actor').value.trim();
    if (actor) filters.actor = actor;
    if ($('f-kind').value) filters.kind = $('f-kind').value;
    if ($('f-decision').value) filters.decision = $('f-decision').value;
    for (const [id, key] of [['f-from', 'from'], ['f-to', 'to']]) {
      const value = $(id).value;
      if (value) {
        const date = new Date(value);
        if (!Number.isNaN(date.getTime())) filters[key] = date.toISOString();
      }
    }
    return filters;
  }

  function query(filters, extra) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...filters, ...extra })) {
      if (value !== null && value !== undefined && value !== '') params.set(key, value);
    }
    const text = params.toString();
    return text ? `?${text}` : '';
  }

  function invalidateAudit() {
    state.audit.loaded = false;
    if (!$('panel-audit').hidden) loadAudit(true);
  }

  function clearAudit() {
    state.audit = { cursors: [null], page: 0, next: null, loaded: false, filters: {} };
    $('audit-rows').replaceChildren();
    $('audit-summary').textContent = 'No events loaded.';
    $('page-prev').disabled = true;
    $('page-next').disabled = true;
  }

  async function loadAudit(fromStart) {
    if (!currentToken()) {
      clearAudit();
      $('audit-summary').textContent = 'Paste an admin token to see the audit log.';
      return;
    }
    const audit = state.audit;
    if (fromStart) {
      audit.cursors = [null];
      audit.page = 0;
      audit.filters = readFilters();
    }
    const table = $('audit-table');
    table.setAttribute('aria-busy', 'true');
    try {
      const cursor = audit.cursors[audit.page];
      const page = await api('GET', `/audit${query(audit.filters, { cursor, limit: PAGE_SIZE })}`);
      const events = (page && Array.isArray(page.events)) ? page.events : [];
      audit.next = page && page.next_cursor ? page.next_cursor : null;
      audit.loaded = true;
      renderEvents(events);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'invalid_cursor' && !fromStart) {
        failed(error);
        await loadAudit(true);
        return;
      }
      failed(error);
    } finally {
      table.removeAttribute('aria-busy');
    }
  }

  // One request is one row (SPEC §8): a request.completed event is folded into the
  // request.allowed event of the same request id when both are on the page; the row
  // stands at the request's start and shows how it ended.
  function requestRows(events) {
    const completions = new Map();
    for (const event of events) {
      if (event.kind === 'request.completed' && event.request_id) {
        completions.set(event.request_id, event);
      }
    }
    const folded = new Set();
    for (const event of events) {
      if (event.kind === 'request.allowed' && completions.has(event.request_id)) {
        folded.add(event.request_id);
      }
    }
    return events
      .filter((event) => !(event.kind === 'request.completed' && folded.has(event.request_id)))
      .map((event) => (event.kind === 'request.allowed' && folded.has(event.request_id)
        ? Object.assign({}, event, { completion: completions.get(event.request_id) })
        : event));
  }

  function renderEvents(events) {
    const rows = requestRows(events).map(eventRow);
    if (rows.length === 0) {
      rows.push(el('tr', { class: 'audit__empty' },
        el('td', { colspan: 5, text: Object.keys(state.audit.filters).length
          ? 'No events match these filters.'
          : 'No events yet.' })));
    }
    $('audit-rows').replaceChildren(...rows);
    const audit = state.audit;
    const first = audit.page * PAGE_SIZE + 1;
    const filtered = Object.keys(audit.filters).length > 0;
    $('audit-summary').textContent = events.length
      ? `Page ${audit.page + 1}: events ${first}–${first + events.length - 1}${audit.next ? ', more on the next page' : ''}${filtered ? ' (filtered)' : ''}.`
      : `Page ${audit.page + 1}: no events${filtered ? ' match these filters' : ''}.`;
    $('page-prev').disabled = audit.page === 0;
    $('page-next').disabled = !audit.next;

    for (const event of events) {
      if (event.actor) state.actorsSeen.add(event.actor);
    }
    const list = $('actor-list');
    list.replaceChildren(...[...state.actorsSeen].sort().map((actor) => el('option', { value: actor })));
  }

  function eventRow(event) {
    const kind = event.kind || '';
    const blocked = kind === 'request.blocked';
    const row = el('tr', {
      class: `audit__row${blocked ? ' audit__row--blocked' : ''}`,
      'data-kind': kind,
      'data-actor': event.actor || '',
      'data-id': event.id || '',
      'data-completed-by': event.completion ? event.completion.id || '' : null,
      'data-seq': event.seq,
    });

    row.append(el('td', { 'data-label': 'Time' },
      el('time', { datetime: event.at || '', title: event.at || '' }, formatEventTime(event.at))));

    row.append(el('td', { 'data-label': 'Event' },
      el('span', { class: 'event-kind' }, KINDS[kind] || kind),
      el('span', { class: 'event-code mono' }, kind)));

    row.append(el('td', { 'data-label': 'Actor', class: 'mono actor' }, event.actor || '—'));

    const request = el('td', { 'data-label': 'Request' });
    if (event.method || event.path) {
      request.append(el('span', { class: 'mono request' },
        el('span', { class: 'method' }, event.method || ''), ' ', event.path || ''));
    } else {
      request.append(el('span', { class: 'muted' }, lifecycleText(event)));
    }
    row.append(request);

    const outcome = el('td', { 'data-label': 'Outcome', class: 'outcome' });
    if (blocked) {
      const number = event.restriction;
      const title = RESTRICTIONS[number];
      outcome.append(el('span', { class: 'badge badge--danger' }, 'Blocked'));
      if (event.status) outcome.append(el('span', { class: 'muted' }, `HTTP ${event.status}`));
      if (number) {
        outcome.append(el('span', { class: 'restriction', 'data-restriction': number },
          `Restriction ${number}${title ? `: ${title}` : ''}`));
      } else {
        outcome.append(el('span', { class: 'refusal' }, refusalText(event.status)));
      }
      if (event.rule) outcome.append(el('span', { class: 'rule mono' }, `rule ${event.rule}`));
    } else if (kind === 'request.allowed' && event.completion) {
      const done = event.completion;
      const ok = done.status && done.status < 400;
      outcome.append(el('span', { class: 'badge badge--ok' }, 'Allowed'));
      outcome.append(el('span', { class: `badge ${ok ? 'badge--ok' : 'badge--warn'}` }, done.status ? `HTTP ${done.status}` : 'Completed'));
      if (done.latency_ms !== null && done.latency_ms !== undefined) {
        outcome.append(el('span', { class: 'muted' }, `${done.latency_ms} ms`));
      }
    } else if (kind === 'request.allowed') {
      outcome.append(el('span', { class: 'badge badge--ok' }, 'Allowed'));
    } else if (kind === 'request.completed') {
      const ok = event.status && event.status < 400;
      outcome.append(el('span', { class: `badge ${ok ? 'badge--ok' : 'badge--warn'}` }, event.status ? `HTTP ${event.status}` : 'Completed'));
      if (event.latency_ms !== null && event.latency_ms !== undefined) {
        outcome.append(el('span', { class: 'muted' }, `${event.latency_ms} ms`));
      }
    } else {
      const [label, tone] = LIFECYCLE_BADGES[kind] || ['Recorded', 'badge--info'];
      outcome.append(el('span', { class: `badge ${tone}` }, label));
    }
    row.append(outcome);
    return row;
  }

  const LIFECYCLE_BADGES = {
    'grant.created': ['Granted', 'badge--info'],
    'grant.changed': ['Changed', 'badge--info'],
    'grant.revoked': ['Revoked', 'badge--muted'],
    'grant.expired': ['Expired', 'badge--muted'],
    'token.issued': ['Signed in', 'badge--info'],
    'seat.released': ['Signed out', 'badge--muted'],
    'change.recorded': ['Records changed', 'badge--warn'],
    'change.reverted': ['Put back', 'badge--info'],
  };

  // What a lifecycle event means, in a sentence (they carry no request).
  function lifecycleText(event) {
    const who = event.actor || 'someone';
    const details = [];
    if (event.reason) details.push(`Reason: ${event.reason}`);
    if (event.ticket) details.push(`Ticket: ${event.ticket}`);
    const suffix = details.length ? ` (${details.join(' · ')})` : '';
    switch (event.kind) {
      case 'grant.created': return `${who} granted support access${suffix}`;
      case 'grant.changed': return `${who} changed the end date`;
      case 'grant.revoked': return `${who} revoked support access`;
      case 'grant.expired': return 'Support access reached its end date';
      case 'token.issued': return `${who} took the support seat and got a support token`;
      case 'seat.released': return `${who} released the support seat`;
      default: return details.join(' · ') || '—';
    }
  }

  // Why a request without a restriction was refused, from its status.
  function refusalText(status) {
    switch (status) {
      case 400: return 'Refused: malformed or ambiguous request';
      case 401: return 'Refused: access had ended, or the engineer did not hold the seat';
      case 403: return 'Refused by the route policy';
      case 413: return 'Refused: request body too large';
      case 503: return 'Refused: the audit log could not record it';
      default: return 'Refused';
    }
  }

  async function nextPage() {
    const audit = state.audit;
    if (!audit.next) return;
    audit.cursors[audit.page + 1] = audit.next;
    audit.page += 1;
    await loadAudit(false);
  }

  async function previousPage() {
    const audit = state.audit;
    if (audit.page === 0) return;
    audit.page -= 1;
    await loadAudit(false);
  }

  async function exportAudit(format) {
    if (!requireToken()) return;
    const button = $(`export-${format}`);
    button.disabled = true;
    const result = $('export-result');
    try {
      // The filters of the rows on screen, so the file matches the table.
      const filters = state.audit.loaded ? state.audit.filters : readFilters();
      const response = await call('GET', `/audit/export${query(filters, { format })}`);
      if (!response.ok) throw await errorOf(response);
      const blob = await response.blob();
      if (state.exportUrl) URL.revokeObjectURL(state.exportUrl);
      state.exportUrl = URL.createObjectURL(blob);
      const name = fileName(response, format);
      const link = el('a', { href: state.exportUrl, download: name, id: 'export-link' }, `Download ${name}`);
      result.replaceChildren('Export ready: ', link, ` (${formatBytes(blob.size)}).`);
      result.hidden = false;
      link.click();
      notify(`The audit log export ${name} is ready.`);
    } catch (error) {
      failed(error);
    } finally {
      button.disabled = false;
    }
  }

  function fileName(response, format) {
    const disposition = response.headers.get('Content-Disposition') || '';
    const match = /filename="?([^";]+)"?/i.exec(disposition);
    if (match && /^[\w.-]+$/.test(match[1])) return match[1];
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
    return `support-access-audit-${stamp}.${format}`;
  }

  function formatBytes(size) {
    if (size < 1024) return `${size} bytes`;
    if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
    return `${(size / 1024 / 1024).toFixed(1)} MiB`;
  }

  // ---------------------------------------------------------------- tabs

  const TABS = [
    { tab: 'tab-settings', panel: 'panel-settings', hash: '#settings', crumb: 'Support Access' },
    { tab: 'tab-audit', panel: 'panel-audit', hash: '#audit', crumb: 'Audit Log' },
  ];

  function selectTab(index, focus) {
    TABS.forEach((entry, i) => {
      const selected = i === index;
      const tab = $(entry.tab);
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      $(entry.panel).hidden = !selected;
    });
    const entry = TABS[index];
    $('crumb-current').textContent = entry.crumb;
    $('lede-settings').hidden = index !== 0;
    $('lede-audit').hidden = index !== 1;
    $('page-title').textContent = entry.crumb;
    document.title = `${entry.crumb} · Setup`;
    if (location.hash !== entry.hash) history.replaceState(null, '', entry.hash);
    if (focus) $(entry.tab).focus();
    if (entry.panel === 'panel-audit' && !state.audit.loaded) loadAudit(true);
  }

  function tabKeys(event) {
    const current = TABS.findIndex((entry) => entry.tab === event.target.id);
    if (current < 0) return;
    let next = null;
    if (event.key === 'ArrowRight') next = (current + 1) % TABS.length;
    else if (event.key === 'ArrowLeft') next = (current + TABS.length - 1) % TABS.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = TABS.length - 1;
    if (next !== null) {
      event.preventDefault();
      selectTab(next, true);
    }
  }

  // ---------------------------------------------------------------- start

  // Loads the bounds, the grant and (when shown) the audit log; returns the error
  // that stopped it, or null.
  async function loadAll() {
    if (!currentToken()) {
      renderGrant(null, 'unknown');
      return null;
    }
    try {
      await loadBounds();
      setupPickers();
      await loadGrant();
      if (!$('panel-audit').hidden) await loadAudit(true);
      else state.audit.loaded = false;
      return null;
    } catch (error) {
      failed(error);
      return error;
    }
  }

  function init() {
    const kinds = $('f-kind');
    for (const [value, label] of Object.entries(KINDS)) {
      kinds.append(el('option', { value }, `${label} (${value})`));
    }
    setupPickers();
    showTokenState();

    $('token-form').addEventListener('submit', useToken);
    $('token-forget').addEventListener('click', forgetToken);
    $('token-replace').addEventListener('click', () => {
      $('token-form').hidden = false;
      $('token-set').hidden = true;
      $('token-input').focus();
    });
    $('status-refresh').addEventListener('click', () => { clearAlert(); loadAll(); });
    $('grant-form').addEventListener('submit', submitGrant);
    $('change-form').addEventListener('submit', submitChange);
    for (const id of ['grant-end', 'change-end']) {
      $(id).addEventListener('input', () => clearFieldError($(id)));
    }
    $('revoke-open').addEventListener('click', openRevoke);
    $('revoke-cancel').addEventListener('click', closeRevoke);
    $('revoke-confirm').addEventListener('click', confirmRevoke);
    $('revoke-dialog').addEventListener('cancel', () => { setTimeout(() => $('revoke-open').focus(), 0); });

    $('audit-filters').addEventListener('submit', (event) => {
      event.preventDefault();
      clearAlert();
      loadAudit(true);
    });
    $('filters-clear').addEventListener('click', () => {
      $('audit-filters').reset();
      clearAlert();
      loadAudit(true);
    });
    $('audit-refresh').addEventListener('click', () => { clearAlert(); loadAudit(true); });
    $('page-next').addEventListener('click', nextPage);
    $('page-prev').addEventListener('click', previousPage);
    $('export-csv').addEventListener('click', () => exportAudit('csv'));
    $('export-jsonl').addEventListener('click', () => exportAudit('jsonl'));

    TABS.forEach((entry, index) => {
      $(entry.tab).addEventListener('click', () => selectTab(index, false));
      $(entry.tab).addEventListener('keydown', tabKeys);
    });
    window.addEventListener('hashchange', () => {
      selectTab(location.hash === '#audit' ? 1 : 0, false);
    });
    selectTab(location.hash === '#audit' ? 1 : 0, false);

    document.body.dataset.ready = 'true';
    loadAll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());

// "Changes by support" (SPEC §11) on the admin page: every record support created,
// changed or deleted under the grant shown above, each field's before → after, who and
// when, the audit event it is tied to, and a revert behind a confirmation.
// Plain JavaScript, no dependencies. It follows the grant app.js renders (the
// `#d-grant-id` text) and uses the same admin token (sessionStorage).
'use strict';

(function () {
  const { $, el, token, api, request, errorOf, problem, formatTime: when, openDialog, closeDialog } = window.SupportAccess;
  const PAGE_SIZE = 25;
  const OPERATIONS = { create: 'Created', update: 'Changed', delete: 'Deleted', revert: 'Put back' };

  const state = { grant: null, next: null, pending: null, reportUrl: null };

  // A field value as text: JSON for anything but a string; absent is marked.
  function value(field, side) {
    if (!(side in field)) return el('span', { class: 'change__absent' }, 'absent');
    const v = field[side];
    return el('span', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v));
  }

  function entry(change) {
    const rows = change.fields.map((field) => el('tr', { 'data-field': field.name },
      el('th', { scope: 'row' }, field.name),
      el('td', { class: 'change__before' }, value(field, 'before')),
      el('td', { 'aria-hidden': 'true' }, '→'),
      el('td', { class: 'change__after' }, value(field, 'after'))));
    const table = el('table', { class: 'change__fields' },
      el('thead', null, el('tr', null,
        el('th', { scope: 'col' }, 'Field'), el('th', { scope: 'col' }, 'Before'),
        el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'to')),
        el('th', { scope: 'col' }, 'After'))),
      el('tbody', null, ...rows));
    const audit = el('a', { href: '#audit', class: 'change__audit', title: `Request ${change.request_id}` },
      `audit event #${change.audit_seq}`);
    audit.addEventListener('click', (event) => showAuditEvent(event, change));
    let action = null;
    if (change.operation === 'update' && !change.reverted_by) {
      action = el('button', { type: 'button', class: 'btn btn--secondary change__revert' }, 'Revert…');
      action.addEventListener('click', () => openRevert(change, false));
    } else if (change.reverted_by) {
      action = el('span', { class: 'badge badge--muted' }, 'Put back');
    }
    return el('li', { class: 'change', 'data-change': change.id, 'data-operation': change.operation },
      el('div', { class: 'change__head' },
        el('strong', null, `${OPERATIONS[change.operation] || change.operation} ${change.module} `,
          el('span', { class: 'mono' }, change.record)),
        action),
      table,
      el('p', { class: 'help' }, `By ${change.actor} on ${when(change.at)} · `, audit,
        el('span', { class: 'mono' }, ` · request ${change.request_id}`)));
  }

  // "YYYY-MM-DDTHH:MM" in local time, as a datetime-local input takes it.
  function localMinute(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  // Opens the audit log on the change's event: its kind, in the minute it was recorded.
  function showAuditEvent(event, change) {
    const at = new Date(change.at);
    if (Number.isNaN(at.getTime())) return;
    event.preventDefault();
    $('audit-filters').reset();
    $('f-kind').value = change.operation === 'revert' ? 'change.reverted' : 'change.recorded';
    $('f-from').value = localMinute(at);
    $('f-to').value = localMinute(new Date(at.getTime() + 60000));
    if (location.hash !== '#audit') location.hash = '#audit';
    $('audit-filters').requestSubmit();
  }

  async function load(fromStart) {
    const grant = state.grant;
    if (!grant || !token()) return;
    const params = new URLSearchParams({ grant, limit: String(PAGE_SIZE) });
    if (!fromStart && state.next) params.set('cursor', state.next);
    let page;
    try {
      page = await api('GET', `/changes?${params}`);
    } catch (error) {
      if (grant !== state.grant) return;
      $('changes-card').hidden = false;
      $('changes-summary').textContent = `The changes could not be loaded: ${problem(error)}`;
      return;
    }
    if (grant !== state.grant) return;
    $('changes-card').hidden = false;
    const list = $('changes-list');
    if (fromStart) list.replaceChildren();
    for (const change of page.changes) list.append(entry(change));
    state.next = page.next_cursor || null;
    $('changes-more').hidden = !state.next;
    const count = list.children.length;
    $('changes-summary').textContent = count
      ? `${count} record change${count === 1 ? '' : 's'} by support under this grant${state.next ? ' so far' : ''}.`
      : 'Support has not created, changed or deleted any record under this grant.';
  }

  function openRevert(change, conflict) {
    state.pending = change;
    const names = change.fields.map((f) => f.name).join(', ');
    $('revert-dialog-what').textContent =
      `${change.module} ${change.record} gets back the values it had before support's change (${names}), with one update sent with your own token.`;
    const box = $('revert-dialog-conflict');
    box.hidden = !conflict;
    box.textContent = conflict || '';
    $('revert-confirm').textContent = conflict ? 'Revert anyway' : 'Revert';
    $('revert-confirm').dataset.force = conflict ? 'true' : 'false';
    openDialog($('revert-dialog'), $('revert-cancel'));
  }

  function closeRevert() {
    closeDialog($('revert-dialog'));
    state.pending = null;
  }

  async function confirmRevert() {
    const change = state.pending;
    if (!change) return;
    const force = $('revert-confirm').dataset.force === 'true';
    const button = $('revert-confirm');
    button.disabled = true;
    try {
      await api('POST', `/changes/${encodeURIComponent(change.id)}/revert`, { force });
      closeRevert();
      $('changes-summary').textContent = `${change.module} ${change.record} was put back.`;
      await load(true);
    } catch (error) {
      if (error.status === 409 && error.code === 'changed_since') {
        const fields = ((error.body && error.body.fields) || []).join(', ');
        openRevert(change, `Someone changed ${fields} after support did. Reverting overwrites those changes too.`);
        return;
      }
      closeRevert();
      $('changes-summary').textContent = `The change was not put back: ${problem(error)}`;
    } finally {
      button.disabled = false;
    }
  }

  // The grant's whole report (with the audit checkpoint, or a CSV row per field change),
  // downloaded as a file.
  async function report(format) {
    const grant = state.grant;
    if (!grant) return;
    const button = $(`changes-report-${format}`);
    button.disabled = true;
    const out = $('changes-report');
    try {
      const params = new URLSearchParams({ grant, format });
      const response = await request('GET', `/changes/report?${params}`, undefined, '*/*');
      if (!response.ok) throw await errorOf(response);
      const blob = await response.blob();
      if (state.reportUrl) URL.revokeObjectURL(state.reportUrl);
      state.reportUrl = URL.createObjectURL(blob);
      const name = `changes-${grant}.${format}`;
      const link = el('a', { href: state.reportUrl, download: name, id: 'changes-report-link' }, `Download ${name}`);
      out.replaceChildren('Report ready: ', link, '.');
      out.hidden = false;
      link.click();
    } catch (error) {
      out.textContent = `The report could not be made: ${problem(error)}`;
      out.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  // Follows the grant app.js shows.
  function follow() {
    const text = ($('d-grant-id').textContent || '').trim();
    const grant = /^[0-9a-f-]{36}$/i.test(text) ? text : null;
    if (grant === state.grant) return;
    state.grant = grant;
    state.next = null;
    $('changes-list').replaceChildren();
    $('changes-card').hidden = !grant;
    if (grant) load(true);
  }

  function init() {
    $('changes-refresh').addEventListener('click', () => load(true));
    $('changes-more').addEventListener('click', () => load(false));
    $('changes-report-csv').addEventListener('click', () => report('csv'));
    $('changes-report-json').addEventListener('click', () => report('json'));
    $('revert-cancel').addEventListener('click', closeRevert);
    $('revert-confirm').addEventListener('click', confirmRevert);
    new MutationObserver(follow).observe($('d-grant-id'), { childList: true, characterData: true, subtree: true });
    follow();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());

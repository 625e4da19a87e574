// Support Access admin page: one-request approvals (SPEC §10). Plain JavaScript, no
// dependencies. Lists the requests support asked to run once, and approves or denies
// one with a note, behind a confirmation. Uses the admin token app.js keeps for this
// tab, and only the management API, through common.js.
'use strict';

(function () {
  const { $, el, token, api, problem, formatTime, say: sayOn, renderList, openDialog, closeDialog } = window.SupportAccess;

  // The restriction's title, from app.js's catalogue.
  function reason(number) {
    const titles = window.SupportAccessRestrictions || {};
    if (!number) return 'Refused by the route policy';
    return `Restriction ${number}${titles[number] ? `: ${titles[number]}` : ''}`;
  }

  function say(text, isError) {
    sayOn($('approvals-status'), text, isError);
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
      renderList(list, $('approvals-empty'), approvals, item, 'No requests are waiting for approval.');
    } catch (error) {
      say(`Approval requests could not be loaded: ${problem(error)}`, true);
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
    openDialog($('approval-dialog'), $('approval-cancel'));
  }

  function close() {
    closeDialog($('approval-dialog'), pending && pending.opener);
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
        : `The decision was not recorded: ${problem(error)}`, true);
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
    SupportAccess.onTokenChange(load);
    $('status-refresh').addEventListener('click', load);
    document.body.dataset.approvalsReady = 'true';
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());

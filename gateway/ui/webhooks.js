// Notifications (SPEC §9) on the admin page: the org's webhook endpoints (URL, events,
// enabled or disabled), adding one (its signing secret shown once, with a copy
// button), removing one behind a confirmation, sending a test event, and each
// endpoint's recent deliveries. Plain JavaScript, no dependencies; the token and the
// calls come from common.js.
'use strict';

(function () {
  const {
    $, el, token, api, problem, formatTime, say: sayOn, renderList, openDialog, closeDialog, onTokenChange,
  } = window.SupportAccess;

  // The event types of SPEC §9 an endpoint can choose, with what they tell.
  const EVENTS = {
    'grant.created': 'Access granted',
    'grant.changed': 'End date changed',
    'grant.revoked': 'Access revoked',
    'grant.expired': 'Access expired',
    'grant.expiring': 'Access about to expire',
    'support.signed_in': 'Support signed in',
    'request.blocked': 'Request blocked',
    'approval.requested': 'Approval requested',
    'audit.checkpoint': 'Audit checkpoint signed',
    'webhook.test': 'Test event',
  };
  const STATUS_BADGES = {
    pending: 'badge--info',
    delivered: 'badge--ok',
    failed: 'badge--danger',
  };
  const DELIVERIES_SHOWN = 10;

  let removing = null; // { endpoint, opener }

  function say(text, isError) {
    sayOn($('webhooks-status'), text, isError);
  }

  // ---------------------------------------------------------------- the list

  async function load() {
    const list = $('webhooks-list');
    const signedIn = Boolean(token());
    $('webhook-form').hidden = !signedIn;
    if (!signedIn) {
      renderList(list, $('webhooks-empty'), [], endpointItem, 'Paste an admin token to see notification endpoints.');
      hideSecret();
      return;
    }
    list.setAttribute('aria-busy', 'true');
    try {
      const answer = await api('GET', '/webhooks');
      const endpoints = (answer && Array.isArray(answer.webhooks)) ? answer.webhooks : [];
      renderList(list, $('webhooks-empty'), endpoints, endpointItem,
        'No endpoints yet: nobody outside this page is told of support\'s access.');
      await Promise.all(endpoints.map((endpoint) => loadDeliveries(endpoint.id)));
    } catch (error) {
      say(`The notification endpoints could not be loaded: ${problem(error)}`, true);
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function eventNames(events) {
    if (!events || events.includes('*')) return 'All events';
    return events.map((type) => EVENTS[type] || type).join(', ');
  }

  function endpointItem(endpoint) {
    const disabled = Boolean(endpoint.disabled_at);
    const state = disabled
      ? el('span', { class: 'badge badge--danger webhook__state' }, 'Disabled')
      : el('span', { class: 'badge badge--ok webhook__state' }, 'Enabled');
    const node = el('li', { class: 'webhook', 'data-id': endpoint.id, 'data-enabled': String(!disabled) },
      el('div', { class: 'webhook__head' },
        el('strong', { class: 'mono webhook__url' }, endpoint.url), state),
      el('p', { class: 'webhook__events' }, `Events: ${eventNames(endpoint.events)}`,
        el('span', { class: 'event-code mono' }, (endpoint.events || []).join(' '))),
      endpoint.description ? el('p', { class: 'webhook__description' }, endpoint.description) : null,
      el('p', { class: 'muted webhook__meta' }, `Added on ${formatTime(endpoint.created_at)}.`,
        disabled ? ` Disabled on ${formatTime(endpoint.disabled_at)}: the receiver answered 410 Gone. Remove it and add it again to resume.` : null),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: 'btn btn--secondary webhook__test', 'data-action': 'test', disabled }, 'Send test event'),
        el('button', { type: 'button', class: 'btn btn--danger webhook__remove', 'data-action': 'remove' }, 'Remove…')),
      el('h3', { class: 'webhook__deliveries-title' }, 'Recent deliveries'),
      el('p', { class: 'muted webhook__deliveries-empty' }, 'Loading…'),
      el('div', { class: 'table-wrap', hidden: true },
        el('table', { class: 'audit webhook__deliveries' },
          el('thead', null, el('tr', null,
            ...['Time', 'Event', 'Status', 'Attempts', 'Last answer'].map((name) => el('th', { scope: 'col' }, name)))),
          el('tbody'))));
    node.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) return;
      if (button.dataset.action === 'test') sendTest(endpoint, button);
      else openRemove(endpoint, button);
    });
    return node;
  }

  function itemOf(id) {
    return [...$('webhooks-list').children].find((node) => node.dataset.id === id) || null;
  }

  // ---------------------------------------------------------------- deliveries

  async function loadDeliveries(id) {
    let answer;
    try {
      answer = await api('GET', `/webhooks/${encodeURIComponent(id)}/deliveries?limit=${DELIVERIES_SHOWN}`);
    } catch (error) {
      const node = itemOf(id);
      if (node) node.querySelector('.webhook__deliveries-empty').textContent = `The deliveries could not be loaded: ${problem(error)}`;
      return;
    }
    const node = itemOf(id);
    if (!node) return;
    const deliveries = (answer && Array.isArray(answer.deliveries)) ? answer.deliveries : [];
    const empty = node.querySelector('.webhook__deliveries-empty');
    renderList(node.querySelector('.webhook__deliveries tbody'), empty, deliveries, deliveryRow,
      'Nothing sent yet.');
    node.querySelector('.table-wrap').hidden = deliveries.length === 0;
  }

  function lastAnswer(delivery) {
    const parts = [];
    if (delivery.last_status_code) parts.push(`HTTP ${delivery.last_status_code}`);
    if (delivery.last_error) parts.push(delivery.last_error);
    if (delivery.status === 'pending' && delivery.next_attempt_at) {
      parts.push(`next try ${formatTime(delivery.next_attempt_at)}`);
    }
    return parts.length ? parts.join(' · ') : '—';
  }

  function deliveryRow(delivery) {
    return el('tr', { class: 'delivery', 'data-id': delivery.id, 'data-status': delivery.status, 'data-event': delivery.event_type },
      el('td', { 'data-label': 'Time' },
        el('time', { datetime: delivery.created_at, title: delivery.created_at }, formatTime(delivery.created_at))),
      el('td', { 'data-label': 'Event' },
        el('span', { class: 'event-kind' }, EVENTS[delivery.event_type] || delivery.event_type),
        el('span', { class: 'event-code mono' }, delivery.event_type)),
      el('td', { 'data-label': 'Status' },
        el('span', { class: `badge ${STATUS_BADGES[delivery.status] || 'badge--muted'} delivery__status` }, delivery.status)),
      el('td', { 'data-label': 'Attempts', class: 'delivery__attempts' }, String(delivery.attempts)),
      el('td', { 'data-label': 'Last answer', class: 'delivery__last' }, lastAnswer(delivery)));
  }

  async function sendTest(endpoint, button) {
    button.disabled = true;
    try {
      await api('POST', `/webhooks/${encodeURIComponent(endpoint.id)}/test`);
      say(`A test event was queued for ${endpoint.url}.`);
    } catch (error) {
      say(`The test event was not queued: ${problem(error)}`, true);
    } finally {
      button.disabled = false;
      await loadDeliveries(endpoint.id);
    }
  }

  // ---------------------------------------------------------------- adding

  function chosenEvents() {
    if ($('webhook-all').checked) return ['*'];
    return [...$('webhook-events').querySelectorAll('input[name="events"]:checked')].map((box) => box.value);
  }

  function syncEventBoxes() {
    const all = $('webhook-all').checked;
    for (const box of $('webhook-events').querySelectorAll('input[data-event]')) box.disabled = all;
  }

  async function add(event) {
    event.preventDefault();
    const input = $('webhook-url');
    input.removeAttribute('aria-invalid');
    const url = input.value.trim();
    if (!url) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      say('Enter the URL the notifications are posted to.', true);
      return;
    }
    const events = chosenEvents();
    if (events.length === 0) {
      say('Choose at least one event, or all events.', true);
      return;
    }
    const body = { url, events };
    const description = $('webhook-description').value.trim();
    if (description) body.description = description;
    const button = $('webhook-add');
    button.disabled = true;
    try {
      const created = await api('POST', '/webhooks', body);
      $('webhook-form').reset();
      syncEventBoxes();
      say(`The endpoint ${created.url} was added.`);
      showSecret(created);
      await load();
    } catch (error) {
      if (error.status === 422 || error.status === 400) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
      say(`The endpoint was not added: ${problem(error)}`, true);
    } finally {
      button.disabled = false;
    }
  }

  // The secret, once: it is only in the answer that registered the endpoint.
  function showSecret(created) {
    $('webhook-secret-url').textContent = created.url;
    $('webhook-secret-value').value = created.secret;
    $('webhook-secret-copied').textContent = '';
    $('webhook-secret').hidden = false;
    $('webhook-secret-value').focus();
    $('webhook-secret-value').select();
  }

  function hideSecret() {
    $('webhook-secret-value').value = '';
    $('webhook-secret').hidden = true;
  }

  async function copySecret() {
    const field = $('webhook-secret-value');
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch (_) {
      field.select();
      copied = document.execCommand && document.execCommand('copy');
    }
    $('webhook-secret-copied').textContent = copied
      ? 'Copied to the clipboard.'
      : 'Copying was refused by the browser: select the secret and copy it yourself.';
  }

  // ---------------------------------------------------------------- removing

  function openRemove(endpoint, opener) {
    removing = { endpoint, opener };
    $('webhook-dialog-what').textContent =
      `${endpoint.url} gets no more notifications, and its delivery history is deleted. Adding it again gives it a new secret.`;
    openDialog($('webhook-dialog'), $('webhook-cancel'));
  }

  function closeRemove() {
    closeDialog($('webhook-dialog'), removing && removing.opener);
    removing = null;
  }

  async function confirmRemove() {
    if (!removing) return;
    const { endpoint } = removing;
    const button = $('webhook-confirm');
    button.disabled = true;
    try {
      await api('DELETE', `/webhooks/${encodeURIComponent(endpoint.id)}`);
      closeRemove();
      say(`The endpoint ${endpoint.url} was removed.`);
    } catch (error) {
      closeRemove();
      say(`The endpoint was not removed: ${problem(error)}`, true);
    } finally {
      button.disabled = false;
      await load();
    }
  }

  // ---------------------------------------------------------------- start

  function init() {
    const events = $('webhook-events');
    for (const [value, label] of Object.entries(EVENTS)) {
      events.append(el('label', { class: 'check' },
        el('input', { type: 'checkbox', name: 'events', value, 'data-event': value }), ` ${label} `,
        el('span', { class: 'event-code mono' }, value)));
    }
    syncEventBoxes();
    $('webhook-all').addEventListener('change', syncEventBoxes);
    $('webhook-form').addEventListener('submit', add);
    $('webhook-form').addEventListener('reset', () => setTimeout(syncEventBoxes, 0));
    $('webhooks-refresh').addEventListener('click', () => { say(''); load(); });
    $('webhook-secret-copy').addEventListener('click', copySecret);
    $('webhook-secret-done').addEventListener('click', hideSecret);
    $('webhook-cancel').addEventListener('click', closeRemove);
    $('webhook-confirm').addEventListener('click', confirmRemove);
    $('webhook-dialog').addEventListener('cancel', () => { removing = null; });
    onTokenChange(() => { hideSecret(); load(); });
    $('status-refresh').addEventListener('click', load);
    document.body.dataset.webhooksReady = 'true';
    load();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());

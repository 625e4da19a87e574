// The latest signed checkpoint of the org's audit log (SPEC §6.1, §8): its size and
// time, and a link to download it, so the customer keeps it outside the gateway and
// can later check the log against it (`support-gateway audit verify --checkpoint`).
// Fills #checkpoint-card; uses the admin token app.js keeps, through common.js.
(() => {
  'use strict';

  const { $, el, token, request } = window.SupportAccess;
  let downloadUrl = null;

  function render(card) {
    const heading = el('h2', { id: 'checkpoint-heading' }, 'Latest checkpoint');
    const refresh = el('button', { type: 'button', class: 'btn btn--link', id: 'checkpoint-refresh' }, 'Refresh');
    card.replaceChildren(
      el('div', { class: 'card__head' }, heading, el('div', { class: 'actions' }, refresh)),
      el('p', { class: 'help' },
        'A signed summary of the whole audit log. Keep a copy: with it you can later prove ',
        'that no event up to it was deleted or changed.'),
      el('p', { id: 'checkpoint-state', class: 'muted', 'aria-live': 'polite' }, ''),
      el('dl', { id: 'checkpoint-details', class: 'details', hidden: '' },
        el('div', {}, el('dt', {}, 'Events'), el('dd', { id: 'checkpoint-size' })),
        el('div', {}, el('dt', {}, 'Signed'), el('dd', { id: 'checkpoint-time' })),
        el('div', {}, el('dt', {}, 'Root hash'), el('dd', { id: 'checkpoint-root', class: 'mono' }))),
      el('p', { id: 'checkpoint-download', hidden: '' }));
    refresh.addEventListener('click', load);
  }

  function say(text) {
    $('checkpoint-state').textContent = text;
    $('checkpoint-details').hidden = true;
    $('checkpoint-download').hidden = true;
  }

  // The C2SP checkpoint body: origin, size, base64 root.
  function parse(note) {
    const [origin, size, root] = note.split('\n');
    return { origin, size: Number(size), root };
  }

  async function load() {
    if (!$('checkpoint-card')) return;
    if (!token()) {
      say('Paste an administrator token to see the latest checkpoint.');
      return;
    }
    let response;
    try {
      response = await request('GET', '/audit/checkpoint', undefined, 'text/plain');
    } catch (_) {
      say('The gateway could not be reached. Try again in a moment.');
      return;
    }
    if (response.status === 404) {
      say('No checkpoint yet: the audit log has no events.');
      return;
    }
    if (response.status === 401 || response.status === 403) {
      say('The administrator token was refused; paste a fresh one to see the latest checkpoint.');
      return;
    }
    if (!response.ok) {
      say(`The checkpoint could not be loaded (HTTP ${response.status}).`);
      return;
    }
    const note = await response.text();
    const { size, root } = parse(note);
    const made = response.headers.get('Last-Modified');
    $('checkpoint-state').textContent = '';
    $('checkpoint-size').textContent = size.toLocaleString('en-US');
    $('checkpoint-time').textContent = made ? new Date(made).toISOString().replace('.000Z', 'Z') : 'unknown';
    $('checkpoint-root').textContent = root;
    $('checkpoint-details').hidden = false;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([note], { type: 'text/plain' }));
    const name = `audit-checkpoint-${size}.txt`;
    const link = el('a', { href: downloadUrl, download: name, id: 'checkpoint-link' }, `Download ${name}`);
    const download = $('checkpoint-download');
    download.replaceChildren(link);
    download.hidden = false;
  }

  function start() {
    const card = $('checkpoint-card');
    if (!card) return;
    render(card);
    // After app.js has handled the token and tab changes (its listeners come first).
    const later = () => setTimeout(load, 0);
    SupportAccess.onTokenChange(load);
    for (const id of ['tab-audit', 'audit-refresh']) {
      const button = $(id);
      if (button) button.addEventListener('click', later);
    }
    load();
  }

  start();
})();

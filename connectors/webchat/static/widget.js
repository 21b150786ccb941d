/*
 * Shouwen (首问) web chat widget.
 *
 * Plain ES2020, no dependencies, no build step. Include it with
 *   <script src="/widget.js" defer></script>
 * Optional data- attributes on that script tag:
 *   data-locale    "zh" | "en" | any BCP 47 tag (default: navigator.language)
 *   data-endpoint  base URL of the Shouwen server (default: the page's origin)
 *   data-open      "true" opens the chat panel at load
 *   data-history   "false" skips re-rendering the stored conversation's transcript
 *                  on load (default: a reload shows the conversation so far)
 *
 * Safety: every piece of text that comes from the server or the user is put in
 * the page with textContent / createTextNode, never as HTML.
 */
(function () {
  'use strict';

  if (window.ShouwenChat && window.ShouwenChat.__loaded) return;

  // ---------------------------------------------------------------- config

  const SCRIPT = document.currentScript || (function () {
    const all = document.querySelectorAll('script[src]');
    for (let i = all.length - 1; i >= 0; i--) {
      if (/(^|\/)widget\.js([?#]|$)/.test(all[i].getAttribute('src') || '')) return all[i];
    }
    return null;
  })();
  const DS = (SCRIPT && SCRIPT.dataset) || {};

  const STORE_KEY = 'shouwen.chat';
  const OPEN_KEY = 'shouwen.chat.open';
  const MAX_LEN = 2000;
  const WS_FAILS_BEFORE_HTTP = 3;
  const BACKOFF_MIN = 500;
  const BACKOFF_MAX = 10000;
  const HELLO_TIMEOUT = 10000;
  const TYPING_TIMEOUT = 20000;
  const POLL_WAIT = 25;

  const BASE = (function () {
    const ep = (DS.endpoint || '').trim();
    if (ep) {
      try { return new URL(ep, location.href).href.replace(/\/+$/, ''); } catch (e) { /* fall through */ }
    }
    return (location.origin && location.origin !== 'null') ? location.origin : '';
  })();

  const HINT_LOCALE = (DS.locale || navigator.language || 'zh').trim();

  // The widget's own words (its frame: title, placeholder, status lines), in every language.
  // The server fills this in from its gettext catalogs when it serves this file; bot text
  // always comes from the server too. Unfilled (a copy served elsewhere), keys show as is.
  const DICT = /*@strings*/{};

  function langOf(tag) {
    return /^en\b|^en[-_]/i.test(String(tag || '')) ? 'en' : 'zh';
  }

  // ---------------------------------------------------------------- state

  const S = {
    conversation: null,
    cursor: 0,          // highest seq received from an ordered stream (WS / long poll); persisted
    floor: 0,           // events at or below this were shown on an earlier page load
    seen: new Set(),    // seqs already rendered (or deliberately skipped)
    mode: 'bot',
    agentName: '',      // the agent's name from their latest line, shown with the agent mode
    locale: langOf(HINT_LOCALE),
    open: false,
    outbox: [],         // [{id, text?, payload?}] waiting for their customer echo
    pendingEls: new Map(),
    ws: null,
    wsReady: false,
    wsFails: 0,
    attempt: 0,
    retryTimer: null,
    retryNow: false,
    started: false,
    http: false,
    httpOk: true,
    polling: false,
    posting: false,
    pollAbort: null,
    typingTimer: null,
    unread: 0,
    status: null
  };

  function loadStore() {
    try {
      const v = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
      if (v && typeof v === 'object') {
        if (typeof v.conversation === 'string' && v.conversation) S.conversation = v.conversation;
        if (Number.isInteger(v.last) && v.last > 0 && S.conversation) S.cursor = v.last;
      }
    } catch (e) { /* storage unavailable or corrupt: start fresh */ }
    // Replay the stored conversation's transcript on page load (the DOM is empty then,
    // so nothing is shown twice); data-history="false" resumes after `last` instead.
    if (DS.history !== 'false') S.cursor = 0;
    S.floor = S.cursor;
  }

  function saveStore() {
    try {
      if (S.conversation) {
        localStorage.setItem(STORE_KEY, JSON.stringify({ conversation: S.conversation, last: S.cursor }));
      } else {
        localStorage.removeItem(STORE_KEY);
      }
    } catch (e) { /* ignore */ }
  }

  function t(key) {
    return (DICT[S.locale] && DICT[S.locale][key]) || (DICT.zh && DICT.zh[key]) || key;
  }

  function newId() {
    const b = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(b);
    } else {
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
    }
    return Array.from(b, function (x) { return x.toString(16).padStart(2, '0'); }).join('');
  }

  function str(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    return '';
  }

  function backoff(n) {
    const d = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, n));
    return Math.round(d / 2 + Math.random() * d / 2);
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined && text !== null && text !== '') el.textContent = text;
    return el;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function icon(paths, cls) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '24');
    svg.setAttribute('height', '24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    if (cls) svg.setAttribute('class', cls);
    paths.forEach(function (d) {
      const p = document.createElementNS(SVG_NS, 'path');
      p.setAttribute('d', d);
      svg.appendChild(p);
    });
    return svg;
  }
  const ICON_CHAT = [
    'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-4.4 3.5A1 1 0 0 1 3 20.7V6a2 2 0 0 1 1-2z',
    'M7.5 9.5h9M7.5 13h6'
  ];
  const ICON_CLOSE = ['M6 6l12 12M18 6L6 18'];
  const ICON_SEND = ['M3.4 20.4l17.5-7.5a1 1 0 0 0 0-1.8L3.4 3.6a.9.9 0 0 0-1.2 1.1L4.5 12l-2.3 7.3a.9.9 0 0 0 1.2 1.1z', 'M4.5 12H12'];

  // ---------------------------------------------------------------- UI

  const UI = {};

  function injectCss() {
    const existing = Array.prototype.some.call(document.querySelectorAll('link[rel~="stylesheet"]'), function (l) {
      return /(^|\/)widget\.css([?#]|$)/.test(l.getAttribute('href') || '');
    });
    if (existing) return null;
    let href;
    try {
      href = SCRIPT && SCRIPT.src ? new URL('widget.css', SCRIPT.src).href : BASE + '/widget.css';
    } catch (e) {
      href = BASE + '/widget.css';
    }
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    document.head.appendChild(link);
    return link;
  }

  function buildUi() {
    const link = injectCss();

    const root = h('div', 'sw-root');
    root.id = 'sw-root';
    if (link) {
      // Avoid a flash of unstyled widget while the stylesheet loads.
      root.style.visibility = 'hidden';
      const reveal = function () { root.style.visibility = ''; };
      link.addEventListener('load', reveal);
      link.addEventListener('error', reveal);
      setTimeout(reveal, 3000);
    }

    // Launcher
    const launcher = h('button', 'sw-launcher');
    launcher.id = 'sw-launcher';
    launcher.type = 'button';
    launcher.setAttribute('aria-controls', 'sw-panel');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.appendChild(icon(ICON_CHAT, 'sw-icon'));
    const badge = h('span', 'sw-unread');
    badge.hidden = true;
    launcher.appendChild(badge);

    // Panel
    const panel = h('section', 'sw-panel');
    panel.id = 'sw-panel';
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-modal', 'false');
    panel.setAttribute('aria-labelledby', 'sw-title');
    panel.hidden = true;

    const header = h('header', 'sw-header');
    const logo = h('div', 'sw-logo');
    logo.setAttribute('aria-hidden', 'true');
    logo.textContent = '星';
    const heads = h('div', 'sw-heads');
    const title = h('h2', 'sw-title');
    title.id = 'sw-title';
    const sub = h('div', 'sw-sub');
    sub.id = 'sw-sub';
    const dot = h('span', 'sw-dot');
    dot.setAttribute('aria-hidden', 'true');
    const subText = h('span', 'sw-sub-text');
    sub.appendChild(dot);
    sub.appendChild(subText);
    heads.appendChild(title);
    heads.appendChild(sub);
    const closeBtn = h('button', 'sw-close');
    closeBtn.type = 'button';
    closeBtn.appendChild(icon(ICON_CLOSE));
    header.appendChild(logo);
    header.appendChild(heads);
    header.appendChild(closeBtn);

    const status = h('div', 'sw-status');
    status.id = 'sw-status';
    status.setAttribute('role', 'status');
    status.hidden = true;

    const body = h('div', 'sw-body');
    const list = h('div', 'sw-messages');
    list.id = 'sw-messages';
    list.setAttribute('role', 'log');
    list.setAttribute('aria-live', 'polite');
    list.setAttribute('aria-relevant', 'additions');
    const typing = h('div', 'sw-typing');
    typing.id = 'sw-typing';
    typing.setAttribute('role', 'status');
    typing.hidden = true;
    for (let i = 0; i < 3; i++) {
      const d = h('span', 'sw-typing-dot');
      d.setAttribute('aria-hidden', 'true');
      typing.appendChild(d);
    }
    const typingLabel = h('span', 'sw-sr');
    typing.appendChild(typingLabel);
    body.appendChild(list);
    body.appendChild(typing);

    const form = h('form', 'sw-composer');
    form.setAttribute('novalidate', '');
    const inputLabel = h('label', 'sw-sr');
    inputLabel.htmlFor = 'sw-input';
    const input = h('textarea', 'sw-input');
    input.id = 'sw-input';
    input.rows = 1;
    input.maxLength = MAX_LEN;
    input.setAttribute('autocomplete', 'off');
    input.setAttribute('enterkeyhint', 'send');
    const sendBtn = h('button', 'sw-send');
    sendBtn.id = 'sw-send';
    sendBtn.type = 'submit';
    sendBtn.disabled = true;
    sendBtn.appendChild(icon(ICON_SEND, 'sw-icon'));
    const sendText = h('span', 'sw-send-text');
    sendBtn.appendChild(sendText);
    const row = h('div', 'sw-row');
    row.appendChild(input);
    row.appendChild(sendBtn);
    const foot = h('div', 'sw-foot');
    const hint = h('span', 'sw-hint');
    const counter = h('span', 'sw-counter');
    counter.hidden = true;
    foot.appendChild(hint);
    foot.appendChild(counter);
    form.appendChild(inputLabel);
    form.appendChild(row);
    form.appendChild(foot);

    panel.appendChild(header);
    panel.appendChild(status);
    panel.appendChild(body);
    panel.appendChild(form);

    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);

    Object.assign(UI, {
      root, launcher, badge, panel, title, subText, dot, closeBtn, status, body, list,
      typing, typingLabel, form, input, inputLabel, sendBtn, sendText, hint, counter
    });

    // Events
    launcher.addEventListener('click', function () { setOpen(!S.open, true); });
    closeBtn.addEventListener('click', function () { setOpen(false, true); });
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.preventDefault(); setOpen(false, true); }
    });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submitInput();
    });
    input.addEventListener('keydown', function (e) {
      if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.isComposing || e.keyCode === 229) return; // IME candidate selection
      e.preventDefault();
      submitInput();
    });
    input.addEventListener('input', onInput);
    list.addEventListener('click', function (e) {
      const btn = e.target && e.target.closest ? e.target.closest('.sw-quick button') : null;
      if (!btn || btn.disabled) return;
      const title = btn.dataset.title || btn.textContent || '';
      const payload = btn.dataset.payload || '';
      sendMessage(title, payload);
    });

    applyLocale();
  }

  function onInput() {
    const v = UI.input.value;
    UI.sendBtn.disabled = v.trim() === '';
    UI.input.style.height = 'auto';
    UI.input.style.height = Math.min(UI.input.scrollHeight, 140) + 'px';
    if (v.length >= MAX_LEN - 200) {
      UI.counter.hidden = false;
      UI.counter.textContent = v.length + ' / ' + MAX_LEN;
    } else {
      UI.counter.hidden = true;
    }
  }

  function submitInput() {
    const v = UI.input.value;
    if (!v.trim()) return;
    if (sendMessage(v, null)) {
      UI.input.value = '';
      onInput();
      UI.input.focus();
    }
  }

  function applyLocale() {
    const lang = S.locale === 'en' ? 'en' : 'zh-CN';
    UI.panel.setAttribute('lang', lang);
    UI.launcher.setAttribute('lang', lang);
    UI.title.textContent = t('title');
    UI.panel.setAttribute('aria-label', t('title'));
    UI.launcher.setAttribute('aria-label', t('open'));
    UI.launcher.title = t('title');
    UI.closeBtn.setAttribute('aria-label', t('close'));
    UI.closeBtn.title = t('close');
    UI.input.placeholder = t('placeholder');
    UI.inputLabel.textContent = t('placeholder');
    UI.sendText.textContent = t('send');
    UI.sendBtn.setAttribute('aria-label', t('send'));
    UI.hint.textContent = t('hint');
    UI.typingLabel.textContent = t('typing');
    UI.list.setAttribute('aria-label', t('messages'));
    UI.list.querySelectorAll('.sw-agent .sw-who').forEach(function (el) { el.textContent = whoText(el.dataset.author); });
    UI.list.querySelectorAll('.sw-card-due dt').forEach(function (el) { el.textContent = t('due'); });
    UI.list.querySelectorAll('.sw-msg.sw-customer').forEach(updateCustomerMeta);
    renderMode();
    renderStatus();
    renderUnread();
  }

  function setLocale(loc) {
    if (loc !== 'zh' && loc !== 'en') loc = langOf(loc);
    if (loc === S.locale) return;
    S.locale = loc;
    applyLocale();
  }

  function setMode(mode) {
    if (mode !== 'bot' && mode !== 'queued' && mode !== 'agent') return;
    if (mode !== 'agent') S.agentName = ''; // the next agent's name comes with their first line
    S.mode = mode;
    renderMode();
  }

  function renderMode() {
    const name = S.mode === 'agent' ? S.agentName : '';
    UI.subText.textContent = t('sub_' + S.mode) + (name ? ' · ' + name : '');
    UI.panel.dataset.mode = S.mode;
  }

  // Agent lines carry the agent's name (`author`) when the server knows it.
  function whoText(author) {
    return author ? author + ' · ' + t('agent') : t('agent');
  }

  function setOpen(open, byUser) {
    S.open = !!open;
    UI.panel.hidden = !S.open;
    UI.root.classList.toggle('sw-is-open', S.open);
    UI.launcher.setAttribute('aria-expanded', S.open ? 'true' : 'false');
    try { sessionStorage.setItem(OPEN_KEY, S.open ? '1' : '0'); } catch (e) { /* ignore */ }
    if (S.open) {
      S.unread = 0;
      renderUnread();
      start();
      scrollToEnd(true);
      if (byUser) UI.input.focus();
    } else if (byUser) {
      UI.launcher.focus();
    }
  }

  function renderUnread() {
    if (S.unread > 0 && !S.open) {
      UI.badge.hidden = false;
      UI.badge.textContent = S.unread > 99 ? '99+' : String(S.unread);
      UI.launcher.setAttribute('aria-label', t('open') + ' (' + S.unread + ' ' + t('unread') + ')');
    } else {
      UI.badge.hidden = true;
      UI.launcher.setAttribute('aria-label', t('open'));
    }
  }

  function setStatus(kind) {
    S.status = kind;
    renderStatus();
  }

  function renderStatus() {
    const kind = S.status;
    UI.status.hidden = !kind;
    UI.status.dataset.kind = kind || '';
    UI.status.textContent = kind ? t(kind) : '';
    UI.dot.dataset.state = kind ? 'down' : 'up';
  }

  function updateStatus() {
    if (!S.started) return setStatus(null);
    if (S.wsReady) return setStatus(null);
    if (navigator.onLine === false) return setStatus('offline');
    if (S.http) return setStatus(S.httpOk ? null : 'offline');
    return setStatus(S.conversation || S.cursor ? 'reconnecting' : 'connecting');
  }

  function showTyping(on) {
    clearTimeout(S.typingTimer);
    UI.typing.hidden = !on;
    if (on) {
      S.typingTimer = setTimeout(function () { UI.typing.hidden = true; }, TYPING_TIMEOUT);
      scrollToEnd(false);
    }
  }

  function nearBottom() {
    const b = UI.body;
    return b.scrollHeight - b.scrollTop - b.clientHeight < 80;
  }

  function scrollToEnd(force) {
    const b = UI.body;
    if (force || nearBottom()) {
      requestAnimationFrame(function () { b.scrollTop = b.scrollHeight; });
    }
  }

  // ---------------------------------------------------------------- rendering

  function fmtTime(ts) {
    if (typeof ts !== 'number' || !isFinite(ts)) return '';
    try {
      return new Date(ts * 1000).toLocaleTimeString(S.locale === 'en' ? 'en-GB' : 'zh-CN', { hour: '2-digit', minute: '2-digit' });
    } catch (e) {
      return '';
    }
  }

  function metaEl(ts) {
    const meta = h('div', 'sw-meta');
    const time = h('time', 'sw-time', fmtTime(ts));
    if (typeof ts === 'number' && isFinite(ts)) {
      try { time.dateTime = new Date(ts * 1000).toISOString(); } catch (e) { /* ignore */ }
    }
    meta.appendChild(time);
    return meta;
  }

  function updateCustomerMeta(el) {
    let st = el.querySelector('.sw-state');
    if (!st) {
      st = h('span', 'sw-state');
      el.querySelector('.sw-meta').appendChild(st);
    }
    const state = el.dataset.state;
    st.textContent = state === 'pending' ? t('sending') : state === 'failed' ? t('failed') : t('sent');
  }

  const BADGE_TONES = [
    [/(resolv|closed|done|complet|success|confirm|已解决|已关闭|已完成|已确认|成功)/i, 'ok'],
    [/(overdue|breach|fail|cancel|reject|超时|逾期|失败|取消|驳回)/i, 'bad'],
    [/(wait|pending|queue|待|排队)/i, 'wait']
  ];

  function renderCard(c) {
    const card = h('div', 'sw-card');
    card.dataset.kind = str(c.kind);
    const head = h('div', 'sw-card-head');
    head.appendChild(h('div', 'sw-card-title', str(c.title)));
    const status = str(c.status);
    if (status) {
      const badge = h('span', 'sw-badge', status);
      let tone = 'info';
      for (const pair of BADGE_TONES) { if (pair[0].test(status)) { tone = pair[1]; break; } }
      badge.dataset.tone = tone;
      head.appendChild(badge);
    }
    card.appendChild(head);
    const number = str(c.number);
    if (number) card.appendChild(h('div', 'sw-card-number', number));
    const dl = h('dl', 'sw-card-fields');
    const due = str(c.due);
    if (due) {
      const row = h('div', 'sw-card-row sw-card-due');
      row.appendChild(h('dt', null, t('due')));
      row.appendChild(h('dd', null, due));
      dl.appendChild(row);
    }
    if (Array.isArray(c.fields)) {
      c.fields.forEach(function (f) {
        if (!f || typeof f !== 'object') return;
        const row = h('div', 'sw-card-row');
        row.appendChild(h('dt', null, str(f.label)));
        row.appendChild(h('dd', null, str(f.value)));
        dl.appendChild(row);
      });
    }
    if (dl.childNodes.length) card.appendChild(dl);
    return card;
  }

  function renderQuick(buttons) {
    const box = h('div', 'sw-quick');
    buttons.forEach(function (b) {
      if (!b || typeof b !== 'object') return;
      const title = str(b.title);
      const payload = str(b.payload);
      if (!title && !payload) return;
      const btn = h('button', 'sw-qr', title || payload);
      btn.type = 'button';
      btn.dataset.title = title || payload;
      btn.dataset.payload = payload;
      box.appendChild(btn);
    });
    return box.childNodes.length ? box : null;
  }

  // Insert in seq order (within the current conversation, i.e. after the last
  // divider); pending customer bubbles (no seq yet) stay at the end.
  function insertSorted(el, seq) {
    let ref = null;
    for (let c = UI.list.lastElementChild; c; c = c.previousElementSibling) {
      if (c.classList.contains('sw-divider')) break;
      if (!c.classList.contains('sw-msg')) continue;
      const s = c.dataset.seq;
      if (s === undefined || s === '') {
        if (c.dataset.state === 'pending') ref = c;
        continue;
      }
      if (Number(s) > seq) { ref = c; continue; }
      break;
    }
    UI.list.insertBefore(el, ref);
  }

  // Only the latest message keeps its quick replies; older ones are removed.
  function refreshQuick() {
    const msgs = UI.list.querySelectorAll('.sw-msg');
    const last = msgs.length ? msgs[msgs.length - 1] : null;
    UI.list.querySelectorAll('.sw-quick').forEach(function (q) {
      if (!last || !last.contains(q)) q.remove();
    });
  }

  function renderEvent(ev) {
    const role = (ev.role === 'customer' || ev.role === 'bot' || ev.role === 'agent' || ev.role === 'system') ? ev.role : 'system';
    const el = h('div', 'sw-msg sw-' + role);
    el.dataset.seq = String(ev.seq);
    el.dataset.role = role;
    if (role === 'agent') {
      const author = str(ev.author).trim();
      const who = h('div', 'sw-who', whoText(author));
      if (author) {
        who.dataset.author = author;
        if (author !== S.agentName) { S.agentName = author; renderMode(); }
      }
      el.appendChild(who);
    }
    const bubble = h('div', 'sw-bubble');
    const text = str(ev.text);
    if (text) bubble.appendChild(h('div', 'sw-text', text));
    if (ev.card && typeof ev.card === 'object') bubble.appendChild(renderCard(ev.card));
    const quick = (role !== 'customer' && Array.isArray(ev.buttons) && ev.buttons.length) ? renderQuick(ev.buttons) : null;
    if (!bubble.childNodes.length && !quick) return; // nothing to show
    if (bubble.childNodes.length) el.appendChild(bubble);
    if (quick) el.appendChild(quick);
    if (role !== 'system') el.appendChild(metaEl(ev.ts));
    if (role === 'customer') {
      el.dataset.state = 'sent';
      updateCustomerMeta(el);
    }
    const stick = nearBottom();
    insertSorted(el, ev.seq);
    refreshQuick();
    if (role !== 'customer' && !S.open) {
      S.unread++;
      renderUnread();
    }
    if (stick) scrollToEnd(true);
  }

  function renderPending(item) {
    const el = h('div', 'sw-msg sw-customer');
    el.dataset.role = 'customer';
    el.dataset.state = 'pending';
    el.dataset.clientId = item.id;
    const bubble = h('div', 'sw-bubble');
    bubble.appendChild(h('div', 'sw-text', item.text || item.payload || ''));
    el.appendChild(bubble);
    el.appendChild(metaEl(Date.now() / 1000));
    updateCustomerMeta(el);
    UI.list.appendChild(el);
    S.pendingEls.set(item.id, el);
    refreshQuick();
    scrollToEnd(true);
  }

  function confirmPending(clientId, ev) {
    const el = S.pendingEls.get(clientId);
    S.pendingEls.delete(clientId);
    S.outbox = S.outbox.filter(function (i) { return i.id !== clientId; });
    if (!el) return false;
    if (ev && Number.isInteger(ev.seq)) el.dataset.seq = String(ev.seq);
    el.dataset.state = 'sent';
    if (ev && typeof ev.ts === 'number') {
      const tm = el.querySelector('.sw-time');
      if (tm) tm.textContent = fmtTime(ev.ts);
    }
    updateCustomerMeta(el);
    return true;
  }

  function failPending(clientId) {
    const el = S.pendingEls.get(clientId);
    S.pendingEls.delete(clientId);
    S.outbox = S.outbox.filter(function (i) { return i.id !== clientId; });
    if (el) {
      el.dataset.state = 'failed';
      updateCustomerMeta(el);
    }
  }

  function showNote(text, kind) {
    if (!text) return;
    const el = h('div', 'sw-note' + (kind ? ' sw-note-' + kind : ''), text);
    if (kind === 'error') el.setAttribute('role', 'alert');
    UI.list.appendChild(el);
    scrollToEnd(true);
  }

  // Marks the start of a new conversation; older seqs belong to the old one.
  function divider() {
    const el = h('div', 'sw-note sw-divider', t('new_conv'));
    const firstPending = UI.list.querySelector('.sw-msg[data-state="pending"]');
    UI.list.insertBefore(el, firstPending);
  }

  function showError(err) {
    const msg = err && typeof err === 'object' ? str(err.message) : '';
    showNote(msg || t('error'), 'error');
  }

  // Every transcript event goes through here. fromStream: delivered by an ordered
  // stream (WebSocket or long poll), so it may advance the resume cursor.
  function handleEvent(ev, fromStream) {
    if (!ev || typeof ev !== 'object' || !Number.isInteger(ev.seq)) return;
    const seq = ev.seq;
    if (fromStream && seq > S.cursor) {
      S.cursor = seq;
      saveStore();
    }
    if (seq <= S.floor || S.seen.has(seq)) return;
    S.seen.add(seq);
    if (ev.role === 'customer' && typeof ev.client_id === 'string' && S.pendingEls.has(ev.client_id)) {
      confirmPending(ev.client_id, ev);
      return;
    }
    if (ev.role === 'customer' && typeof ev.client_id === 'string') {
      S.outbox = S.outbox.filter(function (i) { return i.id !== ev.client_id; });
    }
    if (ev.role === 'bot' || ev.role === 'agent') showTyping(false);
    renderEvent(ev);
  }

  function resetConversation() {
    S.conversation = null;
    S.cursor = 0;
    S.floor = 0;
    S.seen.clear();
    saveStore();
  }

  // ---------------------------------------------------------------- sending

  function sendMessage(text, payload) {
    text = str(text).replace(/\r\n?/g, '\n').trim();
    payload = str(payload);
    if (!text && !payload) return null;
    if (text.length > MAX_LEN) text = text.slice(0, MAX_LEN);
    const item = { id: newId() };
    if (text) item.text = text;
    if (payload) item.payload = payload;
    renderPending(item);
    S.outbox.push(item);
    start();
    if (S.wsReady) wsSend(item);
    else if (S.http) flushHttp();
    return item.id;
  }

  function wsSend(item) {
    if (!S.ws || !S.wsReady) return false;
    const msg = { type: 'message', id: item.id };
    if (item.text) msg.text = item.text;
    if (item.payload) msg.payload = item.payload;
    try {
      S.ws.send(JSON.stringify(msg));
      return true;
    } catch (e) {
      return false;
    }
  }

  function flushWs() {
    S.outbox.slice().forEach(wsSend);
  }

  // The server could not take a message just now (Redis away, conversation busy): send it
  // again after a pause with the same id, so it is answered once whatever happened.
  function retryLater(clientId) {
    const item = S.outbox.find(function (i) { return i.id === clientId; });
    if (!item) return;
    item.tries = (item.tries || 0) + 1;
    const delay = Math.min(10000, 500 * Math.pow(2, item.tries)) * (0.75 + Math.random() / 2);
    setTimeout(function () {
      if (S.outbox.indexOf(item) < 0) return;
      if (S.wsReady) wsSend(item);
      else if (S.http) flushHttp();
    }, delay);
  }

  // ---------------------------------------------------------------- WebSocket

  function wsUrl() {
    const u = new URL((BASE || '') + '/api/chat/ws', location.href);
    if (u.protocol === 'https:') u.protocol = 'wss:';
    else if (u.protocol === 'http:') u.protocol = 'ws:';
    const q = new URLSearchParams();
    if (S.conversation) {
      q.set('conversation', S.conversation);
      q.set('after', String(S.cursor));
    }
    q.set('locale', HINT_LOCALE);
    u.search = q.toString();
    return u.href;
  }

  function start() {
    if (S.started) return;
    S.started = true;
    updateStatus();
    connect();
  }

  function scheduleReconnect() {
    clearTimeout(S.retryTimer);
    let delay;
    if (S.retryNow) {
      S.retryNow = false;
      delay = 0;
    } else {
      delay = backoff(S.attempt);
      S.attempt++;
    }
    S.retryTimer = setTimeout(connect, delay);
  }

  function connect() {
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    if (S.ws) return;
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      wsFailed();
      return;
    }
    S.ws = ws;
    S.wsReady = false;
    let greeted = false;
    let expected = false; // closed on purpose (unknown conversation): not a failure
    const helloTimer = setTimeout(function () {
      if (!greeted) { try { ws.close(); } catch (e) { /* ignore */ } }
    }, HELLO_TIMEOUT);

    ws.onmessage = function (m) {
      if (S.ws !== ws) return;
      let d;
      try { d = JSON.parse(m.data); } catch (e) { return; }
      if (!d || typeof d !== 'object') return;
      switch (d.type) {
        case 'hello':
          greeted = true;
          clearTimeout(helloTimer);
          onHello(d);
          break;
        case 'event':
          handleEvent(d.event, true);
          if (d.mode) setMode(d.mode);
          break;
        case 'typing':
          showTyping(!!d.on);
          break;
        case 'mode':
          setMode(d.mode);
          break;
        case 'error':
          if (d.error && d.error.code === 'unknown_conversation') {
            expected = true;
            resetConversation();
            S.retryNow = true;
            try { ws.close(); } catch (e) { /* ignore */ }
          } else if (d.id && d.error && (d.error.code === 'unavailable' || d.error.code === 'busy')) {
            retryLater(d.id);
          } else {
            if (d.id) failPending(d.id);
            showError(d.error);
          }
          break;
        default:
          break;
      }
    };
    ws.onerror = function () { /* a close event follows */ };
    ws.onclose = function () {
      clearTimeout(helloTimer);
      if (S.ws !== ws) return;
      S.ws = null;
      S.wsReady = false;
      showTyping(false);
      if (!greeted && !expected) {
        wsFailed();
        return;
      }
      updateStatus();
      scheduleReconnect();
    };
  }

  function wsFailed() {
    S.ws = null;
    S.wsReady = false;
    S.wsFails++;
    if (S.wsFails >= WS_FAILS_BEFORE_HTTP) startHttp();
    updateStatus();
    scheduleReconnect();
  }

  function onHello(d) {
    if (d.locale) setLocale(d.locale);
    const conv = str(d.conversation);
    if (conv && conv !== S.conversation) {
      const hadOne = UI.list.querySelector('.sw-msg[data-seq]');
      if (S.conversation || S.cursor) resetConversation();
      S.conversation = conv;
      if (hadOne) divider();
    }
    if (Number.isInteger(d.last) && d.last < S.cursor) {
      // The server knows less than we do (transcript trimmed or restored): trust it.
      S.cursor = Math.max(0, d.last);
      S.floor = Math.min(S.floor, S.cursor);
      S.seen.forEach(function (s) { if (s > d.last) S.seen.delete(s); });
    }
    setMode(d.mode);
    saveStore();
    S.wsReady = true;
    S.wsFails = 0;
    S.attempt = 0;
    stopHttp();
    updateStatus();
    flushWs();
  }

  // ---------------------------------------------------------------- HTTP fallback

  function api(path) { return (BASE || '') + path; }

  function startHttp() {
    if (S.http) return;
    S.http = true;
    S.httpOk = true;
    pollLoop();
    flushHttp();
  }

  function stopHttp() {
    if (!S.http) return;
    S.http = false;
    if (S.pollAbort) { try { S.pollAbort.abort(); } catch (e) { /* ignore */ } }
  }

  async function readJson(res) {
    try { return await res.json(); } catch (e) { return null; }
  }

  async function pollLoop() {
    if (S.polling) return;
    S.polling = true;
    let fails = 0;
    try {
      while (S.http && S.conversation && !S.wsReady) {
        const conv = S.conversation;
        const ctrl = new AbortController();
        S.pollAbort = ctrl;
        const timer = setTimeout(function () { ctrl.abort(); }, (POLL_WAIT + 15) * 1000);
        const t0 = Date.now();
        try {
          const res = await fetch(api('/api/chat/' + encodeURIComponent(conv) + '/events?after=' + S.cursor + '&wait=' + POLL_WAIT), {
            signal: ctrl.signal, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' }
          });
          const data = await readJson(res);
          if (!S.http || conv !== S.conversation) continue;
          if (res.status === 404 || (data && data.error && data.error.code === 'unknown_conversation')) {
            resetConversation();
            break;
          }
          if (!res.ok || !data) throw new Error('poll ' + res.status);
          fails = 0;
          S.httpOk = true;
          if (data.mode) setMode(data.mode);
          const events = Array.isArray(data.events) ? data.events : [];
          events.forEach(function (e) { handleEvent(e, true); });
          updateStatus();
          if (!events.length && Date.now() - t0 < 1000) await sleep(1000);
        } catch (e) {
          if (!S.http) break;
          S.httpOk = false;
          updateStatus();
          await sleep(backoff(fails++));
        } finally {
          clearTimeout(timer);
        }
      }
    } finally {
      S.polling = false;
      S.pollAbort = null;
    }
  }

  async function flushHttp() {
    if (S.posting) return;
    S.posting = true;
    let fails = 0;
    try {
      while (S.http && !S.wsReady && S.outbox.length) {
        const item = S.outbox[0];
        const body = { id: item.id };
        if (item.text) body.text = item.text;
        if (item.payload) body.payload = item.payload;
        if (S.conversation) body.conversation = S.conversation;
        else body.locale = HINT_LOCALE;
        let res, data;
        showTyping(true);
        try {
          res = await fetch(api('/api/chat/messages'), {
            method: 'POST',
            credentials: 'same-origin',
            cache: 'no-store',
            headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
            body: JSON.stringify(body)
          });
          data = await readJson(res);
        } catch (e) {
          showTyping(false);
          S.httpOk = false;
          updateStatus();
          await sleep(backoff(fails++));
          continue;
        }
        showTyping(false);
        if (res.ok && data && typeof data === 'object') {
          fails = 0;
          S.httpOk = true;
          const conv = str(data.conversation);
          if (conv && conv !== S.conversation) {
            const hadOne = UI.list.querySelector('.sw-msg[data-seq]');
            if (S.conversation || S.cursor) resetConversation();
            S.conversation = conv;
            saveStore();
            if (hadOne) divider();
          }
          if (data.locale) setLocale(data.locale);
          if (data.mode) setMode(data.mode);
          const echo = data.echo;
          if (echo && typeof echo === 'object') {
            if (!echo.client_id) echo.client_id = item.id;
            handleEvent(echo, false);
          }
          confirmPending(item.id, echo);
          (Array.isArray(data.replies) ? data.replies : []).forEach(function (e) { handleEvent(e, false); });
          updateStatus();
          pollLoop();
        } else if (res.status === 404 && body.conversation) {
          resetConversation(); // send again without it: a new conversation
        } else if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          failPending(item.id);
          showError(data && data.error);
        } else {
          S.httpOk = res.status < 500;
          updateStatus();
          await sleep(backoff(fails++));
        }
      }
    } finally {
      S.posting = false;
    }
  }

  // ---------------------------------------------------------------- boot

  function boot() {
    if (document.getElementById('sw-root')) return;
    loadStore();
    buildUi();
    let open = DS.open === 'true' || DS.open === '';
    try { if (sessionStorage.getItem(OPEN_KEY) === '1') open = true; } catch (e) { /* ignore */ }
    window.addEventListener('online', function () {
      updateStatus();
      if (S.started && !S.ws) { S.attempt = 0; connect(); }
      if (S.http) flushHttp();
    });
    window.addEventListener('offline', updateStatus);
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && S.started && !S.ws && S.retryTimer) {
        S.attempt = 0;
        connect();
      }
    });
    // Connect at once when there is a conversation to resume (agent replies, unread
    // badge); otherwise only when the customer opens the panel.
    if (open) setOpen(true, false);
    else if (S.conversation) start();
  }

  window.ShouwenChat = {
    __loaded: true,
    send: function (text) { return sendMessage(text, null); },
    open: function () { setOpen(true, false); },
    close: function () { setOpen(false, false); },
    state: function () {
      return {
        conversation: S.conversation,
        mode: S.mode,
        locale: S.locale,
        open: S.open,
        transport: S.wsReady ? 'ws' : (S.http ? 'http' : 'none'),
        connected: S.wsReady,
        lastSeq: S.cursor,
        rendered: Array.from(S.seen).sort(function (a, b) { return a - b; }),
        pending: S.outbox.map(function (i) { return i.id; }),
        wsFailures: S.wsFails
      };
    }
  };

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot);
})();

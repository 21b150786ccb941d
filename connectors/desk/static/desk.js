/*
 * Shouwen (首问) agent desk: sign-in, queue, live chat, customer and case panels, alerts,
 * and the supervisor's view. Plain ES2020, no dependencies, no build step, no CDN.
 *
 * Server: GET /desk/api/me (401 -> the sign-in form), the JSON API under /desk/api/
 * (connectors/desk/api.py; every POST carries the session's X-CSRF-Token), and the
 * WebSocket /desk/ws: desk events ({type: "queue" | "conversation" | "entry" | "case" |
 * "alert" | "presence", ...}) and the live transcript of the watched conversation.
 *
 * Safety: everything customers and agents wrote (and every other server string) is put in
 * the page with textContent, never as HTML; the page's CSP forbids inline script besides.
 *
 * Languages: the desk's own labels are in DICT below, Chinese and English, chosen by
 * navigator.language or the toggle in the top bar (remembered in localStorage). The desk has
 * no gettext path for JS yet; customer-facing text never comes from here (it comes from the
 * server's catalogs: canned replies, bot lines).
 */
(function () {
  'use strict';

  // ---------------------------------------------------------------- words

  const DICT = {
    zh: {
      login_title: '客服工作台', desk_title: '客服工作台', name: '账号', password: '密码',
      sign_in: '登录', sign_out: '退出登录', other_language: 'English',
      tab_desk: '工作台', tab_supervisor: '主管视图', presence: '状态',
      online: '在线', away: '离开', offline: '离线', link: '实时连接',
      role_agent: '坐席', role_supervisor: '主管',
      queue: '排队', queue_empty: '没有排队的客户', mine: '我的会话', mine_empty: '暂无',
      alerts: '提醒', alerts_empty: '暂无提醒', chat_empty: '从左侧选择一个会话',
      accept: '接入', open: '查看', canned: '快捷回复', reply: '回复',
      reply_hint: '输入回复，Enter 发送，Shift+Enter 换行', send: '发送',
      hand_back: '交还机器人', hand_back_rate: '交还并邀请评价', transfer: '转接',
      transfer_agent: '转给坐席', transfer_team: '或转给小组', transfer_do: '确认转接',
      transfer_none: '（不选）', transfer_needs_target: '请选择坐席或填写小组', note: '备注',
      resolve: '解决', resolve_note: '解决说明', resolve_do: '确认解决', cancel: '取消',
      customer: '客户', phone: '手机号', verified: '已验证', yes: '是', no: '否',
      unknown_customer: '未验证身份', reveal: '查看完整号码',
      reveal_reason: '查看原因（将记录在案）', reveal_do: '查看', reason_needed: '请填写原因',
      case: '工单', kind: '类型', state: '状态', owner: '负责人', helpers: '协助', sla: '时限',
      add_note: '添加备注', save: '保存', archive: '处理记录',
      archive_hidden: '接入后可查看处理记录', none: '无', met: '已达成', overdue: '已超时',
      days: '天',
      kind_fault: '故障', kind_complaint: '投诉', kind_callback: '回电', kind_feedback: '反馈',
      kind_inquiry: '咨询',
      state_received: '已受理', state_assigned: '已派单', state_in_progress: '处理中',
      state_resolved: '已解决', state_closed: '已关闭',
      move_assigned: '派单', move_in_progress: '开始处理', move_resolved: '标记解决',
      move_closed: '关闭',
      due_response: '响应', due_repair: '修复', due_resolution: '解决', due_feedback: '回访',
      due_callback: '回电',
      on_time: '正常', warned: '预警', breached: '超时',
      mode_queued: '排队中', mode_held: '接待中', mode_ended: '已结束',
      held_by: '接待：{name}', owner_mark: '负责人 {name}', reserved_mark: '为 {name} 保留',
      yours: '您的客户', team_mark: '小组 {team}', position: '第 {n} 位',
      no_preview: '（暂无留言）', unread: '新消息',
      channel_web: '网页', channel_telegram: 'Telegram', channel_sms: '短信', channel_rasa: 'Rasa',
      who_customer: '客户', who_bot: '机器人', who_agent: '客服', who_system: '系统',
      today: '今日', fig_handoffs: '转人工', fig_wait: '平均等待', fig_sla: '时限达成率',
      fig_csat: '满意度', agents: '坐席', agent: '坐席', role: '角色', status: '状态',
      load: '接待中', open_cases: '未结工单', charts: '图表',
      chart_handoffs: '转人工', chart_waits: '等待时长', chart_sla: '时限达成', chart_csat: '满意度',
      change_owner: '更换负责人', owner_reason: '原因', change: '更换',
      accepted: '已接入会话', sent_back: '已交还机器人', transferred: '已转接',
      resolved: '工单已解决', note_saved: '备注已保存', owner_changed: '负责人已更换',
      moved: '工单状态已更新',
      alert_returned: '您负责的客户回来了：工单 {case}',
      alert_helper: '{by} 作为协助加入了您的工单 {case}',
      alert_transfer: '转接：工单 {case}（{by}）',
      alert_owner: '工单 {case} 的负责人已由 {by} 更换',
      alert_silent: '客户长时间未回复：工单 {case}',
      alert_warn: '时限预警：工单 {case}（{due}）将于 {at} 到期',
      alert_breach: '已超时：工单 {case}（{due}）',
      alert_other: '提醒：工单 {case}',
      err_generic: '操作失败，请稍后再试', err_taken: '该会话已被其他坐席接入或为他人保留',
      err_forbidden: '无权执行此操作', err_bad_credentials: '账号或密码错误',
      err_locked: '登录失败次数过多，请稍后再试', err_unauthorized: '请重新登录',
      err_illegal_transition: '工单当前状态不允许此操作', err_network: '网络连接失败',
      err_csrf: '会话已失效，请刷新页面'
    },
    en: {
      login_title: 'Agent desk', desk_title: 'Agent desk', name: 'Name', password: 'Password',
      sign_in: 'Sign in', sign_out: 'Sign out', other_language: '中文',
      tab_desk: 'Desk', tab_supervisor: 'Supervisor', presence: 'Status',
      online: 'Online', away: 'Away', offline: 'Offline', link: 'Live connection',
      role_agent: 'Agent', role_supervisor: 'Supervisor',
      queue: 'Queue', queue_empty: 'Nobody is waiting', mine: 'My conversations',
      mine_empty: 'None', alerts: 'Alerts', alerts_empty: 'No alerts',
      chat_empty: 'Pick a conversation on the left',
      accept: 'Accept', open: 'View', canned: 'Canned replies', reply: 'Reply',
      reply_hint: 'Type a reply; Enter sends, Shift+Enter starts a new line', send: 'Send',
      hand_back: 'Hand back', hand_back_rate: 'Hand back for rating', transfer: 'Transfer',
      transfer_agent: 'To agent', transfer_team: 'or to team', transfer_do: 'Transfer now',
      transfer_none: '(none)', transfer_needs_target: 'Choose an agent or a team', note: 'Note',
      resolve: 'Resolve', resolve_note: 'Resolution note', resolve_do: 'Resolve now',
      cancel: 'Cancel',
      customer: 'Customer', phone: 'Phone', verified: 'Verified', yes: 'yes', no: 'no',
      unknown_customer: 'Not verified', reveal: 'Reveal number',
      reveal_reason: 'Reason (it is logged)', reveal_do: 'Reveal',
      reason_needed: 'Please give a reason',
      case: 'Case', kind: 'Kind', state: 'State', owner: 'Owner', helpers: 'Helpers', sla: 'SLA',
      add_note: 'Add a note', save: 'Save', archive: 'Archive',
      archive_hidden: 'The archive shows once you take the conversation', none: 'none',
      met: 'met', overdue: 'overdue', days: 'd',
      kind_fault: 'Fault', kind_complaint: 'Complaint', kind_callback: 'Callback',
      kind_feedback: 'Feedback', kind_inquiry: 'Inquiry',
      state_received: 'Received', state_assigned: 'Assigned', state_in_progress: 'In progress',
      state_resolved: 'Resolved', state_closed: 'Closed',
      move_assigned: 'Assign', move_in_progress: 'Start work', move_resolved: 'Mark resolved',
      move_closed: 'Close',
      due_response: 'Response', due_repair: 'Repair', due_resolution: 'Resolution',
      due_feedback: 'Follow-up', due_callback: 'Callback',
      on_time: 'On time', warned: 'Warned', breached: 'Breached',
      mode_queued: 'Queued', mode_held: 'In chat', mode_ended: 'Ended',
      held_by: 'With {name}', owner_mark: 'Owner {name}', reserved_mark: 'Reserved for {name}',
      yours: 'Your customer', team_mark: 'Team {team}', position: '#{n}',
      no_preview: '(no message yet)', unread: 'new',
      channel_web: 'Web', channel_telegram: 'Telegram', channel_sms: 'SMS', channel_rasa: 'Rasa',
      who_customer: 'Customer', who_bot: 'Assistant', who_agent: 'Agent', who_system: 'System',
      today: 'Today', fig_handoffs: 'Handoffs', fig_wait: 'Mean wait', fig_sla: 'SLA met',
      fig_csat: 'CSAT', agents: 'Agents', agent: 'Agent', role: 'Role', status: 'Status',
      load: 'Chats', open_cases: 'Open cases', charts: 'Charts',
      chart_handoffs: 'Handoffs', chart_waits: 'Waits', chart_sla: 'SLA', chart_csat: 'CSAT',
      change_owner: 'Change owner', owner_reason: 'Reason', change: 'Change',
      accepted: 'You took the conversation', sent_back: 'Handed back to the assistant',
      transferred: 'Transferred', resolved: 'Case resolved', note_saved: 'Note saved',
      owner_changed: 'Owner changed', moved: 'Case state changed',
      alert_returned: 'Your customer is back: case {case}',
      alert_helper: '{by} joined your case {case} as a helper',
      alert_transfer: 'Transfer: case {case} ({by})',
      alert_owner: '{by} changed the owner of case {case}',
      alert_silent: 'The customer went silent: case {case}',
      alert_warn: 'SLA warning: case {case} ({due}) is due at {at}',
      alert_breach: 'SLA breached: case {case} ({due})',
      alert_other: 'Alert: case {case}',
      err_generic: 'That did not work; please try again', err_network: 'Network error',
      err_taken: 'Someone else has this conversation, or it is reserved for its owner',
      err_forbidden: 'You may not do that', err_bad_credentials: 'Wrong name or password',
      err_locked: 'Too many failed sign-ins; try again later',
      err_unauthorized: 'Please sign in again',
      err_illegal_transition: 'The case cannot move that way now',
      err_csrf: 'The session has expired; reload the page'
    }
  };

  const LANG_KEY = 'shouwen.desk.lang';
  const QUEUE_REFRESH_MS = 10000;
  const SUPERVISOR_REFRESH_MS = 15000;
  const CHART_REFRESH_MS = 60000;
  const PING_MS = 25000;
  const TOAST_MS = 8000;
  const MAX_ALERTS = 50;
  const DEBOUNCE_MS = 200;
  const CHARTS = ['handoffs', 'waits', 'sla', 'csat'];
  // Which states a case may move to from which (bot/services/cases.py ALLOWED_FROM).
  const MOVES = {
    assigned: ['received'],
    in_progress: ['assigned', 'resolved'],
    resolved: ['in_progress'],
    closed: ['resolved']
  };

  const S = {
    lang: 'zh',
    me: null,
    csrf: '',
    view: 'desk',
    current: null,      // {cid, detail, seqs: Set, last, caseNumber}
    queue: [],
    mine: [],
    unread: new Set(),  // conversations with customer news not yet looked at
    agents: [],
    canned: [],
    cannedPick: null,   // {id, text}: the canned reply put in the input, sent as such if unedited
    alerts: [],
    ws: null,
    wsAttempt: 0,
    wsTimer: null,
    pingTimer: null,
    loops: [],
    pending: new Map(), // debounced refreshes
    chartsAt: 0
  };

  // ---------------------------------------------------------------- helpers

  function t(key, vars) {
    const table = DICT[S.lang] || DICT.zh;
    let text = table[key] !== undefined ? table[key] : (DICT.zh[key] !== undefined ? DICT.zh[key] : key);
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (all, name) {
        return vars[name] === undefined || vars[name] === null ? '' : String(vars[name]);
      });
    }
    return text;
  }

  function tOr(key, fallback) {
    const table = DICT[S.lang] || DICT.zh;
    return table[key] !== undefined ? table[key] : fallback;
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null && text !== '') node.textContent = String(text);
    return node;
  }

  function str(v) {
    if (v === null || v === undefined) return '';
    return typeof v === 'string' ? v : (typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
  }

  function button(label, cls, onClick) {
    const b = el('button', 'btn ' + (cls || ''), label);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  function fmtDuration(seconds) {
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const clock = (h ? h + ':' + pad(m) : String(m)) + ':' + pad(s % 60);
    return d ? d + t('days') + ' ' + (h ? clock : '0:' + pad(m) + ':' + pad(s % 60)) : clock;
  }

  function fmtTime(ts) {
    if (typeof ts !== 'number' || !isFinite(ts)) return '';
    try {
      return new Date(ts * 1000).toLocaleString(S.lang === 'en' ? 'en-GB' : 'zh-CN', {
        month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'
      });
    } catch (e) {
      return '';
    }
  }

  // A clock that counts on from a figure the server gave: "up" for waits, "down" for the
  // time left to a due. The browser's clock may differ from the server's; only elapsed
  // browser time is added, so the figures stay right.
  function ticker(kind, base) {
    const span = el('span', 'tick');
    span.dataset.tick = kind;
    span.dataset.base = String(base);
    span.dataset.at = String(Date.now());
    renderTick(span);
    return span;
  }

  function renderTick(span) {
    const elapsed = (Date.now() - Number(span.dataset.at)) / 1000;
    const base = Number(span.dataset.base);
    if (span.dataset.tick === 'up') {
      span.textContent = fmtDuration(base + elapsed);
      return;
    }
    const left = base - elapsed;
    span.classList.toggle('overdue', left < 0);
    span.textContent = left < 0 ? t('overdue') + ' ' + fmtDuration(-left) : fmtDuration(left);
  }

  function tickAll() {
    document.querySelectorAll('.tick').forEach(renderTick);
  }

  function debounce(name, fn) {
    clearTimeout(S.pending.get(name));
    S.pending.set(name, setTimeout(function () {
      S.pending.delete(name);
      fn();
    }, DEBOUNCE_MS));
  }

  function isMe(name) { return !!S.me && name === S.me.name; }

  function agentLabel(name) {
    const found = S.agents.find(function (a) { return a.name === name; });
    return found && found.display && found.display !== name ? found.display + ' (' + name + ')' : str(name);
  }

  // ---------------------------------------------------------------- server

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const options = { method: method, credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      options.headers['Content-Type'] = 'application/json';
      options.headers['X-CSRF-Token'] = S.csrf;
      options.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(path, options);
    } catch (e) {
      throw new ApiError(0, 'network', '');
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const error = data && data.error ? data.error : {};
      if (res.status === 401 && path !== '/desk/api/login' && S.me) signedOut();
      throw new ApiError(res.status, str(error.code) || 'http_' + res.status, str(error.message));
    }
    return data;
  }

  function errorText(error) {
    if (error && error.code) {
      const known = tOr('err_' + error.code, null);
      if (known) return known;
      if (error.message) return error.message;
    }
    return t('err_generic');
  }

  function failed(error) { toast(errorText(error), 'error'); }

  function enc(s) { return encodeURIComponent(s); }

  // ---------------------------------------------------------------- language

  function chooseLanguage() {
    let stored = null;
    try { stored = localStorage.getItem(LANG_KEY); } catch (e) { /* no storage */ }
    if (stored === 'zh' || stored === 'en') return stored;
    return /^en\b/i.test(navigator.language || '') ? 'en' : 'zh';
  }

  function applyLanguage() {
    document.documentElement.lang = S.lang === 'en' ? 'en' : 'zh-CN';
    document.querySelectorAll('[data-t]').forEach(function (node) { node.textContent = t(node.dataset.t); });
    document.querySelectorAll('[data-t-placeholder]').forEach(function (node) {
      node.placeholder = t(node.dataset.tPlaceholder);
    });
    document.querySelectorAll('[data-t-title]').forEach(function (node) { node.title = t(node.dataset.tTitle); });
    renderTitle();
    if (!S.me) return;
    renderMe();
    renderQueue();
    renderMine();
    renderAlerts();
    if (S.current && S.current.detail) renderConversation();
    fillAgentSelect($('transfer-agent'), true);
    loadCanned();
    if (S.view === 'supervisor') {
      S.chartsAt = 0;
      refreshSupervisor();
    }
  }

  function toggleLanguage() {
    S.lang = S.lang === 'en' ? 'zh' : 'en';
    try { localStorage.setItem(LANG_KEY, S.lang); } catch (e) { /* no storage */ }
    applyLanguage();
  }

  function renderTitle() {
    const waiting = S.me ? S.queue.length : 0;
    document.title = (waiting ? '(' + waiting + ') ' : '') + t('desk_title') + ' · 首问';
  }

  // ---------------------------------------------------------------- toasts and alerts

  function toast(text, kind) {
    const box = el('div', 'toast ' + (kind || 'info'), text);
    if (kind === 'error') box.setAttribute('role', 'alert');
    $('toasts').appendChild(box);
    setTimeout(function () { box.remove(); }, TOAST_MS);
  }

  function alertText(a) {
    const vars = {
      case: str(a.case), by: agentLabel(str(a.by)),
      due: tOr('due_' + str(a.due), str(a.due)), at: fmtTime(a.due_at)
    };
    const key = 'alert_' + str(a.level);
    return tOr(key, null) !== null ? t(key, vars) : (str(a.text) || t('alert_other', vars));
  }

  function addAlert(a) {
    const entry = { data: a, at: Date.now() / 1000 };
    S.alerts.unshift(entry);
    S.alerts.length = Math.min(S.alerts.length, MAX_ALERTS);
    const level = str(a.level);
    toast(alertText(a), level === 'breach' ? 'error' : (level === 'warn' ? 'warn' : 'info'));
    renderAlerts();
  }

  function renderAlerts() {
    const list = $('alert-list');
    list.replaceChildren();
    S.alerts.forEach(function (entry) {
      const a = entry.data;
      const li = el('li', 'alert level-' + str(a.level).replace(/[^a-z_]/g, ''));
      li.appendChild(el('span', 'time', fmtTime(entry.at)));
      li.appendChild(el('span', 'text', alertText(a)));
      const cid = str(a.conversation);
      if (cid) {
        li.classList.add('clickable');
        li.addEventListener('click', function () { openConversation(cid); });
      }
      list.appendChild(li);
    });
    $('alerts-empty').hidden = S.alerts.length > 0;
  }

  // ---------------------------------------------------------------- sign-in

  function showLogin(message) {
    $('app').hidden = true;
    $('login-view').hidden = false;
    const error = $('login-error');
    error.hidden = !message;
    error.textContent = message || '';
    $('login-password').value = '';
    $('login-name').focus();
  }

  async function login(event) {
    event.preventDefault();
    const name = $('login-name').value.trim();
    const password = $('login-password').value;
    if (!name || !password) return;
    $('login-submit').disabled = true;
    try {
      const data = await api('POST', '/desk/api/login', { name: name, password: password });
      await signedIn(data, true);
    } catch (error) {
      showLogin(errorText(error));
    } finally {
      $('login-submit').disabled = false;
    }
  }

  async function signedIn(data, fresh) {
    S.me = data.agent;
    S.csrf = str(data.csrf);
    $('login-view').hidden = true;
    $('app').hidden = false;
    $('tabs').hidden = S.me.role !== 'supervisor';
    showView('desk');
    renderMe();
    if (fresh) {
      try { await api('POST', '/desk/api/presence', { status: 'online' }); } catch (e) { /* shown by the select */ }
    }
    connectSocket();
    loadAgents();
    loadCanned();
    refreshQueue();
    refreshMine();
    S.loops.push(setInterval(tickAll, 1000));
    S.loops.push(setInterval(refreshQueue, QUEUE_REFRESH_MS));
    S.loops.push(setInterval(function () { if (S.view === 'supervisor') refreshSupervisor(); }, SUPERVISOR_REFRESH_MS));
  }

  // The session is gone (signed out here, expired, or signed out elsewhere).
  function signedOut(message) {
    S.me = null;
    S.csrf = '';
    S.loops.forEach(clearInterval);
    S.loops = [];
    clearTimeout(S.wsTimer);
    clearInterval(S.pingTimer);
    const ws = S.ws;
    S.ws = null;
    if (ws) { try { ws.close(); } catch (e) { /* ignore */ } }
    S.current = null;
    S.queue = [];
    S.mine = [];
    S.alerts = [];
    S.unread.clear();
    closeConversationPanel();
    renderTitle();
    showLogin(message === undefined ? t('err_unauthorized') : message);
  }

  async function logout() {
    try { await api('POST', '/desk/api/presence', { status: 'offline' }); } catch (e) { /* going anyway */ }
    try { await api('POST', '/desk/api/logout'); } catch (e) { /* going anyway */ }
    signedOut('');
  }

  function renderMe() {
    $('me-name').textContent = S.me.display || S.me.name;
    $('me-role').textContent = t('role_' + S.me.role);
  }

  function showView(view) {
    S.view = view === 'supervisor' && S.me && S.me.role === 'supervisor' ? 'supervisor' : 'desk';
    $('desk-view').hidden = S.view !== 'desk';
    $('supervisor-view').hidden = S.view !== 'supervisor';
    document.querySelectorAll('.tab').forEach(function (tab) {
      tab.setAttribute('aria-selected', tab.dataset.view === S.view ? 'true' : 'false');
    });
    if (S.view === 'supervisor') refreshSupervisor();
  }

  async function setPresence() {
    try {
      await api('POST', '/desk/api/presence', { status: $('presence').value });
    } catch (error) {
      failed(error);
    }
  }

  async function loadAgents() {
    try {
      const data = await api('GET', '/desk/api/agents');
      S.agents = Array.isArray(data.agents) ? data.agents : [];
    } catch (error) {
      return;
    }
    const mine = S.agents.find(function (a) { return isMe(a.name); });
    if (mine && DICT.zh[mine.status]) $('presence').value = mine.status;
    fillAgentSelect($('transfer-agent'), true);
    renderQueue();
  }

  function fillAgentSelect(select, withNone) {
    const keep = select.value;
    select.replaceChildren();
    if (withNone) {
      const none = el('option', null, t('transfer_none'));
      none.value = '';
      select.appendChild(none);
    }
    S.agents.forEach(function (a) {
      if (withNone && S.me && isMe(a.name)) return;
      const option = el('option', null, agentLabel(a.name) + ' · ' + t(str(a.status) || 'offline'));
      option.value = a.name;
      select.appendChild(option);
    });
    select.value = keep;
    if (select.value !== keep) select.value = '';
  }

  async function loadCanned() {
    try {
      const data = await api('GET', '/desk/api/canned?locale=' + S.lang);
      S.canned = Array.isArray(data.replies) ? data.replies : [];
    } catch (error) {
      return;
    }
    const select = $('canned');
    select.replaceChildren();
    const first = el('option', null, t('canned'));
    first.value = '';
    select.appendChild(first);
    S.canned.forEach(function (r) {
      const option = el('option', null, str(r.title));
      option.value = str(r.id);
      select.appendChild(option);
    });
  }

  // ---------------------------------------------------------------- the socket

  function connectSocket() {
    if (S.ws || !S.me) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/desk/ws';
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      reconnectLater();
      return;
    }
    S.ws = ws;
    ws.onopen = function () {
      if (S.ws !== ws) return;
      S.wsAttempt = 0;
      $('link-state').dataset.state = 'up';
      if (S.current) watch(S.current);
      // What happened while the socket was away: events are hints, the API is the record.
      refreshQueue();
      refreshMine();
      clearInterval(S.pingTimer);
      S.pingTimer = setInterval(function () { send({ type: 'ping' }); }, PING_MS);
    };
    ws.onmessage = function (message) {
      if (S.ws !== ws) return;
      let data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data && typeof data === 'object') onEvent(data);
    };
    ws.onclose = function () {
      if (S.ws !== ws) return;
      S.ws = null;
      clearInterval(S.pingTimer);
      $('link-state').dataset.state = 'down';
      reconnectLater();
    };
  }

  function reconnectLater() {
    if (!S.me) return;
    clearTimeout(S.wsTimer);
    const delay = Math.min(10000, 500 * Math.pow(2, S.wsAttempt++)) * (0.5 + Math.random() / 2);
    S.wsTimer = setTimeout(connectSocket, delay);
  }

  function send(message) {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
    try {
      S.ws.send(JSON.stringify(message));
      return true;
    } catch (e) {
      return false;
    }
  }

  function watch(current) {
    send({ type: 'watch', conversation: current.cid, after: current.last });
  }

  function onEvent(d) {
    const cid = str(d.conversation);
    const current = S.current;
    switch (d.type) {
      case 'queue':
        debounce('queue', refreshQueue);
        refreshSupervisorSoon();
        break;
      case 'conversation':
        debounce('mine', refreshMine);
        if (current && current.cid === cid) debounce('detail', loadDetail);
        refreshSupervisorSoon();
        break;
      case 'entry':
        if (d.entry && typeof d.entry === 'object') {
          if (current && current.cid === cid) appendEntry(d.entry);
        } else if (cid && !(current && current.cid === cid)) {
          S.unread.add(cid);
          renderMine();
        }
        break;
      case 'case':
        if (current && current.caseNumber && current.caseNumber === str(d.number)) debounce('case', loadCase);
        refreshSupervisorSoon();
        break;
      case 'alert':
        addAlert(d);
        debounce('mine', refreshMine);
        if (current && current.caseNumber && current.caseNumber === str(d.case)) debounce('case', loadCase);
        refreshSupervisorSoon();
        break;
      case 'presence':
        if (isMe(str(d.agent)) && DICT.zh[str(d.status)]) $('presence').value = str(d.status);
        debounce('agents', loadAgents);
        refreshSupervisorSoon();
        break;
      default:
        break; // pong, error (a watch refused: the panel already shows what the API allows)
    }
  }

  // ---------------------------------------------------------------- queue and mine

  async function refreshQueue() {
    if (!S.me) return;
    try {
      const data = await api('GET', '/desk/api/queue');
      S.queue = Array.isArray(data.entries) ? data.entries : [];
    } catch (error) {
      return;
    }
    renderQueue();
  }

  function queueItem(entry, withActions) {
    const cid = str(entry.conversation);
    const li = el('li', 'queue-item');
    li.dataset.conversation = cid;
    if (isMe(entry.owner) || isMe(entry.reserved_for)) li.classList.add('yours');
    const head = el('div', 'row');
    if (entry.position) head.appendChild(el('span', 'position', t('position', { n: entry.position })));
    head.appendChild(el('span', 'channel', tOr('channel_' + str(entry.channel), str(entry.channel))));
    if (entry.case) head.appendChild(el('span', 'mono', str(entry.case)));
    if (typeof entry.waited_s === 'number') {
      const wait = ticker('up', entry.waited_s);
      wait.classList.add('wait');
      head.appendChild(wait);
    }
    li.appendChild(head);
    const marks = el('div', 'marks');
    if (isMe(entry.owner) || isMe(entry.reserved_for)) marks.appendChild(el('span', 'pill yours-mark', t('yours')));
    if (entry.owner) marks.appendChild(el('span', 'pill owner-mark', t('owner_mark', { name: agentLabel(entry.owner) })));
    if (entry.reserved_for) {
      marks.appendChild(el('span', 'pill reserved-mark', t('reserved_mark', { name: agentLabel(entry.reserved_for) })));
    }
    if (entry.team) marks.appendChild(el('span', 'pill', t('team_mark', { team: str(entry.team) })));
    if (marks.childNodes.length) li.appendChild(marks);
    li.appendChild(el('div', 'preview', str(entry.preview) || t('no_preview')));
    if (withActions) {
      const actions = el('div', 'row actions-row');
      actions.appendChild(button(t('open'), 'small', function () { openConversation(cid); }));
      actions.appendChild(button(t('accept'), 'small primary accept', function () { accept(cid); }));
      li.appendChild(actions);
    }
    return li;
  }

  // The desk's queue and the supervisor's are the same list (with its waiting times).
  function renderQueue() {
    ['queue', 'sv-queue'].forEach(function (id) {
      const list = $(id);
      list.replaceChildren();
      S.queue.forEach(function (entry) { list.appendChild(queueItem(entry, true)); });
      $(id + '-count').textContent = String(S.queue.length);
    });
    $('queue-empty').hidden = S.queue.length > 0;
    renderTitle();
  }

  async function refreshMine() {
    if (!S.me) return;
    try {
      const data = await api('GET', '/desk/api/conversations');
      const held = Array.isArray(data.held) ? data.held : [];
      const owned = Array.isArray(data.owned) ? data.owned : [];
      const seen = new Set(held.map(function (r) { return r.conversation; }));
      S.mine = held.concat(owned.filter(function (r) { return !seen.has(r.conversation); }));
    } catch (error) {
      return;
    }
    renderMine();
  }

  function renderMine() {
    const list = $('mine');
    list.replaceChildren();
    S.mine.forEach(function (record) {
      const cid = str(record.conversation);
      const li = el('li', 'mine-item clickable');
      li.dataset.conversation = cid;
      if (S.current && S.current.cid === cid) li.classList.add('active');
      const head = el('div', 'row');
      head.appendChild(el('span', 'channel', tOr('channel_' + str(record.channel), str(record.channel))));
      if (record.case) head.appendChild(el('span', 'mono', str(record.case)));
      head.appendChild(el('span', 'pill', tOr('mode_' + str(record.state), str(record.state))));
      if (S.unread.has(cid)) head.appendChild(el('span', 'pill unread', t('unread')));
      li.appendChild(head);
      li.appendChild(el('div', 'preview', str(record.preview) || t('no_preview')));
      li.addEventListener('click', function () { openConversation(cid); });
      list.appendChild(li);
    });
    $('mine-empty').hidden = S.mine.length > 0;
  }

  async function accept(cid) {
    try {
      await api('POST', '/desk/api/conversations/' + enc(cid) + '/accept');
      toast(t('accepted'), 'ok');
    } catch (error) {
      failed(error);
      refreshQueue();
      return;
    }
    refreshQueue();
    await refreshMine();
    await openConversation(cid);
  }

  // ---------------------------------------------------------------- the conversation

  function closeConversationPanel() {
    $('chat-main').hidden = true;
    $('chat-empty').hidden = false;
    $('customer-box').hidden = true;
    $('case-box').hidden = true;
  }

  async function openConversation(cid) {
    const previous = S.current;
    if (previous && previous.cid === cid) {
      await loadDetail();
      return;
    }
    if (previous) send({ type: 'unwatch', conversation: previous.cid });
    S.current = { cid: cid, detail: null, seqs: new Set(), last: 0, caseNumber: null };
    S.unread.delete(cid);
    S.cannedPick = null;
    $('transcript').replaceChildren();
    $('reply').value = '';
    ['transfer-form', 'resolve-form', 'reveal-form'].forEach(function (id) { $(id).hidden = true; });
    $('chat-empty').hidden = true;
    $('chat-main').hidden = false;
    renderMine();
    await loadDetail();
  }

  async function loadDetail() {
    const current = S.current;
    if (!current) return;
    let detail;
    try {
      detail = await api('GET', '/desk/api/conversations/' + enc(current.cid));
    } catch (error) {
      if (S.current === current) failed(error);
      return;
    }
    if (S.current !== current) return;
    current.detail = detail;
    current.caseNumber = detail.case ? str(detail.case.number) : null;
    (Array.isArray(detail.entries) ? detail.entries : []).forEach(appendEntry);
    watch(current);
    renderConversation();
    if (current.caseNumber) loadCase();
  }

  function renderConversation() {
    const current = S.current;
    const d = current.detail;
    const mine = d.mode === 'held' && isMe(d.holder);
    const parts = [tOr('channel_' + current.cid.split(':')[0], current.cid.split(':')[0])];
    if (d.case) parts.push(t('case') + ' ' + str(d.case.number));
    $('chat-title').textContent = parts.join(' · ');
    const sub = [tOr('mode_' + str(d.mode), str(d.mode))];
    if (d.holder && d.mode === 'held') sub.push(t('held_by', { name: agentLabel(d.holder) }));
    $('chat-sub').textContent = sub.join(' · ');
    $('chat-main').dataset.mode = str(d.mode);
    $('chat-accept').hidden = d.mode !== 'queued';
    ['reply', 'send', 'canned', 'act-handback', 'act-handback-rate', 'act-transfer', 'act-resolve'].forEach(function (id) {
      $(id).disabled = !mine;
    });
    if (!mine) {
      $('transfer-form').hidden = true;
      $('resolve-form').hidden = true;
    }
    renderCustomer(d.customer);
    renderCase(d.case);
  }

  function appendEntry(entry) {
    const current = S.current;
    if (!current || !entry || !Number.isInteger(entry.seq) || current.seqs.has(entry.seq)) return;
    current.seqs.add(entry.seq);
    current.last = Math.max(current.last, entry.seq);
    const roles = ['customer', 'bot', 'agent', 'system'];
    const role = roles.indexOf(entry.role) >= 0 ? entry.role : 'system';
    const box = el('div', 'entry role-' + role);
    box.dataset.seq = String(entry.seq);
    const head = el('div', 'entry-head');
    const who = role === 'agent' && entry.author ? str(entry.author) : t('who_' + role);
    head.appendChild(el('span', 'who', who));
    head.appendChild(el('span', 'time', fmtTime(entry.ts)));
    box.appendChild(head);
    if (str(entry.text)) box.appendChild(el('div', 'entry-text', str(entry.text)));
    if (entry.card && typeof entry.card === 'object') {
      const card = el('div', 'entry-card');
      [entry.card.title, entry.card.number, entry.card.status].forEach(function (v) {
        if (str(v)) card.appendChild(el('span', null, str(v)));
      });
      box.appendChild(card);
    }
    if (Array.isArray(entry.buttons) && entry.buttons.length) {
      const chips = el('div', 'chips');
      entry.buttons.forEach(function (b) {
        if (b && str(b.title)) chips.appendChild(el('span', 'chip', str(b.title)));
      });
      box.appendChild(chips);
    }
    const list = $('transcript');
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    let after = null;
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (Number(node.dataset.seq) > entry.seq) after = node;
      else break;
    }
    list.insertBefore(box, after);
    if (stick || role === 'agent') list.scrollTop = list.scrollHeight;
  }

  async function sendReply(event) {
    event.preventDefault();
    const current = S.current;
    const text = $('reply').value.trim();
    if (!current || !text) return;
    const pick = S.cannedPick;
    $('send').disabled = true;
    try {
      const path = '/desk/api/conversations/' + enc(current.cid);
      const data = pick && pick.text === text
        ? await api('POST', path + '/canned', { id: pick.id })
        : await api('POST', path + '/messages', { text: text });
      $('reply').value = '';
      S.cannedPick = null;
      if (S.current === current && data && data.entry) appendEntry(data.entry);
    } catch (error) {
      failed(error);
    } finally {
      $('send').disabled = !(S.current && S.current.detail && S.current.detail.mode === 'held');
      $('reply').focus();
    }
  }

  function pickCanned() {
    const select = $('canned');
    const reply = S.canned.find(function (r) { return r.id === select.value; });
    select.value = '';
    if (!reply || !S.current || !S.current.detail) return;
    const text = S.current.detail.locale === 'en' ? str(reply.text_en) : str(reply.text_zh);
    $('reply').value = text;
    S.cannedPick = { id: str(reply.id), text: text };
    $('reply').focus();
  }

  async function conversationAction(suffix, body, done) {
    const current = S.current;
    if (!current) return false;
    try {
      await api('POST', '/desk/api/conversations/' + enc(current.cid) + '/' + suffix, body);
    } catch (error) {
      failed(error);
      return false;
    }
    toast(t(done), 'ok');
    refreshMine();
    refreshQueue();
    if (S.current === current) await loadDetail();
    return true;
  }

  async function transfer(event) {
    event.preventDefault();
    const agent = $('transfer-agent').value;
    const team = $('transfer-team').value.trim();
    if (!agent && !team) {
      toast(t('transfer_needs_target'), 'error');
      return;
    }
    const body = { note: $('transfer-note').value.trim() };
    if (agent) body.agent = agent;
    else body.team = team;
    if (await conversationAction('transfer', body, 'transferred')) {
      $('transfer-form').hidden = true;
      $('transfer-note').value = '';
      $('transfer-team').value = '';
    }
  }

  async function resolve(event) {
    event.preventDefault();
    if (await conversationAction('resolve', { note: $('resolve-note').value.trim() }, 'resolved')) {
      $('resolve-form').hidden = true;
      $('resolve-note').value = '';
    }
  }

  // ---------------------------------------------------------------- customer panel

  function renderCustomer(customer) {
    const box = $('customer-box');
    box.hidden = false;
    const phone = $('customer-phone');
    if (!customer) {
      phone.textContent = t('unknown_customer');
      phone.classList.remove('revealed');
      $('customer-verified').textContent = t('no');
      $('reveal').hidden = true;
      $('reveal-form').hidden = true;
      return;
    }
    if (!phone.classList.contains('revealed') || phone.dataset.customer !== str(customer.id)) {
      phone.textContent = str(customer.phone_masked) || t('none');
      phone.classList.remove('revealed');
    }
    phone.dataset.customer = str(customer.id);
    $('customer-verified').textContent = customer.verified ? t('yes') : t('no');
    $('reveal').hidden = !customer.phone_masked || phone.classList.contains('revealed');
  }

  async function reveal(event) {
    event.preventDefault();
    const current = S.current;
    const customer = current && current.detail && current.detail.customer;
    const reason = $('reveal-reason').value.trim();
    if (!customer) return;
    if (!reason) {
      toast(t('reason_needed'), 'error');
      return;
    }
    try {
      const data = await api('POST', '/desk/api/customers/' + enc(str(customer.id)) + '/reveal', { reason: reason });
      const phone = $('customer-phone');
      phone.textContent = str(data.phone);
      phone.classList.add('revealed');
      $('reveal-form').hidden = true;
      $('reveal').hidden = true;
      $('reveal-reason').value = '';
    } catch (error) {
      failed(error);
    }
  }

  // ---------------------------------------------------------------- case panel

  function renderCase(c) {
    const box = $('case-box');
    box.hidden = !c;
    if (!c) return;
    $('case-number').textContent = str(c.number);
    $('case-kind').textContent = tOr('kind_' + str(c.kind), str(c.kind));
    const state = $('case-state');
    state.textContent = tOr('state_' + str(c.state), str(c.state));
    state.dataset.state = str(c.state);
    $('case-owner').textContent = c.owner ? agentLabel(c.owner) : t('none');
    const helpers = Array.isArray(c.helpers) ? c.helpers : [];
    $('case-helpers').textContent = helpers.length ? helpers.map(agentLabel).join(', ') : t('none');
    const sla = $('case-sla');
    sla.textContent = tOr(str(c.sla), str(c.sla));
    sla.dataset.sla = str(c.sla);
    $('case-description').textContent = str(c.description);
    renderDues(c);
    renderMoves(c);
  }

  function renderDues(c) {
    const list = $('case-dues');
    list.replaceChildren();
    const due = c.due && typeof c.due === 'object' ? c.due : {};
    const remaining = c.remaining && typeof c.remaining === 'object' ? c.remaining : {};
    Object.keys(due).sort(function (a, b) { return due[a] - due[b]; }).forEach(function (name) {
      const li = el('li', 'due');
      li.dataset.due = name;
      li.appendChild(el('span', 'due-name', tOr('due_' + name, name)));
      li.appendChild(el('span', 'time', fmtTime(due[name])));
      if (typeof remaining[name] === 'number') {
        li.appendChild(ticker('down', remaining[name]));
      } else {
        li.appendChild(el('span', 'met', t('met')));
      }
      list.appendChild(li);
    });
  }

  function renderMoves(c) {
    const box = $('case-moves');
    box.replaceChildren();
    Object.keys(MOVES).forEach(function (to) {
      if (MOVES[to].indexOf(str(c.state)) < 0) return;
      const b = button(t('move_' + to), 'small move', function () { moveCase(to); });
      b.dataset.to = to;
      box.appendChild(b);
    });
  }

  async function loadCase() {
    const current = S.current;
    if (!current || !current.caseNumber) return;
    let data;
    try {
      data = await api('GET', '/desk/api/cases/' + enc(current.caseNumber));
    } catch (error) {
      if (S.current !== current) return;
      const events = $('case-events');
      events.replaceChildren(el('li', 'empty', error.status === 403 ? t('archive_hidden') : errorText(error)));
      return;
    }
    if (S.current !== current) return;
    if (current.detail) current.detail.case = data.case;
    renderCase(data.case);
    const list = $('case-events');
    list.replaceChildren();
    (Array.isArray(data.events) ? data.events : []).forEach(function (e) {
      const li = el('li', 'event');
      li.appendChild(el('span', 'time', fmtTime(e.ts)));
      li.appendChild(el('span', 'actor', agentLabel(str(e.actor))));
      if (e.from !== e.to) {
        const from = e.from ? tOr('state_' + e.from, str(e.from)) : '';
        li.appendChild(el('span', 'move', (from ? from + ' → ' : '→ ') + tOr('state_' + str(e.to), str(e.to))));
      }
      if (str(e.note)) li.appendChild(el('span', 'note', str(e.note)));
      list.appendChild(li);
    });
  }

  async function moveCase(to) {
    const current = S.current;
    if (!current || !current.caseNumber) return;
    try {
      await api('POST', '/desk/api/cases/' + enc(current.caseNumber) + '/state', { to: to, note: '' });
      toast(t('moved'), 'ok');
    } catch (error) {
      failed(error);
    }
    loadCase();
  }

  async function addNote(event) {
    event.preventDefault();
    const current = S.current;
    const note = $('note-text').value.trim();
    if (!current || !current.caseNumber || !note) return;
    try {
      await api('POST', '/desk/api/cases/' + enc(current.caseNumber) + '/notes', { note: note });
      $('note-text').value = '';
      toast(t('note_saved'), 'ok');
    } catch (error) {
      failed(error);
    }
    loadCase();
  }

  // ---------------------------------------------------------------- supervisor

  function refreshSupervisorSoon() {
    if (S.view === 'supervisor') debounce('supervisor', refreshSupervisor);
  }

  async function refreshSupervisor() {
    if (!S.me || S.me.role !== 'supervisor') return;
    let data;
    try {
      data = await api('GET', '/desk/api/supervisor/overview');
    } catch (error) {
      return;
    }
    renderToday(data.today || {});
    renderAgentsTable(Array.isArray(data.agents) ? data.agents : []);
    refreshQueue();
    const cases = data.cases || {};
    ['on_time', 'warned', 'breached'].forEach(function (group) {
      const column = $('sv-' + group);
      column.replaceChildren();
      (Array.isArray(cases[group]) ? cases[group] : []).forEach(function (c) {
        column.appendChild(supervisorCase(c));
      });
    });
    if (Date.now() - S.chartsAt > CHART_REFRESH_MS) renderCharts();
  }

  function renderToday(today) {
    $('fig-handoffs').textContent = typeof today.handoffs === 'number' ? String(today.handoffs) : '–';
    $('fig-wait').textContent = typeof today.avg_wait_s === 'number' ? fmtDuration(today.avg_wait_s) : '–';
    $('fig-sla').textContent = typeof today.sla_compliance === 'number' ? Math.round(today.sla_compliance * 100) + '%' : '–';
    $('fig-csat').textContent = typeof today.csat === 'number' ? today.csat.toFixed(2) + ' / 5' : '–';
  }

  function renderAgentsTable(agents) {
    const body = $('sv-agents');
    body.replaceChildren();
    agents.forEach(function (a) {
      const row = el('tr');
      row.dataset.agent = str(a.name);
      row.appendChild(el('td', null, agentLabel(str(a.name)) || str(a.display)));
      row.appendChild(el('td', null, t('role_' + str(a.role))));
      const status = el('td', 'status', tOr(str(a.status), str(a.status)));
      status.dataset.status = str(a.status);
      row.appendChild(status);
      row.appendChild(el('td', 'num', str(a.load)));
      body.appendChild(row);
    });
  }

  function supervisorCase(c) {
    const li = el('li', 'sv-case');
    li.dataset.case = str(c.number);
    const head = el('div', 'row');
    head.appendChild(el('span', 'mono', str(c.number)));
    head.appendChild(el('span', 'pill', tOr('kind_' + str(c.kind), str(c.kind))));
    head.appendChild(el('span', 'pill', tOr('state_' + str(c.state), str(c.state))));
    const remaining = c.remaining && typeof c.remaining === 'object' ? c.remaining : {};
    const next = Object.keys(remaining).sort(function (a, b) { return remaining[a] - remaining[b]; })[0];
    if (next) {
      head.appendChild(el('span', 'due-name', tOr('due_' + next, next)));
      head.appendChild(ticker('down', remaining[next]));
    }
    li.appendChild(head);
    li.appendChild(el('div', 'owner-line', t('owner') + ': ' + (c.owner ? agentLabel(c.owner) : t('none'))));
    const form = el('form', 'inline-form owner-form');
    form.hidden = true;
    form.noValidate = true;
    const select = el('select', 'owner-select');
    S.agents.forEach(function (a) {
      const option = el('option', null, agentLabel(a.name));
      option.value = a.name;
      select.appendChild(option);
    });
    if (c.owner) select.value = str(c.owner);
    const reason = el('input', 'owner-reason');
    reason.maxLength = 1000;
    reason.placeholder = t('owner_reason');
    reason.setAttribute('aria-label', t('owner_reason'));
    const submit = el('button', 'btn small primary', t('change'));
    submit.type = 'submit';
    form.appendChild(select);
    form.appendChild(reason);
    form.appendChild(submit);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      changeOwner(str(c.number), select.value, reason.value.trim());
    });
    li.appendChild(button(t('change_owner'), 'small link', function () { form.hidden = !form.hidden; }));
    li.appendChild(form);
    return li;
  }

  async function changeOwner(number, owner, reason) {
    if (!reason) {
      toast(t('reason_needed'), 'error');
      return;
    }
    try {
      await api('POST', '/desk/api/cases/' + enc(number) + '/owner', { owner: owner, reason: reason });
      toast(t('owner_changed'), 'ok');
    } catch (error) {
      failed(error);
    }
    refreshSupervisor();
  }

  function renderCharts() {
    S.chartsAt = Date.now();
    const box = $('charts');
    box.replaceChildren();
    CHARTS.forEach(function (name) {
      const figure = el('figure', 'chart');
      const img = el('img');
      img.alt = t('chart_' + name);
      img.src = '/desk/api/supervisor/charts/' + name + '.svg?locale=' + S.lang + '&at=' + S.chartsAt;
      figure.appendChild(img);
      figure.appendChild(el('figcaption', null, t('chart_' + name)));
      box.appendChild(figure);
    });
  }

  // ---------------------------------------------------------------- boot

  function bind() {
    $('login-form').addEventListener('submit', login);
    document.querySelectorAll('.lang-toggle').forEach(function (b) { b.addEventListener('click', toggleLanguage); });
    $('logout').addEventListener('click', logout);
    $('presence').addEventListener('change', setPresence);
    document.querySelectorAll('.tab').forEach(function (tab) {
      tab.addEventListener('click', function () { showView(tab.dataset.view); });
    });
    $('chat-accept').addEventListener('click', function () { if (S.current) accept(S.current.cid); });
    $('composer').addEventListener('submit', sendReply);
    $('reply').addEventListener('keydown', function (event) {
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      $('composer').requestSubmit();
    });
    $('canned').addEventListener('change', pickCanned);
    $('act-handback').addEventListener('click', function () { conversationAction('handback', { rate: false }, 'sent_back'); });
    $('act-handback-rate').addEventListener('click', function () { conversationAction('handback', { rate: true }, 'sent_back'); });
    $('act-transfer').addEventListener('click', function () {
      fillAgentSelect($('transfer-agent'), true);
      $('transfer-form').hidden = !$('transfer-form').hidden;
      $('resolve-form').hidden = true;
    });
    $('act-resolve').addEventListener('click', function () {
      $('resolve-form').hidden = !$('resolve-form').hidden;
      $('transfer-form').hidden = true;
      if (!$('resolve-form').hidden) $('resolve-note').focus();
    });
    $('transfer-form').addEventListener('submit', transfer);
    $('resolve-form').addEventListener('submit', resolve);
    $('reveal').addEventListener('click', function () {
      $('reveal-form').hidden = false;
      $('reveal-reason').focus();
    });
    $('reveal-form').addEventListener('submit', reveal);
    $('note-form').addEventListener('submit', addNote);
    document.querySelectorAll('.inline-form .cancel').forEach(function (b) {
      b.addEventListener('click', function () { b.closest('form').hidden = true; });
    });
  }

  async function boot() {
    S.lang = chooseLanguage();
    bind();
    applyLanguage();
    try {
      await signedIn(await api('GET', '/desk/api/me'), false);
    } catch (error) {
      showLogin(error.status === 401 ? '' : errorText(error));
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();

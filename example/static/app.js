// The chat page: a small, framework-free UI over the Lifeline client.
// User-supplied text only ever reaches the DOM through textContent.
import { LifelineClient } from '/rt/lifeline.js'; // served by negotiate's Mount

const DEFAULT_ROOMS = ['general', 'random'];
const ROOM_RE = /^[a-z0-9-]{1,32}$/;
const NICK_KEY = 'lifeline.nick';
const ROOMS_KEY = 'lifeline.rooms';
const TYPING_SEND_EVERY_MS = 2500;
const TYPING_TTL_MS = 4000; // the server forces this TTL; used when an event lacks ttlMs
const MAX_MESSAGES = 500;
const HISTORY_LIMIT = 50; // recent messages shown on entering a room
const MAX_NOTIFICATIONS = 50;
const TRANSPORT_LABELS = { longpoll: 'long-poll', websocket: 'WebSocket', sse: 'SSE' };

const $ = (id) => document.getElementById(id);
const ui = {
  transport: $('transport'),
  who: $('who'), whoName: $('who-name'), whoAvatar: $('who-avatar'),
  resetBanner: $('reset-banner'), resetDismiss: $('reset-dismiss'),
  rooms: $('rooms'), joinForm: $('join-form'), joinInput: $('join-input'), joinError: $('join-error'),
  presence: $('presence'), presenceCount: $('presence-count'),
  notifyForm: $('notify-form'), notifyToken: $('notify-token'), notifyInput: $('notify-input'), notifyError: $('notify-error'),
  notifications: $('notifications'), notificationsEmpty: $('notifications-empty'),
  roomTitle: $('room-title'), messages: $('messages'), typing: $('typing'),
  composer: $('composer'), messageInput: $('message-input'), sendButton: $('send-button'), sendError: $('send-error'),
  nickOverlay: $('nick-overlay'), nickForm: $('nick-form'), nickInput: $('nick-input'),
};

const state = {
  nick: '',
  room: initialRoom(),
  rooms: loadRooms(),
  client: null,
  clientId: null,
  myIds: new Set(), // every clientId this page has had: own messages stay marked across reconnects
  members: new Map(), // clientId → name, for the current room
  presenceLoading: null, // presence events that arrive while the list loads
  typers: new Map(), // clientId → { name, until }
  shown: new Set(), // ids of the messages on screen: history and live events overlap
  typingTimer: 0,
  lastTypingSent: 0,
  sending: false,
  status: 'connecting',
};

// ---------- helpers ----------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'text') node.textContent = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function avatar(name) {
  const a = el('span', { className: 'avatar', 'aria-hidden': 'true', text: [...name][0] ?? '?' });
  a.style.setProperty('--hue', String(hue(name)));
  return a;
}

function timeOf(ts) {
  const d = new Date(typeof ts === 'number' ? ts : Date.now());
  return el('time', { dateTime: d.toISOString(), text: d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) });
}

function randomNick() {
  const adj = ['brave', 'calm', 'eager', 'gentle', 'jolly', 'lucky', 'quick', 'sunny', 'witty', 'zesty'];
  const animal = ['otter', 'falcon', 'panda', 'lynx', 'heron', 'koala', 'fox', 'orca', 'yak', 'wren'];
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  return `${pick(adj)}-${pick(animal)}-${Math.floor(Math.random() * 90) + 10}`;
}

function nameFromMeta(meta) {
  const name = meta && typeof meta.name === 'string' ? meta.name.trim() : '';
  return name || 'anonymous';
}

function errorText(err) {
  if (!err) return 'something went wrong';
  const detail = err.detail ?? err.problem?.detail;
  return detail || err.message || String(err);
}

function show(node, text) {
  node.textContent = text ?? '';
  node.hidden = !text;
}

function storage(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(key);
    localStorage.setItem(key, value);
  } catch { /* private mode: keep going without persistence */ }
  return null;
}

function initialRoom() {
  const fromHash = decodeURIComponent(location.hash.slice(1));
  return ROOM_RE.test(fromHash) ? fromHash : 'general';
}

function loadRooms() {
  let saved = [];
  try { saved = JSON.parse(storage(ROOMS_KEY) ?? '[]'); } catch { /* ignore a corrupt list */ }
  const rooms = [...DEFAULT_ROOMS];
  for (const r of Array.isArray(saved) ? saved : []) if (ROOM_RE.test(r) && !rooms.includes(r)) rooms.push(r);
  return rooms;
}

function requestedTransports() {
  const q = new URLSearchParams(location.search).get('transport');
  if (!q) return undefined;
  const list = q.split(',').map((s) => s.trim()).filter((s) => ['websocket', 'sse', 'longpoll'].includes(s));
  return list.length ? list : undefined;
}

const topicOf = (room) => `room:${room}`;

// ---------- transport indicator ----------

// Why a better transport is not in use (state.skipped[].reason), for the
// indicator's tooltip; the visible text keeps the short code.
const SKIP_REASONS = {
  no_upgrade: 'the WebSocket handshake was refused (a proxy that strips Upgrade?)',
  open_timeout: 'it did not open within 5 s',
  no_first_byte: 'the stream sent nothing within 3 s (a buffering proxy?)',
  closed_early: 'it kept dropping right after opening',
  error: 'it failed',
  not_offered: 'the server does not offer it',
  deprioritized: 'it failed from this network recently; the server advised the next one',
};

const transportLabel = (t) => TRANSPORT_LABELS[t] ?? t;

/**
 * The indicator's parts for a client state: `main` like "SSE · connected",
 * `skipped` like "(websocket: no_upgrade)" when better transports were
 * skipped, `rateLimited` while the server's rate limit holds the client
 * back (status `rate-limited`; with `transport` set the connection stays
 * up and only a send waits).
 */
function describeState(s) {
  const rateLimited = s.status === 'rate-limited'
    || (s.error?.code === 'rate_limited' && (s.status === 'connecting' || s.status === 'reconnecting'));
  const retry = typeof s.retryInMs === 'number' ? ` · retry in ${Math.max(1, Math.ceil(s.retryInMs / 1000))} s` : '';
  const on = s.transport ? `${transportLabel(s.transport)} · ` : '';
  let main;
  if (rateLimited) main = `${on}rate limited${retry}`;
  else if (s.status === 'connected') main = `${on}connected`;
  else if (s.status === 'disconnected') main = s.error ? `disconnected: ${errorText(s.error)}` : 'disconnected';
  else main = `${on}${s.status}${retry}`;
  const list = s.transport && Array.isArray(s.skipped) ? s.skipped : [];
  const skipped = list.length ? `(${list.map((k) => `${k.transport}: ${k.reason}`).join(', ')})` : '';
  const why = list.map((k) => `${transportLabel(k.transport)} skipped: ${SKIP_REASONS[k.reason] ?? k.reason}`);
  return { main, skipped, list, rateLimited, why };
}

function renderStatus(s) {
  state.status = s.status;
  const { main, skipped, list, rateLimited, why } = describeState(s);
  const parts = [el('span', { className: 'transport-main', text: main })];
  // The leading space keeps textContent readable: "SSE · connected (websocket: no_upgrade)".
  if (skipped) parts.push(el('span', { className: 'transport-skipped', dataset: { testid: 'transport-skipped' }, text: ` ${skipped}` }));
  ui.transport.replaceChildren(...parts);
  ui.transport.dataset.status = s.status;
  ui.transport.dataset.transport = s.transport ?? '';
  ui.transport.dataset.skipped = list.map((k) => `${k.transport}:${k.reason}`).join(' ');
  if (rateLimited) ui.transport.dataset.rateLimited = 'true';
  else delete ui.transport.dataset.rateLimited;
  const title = [s.error && s.status !== 'connected' ? `last error: ${errorText(s.error)}` : `client ${s.clientId ?? '—'}`, ...why];
  if (rateLimited) title.unshift('The server asked this page to slow down; it waits, then carries on by itself.');
  ui.transport.title = title.join('\n');
  updateComposer();
}

// ---------- rooms ----------

function renderRooms() {
  ui.rooms.replaceChildren(...state.rooms.map((room) => el('li', {},
    el('button', {
      type: 'button', text: `# ${room}`, 'aria-current': String(room === state.room),
      dataset: { testid: `room-${room}`, room },
      onclick: () => switchRoom(room),
    }))));
  ui.roomTitle.textContent = `#${state.room}`;
  ui.messageInput.placeholder = `Message #${state.room}`;
}

async function switchRoom(room) {
  if (room === state.room || !state.client) return;
  const previous = state.room;
  state.room = room;
  history.replaceState(null, '', `${location.pathname}${location.search}#${room}`);
  if (!state.rooms.includes(room)) {
    state.rooms.push(room);
    storage(ROOMS_KEY, JSON.stringify(state.rooms.filter((r) => !DEFAULT_ROOMS.includes(r))));
  }
  renderRooms();
  clearRoom();
  try {
    await state.client.setTopics([topicOf(room), 'notifications']);
    // After the switch: the session follows the room from no later than the
    // history's cursor, so history plus live events miss nothing.
    loadHistory();
    await loadPresence();
  } catch (err) {
    state.room = previous;
    renderRooms();
    show(ui.joinError, `Could not switch to #${room}: ${errorText(err)}`);
  }
}

function clearRoom() {
  ui.messages.replaceChildren();
  state.shown.clear();
  state.members.clear();
  state.typers.clear();
  renderPresence();
  renderTyping();
}

ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = ui.joinInput.value.trim().toLowerCase().replace(/^#/, '');
  if (!ROOM_RE.test(room)) {
    show(ui.joinError, 'Room names are 1–32 of a–z, 0–9 and “-”.');
    return;
  }
  show(ui.joinError, '');
  ui.joinInput.value = '';
  switchRoom(room);
});

// ---------- presence ----------

function applyPresence(data) {
  if (!data || typeof data.clientId !== 'string') return;
  if (data.action === 'join') state.members.set(data.clientId, nameFromMeta(data.meta));
  else if (data.action === 'leave') state.members.delete(data.clientId);
}

async function loadPresence() {
  const topic = topicOf(state.room);
  state.presenceLoading = [];
  try {
    const res = await state.client.presence(topic);
    if (topic !== topicOf(state.room)) return;
    const clients = Array.isArray(res) ? res : res?.clients ?? [];
    state.members = new Map(clients.map((c) => [c.clientId, nameFromMeta(c.meta)]));
    for (const data of state.presenceLoading) applyPresence(data);
  } catch (err) {
    console.warn('presence', err);
  } finally {
    state.presenceLoading = null;
    renderPresence();
  }
}

function renderPresence() {
  const people = [...state.members].sort(([a, an], [b, bn]) =>
    Number(state.myIds.has(b)) - Number(state.myIds.has(a)) || an.localeCompare(bn));
  ui.presence.replaceChildren(...people.map(([id, name]) => el('li', { dataset: { testid: 'presence-item', clientId: id } },
    avatar(name),
    el('span', { className: 'name', text: name }),
    state.myIds.has(id) ? el('span', { className: 'you', text: '(you)' }) : '')));
  ui.presenceCount.textContent = String(people.length);
}

// ---------- typing ----------

function noteTyping(ev) {
  const name = typeof ev.data?.name === 'string' ? ev.data.name : 'someone';
  const ttl = typeof ev.ttlMs === 'number' ? ev.ttlMs : TYPING_TTL_MS;
  state.typers.set(ev.from ?? name, { name, until: Date.now() + ttl });
  renderTyping();
}

function renderTyping() {
  clearTimeout(state.typingTimer);
  const now = Date.now();
  for (const [id, t] of state.typers) if (t.until <= now) state.typers.delete(id);
  const names = [...new Set([...state.typers.values()].map((t) => t.name))];
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  ui.typing.textContent = text;
  if (state.typers.size) {
    const next = Math.min(...[...state.typers.values()].map((t) => t.until));
    state.typingTimer = setTimeout(renderTyping, Math.max(50, next - now));
  }
}

ui.messageInput.addEventListener('input', () => {
  const now = Date.now();
  if (!ui.messageInput.value.trim() || now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (!state.client || state.status !== 'connected') return;
  state.lastTypingSent = now;
  state.client.send(topicOf(state.room), 'typing', {}, { ttlMs: TYPING_TTL_MS }).catch(() => { /* best effort */ });
});

// ---------- messages ----------

/** Shows the room's recent messages above those that arrived live meanwhile. */
async function loadHistory() {
  const topic = topicOf(state.room);
  try {
    const res = await state.client.history(topic, { limit: HISTORY_LIMIT });
    if (topic !== topicOf(state.room)) return; // switched again meanwhile
    const older = res.events.filter((ev) => ev.type === 'message' && !state.shown.has(ev.id));
    for (const ev of older) state.shown.add(ev.id);
    ui.messages.prepend(...older.map(messageItem));
    ui.messages.scrollTop = ui.messages.scrollHeight;
  } catch (err) {
    console.warn('history', err);
  }
}

function addMessage(ev) {
  if (state.shown.has(ev.id)) return;
  state.shown.add(ev.id);
  const mine = ev.from != null && state.myIds.has(ev.from);
  const item = messageItem(ev);
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
  ui.messages.append(item);
  while (ui.messages.childElementCount > MAX_MESSAGES) ui.messages.firstElementChild.remove();
  if (atBottom || mine) ui.messages.scrollTop = ui.messages.scrollHeight;
  if (ev.from != null && state.typers.delete(ev.from)) renderTyping();
}

function messageItem(ev) {
  const mine = ev.from != null && state.myIds.has(ev.from);
  const name = typeof ev.data?.name === 'string' ? ev.data.name : 'anonymous';
  const item = el('li', { className: mine ? 'message mine' : 'message', dataset: { testid: 'message', mine: String(mine) } },
    avatar(name),
    el('div', { className: 'bubble' },
      el('div', { className: 'meta' },
        el('span', { className: 'name', dataset: { testid: 'message-name' }, text: mine ? `${name} (you)` : name }),
        timeOf(ev.ts)),
      el('p', { className: 'text', dataset: { testid: 'message-text' }, text: String(ev.data?.text ?? '') })));
  return item;
}

function updateComposer() {
  const usable = Boolean(state.client) && state.status !== 'disconnected';
  ui.messageInput.disabled = !usable;
  ui.sendButton.disabled = !usable || state.sending;
  ui.messageInput.readOnly = state.sending;
  ui.composer.setAttribute('aria-busy', String(state.sending));
  ui.sendButton.textContent = state.sending ? 'Sending…' : 'Send';
}

ui.composer.addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = ui.messageInput.value.trim();
  if (!text || state.sending || !state.client) return;
  state.sending = true;
  show(ui.sendError, '');
  updateComposer();
  try {
    await state.client.send(topicOf(state.room), 'message', { text });
    ui.messageInput.value = '';
    state.lastTypingSent = 0;
  } catch (err) {
    show(ui.sendError, `Not sent: ${errorText(err)}`);
  } finally {
    state.sending = false;
    updateComposer();
    ui.messageInput.focus();
  }
});

// ---------- notifications ----------

function addNotification(ev) {
  ui.notifications.prepend(el('li', { dataset: { testid: 'notification' } },
    timeOf(ev.ts),
    el('span', { text: String(ev.data?.text ?? '') })));
  while (ui.notifications.childElementCount > MAX_NOTIFICATIONS) ui.notifications.lastElementChild.remove();
  ui.notificationsEmpty.hidden = true;
}

ui.notifyForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = ui.notifyInput.value.trim();
  if (!text) {
    show(ui.notifyError, 'Write something to announce first.');
    return;
  }
  const button = ui.notifyForm.querySelector('button');
  button.disabled = true;
  show(ui.notifyError, '');
  try {
    // Only the server publishes notifications: the route needs the token the
    // server was started with (and does not exist without one).
    const res = await fetch('/api/notify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ui.notifyToken.value.trim()}` },
      body: JSON.stringify({ text }),
    });
    if (res.status === 404) throw new Error('the server was started without -notify-token');
    if (!res.ok) {
      const problem = await res.json().catch(() => ({}));
      throw new Error(problem.detail || `HTTP ${res.status}`);
    }
    ui.notifyInput.value = '';
  } catch (err) {
    show(ui.notifyError, `Not sent: ${errorText(err)}`);
  } finally {
    button.disabled = false;
  }
});

// ---------- events ----------

function onEvent(ev) {
  if (ev.topic === 'notifications') {
    if (ev.type === 'notification') addNotification(ev);
    return;
  }
  if (ev.topic !== topicOf(state.room)) return; // a late event of the previous room
  switch (ev.type) {
    case 'message':
      addMessage(ev);
      break;
    case 'typing':
      if (ev.from == null || !state.myIds.has(ev.from)) noteTyping(ev);
      break;
    case 'presence':
      if (state.presenceLoading) state.presenceLoading.push(ev.data);
      applyPresence(ev.data);
      renderPresence();
      break;
    default:
      break;
  }
}

function onState(s) {
  if (s.clientId && s.clientId !== state.clientId) {
    const first = state.clientId === null;
    state.clientId = s.clientId;
    state.myIds.add(s.clientId);
    if (first) loadHistory();
    if (s.status === 'connected' || first) loadPresence();
  }
  renderStatus(s);
}

function onReset() {
  ui.resetBanner.hidden = false;
  ui.messages.replaceChildren();
  state.shown.clear();
  loadHistory();
  state.typers.clear();
  renderTyping();
  loadPresence();
}

ui.resetDismiss.addEventListener('click', () => { ui.resetBanner.hidden = true; });

// ---------- nickname and start-up ----------

function renderWho() {
  ui.who.hidden = !state.nick;
  ui.whoName.textContent = state.nick;
  ui.whoAvatar.textContent = [...state.nick][0] ?? '?';
  ui.whoAvatar.style.setProperty('--hue', String(hue(state.nick)));
}

function askNick() {
  ui.nickInput.value = state.nick || randomNick();
  ui.nickOverlay.hidden = false;
  ui.nickInput.focus();
  ui.nickInput.select();
}

ui.nickForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const nick = ui.nickInput.value.trim().replace(/\s+/g, ' ').slice(0, 32);
  if (!nick) return;
  ui.nickOverlay.hidden = true;
  if (nick === state.nick && state.client) return;
  state.nick = nick;
  storage(NICK_KEY, nick);
  renderWho();
  await connect(); // the nickname travels in negotiate's meta: reconnect with it
});

ui.who.addEventListener('click', askNick);

async function connect() {
  const old = state.client;
  state.client = null;
  if (old) await old.close().catch(() => {});
  clearRoom();
  state.clientId = null;
  let client;
  try {
    client = new LifelineClient({
      url: '/rt',
      topics: [topicOf(state.room), 'notifications'],
      meta: { name: state.nick },
      transports: requestedTransports(),
    });
  } catch (err) {
    // e.g. ?transport=websocket with a client that does not speak it yet
    renderStatus({ status: 'disconnected', transport: null, attempt: 0, error: err });
    return;
  }
  state.client = client;
  client.on('event', onEvent);
  client.on('state', onState);
  client.on('reset', onReset);
  updateComposer();
}

window.addEventListener('pagehide', () => { state.client?.close(); });

renderRooms();
state.nick = (storage(NICK_KEY) ?? '').trim();
renderWho();
if (state.nick) connect();
else askNick();

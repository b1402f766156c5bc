// The screen: approved barrages fly right to left.
//
// - Every comment crosses in the same time (default 8 s; ?speed=2 is twice as
//   fast, ?duration=12 sets seconds). Motion is a compositor transform animation,
//   so it is time-based and never depends on the frame rate.
// - Lanes: a comment enters a lane only when the one ahead has fully entered
//   and it can never catch that one before it leaves (longer = faster).
// - Full screen: up to `max_waiting` comments wait; past that the oldest
//   waiting one is dropped.
// - ?scale=0.5 halves the lane height (twice the lanes, smaller text), e.g.
//   for a 720p stream overlay; 0.3 to 3.
// - Live controls (events of the room's log, replayed like barrages): `pause` holds
//   new launches (approved ones wait, up to `max_waiting`), `resume` lets them fly,
//   `clear` empties the screen and the queue, `announce` pins one line at the top,
//   `settings` changes the title, join text and crossing time. Every connection
//   opens with `state`: what the room shows now, so a screen turned on late is right.
// - The join corner shows the room's QR code beside the join text; when nothing has
//   flown for `idle_seconds`, a large QR code with the room's title. ?join=0 hides both.
// - ×N: a repeat of a comment flown moments ago comes as `merge` {id, count}: the
//   item shows "×N" while it still flies, else flies once more with its count.
// - Text only ever goes through textContent.
// - A stream can stall with its connection open (a frozen node, a path that drops
//   packets): the browser then never reports an error. The stream sends a heartbeat
//   event (?heartbeat=event) every `heartbeat_seconds`; after WATCHDOG_BEATS of them
//   with nothing at all, the page drops the stream and resumes with last_event_id.
// - Epochs: restoring the database from a backup rolls its event log back, and event and
//   barrage ids are handed out again. The stream names the database's epoch (`state`'s
//   `epoch`, new after every restore) and the page resumes with ?epoch= beside
//   last_event_id. A new epoch forgets every id seen before it (past `epoch_start`, the
//   last id the two logs share), so no new comment is skipped as "already seen".
"use strict";
(() => {
  // The page's words in its language (server/web/pages.py renders them into #i18n).
  const TEXT = JSON.parse(document.getElementById("i18n").textContent);
  const t = (key, values = {}) => (TEXT[key] ?? key).replace(/\{(\w+)\}/g,
    (whole, name) => (name in values ? String(values[name]) : whole));
  const params = new URLSearchParams(location.search);
  // ?room=<slug>: this screen shows that room's wall (main when none).
  const roomParam = params.get("room") ? `room=${encodeURIComponent(params.get("room"))}` : "";
  const stage = document.getElementById("stage");
  const joinBox = document.getElementById("join");
  const joinText = document.getElementById("join-text");
  const joinQr = document.getElementById("join-qr");
  const idleBox = document.getElementById("idle");
  const statusBox = document.getElementById("status");
  const announceBox = document.getElementById("announcement");
  const COLOR = /^#[0-9a-f]{6}$/;
  const SPAN = { small: 1, medium: 1, large: 2 };
  const GAP = 32;
  const RECENT = 200; // comments remembered for a `merge` that comes after they flew
  const WATCHDOG_BEATS = 2.75; // late heartbeats are normal; three missed ones are not
  // Until /api/screen-config answers: the longest heartbeat the server allows, so the
  // watchdog may be slow but never fires on a healthy stream.
  const settings = { crossingMs: 8000, maxWaiting: 200, heartbeatMs: 15000, idleMs: 20000 };
  let lanes = [];
  let laneHeight = 0;
  let waiting = [];
  let lastEventId = 0;
  let epoch = null; // the database's, as last heard
  let sourceEpoch = null; // the one the open stream's URL names (a browser's retry repeats it)
  let source = null;
  let backoff = 1000;
  let pumpTimer = null;
  let watchdog = null;
  let paused = false;
  let topOffset = 0; // the announcement's height: lanes start below it
  let idleTimer = null;
  const recent = new Map(); // id -> a flown comment's data, oldest first (bounded: RECENT)

  if (params.get("bg") === "transparent") document.documentElement.classList.add("transparent");
  if (params.get("join") === "0") joinBox.hidden = true;

  function crossingMs(base) {
    const duration = parseFloat(params.get("duration"));
    const speed = parseFloat(params.get("speed"));
    let ms = duration > 0 ? duration * 1000 : base;
    if (speed > 0) ms /= speed;
    return Math.min(Math.max(ms, 1000), 120000);
  }

  function layout() {
    const height = stage.clientHeight;
    const scale = Math.min(Math.max(parseFloat(params.get("scale")) || 1, 0.3), 3);
    laneHeight = Math.max(16, Math.round((height / 14) * scale));
    topOffset = announceBox.hidden ? 0 : announceBox.offsetHeight;
    const usable = height - topOffset - Math.round(height * 0.08); // keep the join corner clear
    lanes = Array.from({ length: Math.max(1, Math.floor(usable / laneHeight)) }, () => null);
    const root = document.documentElement.style;
    root.setProperty("--font-small", `${Math.round(laneHeight * 0.55)}px`); // 42 px at 1080p: readable from the back
    root.setProperty("--font-medium", `${Math.round(laneHeight * 0.68)}px`);
    root.setProperty("--font-large", `${Math.round(laneHeight * 1.25)}px`);
  }

  // May a comment of `width` enter a lane whose last comment is `tail`, now?
  function fits(tail, width, now) {
    if (!tail) return true;
    const W = stage.clientWidth;
    const T = settings.crossingMs;
    const elapsed = now - tail.start;
    const vAhead = (W + tail.width) / T;
    const vMine = (W + width) / T;
    if (elapsed * vAhead < tail.width + GAP) return false; // not fully in yet
    // where my head is when the one ahead has just left the screen
    return vMine <= vAhead || W - vMine * (T - elapsed) >= GAP;
  }

  function findLane(span, width, now) {
    for (let first = 0; first + span <= lanes.length; first++) {
      let free = true;
      for (let i = first; i < first + span && free; i++) free = fits(lanes[i], width, now);
      if (free) return first;
    }
    return -1;
  }

  function build(item) {
    const el = document.createElement("div");
    el.className = `barrage size-${item.size}`;
    el.dataset.barrageId = String(item.id);
    if (item.author) {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = item.author;
      el.appendChild(who);
    }
    el.appendChild(document.createTextNode(item.text));
    showCount(el, item.count);
    el.style.color = item.color;
    el.style.transform = "translate3d(-100000px, 0, 0)";
    return el;
  }

  function showCount(el, count) {
    let badge = el.querySelector(".count");
    if (!(count > 1)) return;
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "count";
      el.appendChild(badge);
    }
    badge.textContent = `×${count}`;
  }

  // Build and measure once; a comment waiting for a lane keeps its detached node.
  function prepare(item) {
    if (item.el) return;
    item.el = build(item);
    stage.appendChild(item.el);
    item.width = item.el.offsetWidth;
    item.el.remove();
  }

  function launch(item) {
    prepare(item);
    const { el, width } = item;
    const now = performance.now();
    const span = Math.min(SPAN[item.size] || 1, lanes.length);
    const lane = findLane(span, width, now);
    if (lane < 0) return false;
    stage.appendChild(el);
    for (let i = lane; i < lane + span; i++) lanes[i] = { start: now, width };
    const W = stage.clientWidth;
    el.style.top = `${topOffset + lane * laneHeight}px`;
    const motion = el.animate(
      [{ transform: `translate3d(${W}px, 0, 0)` }, { transform: `translate3d(${-width}px, 0, 0)` }],
      { duration: settings.crossingMs, easing: "linear", fill: "forwards" },
    );
    motion.onfinish = () => el.remove();
    showIdle(false);
    armIdle(settings.crossingMs + settings.idleMs);
    return true;
  }

  // The large QR comes once nothing is on the stage (a clear or a retract may have emptied
  // it sooner: the check looks, it does not count) and nothing has flown for idleMs.
  function armIdle(ms) {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (stage.querySelector(".barrage")) armIdle(settings.idleMs);
      else showIdle(true);
    }, ms);
  }

  // data-idle on <html> says so even with ?join=0 (an overlay tool may style on it).
  function showIdle(idle) {
    document.documentElement.dataset.idle = String(idle);
    idleBox.hidden = !idle || joinBox.hidden;
  }

  function pump() {
    pumpTimer = null;
    if (paused) return; // resume pumps again
    while (waiting.length && launch(waiting[0])) waiting.shift();
    if (waiting.length) pumpTimer = setTimeout(pump, 100);
  }

  function enqueue(item) {
    waiting.push(item);
    while (waiting.length > settings.maxWaiting) waiting.shift(); // drop the oldest waiting
    if (!pumpTimer) pump();
  }

  function clean(data) {
    if (!data || typeof data.text !== "string") return null;
    return {
      id: Number(data.id),
      text: data.text,
      author: typeof data.author === "string" ? data.author : "",
      color: COLOR.test(data.color) ? data.color : "#ffffff",
      size: SPAN[data.size] ? data.size : "medium",
      count: Number.isInteger(data.count) && data.count > 1 ? data.count : 1,
    };
  }

  // An event's data, once: null for an id seen before (or data that is not JSON).
  function fresh(ev) {
    const id = parseInt(ev.lastEventId, 10);
    if (id && id <= lastEventId) return null; // never twice
    if (id) lastEventId = id;
    try { return JSON.parse(ev.data); } catch { return null; }
  }

  function onBarrage(ev) {
    const item = clean(fresh(ev));
    if (!item) return;
    remember(item);
    enqueue(item);
  }

  function remember(item) {
    recent.delete(item.id);
    recent.set(item.id, { ...item, el: null });
    if (recent.size > RECENT) recent.delete(recent.keys().next().value);
  }

  // A repeat joined a comment (×N): shown on it while it flies or waits, else it flies again.
  function onMerge(ev) {
    const data = fresh(ev);
    const id = Number(data && data.id);
    const count = Number(data && data.count);
    if (!id || !Number.isInteger(count) || count < 2) return;
    const known = recent.get(id);
    if (known) known.count = Math.max(known.count, count);
    const flying = [...stage.querySelectorAll(".barrage")].filter((el) => el.dataset.barrageId === String(id));
    flying.forEach((el) => showCount(el, count));
    const queued = waiting.filter((item) => item.id === id);
    for (const item of queued) {
      item.count = count;
      item.el = null; // measured again with its badge
    }
    if (!flying.length && !queued.length && known) enqueue({ ...known, count, el: null });
  }

  // A lottery draw: names shuffle for DRAW_MS, then the winners stay for SHOW_MS.
  const lotteryBox = document.getElementById("lottery");
  const DRAW_MS = 3000;
  const SHOW_MS = 15000;
  let lotteryTimers = [];

  function lotteryLine(text, className) {
    const line = document.createElement("div");
    line.className = className;
    line.textContent = text;
    return line;
  }

  function showWinners(names) {
    lotteryBox.replaceChildren(lotteryLine(t(names.length > 1 ? "screen.lottery.winners" : "screen.lottery.winner"), "lottery-title"),
      ...names.map((name) => lotteryLine(name, "lottery-winner")));
    lotteryBox.classList.remove("drawing");
  }

  function onLottery(ev) {
    const id = parseInt(ev.lastEventId, 10);
    if (id && id <= lastEventId) return;
    if (id) lastEventId = id;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    const names = (Array.isArray(data.winners) ? data.winners : [])
      .map((w) => (w && typeof w.author === "string" ? w.author : "")).filter(Boolean);
    if (!names.length) return;
    lotteryTimers.forEach(clearTimeout);
    const spinning = lotteryLine("", "lottery-spin");
    lotteryBox.replaceChildren(lotteryLine(t("screen.lottery.drawing"), "lottery-title"), spinning);
    lotteryBox.classList.add("drawing");
    lotteryBox.hidden = false;
    const started = performance.now();
    const spin = () => {
      spinning.textContent = names[Math.floor(Math.random() * names.length)];
      if (performance.now() - started < DRAW_MS) lotteryTimers.push(setTimeout(spin, 90));
    };
    spin();
    lotteryTimers = [setTimeout(() => showWinners(names), DRAW_MS),
      setTimeout(() => { lotteryBox.hidden = true; lotteryBox.replaceChildren(); }, DRAW_MS + SHOW_MS)];
  }

  function setPaused(value) {
    paused = value;
    document.documentElement.classList.toggle("paused", paused);
    if (!paused && waiting.length && !pumpTimer) pump();
  }

  function clearScreen() {
    waiting = [];
    recent.clear(); // a repeat after a clear does not bring back what was cleared
    for (const el of stage.querySelectorAll(".barrage")) {
      for (const motion of el.getAnimations()) motion.cancel();
      el.remove();
    }
    lanes = lanes.map(() => null);
  }

  function setAnnouncement(text) {
    const shown = typeof text === "string" && text !== "";
    announceBox.textContent = shown ? text : "";
    announceBox.hidden = !shown;
    layout(); // lanes start below it
  }

  function setJoinText(text) {
    if (params.get("join_text")) return;
    if (!text) { loadSettings(); return; } // back to the default: the server knows the join URL
    joinText.textContent = text; // the text beside the QR code, never the corner itself
    document.getElementById("idle-text").textContent = text;
  }

  function applySettings(data) {
    if (!data) return;
    if (typeof data.title === "string") {
      document.title = data.title ? t("screen.title_room", { title: data.title }) : t("screen.title");
      document.getElementById("idle-title").textContent = data.title;
    }
    if (typeof data.join_text === "string") setJoinText(data.join_text);
    if (data.crossing_seconds > 0) settings.crossingMs = crossingMs(data.crossing_seconds * 1000);
  }

  function onState(ev) { // no id: what the room shows now, then any replay
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    if (typeof data.epoch === "string" && meetEpoch(data.epoch, Number(data.epoch_start) || 0)) return;
    applySettings(data);
    setAnnouncement(data.announcement);
    setPaused(data.paused === true);
  }

  // True when this stream is replaced by one that names the epoch (its state comes again).
  function meetEpoch(token, start) {
    if (epoch !== null && token !== epoch) forgetSeen(start);
    epoch = token;
    if (sourceEpoch === epoch) return false;
    source.close();
    connect();
    return true;
  }

  // The database was restored from a backup: ids after `start` name other events and
  // barrages now, so nothing remembered by id may match a new one.
  function forgetSeen(start) {
    lastEventId = Math.min(lastEventId, start);
    recent.clear();
    for (const el of stage.querySelectorAll(".barrage")) delete el.dataset.barrageId;
    for (const item of waiting) item.id = 0; // no merge or retract names 0
  }

  const CONTROLS = {
    pause: () => setPaused(true),
    resume: () => setPaused(false),
    clear: clearScreen,
    announce: (data) => setAnnouncement(data.text),
    settings: applySettings,
  };

  // A moderator pulled it off every screen: it goes at once, flying or waiting.
  function onRetract(ev) {
    const id = parseInt(ev.lastEventId, 10);
    if (id > lastEventId) lastEventId = id;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    const gone = Number(data && data.id);
    waiting = waiting.filter((item) => item.id !== gone);
    recent.delete(gone);
    for (const el of stage.querySelectorAll(".barrage")) {
      if (el.dataset.barrageId === String(gone)) el.remove();
    }
  }

  function showStatus(text) {
    statusBox.hidden = !text;
    statusBox.textContent = text || "";
  }

  // Anything from the stream (open, event, heartbeat) shows it is alive.
  function alive() {
    clearTimeout(watchdog);
    watchdog = setTimeout(stalled, settings.heartbeatMs * WATCHDOG_BEATS);
  }

  function stalled() {
    showStatus(t("screen.reconnecting"));
    reconnectLater();
  }

  function reconnectLater() {
    clearTimeout(watchdog);
    source.close();
    setTimeout(connect, backoff + Math.random() * 500);
    backoff = Math.min(backoff * 2, 30000);
  }

  function connect() {
    const resume = lastEventId ? `last_event_id=${lastEventId}` : "";
    const era = epoch ? `epoch=${encodeURIComponent(epoch)}` : "";
    sourceEpoch = epoch;
    source = new EventSource(`/stream?${["heartbeat=event", roomParam, era, resume].filter(Boolean).join("&")}`);
    // Anything that arrives, a heartbeat included, tells the watchdog the stream is alive.
    const listen = (name, handler) => source.addEventListener(name, (ev) => { alive(); handler(ev); });
    listen("barrage", onBarrage);
    listen("lottery", onLottery);
    listen("state", onState);
    for (const [name, apply] of Object.entries(CONTROLS)) {
      listen(name, (ev) => { const data = fresh(ev); if (data) apply(data); });
    }
    listen("retract", onRetract);
    listen("merge", onMerge);
    source.addEventListener("heartbeat", alive);
    source.onopen = () => { backoff = 1000; showStatus(""); alive(); };
    source.onerror = () => {
      showStatus(t("screen.reconnecting"));
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      reconnectLater();
    };
    alive(); // a connection that never answers is a stall too
  }

  function showJoin(text, cfg) {
    joinText.textContent = text;
    if (typeof cfg.qr_url === "string" && cfg.qr_url.startsWith("/")) {
      joinQr.src = cfg.qr_url;
      document.getElementById("idle-qr").src = cfg.qr_url;
      joinQr.hidden = false;
    }
    document.getElementById("idle-title").textContent = cfg.title || "";
    document.getElementById("idle-text").textContent = text;
  }

  async function loadSettings() {
    try {
      const res = await fetch(roomParam ? `/api/screen-config?${roomParam}` : "/api/screen-config");
      const cfg = await res.json();
      settings.crossingMs = crossingMs((cfg.crossing_seconds || 8) * 1000);
      settings.maxWaiting = cfg.max_waiting || 200;
      if (cfg.heartbeat_seconds > 0) settings.heartbeatMs = cfg.heartbeat_seconds * 1000;
      settings.idleMs = (cfg.idle_seconds || 20) * 1000;
      if (epoch === null && typeof cfg.epoch === "string") epoch = cfg.epoch; // later ones come with `state`
      showJoin(params.get("join_text") || cfg.join_text || "", cfg);
    } catch {
      settings.crossingMs = crossingMs(8000);
    }
  }

  window.addEventListener("resize", layout);
  layout();
  settings.crossingMs = crossingMs(settings.crossingMs);
  loadSettings().finally(() => { armIdle(settings.idleMs); connect(); });
})();

// Moderation desk. The admin token lives in sessionStorage only; a link of the
// form /moderate#token=... (printed at start-up) fills it in. Pending barrages
// arrive live from /api/stream (SSE read with fetch, so the token travels in
// the Authorization header, never in a URL).
//
// A desk that cannot misfire:
// - a decided card stays where it was, greyed, with its verdict (and Undo for
//   5 s when it was ours); it leaves the list only later, and never while the
//   pointer is over the list, so nothing moves under a second click;
// - shortcuts act on the selected card only, never while focus is on a button
//   or a field (Enter on a focused Reject button is that button's click);
// - a card being decided ignores further presses until the server answers.
//
// Several at once: each waiting card has a checkbox ("x" ticks the selected card's),
// "Select all visible" ticks every waiting card listed, and Approve/Reject selected
// (Shift+A / Shift+R) decide the ticked ones in one POST /api/barrages/bulk.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // The page's words in its language (server/web/pages.py renders them into #i18n).
  const TEXT = JSON.parse($("i18n").textContent);
  const t = (key, values = {}) => (TEXT[key] ?? key).replace(/\{(\w+)\}/g,
    (whole, name) => (name in values ? String(values[name]) : whole));
  const known = (prefix, value) => (`${prefix}${value}` in TEXT ? t(`${prefix}${value}`) : value);
  const queue = $("queue");
  const PAGE = 100;        // pending barrages fetched per request
  const LOW_WATER = 20;    // page on when fewer than this many wait in the list
  const MAX_SHOWN = 300;   // live arrivals past this wait for paging instead
  const UNDO_MS = 5000;    // the desk offers Undo for 5 s (the server allows 10)
  const STATS_MS = 1000;   // at most one /api/stats a second, however fast events come
  const RECENT = 2000;     // decided ids remembered, so a late page cannot bring one back
  const ON_SCREEN = 20;    // the latest approved, listed with "Remove from screen"
  const BULK = 500;        // ids per POST /api/barrages/bulk (the server's limit)
  const numbers = new Intl.NumberFormat(document.documentElement.lang);
  // ?room=<slug>: that room's desk (its queue, stream, counts and mode); none: every room's,
  // each card naming its room. The picker reloads the page with the other choice.
  const roomFilter = new URLSearchParams(location.search).get("room") || "";
  const inRoom = (prefix) => (roomFilter ? `${prefix}room=${encodeURIComponent(roomFilter)}` : "");

  // id -> {li, state: "pending" | "deciding" | "approved" | "rejected" | "gone", own, expired, timer}
  const items = new Map();
  const decidedRecently = new Set();
  const ticked = new Set(); // ids whose checkbox is ticked: what Approve/Reject selected decide
  let selected = null;
  let stream = null;
  let cursor = 0;          // every pending barrage with id <= cursor has been listed
  let exhausted = false;   // the last page reached the end of the queue
  let paging = null;
  let pointerInQueue = false;
  let serverPending = null;
  let resyncAt = 0;

  const token = () => sessionStorage.getItem("barrage.token") || "";
  const moderator = () => sessionStorage.getItem("barrage.moderator") || t("moderate.default_name");

  async function api(path, options = {}) {
    const res = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" },
    });
    if (res.status === 401) {
      signOut(t("moderate.error.token"));
      throw new Error("unauthorized");
    }
    return res;
  }

  function notice(text, kind = "") {
    $("notice").textContent = text;
    $("notice").className = kind;
  }

  function age(iso) {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return seconds < 60 ? t("moderate.age.seconds", { n: seconds }) : t("moderate.age.minutes", { n: Math.round(seconds / 60) });
  }

  const isPending = (entry) => entry.state === "pending" || entry.state === "deciding";
  const pendingShown = () => [...items.values()].filter(isPending).length;

  // -- one card --

  function card(b) {
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.barrageId = String(b.id);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = b.text;
    if (/^#[0-9a-f]{6}$/.test(b.color)) text.style.setProperty("--swatch", b.color);
    const meta = document.createElement("p");
    meta.className = "meta muted";
    meta.textContent = `${b.author} · ${known("moderate.source.", b.source)} · ${known("moderate.size.", b.size)} ·`;
    if (!roomFilter) {
      const where = document.createElement("span");
      where.className = "card-room";
      where.textContent = b.room;
      meta.prepend(where, " · ");
    }
    const when = document.createElement("time");
    when.dateTime = b.created_at;
    when.textContent = age(b.created_at);
    meta.appendChild(when);
    // ×N: repeats of the same text from other senders wait with this one (decided with it).
    const senders = document.createElement("span");
    senders.className = "senders";
    senders.textContent = countText(b.count);
    meta.append(" ", senders);
    for (const flag of b.flags || []) { // what the filter saw: "⚠ link", "⚠ rule 12", "⚠ classifier"
      const shown = document.createElement("span");
      shown.className = "flag";
      shown.textContent = flagText(flag);
      meta.append(" ", shown);
    }
    // The verdict and Undo sit under the text, away from the buttons a double click hits.
    const verdict = document.createElement("p");
    verdict.className = "verdict";
    const said = document.createElement("span");
    const undoButton = button(t("moderate.card.undo"), "undo", () => undo(b.id));
    undoButton.hidden = true;
    verdict.append(said, undoButton);
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(tickBox(b), button(t("moderate.card.approve"), "approve", () => decide(b.id, "approve")),
      button(t("moderate.card.reject"), "reject", () => decide(b.id, "reject")));
    if (b.sender) actions.append(button(t("moderate.card.mute"), "mute", () => mute(b)));
    li.append(text, meta, verdict, actions);
    li.addEventListener("click", () => select(b.id));
    return li;
  }

  // What the filter saw: "⚠ link", "⚠ rule 12", "⚠ classifier".
  function flagText(flag) {
    if (flag.startsWith("rule:")) return t("moderate.flag.rule", { id: flag.slice(5) });
    return `moderate.flag.${flag}` in TEXT ? t(`moderate.flag.${flag}`) : t("moderate.flag.other", { flag });
  }

  function tickBox(b) {
    const label = document.createElement("label");
    label.className = "tick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.setAttribute("aria-label", t("moderate.card.select", { text: b.text }));
    box.addEventListener("change", () => tick(b.id, box.checked));
    label.append(box);
    return label;
  }

  function tick(id, on) {
    const entry = items.get(id);
    const can = on && entry !== undefined && entry.state === "pending";
    if (can) ticked.add(id);
    else ticked.delete(id);
    if (entry) entry.li.querySelector(".tick input").checked = can;
    showTicked();
  }

  function showTicked() {
    const n = ticked.size;
    $("bulk-approve").disabled = $("bulk-reject").disabled = n === 0;
    $("bulk-count").textContent = n ? t("moderate.bulk.count", { n: numbers.format(n) }) : "";
    const waiting = [...items.values()].filter((entry) => entry.state === "pending").length;
    $("tick-all").checked = n > 0 && n === waiting;
  }

  function countText(count) {
    const n = Number(count) || 1;
    return n > 1 ? t("moderate.card.senders", { n }) : "";
  }

  function showCount(li, count) {
    li.querySelector(".senders").textContent = countText(count);
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    b.addEventListener("click", (e) => {
      e.stopPropagation();
      select(Number(b.closest(".card").dataset.barrageId));
      onClick();
    });
    return b;
  }

  function setButtons(entry, enabled) {
    for (const b of entry.li.querySelectorAll(".actions button, .tick input")) b.disabled = !enabled;
    if (!enabled) tick(Number(entry.li.dataset.barrageId), false);
  }

  function verdictText(entry, status, by) {
    if (status === "expired") return t("moderate.verdict.expired");
    const who = entry.own ? t("moderate.verdict.you") : by || t("moderate.verdict.someone");
    return t(status === "approved" ? "moderate.verdict.approved_by" : "moderate.verdict.rejected_by", { who });
  }

  function showVerdict(entry, status, by) {
    entry.state = status;
    entry.li.classList.add("decided", status);
    entry.li.querySelector(".verdict span").textContent = verdictText(entry, status, by);
    entry.li.querySelector(".undo").hidden = !entry.own;
    setButtons(entry, false);
    clearTimeout(entry.timer);
    entry.expired = false;
    entry.timer = setTimeout(() => {
      entry.expired = true;
      entry.li.querySelector(".undo").hidden = true;
      sweep();
    }, UNDO_MS);
  }

  function showPending(entry) {
    clearTimeout(entry.timer);
    Object.assign(entry, { state: "pending", own: false, expired: false, timer: null });
    entry.li.classList.remove("decided", "approved", "rejected", "expired", "gone");
    entry.li.querySelector(".verdict span").textContent = "";
    entry.li.querySelector(".undo").hidden = true;
    setButtons(entry, true);
  }

  // -- the list --

  function insert(b) {
    if (items.has(b.id) || b.status !== "pending") return;
    const entry = { li: card(b), state: "pending", own: false, expired: false, timer: null };
    items.set(b.id, entry);
    const last = queue.lastElementChild;
    if (!last || Number(last.dataset.barrageId) < b.id) queue.appendChild(entry.li);
    else {
      const after = [...queue.children].find((li) => Number(li.dataset.barrageId) > b.id);
      queue.insertBefore(entry.li, after || null);
    }
    if (selected === null) select(b.id);
  }

  function drop(id) {
    const entry = items.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.li.remove();
    items.delete(id);
    tick(id, false);
    if (selected === id) selected = null;
  }

  // Decided cards leave once their Undo time is over, unless selected or under the pointer.
  function sweep() {
    if (!pointerInQueue) {
      for (const [id, entry] of [...items]) {
        if (!isPending(entry) && entry.expired && id !== selected) drop(id);
      }
    }
    refresh();
  }

  function remember(id) {
    decidedRecently.add(id);
    if (decidedRecently.size > RECENT) decidedRecently.delete(decidedRecently.values().next().value);
  }

  async function pageOn() {
    if (paging || exhausted) return;
    paging = (async () => {
      const res = await api(`/api/barrages?status=pending&after=${cursor}&limit=${PAGE}${inRoom("&")}`);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const { items: page } = await res.json();
      for (const b of page) if (!decidedRecently.has(b.id)) insert(b);
      if (page.length) cursor = Math.max(cursor, page[page.length - 1].id);
      exhausted = page.length < PAGE;
    })();
    try {
      await paging;
    } catch (e) {
      if (e.message !== "unauthorized") notice(t("moderate.error.queue"), "error");
      return;
    } finally {
      paging = null;
    }
    refresh();
  }

  // After a (re)connect: list again from the start, keeping what is on screen.
  async function relist() {
    for (const [id, entry] of [...items]) if (entry.state === "pending") drop(id);
    cursor = 0;
    exhausted = false;
    await pageOn();
  }

  function refresh() {
    const shown = pendingShown();
    if (shown < LOW_WATER && !exhausted && !paging) pageOn();
    // The list and the server disagree (an event fell between): list again, now and then.
    if (!shown && exhausted && serverPending > 0 && Date.now() > resyncAt) {
      resyncAt = Date.now() + 5000;
      relist();
    }
    $("empty").hidden = shown > 0 || !exhausted || serverPending > 0;
    $("loading").hidden = shown > 0 || !$("empty").hidden;
  }

  function select(id) {
    const previous = selected;
    if (previous !== null && items.has(previous)) items.get(previous).li.classList.remove("selected");
    selected = id !== null && items.has(id) ? id : null;
    if (selected !== null) {
      const li = items.get(selected).li;
      li.classList.add("selected");
      li.scrollIntoView({ block: "nearest" });
    }
    if (previous !== null && previous !== selected) sweep(); // a decided card kept while selected may go
  }

  // The next waiting card up or down from the selected one (decided ones are skipped).
  function step(direction) {
    const cards = [...queue.children];
    let at = cards.findIndex((li) => Number(li.dataset.barrageId) === selected);
    if (at < 0) at = direction > 0 ? -1 : cards.length;
    for (let i = at + direction; i >= 0 && i < cards.length; i += direction) {
      const id = Number(cards[i].dataset.barrageId);
      if (isPending(items.get(id))) {
        select(id);
        return;
      }
    }
  }

  // -- decisions --

  async function decide(id, verdict) {
    const entry = items.get(id);
    if (!entry || entry.state !== "pending") return; // a second press while the first is on its way
    entry.state = "deciding";
    setButtons(entry, false);
    try {
      const res = await api(`/api/barrages/${id}/${verdict}`, {
        method: "POST",
        body: JSON.stringify({ moderator: moderator() }),
      });
      const reply = await res.json().catch(() => ({}));
      remember(id);
      if (res.ok) {
        entry.own = true;
        showVerdict(entry, reply.status, reply.decided_by);
        notice(t(verdict === "approve" ? "moderate.notice.approved" : "moderate.notice.rejected", { text: reply.text }), "ok");
      } else if (res.status === 409) {
        showVerdict(entry, "gone", "");
        entry.li.querySelector(".verdict span").textContent = refusal(res.status, reply.error);
        notice(refusal(res.status, reply.error), "error");
      } else if (res.status === 404) {
        drop(id);
        notice(t("moderate.notice.gone"), "error");
      } else {
        showPending(entry);
        notice(refusal(res.status, reply.error), "error");
      }
    } catch (e) {
      if (items.get(id) === entry && entry.state === "deciding") showPending(entry);
      if (e.message !== "unauthorized") notice(t("moderate.error.network"), "error");
    }
    scheduleStats();
    refresh();
  }

  // /mute: the sender is muted for an hour (POST /api/mutes), then the barrage is rejected.
  async function mute(b) {
    const entry = items.get(b.id);
    if (!entry || entry.state !== "pending") return;
    setButtons(entry, false);
    try {
      const res = await api("/api/mutes", {
        method: "POST",
        body: JSON.stringify({ sender: b.sender, minutes: 60, reason: t("moderate.mute.reason", { id: b.id }),
          moderator: moderator() }),
      });
      const reply = await res.json().catch(() => ({}));
      if (!res.ok) {
        setButtons(entry, true);
        notice(refusal(res.status, reply.error), "error");
        return;
      }
      notice(t("moderate.notice.muted", { author: b.author }), "ok");
    } catch (e) {
      setButtons(entry, true);
      if (e.message !== "unauthorized") notice(t("moderate.error.network"), "error");
      return;
    }
    await decide(b.id, "reject");
  }

  // The ticked cards, in list order, decided in one request per BULK ids.
  async function decideTicked(verdict) {
    const ids = [...queue.children].map((li) => Number(li.dataset.barrageId)).filter((id) => ticked.has(id));
    if (!ids.length) {
      notice(t("moderate.notice.nothing_ticked"), "");
      return;
    }
    for (const id of ids) {
      const entry = items.get(id);
      setButtons(entry, false);
      entry.state = "deciding";
    }
    let done = 0;
    try {
      for (let at = 0; at < ids.length; at += BULK) done += await decideBulk(ids.slice(at, at + BULK), verdict);
      notice(t(verdict === "approve" ? "moderate.notice.bulk_approved" : "moderate.notice.bulk_rejected",
        { done: numbers.format(done), total: numbers.format(ids.length) }), done === ids.length ? "ok" : "error");
    } catch (e) { // fetch's own failure is a TypeError; anything else is the server's refusal
      if (e.message !== "unauthorized") notice(e instanceof TypeError ? t("moderate.error.network") : e.message, "error");
    }
    for (const id of ids) {
      const entry = items.get(id);
      if (entry && entry.state === "deciding") showPending(entry); // no answer for it
    }
    scheduleStats();
    refresh();
  }

  async function decideBulk(ids, verdict) {
    const res = await api("/api/barrages/bulk", {
      method: "POST",
      body: JSON.stringify({ ids, verdict, moderator: moderator() }),
    });
    const reply = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(refusal(res.status, reply.error));
    let done = 0;
    for (const result of reply.results) {
      const entry = items.get(result.id);
      remember(result.id);
      if (!entry) continue;
      if (result.status) {
        entry.own = true;
        showVerdict(entry, result.status, moderator());
        done += 1;
      } else if (result.error === "not found") {
        drop(result.id);
      } else {
        showVerdict(entry, "gone", "");
        entry.li.querySelector(".verdict span").textContent = refusal(409, result.error);
      }
    }
    return done;
  }

  async function undo(id) {
    const entry = items.get(id);
    if (!entry || !entry.own || isPending(entry)) return;
    if (entry.expired) {
      notice(t("moderate.notice.too_late"), "error");
      return;
    }
    entry.li.querySelector(".undo").hidden = true;
    try {
      const res = await api(`/api/barrages/${id}/undo`, {
        method: "POST",
        body: JSON.stringify({ moderator: moderator() }),
      });
      const reply = await res.json().catch(() => ({}));
      if (res.ok) {
        decidedRecently.delete(id);
        showPending(entry);
        notice(t("moderate.notice.undone", { text: reply.text }), "ok");
      } else {
        notice(refusal(res.status, reply.error), "error");
      }
    } catch (e) {
      if (e.message !== "unauthorized") notice(t("moderate.error.network"), "error");
    }
    scheduleStats();
    refresh();
  }

  const sentence = (s) => s.charAt(0).toUpperCase() + s.slice(1);

  // A refusal in the desk's words. The API's `error` texts are English: a lost race
  // ("already approved by Ann") is recognised by its shape; anything else is shown as the API
  // wrote it (rule syntax, limits: details an operator needs), after the language's lead.
  function refusal(status, error) {
    const lost = /^already (approved|rejected|expired|retracted)(?: by (.+))?$/.exec(error || "");
    if (lost) return t(`moderate.error.already_${lost[1]}`, { who: lost[2] || t("moderate.verdict.someone") });
    if (!error) return t("moderate.error.http", { status });
    return t("moderate.error.refused", { error: sentence(error) });
  }

  // -- on screen now: the latest approved (from here, chat or auto), each with "Remove from screen" --

  const onScreen = new Map(); // id -> li, oldest first

  function showOnScreen(b) {
    if (onScreen.has(b.id)) return;
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.onScreenId = String(b.id); // not data-barrage-id: that names the queue's cards
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = b.text;
    const meta = document.createElement("p");
    meta.className = "meta muted";
    meta.textContent = `${b.author} · ${known("moderate.source.", b.source)}`;
    const actions = document.createElement("div");
    actions.className = "actions";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "retract";
    remove.textContent = t("moderate.onscreen.remove");
    remove.addEventListener("click", () => retract(b.id, remove));
    actions.append(remove);
    li.append(text, meta, actions);
    $("onscreen").prepend(li);
    onScreen.set(b.id, li);
    for (const [id] of onScreen) {
      if (onScreen.size <= ON_SCREEN) break;
      offScreen(id);
    }
    $("onscreen-empty").hidden = true;
  }

  function offScreen(id) {
    const li = onScreen.get(id);
    if (li) li.remove();
    onScreen.delete(id);
    $("onscreen-empty").hidden = onScreen.size > 0;
  }

  async function retract(id, button) {
    button.disabled = true;
    try {
      const res = await api(`/api/barrages/${id}/retract`, {
        method: "POST",
        body: JSON.stringify({ moderator: moderator() }),
      });
      const reply = await res.json().catch(() => ({}));
      if (res.ok) notice(t("moderate.notice.retracted", { text: reply.text }), "ok");
      else notice(refusal(res.status, reply.error), "error");
      if (res.ok || res.status === 404 || res.status === 409) offScreen(id);
      else button.disabled = false;
    } catch (e) {
      button.disabled = false;
      if (e.message !== "unauthorized") notice(t("moderate.error.network"), "error");
    }
  }

  // -- counts: the server's, at most once a second --

  let statsTimer = null;
  let statsDirty = false;
  let lastStats = 0;

  function scheduleStats() {
    statsDirty = true;
    if (statsTimer !== null) return;
    statsTimer = setTimeout(async () => {
      statsDirty = false;
      lastStats = Date.now();
      await loadStats();
      statsTimer = null;
      if (statsDirty) scheduleStats();
    }, Math.max(0, lastStats + STATS_MS - Date.now()));
  }

  async function loadStats() {
    try {
      const res = await api(`/api/stats${inRoom("?")}`);
      if (!res.ok) return;
      const s = await res.json();
      serverPending = s.pending;
      $("stat-pending").textContent = numbers.format(s.pending);
      $("stat-approved").textContent = numbers.format(s.approved_today);
      $("stat-screens").textContent = numbers.format(s.screens);
      $("stat-screens-rooms").textContent = screensByRoom(s.screens_by_room);
      showMode(s.mode);
      refresh();
    } catch { /* shown by the live pill */ }
  }

  // "(main 2 · hall-b 0)" when the wall has more than one room; nothing for one.
  function screensByRoom(rooms) {
    const entries = Object.entries(rooms || {});
    if (entries.length < 2) return "";
    return `(${entries.map(([slug, n]) => `${slug} ${numbers.format(n)}`).join(" · ")})`;
  }

  function showMode(mode) {
    for (const b of document.querySelectorAll(".mode button")) {
      b.classList.toggle("active", b.dataset.mode === mode);
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    }
  }

  async function setMode(mode) {
    const res = await api(`/api/mode${inRoom("?")}`, { method: "PUT", body: JSON.stringify({ mode, moderator: moderator() }) });
    if (res.ok) showMode((await res.json()).mode);
  }

  // -- lottery: one row per room (number of winners, Lottery button) --

  async function loadLotteryRooms() {
    try {
      const res = await api("/api/rooms");
      if (res.ok) $("lottery-rooms").replaceChildren(...(await res.json()).rooms.map(lotteryRow));
    } catch { /* the row list stays as it was */ }
  }

  function lotteryRow(room) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = room.title === room.slug ? room.slug : `${room.title} (${room.slug})`;
    const count = document.createElement("input");
    Object.assign(count, { type: "number", min: "1", max: "100", value: "1", required: true });
    count.setAttribute("aria-label", t("moderate.lottery.count_label", { room: room.slug }));
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = t("moderate.lottery.draw");
    button.addEventListener("click", () => drawLottery(room.slug, count, button));
    li.append(name, count, button);
    return li;
  }

  async function drawLottery(slug, count, button) {
    button.disabled = true;
    try {
      const res = await api(`/api/rooms/${encodeURIComponent(slug)}/lottery`, {
        method: "POST", body: JSON.stringify({ winners: Number(count.value), moderator: moderator() }),
      });
      const reply = await res.json();
      if (res.ok) {
        const names = reply.winners.map((w) => w.author).join(t("moderate.separator"));
        notice(t("moderate.notice.lottery", { room: slug, names, pool: numbers.format(reply.pool) }), "ok");
      } else {
        notice(refusal(res.status, reply.error), "error");
      }
    } catch (e) {
      if (e.message !== "unauthorized") notice(t("moderate.error.network"), "error");
    } finally {
      button.disabled = false;
    }
  }

  // -- live controls, per room: pause, resume, clear, the pinned announcement --

  const ROOM_EVENTS = new Set(["room", "settings", "pause", "resume", "announce"]);
  const roomRows = new Map(); // slug -> {li, name, state, pinned}
  let roomsTimer = null;

  function scheduleRooms() { // many events in a burst: one /api/rooms
    if (roomsTimer === null) roomsTimer = setTimeout(() => { roomsTimer = null; loadRooms(); }, 200);
  }

  async function loadRooms() {
    try {
      const res = await api("/api/rooms");
      if (!res.ok) return;
      const { rooms } = await res.json();
      showPicker(rooms);
      for (const room of rooms) if (!roomFilter || room.slug === roomFilter) showRoom(room);
    } catch { /* shown by the live pill */ }
  }

  function showPicker(rooms) {
    const picker = $("room-picker");
    const all = new Option(t("moderate.all_rooms"), "");
    picker.replaceChildren(all, ...rooms.map((r) => new Option(r.title === r.slug ? r.slug : `${r.title} (${r.slug})`, r.slug)));
    picker.value = roomFilter;
  }

  function showRoom(room) {
    const row = roomRows.get(room.slug) || roomRow(room.slug);
    row.name.textContent = room.title === room.slug ? room.slug : `${room.title} (${room.slug})`;
    row.state.textContent = t(room.paused ? "moderate.room.paused" : "moderate.room.flying");
    row.state.classList.toggle("paused", room.paused);
    row.pinned.textContent = room.announcement ? t("moderate.room.pinned", { text: room.announcement })
      : t("moderate.room.no_announcement");
  }

  function roomRow(slug) {
    const li = document.createElement("li");
    li.className = "room-control";
    li.dataset.room = slug;
    const [name, state, pinned] = ["strong", "span", "span"].map((tag) => document.createElement(tag));
    state.className = "room-state";
    pinned.className = "pinned";
    li.append(name, state, ...["pause", "resume", "clear"].map((action) => roomButton(slug, action)),
      announcementForm(slug), pinned);
    $("room-controls").appendChild(li);
    const row = { li, name, state, pinned };
    roomRows.set(slug, row);
    return row;
  }

  function roomButton(slug, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t(`moderate.room.${action}`);
    b.addEventListener("click", () => roomControl(slug, `/${action}`, "POST", { moderator: moderator() }));
    return b;
  }

  function announcementForm(slug) {
    const form = document.createElement("form");
    const input = document.createElement("input");
    input.maxLength = 200;
    input.placeholder = t("moderate.room.announcement_placeholder");
    input.setAttribute("aria-label", t("moderate.room.announcement_label", { room: slug }));
    const set = document.createElement("button");
    set.type = "submit";
    set.textContent = t("moderate.room.set");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = t("moderate.remove");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (await roomControl(slug, "/announcement", "PUT", { text: input.value, moderator: moderator() })) input.value = "";
    });
    remove.addEventListener("click", () => roomControl(slug, "/announcement", "PUT", { text: null, moderator: moderator() }));
    form.append(input, set, remove);
    return form;
  }

  async function roomControl(slug, path, method, body) {
    try {
      const res = await api(`/api/rooms/${encodeURIComponent(slug)}${path}`, { method, body: JSON.stringify(body) });
      const answer = await res.json();
      if (!res.ok) { notice(refusal(res.status, answer.error), "error"); return false; }
      showRoom(answer);
      return true;
    } catch {
      notice(t("moderate.error.no_answer"), "error");
      return false;
    }
  }

  // -- filter rules (every room): listed, added, removed; kept current by `filters` events --

  let rulesTimer = null;

  function scheduleRules() { // a burst of changes: one /api/filters
    if (rulesTimer === null) rulesTimer = setTimeout(() => { rulesTimer = null; loadRules(); }, 300);
  }

  async function loadRules() {
    try {
      const res = await api("/api/filters");
      if (res.ok) showRules((await res.json()).rules);
    } catch { /* the list stays as it was */ }
  }

  function showRules(rules) {
    $("rule-rows").replaceChildren(...rules.map(ruleRow));
    $("rules").hidden = rules.length === 0;
    $("rules-empty").hidden = rules.length > 0;
    $("rules-count").textContent = `(${numbers.format(rules.length)})`;
  }

  function ruleRow(rule) {
    const tr = document.createElement("tr");
    tr.dataset.ruleId = String(rule.id);
    const cells = [["id", String(rule.id)], ["pattern", rule.pattern], ["kind", known("moderate.kind.", rule.kind)],
      ["action", known("moderate.action.", rule.action)], ["note", rule.note || ""]].map(([name, text]) => {
      const td = document.createElement("td");
      td.className = `rule-${name}`;
      td.textContent = text;
      return td;
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "rule-remove";
    remove.textContent = t("moderate.remove");
    remove.setAttribute("aria-label", t("moderate.rules.remove_label",
      { id: rule.id, action: known("moderate.action.", rule.action), pattern: rule.pattern }));
    remove.addEventListener("click", () => removeRule(rule, remove));
    const last = document.createElement("td");
    last.append(remove);
    tr.append(...cells, last);
    return tr;
  }

  async function addRule(e) {
    e.preventDefault();
    const body = { pattern: $("rule-pattern").value, kind: $("rule-kind").value, action: $("rule-action").value,
      note: $("rule-note").value.trim() || null, moderator: moderator() };
    $("rule-add").disabled = true;
    try {
      const res = await api("/api/filters", { method: "POST", body: JSON.stringify(body) });
      const reply = await res.json().catch(() => ({}));
      if (res.ok) {
        $("rule-error").textContent = "";
        $("rule-pattern").value = "";
        $("rule-note").value = "";
        notice(t("moderate.notice.rule_added", { id: reply.id, action: known("moderate.action.", reply.action),
          pattern: reply.pattern }), "ok");
      } else {
        $("rule-error").textContent = refusal(res.status, reply.error); // the API's words: a regex's syntax error
      }
    } catch (err) {
      if (err.message !== "unauthorized") $("rule-error").textContent = t("moderate.error.network");
    } finally {
      $("rule-add").disabled = false;
    }
    loadRules();
  }

  async function removeRule(rule, remove) {
    remove.disabled = true;
    try {
      const res = await api(`/api/filters/${rule.id}`, { method: "DELETE", body: JSON.stringify({ moderator: moderator() }) });
      if (res.ok || res.status === 404) {
        notice(t("moderate.notice.rule_removed", { id: rule.id, action: known("moderate.action.", rule.action),
          pattern: rule.pattern }), "ok");
      } else {
        const reply = await res.json().catch(() => ({}));
        notice(refusal(res.status, reply.error), "error");
        remove.disabled = false;
      }
    } catch (err) {
      remove.disabled = false;
      if (err.message !== "unauthorized") notice(t("moderate.error.network"), "error");
    }
    loadRules();
  }

  // -- the live stream --

  function onEvent(kind, data) {
    if (kind === "pending") onPending(data);
    else if (kind === "barrage" || kind === "rejected" || kind === "expired") onDecided(data);
    else if (kind === "retract") offScreen(data.id);
    if (kind === "barrage") showOnScreen(data);
    else if (kind === "pending") offScreen(data.id); // an approval undone
    else if (kind === "mode" && (data.room || "main") === (roomFilter || "main")) showMode(data.mode);
    else if (kind === "room") loadLotteryRooms(); // a new room gets its Lottery row
    else if (kind === "filters") scheduleRules(); // a rule changed: here, in a chat, or on another node
    if (ROOM_EVENTS.has(kind)) scheduleRooms();
    if (kind !== "mode") scheduleStats();
  }

  function onPending(b) {
    decidedRecently.delete(b.id); // an undo makes it decidable again
    const entry = items.get(b.id);
    if (entry) {
      if (!isPending(entry)) showPending(entry);
      showCount(entry.li, b.count); // a repeat joined it (the event carries the first)
    } else if (b.id <= cursor || (exhausted && pendingShown() < MAX_SHOWN)) {
      insert(b);
      cursor = Math.max(cursor, b.id);
    } else {
      exhausted = false; // paging will bring it in its turn
    }
    refresh();
  }

  function onDecided(b) {
    remember(b.id);
    const entry = items.get(b.id);
    // Our own request in flight gets its answer (and the Undo) from the reply.
    if (entry && entry.state === "pending") showVerdict(entry, b.status, b.decided_by);
    refresh();
  }

  // A small SSE reader over fetch: EventSource cannot send an Authorization header.
  async function follow() {
    const controller = new AbortController();
    stream = controller;
    const res = await api(`/api/stream${inRoom("?")}`, { signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    $("live").textContent = t("moderate.live.live");
    $("live").className = "pill live";
    await relist(); // subscribed first, then listed: nothing falls between
    loadRooms();
    loadRules();
    scheduleStats();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) {
          try { onEvent(kind, JSON.parse(data.join("\n"))); } catch { /* ignore a bad frame */ }
        }
      }
    }
  }

  async function keepFollowing() {
    let delay = 1000;
    while (token()) {
      try {
        await follow();
        delay = 1000;
      } catch (e) {
        if (e.message === "unauthorized" || e.name === "AbortError") return;
      }
      if (!token()) return;
      $("live").textContent = t("moderate.live.reconnecting");
      $("live").className = "pill";
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  // -- keys --

  function onKey(e) {
    if ($("desk").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    // On a button, link or field a key belongs to it: Enter on a focused Reject rejects that card.
    if (e.target instanceof Element && e.target.closest("button, a, input, textarea, select, [contenteditable]")) return;
    const entry = selected === null ? null : items.get(selected);
    // Shift+A / Shift+R: the ticked cards (e.key is "A" or "R" then; plain a/r stay one card's).
    if (e.shiftKey && (e.key === "A" || e.key === "R")) decideTicked(e.key === "A" ? "approve" : "reject");
    else if (e.key === "x" && entry) tick(selected, !ticked.has(selected));
    else if (e.key === "ArrowDown" || e.key === "j") step(1);
    else if (e.key === "ArrowUp" || e.key === "k") step(-1);
    else if ((e.key === "a" || e.key === "r") && entry) {
      if (entry.state === "pending") decide(selected, e.key === "a" ? "approve" : "reject");
      else if (!isPending(entry)) notice(t("moderate.notice.decided"), "");
    } else if (e.key === "u" && entry) undo(selected);
    else return;
    e.preventDefault();
  }

  // -- signing in and out --

  function signOut(message = "") {
    sessionStorage.removeItem("barrage.token");
    if (stream) stream.abort();
    for (const id of [...items.keys()]) drop(id);
    roomRows.clear();
    $("rule-rows").replaceChildren();
    $("room-controls").replaceChildren();
    $("desk").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message;
  }

  function signIn() {
    $("login").hidden = true;
    $("desk").hidden = false;
    loadLotteryRooms();
    refresh();
    keepFollowing();
  }

  // True when the fragment held no token or a readable one.
  function tokenFromFragment() {
    const match = /(?:^|[#&])token=([^&]*)/.exec(location.hash);
    if (!match) return true;
    history.replaceState(null, "", location.pathname + location.search); // keep it out of history
    let value;
    try {
      value = decodeURIComponent(match[1]);
    } catch {
      return false; // a malformed %-escape: ask for the token instead
    }
    if (value) sessionStorage.setItem("barrage.token", value);
    return true;
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("barrage.token", $("token").value.trim());
    sessionStorage.setItem("barrage.moderator", $("moderator").value.trim() || t("moderate.default_name"));
    signIn();
  });
  $("logout").addEventListener("click", () => signOut());
  $("rule-form").addEventListener("submit", addRule);
  $("tick-all").addEventListener("change", (e) => {
    const on = e.target.checked; // read once: each tick() below shows the count on this box again
    for (const [id, entry] of items) if (entry.state === "pending") tick(id, on);
    showTicked(); // none waiting: the box unticks itself
  });
  $("bulk-approve").addEventListener("click", () => decideTicked("approve"));
  $("bulk-reject").addEventListener("click", () => decideTicked("reject"));
  for (const b of document.querySelectorAll(".mode button")) b.addEventListener("click", () => setMode(b.dataset.mode));
  document.addEventListener("keydown", onKey);
  $("room-picker").addEventListener("change", (e) => {
    const slug = e.target.value;
    location.assign(slug ? `${location.pathname}?room=${encodeURIComponent(slug)}` : location.pathname);
  });
  queue.addEventListener("pointerenter", () => { pointerInQueue = true; });
  queue.addEventListener("pointerleave", () => { pointerInQueue = false; sweep(); });
  setInterval(() => { if (!$("desk").hidden) scheduleStats(); }, 5000);
  setInterval(() => { for (const t of queue.querySelectorAll("time")) t.textContent = age(t.dateTime); }, 10000);

  const readable = tokenFromFragment();
  if (!readable) signOut(t("moderate.error.link_token"));
  else if (token()) signIn();
  else signOut();
})();

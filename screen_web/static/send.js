// The send form: POST /api/barrages, then say what happened to the message.
// Made for phones: Enter sends (Shift+Enter is a new line), the message box keeps
// focus so the keyboard stays up for the next one, and the Send bar sits above
// the on-screen keyboard.
"use strict";
(() => {
  // The page's words in its language (server/web/pages.py renders them into #i18n).
  const TEXT = JSON.parse(document.getElementById("i18n").textContent);
  const t = (key, values = {}) => (TEXT[key] ?? key).replace(/\{(\w+)\}/g,
    (whole, name) => (name in values ? String(values[name]) : whole));
  const LANG = document.documentElement.lang;
  const form = document.getElementById("send-form");
  const author = document.getElementById("author");
  const text = document.getElementById("text");
  const counter = document.getElementById("counter");
  const result = document.getElementById("result");
  const button = document.getElementById("submit");
  const segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter() : null;
  let maxLength = 100;
  let sending = false;
  // ?room=<slug>: the room the QR code or link named (main when none).
  const room = new URLSearchParams(location.search).get("room") || undefined;
  const roomQuery = room ? `?room=${encodeURIComponent(room)}` : "";
  const here = () => room || "main";

  // Presence: with no screen showing the room, say so, rather than let them watch a dark wall.
  function noScreenText(status) {
    return t(status === "pending" ? "send.result.pending_no_screen" : "send.result.no_screen");
  }

  const count = (s) => (segmenter ? [...segmenter.segment(s.trim())].length : [...s.trim()].length);

  function updateCounter() {
    const n = count(text.value);
    counter.textContent = `${n} / ${maxLength}`;
    counter.classList.toggle("over", n > maxLength);
  }

  function say(message, kind) {
    result.textContent = message;
    result.className = kind;
  }

  // One Idempotency-Key per message: a retry after a network error (the first
  // try may have landed) reuses it, so the server stores the message once.
  let pending = null; // { key, body } of a message sent without an answer yet

  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // randomUUID needs a secure context; a venue's http:// address is not one.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function keyFor(body) {
    const json = JSON.stringify(body);
    if (!pending || pending.body !== json) pending = { key: newKey(), body: json };
    return pending;
  }

  function sentText(reply) {
    if (reply.screens === 0) return noScreenText(reply.status);
    if (reply.status === "pending" || reply.status === "approved") return t(`send.result.${reply.status}`);
    return t("send.result.status", { status: reply.status });
  }

  // A refusal in the page's words, by its status (and the fields beside it): the API's own
  // `error` texts are English, written for developers.
  function refusalText(res, reply) {
    const wait = parseInt(res.headers.get("Retry-After"), 10) || 1;
    if (res.status === 400) {
      return count(text.value) > maxLength ? t("send.error.too_long", { max: maxLength }) : t("send.error.invalid");
    }
    if (res.status === 403 && reply.until) {
      return t("send.error.muted_until", { time: new Date(reply.until).toLocaleString(LANG) });
    }
    if (res.status === 403) return t("send.error.muted");
    if (res.status === 409) return t("send.error.already_sent");
    if (res.status === 429) return t("send.error.too_fast", { seconds: wait });
    if (res.status === 503) return t("send.error.unavailable");
    return t("send.error.other", { status: res.status });
  }

  // The one place the request is built; a retried message keeps its Idempotency-Key.
  function post(attempt) {
    return fetch("/api/barrages", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": attempt.key },
      body: attempt.body,
    });
  }

  async function send(event) {
    event.preventDefault();
    if (sending) return; // Enter pressed again while the last one is on its way
    const data = new FormData(form);
    const body = {
      room,
      text: text.value,
      // no name: the page's word for it (匿名 on a Chinese page; the server's default is English)
      author: author.value.trim() || t("send.author_placeholder"),
      color: data.get("color"),
      size: data.get("size"),
    };
    localStorage.setItem("barrage.author", author.value);
    sending = true;
    button.disabled = true;
    const attempt = keyFor(body);
    try {
      const res = await post(attempt);
      pending = null; // answered: whatever it said, the next send is a new message
      const reply = await res.json().catch(() => ({}));
      if (res.ok) {
        say(sentText(reply), "ok");
        follow(0); // the new one shows in "Your messages" at once
        text.value = "";
        updateCounter();
      } else {
        say(refusalText(res, reply), "error");
      }
    } catch {
      say(t("send.error.network"), "error");
    } finally {
      sending = false;
      button.disabled = false;
      text.focus(); // keeps the phone's keyboard up for the next message
    }
  }

  function onKey(e) {
    // Enter sends; Shift+Enter is a new line. Never while an input method is composing
    // (Enter then confirms the candidate: Chinese, Japanese, Korean keyboards).
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    form.requestSubmit();
  }

  // iOS keeps the layout viewport under the keyboard: lift the Send bar by what it covers.
  // (Chrome on Android resizes the page instead: interactive-widget=resizes-content.)
  function liftAboveKeyboard() {
    const view = window.visualViewport;
    const covered = Math.max(0, window.innerHeight - view.height - view.offsetTop);
    document.documentElement.style.setProperty("--keyboard", `${Math.round(covered)}px`);
  }

  // -- your messages: GET /api/my/barrages, polled (server/web/mine.py says why not a stream) --
  // Often while one still waits for a moderator, rarely once all are decided, never while
  // the page is hidden; jittered so a hall of phones does not ask in step.
  const WAITING_MS = 3000;
  const SETTLED_MS = 30000;
  const mineSection = document.getElementById("mine-section");
  const mineList = document.getElementById("mine");
  let mineTimer = null;

  function statusText(b) {
    if (b.status === "rejected" && b.reason) return t("send.mine.rejected_because", { reason: reasonText(b.reason) });
    return `send.mine.${b.status}` in TEXT ? t(`send.mine.${b.status}`) : b.status;
  }

  // The reasons the server stores (server/core/model.py), in the page's words; a moderator's own is theirs.
  function reasonText(reason) {
    const by = /^rejected by (.+)$/.exec(reason);
    if (by) return t("send.reason.rejected_by", { moderator: by[1] });
    const known = { "blocked word": "send.reason.blocked", link: "send.reason.link", muted: "send.reason.muted" };
    return known[reason] ? t(known[reason]) : reason;
  }

  function mineItem(b) {
    const li = document.createElement("li");
    li.dataset.barrageId = String(b.id);
    const said = document.createElement("span");
    said.className = "mine-text";
    said.textContent = b.room === here() ? b.text : `${b.text} (${b.room})`;
    const status = document.createElement("span");
    status.className = `mine-status ${b.status}`;
    status.textContent = statusText(b);
    li.append(said, status);
    return li;
  }

  // A web sender has no chat to be told in: a draw that picked this phone shows here.
  const winsBox = document.getElementById("wins");
  let shownWins = "";

  function showWins(wins) {
    const key = wins.map((w) => w.draw_id).join(" ");
    if (key === shownWins) return; // unchanged: a screen reader is not told again each poll
    shownWins = key;
    const byRoom = new Map();  // one line per room: "You won 2 draws" rather than two alike
    for (const w of wins) byRoom.set(w.room, (byRoom.get(w.room) || 0) + 1);
    winsBox.replaceChildren(...[...byRoom].map(([where, times]) => {
      const line = document.createElement("p");
      const key = `send.won_${times === 1 ? "one" : "many"}${where === here() ? "" : "_in"}`;
      line.textContent = t(key, { count: times, room: where });
      return line;
    }));
    winsBox.hidden = wins.length === 0;
  }

  async function pollMine() {
    let waiting = false;
    try {
      const res = await fetch("/api/my/barrages", { cache: "no-store" });
      if (res.ok) {
        const { items, wins } = await res.json();
        mineList.replaceChildren(...items.map(mineItem));
        showWins(wins || []);
        mineSection.hidden = items.length === 0;
        waiting = items.some((b) => b.status === "pending");
      }
    } catch { /* offline for a moment: the next poll tries again */ }
    follow(waiting ? WAITING_MS : SETTLED_MS);
  }

  function follow(delay) {
    clearTimeout(mineTimer);
    mineTimer = null;
    if (document.visibilityState === "hidden") return; // visibilitychange polls again
    mineTimer = setTimeout(pollMine, delay ? delay * (0.8 + 0.4 * Math.random()) : 0);
  }

  document.addEventListener("visibilitychange", () => follow(0));
  follow(0);

  author.value = localStorage.getItem("barrage.author") || "";
  text.addEventListener("input", updateCounter);
  text.addEventListener("keydown", onKey);
  form.addEventListener("submit", send);
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", liftAboveKeyboard);
    window.visualViewport.addEventListener("scroll", liftAboveKeyboard);
  }
  fetch(`/api/screen-config${roomQuery}`).then((r) => r.json()).then((cfg) => {
    maxLength = cfg.max_text_length || maxLength;
    if (cfg.max_author_length) author.maxLength = cfg.max_author_length;
    updateCounter();
  }).catch(() => updateCounter());
})();

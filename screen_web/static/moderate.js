// Moderation desk. The admin token lives in sessionStorage only; a link of the
// form /moderate#token=... (printed at start-up) fills it in. Pending barrages
// arrive live from /api/stream (SSE read with fetch, so the token travels in
// the Authorization header, never in a URL).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const queue = $("queue");
  const items = new Map(); // barrage id -> <li>
  let selected = null;
  let stream = null;

  const token = () => sessionStorage.getItem("barrage.token") || "";
  const moderator = () => sessionStorage.getItem("barrage.moderator") || "web moderator";

  async function api(path, options = {}) {
    const res = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" },
    });
    if (res.status === 401) {
      signOut("That token was not accepted.");
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
    return seconds < 60 ? `${seconds}s ago` : `${Math.round(seconds / 60)} min ago`;
  }

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
    meta.textContent = `${b.author} · ${b.source} · ${b.size} · `;
    const when = document.createElement("time");
    when.dateTime = b.created_at;
    when.textContent = age(b.created_at);
    meta.appendChild(when);
    const approve = button("Approve", "approve", () => decide(b.id, "approve"));
    const reject = button("Reject", "reject", () => decide(b.id, "reject"));
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(approve, reject);
    li.append(text, meta, actions);
    li.addEventListener("click", () => select(b.id));
    return li;
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
    return b;
  }

  function add(b) {
    if (items.has(b.id) || b.status !== "pending") return;
    const li = card(b);
    items.set(b.id, li);
    queue.appendChild(li);
    if (selected === null) select(b.id);
    refreshEmpty();
  }

  function remove(id) {
    const li = items.get(id);
    if (!li) return;
    const ids = [...items.keys()];
    const next = ids[ids.indexOf(id) + 1] ?? ids[ids.indexOf(id) - 1] ?? null;
    li.remove();
    items.delete(id);
    if (selected === id) select(next);
    refreshEmpty();
  }

  function select(id) {
    if (selected !== null && items.has(selected)) items.get(selected).classList.remove("selected");
    selected = id !== null && items.has(id) ? id : null;
    if (selected !== null) {
      const li = items.get(selected);
      li.classList.add("selected");
      li.scrollIntoView({ block: "nearest" });
    }
  }

  function refreshEmpty() {
    $("empty").hidden = items.size > 0;
    $("stat-pending").textContent = String(items.size);
  }

  async function decide(id, verdict) {
    try {
      const res = await api(`/api/barrages/${id}/${verdict}`, {
        method: "POST",
        body: JSON.stringify({ moderator: moderator() }),
      });
      const reply = await res.json().catch(() => ({}));
      if (res.ok) notice(`${verdict === "approve" ? "Approved" : "Rejected"}: ${reply.text}`, "ok");
      else notice(reply.error || `HTTP ${res.status}`, "error");
      if (res.ok || res.status === 409 || res.status === 404) remove(id);
      loadStats();
    } catch (e) {
      if (e.message !== "unauthorized") notice("Could not reach the server.", "error");
    }
  }

  function showMode(mode) {
    for (const b of document.querySelectorAll(".mode button")) {
      b.classList.toggle("active", b.dataset.mode === mode);
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    }
  }

  async function setMode(mode) {
    const res = await api("/api/mode", { method: "PUT", body: JSON.stringify({ mode, moderator: moderator() }) });
    if (res.ok) showMode((await res.json()).mode);
  }

  async function loadStats() {
    try {
      const s = await (await api("/api/stats")).json();
      $("stat-approved").textContent = String(s.approved_today);
      $("stat-screens").textContent = String(s.screens);
      showMode(s.mode);
    } catch { /* shown by the live pill */ }
  }

  async function loadPending() {
    const res = await api("/api/barrages?status=pending");
    const { items: pending } = await res.json();
    const still = new Set(pending.map((b) => b.id));
    for (const id of [...items.keys()]) if (!still.has(id)) remove(id);
    pending.forEach(add);
  }

  function onEvent(kind, data) {
    if (kind === "pending") add(data);
    else if (kind === "barrage" || kind === "rejected") remove(data.id);
    else if (kind === "mode") showMode(data.mode);
    if (kind !== "mode") loadStats();
  }

  // A small SSE reader over fetch: EventSource cannot send an Authorization header.
  async function follow() {
    const controller = new AbortController();
    stream = controller;
    const res = await api("/api/stream", { signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    $("live").textContent = "live";
    $("live").className = "pill live";
    await loadPending(); // subscribed first, then listed: nothing falls between
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
      $("live").textContent = "reconnecting…";
      $("live").className = "pill";
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  function onKey(e) {
    if ($("desk").hidden || e.target.closest("input, textarea")) return;
    const ids = [...items.keys()];
    const at = ids.indexOf(selected);
    if (e.key === "ArrowDown" || e.key === "j") select(ids[Math.min(at + 1, ids.length - 1)] ?? null);
    else if (e.key === "ArrowUp" || e.key === "k") select(ids[Math.max(at - 1, 0)] ?? null);
    else if ((e.key === "a" || e.key === "Enter") && selected !== null) decide(selected, "approve");
    else if ((e.key === "r" || e.key === "Delete") && selected !== null) decide(selected, "reject");
    else return;
    e.preventDefault();
  }

  function signOut(message = "") {
    sessionStorage.removeItem("barrage.token");
    if (stream) stream.abort();
    for (const id of [...items.keys()]) remove(id);
    $("desk").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message;
  }

  function signIn() {
    $("login").hidden = true;
    $("desk").hidden = false;
    refreshEmpty();
    loadStats();
    keepFollowing();
  }

  function tokenFromFragment() {
    const match = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (!match) return;
    sessionStorage.setItem("barrage.token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search); // keep it out of history
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("barrage.token", $("token").value.trim());
    sessionStorage.setItem("barrage.moderator", $("moderator").value.trim() || "web moderator");
    signIn();
  });
  $("logout").addEventListener("click", () => signOut());
  for (const b of document.querySelectorAll(".mode button")) b.addEventListener("click", () => setMode(b.dataset.mode));
  document.addEventListener("keydown", onKey);
  setInterval(() => { if (!$("desk").hidden) loadStats(); }, 5000);
  setInterval(() => { for (const t of queue.querySelectorAll("time")) t.textContent = age(t.dateTime); }, 10000);

  tokenFromFragment();
  if (token()) signIn(); else signOut();
})();

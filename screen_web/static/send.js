// The send form: POST /api/barrages, then say what happened to the message.
// Made for phones: Enter sends (Shift+Enter is a new line), the message box keeps
// focus so the keyboard stays up for the next one, and the Send bar sits above
// the on-screen keyboard.
"use strict";
(() => {
  const form = document.getElementById("send-form");
  const author = document.getElementById("author");
  const text = document.getElementById("text");
  const counter = document.getElementById("counter");
  const result = document.getElementById("result");
  const button = document.getElementById("submit");
  const segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter() : null;
  let maxLength = 100;
  let sending = false;

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

  const STATUS_TEXT = {
    pending: "Sent! A moderator will look at it shortly.",
    approved: "On screen now!",
  };

  // The one place the request is built.
  function post(body) {
    return fetch("/api/barrages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async function send(event) {
    event.preventDefault();
    if (sending) return; // Enter pressed again while the last one is on its way
    const data = new FormData(form);
    const body = {
      text: text.value,
      author: author.value.trim() || undefined,
      color: data.get("color"),
      size: data.get("size"),
    };
    localStorage.setItem("barrage.author", author.value);
    sending = true;
    button.disabled = true;
    try {
      const res = await post(body);
      const reply = await res.json().catch(() => ({}));
      if (res.ok) {
        say(STATUS_TEXT[reply.status] || `Status: ${reply.status}`, "ok");
        text.value = "";
        updateCounter();
      } else {
        say(reply.error || `Not sent (HTTP ${res.status})`, "error");
      }
    } catch {
      say("Could not reach the server. Try again.", "error");
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

  author.value = localStorage.getItem("barrage.author") || "";
  text.addEventListener("input", updateCounter);
  text.addEventListener("keydown", onKey);
  form.addEventListener("submit", send);
  if (window.visualViewport) {
    window.visualViewport.addEventListener("resize", liftAboveKeyboard);
    window.visualViewport.addEventListener("scroll", liftAboveKeyboard);
  }
  fetch("/api/screen-config").then((r) => r.json()).then((cfg) => {
    maxLength = cfg.max_text_length || maxLength;
    if (cfg.max_author_length) author.maxLength = cfg.max_author_length;
    updateCounter();
  }).catch(() => updateCounter());
})();

// The send form: POST /api/barrages, then say what happened to the message.
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

  async function send(event) {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      text: text.value,
      author: author.value.trim() || undefined,
      color: data.get("color"),
      size: data.get("size"),
    };
    localStorage.setItem("barrage.author", author.value);
    button.disabled = true;
    try {
      const res = await fetch("/api/barrages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
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
      button.disabled = false;
    }
  }

  author.value = localStorage.getItem("barrage.author") || "";
  text.addEventListener("input", updateCounter);
  form.addEventListener("submit", send);
  fetch("/api/screen-config").then((r) => r.json()).then((cfg) => {
    maxLength = cfg.max_text_length || maxLength;
    updateCounter();
  }).catch(() => updateCounter());
})();

// shakedown dashboard: live cards over Server-Sent Events, buttons as POSTs with the
// page's token, and ages that stay current. No framework, no build step.
"use strict";

(function () {
  const kind = document.body.dataset.kind;
  const token = document.querySelector('meta[name="shakedown-token"]').content;
  const cards = document.getElementById("cards");
  const conn = document.getElementById("conn");
  const banner = document.getElementById("banner");
  const toast = document.getElementById("toast");
  let toastTimer = null;

  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  function setConn(ok, text) {
    conn.textContent = text;
    conn.className = "conn " + (ok ? "ok" : "down");
  }

  function showToast(ok, text) {
    toast.textContent = text;
    toast.className = "toast " + (ok ? "ok" : "bad");
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, ok ? 6000 : 15000);
  }

  function span(s) {
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 172800) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d";
  }

  function refreshTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (t) {
      const then = Date.parse(t.dateTime);
      if (isNaN(then)) return;
      const s = Math.round((Date.now() - then) / 1000);
      t.textContent = s >= 0 ? span(s) + " ago" : "in " + span(-s);
    });
  }

  function fromHtml(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    return tpl.content.firstElementChild;
  }

  function placeCard(data) {
    const old = document.getElementById(data.id);
    if (!data.html) {
      if (old) old.remove();
    } else {
      const card = fromHtml(data.html);
      refreshTimes(card);
      if (old) {
        old.replaceWith(card);
      } else {
        const before = Array.from(cards.querySelectorAll(".card")).find(function (c) {
          return c.dataset.key > card.dataset.key;
        });
        cards.insertBefore(card, before || null);
      }
    }
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = cards.querySelector(".card") !== null;
  }

  function connect() {
    const source = new EventSource("/events?kind=" + encodeURIComponent(kind));
    source.addEventListener("card", function (e) {
      const data = JSON.parse(e.data);
      if (data.kind === kind) placeCard(data);
    });
    source.addEventListener("state", function (e) {
      const state = JSON.parse(e.data);
      if (state.kind !== kind) return;
      if (state.ok === null) {
        setConn(false, "connecting…");
      } else {
        setConn(state.ok, state.ok ? "live" : "cluster unreachable");
      }
      showBanner(state.ok === false ? state.message : "");
    });
    source.addEventListener("synced", function () {
      document.body.dataset.synced = "true";
    });
    source.onerror = function () {
      setConn(false, "reconnecting…");
      showBanner("Lost the connection to the dashboard server; reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, 2000);
      }
    };
  }

  document.addEventListener("submit", function (e) {
    const form = e.target;
    if (!form.classList.contains("action")) return;
    e.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "X-Shakedown-Token": token },
      credentials: "same-origin",
    })
      .then(function (r) { return r.json(); })
      .then(function (answer) { showToast(answer.ok, answer.message); })
      .catch(function (err) { showToast(false, "The dashboard did not answer: " + err); })
      .finally(function () { button.disabled = false; });
  });

  refreshTimes();
  setInterval(refreshTimes, 10000);
  connect();
})();

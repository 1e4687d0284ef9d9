// ftpman's own script: makes the server-rendered pages livelier. Every page works without it.
"use strict";
(function () {
  const base = document.body.dataset.base || "";

  // Times: the browser's zone, "3 min ago" with the exact time on hover.
  function ago(date) {
    const s = Math.round((Date.now() - date.getTime()) / 1000);
    const future = s < 0, a = Math.abs(s);
    const text = a < 60 ? a + " s" : a < 3600 ? Math.round(a / 60) + " min" : a < 86400 ? Math.round(a / 3600) + " h" : Math.round(a / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }
  function times() {
    document.querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.title = d.toLocaleString();
      t.textContent = ago(d);
    });
  }
  times();
  setInterval(times, 30000);

  // The menu on a phone.
  const menu = document.querySelector(".menu"), nav = document.getElementById("nav");
  if (menu && nav) menu.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });

  // "/" focuses the page's first filter.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || /input|select|textarea/i.test(document.activeElement.tagName)) return;
    const f = document.querySelector(".filters input, .filters select");
    if (f) { e.preventDefault(); f.focus(); }
  });

  // A toast: dismissed by its button or Escape; a success fades after a few seconds.
  const toast = document.getElementById("toast");
  if (toast) {
    const hide = () => { toast.classList.add("gone"); setTimeout(() => toast.remove(), 500); };
    toast.querySelector("[data-dismiss]").addEventListener("click", hide);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); });
    if (!toast.classList.contains("bad")) setTimeout(hide, 6000);
  }

  // A secret shown once is selected whole when focused, to copy it.
  document.querySelectorAll("input[data-select]").forEach((i) => i.addEventListener("focus", () => i.select()));

  // The site form shows the fields of the chosen protocol only (all of them without script).
  const protocol = document.getElementById("protocol");
  if (protocol) {
    const show = () => document.querySelectorAll("#site-form [data-for]").forEach((el) => {
      el.hidden = !el.dataset.for.split(" ").includes(protocol.value);
    });
    protocol.addEventListener("change", show);
    show();
  }

  // Destructive actions ask first.
  document.querySelectorAll("form[data-confirm]").forEach((f) =>
    f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); }));

  // A cron expression explained in words as it is typed (the server decides, as on saving).
  const cron = document.getElementById("schedule"), words = document.getElementById("schedule-words");
  if (cron && words) {
    let timer = null;
    const explain = () => {
      const tz = document.getElementById("tz");
      if (!cron.value.trim()) { words.textContent = "No schedule: the job runs when started."; return; }
      const q = new URLSearchParams({ cron: cron.value, tz: tz ? tz.value : "" });
      fetch(base + "/api/v1/schedule?" + q, { credentials: "same-origin" })
        .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
        .then(({ ok, body }) => {
          words.textContent = ok ? body.text : body.error.message;
          words.classList.toggle("error", !ok);
        })
        .catch(() => {});
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(explain, 250); };
    cron.addEventListener("input", later);
    const tz = document.getElementById("tz");
    if (tz) tz.addEventListener("input", later);
  }

  // An upload's progress: the same form, sent by the script so that the bytes can be counted.
  const up = document.getElementById("upload-form");
  if (up && window.XMLHttpRequest) {
    up.addEventListener("submit", (e) => {
      e.preventDefault();
      const bar = document.getElementById("upload-bar"), said = document.getElementById("upload-progress");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", up.action);
      xhr.upload.addEventListener("progress", (p) => {
        if (!p.lengthComputable) return;
        bar.hidden = false;
        bar.firstElementChild.style.width = (100 * p.loaded / p.total) + "%";
        said.textContent = Math.round(100 * p.loaded / p.total) + "% sent";
      });
      xhr.addEventListener("load", () => { document.open(); document.write(xhr.responseText); document.close(); });
      xhr.addEventListener("error", () => { said.textContent = "the upload broke off; try again"; });
      xhr.send(new FormData(up));
    });
  }

  // A run's live progress, from its Server-Sent Events.
  const live = document.getElementById("live");
  if (!live || live.dataset.final === "true") return;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  function bytes(n) {
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }
  // What could disguise a name a server sent (controls, bidirectional marks) shown as escapes,
  // as the server-drawn rows show it.
  function visible(s) {
    return String(s).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
      (c) => "\\u{" + c.charCodeAt(0).toString(16) + "}");
  }
  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }
  let last = null;
  const moving = document.getElementById("moving");
  const tbody = document.querySelector("#files tbody");
  const source = new EventSource(base + "/api/v1/runs/" + live.dataset.run + "/events");
  source.addEventListener("run", (ev) => {
    const u = JSON.parse(ev.data), r = u.run;
    ["found", "transferred", "skipped", "failed"].forEach((k) => { document.getElementById(k).textContent = r[k]; });
    const active = r.active_files || [];
    const moved = r.bytes + active.reduce((s, f) => s + f.bytes, 0);
    const now = Date.now();
    let speed = "";
    if (last && now > last.t) {
      const rate = (moved - last.b) * 1000 / (now - last.t);
      const left = active.reduce((s, f) => s + (f.size - f.bytes), 0);
      speed = bytes(Math.max(rate, 0)) + "/s" + (rate > 0 && left > 0 ? " · about " + Math.ceil(left / rate) + " s left" : "");
    }
    last = { t: now, b: moved };
    document.getElementById("bytes").textContent = bytes(moved);
    moving.replaceChildren();
    if (active.length) moving.appendChild(text("p", "Moving now" + (speed ? " · " + speed : ""), "muted"));
    active.forEach((f) => {
      moving.appendChild(text("div", visible(f.path) + " · " + bytes(f.bytes) + " of " + bytes(f.size), "mono"));
      const bar = document.createElement("div"); bar.className = "bar";
      const fill = document.createElement("span"); fill.style.width = (f.size ? Math.min(100, 100 * f.bytes / f.size) : 100) + "%";
      bar.appendChild(fill); moving.appendChild(bar);
    });
    (u.files || []).forEach((f) => {
      const tr = document.createElement("tr");
      tr.appendChild(text("td", visible(f.source), "mono path"));
      tr.appendChild(text("td", visible(f.target), "mono path"));
      tr.appendChild(text("td", bytes(f.size), "num"));
      tr.appendChild(text("td", f.duration_s.toFixed(1) + " s", "num"));
      const st = document.createElement("td"); st.appendChild(text("span", f.status, "pill " + f.status)); tr.appendChild(st);
      tr.appendChild(text("td", visible(f.error || ""), "muted"));
      tbody.appendChild(tr);
      const none = document.getElementById("no-files"); if (none) none.remove();
    });
    const status = document.getElementById("status");
    status.replaceChildren(text("span", r.status, "pill " + r.status));
  });
  source.addEventListener("end", () => { source.close(); window.location.reload(); });
})();

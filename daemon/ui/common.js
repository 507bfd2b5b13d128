// common.js - helpers shared by every page of profgate's web UI (plain JS, no framework).
// Every URL is relative to the page, so the UI works under --web.route-prefix and behind
// a reverse proxy that adds a path.
"use strict";
var PG = (function () {
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  // GET a JSON endpoint (relative path); resolves to data, rejects with the error text.
  function api(path, params) {
    var q = params ? "?" + new URLSearchParams(params).toString() : "";
    return fetch(path + q, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.text().then(function (t) {
        var j;
        try { j = JSON.parse(t); } catch (e) { throw new Error(r.status + " " + t.slice(0, 200)); }
        if (j.status !== "success") throw new Error(j.error || r.status);
        return j.data;
      });
    });
  }
  function parseTime(s) {
    if (!s || s.indexOf("0001-") === 0) return 0;
    return Date.parse(s);
  }
  // "12s ago", "3m ago", "never"
  function ago(s) {
    var t = typeof s === "number" ? s : parseTime(s);
    if (!t) return "never";
    var d = Math.max(0, (Date.now() - t) / 1000);
    if (d < 1) return "just now";
    if (d < 90) return Math.round(d) + "s ago";
    if (d < 5400) return Math.round(d / 60) + "m ago";
    if (d < 172800) return Math.round(d / 3600) + "h ago";
    return Math.round(d / 86400) + "d ago";
  }
  function secs(v) {
    if (v == null) return "";
    if (v < 0.001) return (v * 1e6).toFixed(0) + "µs";
    if (v < 1) return (v * 1e3).toFixed(1) + "ms";
    if (v < 120) return v.toFixed(2) + "s";
    return (v / 60).toFixed(1) + "m";
  }
  function bytes(n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function chips(labels, cls) {
    var out = [];
    Object.keys(labels || {}).sort().forEach(function (k) {
      out.push('<span class="chip ' + (cls || "") + '">' + esc(k) + '="' + esc(labels[k]) + '"</span>');
    });
    return out.join(" ");
  }
  // Calls fn now and every ms while the page is visible (one timer per page, never per row).
  function refresh(fn, ms) {
    var timer = null;
    function tick() {
      timer = null;
      Promise.resolve(fn()).catch(function () {}).then(schedule);
    }
    function schedule() {
      if (timer || document.visibilityState !== "visible") return;
      timer = setTimeout(tick, ms);
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        if (timer) { clearTimeout(timer); timer = null; }
        tick();
      } else if (timer) { clearTimeout(timer); timer = null; }
    });
    tick();
  }
  function showError(el, e) {
    el.innerHTML = '<p class="err">Error: ' + esc(e && e.message ? e.message : e) + "</p>";
  }
  return { esc: esc, api: api, ago: ago, secs: secs, bytes: bytes, chips: chips,
           refresh: refresh, parseTime: parseTime, showError: showError };
})();

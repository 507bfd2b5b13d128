// targets.js - the targets page: every active (target × profile type) from
// /api/v1/targets, grouped by job (collapsible, up/total), filtered by health and text.
// Long groups render 100 rows at a time ("show more"), so 10,000 targets render fast; one
// refresh timer for the whole page, and relative times are recomputed on each refresh.
"use strict";
(function () {
  var PAGE = 100;
  var groupsEl = document.getElementById("groups"), healthEl = document.getElementById("health");
  var qEl = document.getElementById("q"), summaryEl = document.getElementById("summary");
  var data = [], collapsed = {}, shown = {};
  var params = new URLSearchParams(location.search);
  if (params.get("health")) healthEl.value = params.get("health");
  if (params.get("search")) qEl.value = params.get("search");

  function flameHref(t) {
    return "flamegraph?" + new URLSearchParams({ scrapePool: t.scrapePool, scrapeUrl: t.scrapeUrl, profileType: t.profileType || "" }).toString();
  }
  function row(t) {
    return "<tr><td><a href=\"" + PG.esc(t.scrapeUrl) + "\">" + PG.esc(t.scrapeUrl) + "</a></td><td>" +
      PG.esc(t.profileType) + "</td><td>" + PG.chips(t.labels) + '</td><td><span class="state ' + PG.esc(t.health) + '">' +
      PG.esc(t.health) + "</span></td><td title=\"" + PG.esc(t.lastScrape) + "\">" + PG.ago(t.lastScrape) +
      '</td><td class="num">' + PG.secs(t.lastScrapeDuration) + '</td><td class="err">' + PG.esc(t.lastError) +
      '</td><td><a class="flame" href="' + PG.esc(flameHref(t)) + '">flame graph</a></td></tr>';
  }
  function render() {
    var t0 = performance.now();
    var health = healthEl.value, q = qEl.value.toLowerCase(), jobs = [], byJob = {}, nShown = 0;
    data.forEach(function (t) {
      var g = byJob[t.scrapePool];
      if (!g) { g = byJob[t.scrapePool] = { name: t.scrapePool, all: 0, up: 0, rows: [] }; jobs.push(g); }
      g.all++;
      if (t.health === "up") g.up++;
      if (health && t.health !== health) return;
      if (q && t._s.indexOf(q) < 0) return;
      g.rows.push(t);
      nShown++;
    });
    var html = [];
    jobs.forEach(function (g) {
      if (!g.rows.length && (health || q)) return;
      var n = shown[g.name] || PAGE, isC = collapsed[g.name];
      html.push('<div class="group' + (isC ? " collapsed" : "") + '" data-job="' + PG.esc(g.name) + '"><div class="ghead"><b>' +
        PG.esc(g.name) + '</b><span class="count">(' + g.up + "/" + g.all + " up)</span></div><div class=\"gbody\">");
      if (!isC) {
        html.push("<table><thead><tr><th>Endpoint</th><th>Type</th><th>Labels</th><th>State</th><th>Last scrape</th>" +
          '<th class="num">Duration</th><th>Error</th><th></th></tr></thead><tbody>');
        for (var i = 0; i < g.rows.length && i < n; i++) html.push(row(g.rows[i]));
        html.push("</tbody></table>");
        if (g.rows.length > n)
          html.push('<button class="more" data-job="' + PG.esc(g.name) + '">Show more (' + (g.rows.length - n) + " hidden)</button>");
      }
      html.push("</div></div>");
    });
    groupsEl.innerHTML = html.length ? html.join("") : '<p class="muted">No targets match.</p>';
    summaryEl.textContent = nShown + " of " + data.length + " shown";
    // how long building the page took (read by tests/e2e/test_web_ui.py)
    groupsEl.setAttribute("data-render-ms", (performance.now() - t0).toFixed(1));
    groupsEl.setAttribute("data-done-ms", performance.now().toFixed(1)); // since navigation start
  }
  groupsEl.addEventListener("click", function (ev) {
    var head = ev.target.closest(".ghead"), more = ev.target.closest("button.more");
    if (head) {
      var job = head.parentNode.getAttribute("data-job");
      collapsed[job] = !collapsed[job];
      render();
    } else if (more) {
      var j = more.getAttribute("data-job");
      shown[j] = (shown[j] || PAGE) + 10 * PAGE;
      render();
    }
  });
  healthEl.addEventListener("change", render);
  var debounce = null;
  qEl.addEventListener("input", function () { clearTimeout(debounce); debounce = setTimeout(render, 120); });
  document.getElementById("expand").onclick = function () { collapsed = {}; render(); };
  document.getElementById("collapse").onclick = function () {
    data.forEach(function (t) { collapsed[t.scrapePool] = true; });
    render();
  };
  function load() {
    var t0 = performance.now();
    return PG.api("api/v1/targets", { state: "active" }).then(function (d) {
      data = d.activeTargets;
      groupsEl.setAttribute("data-fetch-ms", (performance.now() - t0).toFixed(1));
      data.forEach(function (t) {
        var s = t.scrapeUrl + " " + t.profileType;
        for (var k in t.labels) s += " " + k + "=" + t.labels[k];
        t._s = s.toLowerCase();
      });
      render();
    }, function (e) { PG.showError(groupsEl, e); });
  }
  PG.refresh(load, 10000);
})();

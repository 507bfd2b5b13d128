// targets.js - the targets page: every active (target × profile type), grouped by job
// (collapsible, up/total), filtered by health and text. The server does the counting and
// filtering (api/v1/targets/pools): the page fetches the counts of every job and only the
// first rows of each (100, "show more" asks for more of one job), so 10,000 targets cost
// one small reply, also on every refresh. One refresh timer for the whole page; relative
// times are recomputed on each refresh.
"use strict";
(function () {
  var PAGE = 100;
  var groupsEl = document.getElementById("groups"), healthEl = document.getElementById("health");
  var qEl = document.getElementById("q"), summaryEl = document.getElementById("summary");
  var data = { pools: [], total: 0, matched: 0 }, collapsed = {}, shown = {}, seq = 0;
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
    var t0 = performance.now(), filtered = healthEl.value || qEl.value, html = [];
    data.pools.forEach(function (g) {
      if (!g.matched && filtered) return;
      var isC = collapsed[g.name];
      html.push('<div class="group' + (isC ? " collapsed" : "") + '" data-job="' + PG.esc(g.name) + '"><div class="ghead"><b>' +
        PG.esc(g.name) + '</b><span class="count">(' + g.up + "/" + g.total + " up)</span></div><div class=\"gbody\">");
      if (!isC) {
        html.push("<table><thead><tr><th>Endpoint</th><th>Type</th><th>Labels</th><th>State</th><th>Last scrape</th>" +
          '<th class="num">Duration</th><th>Error</th><th></th></tr></thead><tbody>');
        g.targets.forEach(function (t) { html.push(row(t)); });
        html.push("</tbody></table>");
        if (g.matched > g.targets.length)
          html.push('<button class="more" data-job="' + PG.esc(g.name) + '">Show more (' + (g.matched - g.targets.length) + " hidden)</button>");
      }
      html.push("</div></div>");
    });
    groupsEl.innerHTML = html.length ? html.join("") : '<p class="muted">No targets match.</p>';
    summaryEl.textContent = data.matched + " of " + data.total + " shown";
    // how long building the page took (read by tests/e2e/test_web_ui.py, tests/bench/bench_web_ui.py)
    groupsEl.setAttribute("data-render-ms", (performance.now() - t0).toFixed(1));
    groupsEl.setAttribute("data-done-ms", performance.now().toFixed(1)); // since navigation start
  }
  function query(extra) {
    var p = { limit: PAGE };
    if (healthEl.value) p.health = healthEl.value;
    if (qEl.value) p.search = qEl.value;
    for (var k in extra) p[k] = extra[k];
    return PG.api("api/v1/targets/pools", p);
  }
  // The first rows of every job, then more of the jobs whose "show more" was clicked.
  function load() {
    var t0 = performance.now(), my = ++seq;
    return query({}).then(function (d) {
      var more = d.pools.filter(function (g) { return (shown[g.name] || PAGE) > PAGE && !collapsed[g.name] && g.matched > PAGE; });
      return Promise.all(more.map(function (g) {
        return query({ scrapePool: g.name, limit: shown[g.name] }).then(function (m) {
          if (m.pools.length) g.targets = m.pools[0].targets;
        });
      })).then(function () { return d; });
    }).then(function (d) {
      if (my !== seq) return; // a newer load (filter changed) wins
      data = d;
      groupsEl.setAttribute("data-fetch-ms", (performance.now() - t0).toFixed(1));
      render();
    }, function (e) { PG.showError(groupsEl, e); });
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
      more.disabled = true;
      load();
    }
  });
  healthEl.addEventListener("change", load);
  var debounce = null;
  qEl.addEventListener("input", function () { clearTimeout(debounce); debounce = setTimeout(load, 200); });
  document.getElementById("expand").onclick = function () { collapsed = {}; render(); };
  document.getElementById("collapse").onclick = function () {
    data.pools.forEach(function (g) { collapsed[g.name] = true; });
    render();
  };
  PG.refresh(load, 10000);
})();

// service-discovery.js - per job, the discovered labels next to the final labels of every
// active target, and every dropped target with the relabel rule that dropped it; "explain"
// shows the label set after each rule (/api/v1/targets/relabel_steps). The server filters
// and pages (api/v1/service-discovery with search and limit): the page fetches the first
// 100 targets of each job and more of one job on "show more", so large fleets stay fast.
"use strict";
(function () {
  var PAGE = 100;
  var jobsEl = document.getElementById("jobs"), qEl = document.getElementById("q");
  var summaryEl = document.getElementById("summary"), data = [], collapsed = {}, shown = {}, open = {};
  function rule(r) {
    if (!r) return '<span class="muted">(no rule: see error)</span>';
    var s = "rule " + (r.index + 1) + ": action=" + r.action;
    if (r.source_labels && r.source_labels.length) s += " source_labels=[" + r.source_labels.join(", ") + "]";
    if (r.regex) s += " regex=" + r.regex;
    if (r.target_label) s += " target_label=" + r.target_label;
    return '<code class="rule">' + PG.esc(s) + "</code>";
  }
  var seq = 0;
  function render() {
    var html = [], na = 0, nd = 0;
    data.forEach(function (j) {
      var act = j.activeTargets, drop = j.droppedTargets;
      na += j.activeCount; nd += j.droppedCount;
      var isC = collapsed[j.name];
      html.push('<div class="group' + (isC ? " collapsed" : "") + '" data-job="' + PG.esc(j.name) + '"><div class="ghead"><b>' +
        PG.esc(j.name) + '</b><span class="count">(' + j.activeCount + " active / " + j.droppedCount + ' dropped)</span></div><div class="gbody">');
      if (!isC) {
        html.push("<table><thead><tr><th>Discovered labels</th><th>Target labels</th></tr></thead><tbody>");
        act.forEach(function (t) {
          html.push("<tr><td>" + PG.chips(t.discoveredLabels) + "</td><td>" + PG.chips(t.labels) + "<div class=\"muted\">" +
            PG.esc(t.profileTypes.join(", ")) + "</div></td></tr>");
        });
        drop.forEach(function (t, i) {
          var id = j.name + "#" + i;
          html.push('<tr class="dropped"><td>' + PG.chips(t.discoveredLabels) + '</td><td><span class="state down">dropped</span> by ' +
            rule(t.droppedBy) + (t.error ? ' <span class="err">' + PG.esc(t.error) + "</span>" : "") +
            ' <button class="explain" data-job="' + PG.esc(j.name) + '" data-i="' + i + '">explain</button>' +
            '<div class="steps" id="steps-' + PG.esc(id) + '">' + (open[id] || "") + "</div></td></tr>");
        });
        html.push("</tbody></table>");
        if (j.activeMatched > act.length || j.droppedMatched > drop.length)
          html.push('<button class="more" data-job="' + PG.esc(j.name) + '">Show more</button>');
      }
      html.push("</div></div>");
    });
    jobsEl.innerHTML = html.join("") || '<p class="muted">No jobs.</p>';
    summaryEl.textContent = na + " active, " + nd + " dropped";
  }
  function explain(job, i) {
    var j = data.filter(function (x) { return x.name === job; })[0];
    var t = j.droppedTargets[i];
    var id = job + "#" + i;
    PG.api("api/v1/targets/relabel_steps", { scrapePool: job, labels: JSON.stringify(t.discoveredLabels) }).then(function (d) {
      var h = d.steps.map(function (s) {
        return "<div>" + rule(s.rule) + " → " + (s.keep ? PG.chips(s.output) : '<span class="state down">dropped</span>') + "</div>";
      });
      open[id] = h.join("") || '<span class="muted">no relabel rules</span>';
      render();
    }, function (e) { open[id] = '<span class="err">' + PG.esc(e.message) + "</span>"; render(); });
  }
  jobsEl.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.explain"), more = ev.target.closest("button.more"), head = ev.target.closest(".ghead");
    if (b) explain(b.getAttribute("data-job"), +b.getAttribute("data-i"));
    else if (more) { var jn = more.getAttribute("data-job"); shown[jn] = (shown[jn] || PAGE) + 10 * PAGE; more.disabled = true; load(); }
    else if (head) { var name = head.parentNode.getAttribute("data-job"); collapsed[name] = !collapsed[name]; render(); }
  });
  var debounce = null;
  qEl.addEventListener("input", function () { clearTimeout(debounce); debounce = setTimeout(load, 200); });
  function query(extra) {
    var p = { limit: PAGE };
    if (qEl.value) p.search = qEl.value;
    for (var k in extra) p[k] = extra[k];
    return PG.api("api/v1/service-discovery", p);
  }
  // The first targets of every job, then more of the jobs whose "show more" was clicked.
  function load() {
    var t0 = performance.now(), my = ++seq;
    return query({}).then(function (d) {
      return Promise.all(d.jobs.filter(function (j) { return (shown[j.name] || PAGE) > PAGE && !collapsed[j.name]; }).map(function (j) {
        return query({ scrapePool: j.name, limit: shown[j.name] }).then(function (m) {
          if (m.jobs.length) { j.activeTargets = m.jobs[0].activeTargets; j.droppedTargets = m.jobs[0].droppedTargets; }
        });
      })).then(function () { return d; });
    }).then(function (d) {
      if (my !== seq) return; // a newer load (search changed) wins
      data = d.jobs;
      jobsEl.setAttribute("data-fetch-ms", (performance.now() - t0).toFixed(1));
      render();
      jobsEl.setAttribute("data-done-ms", performance.now().toFixed(1)); // since navigation start
    }, function (e) { PG.showError(jobsEl, e); });
  }
  PG.refresh(load, 15000);
})();

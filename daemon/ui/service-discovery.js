// service-discovery.js - per job, the discovered labels next to the final labels of every
// active target, and every dropped target with the relabel rule that dropped it; "explain"
// shows the label set after each rule (/api/v1/targets/relabel_steps).
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
  function match(labels, q) {
    if (!q) return true;
    for (var k in labels) if ((k + "=" + labels[k]).toLowerCase().indexOf(q) >= 0) return true;
    return false;
  }
  function render() {
    var q = qEl.value.toLowerCase(), html = [], na = 0, nd = 0;
    data.forEach(function (j) {
      var act = j.activeTargets.filter(function (t) { return match(t.discoveredLabels, q) || match(t.labels, q); });
      var drop = j.droppedTargets.filter(function (t) { return match(t.discoveredLabels, q); });
      na += j.activeCount; nd += j.droppedCount;
      var isC = collapsed[j.name], n = shown[j.name] || PAGE;
      html.push('<div class="group' + (isC ? " collapsed" : "") + '" data-job="' + PG.esc(j.name) + '"><div class="ghead"><b>' +
        PG.esc(j.name) + '</b><span class="count">(' + j.activeCount + " active / " + j.droppedCount + ' dropped)</span></div><div class="gbody">');
      if (!isC) {
        html.push("<table><thead><tr><th>Discovered labels</th><th>Target labels</th></tr></thead><tbody>");
        act.slice(0, n).forEach(function (t) {
          html.push("<tr><td>" + PG.chips(t.discoveredLabels) + "</td><td>" + PG.chips(t.labels) + "<div class=\"muted\">" +
            PG.esc(t.profileTypes.join(", ")) + "</div></td></tr>");
        });
        drop.slice(0, n).forEach(function (t, i) {
          var id = j.name + "#" + i;
          html.push('<tr class="dropped"><td>' + PG.chips(t.discoveredLabels) + '</td><td><span class="state down">dropped</span> by ' +
            rule(t.droppedBy) + (t.error ? ' <span class="err">' + PG.esc(t.error) + "</span>" : "") +
            ' <button class="explain" data-job="' + PG.esc(j.name) + '" data-i="' + i + '">explain</button>' +
            '<div class="steps" id="steps-' + PG.esc(id) + '">' + (open[id] || "") + "</div></td></tr>");
        });
        html.push("</tbody></table>");
        if (act.length > n || drop.length > n)
          html.push('<button class="more" data-job="' + PG.esc(j.name) + '">Show more</button>');
      }
      html.push("</div></div>");
    });
    jobsEl.innerHTML = html.join("") || '<p class="muted">No jobs.</p>';
    summaryEl.textContent = na + " active, " + nd + " dropped";
  }
  function explain(job, i) {
    var j = data.filter(function (x) { return x.name === job; })[0];
    var q = qEl.value.toLowerCase();
    var t = j.droppedTargets.filter(function (t) { return match(t.discoveredLabels, q); })[i];
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
    else if (more) { var jn = more.getAttribute("data-job"); shown[jn] = (shown[jn] || PAGE) + 10 * PAGE; render(); }
    else if (head) { var name = head.parentNode.getAttribute("data-job"); collapsed[name] = !collapsed[name]; render(); }
  });
  qEl.addEventListener("input", render);
  function load() {
    return PG.api("api/v1/service-discovery").then(function (d) { data = d.jobs; render(); },
      function (e) { PG.showError(jobsEl, e); });
  }
  PG.refresh(load, 15000);
})();

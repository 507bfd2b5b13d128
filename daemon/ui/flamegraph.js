// flamegraph.js - the flame graph of a target's (or a pushed series') last profile.
// The server sends a pruned frame tree (/api/v1/flamegraph); every frame is a <div> whose
// text is the function name, so the browser's find and the search box both work. Hover
// shows total and self with units, click zooms, the search box highlights matches (a
// regular expression, case-insensitive). Without a target, the page lists the receiver's
// pushed series.
"use strict";
(function () {
  var ROW = 18;
  var params = new URLSearchParams(location.search);
  var flameEl = document.getElementById("flame"), tip = document.getElementById("tip");
  var stypeEl = document.getElementById("stype"), searchEl = document.getElementById("search");
  var matchedEl = document.getElementById("matched"), sourceEl = document.getElementById("source");
  var nodes = [], unit = "", focus = 0, zoomPath = null, loaded = false;

  function fmt(v) {
    if (unit === "nanoseconds") return PG.secs(v / 1e9);
    if (unit === "microseconds") return PG.secs(v / 1e6);
    if (unit === "milliseconds") return PG.secs(v / 1e3);
    if (unit === "seconds") return PG.secs(v);
    if (unit === "bytes") return PG.bytes(v);
    return v.toLocaleString() + (unit && unit !== "count" ? " " + unit : "");
  }
  function color(name) {
    var pkg = name.replace(/\.[^.\/]*$/, "").replace(/\(.*$/, ""), h = 0;
    for (var i = 0; i < pkg.length; i++) h = (h * 31 + pkg.charCodeAt(i)) | 0;
    h = Math.abs(h);
    if (/^runtime/.test(name)) return "hsl(" + (200 + h % 30) + ",55%,72%)";
    return "hsl(" + (10 + h % 45) + "," + (60 + h % 25) + "%," + (58 + h % 12) + "%)";
  }
  // flattens [name,total,self,[kids]] depth-first into nodes with x (0..1) and depth
  function flatten(d) {
    nodes = [];
    var total = d.tree[1] || 1, stack = [[d.tree, -1, 0, 0]];
    while (stack.length) {
      var it = stack.pop(), t = it[0], idx = nodes.length;
      nodes.push({ name: d.names[t[0]], total: t[1], self: t[2], parent: it[1], depth: it[2], x: it[3], w: t[1] / total, kids: [] });
      if (it[1] >= 0) nodes[it[1]].kids.push(idx);
      var x = it[3], kids = [];
      t[3].forEach(function (k) { kids.push([k, idx, it[2] + 1, x]); x += k[1] / total; });
      for (var i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
    }
  }
  function pathOf(i) { var p = []; for (; i > 0; i = nodes[i].parent) p.unshift(nodes[i].name); return p; }
  function findPath(p) {
    var i = 0;
    for (var k = 0; k < p.length; k++) {
      var next = -1;
      nodes[i].kids.forEach(function (c) { if (nodes[c].name === p[k]) next = c; });
      if (next < 0) return 0;
      i = next;
    }
    return i;
  }
  function inFocus(i) { for (var j = i; j >= 0; j = nodes[j].parent) if (j === focus) return true; return false; }
  function render() {
    var width = flameEl.clientWidth || 1000, f = nodes[focus], html = [], maxDepth = 0, re = null;
    var q = searchEl.value;
    if (q) { try { re = new RegExp(q, "i"); } catch (e) { re = null; } }
    var matched = 0;
    for (var i = 0; i < nodes.length; i++) {
      var n = nodes[i], x, w, anc = false;
      if (inFocus(i)) { x = (n.x - f.x) / f.w; w = n.w / f.w; }
      else if (nodes[focus].depth > n.depth && pathOf(focus).slice(0, n.depth).join("\n") === pathOf(i).join("\n")) { x = 0; w = 1; anc = true; }
      else continue;
      if (w * width < 0.5) continue;
      var m = re && re.test(n.name);
      if (m) {
        var top = true;
        for (var a = n.parent; a >= 0; a = nodes[a].parent) if (re.test(nodes[a].name)) { top = false; break; }
        if (top && inFocus(i)) matched += n.total;
      }
      maxDepth = Math.max(maxDepth, n.depth);
      html.push('<div class="frame' + (m ? " match" : "") + (anc ? " dim" : "") + '" data-i="' + i + '" style="left:' + (x * 100).toFixed(4) +
        "%;width:" + (w * 100).toFixed(4) + "%;top:" + n.depth * ROW + "px;background:" + color(n.name) + '">' + PG.esc(n.name) + "</div>");
    }
    flameEl.style.height = (maxDepth + 1) * ROW + 2 + "px";
    flameEl.innerHTML = html.join("");
    matchedEl.textContent = re ? "matched " + fmt(matched) + " (" + (100 * matched / (nodes[0].total || 1)).toFixed(2) + "%)" : "";
  }
  flameEl.addEventListener("mousemove", function (ev) {
    var el = ev.target.closest(".frame");
    if (!el) { tip.style.display = "none"; return; }
    var n = nodes[+el.getAttribute("data-i")], tot = nodes[0].total || 1;
    tip.innerHTML = "<b>" + PG.esc(n.name) + "</b><br>total: " + PG.esc(fmt(n.total)) + " (" + (100 * n.total / tot).toFixed(2) +
      "%)<br>self: " + PG.esc(fmt(n.self)) + " (" + (100 * n.self / tot).toFixed(2) + "%)";
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 320) + "px";
    tip.style.top = ev.clientY + 14 + "px";
  });
  flameEl.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  flameEl.addEventListener("click", function (ev) {
    var el = ev.target.closest(".frame");
    if (!el) return;
    focus = +el.getAttribute("data-i");
    zoomPath = pathOf(focus);
    render();
  });
  document.getElementById("reset").onclick = function () { focus = 0; zoomPath = null; render(); };
  var deb = null;
  searchEl.addEventListener("input", function () { clearTimeout(deb); deb = setTimeout(render, 150); });
  window.addEventListener("resize", function () { if (loaded) render(); });
  stypeEl.addEventListener("change", function () { params.set("sampleType", stypeEl.value); history.replaceState(null, "", "?" + params.toString()); load(); });

  function describe(s, d) {
    var what = s.kind === "push" ? "service " + s.service + " (pushed)" : s.scrapePool + " · " + s.scrapeUrl;
    document.getElementById("title").textContent = "Flame graph: " + (s.profileType || "") + " of " + (s.kind === "push" ? s.service : s.scrapePool);
    sourceEl.innerHTML = PG.esc(what) + " · profile from " + PG.esc(PG.ago(s.profileTime)) + " · total " + PG.esc(fmt(d.total)) +
      " · " + d.nodes + " frames" + (d.prunedNodes ? " (" + d.prunedNodes + " narrower ones pruned)" : "") +
      (typeof s.labels === "object" ? "<div>" + PG.chips(s.labels) + "</div>" : "<div>" + PG.esc(s.labels) + "</div>");
  }
  function load() {
    var q = {};
    ["scrapePool", "scrapeUrl", "profileType", "service", "sampleType"].forEach(function (k) { if (params.get(k) != null) q[k] = params.get(k); });
    return PG.api("api/v1/flamegraph", q).then(function (data) {
      var d = data.flame;
      unit = d.unit;
      stypeEl.innerHTML = d.sampleTypes.map(function (t, i) {
        return '<option value="' + i + '"' + (i === d.sampleType ? " selected" : "") + ">" + PG.esc(t.type + " (" + t.unit + ")") + "</option>";
      }).join("");
      flatten(d);
      focus = zoomPath ? findPath(zoomPath) : 0;
      describe(data.source, d);
      document.getElementById("tools").hidden = false;
      loaded = true;
      render();
    }, function (e) { flameEl.innerHTML = ""; PG.showError(sourceEl, e); });
  }
  function listPushes() {
    return PG.api("api/v1/pushes").then(function (d) {
      var el = document.getElementById("pushes");
      var rows = d.pushes.map(function (p) {
        var href = "flamegraph?" + new URLSearchParams({ service: p.service, profileType: p.profileType }).toString();
        return "<tr><td>" + PG.esc(p.service) + "</td><td>" + PG.esc(p.profileType) + "</td><td>" + PG.esc(PG.ago(p.time)) +
          '</td><td class="num">' + p.profiles + "</td><td>" + (p.kept ? '<a href="' + PG.esc(href) + '">flame graph</a>' : '<span class="muted">too large to keep</span>') + "</td></tr>";
      });
      el.innerHTML = '<p>Pick a target on the <a href="targets">targets page</a> (each row links to its flame graph), or a series pushed to the receiver:</p>' +
        (rows.length ? "<h2>Receiver: last push per service</h2><table><thead><tr><th>Service</th><th>Profile type</th><th>Last push</th><th class=\"num\">Profiles</th><th></th></tr></thead><tbody>" +
          rows.join("") + "</tbody></table>" : '<p class="muted">No profiles pushed to the receiver since start.</p>');
    }, function (e) { PG.showError(document.getElementById("pushes"), e); });
  }
  if (params.get("scrapePool") || params.get("service")) PG.refresh(load, 30000);
  else PG.refresh(listPushes, 15000);
})();

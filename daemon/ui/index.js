// index.js - the overview page: one card per page with its headline numbers.
"use strict";
(function () {
  var box = document.getElementById("overview");
  function card(href, title, big, sub) {
    return '<a class="card" href="' + href + '"><div class="muted">' + PG.esc(title) + '</div><div class="big">' +
      PG.esc(big) + '</div><div class="muted">' + PG.esc(sub || "") + "</div></a>";
  }
  function load() {
    return Promise.all([
      // the counts only (one row per job comes along), not every target
      PG.api("api/v1/targets/pools", { limit: 1 }).catch(function () { return null; }),
      PG.api("api/v1/backends").catch(function () { return null; }),
      PG.api("api/v1/buffer").catch(function () { return null; }),
      PG.api("api/v1/pushes").catch(function () { return null; })
    ]).then(function (r) {
      var t = r[0], b = r[1], buf = r[2], p = r[3], html = [];
      if (t) {
        html.push(card("targets", "Targets up", t.up + " / " + t.total, "target × profile type"));
        html.push(card("service-discovery", "Service discovery", t.dropped + " dropped", "discovered vs final labels"));
      }
      if (b) {
        var failing = b.backends.filter(function (x) { return x.backoff !== "0s"; }).length;
        html.push(card("backends", "Backends", b.backends.length, failing ? failing + " backing off" : "none backing off"));
      }
      if (buf) html.push(card("buffer", "Buffer", buf.rows + " profiles", PG.bytes(buf.bytes) + ", oldest " + PG.ago(buf.oldest)));
      html.push(card("config", "Config", "YAML", "secrets redacted"));
      html.push(card("flamegraph", "Flame graphs", p ? p.pushes.length + " pushed series" : "", "any target's last profile"));
      box.innerHTML = html.join("");
    });
  }
  PG.refresh(load, 10000);
})();

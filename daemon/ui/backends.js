// backends.js - one card per remote_write backend: queue, counters, last error and success,
// current backoff (/api/v1/backends; URLs come with credentials redacted).
"use strict";
(function () {
  var el = document.getElementById("backends");
  function load() {
    return PG.api("api/v1/backends").then(function (d) {
      if (!d.backends.length) { el.innerHTML = '<p class="muted">No remote_write backends configured.</p>'; return; }
      el.innerHTML = d.backends.map(function (b) {
        var rows = [
          ["URL", PG.esc(b.url)], ["API", PG.esc(b.api)],
          ["Queue depth (unsent profiles)", b.pendingProfiles],
          ["Oldest unsent", b.pendingProfiles > 0 ? PG.esc(PG.ago(b.oldestUnsent)) : '<span class="muted">nothing unsent</span>'],
          ["In-flight requests", b.inFlightRequests],
          ["Sent profiles", b.sentProfiles + ' <span class="muted">(' + PG.bytes(b.sentBytes) + ")</span>"],
          ["Failed profiles", b.failedProfiles], ["Retried profiles", b.retriedProfiles], ["Dropped profiles", b.droppedProfiles],
          ["Last success", PG.esc(PG.ago(b.lastSuccess))],
          ["Last error", b.lastError ? '<span class="err">' + PG.esc(b.lastError) + "</span> " +
            (b.lastErrorStatus ? "(HTTP " + b.lastErrorStatus + ") " : "") + PG.esc(PG.ago(b.lastErrorTime)) : '<span class="muted">none</span>'],
          ["Current backoff", b.backoff === "0s" ? '<span class="muted">none</span>' : PG.esc(b.backoff) + " (attempt " + b.backoffAttempt + ")"]
        ];
        return '<h2 class="backend">' + PG.esc(b.name) + '</h2><table class="kv">' + rows.map(function (r) {
          return "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>";
        }).join("") + "</table>";
      }).join("");
    }, function (e) { PG.showError(el, e); });
  }
  PG.refresh(load, 5000);
})();

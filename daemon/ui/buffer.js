// buffer.js - the durable SQLite buffer: size, rows, oldest age, eviction and loss counts.
"use strict";
(function () {
  var el = document.getElementById("buffer");
  function load() {
    return PG.api("api/v1/buffer").then(function (b) {
      var rows = [
        ["Path", PG.esc(b.path)], ["Profiles buffered", b.rows],
        ["Size", PG.bytes(b.bytes) + (b.maxSizeBytes ? " of " + PG.bytes(b.maxSizeBytes) + " (" + (100 * b.bytes / b.maxSizeBytes).toFixed(1) + "%)" : " (no max_size)")],
        ["Oldest profile", b.rows ? PG.esc(PG.ago(b.oldest)) : '<span class="muted">empty</span>'],
        ["max_age", PG.esc(b.maxAge)],
        ["Appended since start", b.appendedProfiles], ["Evicted (max_size / max_age)", b.evictedProfiles],
        ["Lost (failed commits)", b.lostProfiles],
        ["Dropped before the buffer", (b.droppedProfiles.commit_failed + b.droppedProfiles.buffer_error) +
          ' <span class="muted">(commit failed ' + b.droppedProfiles.commit_failed + ", buffer error " + b.droppedProfiles.buffer_error + ")</span>"],
        ["SQLite errors", b.errors],
        ["WAL checkpoints", b.checkpoints + (b.checkpointErrors ? ' <span class="err">(' + b.checkpointErrors + " failed: " + PG.esc(b.lastCheckpointError) + ")</span>" : "")]
      ];
      el.innerHTML = '<table class="kv">' + rows.map(function (r) { return "<tr><th>" + r[0] + "</th><td>" + r[1] + "</td></tr>"; }).join("") + "</table>";
    }, function (e) { PG.showError(el, e); });
  }
  PG.refresh(load, 5000);
})();

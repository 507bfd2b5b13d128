// config.js - the loaded configuration as YAML, secrets redacted by the server.
"use strict";
(function () {
  var el = document.getElementById("config");
  function load() {
    return PG.api("api/v1/status/config").then(function (d) { el.textContent = d.yaml; },
      function (e) { el.textContent = "Error: " + e.message; });
  }
  PG.refresh(load, 30000);
})();

// Live status for the console (no framework): the pages work without it.
// A runs table with data-live polls the first page of /api/v1/runs and updates the status of
// the rows it shows; a run page with data-live-run polls the run and says when it changed.
(function () {
  "use strict";
  var PERIOD = 4000;
  function label(status) { return status.replace(/_/g, " "); }
  function setStatus(el, status) {
    if (!el || el.textContent === label(status)) return false;
    el.textContent = label(status);
    el.className = "status s-" + status;
    return true;
  }
  function poll(url, handle) {
    function tick() {
      if (document.hidden) { setTimeout(tick, PERIOD); return; }
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (doc) { if (doc && handle(doc) !== false) setTimeout(tick, PERIOD); })
        .catch(function () { setTimeout(tick, PERIOD * 3); });
    }
    setTimeout(tick, PERIOD);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var note = document.getElementById("live-note");
    var table = document.querySelector("table[data-live]");
    if (table) {
      poll(table.getAttribute("data-live"), function (doc) {
        var fresh = 0;
        (doc.runs || []).forEach(function (run) {
          var row = table.querySelector('tr[data-run-id="' + run.run_id + '"]');
          if (row) setStatus(row.querySelector("[data-status]"), run.status); else fresh += 1;
        });
        if (note) note.textContent = fresh ? fresh + " newer run(s): reload to see them." : "";
      });
    }
    var facts = document.querySelector("[data-live-run]");
    if (facts) {
      poll(facts.getAttribute("data-live-run"), function (doc) {
        var changed = setStatus(facts.querySelector("[data-status]"), doc.run.status);
        if (changed && note) note.textContent = "The run is now " + label(doc.run.status) + ": reload for its steps.";
        return ["pending", "running", "waiting_approval"].indexOf(doc.run.status) >= 0;
      });
    }
  });
})();

// Live status for the console (no framework): the pages work without it.
// A runs table with data-live polls the first page of /api/v1/runs and updates the status of
// the rows it shows; a run page with data-live-run polls the run and says when it changed.
// A run's status, end and duration are always shown from the same answer, so a run that just
// ended never shows "succeeded" next to "Finished: not yet".
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
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // as the pages' `when` and `duration` filters write them
  function when(iso) {
    var moment = new Date(String(iso).replace(/\.\d+/, ""));
    return isNaN(moment.getTime()) ? String(iso) : moment.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 1) return (seconds * 1000).toFixed(0) + " ms";
    if (seconds < 120) return seconds.toFixed(1) + " s";
    var whole = Math.floor(seconds), minutes = Math.floor(whole / 60);
    return minutes >= 60 ? Math.floor(minutes / 60) + "h " + pad(minutes % 60) + "m" : minutes + "m " + pad(whole % 60) + "s";
  }
  function finished(run) {
    return run.finished_at ? when(run.finished_at) + " (" + duration(run.duration_s) + ")" : "not yet";
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
          if (!row) { fresh += 1; return; }
          setStatus(row.querySelector("[data-status]"), run.status);
          setText(row.querySelector("[data-duration]"), duration(run.duration_s));
        });
        if (note) note.textContent = fresh ? fresh + " newer run(s): reload to see them." : "";
      });
    }
    var facts = document.querySelector("[data-live-run]");
    if (facts) {
      poll(facts.getAttribute("data-live-run"), function (doc) {
        var changed = setStatus(facts.querySelector("[data-status]"), doc.run.status);
        setText(facts.querySelector("[data-finished]"), finished(doc.run));
        if (changed && note) note.textContent = "The run is now " + label(doc.run.status) + ": reload for its steps.";
        return ["pending", "running", "waiting_approval"].indexOf(doc.run.status) >= 0;
      });
    }
  });
})();

// The page's own JavaScript: drag-and-drop onto the file button, errors from the API shown in
// the alert region, and live progress from server-sent events. htmx does the rest.
(function () {
  "use strict";

  // The Content-Security-Policy runs only the page's own script files and style sheet: htmx
  // must not evaluate code from attributes (hx-on, js: values, event filters), add an inline
  // <style>, or copy style="" attributes onto swapped content (the page uses none).
  htmx.config.allowEval = false;
  htmx.config.allowScriptTags = false;
  htmx.config.includeIndicatorStyles = false;
  htmx.config.attributesToSettle = ["class", "width", "height"];

  function showError(text) {
    var box = document.getElementById("errors");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
    if (text) box.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr, text = "The request failed (HTTP " + xhr.status + ").";
    try { text = JSON.parse(xhr.responseText).error || text; } catch (e) { /* not JSON */ }
    showError(text);
  });
  document.addEventListener("htmx:beforeRequest", function () { showError(""); });
  document.addEventListener("htmx:sendError", function () {
    showError("The server cannot be reached: is alm-batch serve still running?");
  });

  // After a fix, keyboard users land on the row they fixed and hear its new status.
  document.addEventListener("htmx:afterSettle", function (ev) {
    var cfg = ev.detail.requestConfig;
    if (!cfg || cfg.verb !== "patch") return;
    var m = /rows\/(\d+)$/.exec(cfg.path), say = document.getElementById("announce");
    if (!m) return;
    var row = document.getElementById("row-" + m[1]);
    var target = row ? row.querySelector("th") : document.querySelector("#rows-area [role=status]");
    if (target) { target.tabIndex = -1; target.focus(); }
    var badge = row && row.querySelector(".badge"), action = cfg.elt && cfg.elt.getAttribute("data-action");
    var what = action === "exclude" ? " excluded: left out of the run." :
      action === "include" ? " included again" + (badge ? ": " + badge.textContent : ".") :
      " re-checked" + (badge ? ": " + badge.textContent : ".");
    if (say) say.textContent = "Row " + m[1] + what;
  });

  // A page restored from the browser's back-forward cache shows what was true when it was left
  // (a confirmation whose dry run has gone live since): load it again to show what is true now.
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) window.location.reload(); });

  function setupUpload() {
    var drop = document.querySelector("[data-drop]"), input = document.getElementById("file");
    if (!drop || !input) return;
    var label = document.getElementById("file-name");
    function named() { label.textContent = input.files.length ? "Chosen: " + input.files[0].name : "No file chosen."; }
    input.addEventListener("change", named);
    ["dragenter", "dragover"].forEach(function (n) {
      drop.addEventListener(n, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (n) {
      drop.addEventListener(n, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      input.files = e.dataTransfer.files;
      named();
      htmx.trigger(document.getElementById("upload-form"), "submit");
    });
  }

  function fmtSeconds(s) {  // as the page's "about" filter says it
    if (s === null || s === undefined) return "—";
    if (s < 1) return "under a second";
    if (s < 90) return "about " + Math.round(s) + " s";
    if (s < 5400) return "about " + Math.round(s / 60) + " min";
    return "about " + (s / 3600).toFixed(1) + " h";
  }

  // A step of a dry run (reading learners can take hours at ALM's limits): its time left at
  // the pace seen since the step started.
  function stageClock() {
    var stage = null, t0 = 0, done0 = 0;
    return function (d) {
      var now = Date.now() / 1000;
      if (d.stage !== stage) { stage = d.stage; t0 = now; done0 = d.stage_done || 0; }
      var done = (d.stage_done || 0) - done0, left = (d.stage_total || 0) - (d.stage_done || 0);
      if (!d.stage_total || left <= 0) return "—";  // a step with no count (one of ALM's jobs)
      if (done <= 0 || now - t0 < 1) return "working it out…";
      return fmtSeconds(left * (now - t0) / done) + " at the pace so far";
    };
  }

  // A dry run's rows as they are decided: the rows area is asked again (the page of rows the
  // person is looking at, with their filter, search and sort) when the counts moved, at most
  // every ROWS_EVERY ms, so a large file keeps the page responsive.
  var ROWS_EVERY = 1500;
  function rowsRefresher(initial) {
    var shown = initial, last = 0, timer = null;
    function refresh() {
      timer = null;
      var src = document.getElementById("rows-src");
      if (!src) return;
      last = Date.now();
      htmx.ajax("GET", src.getAttribute("data-src"), { target: "#rows-area", swap: "innerHTML" });
    }
    return function (d) {
      var key = d.rows + "/" + d.rows_waiting;
      if (key === shown) return;
      shown = key;
      if (!timer) timer = setTimeout(refresh, Math.max(0, ROWS_EVERY - (Date.now() - last)));
    };
  }

  function setupProgress() {
    var card = document.getElementById("progress");
    if (!card) return;
    var state = card.getAttribute("data-state");
    if (state === "done" || state === "failed" || state === "cancelled" || state === "interrupted") return;
    var job = card.getAttribute("data-job"), live = document.getElementById("live");
    var bar = document.getElementById("bar"), lastSaid = 0, said = false, stageEta = stageClock();
    var rowsArrived = rowsRefresher(card.getAttribute("data-rows"));
    var source = new EventSource("/api/jobs/" + job + "/events");
    function bind(name, value) {
      card.querySelectorAll('[data-bind="' + name + '"]').forEach(function (el) { el.textContent = value; });
    }
    function update(d) {
      bind("rows_done", d.rows_done); bind("rows_total", d.rows_total);
      bind("writes_done", d.writes_done); bind("writes_planned", d.writes_planned);
      bind("writes_in_flight", d.writes_in_flight);
      bind("rate_per_minute", d.rate_per_minute); bind("eta", fmtSeconds(d.eta_seconds));
      // The step a wait belongs to (a transcript job is the learner state step); its count
      // only when the last progress counted that step.
      var counted = d.stage_total && (!d.step || d.step === d.stage);
      bind("throttled", d.throttled); bind("stage", d.step || d.stage || "starting");
      bind("stage_count", counted ? d.stage_done + " / " + d.stage_total : "");
      if (d.kind !== "live") {
        // The time left at the account's limits when the run knows it (one of ALM's jobs, the
        // learners still to read), else at the pace seen so far.
        bind("stage_eta", d.time_left || stageEta(d));
        bind("rows", d.rows.toLocaleString("en")); bind("rows_waiting", d.rows_waiting.toLocaleString("en"));
        rowsArrived(d);
      }
      if (d.message || said) bind("message", d.message);  // a problem that cleared goes too
      said = !!d.message;
      if (bar) {
        var total = d.kind === "live" ? d.writes_planned : (counted ? d.stage_total : 0);
        var done = d.kind === "live" ? d.writes_done : d.stage_done;
        if (total) { bar.max = total; bar.value = done; } else { bar.removeAttribute("value"); }
      }
      var now = Date.now();
      if (now - lastSaid > 5000) {  // a screen reader hears a sentence every few seconds, not a flood
        lastSaid = now;
        live.textContent = d.kind === "live"
          ? d.writes_done + " of " + d.writes_planned + " writes done, " + d.rows_done + " rows."
          : "Checking: " + (d.step || d.stage || "starting") + ", " + d.rows + " rows decided.";
      }
    }
    source.addEventListener("progress", function (e) { update(JSON.parse(e.data)); });
    source.addEventListener("done", function (e) {
      var d = JSON.parse(e.data);
      source.close();
      live.textContent = d.message || "Finished.";
      window.location.reload();
    });
  }

  function setupShape() {
    // Another sheet has its own header row: let the reader find it again.
    var sheet = document.getElementById("sheet"), header = document.getElementById("header_row");
    if (sheet && header) sheet.addEventListener("change", function () { header.value = ""; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupUpload(); setupProgress(); setupShape();
  });
})();

// The console's commissioning page kept live: one server-sent event per change of the runs (a
// start, progress, an end) carries the run's part and the recent runs' table, rendered and
// escaped by the server as the page itself is. Without scripts the page reloads instead.
"use strict";
(function () {
  var main = document.querySelector("main[data-events]");
  if (!main) return;
  var run = document.getElementById("run");
  var runs = document.getElementById("runs");
  var source = new EventSource(main.dataset.events);
  source.onmessage = function (event) {
    var shown = JSON.parse(event.data);
    run.dataset.state = shown.state;
    run.innerHTML = shown.run;
    runs.innerHTML = shown.runs;
  };
})();

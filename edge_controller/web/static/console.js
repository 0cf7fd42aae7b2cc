// The console's live site view: one server-sent event per control-loop snapshot carries the
// site line's and every connector row's cells, already formatted by the server; when the
// counts of what waits for an operator change, the lists are fetched again. No libraries.
"use strict";
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main) return;
  var live = document.getElementById("live");
  var held = document.getElementById("held");
  function setLive(ok) {
    live.textContent = ok ? live.dataset.live : live.dataset.stale;
    live.classList.toggle("stale", !ok);
  }
  function fill(scope, cells) {
    if (!scope) return;
    Object.keys(cells).forEach(function (name) {
      var el = scope.querySelector('[data-col="' + name + '"]');
      if (el) el.textContent = cells[name];
    });
  }
  // A parent's child gateways: a row per child (made here for a child the page was served
  // without: the page came before the parent's first decision).
  var children = document.getElementById("children");
  function showChildren(list) {
    if (!children || !list) return;
    children.hidden = list.length === 0;
    var body = children.querySelector("tbody");
    list.forEach(function (c) {
      var row = body.querySelector('tr[data-child="' + CSS.escape(c.id) + '"]');
      if (!row) {
        row = document.createElement("tr");
        row.dataset.child = c.id;
        var name = document.createElement("td");
        name.textContent = c.id;
        row.appendChild(name);
        Object.keys(c.cells).forEach(function (col) {
          var td = document.createElement("td");
          td.dataset.col = col;
          row.appendChild(td);
        });
        body.appendChild(row);
      }
      fill(row, c.cells);
    });
  }
  // The lists come from the server as escaped markup, like the page itself.
  function refreshHeld() {
    fetch("/console/held", { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html !== null) held.innerHTML = html;
    }).catch(function () { setLive(false); });
  }
  var source = new EventSource(main.dataset.live);
  source.onmessage = function (event) {
    var model = JSON.parse(event.data);
    setLive(true);
    var site = document.getElementById("site");
    fill(site, model.site);
    site.dataset.at = String(model.at_s);
    model.connectors.forEach(function (c) {
      fill(main.querySelector('tr[data-connector="' + CSS.escape(c.id) + '"]'), c.cells);
    });
    showChildren(model.children);
    var counts = model.site.parked + "/" + model.site.payments_unknown;
    if (held && held.dataset.counts !== counts) {
      held.dataset.counts = counts;
      refreshHeld();
    }
  };
  source.onerror = function () { setLive(false); };
})();

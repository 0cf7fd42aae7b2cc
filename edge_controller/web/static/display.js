// Live updates of the site display: one server-sent event per change carries the display
// model; every card and field on the page is filled from it. No other script, no libraries.
"use strict";
(function () {
  var main = document.querySelector("main[data-events]");
  var live = document.getElementById("live");
  if (!main) return;
  function setLive(ok) {
    live.textContent = ok ? live.dataset.live : live.dataset.stale;
    live.classList.toggle("stale", !ok);
  }
  // The CSMS's messages: rebuilt from the model as text (never as markup).
  function fillMessages(list, messages) {
    if (!list) return;
    list.replaceChildren.apply(list, messages.map(function (m) {
      var item = document.createElement("li");
      item.dataset.priority = m.priority;
      item.dataset.message = String(m.id);
      item.textContent = m.text;
      return item;
    }));
  }
  // The payment QR code: a new URL is a new image (the URL travels in the image's query).
  function fillQr(figure, id, url) {
    if (!figure || figure.dataset.qr === (url || "")) return;
    figure.dataset.qr = url || "";
    var img = figure.querySelector("img");
    img.src = url ? "/display/qr/" + encodeURIComponent(id).replace("%3A", ":") +
      "?u=" + encodeURIComponent(url) : "";
    var link = figure.querySelector("a");
    link.href = url || "";
    link.textContent = url || "";
  }
  function apply(model) {
    fillMessages(main.querySelector('ul.site[data-list="messages"]'), model.messages);
    model.connectors.forEach(function (c) {
      var card = main.querySelector('section[data-connector="' + CSS.escape(c.id) + '"]');
      if (!card) return;
      card.dataset.state = c.state;
      card.dataset.session = c.session ? "true" : "false";
      card.dataset.at = c.at_s === null ? "" : String(c.at_s);
      card.dataset.powerW = c.power_w === null ? "" : String(c.power_w);
      card.dataset.energyWh = c.energy_wh === null ? "" : String(c.energy_wh);
      card.dataset.costInclTax = c.cost_incl_tax === null ? "" : String(c.cost_incl_tax);
      card.dataset.priced = c.price_text ? "true" : "false";
      fillMessages(card.querySelector('[data-list="messages"]'), c.messages);
      card.dataset.paying = c.paying_until_s === null ? "false" : "true";
      fillQr(card.querySelector("figure.qr"), c.id, c.payment_url);
      card.querySelectorAll("[data-field]").forEach(function (el) {
        var value = c[el.dataset.field];
        el.textContent = value === null || value === undefined ? "" : String(value);
      });
    });
    // Shared card terminals: whom a card there pays for now, or why it is not armed.
    (model.terminals || []).forEach(function (t) {
      var box = main.querySelector('section[data-terminal="' + CSS.escape(t.id) + '"]');
      if (!box) return;
      box.dataset.state = t.state;
      box.querySelectorAll("[data-field]").forEach(function (el) {
        el.textContent = t[el.dataset.field] || "";
      });
    });
    main.dataset.at = String(model.at_s);
  }
  var source = new EventSource(main.dataset.events);
  source.onmessage = function (event) {
    setLive(true);
    apply(JSON.parse(event.data));
  };
  source.onerror = function () { setLive(false); };
})();

// Live parts of server-rendered pages, through htmx (htmx.min.js, loaded before this file).
//
// - Any element with data-live-url becomes an htmx poller: every data-live-interval milliseconds
//   (default 2000) it GETs that URL and swaps the answer into itself. Elements may also carry their
//   own hx-get/hx-trigger (the fleet board does).
// - Each live request sends the version of what the element shows (X-Live-Version, from the last
//   answer). The server answers 204 when nothing changed (nothing is sent, nothing swapped), or, on the
//   fleet board, only the cards that changed as out-of-band swaps (mes/live.py, jobs/fleet_live.py).
// - No request while the tab is hidden or while someone types in a form of the live part; open menus
//   (<details id=…>) stay open across swaps; a failed refresh keeps the last content and marks it
//   stale; a login page instead of a fragment (the session ended) reloads the page to show it whole.
(function () {
  "use strict";
  var openDetails = [];

  function isLive(elt) { return elt && elt.hasAttribute && elt.hasAttribute("data-live"); }

  function typingIn(elt) {
    var active = document.activeElement;
    return active && elt.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }

  function rememberOpen() {
    openDetails = Array.prototype.map.call(document.querySelectorAll("details[open][id]"), function (d) { return d.id; });
  }

  function reopen() {
    openDetails.forEach(function (id) { var d = document.getElementById(id); if (d && !d.open) { d.open = true; } });
  }

  function setUp(root) {
    (root || document).querySelectorAll("[data-live-url]:not([hx-get])").forEach(function (el) {
      var every = parseInt(el.dataset.liveInterval || "2000", 10);
      el.setAttribute("hx-get", el.dataset.liveUrl);
      el.setAttribute("hx-trigger", "every " + every + "ms");
      el.setAttribute("hx-swap", "innerHTML");
      el.setAttribute("data-live", "");
      if (window.htmx) { window.htmx.process(el); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (isLive(elt) && (document.hidden || typingIn(document.getElementById(elt.dataset.liveRegion || "") || elt))) {
      evt.preventDefault();
    }
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (isLive(elt) && elt.dataset.liveVersion) {
      evt.detail.headers["X-Live-Version"] = elt.dataset.liveVersion;
    }
  });

  document.addEventListener("htmx:beforeSwap", rememberOpen);
  document.addEventListener("htmx:oobAfterSwap", reopen);
  document.addEventListener("htmx:afterSwap", reopen);
  document.addEventListener("htmx:afterSettle", reopen);

  document.addEventListener("htmx:afterRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!isLive(elt)) { return; }
    var xhr = evt.detail.xhr;
    var region = document.getElementById(elt.dataset.liveRegion || "") || elt;
    if (!evt.detail.successful || !xhr) { region.classList.add("stale"); return; }
    var asked = new URL(elt.getAttribute("hx-get"), window.location.href).pathname;
    if (xhr.responseURL && new URL(xhr.responseURL).pathname !== asked) { window.location.reload(); return; }
    var version = xhr.getResponseHeader("X-Live-Version");
    // The poller itself may have been swapped out of band for a new one: keep the version on the live one.
    var current = elt.id ? (document.getElementById(elt.id) || elt) : elt;
    if (version) { current.dataset.liveVersion = version; }
    region.classList.remove("stale");
  });
})();

// Live parts of server-rendered pages: any element with data-live-url is replaced by the HTML
// fragment at that URL every data-live-interval milliseconds (default 2000). No page reload, no
// framework; a failed refresh keeps the last content and marks it stale.
(function () {
  function refresh(el) {
    fetch(el.dataset.liveUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) {
        // A login page instead of a fragment means the session ended: reload to show it whole.
        if (r.redirected) { window.location.reload(); throw new Error("session ended"); }
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      })
      .then(function (html) {
        // Keep open menus (<details id=…>) open across the refresh.
        var open = Array.prototype.map.call(el.querySelectorAll("details[open][id]"), function (d) { return d.id; });
        el.innerHTML = html;
        open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
        el.classList.remove("stale");
      })
      .catch(function () { el.classList.add("stale"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(function (el) {
      var every = parseInt(el.dataset.liveInterval || "2000", 10);
      // No refresh while someone types in a form of the fragment (a G-code line, a fan speed).
      setInterval(function () {
        var active = document.activeElement;
        var typing = active && el.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
        if (!document.hidden && !typing) { refresh(el); }
      }, every);
    });
  });
})();

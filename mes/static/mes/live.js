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
      .then(function (html) { el.innerHTML = html; el.classList.remove("stale"); })
      .catch(function () { el.classList.add("stale"); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(function (el) {
      var every = parseInt(el.dataset.liveInterval || "2000", 10);
      setInterval(function () { if (!document.hidden) { refresh(el); } }, every);
    });
  });
})();

// Camera pictures that refresh (templates/fleet/_camera.html): every <img data-camera-refresh="ms">
// asks its URL again every so many milliseconds, one request at a time and not while the tab is hidden.
// The server always answers with a picture (the camera's, or a placeholder that says why there is
// none); a failed request keeps the last picture and marks it stale.
(function () {
  "use strict";

  function start(img) {
    var every = Math.max(1000, parseInt(img.dataset.cameraRefresh || "5000", 10));
    var base = img.getAttribute("src").split("?")[0];
    var loading = false;
    img.addEventListener("load", function () { loading = false; img.classList.remove("stale"); });
    img.addEventListener("error", function () { loading = false; img.classList.add("stale"); });
    window.setInterval(function () {
      if (document.hidden || loading || !document.body.contains(img)) { return; }
      loading = true;
      img.src = base + "?t=" + Date.now();
    }, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("img[data-camera-refresh]").forEach(start);
  });
})();

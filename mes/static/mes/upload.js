// Upload progress for forms marked data-upload-progress. Without JavaScript the form posts normally;
// with it, the same POST goes through XMLHttpRequest so the browser reports upload progress. The
// server's answer is the same page it would send anyway: a redirect on success (followed here) or the
// form with the reasons, whose #submit-panel replaces the current one.
(function () {
  function bind(form) {
    var box = form.querySelector(".upload-progress");
    var bar = box && box.querySelector("progress");
    var text = box && box.querySelector(".upload-progress-text");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !bar) { return; } // let the browser post the form itself
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      box.hidden = false;
      bar.value = 0;
      if (button) { button.disabled = true; }
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var percent = Math.round((e.loaded / e.total) * 100);
          bar.value = percent;
          text.textContent = percent < 100 ? "Uploading… " + percent + " %" : "Checking the file…";
        }
      });
      xhr.addEventListener("load", function () {
        var landed = new URL(xhr.responseURL || form.action, window.location.href);
        var posted = new URL(form.action, window.location.href);
        if (xhr.status < 400 && landed.pathname !== posted.pathname) {
          window.location.assign(xhr.responseURL); // followed the redirect: the job was accepted
          return;
        }
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = doc.getElementById("submit-panel");
        var current = document.getElementById("submit-panel");
        if (fresh && current) {
          current.replaceWith(fresh);
          var again = fresh.querySelector("form[data-upload-progress]");
          if (again) { bind(again); }
        } else {
          text.textContent = "Upload failed (HTTP " + xhr.status + ").";
          if (button) { button.disabled = false; }
        }
      });
      xhr.addEventListener("error", function () {
        text.textContent = "Upload failed: the connection was interrupted.";
        if (button) { button.disabled = false; }
      });
      xhr.send(new FormData(form));
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload-progress]").forEach(bind);
  });
})();

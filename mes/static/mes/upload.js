// Upload progress for forms marked data-upload-progress, and a file dropped on the form goes into its
// file input. Without JavaScript the form posts normally;
// with it, the same POST goes through XMLHttpRequest so the browser reports upload progress. The
// server's answer is 201 with the page to go to on success (a plain post gets a 303 there), or the form
// with the reasons, whose #submit-panel replaces the current one.
(function () {
  function bind(form) {
    var box = form.querySelector(".upload-progress");
    var bar = box && box.querySelector("progress");
    var text = box && box.querySelector(".upload-progress-text");
    var button = form.querySelector("button[type=submit]");
    var input = form.querySelector("input[type=file]");
    var chosen = form.querySelector(".drop-chosen");
    // Drag and drop: a file dropped anywhere on the form goes into its file input.
    if (input && window.DataTransfer) {
      var show = function () {
        if (chosen) { chosen.textContent = input.files.length ? "Chosen: " + input.files[0].name : ""; }
      };
      input.addEventListener("change", show);
      form.addEventListener("dragover", function (e) {
        if (e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0) {
          e.preventDefault();
          form.classList.add("dragging");
        }
      });
      form.addEventListener("dragleave", function (e) {
        if (!form.contains(e.relatedTarget)) { form.classList.remove("dragging"); }
      });
      form.addEventListener("drop", function (e) {
        form.classList.remove("dragging");
        if (!e.dataTransfer || !e.dataTransfer.files.length) { return; }
        e.preventDefault();
        var files = new DataTransfer();
        files.items.add(e.dataTransfer.files[0]);
        input.files = files.files;
        show();
      });
    }
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
        // Accepted: 201 with the page to go to (a redirect would be followed here, using up the
        // "submitted" message the next page shows).
        if (xhr.status === 201 && xhr.getResponseHeader("Location")) {
          window.location.assign(xhr.getResponseHeader("Location"));
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

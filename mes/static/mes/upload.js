// The submit page (templates/jobs/submit.html, views in jobs/submit_views.py). Files chosen in the form's
// input, or dropped anywhere on the form, are sent one request each through XMLHttpRequest, one after
// the other, each with its own progress bar in a row under "Check, then confirm". The server answers
// with that file's row: the pre-flight (picture, time, filament, machines, earliest start) with Confirm
// and Cancel, or the reasons it was refused; it replaces the progress bar. A file over the size limit
// or without a G-code extension gets its error row at once, without being sent, and never costs the
// other files. Cancel removes its row (204); Confirm and "Confirm all" are plain form posts.
// Without JavaScript the form posts every file at once and the server answers with the whole page.
(function () {
  var EXTENSIONS = /\.(gcode|gco|g|bgcode)$/i;

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function rowFor(name, badge, badgeClass) {
    var row = make("article", "card preview-row", null);
    row.setAttribute("data-preview-row", "");
    row.setAttribute("aria-label", name);
    row.appendChild(make("div", "preview-picture", null));
    var body = make("div", "preview-body", null);
    var title = make("h3", null, null);
    title.appendChild(make("span", "badge " + badgeClass, badge));
    title.appendChild(document.createTextNode(" " + name));
    body.appendChild(title);
    row.appendChild(body);
    return row;
  }

  function errorRow(name, message) {
    var row = rowFor(name || "The upload", "Not accepted", "danger");
    row.classList.add("preview-refused");
    var alert = make("div", null, null);
    alert.setAttribute("role", "alert");
    var list = make("ul", "errors reasons", null);
    list.appendChild(make("li", null, message));
    alert.appendChild(list);
    var actions = make("div", "preview-actions", null);
    var dismiss = make("button", "secondary", "Dismiss");
    dismiss.type = "button";
    dismiss.setAttribute("data-preview-dismiss", "");
    actions.appendChild(dismiss);
    row.lastChild.appendChild(alert);
    row.lastChild.appendChild(actions);
    return row;
  }

  function pendingRow(name) {
    var row = rowFor(name, "Uploading", "info");
    row.classList.add("preview-pending");
    var bar = make("progress", null, null);
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + name);
    row.lastChild.appendChild(bar);
    row.lastChild.appendChild(make("p", "muted upload-progress-text", "Waiting to upload…"));
    return row;
  }

  function updateConfirmAll() {
    var form = document.getElementById("confirm-all");
    if (!form) { return; }
    var count = document.querySelectorAll('input[form="confirm-all"]').length;
    form.hidden = count < 2;
    var label = form.querySelector(".confirm-count");
    if (label) { label.textContent = String(count); }
  }

  function bindRow(row) {
    var dismiss = row.querySelector("[data-preview-dismiss]");
    if (dismiss) {
      dismiss.hidden = false;
      dismiss.addEventListener("click", function () { row.remove(); updateConfirmAll(); });
    }
    var cancel = row.querySelector("form[data-preview-cancel]");
    if (cancel) {
      cancel.addEventListener("submit", function (event) {
        event.preventDefault();
        var xhr = new XMLHttpRequest();
        xhr.open("POST", cancel.action);
        xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
        xhr.addEventListener("load", function () {
          if (xhr.status === 204 || xhr.status === 404) { row.remove(); updateConfirmAll(); }
        });
        xhr.send(new FormData(cancel));
      });
    }
  }

  function upload(form, file, several, row, done) {
    var bar = row.querySelector("progress");
    var text = row.querySelector(".upload-progress-text");
    var data = new FormData(form);
    data.delete("file");
    data.append("file", file, file.name);
    if (several) { data.delete("name"); } // each file of a batch keeps its own name
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    text.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var percent = Math.round((e.loaded / e.total) * 100);
        bar.value = percent;
        text.textContent = percent < 100 ? "Uploading… " + percent + " %" : "Checking the file…";
      }
    });
    xhr.addEventListener("load", function () {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var rows = Array.prototype.slice.call(doc.querySelectorAll("article[data-preview-row]"));
      if (!rows.length) {
        rows = [errorRow(file.name, "Upload failed (HTTP " + xhr.status + ").")];
      }
      rows.forEach(function (fresh) {
        var node = document.adoptNode(fresh);
        row.parentNode.insertBefore(node, row);
        bindRow(node);
      });
      row.remove();
      updateConfirmAll();
      done();
    });
    xhr.addEventListener("error", function () {
      var failed = errorRow(file.name, "Upload failed: the connection was interrupted.");
      row.replaceWith(failed);
      bindRow(failed);
      done();
    });
    xhr.send(data);
  }

  function bind(form) {
    var input = form.querySelector("input[type=file]");
    var chosen = form.querySelector(".drop-chosen");
    var button = form.querySelector("button[type=submit]");
    var section = document.getElementById("previews");
    var list = document.getElementById("preview-rows");
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
    var maxText = form.getAttribute("data-max-text") || "";
    if (!input || !list || !window.FormData || !window.DataTransfer) { return; } // the plain form posts
    var show = function () {
      var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
      if (chosen) { chosen.textContent = names.length ? "Chosen: " + names.join(", ") : ""; }
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
      Array.prototype.forEach.call(e.dataTransfer.files, function (f) { files.items.add(f); });
      input.files = files.files;
      show();
    });
    form.addEventListener("submit", function (event) {
      var files = Array.prototype.slice.call(input.files);
      if (!files.length) { return; } // the server says the file is missing, next to the field
      event.preventDefault();
      section.hidden = false;
      var queue = [];
      files.forEach(function (file) {
        var refusal = "";
        if (!EXTENSIONS.test(file.name)) {
          refusal = "'" + file.name + "' is not a G-code file (allowed: .gcode, .gco, .g, .bgcode)";
        } else if (maxBytes && file.size > maxBytes) {
          refusal = "the file is larger than the upload limit of " + maxText;
        }
        var row = refusal ? errorRow(file.name, refusal) : pendingRow(file.name);
        list.appendChild(row);
        if (refusal) { bindRow(row); } else { queue.push([file, row]); }
      });
      input.value = "";
      show();
      if (button) { button.disabled = true; }
      var several = files.length > 1;
      var next = function () {
        var item = queue.shift();
        if (!item) {
          if (button) { button.disabled = false; }
          return;
        }
        upload(form, item[0], several, item[1], next);
      };
      next();
    });
    Array.prototype.forEach.call(list.querySelectorAll("article[data-preview-row]"), bindRow);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload-progress]").forEach(bind);
  });
})();

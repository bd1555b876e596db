// Forms with data-confirm ask before they submit ("Cancel cube?"): no inline handlers, so the pages
// run under a Content-Security-Policy without 'unsafe-inline'. Delegated, so live fragments work too.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);
})();

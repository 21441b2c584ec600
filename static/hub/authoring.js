// The consultation editor's live preview: as staff type, the draft is saved and the
// preview panel (kiosk screen, SMS conversation and its cost) is drawn again. Without
// this script the Preview button does the same with a full page.
(function () {
  "use strict";
  var form = document.getElementById("editor");
  var panel = document.getElementById("preview");
  if (!form || !panel || !form.dataset.preview || form.querySelector("fieldset[disabled]")) {
    return;
  }
  var timer = null;
  var sent = 0;

  function refresh() {
    var data = new FormData(form);
    data.set("action", "preview");
    var mine = ++sent;
    var frame = panel.querySelector("iframe");
    var screen = frame && frame.contentWindow ? frame.contentWindow.location.pathname : null;
    fetch(form.dataset.preview, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || mine !== sent) { return; }
        panel.innerHTML = html;
        var again = panel.querySelector("iframe");
        // Stay on the screen staff were looking at, when the draft still has it.
        if (again && screen && screen.indexOf("/kiosk/") !== -1) {
          again.src = screen;
        }
      })
      .catch(function () { /* the Preview button still works */ });
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 700);
  });
  // A new type or skip-rule question changes the fields shown: save and redraw the page.
  form.addEventListener("change", function (event) {
    if (event.target.hasAttribute("data-save-on-change")) {
      var save = form.querySelector('button[value="save"]');
      if (form.requestSubmit) { form.requestSubmit(save); } else { save.click(); }
    }
  });
})();

// The kiosk's optional enhancements: idle warning and reset, keypad, keyboard, counters.
// Every screen works without this file; it only adds to the plain forms.
(function () {
  "use strict";
  var config = document.getElementById("kiosk-config");
  if (!config) return;
  var idleSeconds = Number(config.dataset.idle) || 90;
  var warningSeconds = Number(config.dataset.warning) || 0;
  var dialog = document.getElementById("idle-dialog");
  var resetForm = document.getElementById("idle-reset-form");
  var visitField = resetForm && resetForm.querySelector("input[name=visit]");
  var idleTimer = null, countdownTimer = null, lastPing = Date.now();

  // A page restored from the back/forward cache must ask the server again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) window.location.reload();
  });

  function clearPage() {
    // Wipe what this visitor entered from the page itself before leaving it.
    Array.prototype.forEach.call(document.forms, function (form) { form.reset(); });
    var main = document.getElementById("main");
    if (main) main.textContent = "";
  }

  function resetVisit() {
    if (dialog && dialog.open) dialog.close();
    if (resetForm) {
      var form = resetForm;
      var reason = document.createElement("input");
      reason.type = "hidden";
      reason.name = "reason";
      reason.value = "idle";  // the next visitor gets the default language
      form.appendChild(reason);
      clearPage();
      form.submit();
    } else {
      window.location.replace("/");
    }
  }

  function keepAlive() {
    // Tell the server the visit is in use, at most every 20 s, so it never expires it.
    if (!visitField || !config.dataset.keepalive || Date.now() - lastPing < 20000) return;
    lastPing = Date.now();
    var body = new URLSearchParams({ visit: visitField.value });
    fetch(config.dataset.keepalive, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { if (response.status === 410) window.location.replace("/"); })
      .catch(function () { /* the next page load will find out */ });
  }

  function showCount(left) {
    // Rewrite the whole sentence, in the grammatical number the count needs ({n} marks it).
    var text = document.getElementById("idle-text");
    var count = document.getElementById("idle-count");
    var parts = (left === 1 ? text.dataset.one : text.dataset.other).split("{n}");
    count.textContent = String(left);
    text.textContent = parts[0];
    text.appendChild(count);
    text.appendChild(document.createTextNode(parts.slice(1).join("{n}")));
  }

  function showWarning() {
    if (!dialog || !warningSeconds) { resetVisit(); return; }
    var left = warningSeconds;
    showCount(left);
    // Whoever walks up sees the question, not the answers typed before them.
    document.body.classList.add("idle-warning");
    dialog.showModal();
    document.getElementById("idle-continue").focus();
    countdownTimer = setInterval(function () {
      left -= 1;
      showCount(Math.max(left, 0));
      if (left <= 0) { clearInterval(countdownTimer); resetVisit(); }
    }, 1000);
  }

  function showAttract() {
    var attract = document.getElementById("attract");
    var onDefault = window.location.pathname === "/" && window.location.search === "";
    if (!onDefault) { window.location.replace("/"); return; }
    if (attract) attract.hidden = false;
  }

  function activity() {
    clearTimeout(idleTimer);
    if (dialog && dialog.open) return;  // only the dialog's own buttons end the warning
    var attract = document.getElementById("attract");
    if (attract && !attract.hidden) attract.hidden = true;
    idleTimer = setTimeout(warningSeconds ? showWarning : showAttract, idleSeconds * 1000);
    keepAlive();
  }

  if (dialog) {
    document.getElementById("idle-continue").addEventListener("click", function () {
      clearInterval(countdownTimer);
      dialog.close();
      document.body.classList.remove("idle-warning");
      lastPing = 0;
      activity();
    });
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); });
  }
  ["pointerdown", "keydown", "input", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true, capture: true });
  });
  activity();

  // Move focus to an error so screen readers announce it and the visitor sees it.
  var error = document.getElementById("answer-error") || document.getElementById("review-error");
  if (error) error.focus();

  // One tap sends the answers once, even if the button is tapped again.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-submit-once]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      var button = form.querySelector("button[type=submit]");
      setTimeout(function () { if (button) button.disabled = true; }, 0);
    });
  });

  // Text size switches at once; the server remembers it for the rest of the visit.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-text-size]"), function (button) {
    button.addEventListener("click", function (event) {
      if (!visitField) return;
      event.preventDefault();
      var root = document.documentElement;
      var large = root.classList.toggle("text-large");
      root.classList.toggle("text-normal", !large);
      button.setAttribute("aria-pressed", large ? "true" : "false");
      // Every form now says the new size, so the next page has it whenever this lands.
      var size = large ? "large" : "normal";
      Array.prototype.forEach.call(document.querySelectorAll("[data-size-field]"), function (field) {
        field.value = size;
      });
      var body = new URLSearchParams({
        visit: visitField.value, action: "set", size: size, back: window.location.pathname
      });
      fetch("/text-size", { method: "POST", body: body, credentials: "same-origin", redirect: "manual" })
        .catch(function () {});
    });
  });

  var answer = document.getElementById("answer");

  // Where a key acts: at the caret if the visitor put it in the field, else at the end
  // (a field the page focused, or never touched, has its caret at the start).
  function caret() {
    var length = answer.value.length;
    if (document.activeElement !== answer || answer.selectionStart === null) {
      return { start: length, end: length };
    }
    return { start: answer.selectionStart, end: answer.selectionEnd };
  }

  function insert(text) {
    var at = caret(), start = at.start, end = at.end;
    var max = Number(answer.getAttribute("maxlength")) || Infinity;
    if (answer.value.length - (end - start) + text.length > max) return;
    answer.value = answer.value.slice(0, start) + text + answer.value.slice(end);
    answer.setSelectionRange(start + text.length, start + text.length);
    answer.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function backspace() {
    var at = caret(), start = at.start, end = at.end;
    if (start === end && start > 0) start -= 1;
    answer.value = answer.value.slice(0, start) + answer.value.slice(end);
    answer.setSelectionRange(start, start);
    answer.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function wireKeys(panel, onKey) {
    panel.hidden = false;
    // Keep the caret in the field: a key takes the tap without taking the focus.
    panel.addEventListener("pointerdown", function (event) {
      if (event.target.closest("button")) event.preventDefault();
    });
    panel.addEventListener("click", function (event) {
      var key = event.target.closest("button[data-key]");
      if (!key) return;
      onKey(key.dataset.key, key);
    });
  }

  // The keypad types a number as a calculator does: always at the end, Delete takes the
  // last digit, wherever the caret was left.
  var keypad = document.querySelector("[data-keypad]");
  if (keypad && answer) {
    wireKeys(keypad, function (key) {
      var max = Number(answer.getAttribute("maxlength")) || Infinity;
      if (key === "backspace") {
        answer.value = answer.value.slice(0, -1);
      } else if (answer.value.length < max) {
        answer.value += key;
      }
      answer.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  var keyboard = document.querySelector("[data-keyboard]");
  if (keyboard && answer) {
    var shifted = false;
    var shiftKey = keyboard.querySelector("[data-key=shift]");
    wireKeys(keyboard, function (key) {
      if (key === "shift") {
        shifted = !shifted;
        keyboard.classList.toggle("shifted", shifted);
        shiftKey.setAttribute("aria-pressed", shifted ? "true" : "false");
      } else if (key === "backspace") {
        backspace();
      } else {
        insert(shifted ? key.toUpperCase() : key);
        if (shifted) {
          shifted = false;
          keyboard.classList.remove("shifted");
          shiftKey.setAttribute("aria-pressed", "false");
        }
      }
    });
  }

  // An error goes as soon as the visitor changes the answer: the next key, tap or choice.
  var answerForm = document.getElementById("answer-form");
  if (answerForm && document.getElementById("answer-error")) {
    var clearError = function () {
      var message = document.getElementById("answer-error");
      if (message) message.remove();
      Array.prototype.forEach.call(answerForm.querySelectorAll("[aria-invalid]"), function (el) {
        el.removeAttribute("aria-invalid");
        var described = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
          return id && id !== "answer-error";
        });
        if (described.length) el.setAttribute("aria-describedby", described.join(" "));
        else el.removeAttribute("aria-describedby");
      });
      if (answerForm.dataset.cleanTitle) document.title = answerForm.dataset.cleanTitle;
      answerForm.removeEventListener("input", clearError);
      answerForm.removeEventListener("change", clearError);
    };
    answerForm.addEventListener("input", clearError);
    answerForm.addEventListener("change", clearError);
  }

  var counter = document.querySelector("[data-counter]");
  if (counter && answer) {
    var max = answer.getAttribute("maxlength");
    var update = function () {
      counter.textContent = counter.dataset.template
        .replace("{count}", String(answer.value.length)).replace("{max}", max);
    };
    answer.addEventListener("input", update);
    update();
  }
})();

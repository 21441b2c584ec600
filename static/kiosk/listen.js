// Read aloud: turns each plain <audio controls> of templates/kiosk/_listen.html into a
// large Listen / Stop button and a Slower button. Only one text plays at a time; it stops
// when the visitor moves on (a form is sent, a link followed, the page left) and when the
// idle warning or reset comes. With the node's setting, the first text plays on arrival,
// unless the visitor is moving by keyboard (a screen reader's user hears their reader).
(function () {
  "use strict";
  if (window.kioskListen) return;  // the partial may include this file more than once
  var KEY = "kiosk-input";
  var playing = null;  // {audio, button}

  function stop() {
    if (!playing) return;
    playing.audio.pause();
    playing.audio.currentTime = 0;
    show(playing.block, null);
    playing = null;
  }

  function show(block, button) {
    var play = block.querySelector("[data-listen-play]");
    var slow = block.querySelector("[data-listen-slow]");
    var text = block.querySelector("[data-listen-text]");
    play.setAttribute("aria-pressed", String(button === play));
    slow.setAttribute("aria-pressed", String(button === slow));
    if (!text.dataset.listen) text.dataset.listen = text.textContent;
    text.textContent = button ? block.dataset.labelStop : text.dataset.listen;
  }

  function start(block, slow) {
    var audio = block.querySelector("audio");
    var button = block.querySelector(slow ? "[data-listen-slow]" : "[data-listen-play]");
    var src = slow ? audio.dataset.slow : audio.dataset.normal;
    stop();
    if (audio.getAttribute("src") !== src) audio.src = src;
    playing = { audio: audio, block: block };
    show(block, button);
    var started = audio.play();
    if (started && started.catch) started.catch(function () { if (playing && playing.audio === audio) stop(); });
  }

  function wire(block) {
    var audio = block.querySelector("audio");
    audio.dataset.normal = audio.getAttribute("src");
    audio.controls = false;
    audio.hidden = true;
    audio.addEventListener("ended", function () { if (playing && playing.audio === audio) { playing = null; show(block, null); } });
    [["[data-listen-play]", false], ["[data-listen-slow]", true]].forEach(function (pair) {
      var button = block.querySelector(pair[0]);
      button.hidden = false;
      button.addEventListener("click", function () {
        var same = playing && playing.block === block && button.getAttribute("aria-pressed") === "true";
        if (same) stop(); else start(block, pair[1]);
      });
    });
  }

  var blocks = Array.prototype.slice.call(document.querySelectorAll("[data-listen]"));
  if (!blocks.length) return;
  window.kioskListen = { stop: stop };
  blocks.forEach(wire);

  document.addEventListener("submit", stop, true);
  window.addEventListener("pagehide", stop);
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("a[href]")) stop();
  }, true);
  document.addEventListener("pointerdown", function () { sessionStorage.setItem(KEY, "touch"); }, true);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Tab" || event.key.indexOf("Arrow") === 0) sessionStorage.setItem(KEY, "keys");
  }, true);
  var dialog = document.getElementById("idle-dialog");
  if (dialog && window.MutationObserver) {
    new MutationObserver(function () { if (dialog.open) stop(); })
      .observe(dialog, { attributes: true, attributeFilter: ["open"] });
  }

  var first = blocks[0];
  if (first.hasAttribute("data-autoplay") && sessionStorage.getItem(KEY) !== "keys") start(first, false);
})();

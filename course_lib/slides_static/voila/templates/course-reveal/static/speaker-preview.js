// Fills the speaker view's preview frame with a static copy of the presentation.
//
// This page runs inside an iframe of reveal.js's speaker window; that window was opened by the
// presenting Voilà page (its `opener`). The slides there are already executed and rendered, so
// the copy shows the same figures and widget states, frozen at the moment the speaker view opened
// (a canvas is copied as an image). reveal.js then answers the speaker window's setState / next
// messages as usual (postMessage API), so the previews follow the presentation.
(function () {
  "use strict";

  function presentingWindow() {
    try {
      var speaker = window.top;
      var presenter = speaker && speaker.opener;
      if (presenter && presenter.document.querySelector(".reveal .slides")) return presenter;
    } catch (error) {
      /* another origin, or the window was closed */
    }
    return null;
  }

  function copyHead(source) {
    source.document.head.querySelectorAll('link[rel="stylesheet"], style').forEach(function (node) {
      var copy = node.cloneNode(true);
      if (node.href) copy.href = node.href; // resolve relative links against the presenting page
      document.head.appendChild(copy);
    });
    Array.prototype.forEach.call(source.document.body.attributes, function (attribute) {
      document.body.setAttribute(attribute.name, attribute.value); // theme (light/dark), classes
    });
  }

  function copySlides(source) {
    var original = source.document.querySelector(".reveal .slides");
    var copy = original.cloneNode(true);
    var canvases = original.querySelectorAll("canvas");
    copy.querySelectorAll("canvas").forEach(function (canvas, index) {
      var image = document.createElement("img");
      try {
        image.src = canvases[index].toDataURL();
      } catch (error) {
        return;
      }
      image.width = canvas.width;
      image.style.cssText = canvases[index].style.cssText;
      image.className = canvas.className;
      canvas.replaceWith(image);
    });
    var images = original.querySelectorAll("img");
    copy.querySelectorAll("img").forEach(function (image, index) {
      if (images[index] && images[index].src) image.src = images[index].src;
    });
    copy.querySelectorAll("script").forEach(function (node) {
      node.remove();
    });
    copy.querySelectorAll("section").forEach(function (section) {
      section.classList.remove("present", "past", "future", "stack");
      section.removeAttribute("hidden");
      section.removeAttribute("aria-hidden");
      section.style.display = "";
    });
    document.querySelector(".reveal .slides").replaceWith(copy);
  }

  var source = presentingWindow();
  if (!source) {
    document.body.textContent = "Slide preview: open the speaker view from the presentation (press S there).";
    return;
  }
  copyHead(source);
  copySlides(source);
  Reveal.initialize({
    width: source.reveal_width || 1280,
    height: source.reveal_height || 800,
    controls: false,
    progress: false,
    history: false,
    transition: "none",
    keyboard: true,
  });
})();

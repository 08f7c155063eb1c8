// The drawing canvas of course_lib.widgets.draw.DigitCanvas (an anywidget ES module, no build step).
// Strokes are drawn in the browser; when the pen is lifted the image is downsampled to `resolution`
// pixels a side and sent to the kernel as one uint8 grey value per pixel (the `pixels` trait).
function render({ model, el }) {
  const size = model.get("size");
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  canvas.className = "course-draw-canvas";
  canvas.style.cssText =
    "background:#000;cursor:crosshair;touch-action:none;border:2px solid #888;border-radius:4px;";
  const ctx = canvas.getContext("2d");

  function wipe() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, size, size);
  }

  function send() {
    const side = model.get("resolution");
    const small = document.createElement("canvas");
    small.width = side;
    small.height = side;
    const sctx = small.getContext("2d");
    sctx.imageSmoothingEnabled = true;
    sctx.imageSmoothingQuality = "high";
    sctx.drawImage(canvas, 0, 0, side, side);
    const rgba = sctx.getImageData(0, 0, side, side).data;
    const grey = new Uint8Array(side * side);
    for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
    model.set("pixels", new DataView(grey.buffer));
    model.set("strokes", model.get("strokes") + 1);
    model.save_changes();
  }

  function position(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (size / box.width), (event.clientY - box.top) * (size / box.height)];
  }

  let drawing = false;
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = position(event);
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = model.get("line_width");
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x, y);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const [x, y] = position(event);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    send();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  model.on("msg:custom", (msg) => {
    if (msg && msg.type === "clear") wipe();
  });

  wipe();
  el.appendChild(canvas);
}
export default { render };

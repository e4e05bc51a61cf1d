// "Try it": a canvas to draw a digit on (mouse, pen or finger) for a digit
// model, predicted while you draw; a file picker and drop zone for a photo
// model. The picture goes to POST /api/runs/{id}/predict as a PNG or as the
// file itself; the server prepares it exactly as the model was trained (a
// drawing is cropped, scaled to 20 px and centred by its centre of mass, as
// MNIST's digits are) and sends back the top classes and, for digits, the
// 28x28 image the model saw.
"use strict";

const nophdTry = (() => {
  const { el } = nophd;
  const SIZE = 280;
  const STROKE = 20;
  // While drawing, at most one request is in flight, and a new one starts no sooner than this.
  const MIN_INTERVAL_MS = 120;

  // Digits get a big one-character label; class names ("sunflowers") a column as wide as the longest.
  function ranking(result) {
    const longest = Math.max(1, ...result.top.map((entry) => String(entry.label).length));
    const words = longest > 2;
    return el("ol", { id: "prediction-top", class: words ? "words" : null, style: words ? { "--label-width": `${Math.ceil(longest * 1.15) + 1}ch` } : null },
      result.top.map((entry) => el("li", { dataset: { label: entry.label } },
      el("span", { class: "label", text: entry.label, title: entry.label }),
      el("span", { class: "meter" }, el("span", { style: { width: `${(100 * entry.probability).toFixed(1)}%` } })),
      el("span", { class: "probability", text: `${(100 * entry.probability).toFixed(1)}%` }))));
  }

  function post(url, body, contentType) {
    const headers = contentType ? { "Content-Type": contentType } : {};
    return nophd.api(url, { method: "POST", body, headers });
  }

  function digitPad(container, predictUrl) {
    const canvas = el("canvas", { id: "draw-canvas", width: SIZE, height: SIZE, "aria-label": "Draw a digit here" });
    const context = canvas.getContext("2d");
    const seen = el("canvas", { width: 28, height: 28, id: "model-sees" });
    const output = el("div", { class: "ranking", id: "prediction" }, el("p", { class: "muted", text: "Draw a digit from 0 to 9 in the black square." }));
    const clear = el("button", { type: "button", text: "Clear", id: "clear-canvas" });
    let drawing = false;
    let inked = false;
    let last = null;
    let inFlight = false;
    let pending = false;
    let lastSent = 0;
    let generation = 0;

    function reset() {
      context.fillStyle = "#000";
      context.fillRect(0, 0, SIZE, SIZE);
      seen.getContext("2d").clearRect(0, 0, 28, 28);
      inked = false;
      generation += 1;
      nophd.replace(output, el("p", { class: "muted", text: "Draw a digit from 0 to 9 in the black square." }));
    }

    function position(event) {
      const box = canvas.getBoundingClientRect();
      return [((event.clientX - box.left) / box.width) * SIZE, ((event.clientY - box.top) / box.height) * SIZE];
    }

    function stroke(from, to) {
      context.strokeStyle = "#fff";
      context.fillStyle = "#fff";
      context.lineWidth = STROKE;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.beginPath();
      if (from[0] === to[0] && from[1] === to[1]) {
        // A canvas drops zero-length segments, round caps and all: a tap is drawn as a disc.
        context.arc(to[0], to[1], STROKE / 2, 0, 2 * Math.PI);
        context.fill();
      } else {
        context.moveTo(from[0], from[1]);
        context.lineTo(to[0], to[1]);
        context.stroke();
      }
      inked = true;
    }

    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      drawing = true;
      last = position(event);
      stroke(last, last);
      schedule();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      event.preventDefault();
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const each of events.length ? events : [event]) {
        const point = position(each);
        stroke(last, point);
        last = point;
      }
      schedule();
    });
    const finish = (event) => {
      if (!drawing) return;
      drawing = false;
      if (event.pointerId !== undefined && canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
      schedule(true);
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    clear.addEventListener("click", reset);

    // data-state on the answer: "busy" while a drawing is on its way or waiting to go, else "idle".
    function markState() {
      output.dataset.state = inFlight || pending ? "busy" : "idle";
    }

    function schedule(final = false) {
      if (!inked) return;
      if (inFlight) {
        pending = true;
        markState();
        return;
      }
      const wait = final ? 0 : Math.max(0, MIN_INTERVAL_MS - (performance.now() - lastSent));
      inFlight = true;
      markState();
      setTimeout(send, wait);
    }

    async function send() {
      const sentGeneration = generation;
      lastSent = performance.now();
      pending = false;
      try {
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
        const result = await post(`${predictUrl}?top=3&input=1`, blob, "image/png");
        if (sentGeneration === generation) show(result);
      } catch (error) {
        if (sentGeneration === generation) nophd.replace(output, el("p", { class: "error", text: error.message }));
      } finally {
        inFlight = false;
        if (pending) schedule(true);
        markState();
      }
    }

    function show(result) {
      nophd.replace(output, ranking(result));
      if (result.input) {
        const pixels = seen.getContext("2d").createImageData(28, 28);
        result.input.flat().forEach((value, index) => {
          const level = Math.round(255 * value);
          pixels.data.set([level, level, level, 255], index * 4);
        });
        seen.getContext("2d").putImageData(pixels, 0, 0);
      }
    }

    reset();
    nophd.replace(container,
      el("div", { class: "tryit" },
        el("div", { class: "pad" }, canvas, el("div", { class: "toolbar" }, clear, el("span", { class: "note", text: "mouse, pen or finger" }))),
        el("div", { class: "model-sees" }, seen, el("span", { text: "what the model sees:" }), el("span", { text: "28x28, centred as MNIST" })),
        output));
  }

  // Paste anywhere on the page: the first image on the clipboard (a screenshot, an image copied in a browser)
  // goes to the latest photo picker (one listener, however often the picker is rebuilt).
  let pasteTarget = null;
  let pasteListening = false;
  function listenForPaste() {
    if (pasteListening) return;
    pasteListening = true;
    document.addEventListener("paste", (event) => {
      const items = [...((event.clipboardData && event.clipboardData.items) || [])];
      const item = items.find((candidate) => candidate.kind === "file" && candidate.type.startsWith("image/"));
      if (!item || !pasteTarget) return;
      event.preventDefault();
      pasteTarget(item.getAsFile());
    });
  }

  // A photo model: pick, drop or paste (Ctrl-V) an image, or take one with the camera, as Teachable Machine does.
  function photoPicker(container, predictUrl) {
    const input = el("input", { type: "file", accept: "image/*", id: "photo-input" });
    const preview = el("div", { id: "photo-preview" });
    const output = el("div", { class: "ranking", id: "prediction" }, el("p", { class: "muted", text: "Pick, drop or paste a photo, or use the camera." }));
    const zone = el("div", { class: "dropzone" }, el("p", { text: "Drop a photo here, paste one (Ctrl-V), or " }), input, preview);
    let generation = 0;

    async function predict(file, name) {
      if (!file) return;
      const sent = ++generation;
      nophd.replace(preview, el("img", { src: URL.createObjectURL(file), alt: name || file.name || "photo" }));
      nophd.replace(output, el("p", { class: "muted", text: "Predicting…" }));
      output.dataset.state = "busy";
      const form = new FormData();
      form.append("image", file, name || file.name || "photo");
      try {
        const result = await post(`${predictUrl}?top=5`, form);
        if (sent === generation) nophd.replace(output, ranking(result));
      } catch (error) {
        if (sent === generation) nophd.replace(output, el("p", { class: "error", text: error.message }));
      } finally {
        if (sent === generation) output.dataset.state = "idle";
      }
    }

    input.addEventListener("change", () => predict(input.files[0]));
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      predict(event.dataTransfer.files[0]);
    });
    pasteTarget = (file) => predict(file, "pasted image");
    listenForPaste();
    nophd.replace(container, el("div", { class: "tryit" }, el("div", { class: "pad" }, zone, camera((blob) => predict(blob, "camera.jpg"))), output));
  }

  // The camera: a live picture, "capture" sends the frame; "continuous" sends one about every second.
  function camera(onFrame) {
    const video = el("video", { id: "camera-video", autoplay: true, muted: true, playsinline: true, hidden: true });
    const start = el("button", { type: "button", id: "camera-start", text: "Use the camera" });
    const capture = el("button", { type: "button", class: "primary", id: "camera-capture", text: "Capture", disabled: true });
    const continuous = el("input", { type: "checkbox", id: "camera-continuous", disabled: true });
    const stop = el("button", { type: "button", id: "camera-stop", text: "Stop", hidden: true });
    const message = el("span", { class: "note", id: "camera-message" });
    let stream = null;
    let timer = null;

    function frame() {
      if (!stream || video.readyState < 2 || !video.videoWidth) return;
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob((blob) => { if (blob) onFrame(blob); }, "image/jpeg", 0.9);
    }

    // The controls of a camera that is on, or off.
    function showRunning(running) {
      video.hidden = !running;
      stop.hidden = !running;
      start.hidden = running;
      capture.disabled = !running;
      continuous.disabled = !running;
    }

    function halt() {
      clearInterval(timer);
      if (stream) for (const track of stream.getTracks()) track.stop();
      stream = null;
      showRunning(false);
      continuous.checked = false;
    }

    start.addEventListener("click", async () => {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        message.textContent = "This browser gives no camera here (it needs https or localhost).";
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      } catch (error) {
        message.textContent = `No camera: ${error.message || error.name}`;
        return;
      }
      video.srcObject = stream;
      showRunning(true);
      message.textContent = "";
    });
    capture.addEventListener("click", frame);
    stop.addEventListener("click", halt);
    continuous.addEventListener("change", () => {
      clearInterval(timer);
      if (continuous.checked) timer = setInterval(frame, 1000);
    });
    return el("div", { class: "camera" }, video,
      el("div", { class: "toolbar" }, start, capture, el("label", {}, continuous, " continuous"), stop, message));
  }

  return { digitPad, photoPicker };
})();

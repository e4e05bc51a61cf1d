// nophd's web app export: the run's float TFLite model (model.tflite, written
// by `nophd export RUN --format web`) run in the browser by LiteRT.js on its
// WebAssembly CPU runtime, from files in this folder only (no network).
//
// The model takes raw uint8 pixels, as every nophd export does:
//   digits: (1, 28, 28), 0..255, a light digit on black, as in the MNIST files;
//   photos: (1, S, S, 3), 0..255 RGB, S the run's image size (export.json "image_size").
// and returns float32 (1, classes) probabilities; export.json names the classes.
//
// Preprocessing mirrors nophd's (src/nophd/data/images.py `to_mnist` for a
// drawn digit, nophd.data.folders.resize for a photo); what differs is said
// beside each step and in README's "Web app" paragraph.
//
// Test and benchmark hooks (used by nophd's tests and benchmarks/export_table.py):
//   window.nophdReady          a promise of {kind, imageSize, classNames} once the model is compiled
//   window.nophdPredict(pixels) probabilities (a plain array) for one raw uint8 image (flat, row-major)
//   window.nophdPredictMany(base64, count) the same for `count` images packed in one base64 string
//   window.nophdReadyValue()   the same promise, from a function (for selenium's calls)
//   window.nophdTime(pixels, rounds, calls) {median_ms, p10_ms, p90_ms, rounds, calls} per single-image prediction
//   window.nophdLastInput      the uint8 pixels the model saw last through the page (drawn or chosen)
import { loadLiteRt, loadAndCompile, Tensor } from "./vendor/litertjs/core/index.js";

// The drawing pad of nophd's dashboard (serve/static/draw.js): 280 px, 20 px white strokes on black.
const PAD_SIZE = 280;
const STROKE = 20;
// MNIST's geometry (images.py): a 28x28 frame, the digit's longer side 20 px, centre of mass at pixel (14, 14).
const MNIST_SIZE = 28;
const MNIST_BOX = 20;
const MNIST_CENTRE = 14.0;
// images.py's thresholds: no digit below this ink contrast; the box is the pixels above
// this fraction of the peak; the background level is the border median plus this many
// median absolute deviations.
const MIN_CONTRAST = 0.08;
const BOX_THRESHOLD = 0.2;
const NOISE_DEVIATIONS = 5.0;
// ITU-R 601-2 luma, as Pillow's convert("L") and images.py use.
const LUMA = [0.299, 0.587, 0.114];
const TOP = 5;

let model = null;
let metadata = null;
// LiteRT.js runs one model call at a time here: calls queue behind each other.
let queue = Promise.resolve();

// Python's round(): halves go to the even neighbour (images.py rounds with it).
function roundHalfEven(value) {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// NumPy's median of a Float32Array (the two middle values averaged for an even count).
function median(values) {
  const sorted = Float32Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Pillow's BILINEAR resize (Imaging/Resample.c): a triangle filter whose support
// widens with the reduction factor, so shrinking averages over the right area
// (antialiased); separable, horizontal pass first. `source` is (height, width,
// channels) row-major floats; returns the same layout at the new size, unrounded.
// nophd's photo resize (tf.image.resize bilinear with antialias) is the same filter.
function resampleCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = filterScale;  // The triangle's support is 1, widened by the filter scale.
  const bounds = [];
  for (let x = 0; x < outSize; x += 1) {
    const centre = (x + 0.5) * scale;
    const start = Math.max(Math.trunc(centre - support + 0.5), 0);
    const stop = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights = [];
    let total = 0;
    for (let j = start; j < stop; j += 1) {
      const weight = Math.max(0, 1 - Math.abs((j - centre + 0.5) / filterScale));
      weights.push(weight);
      total += weight;
    }
    bounds.push({ start, weights: weights.map((weight) => (total ? weight / total : 0)) });
  }
  return bounds;
}

function resize(source, width, height, channels, newWidth, newHeight) {
  const horizontal = new Float64Array(height * newWidth * channels);
  const columns = resampleCoefficients(width, newWidth);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < newWidth; x += 1) {
      const { start, weights } = columns[x];
      for (let c = 0; c < channels; c += 1) {
        let sum = 0;
        for (let k = 0; k < weights.length; k += 1) sum += weights[k] * source[((y * width) + start + k) * channels + c];
        horizontal[(y * newWidth + x) * channels + c] = sum;
      }
    }
  }
  const result = new Float64Array(newHeight * newWidth * channels);
  const rows = resampleCoefficients(height, newHeight);
  for (let y = 0; y < newHeight; y += 1) {
    const { start, weights } = rows[y];
    for (let x = 0; x < newWidth; x += 1) {
      for (let c = 0; c < channels; c += 1) {
        let sum = 0;
        for (let k = 0; k < weights.length; k += 1) sum += weights[k] * horizontal[((start + k) * newWidth + x) * channels + c];
        result[(y * newWidth + x) * channels + c] = sum;
      }
    }
  }
  return result;
}

// Grey levels 0..1 (Float32Array, height x width) of RGBA canvas pixels, transparent as black
// (the pad is opaque; images.py composites transparency too, on its own rules).
function greyLevels(rgba, width, height) {
  const grey = new Float32Array(width * height);
  for (let i = 0; i < width * height; i += 1) {
    const alpha = rgba[4 * i + 3] / 255;
    grey[i] = alpha * (LUMA[0] * rgba[4 * i] + LUMA[1] * rgba[4 * i + 1] + LUMA[2] * rgba[4 * i + 2]) / 255;
  }
  return grey;
}

// images.py `to_mnist` (MNIST's recipe) on grey levels 0..1: polarity and background
// from the border, contrast stretched to the ink's peak, cropped to the ink's box,
// the longer side resized to 20 px, pasted so the centre of mass is at (14, 14).
// Returns Float32Array(784) in [0, 1], light on black; all zeros for a blank picture.
function toMnist(grey, width, height) {
  const ringValues = [];
  for (let x = 0; x < width; x += 1) ringValues.push(grey[x]);
  for (let x = 0; x < width; x += 1) ringValues.push(grey[(height - 1) * width + x]);
  for (let y = 0; y < height; y += 1) ringValues.push(grey[y * width]);
  for (let y = 0; y < height; y += 1) ringValues.push(grey[y * width + width - 1]);
  let ring = Float32Array.from(ringValues);
  let background = median(ring);
  const inverted = background > 0.5;
  if (inverted) {
    // Dark ink on a light background: turned round, as MNIST is light on dark.
    ring = ring.map((value) => 1 - value);
    background = 1 - background;
  }
  const deviation = median(ring.map((value) => Math.abs(value - background)));
  const level = Math.fround(background + NOISE_DEVIATIONS * deviation);
  const ink = (value) => Math.max((inverted ? 1 - value : value) - level, 0);

  const rowInk = new Float32Array(height);
  const columnInk = new Float32Array(width);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const value = ink(grey[y * width + x]);
      if (value > rowInk[y]) rowInk[y] = value;
      if (value > columnInk[x]) columnInk[x] = value;
    }
  }
  const frame = new Float32Array(MNIST_SIZE * MNIST_SIZE);
  const peak = Math.max(...rowInk);
  if (peak < MIN_CONTRAST) return frame;
  const over = (values) => values.reduce((found, value, index) => (value / peak > BOX_THRESHOLD ? [...found, index] : found), []);
  const rows = over(rowInk);
  const columns = over(columnInk);
  const top0 = rows[0];
  const left0 = columns[0];
  const cropHeight = rows[rows.length - 1] - top0 + 1;
  const cropWidth = columns[columns.length - 1] - left0 + 1;
  const crop = new Float32Array(cropHeight * cropWidth);
  for (let y = 0; y < cropHeight; y += 1) {
    for (let x = 0; x < cropWidth; x += 1) crop[y * cropWidth + x] = ink(grey[(top0 + y) * width + left0 + x]) / peak;
  }

  const ratio = MNIST_BOX / Math.max(cropHeight, cropWidth);
  const newWidth = Math.max(1, roundHalfEven(cropWidth * ratio));
  const newHeight = Math.max(1, roundHalfEven(cropHeight * ratio));
  const patch = resize(crop, cropWidth, cropHeight, 1, newWidth, newHeight).map((value) => Math.min(Math.max(value, 0), 1));
  const patchPeak = Math.max(...patch);
  if (patchPeak <= 0) return frame;
  // Shrinking a thin stroke dims it; MNIST's strokes reach full white.
  let mass = 0;
  let rowMoment = 0;
  let columnMoment = 0;
  for (let y = 0; y < newHeight; y += 1) {
    for (let x = 0; x < newWidth; x += 1) {
      const value = patch[y * newWidth + x] / patchPeak;
      patch[y * newWidth + x] = value;
      mass += value;
      rowMoment += value * y;
      columnMoment += value * x;
    }
  }
  const top = Math.min(Math.max(roundHalfEven(MNIST_CENTRE - rowMoment / mass), 0), MNIST_SIZE - newHeight);
  const left = Math.min(Math.max(roundHalfEven(MNIST_CENTRE - columnMoment / mass), 0), MNIST_SIZE - newWidth);
  for (let y = 0; y < newHeight; y += 1) {
    for (let x = 0; x < newWidth; x += 1) frame[(top + y) * MNIST_SIZE + left + x] = patch[y * newWidth + x];
  }
  return frame;
}

// Levels 0..1 -> the uint8 pixels the model takes (nophd predict feeds the float
// frame to a Keras model; an export gets it rounded to 0..255 like this).
function toUint8(values, scale) {
  const pixels = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i += 1) pixels[i] = Math.min(255, Math.max(0, roundHalfEven(values[i] * scale)));
  return pixels;
}

function inputShape() {
  const size = metadata.image_size;
  return metadata.kind === "digits" ? [1, size, size] : [1, size, size, 3];
}

async function runModel(pixels) {
  const input = new Tensor(pixels, inputShape());
  try {
    const outputs = await model.run([input]);
    const probabilities = Float32Array.from(outputs[0].toTypedArray());
    for (const output of outputs) output.delete();
    return probabilities;
  } finally {
    input.delete();
  }
}

// Probabilities for one raw uint8 image; calls run one after another.
function predict(pixels) {
  const expected = inputShape().reduce((product, size) => product * size, 1);
  if (pixels.length !== expected) return Promise.reject(new Error(`expected ${expected} pixels, got ${pixels.length}`));
  const result = queue.then(() => runModel(Uint8Array.from(pixels)));
  queue = result.catch(() => undefined);
  return result;
}

function showRanking(probabilities) {
  const names = metadata.class_names;
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]).slice(0, TOP);
  const list = document.getElementById("prediction-top");
  list.replaceChildren(...order.map((index) => {
    const item = document.createElement("li");
    item.dataset.label = names[index];
    item.dataset.probability = String(probabilities[index]);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = names[index];
    const meter = document.createElement("span");
    meter.className = "meter";
    const bar = document.createElement("span");
    bar.style.width = `${(100 * probabilities[index]).toFixed(1)}%`;
    meter.append(bar);
    const value = document.createElement("span");
    value.className = "probability";
    value.textContent = `${(100 * probabilities[index]).toFixed(1)}%`;
    item.append(label, meter, value);
    return item;
  }));
}

function showSeen(canvas, pixels, size, channels) {
  canvas.width = size;
  canvas.height = size;
  const image = canvas.getContext("2d").createImageData(size, size);
  for (let i = 0; i < size * size; i += 1) {
    for (let c = 0; c < 3; c += 1) image.data[4 * i + c] = pixels[channels * i + (channels === 3 ? c : 0)];
    image.data[4 * i + 3] = 255;
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
}

async function classify(pixels, seen, channels) {
  window.nophdLastInput = Array.from(pixels);
  showSeen(seen, pixels, metadata.image_size, channels);
  showRanking(await predict(pixels));
}

function digitPad() {
  document.getElementById("digit-input").hidden = false;
  const canvas = document.getElementById("draw-canvas");
  const context = canvas.getContext("2d");
  const seen = document.getElementById("model-sees");
  let drawing = false;
  let last = null;
  let scheduled = false;

  function reset() {
    context.fillStyle = "#000";
    context.fillRect(0, 0, PAD_SIZE, PAD_SIZE);
    seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
    document.getElementById("prediction-top").replaceChildren();
  }

  function position(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * PAD_SIZE, ((event.clientY - box.top) / box.height) * PAD_SIZE];
  }

  function stroke(from, to) {
    context.strokeStyle = "#fff";
    context.fillStyle = "#fff";
    context.lineWidth = STROKE;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...from);
    context.lineTo(...to);
    context.stroke();
  }

  // Predicts what the pad holds, at most once per animation frame while drawing.
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      const rgba = context.getImageData(0, 0, PAD_SIZE, PAD_SIZE).data;
      const frame = toMnist(greyLevels(rgba, PAD_SIZE, PAD_SIZE), PAD_SIZE, PAD_SIZE);
      if (!frame.some((value) => value > 0)) return;
      classify(toUint8(frame, 255), seen, 1).catch(showError);
    });
  }

  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    last = position(event);
    stroke(last, last);
    schedule();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const next = position(event);
    stroke(last, next);
    last = next;
    schedule();
  });
  for (const name of ["pointerup", "pointercancel"]) {
    canvas.addEventListener(name, () => { drawing = false; schedule(); });
  }
  document.getElementById("clear-canvas").addEventListener("click", reset);
  reset();
}

function photoPicker() {
  document.getElementById("photo-input").hidden = false;
  const input = document.getElementById("photo-file");
  const preview = document.getElementById("photo-preview");
  const seen = document.getElementById("model-sees-photo");
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    preview.src = URL.createObjectURL(file);
    await preview.decode();
    // The browser decodes the file and applies its EXIF orientation, as nophd does.
    const width = preview.naturalWidth;
    const height = preview.naturalHeight;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.drawImage(preview, 0, 0);
    const rgba = context.getImageData(0, 0, width, height).data;
    const rgb = new Float64Array(width * height * 3);
    for (let i = 0; i < width * height; i += 1) for (let c = 0; c < 3; c += 1) rgb[3 * i + c] = rgba[4 * i + c];
    // Squashed to S x S (not cropped), bilinear and antialiased, rounded: nophd.data.folders.resize.
    const size = metadata.image_size;
    const pixels = toUint8(resize(rgb, width, height, 3, size, size), 1);
    classify(pixels, seen, 3).catch(showError);
  });
}

function showError(error) {
  const status = document.getElementById("status");
  status.textContent = `Error: ${error && error.message ? error.message : error}`;
  status.className = "error";
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

window.nophdPredict = async (pixels) => Array.from(await predict(pixels));
window.nophdPredictMany = async (text, count) => {
  const bytes = base64Bytes(text);
  const each = bytes.length / count;
  const results = [];
  for (let i = 0; i < count; i += 1) results.push(Array.from(await predict(bytes.subarray(i * each, (i + 1) * each))));
  return results;
};
// Median ms per single-image prediction (a Tensor made from the pixels, run, the
// output read back), over `rounds` rounds of `calls` calls each: browsers coarsen
// performance.now() (to 0.1 ms in a page that is not cross-origin isolated), so one
// call is too short to time alone.
window.nophdTime = async (pixels, rounds = 50, calls = 20) => {
  const image = Uint8Array.from(pixels);
  for (let i = 0; i < 20; i += 1) await predict(image);
  const times = [];
  for (let round = 0; round < rounds; round += 1) {
    const start = performance.now();
    for (let i = 0; i < calls; i += 1) await predict(image);
    times.push((performance.now() - start) / calls);
  }
  times.sort((a, b) => a - b);
  const at = (fraction) => times[Math.min(times.length - 1, Math.floor(fraction * times.length))];
  return { median_ms: at(0.5), p10_ms: at(0.1), p90_ms: at(0.9), rounds, calls };
};
window.nophdToMnist = (rgba, width, height) => Array.from(toUint8(toMnist(greyLevels(rgba, width, height), width, height), 255));

async function start() {
  const response = await fetch("export.json");
  if (!response.ok) throw new Error(`export.json: HTTP ${response.status}`);
  metadata = await response.json();
  // A directory: LiteRT.js picks its relaxed-SIMD build or, where the browser lacks
  // relaxed SIMD, its compatible one; both are in this folder.
  await loadLiteRt(new URL("vendor/litertjs/wasm/", document.baseURI).href);
  model = await loadAndCompile(new URL("model.tflite", document.baseURI).href, { accelerator: "wasm" });
  const what = metadata.kind === "digits" ? "digit" : metadata.class_names.join(", ");
  document.getElementById("title").textContent = `${metadata.model || "nophd"}: ${what === "digit" ? "draw a digit" : "classify a photo"}`;
  const status = document.getElementById("status");
  status.textContent = `Ready: ${metadata.model || "the model"} runs in this browser (LiteRT.js, WebAssembly); nothing leaves this page.`;
  const accuracy = metadata.exported && metadata.exported.accuracy;
  document.getElementById("about").textContent = accuracy
    ? `Exported by nophd from ${metadata.run}: ${(100 * accuracy).toFixed(2)}% on the ${metadata.evaluated_on}.`
    : "";
  if (metadata.kind === "digits") digitPad(); else photoPicker();
  return { kind: metadata.kind, imageSize: metadata.image_size, classNames: metadata.class_names };
}

window.nophdReady = start();
window.nophdReadyValue = () => window.nophdReady;
window.nophdReady.catch(showError);

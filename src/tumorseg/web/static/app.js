// tumorseg page: upload -> POST /api/segment -> draw the slice with the mask overlaid. No build step.
"use strict";
const $ = (id) => document.getElementById(id);
const state = {
  data: null, slice: 0, images: [], overlays: [], heat: [], measures: [], files: [], pickField: "series" };

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function loadImage(b64) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not decode an image from the server"));
    img.src = "data:image/png;base64," + b64;
  });
}

// A canvas of an 8-bit grayscale PNG with each value v turned into the colour colour(v) = [r, g, b, alpha].
function tinted(img, colour) {
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height);
  const d = px.data;
  for (let i = 0; i < d.length; i += 4) {
    const [r, g, b, a] = colour(d[i]);
    d[i] = r; d[i + 1] = g; d[i + 2] = b; d[i + 3] = a;
  }
  ctx.putImageData(px, 0, 0);
  return c;
}

// A red, transparent-elsewhere canvas from a 0/255 mask PNG.
const redOverlay = (maskImg) => tinted(maskImg, (v) => [255, 40, 40, v > 127 ? 255 : 0]);

// A heat map from a probability PNG (0-255): transparent below 0.1, then red (unsure) to yellow (sure), more
// opaque the surer the model is.
const heatOverlay = (probImg) => tinted(probImg, (v) => {
  const p = v / 255;
  return [255, Math.round(230 * p), 0, p < 0.1 ? 0 : Math.round(80 + 175 * p)];
});

async function sliceAssets(i) {
  if (!state.images[i]) {
    const s = state.data.slices[i];
    const [img, mask, prob, measure] = await Promise.all([loadImage(s.image_png), loadImage(s.mask_png),
      s.prob_png ? loadImage(s.prob_png) : null, s.measure_png ? loadImage(s.measure_png) : null]);
    state.images[i] = img;
    state.overlays[i] = redOverlay(mask);
    state.heat[i] = prob ? heatOverlay(prob) : null;
    state.measures[i] = measure ? cyanLines(measure) : null;
  }
  const heat = $("show").value === "prob" && state.heat[i];
  return [state.images[i], heat || state.overlays[i], state.measures[i]];
}

// The largest cross-section's two diameters (RANO's measurement; on its slice only), cyan over the mask.
const cyanLines = (linesImg) => tinted(linesImg, (v) => [0, 220, 255, v > 127 ? 255 : 0]);

function formatArea(s) {
  if (s.area_mm2 !== null && s.area_mm2 !== undefined) return `${s.area_mm2.toFixed(1)} mm² (${s.area_px} px)`;
  return `${s.area_px} px`;
}

async function draw() {
  const i = state.slice;
  const [img, overlay, measure] = await sliceAssets(i);
  const canvas = $("view");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.globalAlpha = 1;
  ctx.drawImage(img, 0, 0);
  ctx.globalAlpha = parseFloat($("opacity").value);
  ctx.drawImage(overlay, 0, 0);
  ctx.globalAlpha = 1;
  if (measure) ctx.drawImage(measure, 0, 0);
  const s = state.data.slices[i];
  $("area").textContent = state.data.tumour_found === false ? "No tumour found" : formatArea(s);
  $("area").dataset.px = String(s.area_px);
  $("slice-label").textContent = `${i + 1} / ${state.data.n_slices}`;
  $("result").dataset.ready = "1";
}

function setDownload() {
  const a = $("download");
  const d = state.data;
  if (d.mask_nifti) {
    a.href = "data:application/gzip;base64," + d.mask_nifti;
    a.download = "mask.nii.gz";
    a.textContent = "Download mask (NIfTI)";
  } else if (d.mask_volume) {  // a NRRD / MetaImage / TIFF stack upload: the mask in its format, to open over it
    a.href = "data:application/octet-stream;base64," + d.mask_volume;  // in 3D Slicer (Fiji for a TIFF stack)
    a.download = d.mask_volume_name;
    const name = d.mask_volume_name;
    const format = name.endsWith(".nrrd") ? "NRRD" : name.endsWith(".tif") ? "TIFF stack" : "MetaImage";
    a.textContent = "Download mask (" + format + ")";
  } else {
    a.href = "data:image/png;base64," + d.slices[state.slice].mask_png;
    a.download = "mask.png";
    a.textContent = "Download mask (PNG)";
  }
  // a DICOM series also gives a DICOM SEG referencing its images (opens in 3D Slicer, OHIF)
  const seg = $("download-seg");
  seg.hidden = !d.mask_seg;
  if (d.mask_seg) {
    seg.href = "data:application/dicom;base64," + d.mask_seg;
    seg.download = "mask_seg.dcm";
  }
  // and an RTSTRUCT: the mask's outlines, for radiotherapy planning systems and SlicerRT
  const rt = $("download-rtstruct");
  rt.hidden = !d.mask_rtstruct;
  if (d.mask_rtstruct) {
    rt.href = "data:application/dicom;base64," + d.mask_rtstruct;
    rt.download = "mask_rtstruct.dcm";
  }
  // asked for: the probability map (a volume file with the mask's geometry, or this slice's PNG)
  const prob = $("download-prob");
  const slicePng = d.slices[state.slice].prob_png;
  prob.hidden = !(d.prob_volume || slicePng);
  if (d.prob_volume) {
    prob.href = "data:application/octet-stream;base64," + d.prob_volume;
    prob.download = d.prob_volume_name;
  } else if (slicePng) {
    prob.href = "data:image/png;base64," + slicePng;
    prob.download = "probability.png";
  }
}

// One file, or several: the files of DICOM series, or the numbered image slices of one scan (the server refuses
// anything else, saying why). Files holding
// several series come back as a 400 listing them: the page offers the choice and sends them again with `series`;
// a 4-D NIfTI (several modalities in one file) likewise with `volume`. `pick`: {field: "series"|"volume", index}.
async function upload(fileList, pick = null) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  state.files = files;
  $("series-row").hidden = true;
  const file = files.length === 1 ? files[0] : { name: `${files.length} files` };
  $("result").dataset.ready = "0";
  setStatus(`Segmenting ${file.name} …`);
  const form = new FormData();
  files.forEach((f) => form.append("file", f));
  if (pick !== null) form.append(pick.field, String(pick.index));
  if ($("want-prob").checked) form.append("probabilities", "true");
  if ($("every-lesion").checked) form.append("every_lesion", "true");
  let res;
  try {
    res = await fetch("/api/segment", { method: "POST", body: form });
  } catch (e) {
    setStatus("The server could not be reached.", true);
    return;
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    setStatus(`Error ${res.status}: ${body.detail || res.statusText}`, true);
    if (Array.isArray(body.series)) offerSeries(body.series);
    else if (Array.isArray(body.volumes)) offerVolumes(body.volumes);
    return;
  }
  state.data = body; state.images = []; state.overlays = []; state.heat = []; state.measures = [];
  $("show-row").hidden = !body.slices[0].prob_png;
  if ($("show-row").hidden) $("show").value = "mask";
  state.slice = body.shown_slice;
  $("slice-row").hidden = body.n_slices < 2;
  $("slice").max = String(body.n_slices - 1);
  $("slice").value = String(body.shown_slice);
  $("model").textContent = body.model_choice || `${body.model} (${body.backend})`;
  $("time").textContent = `${body.time_ms.toFixed(0)} ms`;
  $("size").textContent = `${body.width} × ${body.height}` + (body.n_slices > 1 ? ` × ${body.n_slices} slices` : "");
  // volumes (NIfTI, DICOM): slices with tumour, mL, longest axial diameter, or "no tumour found"
  const summary = body.summary ? body.summary.text.charAt(0).toUpperCase() + body.summary.text.slice(1) : "";
  $("summary").textContent = summary;
  $("summary").dataset.found = body.summary ? String(body.summary.tumour_found) : "";
  $("summary").hidden = $("summary-label").hidden = !body.summary;
  $("note").textContent = body.note || "";  // e.g. t1c on one slice: a mark is not evidence of a tumour
  $("note").hidden = !body.note;
  $("result").hidden = false;
  setDownload();
  await draw();
  if (Array.isArray(body.volumes)) offerVolumes(body.volumes, body.volume);  // the file's other volumes
  setStatus(body.tumour_found ? `${file.name}: done.` : `${file.name}: No tumour found.`);
}

// The DICOM files of a folder: DICOMDIR, hidden files (.DS_Store) and files with other extensions left out
// (series files are named *.dcm, *.ima, without extension, or after their UID: 1.2.840.113619.2.55.3.604688119).
const MAX_FILES = 1000;
function dicomFiles(files) {
  return Array.from(files).filter((f) => {
    const name = f.name;
    if (name.startsWith(".") || name.toUpperCase() === "DICOMDIR") return false;
    const dot = name.lastIndexOf(".");
    const ext = dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
    return ext === "" || ext === "dcm" || ext === "dicom" || ext === "ima" || /^\d+$/.test(ext);
  });
}

// A folder's DICOM files; a folder without any: its image files (the slices of one scan, numbered in their names).
const IMAGE_EXT = ["png", "jpg", "jpeg", "tif", "tiff", "bmp"];
function folderFiles(files) {
  const dicom = dicomFiles(files);
  if (dicom.length) return dicom;
  return Array.from(files).filter((f) => !f.name.startsWith(".") &&
    IMAGE_EXT.includes(f.name.slice(f.name.lastIndexOf(".") + 1).toLowerCase()));
}

// Files under a dropped folder (one series folder; sub-folders are read too, up to MAX_FILES files).
async function filesOfEntry(entry, out) {
  if (out.length >= MAX_FILES) return;
  if (entry.isFile) {
    out.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    return;
  }
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return;
    for (const e of batch) await filesOfEntry(e, out);
  }
}

async function dropped(e) {
  const entries = Array.from(e.dataTransfer.items || []).map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry());
  if (!entries.some((en) => en && en.isDirectory)) return upload(e.dataTransfer.files);
  const files = [];
  for (const en of entries) if (en) await filesOfEntry(en, files);
  return upload(folderFiles(files));
}

// The row that offers a choice among the upload's series or volumes; `field`: the form field the choice is sent as.
function offerChoice(field, what, button, items, chosen = null) {
  const select = $("series-choice");
  select.replaceChildren(...items.map(({ index, text }) => {
    const o = document.createElement("option");
    o.value = String(index);
    o.textContent = text;
    return o;
  }));
  if (chosen !== null && chosen !== undefined) select.value = String(chosen);
  state.pickField = field;
  $("series-what").textContent = what;
  $("series-go").textContent = button;
  $("series-row").hidden = false;
}

function offerSeries(series) {
  offerChoice("series", "Several series in these files:", "Segment this series", series.map((s) => (
    { index: s.index, text: `${s.number ?? "?"}: ${s.description || "(no description)"} (${s.files} files)` })));
}

function offerVolumes(volumes, chosen = null) {
  offerChoice("volume", `This file holds ${volumes.length} volumes:`, "Segment this volume",
              volumes.map((v) => ({ index: v.index, text: v.label })), chosen);
}

$("series-go").addEventListener("click", () => upload(state.files,
  { field: state.pickField, index: parseInt($("series-choice").value, 10) }));
$("file").addEventListener("change", (e) => upload(e.target.files));
$("folder").addEventListener("change", (e) => {
  const files = folderFiles(e.target.files);
  if (!files.length) setStatus("No DICOM files (.dcm, .ima or without extension) or images in that folder.", true);
  else upload(files);
});
$("opacity").addEventListener("input", () => state.data && draw());
$("show").addEventListener("change", () => state.data && draw());
$("slice").addEventListener("input", (e) => { state.slice = parseInt(e.target.value, 10); setDownload(); draw(); });
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => { dropped(e); });
fetch("/api/model").then((r) => r.json()).then((m) => {
  // the model users name (t1c, flair, a checkpoint file), its network and backend; without --model: per upload
  $("model-footer").textContent = m.per_upload
    ? `model: the bundled one that fits each upload (default ${m.model}: ${m.name}, ${m.backend})`
    : `model: ${m.model} (${m.name}, ${m.backend})`;
}).catch(() => {});

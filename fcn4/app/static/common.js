// fcn4 app: helpers shared by the pages, and the drop zone. Plain JavaScript, no libraries.
// Every text from the store (paths, tags) goes in as textContent, never as HTML.
"use strict";

function el(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, {credentials: "same-origin"});
  const body = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  const m = Math.floor(value / 60), s = Math.floor(value % 60);
  return m + ":" + String(s).padStart(2, "0");
}

function tagBars(container, tags, shown) {
  container.replaceChildren();
  for (const {tag, probability, threshold} of tags.slice(0, shown || tags.length)) {
    const row = el("div", {class: "bar", "data-tag": tag});
    row.append(el("span", {class: "label"}, tag));
    const track = el("span", {class: "track"});
    const fill = el("span", {class: "fill" + (threshold !== undefined && probability >= threshold ? " above" : "")});
    fill.style.width = (100 * probability).toFixed(1) + "%";
    track.append(fill);
    if (threshold !== undefined) {
      const mark = el("span", {class: "threshold", title: "the card's threshold " + threshold});
      mark.style.left = (100 * threshold).toFixed(1) + "%";
      track.append(mark);
    }
    row.append(track, el("span", {class: "value"}, probability.toFixed(3)));
    container.append(row);
  }
}

function neighbourList(list, neighbours) {
  list.replaceChildren();
  if (!neighbours.length) list.append(el("li", {class: "hint"}, "no other track in the store"));
  for (const n of neighbours) {
    const item = el("li", {class: "neighbour", "data-key": n.key});
    const head = el("div", {class: "head"});
    head.append(el("span", {class: "similarity", title: "cosine similarity"}, n.similarity.toFixed(3)), " ",
                el("a", {href: n.page, title: n.path}, n.name));
    item.append(head, el("div", {class: "tags"}, (n.top_tags || []).join(" · ")),
                el("audio", {controls: "", preload: "none", src: n.audio}));
    list.append(item);
  }
}

async function tagDropped(file) {
  const result = document.getElementById("drop-result");
  const limit = Number(document.body.dataset.maxUpload);
  result.replaceChildren(el("p", {class: "busy"}, "tagging " + file.name + " ..."));
  if (file.size > limit) {
    result.replaceChildren(el("p", {class: "error"}, file.name + " is larger than this server's limit (" +
      limit.toLocaleString() + " bytes); start fcn4 app with a larger --max-upload-mb"));
    return;
  }
  try {
    const response = await fetch("/api/tag?name=" + encodeURIComponent(file.name),
      {method: "POST", body: file, credentials: "same-origin", headers: {"Content-Type": "application/octet-stream"}});
    const body = await response.json().catch(() => ({error: response.statusText}));
    result.replaceChildren(el("h2", {}, body.name || file.name));
    if (!response.ok || body.error) {
      result.append(el("p", {class: "error"}, body.error || response.statusText));
      return;
    }
    if (body.note) result.append(el("p", {class: "hint"}, body.note));
    const bars = el("div", {class: "bars", id: "drop-tags"});
    tagBars(bars, body.tags, 10);
    result.append(bars);
    if (document.body.dataset.embeddings === "yes") {
      result.append(el("h3", {}, "Nearest tracks"));
      const list = el("ol", {class: "neighbours", id: "drop-neighbours"});
      neighbourList(list, body.neighbours || []);
      result.append(list);
    }
  } catch (problem) {
    result.replaceChildren(el("p", {class: "error"}, "the upload failed: " + problem.message));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("drop");
  const input = document.getElementById("drop-input");
  for (const kind of ["dragenter", "dragover"]) {
    document.addEventListener(kind, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  document.addEventListener("dragleave", () => zone.classList.remove("over"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) tagDropped(file);
  });
  input.addEventListener("change", () => { if (input.files[0]) tagDropped(input.files[0]); });
});

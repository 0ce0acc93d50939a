// A track: its tags as bars, its taggram, the player with the centre clip marked, its nearest tracks.
"use strict";

function drawTaggram(canvas, taggram) {
  const labels = taggram.labels, values = taggram.values, windows = taggram.starts.length;
  const ctx = canvas.getContext("2d");
  const left = 110, rowHeight = Math.max(6, Math.min(16, Math.floor(380 / labels.length)));
  canvas.height = rowHeight * labels.length + 20;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!windows) return;
  const width = (canvas.width - left) / windows;
  ctx.font = Math.min(12, rowHeight) + "px sans-serif";
  for (let c = 0; c < labels.length; c++) {
    ctx.fillStyle = "#333";
    ctx.fillText(labels[c], 2, c * rowHeight + rowHeight - 2, left - 6);
    for (let w = 0; w < windows; w++) {
      const v = values[c][w];
      ctx.fillStyle = "rgb(" + Math.round(255 - 200 * v) + "," + Math.round(255 - 140 * v) + "," + Math.round(255 - 40 * v) + ")";
      ctx.fillRect(left + w * width, c * rowHeight, Math.ceil(width), rowHeight);
    }
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const article = document.getElementById("track");
  const key = article.dataset.key;
  const player = document.getElementById("player");
  player.addEventListener("error", async () => {
    const message = document.getElementById("audio-error");
    try { await getJSON(player.src); } catch (problem) { message.textContent = problem.message; }
    if (!message.textContent) message.textContent = "the browser cannot play this file";
    message.hidden = false;
  });
  let track;
  try {
    track = await getJSON("/api/tracks/" + key);
  } catch (problem) {
    article.append(el("p", {class: "error"}, problem.message));
    return;
  }
  tagBars(document.getElementById("tags"), track.tags, 20);
  const clip = document.getElementById("clip"), cursor = document.getElementById("cursor");
  if (track.clip && track.duration) {
    clip.style.left = (100 * track.clip[0] / track.duration) + "%";
    clip.style.width = (100 * (track.clip[1] - track.clip[0]) / track.duration) + "%";
    clip.title = "centre clip " + seconds(track.clip[0]) + "–" + seconds(track.clip[1]);
  }
  player.addEventListener("timeupdate", () => {
    if (track.duration) cursor.style.left = (100 * player.currentTime / track.duration) + "%";
  });
  document.getElementById("timeline").addEventListener("click", (event) => {
    const box = event.currentTarget.getBoundingClientRect();
    if (track.duration) player.currentTime = track.duration * (event.clientX - box.left) / box.width;
  });
  const canvas = document.getElementById("taggram");
  if (canvas && track.taggram) drawTaggram(canvas, track.taggram);
  if (track.neighbours) {
    const list = document.getElementById("neighbours");
    list.replaceChildren(el("li", {class: "hint"}, "searching ..."));
    try {
      neighbourList(list, (await getJSON(track.neighbours + "?k=10")).neighbours);
    } catch (problem) {
      list.replaceChildren(el("li", {class: "error"}, problem.message));
    }
  }
  article.dataset.ready = "yes";
});

// The library table: pages of /api/tracks, sorted, searched and filtered on the server.
"use strict";

const state = {q: "", tag: "", min: "", sort: "path", order: "asc", offset: 0, limit: 50};

async function load() {
  const params = new URLSearchParams({sort: state.sort, order: state.order, offset: state.offset, limit: state.limit});
  if (state.q) params.set("q", state.q);
  if (state.tag) { params.set("tag", state.tag); if (state.min) params.set("min", state.min); }
  const count = document.getElementById("count");
  const body = document.querySelector("#tracks tbody");
  let page;
  try {
    page = await getJSON("/api/tracks?" + params);
  } catch (problem) {
    count.textContent = problem.message;
    count.classList.add("error");
    return;
  }
  count.classList.remove("error");
  count.textContent = page.total.toLocaleString() + " tracks";
  body.replaceChildren();
  for (const t of page.tracks) {
    const row = el("tr", {"data-key": t.key});
    const name = el("td", {class: "path"});
    name.append(el("a", {href: t.page, title: t.path}, t.path));
    const tags = el("td", {class: "tags"});
    for (const tag of t.top_tags) tags.append(el("span", {class: "chip"}, tag));
    row.append(name, el("td", {class: "num"}, seconds(t.duration)), tags);
    body.append(row);
  }
  const last = Math.min(page.total, state.offset + page.tracks.length);
  document.getElementById("position").textContent =
    page.total ? (state.offset + 1) + "–" + last + " of " + page.total.toLocaleString() : "";
  document.getElementById("prev").disabled = state.offset === 0;
  document.getElementById("next").disabled = last >= page.total;
  document.getElementById("tracks").dataset.loaded = String(Date.now());
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.classList.toggle("asc", th.dataset.sort === state.sort && state.order === "asc");
    th.classList.toggle("desc", th.dataset.sort === state.sort && state.order === "desc");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  let timer = null;
  const refresh = () => { state.offset = 0; clearTimeout(timer); timer = setTimeout(load, 150); };
  document.getElementById("q").addEventListener("input", (e) => { state.q = e.target.value; refresh(); });
  document.getElementById("tag").addEventListener("change", (e) => { state.tag = e.target.value; refresh(); });
  document.getElementById("min").addEventListener("input", (e) => { state.min = e.target.value; refresh(); });
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
  document.getElementById("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit); load(); });
  document.getElementById("next").addEventListener("click", () => { state.offset += state.limit; load(); });
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => {
      state.order = state.sort === th.dataset.sort && state.order === "asc" ? "desc" : "asc";
      state.sort = th.dataset.sort;
      state.offset = 0;
      load();
    });
  }
  load();
});

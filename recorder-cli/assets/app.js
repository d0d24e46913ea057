// camrec's playback page: cameras, a day timeline of each, HLS playback
// seekable by wall-clock time, exports. Plain JS, no build step. Times on
// the page are UTC, like the object names.
"use strict";
(function () {
  const DAY_MS = 86400000;
  const WINDOW_BEFORE_MS = 3600000, WINDOW_AFTER_MS = 3 * 3600000;
  const $ = (id) => document.getElementById(id);
  const state = { cameras: [], day: 0, camera: null, hls: null, win: null, frags: [], pendingSeek: null };

  const iso = (ms) => new Date(ms).toISOString();
  const hms = (ms) => iso(ms).slice(11, 19);
  const api = (path) => fetch(path).then(async (r) => {
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
    return body;
  });
  const showError = (e) => { $("error").textContent = e ? String(e.message || e) : ""; };
  const camPath = (id) => "api/cameras/" + encodeURIComponent(id);
  const dayRange = () => "start=" + iso(state.day) + "&end=" + iso(state.day + DAY_MS);
  const timeOfDay = (input) => {
    const [h, m, s] = (input.value || "00:00:00").split(":").map(Number);
    return state.day + ((h * 60 + m) * 60 + (s || 0)) * 1000;
  };
  const setTimeInput = (input, ms) => { input.value = hms(ms); };

  // Media time <-> wall-clock time through the playlist's
  // EXT-X-PROGRAM-DATE-TIME (each fragment's programDateTime, ms).
  function wallToMedia(t) {
    const f = state.frags;
    for (let i = 0; i < f.length; i++) {
      const end = f[i].programDateTime + f[i].duration * 1000;
      if (t < end) return f[i].start + Math.max(0, t - f[i].programDateTime) / 1000;
    }
    return null;
  }
  function mediaToWall(x) {
    const f = state.frags;
    for (let i = f.length - 1; i >= 0; i--) {
      if (x >= f[i].start) return f[i].programDateTime + (x - f[i].start) * 1000;
    }
    return null;
  }

  function seekWall(t) {
    const video = $("video");
    const w = state.win;
    if (w && (t < w.from || t >= w.to)) { play(w.camera, t); return true; }
    if (!state.frags.length) { state.pendingSeek = t; return false; }
    const x = wallToMedia(t);
    if (x === null) { $("status").textContent = "Nothing recorded after " + iso(t); return false; }
    video.currentTime = x;
    video.play().catch(() => {});
    return true;
  }

  // Plays camera `id` from wall-clock time `t`. The playlist covers a few
  // hours around `t` (a day of 1 s fragments is 86,400 entries); a seek
  // outside them loads the next window.
  function play(id, t) {
    state.camera = id;
    $("camera").value = id;
    setTimeInput($("at"), t);
    const w = state.win;
    if (state.hls && w && w.camera === id && t >= w.from && t < w.to) { seekWall(t); return; }
    const from = Math.max(state.day, t - WINDOW_BEFORE_MS), to = Math.min(state.day + DAY_MS, t + WINDOW_AFTER_MS);
    const url = camPath(id) + "/hls.m3u8?start=" + iso(from) + "&end=" + iso(to);
    if (state.hls) state.hls.destroy();
    state.frags = [];
    state.pendingSeek = t;
    state.win = { camera: id, from: from, to: to };
    if (!window.Hls || !Hls.isSupported()) { showError("this browser cannot play HLS (no Media Source Extensions)"); return; }
    const hls = new Hls({ maxBufferLength: 20 });
    state.hls = hls;
    hls.on(Hls.Events.LEVEL_LOADED, (_, data) => {
      state.frags = data.details.fragments.filter((f) => f.programDateTime !== null);
      if (state.pendingSeek !== null) { const p = state.pendingSeek; state.pendingSeek = null; seekWall(p); }
    });
    hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) showError("playback: " + data.details); });
    hls.loadSource(url);
    hls.attachMedia($("video"));
  }

  function cursor() {
    const t = mediaToWall($("video").currentTime);
    document.querySelectorAll(".cursor").forEach((c) => c.remove());
    if (t === null || state.camera === null) return;
    $("status").textContent = state.camera + " at " + iso(t).replace("T", " ").slice(0, 23) + " UTC";
    document.querySelectorAll('.timeline[data-camera="' + CSS.escape(state.camera) + '"]').forEach((row) => {
      const from = Number(row.dataset.from), to = Number(row.dataset.to);
      if (t < from || t >= to) return;
      const c = document.createElement("div");
      c.className = "cursor";
      c.style.left = ((t - from) / (to - from) * 100) + "%";
      row.appendChild(c);
    });
  }

  // A bar for [start, end) on a timeline showing [from, to).
  function bar(cls, start, end, from, to, title) {
    const d = document.createElement("div");
    d.className = cls;
    const a = Math.max(start, from), b = Math.min(end, to);
    d.style.left = ((a - from) / (to - from) * 100) + "%";
    d.style.width = ((b - a) / (to - from) * 100) + "%";
    d.title = title + " " + hms(start) + "–" + hms(end);
    d.dataset.start = iso(start);
    d.dataset.end = iso(end);
    return d;
  }

  // A timeline of [from, to) with the recordings and gaps of `rec`;
  // a click plays from the time clicked.
  function timeline(cam, rec, from, to, zoom) {
    const line = document.createElement("div");
    line.className = zoom ? "timeline zoom" : "timeline";
    line.dataset.camera = cam.id;
    line.dataset.from = from;
    line.dataset.to = to;
    for (const s of rec.segments) line.appendChild(bar("span", Date.parse(s.start), Date.parse(s.end), from, to, "recorded"));
    for (const g of rec.gaps) line.appendChild(bar("gap", Date.parse(g.start), Date.parse(g.end), from, to, "gap"));
    line.addEventListener("click", (ev) => {
      const r = line.getBoundingClientRect();
      play(cam.id, from + Math.round((ev.clientX - r.left) / r.width * (to - from)));
    });
    const ticks = document.createElement("div");
    ticks.className = "ticks";
    for (let i = 0; i <= 8; i++) {
      const s = document.createElement("span");
      s.style.left = (i / 8 * 100) + "%";
      const t = from + (to - from) * i / 8;
      s.textContent = zoom ? hms(t) : (i === 8 ? "24:00" : hms(t).slice(0, 5));
      ticks.appendChild(s);
    }
    return [line, ticks];
  }

  async function drawCamera(cam) {
    const box = document.createElement("div");
    box.className = "camera";
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = cam.id;
    box.appendChild(name);
    $("cameras").appendChild(box);
    const rec = await api(camPath(cam.id) + "/recordings?" + dayRange());
    name.textContent = cam.id + " (" + rec.segments.length + " segments, " + rec.gaps.length + " gaps)";
    box.append(...timeline(cam, rec, state.day, state.day + DAY_MS, false));
    if (rec.segments.length) {
      // The recorded part of the day, magnified (short recordings are
      // thinner than a pixel on the day's scale).
      const a = Date.parse(rec.segments[0].start), b = Date.parse(rec.segments[rec.segments.length - 1].end);
      const pad = Math.max(1000, (b - a) * 0.02);
      box.append(...timeline(cam, rec, Math.max(state.day, a - pad), Math.min(state.day + DAY_MS, b + pad), true));
    }
    return rec;
  }

  async function load() {
    showError(null);
    $("cameras").textContent = "";
    $("camera").textContent = "";
    for (const cam of state.cameras) {
      const o = document.createElement("option");
      o.value = o.textContent = cam.id;
      $("camera").appendChild(o);
    }
    if (!state.cameras.length) { $("cameras").textContent = "No recordings yet."; return; }
    await Promise.all(state.cameras.map(drawCamera));
    updateExport();
    window.camrec.ready = true;
  }

  function updateExport() {
    const id = $("camera").value;
    if (!id) return;
    $("export").href = camPath(id) + "/export.mp4?start=" + iso(timeOfDay($("from"))) + "&end=" + iso(timeOfDay($("to")));
  }

  async function init() {
    try {
      const list = await api("api/cameras");
      state.cameras = list.cameras || list;
      const last = Math.max(0, ...state.cameras.map((c) => Date.parse(c.last_recording) || 0));
      const day = last ? last - last % DAY_MS : Date.now() - Date.now() % DAY_MS;
      state.day = day;
      $("day").value = iso(day).slice(0, 10);
      const first = state.cameras.length ? Date.parse(state.cameras[0].first_recording) || day : day;
      setTimeInput($("from"), Math.max(day, first));
      setTimeInput($("to"), Math.min(Math.max(day, first) + 60000, day + DAY_MS - 1000));
      await load();
    } catch (e) { showError(e); }
  }

  $("day").addEventListener("change", () => {
    state.day = Date.parse($("day").value + "T00:00:00Z");
    if (state.hls) { state.hls.destroy(); state.hls = null; state.frags = []; state.win = null; }
    load().catch(showError);
  });
  $("play").addEventListener("click", () => play($("camera").value, timeOfDay($("at"))));
  ["camera", "from", "to"].forEach((id) => $(id).addEventListener("change", updateExport));
  $("video").addEventListener("timeupdate", cursor);

  // For scripts and tests: seek by wall-clock time, read it back.
  window.camrec = {
    ready: false,
    play: (id, isoTime) => play(id, Date.parse(isoTime)),
    seekWall: (isoTime) => seekWall(Date.parse(isoTime)),
    wallTime: () => { const t = mediaToWall($("video").currentTime); return t === null ? null : iso(t); },
  };
  init();
})();

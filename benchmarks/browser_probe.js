// Injected into every page before JupyterLab loads (benchmarks/browser.py). It records, while armed:
// - t0: the first pointerdown / mousedown / input / change event (the user's click or pick);
// - every DOM mutation inside the explorer (MutationObserver) and every 2-D canvas draw call on a canvas
//   inside it (bqplot SVG, ImageGrid tiles, the cytoscape canvas), keeping the time of the last one;
// - every kernel websocket frame, both ways, with its Jupyter msg_type, comm method and size, and the
//   kernel's last execution_state;
// - the time at which every `data-ddp-drawn` mark in the explorer (the "drawn" marks views publish) first
//   carries the selection generation after the one seen when armed;
// - with `tracing` set, a timeline [ms after the click, what, where] of all of the above.
(() => {
  const R = {
    armed: false, t0: null, tDown: null, lastChange: 0, lastMark: 0, markTarget: null, nMut: 0, nDraw: 0, frames: [],
    lastRecv: 0, lastSent: 0, lastIdle: 0, state: "idle", observer: null,
  };
  window.__ddpBench = R;
  const MARK = "data-ddp-drawn";
  const IGNORE = ".bqplot-tooltip, .tippy-popper, .jupyter-widgets-tooltip";
  const now = () => performance.now();
  const decoder = new TextDecoder();

  function describe(data) {
    let text = "";
    let bytes = 0;
    if (typeof data === "string") {
      text = data.slice(0, 16384);
      bytes = data.length;
    } else if (data instanceof ArrayBuffer) {
      bytes = data.byteLength;
      text = decoder.decode(new Uint8Array(data, 0, Math.min(bytes, 16384)));
    } else if (ArrayBuffer.isView(data)) {
      bytes = data.byteLength;
      text = decoder.decode(new Uint8Array(data.buffer, data.byteOffset, Math.min(bytes, 16384)));
    }
    const type = (text.match(/"msg_type"\s*:\s*"(\w+)"/) || [])[1] || "?";
    const method = (text.match(/"method"\s*:\s*"(\w+)"/) || [])[1] || "";
    const state = (text.match(/"execution_state"\s*:\s*"(\w+)"/) || [])[1] || "";
    return { type, method, state, bytes };
  }

  const NativeWS = window.WebSocket;
  class RecordingWebSocket extends NativeWS {
    constructor(...args) {
      super(...args);
      if (!String(args[0]).includes("/api/kernels/")) return;
      this.addEventListener("message", (event) => {
        const f = describe(event.data);
        const t = now();
        if (f.type === "status") {
          R.state = f.state;
          if (f.state === "idle") R.lastIdle = t;
        }
        R.lastRecv = t;
        if (R.armed) R.frames.push({ dir: "in", t, ...f });
        if (R.armed && R.trace && R.t0 !== null) R.trace.push([t - R.t0, "recv " + f.type + " " + f.method, f.type === "stream" ? (typeof event.data === "string" ? event.data : decoder.decode(event.data)).slice(-400) : f.bytes]);
      });
    }
    send(data) {
      if (String(this.url).includes("/api/kernels/")) {
        const t = now();
        R.lastSent = t;
        if (R.armed) R.frames.push({ dir: "out", t, ...describe(data) });
      }
      return super.send(data);
    }
  }
  window.WebSocket = RecordingWebSocket;

  // canvas draws inside the explorer count as changes
  const inside = new WeakMap();
  function inExplorer(canvas) {
    if (!canvas || !canvas.isConnected) return false;
    let hit = inside.get(canvas);
    if (hit === undefined) {
      hit = !!canvas.closest(".ddp-explorer");
      inside.set(canvas, hit);
    }
    return hit;
  }
  const proto = window.CanvasRenderingContext2D && CanvasRenderingContext2D.prototype;
  const DRAWS = ["drawImage", "putImageData", "fillRect", "clearRect", "fill", "stroke", "fillText", "strokeText"];
  for (const name of proto ? DRAWS : []) {
    const native = proto[name];
    proto[name] = function (...args) {
      if (R.armed && R.t0 !== null && inExplorer(this.canvas)) {
        R.lastChange = now();
        R.nDraw += 1;
        if (R.trace) R.trace.push([R.lastChange - R.t0, "draw " + name, this.canvas.parentElement && this.canvas.parentElement.className]);
      }
      return native.apply(this, args);
    };
  }

  // the click is its release (pointerup: the widgets act on "click" / cytoscape's "tap"); a pick in a
  // <select> is its input event; the press is kept apart (a real press lasts ~100 ms, Playwright's less)
  for (const type of ["pointerdown", "mousedown"]) {
    document.addEventListener(type, () => {
      if (R.armed && R.tDown === null) R.tDown = now();
    }, true);
  }
  for (const type of ["pointerup", "mouseup", "input", "change"]) {
    document.addEventListener(type, () => {
      if (R.armed && R.t0 === null) R.t0 = now();
    }, true);
  }

  // main-thread tasks over 50 ms
  const longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
      if (longTasks.length > 2000) longTasks.splice(0, 1000);
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { /* not supported: reported as 0 */ }

  function onMutations(records) {
    if (!R.armed || R.t0 === null) return;
    const t = now();
    let markChanged = false;
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (el && el.closest && el.closest(IGNORE)) continue;
      R.nMut += 1;
      R.lastChange = t;
      if (R.trace) R.trace.push([t - R.t0, r.type + " " + (r.attributeName || ""), el && (el.getAttribute("class") || el.tagName)]);
      if (r.type === "attributes" && r.attributeName === MARK) markChanged = true;
      if (r.type === "childList") {
        for (const n of r.addedNodes) {
          if (n.nodeType === 1 && (n.hasAttribute(MARK) || n.querySelector("[" + MARK + "]"))) markChanged = true;
        }
      }
    }
    // the marks are HTML widgets (their spans are replaced, not edited): the click is drawn when every
    // mark in the explorer carries the generation after the one seen when armed
    if (markChanged && R.markTarget !== null && allMarksReach(R.markTarget)) R.lastMark = R.lastMark || t;
  }

  function marks() {
    return [...document.querySelectorAll(".ddp-explorer [" + MARK + "]")].map((e) => +e.getAttribute(MARK));
  }

  function allMarksReach(g) {
    const all = marks();
    return all.length > 0 && all.every((v) => v >= g);
  }

  R.arm = () => {
    const root = document.querySelector(".ddp-explorer");
    if (!root) throw new Error("no .ddp-explorer on the page");
    const seen = marks();
    Object.assign(R, { armed: true, t0: null, tDown: null, lastChange: 0, lastMark: 0, nMut: 0, nDraw: 0, frames: [],
      trace: R.tracing ? [] : null, markTarget: seen.length ? Math.max(...seen) + 1 : null });
    R.observer = new MutationObserver(onMutations);
    R.observer.observe(root, { subtree: true, childList: true, attributes: true, characterData: true });
    return true;
  };

  // Resolves once the click was seen, the kernel is idle after the last message the page sent, and
  // nothing changed (DOM, canvas, websocket) for `quiet` ms. The quiet period itself is not counted:
  // the end is the time of the last change. `noop` ms without any message to the kernel: a local change.
  R.settle = async (quiet, timeout, noop, markOnly) => {
    const start = now();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const t = now();
      if (t - start > timeout) return R.finish("timeout", markOnly);
      if (R.t0 === null) {
        if (t - start > noop) return R.finish("no input event", markOnly);
        continue;
      }
      const sent = R.frames.some((f) => f.dir === "out");
      if (!sent && t - R.t0 < noop) continue;
      const idle = !sent || (R.state === "idle" && R.lastIdle >= R.lastSent);
      const last = Math.max(R.lastChange, R.lastRecv, R.t0);
      if (idle && t - last >= quiet) return R.finish(sent ? "" : "no kernel message", markOnly);
    }
  };

  R.finish = (error, markOnly) => {
    R.armed = false;
    if (R.observer) R.observer.disconnect();
    R.observer = null;
    const end = markOnly ? R.lastMark : R.lastChange;
    const count = (dir, pred) => R.frames.filter((f) => f.dir === dir && pred(f));
    const sum = (fs) => fs.reduce((a, f) => a + f.bytes, 0);
    const incoming = count("in", (f) => f.type !== "status");
    const opens = count("in", (f) => f.type === "comm_open");
    const closes = count("in", (f) => f.type === "comm_close");
    const updates = count("in", (f) => f.type === "comm_msg");
    const echoes = count("in", (f) => f.method === "echo_update");
    const out = count("out", () => true);
    const t0 = R.t0 === null ? Infinity : R.t0;
    const replies = incoming.filter((f) => f.t >= t0);
    const busy = longTasks.filter((e) => e.start + e.duration > t0 && e.start < end)
      .reduce((a, e) => a + Math.min(e.start + e.duration, end) - Math.max(e.start, t0), 0);
    return {
      trace: R.trace,
      press: R.tDown !== null && R.t0 !== null ? R.t0 - R.tDown : null,
      first_reply: replies.length ? replies[0].t - t0 : null,
      last_reply: replies.length ? replies[replies.length - 1].t - t0 : null,
      long_tasks: busy,
      error, latency: R.t0 !== null && end > R.t0 ? end - R.t0 : null,
      mark_latency: R.t0 !== null && R.lastMark > R.t0 ? R.lastMark - R.t0 : null,
      mutations: R.nMut, draws: R.nDraw,
      msgs_in: incoming.length, bytes_in: sum(incoming), comm_open: opens.length, comm_close: closes.length,
      comm_msg_in: updates.length, echo_update: echoes.length, msgs_out: out.length, bytes_out: sum(out),
    };
  };

  // a fixed workload: how fast this page's main thread is right now (JS arithmetic, then DOM + layout)
  R.speed = () => {
    let t = now();
    let acc = 0;
    for (let i = 1; i < 20000000; i++) acc += Math.sqrt(i) % 7;
    const js = now() - t;
    t = now();
    const box = document.createElement("div");
    document.body.appendChild(box);
    for (let i = 0; i < 3000; i++) {
      const d = document.createElement("div");
      d.textContent = `row ${i} ${acc % 10}`;
      d.style.width = `${(i % 50) + 10}px`;
      box.appendChild(d);
    }
    const height = box.getBoundingClientRect().height;
    box.remove();
    return { js, dom: now() - t, height };
  };
})();

#!/usr/bin/env python3
"""The attention viewer in a real browser (docs/viewer.md, "The test").

    test_viewer_browser.py ATTN_PLAY VIEWER_TRUTH SCRATCH_DIR

1. viewer_truth makes an untrained minatar model; attn-play --html writes the page of its greedy episode;
   viewer_truth replays that episode through the library alone (observations, actions, attn_get_maps).
2. data.js is read with the decoder below, written from docs/viewer.md, and must hold those steps exactly.
3. Headless Chromium opens index.html from disk (file://), driven over the DevTools protocol on a pipe. The
   test reads the screenshot's pixels, never the page's own numbers: the drawn frame must be the observation
   of the step shown, cell by cell in the game's colours; every drawn map, large and small, must have each
   cell as bright as its weight relative to the peak (so the brightest cell is where attn_get_maps has its
   largest weight, and a transposed or shifted map fails); the peak and centre marks must sit where the
   library's map puts them. It opens the page at one step by address (#step=), then moves the cursor by
   clicking the timeline and by the arrow key, and checks the frame changed to the right one; a fresh load of
   the address the page wrote must draw the same pixels; play must advance. Any script error, console error,
   failed load or request that is not a local file fails.

Exit 0 on success, 1 on any failure, 77 (skip) when Chromium is not installed.
"""
import base64
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

GAME = "seaquest"
SEED = 3
MAX_STEPS = 48
SCALES = (5, 10, 20, 35, 50, 80)  # tried for the test model's last query layer (viewer_truth.c)
VIEWPORT_W = 1400
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (230, 230, 230), (188, 189, 34), (23, 190, 207), (174, 199, 232), (152, 223, 138)]

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
        print("FAIL: " + message, flush=True)
    return ok


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {p.returncode}:\n{p.stdout}")
    return p.stdout


# ---- data.js, read as docs/viewer.md describes it -------------------------------------------------------

def read_data_js(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    if len(lines) != 6 or lines[1] != "attnViewerData(" or lines[5] != "" or not lines[4].endswith(");"):
        raise ValueError("data.js does not have the documented layout")
    header = json.loads(lines[2].rstrip(","))
    payload = base64.b64decode(json.loads(lines[3].rstrip(",")), validate=True)
    trailer = json.loads(lines[4][:-2])
    A, N = header["actions"], header["queries"]
    gh, gw = header["grid"]["height"], header["grid"]["width"]
    H, W, C = header["obs"]["height"], header["obs"]["width"], header["obs"]["channels"]
    cells, fixed = gh * gw, 16 + 4 * A + N * (18 + gh * gw)
    assert fixed == header["step_fixed_bytes"], "step_fixed_bytes"
    steps, off, frame = [], 0, bytearray(H * W * C)
    while off < len(payload):
        frame_bytes, flags, _, action, reward, value = struct.unpack_from("<IBBHff", payload, off)
        probs = struct.unpack_from(f"<{A}f", payload, off + 16)
        queries = []
        for n in range(N):
            q = off + 16 + 4 * A + n * (18 + cells)
            entropy, com_y, com_x, peak_weight, peak_cell = struct.unpack_from("<ffffH", payload, q)
            queries.append(dict(entropy=entropy, com_y=com_y, com_x=com_x, peak_weight=peak_weight,
                                peak_cell=peak_cell, map=list(payload[q + 18:q + 18 + cells])))
        p, end, key, i = off + fixed, off + fixed + frame_bytes, flags & 1, 0
        if not key and not steps:
            raise ValueError("step 0 is not a key frame")

        def varint():
            nonlocal p
            v = shift = 0
            while True:
                b = payload[p]
                p += 1
                v |= (b & 127) << shift
                shift += 7
                if not b & 128:
                    return v
        while i < len(frame):
            zeros, lit = varint(), varint()
            for k in range(zeros + lit):
                r = payload[p + k - zeros] if k >= zeros else 0
                pred = (frame[i - C] if i >= C else 0) if key else frame[i]
                frame[i] = r ^ pred
                i += 1
            p += lit
        if p != end:
            raise ValueError(f"step {len(steps)}: the frame code does not end where its length says")
        steps.append(dict(action=action, reward=reward, value=value, probs=probs, queries=queries,
                          frame=bytes(frame), key=key))
        off = end
    if len(steps) != trailer["steps"] or len(payload) != trailer["payload_bytes"]:
        raise ValueError("the trailer disagrees with the steps")
    return header, steps


# ---- PNG (what Page.captureScreenshot returns), decoded with zlib ----------------------------------------

def decode_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and not interlace, "unexpected PNG kind"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw, stride = zlib.decompress(idat), width * bpp
    out, prev = bytearray(height * stride), bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 2:
            line = bytearray((u + v) & 255 for u, v in zip(line, prev))
            f = 0
        for x in range(stride if f else 0):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return Image(width, height, bpp, out)


class Image:
    """Decoded pixels; rgb() takes page coordinates once grab() has set where the image sits."""
    def __init__(self, width, height, bpp, data):
        self.width, self.height, self.bpp, self.data = width, height, bpp, data
        self.left = self.top = 0

    def rgb(self, x, y):
        x, y = x - self.left, y - self.top
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError(f"pixel ({x}, {y}) outside the {self.width}x{self.height} capture")
        i = (y * self.width + x) * self.bpp
        return tuple(self.data[i:i + 3])

    def same(self, other):
        return (self.width, self.height, self.bpp, self.data) == (other.width, other.height, other.bpp, other.data)


# ---- Chromium over the DevTools protocol, on a pipe (--remote-debugging-pipe: fd 3 in, fd 4 out) ---------

class Browser:
    def __init__(self, exe, log_path):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="attn-viewer-profile-")

        def child_fds():
            # dup before dup2: a pipe end that already is fd 3 or 4 would otherwise keep close-on-exec.
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=" + self.profile,
             "--remote-debugging-pipe", "about:blank"],
            preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buf, self.next_id, self.events, self.session = b"", 1, [], None

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (see its log)")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=20):
        i = self.next_id
        self.next_id += 1
        msg = {"id": i, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            if "method" in m:
                self.events.append(m)

    def wait_event(self, method, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            for k, m in enumerate(self.events):
                if m["method"] == method:
                    return self.events.pop(k)
            self.events.append(self._read_message(deadline))

    def open_page(self):
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluating {expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def screenshot(self, path):
        """The whole page as a PNG file, for a person to look at."""
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def grab(self, box):
        """The screen's pixels inside box (left, top, width, height in page pixels), decoded; only the canvas
        under test, since decoding PNG in Python costs about a microsecond per byte."""
        left, top, w, h = box
        png = base64.b64decode(self.call("Page.captureScreenshot", {
            "format": "png", "clip": {"x": left, "y": top, "width": w, "height": h, "scale": 1}})["data"])
        img = decode_png(png)
        if (img.width, img.height) != (w, h):
            raise ValueError(f"a {w}x{h} capture came back {img.width}x{img.height}")
        img.left, img.top = left, top
        return img

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def problems(self):
        """Script errors, console errors, failed loads and non-local requests seen so far."""
        out = []
        for m in self.events:
            p = m.get("params", {})
            if m["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("script error: " + d.get("exception", {}).get("description", d.get("text", "")))
            elif m["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append("browser error: " + p["entry"]["text"])
            elif m["method"] == "Network.loadingFailed":
                out.append("failed load: " + p.get("errorText", ""))
            elif m["method"] == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith(("file:", "data:", "blob:", "about:")):
                    out.append("request that is not a local file: " + url)
        return out


# ---- Reading the drawn page -----------------------------------------------------------------------------

def rects(browser):
    return json.loads(browser.evaluate("""JSON.stringify(Object.fromEntries([...document.querySelectorAll('canvas[id]')]
        .map(c => { const r = c.getBoundingClientRect();
                    return [c.id, [r.left, r.top, r.width, r.height, c.width, c.height]]; })))"""))


def wait_step(browser, step, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.evaluate("document.body.dataset.ready === '1' && document.body.dataset.step") == str(step):
            return True
        time.sleep(0.05)
    return False


def canvas_box(layout, name):
    left, top, w, h, pw, ph = layout[name]
    if abs(w - pw) > 0.5 or abs(h - ph) > 0.5:
        raise ValueError(f"#{name} is scaled by CSS ({w}x{h} for {pw}x{ph}); pixels would be resampled")
    return round(left), round(top), pw, ph


def cell_samples(img, box, rows, cols, y, x, k=4):
    """The pixels on a k x k lattice inside cell (y, x) of a rows x cols grid laid over the canvas."""
    left, top, w, h = box
    x0, x1, y0, y1 = left + x * w / cols, left + (x + 1) * w / cols, top + y * h / rows, top + (y + 1) * h / rows
    return [img.rgb(int(x0 + (x1 - x0) * (i + 1) / (k + 1)), int(y0 + (y1 - y0) * (j + 1) / (k + 1)))
            for j in range(k) for i in range(k)]


def median(values):
    s = sorted(values)
    return s[len(s) // 2]


def check_frame(img, box, truth_obs, H, W, C, what):
    """Every cell of the drawn frame in the colour of its top channel (black where empty)."""
    wrong = []
    for y in range(H):
        for x in range(W):
            cell = truth_obs[(y * W + x) * C:(y * W + x + 1) * C]
            want = (0, 0, 0)
            for k in range(C):
                if cell[k]:
                    want = PALETTE[k % len(PALETTE)]
            got = cell_samples(img, box, H, W, y, x, 3)
            if any(p != want for p in got):
                wrong.append(f"({y},{x}) drawn {got[4]} want {want}")
    return check(not wrong, f"{what}: {len(wrong)} of {H * W} cells differ from the observation: {wrong[:4]}")


def check_map(img, box, weights, gh, gw, what):
    """Each cell's brightness (red + green + blue = 765 t on the page's ramp) against weight / peak weight."""
    peak = max(weights)

    def brightness(c):
        # Pixels off the ramp (red >= green >= blue) belong to a mark drawn over the cell, not to the map.
        for k in (4, 8):
            on_ramp = [sum(p) for p in cell_samples(img, box, gh, gw, c // gw, c % gw, k) if p[0] >= p[1] >= p[2]]
            if len(on_ramp) >= k * k // 4:
                return median(on_ramp) / 765.0
        return -1.0  # no cell is hidden by marks this much; counted as a mismatch
    drawn = [brightness(c) for c in range(gh * gw)]
    worst = max(range(gh * gw), key=lambda c: abs(drawn[c] - weights[c] / peak))
    err = abs(drawn[worst] - weights[worst] / peak)
    ok = check(err <= 0.03, f"{what}: cell {divmod(worst, gw)} drawn at {drawn[worst]:.3f} of the peak, "
                            f"attn_get_maps says {weights[worst] / peak:.3f}")
    brightest = max(range(gh * gw), key=lambda c: drawn[c])
    largest = max(range(gh * gw), key=lambda c: weights[c])
    return check(brightest == largest, f"{what}: brightest drawn cell {divmod(brightest, gw)}, largest weight at "
                                       f"{divmod(largest, gw)}") and ok


def check_marks(img, box, weights, gh, gw, what):
    """The cyan outline around the library's peak cell, the magenta ring's centre at its centre of mass."""
    left, top, w, h = box
    cw, ch = w / gw, h / gh
    largest = max(range(gh * gw), key=lambda c: weights[c])
    py, px = divmod(largest, gw)
    total = sum(weights)
    com_y = sum(weights[c] * (c // gw) for c in range(gh * gw)) / total
    com_x = sum(weights[c] * (c % gw) for c in range(gh * gw)) / total
    inside = outside = 0
    mag_x = mag_y = mag_n = 0
    for y in range(top, top + h):
        for x in range(left, left + w):
            r, g, b = img.rgb(x, y)
            if g > r + 100 and b > r + 100:  # cyan-ish: the heat ramp always has red >= green >= blue
                near = px * cw - 3 <= x - left <= (px + 1) * cw + 3 and py * ch - 3 <= y - top <= (py + 1) * ch + 3
                inside += near
                outside += not near
            if r > g + 100 and b > g + 100:  # magenta-ish
                mag_x, mag_y, mag_n = mag_x + x - left + 0.5, mag_y + y - top + 0.5, mag_n + 1
    check(inside >= 2 * (cw + ch) and outside <= inside // 20,
          f"{what}: peak mark: {inside} cyan pixels around cell ({py},{px}), {outside} elsewhere")
    if check(mag_n > 0, f"{what}: no centre-of-mass mark"):
        dy, dx = mag_y / mag_n / ch - 0.5 - com_y, mag_x / mag_n / cw - 0.5 - com_x
        check(abs(dy) <= 0.25 and abs(dx) <= 0.25,
              f"{what}: centre mark at ({mag_y / mag_n / ch - 0.5:.2f}, {mag_x / mag_n / cw - 0.5:.2f}) cells, "
              f"the map's centre of mass is ({com_y:.2f}, {com_x:.2f})")


def check_step(browser, truth, t, query, what):
    """Frame, every small map and the large map of step t, read from the screen. Returns the captures."""
    H, W, C = truth["obs"]
    gh, gw = truth["grid"]
    N = truth["queries"]
    layout = rects(browser)
    step = truth["steps"][t]
    maps = [step["maps"][n * gh * gw:(n + 1) * gh * gw] for n in range(N)]
    grabbed = {}
    for name in ["small-frame", "large"] + [f"small-q{n}" for n in range(N)]:
        box = canvas_box(layout, name)
        grabbed[name] = (browser.grab(box), box)
    check_frame(*grabbed["small-frame"], step["obs"], H, W, C, f"{what}: frame")
    for n in range(N):
        check_map(*grabbed[f"small-q{n}"], maps[n], gh, gw, f"{what}: small map Q{n}")
    check_map(*grabbed["large"], maps[query], gh, gw, f"{what}: large map Q{query}")
    check_marks(*grabbed["large"], maps[query], gh, gw, f"{what}: large map Q{query}")
    return {name: img for name, (img, _) in grabbed.items()}


def check_overlay(img, box, weights, obs, H, W, C, what):
    """Over the frame, cells holding clearly less than an even share of attention show the frame's own colour
    (the map is transparent there), and cells well above it do not."""
    n = len(weights)
    clear = kept = painted = 0
    for c, v in enumerate(weights):
        y, x = divmod(c, W)
        cell = obs[c * C:(c + 1) * C]
        want = (0, 0, 0)
        for k in range(C):
            if cell[k]:
                want = PALETTE[k % len(PALETTE)]
        got = cell_samples(img, box, H, W, y, x, 3)
        if v < 0.9 / n:
            clear += 1
            kept += sum(p == want for p in got) >= 6  # the centre-of-mass ring may cross a few samples
        elif (v - 1 / n) / (max(weights) - 1 / n) > 0.5:
            painted += all(p != want for p in got)
    check(clear >= 5 and kept == clear, f"{what}: {kept} of the {clear} cells below an even share show the frame")
    check(painted >= 1, f"{what}: no cell well above an even share is painted over the frame")


def peak_margin(weights):
    top = sorted(weights, reverse=True)
    return 1 - top[1] / top[0]


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    attn_play, truth_exe, scratch = sys.argv[1:]
    chromium = os.environ.get("ATTN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIPPED: chromium not installed (bash scripts/install-deps.sh, or apt-get install chromium)")
        return 77
    started = time.monotonic()
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    model, page_dir, truth_path = (os.path.join(scratch, n) for n in ("model.safetensors", "viewer", "truth.json"))

    # 1. The episode: the page from attn-play, the truth from the library alone. The model's attention is
    #    sharpened by the scale (of a few) whose episode has the most informative map (below).
    def informative(truth, t, n):
        gh, gw = truth["grid"]
        w = truth["steps"][t]["maps"][n * gh * gw:(n + 1) * gh * gw]
        graded = sum(0.1 < v / max(w) < 0.9 for v in w)
        return (peak_margin(w) >= 0.1, graded, peak_margin(w))

    def best_map(truth):
        T, N = len(truth["steps"]), truth["queries"]
        return max(((t, n) for t in range(T - 4) for n in range(N)), key=lambda tn: informative(truth, *tn))

    tried = []
    for scale in SCALES:
        run([truth_exe, "model", model, GAME, "7", str(scale)])
        run([truth_exe, "play", model, GAME, str(SEED), str(MAX_STEPS), truth_path])
        truth = json.load(open(truth_path))
        if len(truth["steps"]) >= 8:
            tried.append((informative(truth, *best_map(truth)), scale))
    if not tried:
        sys.exit(f"every episode is shorter than 8 steps; the test needs more (change SEED)")
    scale = max(tried)[1]
    run([truth_exe, "model", model, GAME, "7", str(scale)])
    out = run([attn_play, "--checkpoint", model, "--env", "minatar:" + GAME, "--episodes", "1", "--seed", str(SEED),
               "--max-steps", str(MAX_STEPS), "--gif-steps", "0", "--png-steps", "", "--html", page_dir])
    check("attention viewer: " + page_dir + "/index.html" in out, "attn-play did not report the viewer:\n" + out)
    run([truth_exe, "play", model, GAME, str(SEED), str(MAX_STEPS), truth_path])
    truth = json.load(open(truth_path))
    T, (gh, gw), N = len(truth["steps"]), truth["grid"], truth["queries"]
    print(f"episode: {T} steps, {N} queries over {gh}x{gw}, query layer x{scale}; "
          f"data.js {os.path.getsize(page_dir + '/data.js')} bytes")
    if T < 8:
        sys.exit(f"the episode has only {T} steps; the test needs at least 8 (change SEED)")

    # 2. data.js holds exactly that episode.
    header, steps = read_data_js(os.path.join(page_dir, "data.js"))
    check(len(steps) == T, f"data.js has {len(steps)} steps, the episode {T}")
    for t, (s, ts) in enumerate(zip(steps, truth["steps"])):
        check(s["frame"] == bytes(ts["obs"]), f"data.js: step {t}'s frame differs from the observation")
        check(s["action"] == ts["action"], f"data.js: step {t}'s action {s['action']}, the library's {ts['action']}")
        check(abs(s["reward"] - ts["reward"]) < 1e-6, f"data.js: step {t}'s reward")
        check(abs(s["value"] - ts["value"]) < 1e-6, f"data.js: step {t}'s value")
        check(abs(sum(s["probs"]) - 1) < 1e-5, f"data.js: step {t}'s probabilities do not sum to 1")
        for n, q in enumerate(s["queries"]):
            w = ts["maps"][n * gh * gw:(n + 1) * gh * gw]
            peak = max(w)
            check(q["peak_cell"] == w.index(peak), f"data.js: step {t} Q{n} peak cell")
            check(max(abs(q["map"][c] / 255 - w[c] / peak) for c in range(gh * gw)) <= 0.5 / 255 + 1e-6,
                  f"data.js: step {t} Q{n}'s map is not attn_get_maps quantised")
        if failures:
            break
    check(sum(s["key"] for s in steps) == (T + header["keyframe_interval"] - 1) // header["keyframe_interval"],
          "data.js: key frames are not every keyframe_interval steps")

    # The step opened by address: the map (of any query, in the first T - 4 steps) with the most cells between
    # a tenth and nine tenths of its peak, whose peak stands at least 10% above the next cell, so that both
    # the brightness of every cell and the brightest cell say something.
    a, q = best_map(truth)
    clear, graded, margin = informative(truth, a, q)
    if not check(clear and graded >= gh * gw // 5, f"no map of the episode at any of the scales {SCALES} has a "
                                                   f"clear peak and a fifth of its cells graded: {tried}"):
        return 1
    print(f"opening step {a} with Q{q} large: {graded} graded cells, the peak {margin:.0%} above the next cell")

    # 3. The browser.
    browser = Browser(chromium, os.path.join(scratch, "chromium.log"))
    try:
        browser.open_page()
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": VIEWPORT_W, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        url = "file://" + os.path.abspath(page_dir) + "/index.html"
        browser.navigate(f"{url}#step={a}&q={q}&frame=0")
        if not check(wait_step(browser, a), f"the page did not show step {a}: {browser.problems()}"):
            return 1
        height = browser.evaluate("document.documentElement.scrollHeight")
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": VIEWPORT_W, "height": height + 20, "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.2)
        browser.screenshot(os.path.join(scratch, f"step_{a}.png"))
        shot_a = check_step(browser, truth, a, q, f"step {a} (opened by address)")

        # Moving the cursor: a click on the timeline, then the arrow key.
        layout = rects(browser)
        left, top, w, h = canvas_box(layout, "timeline")
        shown = []
        for fraction in (0.3, 0.7):
            x, y = left + w * fraction, top + h / 2
            for kind in ("mousePressed", "mouseReleased"):
                browser.call("Input.dispatchMouseEvent",
                             {"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1})
            time.sleep(0.1)
            shown.append(int(browser.evaluate("document.body.dataset.step")))
        b = shown[1]
        check(0 <= shown[0] < shown[1] < T - 1, f"clicks at 30% and 70% of the timeline went to steps {shown}")
        check(wait_step(browser, b), f"the page did not settle on step {b}")
        check(truth["steps"][b]["obs"] != truth["steps"][a]["obs"], f"steps {a} and {b} look alike: pick others")
        browser.screenshot(os.path.join(scratch, f"step_{b}.png"))
        shot_b = check_step(browser, truth, b, q, f"step {b} (timeline click)")
        check(not shot_b["small-frame"].same(shot_a["small-frame"]),
              f"the drawn frame did not change from step {a} to step {b}")
        browser.call("Input.dispatchKeyEvent", {"type": "keyDown", "key": "ArrowRight", "code": "ArrowRight",
                                                "windowsVirtualKeyCode": 39})
        browser.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": "ArrowRight", "code": "ArrowRight",
                                                "windowsVirtualKeyCode": 39})
        check(wait_step(browser, b + 1), "the right arrow key did not move to the next step")
        shot_c = check_step(browser, truth, b + 1, q, f"step {b + 1} (arrow key)")
        if truth["steps"][b + 1]["obs"] != truth["steps"][b]["obs"]:
            check(not shot_c["small-frame"].same(shot_b["small-frame"]),
                  f"the drawn frame did not change from step {b} to step {b + 1}")
        hash_now = browser.evaluate("location.hash")
        fields = dict(kv.split("=", 1) for kv in hash_now.lstrip("#").split("&") if "=" in kv)
        check(fields.get("step") == str(b + 1) and fields.get("q", "0") == str(q) and fields.get("frame") == "0",
              f"the address says {hash_now!r} at step {b + 1} with Q{q} large and the frame hidden")

        # The address the page wrote, loaded afresh, draws the same picture.
        browser.navigate("about:blank")
        browser.navigate(url + hash_now)
        check(wait_step(browser, b + 1), "a fresh load of the written address did not show its step")
        reloaded = browser.grab(canvas_box(rects(browser), "large"))
        check(reloaded.same(shot_c["large"]), "the reloaded address draws another picture")

        # The frame under the maps, switched on by clicking its box.
        x, y = browser.evaluate("(r => [r.left + r.width / 2, r.top + r.height / 2])"
                                "(document.getElementById('show-frame').getBoundingClientRect())")
        for kind in ("mousePressed", "mouseReleased"):
            browser.call("Input.dispatchMouseEvent",
                         {"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1})
        time.sleep(0.1)
        check("frame=0" not in browser.evaluate("location.hash"), "clicking 'frame under the maps' did nothing")
        box = canvas_box(rects(browser), "large")
        H, W, C = truth["obs"]
        check(truth["grid"] == [H, W], "the test's overlay check assumes one map cell per observation cell")
        check_overlay(browser.grab(box), box, truth["steps"][b + 1]["maps"][q * gh * gw:(q + 1) * gh * gw],
                      truth["steps"][b + 1]["obs"], H, W, C, f"step {b + 1} with the frame")

        # Play advances through the episode; the frame it stops on is that step's observation.
        browser.evaluate("setStep(0)")
        browser.evaluate("document.getElementById('play').click()")
        time.sleep(0.6)
        browser.evaluate("document.getElementById('play').click()")
        played = int(browser.evaluate("document.body.dataset.step"))
        check(played >= 2, f"play advanced to step {played} in 0.6 s at 10 steps/s")
        box = canvas_box(rects(browser), "small-frame")
        check_frame(browser.grab(box), box, truth["steps"][played]["obs"], *truth["obs"], f"step {played} (after play)")

        check(browser.evaluate("document.getElementById('error').hidden") is True,
              "the page shows an error: " + str(browser.evaluate("document.getElementById('error').textContent")))
        for p in browser.problems():
            check(False, p)
    finally:
        browser.close()
    print(f"screenshots in {scratch}; {time.monotonic() - started:.1f} s")
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("viewer_browser: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

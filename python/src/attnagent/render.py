"""Pictures of where the agent looks, as RGB arrays (H × W × 3 uint8) for matplotlib, a video writer or a file.

These draw exactly what attn-play draws (examples/render/render.c, the same palette, heat ramp and float32
arithmetic), so a panel made here for a step equals, pixel for pixel, the panel attn-play writes for it below
its title strip (tests/test_attn_play_maps.py checks it).
"""
import struct
import zlib

import numpy as np

_PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (230, 230, 230), (188, 189, 34), (23, 190, 207), (174, 199, 232), (152, 223, 138),
], np.uint8)
_GRID = np.array((56, 56, 56), np.uint8)
_GRID_MIN_SCALE = 4
_STOPS = np.array([[0.00, 0, 0, 0], [0.25, 128, 0, 0], [0.50, 230, 40, 0], [0.75, 255, 200, 0],
                   [1.00, 255, 255, 255]], np.float32)


def render_planes(obs, scale=24):
    """Binary planes (H × W × C, non-zero: an object of channel k) as attn-play draws them: black background,
    channel k in colour k of a fixed palette (later channels over earlier ones), a grid line around every cell
    from scale 4 up."""
    obs = np.asarray(obs)
    if obs.ndim == 2:
        obs = obs[..., None]
    h, w, c = obs.shape
    cell = np.zeros((h, w, 3), np.uint8)
    for k in range(c):
        cell[obs[..., k] != 0] = _PALETTE[k % len(_PALETTE)]
    img = np.repeat(np.repeat(cell, scale, axis=0), scale, axis=1)
    if scale >= _GRID_MIN_SCALE:
        img[::scale, :] = _GRID
        img[:, ::scale] = _GRID
        img[-1, :] = _GRID
        img[:, -1] = _GRID
    return img


def render_rgb(obs, scale=1):
    """An RGB frame (H × W × 3 uint8), or a grey one (H × W or H × W × 1), enlarged `scale` times."""
    obs = np.asarray(obs)
    if obs.ndim == 3 and obs.shape[2] == 1:
        obs = obs[..., 0]
    if obs.ndim == 2:
        obs = np.repeat(obs[..., None], 3, axis=2)
    if obs.dtype != np.uint8:
        obs = np.clip(np.asarray(obs, np.float64) * (255.0 if obs.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(obs, scale, axis=0), scale, axis=1)


def _heat(t):
    """The heat ramp at each t in (0, 1]: [n, 3] float32, computed as render.c does in float32."""
    stops = _STOPS
    i = np.ones(t.shape, np.int64)
    for k in range(1, len(stops) - 1):
        i += (i == k) & (t > stops[k, 0])
    lo, hi = stops[i - 1], stops[i]
    u = (t - lo[:, 0]) / (hi[:, 0] - lo[:, 0])
    u = np.clip(u, np.float32(0), np.float32(1)).astype(np.float32)
    return (lo[:, 1:] + u[:, None] * (hi[:, 1:] - lo[:, 1:])).astype(np.float32)


def _blend(region, pixel_map, opacity):
    """Blends one map (h × w, for the region's h·s × w·s pixels) over `region` in place."""
    m = np.ascontiguousarray(pixel_map, np.float32)
    h, w = m.shape
    s = region.shape[0] // h
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError("a map must be finite and non-negative")
    peak = np.float32(m.max()) if m.size else np.float32(0)
    peak = max(peak, np.float32(0))
    mean = np.float32(np.cumsum(m.reshape(-1), dtype=np.float64)[-1] / m.size)  # summed in order, as render.c
    if not peak > mean:
        return
    t = ((m - mean) / np.float32(peak - mean)).astype(np.float32)
    ys, xs = np.nonzero(t > 0)
    tv = t[ys, xs]
    alpha = (np.float32(opacity) * tv).astype(np.float32)
    heat = _heat(tv)
    one = np.float32(1)
    for y, x, a, hc in zip(ys, xs, alpha, heat):
        block = region[y * s:(y + 1) * s, x * s:(x + 1) * s]
        p = block.astype(np.float32)
        v = (one - a) * p + a * hc
        block[...] = (v + np.float32(0.5)).astype(np.float32).astype(np.uint8)


def _scale_of(image, h, w):
    H, W = image.shape[:2]
    if h < 1 or w < 1 or H % h or W % w or H // h != W // w:
        raise ValueError(f"a {H} × {W} image is no integer enlargement of a {h} × {w} map; resample the map onto "
                         "the observation's pixels first (Agent.pixel_maps)")
    return H // h


def overlay(image, pixel_map, opacity=0.75):
    """A copy of `image` with one map blended over it as attn-play does: values between the map's mean and its
    maximum on a heat ramp (dark red, red, yellow, white), alpha = opacity · t, so only cells with more than an
    even share of attention are coloured. `image` must be an integer enlargement of the map (an observation
    drawn with render_planes or render_rgb, and the map resampled onto the observation's pixels)."""
    image = np.array(image, np.uint8, copy=True)
    m = np.asarray(pixel_map, np.float32)
    _scale_of(image, *m.shape)
    _blend(image, m, opacity)
    return image


def panel(frame, pixel_maps, opacity=0.75, gap=8):
    """attn-play's picture of a step without its title strip: `frame`, then one copy of it per map with that map
    overlaid, `gap` black pixels apart. `pixel_maps` is [N, H, W] over the frame's source pixels."""
    frame = np.asarray(frame, np.uint8)
    maps = np.asarray(pixel_maps, np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    n = maps.shape[0]
    fh, fw = frame.shape[:2]
    if n:
        _scale_of(frame, *maps.shape[1:])
    out = np.zeros((fh, (n + 1) * fw + n * gap, 3), np.uint8)
    for q in range(-1, n):
        x0 = (q + 1) * (fw + gap)
        region = out[:, x0:x0 + fw]
        region[...] = frame
        if q >= 0:
            _blend(region, maps[q], opacity)
    return out


def save_png(path, rgb):
    """Writes an RGB (or grey) uint8 array as a PNG file."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))

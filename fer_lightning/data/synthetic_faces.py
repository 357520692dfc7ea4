"""Drawing synthetic FER-like faces.

Faces are drawn procedurally with soft signed-distance shapes, straight on the 48x48 grid: every pixel
gets canonical face coordinates through its face's pose, so all shapes of a batch of faces are a few
numpy expressions. Each expression has its own brow, eye and mouth geometry (after the action units of
Ekman & Friesen's FACS: AU1+2 raised brows, AU4 lowered and pulled together, AU5 upper lid raise,
AU6 cheek raise, AU9 nose wrinkle, AU10 upper lip raise, AU12 lip corner pull, AU15 corner depressor,
AU20 lip stretch, AU26/27 jaw drop); identity, pose, lighting, occlusion and expression intensity vary so
that the classes overlap.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fer_lightning.fer2013 import EMOTIONS, IMAGE_SIZE

# Expression geometry, canonical face pixels (y grows downwards, a positive raise moves up).
_PARAMS = (
    "brow_raise", "brow_inner", "brow_pinch", "brow_arch", "eye_open", "eye_lower", "mouth_curve",
    "mouth_top", "mouth_bottom", "mouth_width", "lip_raise", "nose_wrinkle", "forehead_lines",
    "glabella", "nasolabial", "teeth", "lip_thick",
)  # fmt: skip
_EXPRESSIONS = np.array(
    [
        # raise inner pinch arch eye_o eye_l curve top  bot  width lip_r wrink fore glab nasol teeth lip_t
        [-1.5, -1.8, 1.2, 0.2, 0.6, 0.8, -0.6, 0.0, 0.0, 0.85, 0.0, 0.3, 0.0, 0.9, 0.0, 0.0, 0.45],  # angry
        [-1.0, -0.8, 0.8, 0.3, 0.7, 0.55, -0.9, 0.4, 0.3, 0.9, 2.3, 1.0, 0.0, 0.5, 0.7, 0.3, 0.8],  # disgust
        [1.8, 1.6, 1.0, 0.3, 1.55, 1.2, -0.5, 0.6, 1.3, 1.25, 0.0, 0.0, 0.7, 0.4, 0.0, 0.6, 0.8],  # fear
        [0.2, 0.0, 0.0, 0.7, 0.75, 0.35, 2.6, 0.3, 1.8, 1.25, 0.0, 0.0, 0.0, 0.0, 1.0, 0.8, 0.8],  # happy
        [0.3, 2.0, 0.6, -0.2, 0.8, 0.9, -2.0, 0.0, 0.0, 0.95, 0.0, 0.0, 0.3, 0.3, 0.2, 0.0, 0.9],  # sad
        [3.0, 0.5, -0.3, 1.8, 1.8, 1.3, 0.0, 2.2, 3.5, 0.6, 0.0, 0.0, 1.0, 0.0, 0.0, 0.2, 0.9],  # surprise
        [0.0, 0.0, 0.0, 0.6, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # neutral
    ],
    dtype=np.float64,
)
# Per-face wobble of each parameter at difficulty 1, so that two faces of one class differ.
_JITTER = np.array([0.5, 0.5, 0.3, 0.3, 0.12, 0.12, 0.45, 0.3, 0.4, 0.08, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
_MIN = np.array([-9, -9, -9, -9, 0.25, 0.2, -9, 0, 0, 0.4, 0, 0, 0, 0, 0, 0, 0.2])
_NEUTRAL = EMOTIONS.index("neutral")
_CHUNK = 256  # faces rendered together: keeps each [chunk, 48, 48] float32 temporary in the CPU cache


def draw_faces(
    rng: np.random.Generator, labels: np.ndarray, difficulty: float, noise_seed: int
) -> np.ndarray:
    """uint8 [N, 48, 48]: one face per label (EMOTIONS index), its identity, pose, lighting and expression
    drawn from `rng`; sensor noise from generators seeded by (noise_seed, chunk)."""
    faces = _draw_faces(rng, labels, difficulty)
    images = np.empty((len(labels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)

    def render_chunk(k: int) -> None:
        part = {name: v[k * _CHUNK : (k + 1) * _CHUNK, None, None] for name, v in faces.items()}
        images[k * _CHUNK : (k + 1) * _CHUNK] = _render(part, np.random.default_rng((noise_seed, 1, k)))

    # numpy releases the GIL inside array operations, so threads use every core; each chunk draws its
    # noise from its own generator, so the result does not depend on the number of threads.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(render_chunk, range(-(-len(labels) // _CHUNK))))
    return images


def _draw_faces(rng: np.random.Generator, labels: np.ndarray, d: float) -> dict[str, np.ndarray]:
    """Every per-face random parameter, drawn once for all faces so that chunking cannot change them."""
    n = len(labels)

    def around(centre: float, half: float) -> np.ndarray:
        return centre + half * d * rng.uniform(-1, 1, n)

    f = {
        # identity
        "face_a": around(15.5, 1.5), "face_b": around(20.0, 1.5), "skin": rng.uniform(0.35, 0.85, n),
        "bg": rng.uniform(0.0, 1.0, n), "hair": rng.uniform(0.02, 0.55, n),
        "hair_on": (rng.random(n) < 0.85).astype(np.float64), "hairline": around(-16.0, 1.5),
        "hair_volume": rng.uniform(0.0, 3.0, n), "eye_dx": around(7.3, 0.7), "eye_y": around(-4.0, 1.0),
        "size": around(1.0, 0.12), "brow_gap": around(4.3, 0.6), "brow_th": around(1.5, 0.35),
        "brow_dark": rng.uniform(0.25, 0.7, n), "socket": rng.uniform(0.08, 0.3, n),
        "nose_y": around(4.5, 0.8), "mouth_y": around(11.5, 1.0), "mouth_w": around(5.8, 0.6),
        "iris": rng.uniform(0.05, 0.3, n), "gaze": around(0.0, 0.6), "lip_dark": rng.uniform(0.08, 0.3, n),
        "mouth_dark": rng.uniform(0.03, 0.2, n), "teeth_col": rng.uniform(0.7, 0.95, n),
        "side": rng.choice([-1.0, 1.0], n),
        # pose
        "angle": np.deg2rad(around(0.0, 15.0)), "scale": around(1.0, 0.15),
        "shift_x": around(0.0, 4.0), "shift_y": around(0.0, 4.0),
        # lighting and camera
        "brightness": around(0.0, 0.12), "contrast": np.exp(around(0.0, 0.35)),
        "gamma": np.exp(around(0.0, 0.3)),
        "gradient": rng.uniform(0.0, 0.5, n) * d, "gradient_dir": rng.uniform(0, 2 * np.pi, n),
        "noise": rng.uniform(0.005, 0.04, n) * d, "blur": rng.uniform(0.0, 0.8, n) * min(d, 1.0),
        # occlusion: a patch in image coordinates
        "occluded": (rng.random(n) < min(1.0, 0.2 * d)).astype(np.float64),
        "occ_x": rng.uniform(8, 40, n), "occ_y": rng.uniform(10, 44, n), "occ_w": rng.uniform(3, 10, n),
        "occ_h": rng.uniform(3, 10, n), "occ_val": rng.uniform(0, 1, n),
        "occ_round": (rng.random(n) < 0.5).astype(np.float64),
    }  # fmt: skip
    # Expression intensity: a neutral-to-apex mix per face, subtler on average as difficulty grows.
    intensity = rng.uniform(float(np.clip(1 - 0.65 * d, 0, 1)), 1.0, n)[:, None]
    neutral = _EXPRESSIONS[_NEUTRAL]
    expr = neutral + intensity * (_EXPRESSIONS[labels] - neutral)
    expr = np.maximum(expr + rng.normal(0, 1, expr.shape) * _JITTER * d, _MIN)
    f.update(zip(_PARAMS, expr.T, strict=True))
    return {k: v.astype(np.float32) for k, v in f.items()}


def _cover(dist: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a signed distance (negative inside), one pixel wide edge."""
    return np.clip(0.5 - dist, 0.0, 1.0)


def _norm(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    # np.hypot is about four times slower than this on float32 arrays, and overflow cannot happen here.
    return np.sqrt(dx * dx + dy * dy)


def _segment(x: np.ndarray, y: np.ndarray, x0, y0, x1, y1, radius) -> np.ndarray:
    """Signed distance to a capsule from (x0, y0) to (x1, y1)."""
    px, py, bx, by = x - x0, y - y0, x1 - x0, y1 - y0
    h = np.clip((px * bx + py * by) / (bx * bx + by * by), 0.0, 1.0)
    return _norm(px - bx * h, py - by * h) - radius


def _render(f: dict[str, np.ndarray], noise_rng: np.random.Generator) -> np.ndarray:
    """Draw one chunk of faces; every entry of `f` is float32 [B, 1, 1]."""
    half = (IMAGE_SIZE - 1) / 2
    gx = np.arange(IMAGE_SIZE, dtype=np.float32)[None, None, :] - half - f["shift_x"]
    gy = np.arange(IMAGE_SIZE, dtype=np.float32)[None, :, None] - half - f["shift_y"]
    cos, sin = np.cos(f["angle"]) / f["scale"], np.sin(f["angle"]) / f["scale"]
    x = cos * gx + sin * gy
    y = cos * gy - sin * gx - 1.0  # face centre one pixel below the image centre, as in FER crops
    ax = np.abs(x)  # symmetric features are drawn once, on the mirrored half-face
    skin, s = f["skin"], f["size"]

    img = np.broadcast_to(f["bg"], x.shape).copy()
    # hair behind the head, then neck and face oval, narrowing towards the chin
    hair_back = _norm(x / (f["face_a"] + 2 + f["hair_volume"]), (y + 3) / (f["face_b"] + 1)) - 1
    img += f["hair_on"] * _cover(np.maximum(hair_back * 15, y - 4 - 3 * f["hair_volume"])) * (f["hair"] - img)
    neck = np.maximum(ax - 0.6 * f["face_a"], 0.5 * f["face_b"] - y)
    img += _cover(neck) * (0.8 * skin - img)
    jaw = 1 - 0.18 * np.clip(y / f["face_b"], 0, 1) ** 2
    img += _cover((_norm(x / (f["face_a"] * jaw), y / f["face_b"]) - 1) * f["face_a"]) * (skin - img)

    # brows: a tapered curved stroke from the inner (t = -1) to the outer end (t = 1)
    ew = 3.2 * s
    x_out, x_in = f["eye_dx"] + 1.25 * ew, np.maximum(f["eye_dx"] - 1.05 * ew - 0.5 * f["brow_pinch"], 0.8)
    bc, bl = (x_out + x_in) / 2, (x_out - x_in) / 2
    t = (ax - bc) / bl
    brow_base = f["eye_y"] - f["brow_gap"] - f["brow_raise"]
    brow_y = brow_base - f["brow_arch"] * (1 - t * t) - f["brow_inner"] * (1 - t) / 2
    slope = (2 * f["brow_arch"] * t + f["brow_inner"] / 2) / bl
    brow = np.abs(y - brow_y) / np.sqrt(1 + slope * slope) - f["brow_th"] * (1 - 0.25 * t) / 2
    img *= 1 - f["brow_dark"] * _cover(np.maximum(brow, np.abs(ax - bc) - bl))

    # eyes: shadowed socket, almond opening between the lids, iris, dark upper lid
    ex = ax - f["eye_dx"]
    ey = y - f["eye_y"]
    img *= 1 - f["socket"] * np.exp(-((ex / (1.6 * ew)) ** 2) - ((ey + 0.6) / 3.0) ** 2)
    q = np.clip(1 - (ex / ew) ** 2, 0, 1)
    upper, lower = -1.45 * s * f["eye_open"] * q, 1.0 * s * f["eye_lower"] * q
    opening = _cover(np.maximum(np.maximum(upper - ey, ey - lower), np.abs(ex) - ew))
    img += opening * (np.minimum(1.15 * skin + 0.1, 1.0) - img)
    iris = _norm(ex - f["gaze"] * np.sign(x), ey - 0.1) - 1.45 * s
    img += opening * _cover(iris) * (f["iris"] - img)
    img *= 1 - 0.75 * _cover(np.maximum(np.abs(ey - upper) - 0.45, np.abs(ex) - ew - 0.3))

    # nose: nostrils (raised and flared in a nose wrinkle), shadow under the tip, bridge wrinkles
    wrinkle = f["nose_wrinkle"]
    nose_y = f["nose_y"] - 0.7 * wrinkle
    nostril = _norm((ax - 1.5 * s) / (1.0 + 0.25 * wrinkle), (y - nose_y) / 0.6) - 1
    img *= 1 - 0.5 * _cover(nostril * 0.8 * s)
    img *= 1 - 0.12 * np.exp(-((x / 3) ** 2) - (y - nose_y - 1.2) ** 2)
    for k in range(2):
        line = np.abs(y - f["eye_y"] - 1.8 - 1.4 * k - 0.08 * ax * ax) - 0.35
        img *= 1 - 0.45 * np.clip(wrinkle, 0, 1) * _cover(np.maximum(line, ax - 2.2))

    # frown lines between the brows, forehead lines above raised brows
    brow_inner_y = brow_base - f["brow_inner"]
    glabella = np.maximum(np.abs(ax - 1.2) - 0.25, np.abs(y - brow_inner_y - 0.3) - 1.6)
    img *= 1 - 0.4 * np.clip(f["glabella"], 0, 1) * _cover(glabella)
    brow_mid_y = brow_base - f["brow_arch"] - f["brow_inner"] / 2
    for k in range(2):
        line = np.abs(y - brow_mid_y + 2.8 + 2.0 * k + 0.04 * ax * ax) - 0.35
        img *= 1 - 0.35 * np.clip(f["forehead_lines"], 0, 1) * _cover(np.maximum(line, ax - 6))

    # mouth: lips around an opening between the upper (raised on one side in disgust) and lower lip
    mw = f["mouth_w"] * f["mouth_width"] * s
    curve = f["mouth_curve"]
    fold_end_y = f["mouth_y"] + 1.5 - 0.3 * curve
    nasolabial = _segment(ax, y, 4.5 * s, f["nose_y"] - 1.0, mw + 2.5, fold_end_y, 0.35)
    img *= 1 - 0.22 * np.clip(f["nasolabial"], 0, 1) * _cover(nasolabial)
    mt = x / mw
    mt2 = mt * mt
    prof = np.sqrt(np.clip(1 - mt2, 0, 1))
    lift = f["lip_raise"] * np.clip(f["side"] * mt, 0, 1)
    base = f["mouth_y"] - curve * mt2 - 0.4 * lift
    up = base - (f["mouth_top"] + lift) * prof
    low = base + f["mouth_bottom"] * prof
    lip_th = 1.1 * s * f["lip_thick"]
    lips = np.maximum(np.maximum(up - lip_th - y, y - low - 1.3 * lip_th), ax - mw - 0.3)
    img *= 1 - f["lip_dark"] * _cover(lips)
    mouth_open = np.maximum(np.maximum(up - y, y - low), ax - mw)
    img += _cover(mouth_open) * (f["mouth_dark"] - img)
    teeth_h = np.clip(f["teeth"], 0, 1) * 0.45 * (f["mouth_top"] + f["mouth_bottom"] + lift)
    img += _cover(np.maximum(mouth_open, y - up - teeth_h)) * (f["teeth_col"] - img)
    line = np.abs(y - base) / np.sqrt(1 + (2 * curve / mw * mt) ** 2) - 0.45
    img *= 1 - 0.6 * _cover(np.maximum(line, ax - mw - 0.2))

    # fringe over the forehead
    fringe = y - f["hairline"] - 0.025 * x * x
    img += f["hair_on"] * _cover(fringe) * (f["hair"] - img)

    # occlusion (hand, glasses, hair strand): an ellipse or a box in image coordinates, on some faces only
    hit = np.flatnonzero(f["occluded"][:, 0, 0])
    if hit.size:
        o = {k: f[k][hit] for k in ("occ_x", "occ_y", "occ_w", "occ_h", "occ_round", "occ_val")}
        ox = np.abs(np.arange(IMAGE_SIZE, dtype=np.float32)[None, None, :] - o["occ_x"]) / o["occ_w"]
        oy = np.abs(np.arange(IMAGE_SIZE, dtype=np.float32)[None, :, None] - o["occ_y"]) / o["occ_h"]
        patch = o["occ_round"] * _norm(ox, oy) + (1 - o["occ_round"]) * np.maximum(ox, oy) - 1
        img[hit] += _cover(patch * np.minimum(o["occ_w"], o["occ_h"])) * (o["occ_val"] - img[hit])

    # lighting from one side, camera contrast and gamma, blur and sensor noise
    img *= 1 + f["gradient"] * (np.cos(f["gradient_dir"]) * gx + np.sin(f["gradient_dir"]) * gy) / IMAGE_SIZE
    img = np.clip((img - 0.5) * f["contrast"] + 0.5 + f["brightness"], 0, 1) ** f["gamma"]
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    smooth = (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 16
    img += f["blur"] * (smooth - img)
    # Uniform noise of the same variance: three times cheaper to draw than Gaussian noise.
    img += f["noise"] * np.sqrt(12) * (noise_rng.random(img.shape, dtype=np.float32) - 0.5)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)

"""Rendered photos of six-sided dice with their top-face values: training data for "dice".

No dice data set ships in a registry package, so sensekit renders its own. Each scene is a
pinhole camera looking down at a table (top-down to 35 degrees above it) on which rest one
to a dozen dice. A die is a cube with bevelled edges; every visible face is a pip texture
warped by its projection and shaded by one light, with the faces consistent with a real die
(opposite faces sum to 7). What varies, chosen from the real photos in shared/dice/dev:
count, size (mixed sizes in one photo too), yaw, camera tilt and focal length, body colours
(white, ivory, red, black, others; white or black pips; an ivory die with a red one), cast
shadows, touching clusters, tables (procedural wood, felt, paper; real photos from
scikit-image and scikit-learn), light colour and gradients, motion and defocus blur, noise,
JPEG artefacts, finger-like occluders and non-cube distractors.

Labels are the bounding box of the top face (as in Apple's dice sample) and its value.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

TEXTURE = 96  # face texture side in pixels
# Pip centres on a unit face, per value (the usual western layout).
PIPS = {
    1: [(0.5, 0.5)],
    2: [(0.27, 0.27), (0.73, 0.73)],
    3: [(0.25, 0.25), (0.5, 0.5), (0.75, 0.75)],
    4: [(0.27, 0.27), (0.73, 0.27), (0.27, 0.73), (0.73, 0.73)],
    5: [(0.25, 0.25), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0.75, 0.75)],
    6: [(0.27, 0.23), (0.27, 0.5), (0.27, 0.77), (0.73, 0.23), (0.73, 0.5), (0.73, 0.77)],
}
# Unit cube faces: outward normal and corners (counter-clockwise seen from outside).
_FACES = {
    "+z": ((0, 0, 1), [(-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)]),
    "-z": ((0, 0, -1), [(-1, 1, -1), (1, 1, -1), (1, -1, -1), (-1, -1, -1)]),
    "+x": ((1, 0, 0), [(1, -1, -1), (1, 1, -1), (1, 1, 1), (1, -1, 1)]),
    "-x": ((-1, 0, 0), [(-1, 1, -1), (-1, -1, -1), (-1, -1, 1), (-1, 1, 1)]),
    "+y": ((0, 1, 0), [(1, 1, -1), (-1, 1, -1), (-1, 1, 1), (1, 1, 1)]),
    "-y": ((0, -1, 0), [(-1, -1, -1), (1, -1, -1), (1, -1, 1), (-1, -1, 1)]),
}
# A right-handed die: 1 up, 2 towards -y, 3 towards +x; opposite faces sum to 7.
_CANONICAL = {"+z": 1, "-z": 6, "-y": 2, "+y": 5, "+x": 3, "-x": 4}
# (body RGB, pip RGB, weight), chosen from the real photos: mostly white dice.
_COLOURS = [
    ((245, 245, 240), (20, 20, 20), 0.42),
    ((238, 228, 200), (25, 20, 20), 0.14),
    ((200, 30, 30), (250, 250, 250), 0.12),
    ((25, 25, 28), (245, 245, 245), 0.12),
    ((30, 70, 180), (250, 250, 250), 0.05),
    ((30, 140, 60), (250, 250, 250), 0.05),
    ((235, 200, 40), (20, 20, 20), 0.05),
    ((250, 250, 250), (200, 30, 30), 0.05),
]


@dataclass(frozen=True)
class Die:
    """One rendered die: its top-face value and the top face's box in pixels."""

    value: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


def _rotations() -> list[np.ndarray]:
    """The 24 proper rotations of a cube, as integer 3x3 matrices."""
    found = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3), int)
            for row, (col, sign) in enumerate(zip(perm, signs)):
                m[row, col] = 1 if sign else -1
            if round(np.linalg.det(m)) == 1:
                found.append(m)
    return found


_ROTATIONS = _rotations()
_AXES = {name: np.array(normal) for name, (normal, _) in _FACES.items()}


def _face_values(rotation: np.ndarray) -> dict[str, int]:
    """Which value each world-facing face shows after rotating the canonical die."""
    values = {}
    for name, value in _CANONICAL.items():
        turned = rotation @ _AXES[name]
        world = next(n for n, axis in _AXES.items() if np.array_equal(axis, turned))
        values[world] = value
    return values


def face_texture(
    value: int, body: tuple, pip: tuple, rng: np.random.Generator, one_pip: tuple | None = None
) -> np.ndarray:
    """A TEXTURE x TEXTURE RGBA face: rounded square body, pips as dimpled discs."""
    t = TEXTURE
    image = np.zeros((t, t, 4), np.uint8)
    corner = int(t * rng.uniform(0.08, 0.2))
    colour = (*tuple(int(c) for c in body), 255)
    cv2.rectangle(image, (corner, 0), (t - 1 - corner, t - 1), colour, -1)
    cv2.rectangle(image, (0, corner), (t - 1, t - 1 - corner), colour, -1)
    for cx, cy in (
        (corner, corner),
        (t - 1 - corner, corner),
        (corner, t - 1 - corner),
        (t - 1 - corner, t - 1 - corner),
    ):
        cv2.circle(image, (cx, cy), corner, colour, -1, cv2.LINE_AA)
    radius = t * rng.uniform(0.075, 0.1) * (1.5 if value == 1 and rng.random() < 0.3 else 1.0)
    ink = one_pip if (value == 1 and one_pip is not None) else pip
    spin = rng.integers(4)
    for x, y in PIPS[value]:
        for _ in range(spin):
            x, y = 1.0 - y, x
        centre = (int(x * t * 16), int(y * t * 16))
        cv2.circle(
            image,
            centre,
            int(radius * 16),
            (*tuple(int(c) for c in ink), 255),
            -1,
            cv2.LINE_AA,
            shift=4,
        )
        rim = (*tuple(int(0.6 * c + 0.4 * d) for c, d in zip(ink, body)), 255)
        cv2.circle(image, centre, int(radius * 16), rim, max(1, t // 64), cv2.LINE_AA, shift=4)
    return image


class Camera:
    """A pinhole camera at ``elevation`` above a table (the z = 0 plane), looking at the
    origin from ``distance``; ``focal`` in pixels; image ``size`` (width, height)."""

    def __init__(
        self, size: tuple[int, int], elevation: float, distance: float, focal: float, roll: float
    ) -> None:
        self.size, self.focal = size, focal
        self.position = np.array(
            [0.0, -distance * math.cos(elevation), distance * math.sin(elevation)]
        )
        forward = -self.position / np.linalg.norm(self.position)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right = (
            right / np.linalg.norm(right)
            if np.linalg.norm(right) > 1e-6
            else np.array([1.0, 0.0, 0.0])
        )
        down = np.cross(forward, right)
        c, s = math.cos(roll), math.sin(roll)
        right, down = c * right + s * down, -s * right + c * down
        self.rotation = np.stack([right, down, forward])  # world -> camera rows

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points [N, 3] -> pixels [N, 2] and depths [N]."""
        cam = (points - self.position) @ self.rotation.T
        pixels = cam[:, :2] / cam[:, 2:3] * self.focal + np.array(self.size) / 2.0
        return pixels, cam[:, 2]

    def table_point(self, pixel: np.ndarray) -> tuple[np.ndarray, float]:
        """The table point seen at ``pixel`` and its depth along the optical axis."""
        ray_cam = np.array([*(pixel - np.array(self.size) / 2.0) / self.focal, 1.0])
        ray = self.rotation.T @ ray_cam
        depth = -self.position[2] / ray[2]
        return self.position + depth * ray, float(depth)

    def table_homography(self, span: float, texture: int) -> np.ndarray:
        """Homography from a ``texture``-pixel square covering [-span, span]^2 of the table
        to the image."""
        scale = 2.0 * span / texture
        to_world = np.array([[scale, 0, -span], [0, scale, -span], [0, 0, 1.0]])
        r = self.rotation
        t = -r @ self.position
        k = np.array(
            [[self.focal, 0, self.size[0] / 2], [0, self.focal, self.size[1] / 2], [0, 0, 1.0]]
        )
        plane = np.stack([r[:, 0], r[:, 1], t], axis=1)  # z = 0 drops the third column
        return k @ plane @ to_world


def wood(size: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural wood texture: rings warped by low-frequency noise."""
    y, _x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    warp = cv2.resize(
        rng.normal(0, 1, (6, 6)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC
    )
    rings = np.sin((y * rng.uniform(20, 60) + warp * rng.uniform(1, 4)) * math.pi) * 0.5 + 0.5
    grain = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.0)
    light = np.array(rng.choice([(225, 200, 160), (200, 150, 95), (150, 95, 55), (235, 220, 190)]))
    tone = (0.82 + 0.12 * rings + 0.03 * grain)[..., None] * light * rng.uniform(0.85, 1.1)
    image = np.clip(tone, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.rot90(image, rng.integers(4)))


def felt(size: int, rng: np.random.Generator) -> np.ndarray:
    """Felt or cloth: a saturated colour with fine noise."""
    colour = np.array(
        rng.choice([(30, 110, 50), (30, 60, 120), (120, 30, 35), (60, 60, 65), (150, 140, 130)]),
        np.float32,
    )
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 0.8)
    return np.clip(colour * (1 + 0.08 * noise[..., None]), 0, 255).astype(np.uint8)


def paper(size: int, rng: np.random.Generator) -> np.ndarray:
    """White or grey paper with a soft gradient."""
    base = rng.uniform(170, 250)
    y = np.linspace(-1, 1, size, dtype=np.float32)[:, None]
    tone = base * (1 + rng.uniform(-0.12, 0.12) * y) + rng.normal(0, 2, (size, size))
    tint = rng.uniform(0.94, 1.04, 3)
    return np.clip(tone[..., None] * tint, 0, 255).astype(np.uint8)


_PHOTO_TABLES = (
    "brick.png",
    "grass.png",
    "gravel.png",
    "coffee.png",
    "page.png",
    "text.png",
    "camera.png",
    "rocket.jpg",
    "color.png",
)
_photo_cache: list[np.ndarray] = []


def real_photos() -> list[np.ndarray]:
    """Photos that ship in installed packages (scikit-image, scikit-learn), as RGB."""
    if _photo_cache:
        return _photo_cache
    import skimage.data
    import sklearn.datasets

    folders = [
        (Path(skimage.data.__file__).parent, _PHOTO_TABLES),
        (Path(sklearn.datasets.__file__).parent / "images", ("china.jpg", "flower.jpg")),
    ]
    for folder, names in folders:
        for name in names:
            image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
            if image is not None:
                _photo_cache.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return _photo_cache


def table_texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A table top: wood, paper, felt, or a crop of a real photo."""
    kind = rng.choice(["wood", "paper", "felt", "photo"], p=[0.4, 0.25, 0.1, 0.25])
    if kind == "photo" and real_photos():
        photo = real_photos()[rng.integers(len(real_photos()))]
        side = int(min(photo.shape[:2]) * rng.uniform(0.4, 1.0))
        y0 = rng.integers(photo.shape[0] - side + 1)
        x0 = rng.integers(photo.shape[1] - side + 1)
        return cv2.resize(photo[y0 : y0 + side, x0 : x0 + side], (size, size))
    return {"wood": wood, "paper": paper, "felt": felt}.get(str(kind), paper)(size, rng)


def _light(rng: np.random.Generator) -> tuple[np.ndarray, float, np.ndarray]:
    """A unit direction towards the light, the ambient share and the light's RGB tint."""
    azimuth, elevation = (
        rng.uniform(0, 2 * math.pi),
        rng.uniform(math.radians(30), math.radians(85)),
    )
    direction = np.array(
        [
            math.cos(azimuth) * math.cos(elevation),
            math.sin(azimuth) * math.cos(elevation),
            math.sin(elevation),
        ]
    )
    tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.08, 0.08, 3)
    return direction, rng.uniform(0.35, 0.65), tint


def _place(
    camera: Camera, count: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, float, float]]:
    """(centre on the table, side, yaw) of up to ``count`` dice that do not overlap."""
    width, height = camera.size
    base = max(width, height) * rng.uniform(0.04, 0.16)
    mixed = rng.random() < 0.25
    placed: list[tuple[np.ndarray, float, float]] = []
    for _ in range(count * 30):
        if len(placed) == count:
            break
        margin = 0.06
        pixel = np.array(
            [rng.uniform(margin, 1 - margin) * width, rng.uniform(margin, 1 - margin) * height]
        )
        point, depth = camera.table_point(pixel)
        pixels = base * rng.uniform(0.88, 1.12) * (rng.choice([0.55, 1.0, 1.3]) if mixed else 1)
        side = pixels * depth / camera.focal
        gap = rng.uniform(1.0, 1.25)
        if all(
            np.linalg.norm(point[:2] - c[:2]) >= (side + s) / 2 * math.sqrt(2) * gap * 0.78
            for c, s, _ in placed
        ):
            placed.append((point, side, rng.uniform(0, math.pi / 2)))
    return placed


def _die_faces(
    centre: np.ndarray, side: float, yaw: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World normal and corners [4, 3] of each face of a die resting on the table."""
    c, s = math.cos(yaw), math.sin(yaw)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    middle = np.array([centre[0], centre[1], side / 2])
    return {
        name: (
            turn @ np.array(normal, float),
            middle + (np.array(corners, float) * side / 2) @ turn.T,
        )
        for name, (normal, corners) in _FACES.items()
    }


def _warp_face(
    canvas: np.ndarray,
    texture: np.ndarray,
    quad: np.ndarray,
    shade: np.ndarray,
    ids: np.ndarray,
    index: int,
) -> None:
    """Composites an RGBA face texture onto ``canvas`` inside the image quad [4, 2]."""
    height, width = canvas.shape[:2]
    x0, y0 = np.floor(quad.min(0)).astype(int)
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    t = TEXTURE - 1
    source = np.float32([[0, 0], [t, 0], [t, t], [0, t]])
    matrix = cv2.getPerspectiveTransform(source, np.float32(quad - [x0, y0]))
    warped = cv2.warpPerspective(texture, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    alpha = warped[..., 3:].astype(np.float32) / 255.0
    colour = warped[..., :3].astype(np.float32) * shade
    region = canvas[y0:y1, x0:x1]
    region[:] = alpha * np.clip(colour, 0, 255) + (1 - alpha) * region
    ids[y0:y1, x0:x1][alpha[..., 0] > 0.5] = index


def _shadows(
    canvas: np.ndarray, camera: Camera, dice: list, light: np.ndarray, rng: np.random.Generator
) -> None:
    """Darkens the table where each die blocks the light (soft-edged)."""
    mask = np.zeros(canvas.shape[:2], np.float32)
    for faces in dice:
        corners = np.concatenate([quad for _, quad in faces.values()])
        on_table = corners - corners[:, 2:3] / light[2] * light
        pixels, depth = camera.project(on_table)
        if (depth <= 0).any():
            continue
        hull = cv2.convexHull(np.round(pixels * 8).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1.0, cv2.LINE_AA, shift=3)
    blur = max(1.0, canvas.shape[1] * rng.uniform(0.002, 0.012))
    mask = cv2.GaussianBlur(mask, (0, 0), blur)
    canvas *= 1 - rng.uniform(0.25, 0.65) * mask[..., None]


def _occluder(
    canvas: np.ndarray, ids: np.ndarray, dice_boxes: list, rng: np.random.Generator
) -> None:
    """A finger-like skin-coloured blob over one die's edge."""
    x0, y0, x1, y1 = dice_boxes[rng.integers(len(dice_boxes))]
    side = max(x1 - x0, y1 - y0)
    centre = (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1) + side * 0.6))
    axes = (float(side * rng.uniform(0.25, 0.4)), float(side * rng.uniform(0.8, 1.6)))
    angle = float(rng.uniform(-40, 40))
    skin = np.array(rng.choice([(224, 172, 140), (190, 130, 100), (140, 90, 65)]), float)
    mask = np.zeros(canvas.shape[:2], np.uint8)
    cv2.ellipse(mask, (centre, axes, angle), 255, -1, cv2.LINE_AA)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    canvas[:] = alpha * skin * rng.uniform(0.7, 1.05) + (1 - alpha) * canvas
    ids[mask > 127] = -1


def _distractors(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Coloured polygons (other polyhedral dice, tokens) lying on the table."""
    height, width = canvas.shape[:2]
    for _ in range(rng.integers(1, 4)):
        sides = int(rng.choice([3, 5, 6, 8]))
        radius = max(width, height) * rng.uniform(0.03, 0.08)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        angles = rng.uniform(0, 2 * math.pi) + np.arange(sides) * 2 * math.pi / sides
        points = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)
        colour = tuple(float(c) for c in rng.uniform(20, 240, 3))
        cv2.fillConvexPoly(canvas, np.round(points).astype(np.int32), colour, cv2.LINE_AA)


def _finish(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera effects: white balance, light gradient, blur, noise, JPEG artefacts."""
    height, width = canvas.shape[:2]
    canvas *= rng.uniform(0.92, 1.08, 3) * rng.uniform(0.75, 1.2)
    ramp = np.linspace(-1, 1, width, dtype=np.float32)[None, :] * rng.uniform(
        -0.25, 0.25
    ) + np.linspace(-1, 1, height, dtype=np.float32)[:, None] * rng.uniform(-0.25, 0.25)
    canvas *= (1 + ramp)[..., None]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.6))
    if rng.random() < 0.15:
        length = int(rng.integers(3, 9))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        rotation = cv2.getRotationMatrix2D(
            (length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0
        )
        image = cv2.filter2D(image, -1, cv2.warpAffine(kernel, rotation, (length, length)))
    noisy = image.astype(np.float32) + rng.normal(0, rng.uniform(0, 6), image.shape)
    image = np.clip(noisy, 0, 255).astype(np.uint8)
    quality = int(rng.integers(35, 96))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else image


def render_scene(
    rng: np.random.Generator, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, list[Die]]:
    """One rendered photo (RGB uint8) of dice on a table and its labelled dice."""
    if size is None:
        long_side = int(rng.integers(448, 641))
        aspect = float(rng.choice([4 / 3, 3 / 4, 1.0, 16 / 9]))
        size = (
            (long_side, int(long_side / aspect))
            if aspect >= 1
            else (int(long_side * aspect), long_side)
        )
    width, height = size
    camera = Camera(
        size,
        math.radians(rng.uniform(35, 90) if rng.random() < 0.6 else 90 - rng.uniform(0, 12)),
        1.0,
        max(size) * rng.uniform(0.7, 1.5),
        rng.uniform(0, 2 * math.pi),
    )
    corners = [
        camera.table_point(np.array(p, float))[0]
        for p in ((0, 0), (width, 0), (0, height), (width, height))
    ]
    span = min(6.0, 1.05 * max(np.abs(c[:2]).max() for c in corners))
    table = table_texture(768, rng)
    canvas = cv2.warpPerspective(
        table, camera.table_homography(span, 768), size, borderMode=cv2.BORDER_REFLECT
    ).astype(np.float32)
    if rng.random() < 0.15:
        _distractors(canvas, rng)
    light, ambient, tint = _light(rng)
    count = int(rng.choice(np.arange(1, 13), p=_COUNT_WEIGHTS))
    placed = _place(camera, count, rng)
    faces = [_die_faces(c, s, yaw) for c, s, yaw in placed]
    _shadows(canvas, camera, faces, light, rng)
    ids = np.full((height, width), -1, np.int32)
    order = sorted(range(len(placed)), key=lambda i: -camera.project(placed[i][0][None])[1][0])
    tops: dict[int, tuple[int, np.ndarray]] = {}
    for index in order:
        tops[index] = _render_die(
            canvas, ids, camera, faces[index], (light, ambient, tint), index, die_style(rng), rng
        )
    dice = _visible_dice(tops, ids, size)
    if dice and rng.random() < 0.12:
        _occluder(canvas, ids, [d.box for d in dice], rng)
        dice = _visible_dice(tops, ids, size)
    return _finish(canvas, rng), dice


_COUNT_WEIGHTS = np.array([10, 10, 10, 10, 10, 9, 6, 5, 4, 3, 2, 2], float)
_COUNT_WEIGHTS /= _COUNT_WEIGHTS.sum()


@dataclass(frozen=True)
class DieStyle:
    """How one die looks: body and pip colours, a red one-pip, its orientation among the
    24 of a cube (which value is up) and the bevel width."""

    body: np.ndarray
    pip: tuple
    one_pip: tuple | None
    rotation: int
    inset: float


def die_style(rng: np.random.Generator) -> DieStyle:
    weights = np.array([w for *_, w in _COLOURS])
    body, pip, _ = _COLOURS[rng.choice(len(_COLOURS), p=weights / weights.sum())]
    body = np.clip(np.array(body) * rng.uniform(0.9, 1.05, 3), 0, 255)
    one_pip = (200, 30, 30) if rng.random() < 0.1 else None
    rotation = int(rng.integers(len(_ROTATIONS)))
    return DieStyle(body, pip, one_pip, rotation, float(rng.uniform(0.03, 0.08)))


def _render_die(
    canvas: np.ndarray,
    ids: np.ndarray,
    camera: Camera,
    faces: dict,
    lighting: tuple,
    index: int,
    style: DieStyle,
    rng: np.random.Generator,
) -> tuple[int, np.ndarray]:
    """Draws one die; returns its top value and the top face's image quad."""
    light, ambient, tint = lighting
    values = _face_values(_ROTATIONS[style.rotation])
    corners = np.concatenate([quad for _, quad in faces.values()])
    hull_pixels, _ = camera.project(corners)
    bevel = tuple(float(c) for c in style.body * (ambient + 0.2) * 0.8)
    hull = cv2.convexHull(np.round(hull_pixels * 8).astype(np.int32))
    cv2.fillConvexPoly(canvas, hull, bevel, cv2.LINE_AA, shift=3)
    cv2.fillConvexPoly(ids, cv2.convexHull(np.round(hull_pixels).astype(np.int32)), index)
    top_quad = None
    for name, (normal, quad) in faces.items():
        middle = quad.mean(0)
        if np.dot(normal, camera.position - middle) <= 0:
            continue
        pixels, _ = camera.project(middle + (quad - middle) * (1 - style.inset))
        if name == "+z":
            top_quad = camera.project(quad)[0]
        diffuse = max(0.0, float(np.dot(normal, light)))
        shade = (ambient + (1 - ambient) * diffuse) * tint
        texture = face_texture(values[name], tuple(style.body), style.pip, rng, style.one_pip)
        _warp_face(canvas, texture, pixels, shade.astype(np.float32), ids, index)
    return values["+z"], top_quad if top_quad is not None else hull_pixels


def _visible_dice(
    tops: dict[int, tuple[int, np.ndarray]], ids: np.ndarray, size: tuple[int, int]
) -> list[Die]:
    """Labels of the dice whose top face is at least 40 % visible and inside the image."""
    dice = []
    for index, (value, quad) in tops.items():
        mask = np.zeros(ids.shape, np.uint8)
        cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
        area = float(cv2.contourArea(quad.astype(np.float32)))
        seen = float(np.count_nonzero(mask & (ids == index)))
        if area < 4 or seen / area < 0.4:
            continue
        x0, y0 = np.clip(quad.min(0), 0, size)
        x1, y1 = np.clip(quad.max(0), 0, size)
        if x1 - x0 >= 3 and y1 - y0 >= 3:
            dice.append(Die(int(value), (float(x0), float(y0), float(x1), float(y1))))
    return dice


LABELS = [str(v) for v in range(1, 7)]  # class i is the value i + 1


def _render_to(args: tuple[Path, int, int]) -> int:
    folder, index, seed = args
    image, dice = render_scene(np.random.default_rng([seed, index]))
    name = f"dice_{index:06d}"
    height, width = image.shape[:2]
    cv2.imwrite(
        str(folder / "images" / f"{name}.jpg"),
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 92],
    )
    lines = [
        f"{d.value - 1} {(d.box[0] + d.box[2]) / 2 / width:.6f} "
        f"{(d.box[1] + d.box[3]) / 2 / height:.6f} {(d.box[2] - d.box[0]) / width:.6f} "
        f"{(d.box[3] - d.box[1]) / height:.6f}"
        for d in dice
    ]
    partial = folder / "labels" / f"{name}.txt.partial"
    partial.write_text("\n".join(lines) + ("\n" if lines else ""))
    os.replace(partial, partial.with_suffix(""))
    return len(dice)


def write_dataset(folder: str | Path, count: int, seed: int = 0, processes: int = 1) -> Path:
    """Renders ``count`` scenes as a YOLO folder (images/, labels/, classes.txt).

    Resumable: scenes whose label file exists are kept (each scene is a function of
    ``seed`` and its index, so a re-run renders exactly the missing ones).
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("\n".join(LABELS) + "\n")
    todo = [
        (folder, i, seed)
        for i in range(count)
        if not (folder / "labels" / f"dice_{i:06d}.txt").is_file()
    ]
    if processes > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            for _ in pool.imap_unordered(_render_to, todo, chunksize=8):
                pass
    else:
        for item in todo:
            _render_to(item)
    return folder


@dataclass(frozen=True)
class RenderedRoll:
    """Frames of a rendered roll: dice slide and tumble, then lie still.

    Attributes:
        frames: RGB uint8 frames.
        first_still: index of the first frame in which every die lies at rest.
        values: the resting dice's top values, left to right by box centre.
    """

    frames: list[np.ndarray]
    first_still: int
    values: list[int]


def render_roll(
    seed: int, size: tuple[int, int] = (640, 480), moving: int = 12, still: int = 12, count: int = 3
) -> RenderedRoll:
    """A fixed camera above a table; ``count`` dice tumble for ``moving`` frames (a new
    face up and a new place each frame, slowing down), then lie still for ``still``."""
    rng = np.random.default_rng(seed)
    camera = Camera(
        size,
        math.radians(rng.uniform(60, 90)),
        1.0,
        max(size) * rng.uniform(0.9, 1.2),
        rng.uniform(0, 2 * math.pi),
    )
    corners = [
        camera.table_point(np.array(p, float))[0]
        for p in ((0, 0), (size[0], 0), (0, size[1]), size)
    ]
    span = min(6.0, 1.05 * max(np.abs(c[:2]).max() for c in corners))
    table = cv2.warpPerspective(
        wood(768, rng), camera.table_homography(span, 768), size, borderMode=cv2.BORDER_REFLECT
    ).astype(np.float32)
    lighting = _light(rng)
    rest = _place(camera, count, rng)
    styles = [die_style(rng) for _ in rest]
    textures = [int(rng.integers(1 << 30)) for _ in rest]
    frames, values = [], []
    for frame in range(moving + still):
        left = max(0, moving - frame) / moving  # 1 -> 0 while moving, then 0
        poses, frame_styles = [], []
        for (centre, side, yaw), style in zip(rest, styles):
            drift = np.array(
                [
                    side * 3.0 * left * math.cos(frame + yaw * 7),
                    side * 3.0 * left * math.sin(frame * 1.3 + yaw * 5),
                    0.0,
                ]
            )
            poses.append((centre + drift, side, yaw + left * frame * 0.9))
            turn = style.rotation if left == 0 else int(rng.integers(len(_ROTATIONS)))
            frame_styles.append(DieStyle(style.body, style.pip, style.one_pip, turn, style.inset))
        canvas = table.copy()
        faces = [_die_faces(c, s, yaw) for c, s, yaw in poses]
        _shadows(canvas, camera, faces, lighting[0], np.random.default_rng(seed + 1))
        ids = np.full((size[1], size[0]), -1, np.int32)
        order = sorted(range(len(poses)), key=lambda i: -camera.project(poses[i][0][None])[1][0])
        tops = {
            i: _render_die(
                canvas,
                ids,
                camera,
                faces[i],
                lighting,
                i,
                frame_styles[i],
                np.random.default_rng(textures[i]),
            )
            for i in order
        }
        frames.append(_finish(canvas, np.random.default_rng(seed + 2)))
        dice = _visible_dice(tops, ids, size)
        values = [d.value for d in sorted(dice, key=lambda d: d.box[0] + d.box[2])]
    return RenderedRoll(frames, moving, values)

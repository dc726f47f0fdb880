"""Licence plate camera simulator for the vehicle risk system: vehicles at a lane camera, with their plates.

A frame (``PlateSimulator.generate``) shows the front or the rear of a vehicle with its plates
(``_plate_art``): a Hong Kong plate (black on white at the front, black on yellow at the rear), a
Guangdong cross-boundary plate (粤Z....港, white on black), or both stacked, as cross-boundary cars
carry them. The plates' texts are drawn as ``records.CrossingSimulator`` draws its fleet's, or given:
``crossing_plates`` takes them from a crossing record, so a camera shows the cars of the crossing feed.
The Chinese characters are printed only when a CJK font from Debian's packages is installed
(fonts-wqy-microhei, which ``scripts/setup`` installs, or another of ``_plate_art.CJK_FONTS``); without
one only the Latin part is printed and each frame's truth says so (``cjk_rendered``).

The vehicle front is a plane drawn in millimetres (body, windscreen, lamps, grille, bumper, tyres, a
plate holder that sometimes carries a dealer's name) and seen by a pinhole camera: turned by up to
+-30 degrees about the vertical (yaw), looked down on by 3-18 degrees (pitch), rolled by up to +-4
degrees, from a distance that makes the plate 110-240 pixels wide in a 640-pixel frame (scaled with
the frame's width), anywhere in the lower middle of the frame. Light (``LIGHTS``): ``day`` (bright,
colour cast, a shadow one time in three), ``dusk`` (dim, blue, lamps on), ``night`` (dark, the
plate lit by the camera's white illuminator, lamp glare) and ``night_ir`` (monochrome infrared: the
retroreflective plate shines, lamps glow). Then dirt on the plate, focus or motion blur, sensor noise,
and JPEG at a quality of 40-92 when the frame is encoded. Truth: each plate's text, region, style and
corners in the image, and how the frame was shot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

from ._frames import payload_frame
from ._plate_art import STYLES, Glyphs, PlateStyle, gd_plate, hk_plate, plate_image, plate_region

LIGHTS = ("day", "dusk", "night", "night_ir")
LIGHT_SHARES = (0.5, 0.2, 0.15, 0.15)
VIEWS = ("front", "rear")
CAMERA_ROLE = "vehicle_lane"  # frame metadata ``camera_role`` of a plate camera
MAX_YAW_DEG = 30.0
PLATE_WIDTH_PX = (110.0, 240.0)  # the first plate's width seen head-on, in a 640-pixel-wide frame
JPEG_QUALITY = (40, 92)
VEHICLE_MM = (1800.0, 1500.0)  # width and height of the drawn vehicle front, ground to roof
PLATE_CENTRE_MM = {"front": 400.0, "rear": 640.0}  # height above the ground of the (lower) plate
PAINTS = (
    (232, 232, 230),  # white
    (180, 183, 188),  # silver
    (26, 26, 28),  # black
    (98, 100, 104),  # grey
    (150, 22, 26),  # red
    (32, 52, 112),  # blue
    (30, 62, 42),  # green
    (198, 184, 150),  # champagne
)
DEALERS = ("WING ON MOTORS", "KOWLOON AUTO", "HARBOUR CARS", "SUN HING")


@dataclass(frozen=True, slots=True)
class PlateTruth:
    """One plate in a frame: ``text`` as on the crossing record ("AB1234", "粤ZAB12港"), what was printed
    ("AB1234", "粤Z·AB12港", or "Z·AB12" without a CJK font), and its corners in the image (top left,
    top right, bottom right, bottom left), (x, y) in pixels."""

    text: str
    region: str
    style: str
    printed: str
    corners: tuple[tuple[float, float], ...]

    @property
    def box(self) -> tuple[int, int, int, int]:
        """x_min, y_min, x_max, y_max around the corners, max exclusive."""
        xs, ys = [c[0] for c in self.corners], [c[1] for c in self.corners]
        return (math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys)))

    @property
    def cjk_rendered(self) -> bool:
        return self.region != "GD" or self.printed.startswith(self.text[0])


@dataclass(frozen=True, slots=True, eq=False)
class PlateFrame:
    """One camera frame: RGB uint8 (H, W, 3), its plates and how it was shot."""

    image: np.ndarray
    plates: tuple[PlateTruth, ...]
    light: str
    view: str
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    plate_width_px: float  # the first plate's width seen head-on
    blur_px: float
    noise_sigma: float
    dirt: float  # 0 clean .. 1 filthy
    jpeg_quality: int


@dataclass(frozen=True, slots=True)
class _Shot:
    """The pose and light drawn for a frame."""

    view: str
    light: str
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    plate_width_px: float
    dirt: float
    jpeg_quality: int


def crossing_plates(fields: Mapping[str, str]) -> tuple[str, ...]:
    """The plates a crossing's car carries, from a vehicle_crossing record's fields."""
    return tuple(fields[k] for k in ("plate_hk", "plate_mainland") if fields.get(k))


class PlateSimulator:
    """Deterministic plate camera frames: the same (seed, index, plates) gives the same frame."""

    def __init__(
        self,
        seed: int,
        height: int = 480,
        width: int = 640,
        *,
        cjk: bool | None = None,
        light_shares: Sequence[float] = LIGHT_SHARES,
        dual_share: float = 0.4,
        gd_only_share: float = 0.15,
    ) -> None:
        """``cjk``: None prints Chinese characters when a CJK font is installed, False never, True
        requires one. Drawn vehicles carry both plates ``dual_share`` of the time, only a GD plate
        ``gd_only_share`` of the time, else only a Hong Kong plate."""
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if height < 120 or width < 160:
            raise ValueError("height must be at least 120 and width at least 160 pixels")
        if len(light_shares) != len(LIGHTS) or min(light_shares) < 0 or sum(light_shares) <= 0:
            raise ValueError(f"light_shares must be {len(LIGHTS)} non-negative shares ({', '.join(LIGHTS)})")
        if dual_share < 0 or gd_only_share < 0 or dual_share + gd_only_share > 1:
            raise ValueError("dual_share and gd_only_share must be shares adding up to at most 1")
        self.seed, self.height, self.width = seed, height, width
        self.glyphs = Glyphs(cjk)
        self._light_p = np.asarray(light_shares, dtype=float) / sum(light_shares)
        self._dual, self._gd_only = dual_share, gd_only_share

    @property
    def cjk(self) -> bool:
        """Whether Chinese characters are printed (a CJK font was found)."""
        return self.glyphs.cjk

    def generate(
        self,
        index: int,
        *,
        plates: Sequence[str] = (),
        light: str | None = None,
        view: str | None = None,
    ) -> PlateFrame:
        """Frame number ``index``: drawn plates, or ``plates`` (one or two; HK or GD, as on a crossing)."""
        if index < 0:
            raise ValueError("index must be non-negative")
        if light is not None and light not in LIGHTS:
            raise ValueError(f"light must be one of {', '.join(LIGHTS)}, got {light!r}")
        if view is not None and view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        if len(plates) > 2:
            raise ValueError("a vehicle carries one or two plates")
        rng = np.random.default_rng([self.seed, index, 12])
        texts = tuple(plates) or self._draw_plates(rng)
        shot = self._shot(rng, light, view)
        return _Scene(self, rng, shot, texts).render()

    def _draw_plates(self, rng: np.random.Generator) -> tuple[str, ...]:
        draw = rng.random()
        if draw < self._dual:
            return (hk_plate(rng), gd_plate(rng))
        return (gd_plate(rng),) if draw < self._dual + self._gd_only else (hk_plate(rng),)

    def _shot(self, rng: np.random.Generator, light: str | None, view: str | None) -> _Shot:
        drawn_light = LIGHTS[int(rng.choice(len(LIGHTS), p=self._light_p))]
        drawn_view = VIEWS[int(rng.random() < 0.3)]
        dirt = 0.0 if rng.random() < 0.5 else float(rng.uniform(0.1, 1.0))
        return _Shot(
            view=view or drawn_view,
            light=light or drawn_light,
            yaw_deg=float(rng.uniform(-MAX_YAW_DEG, MAX_YAW_DEG)),
            pitch_deg=float(rng.uniform(3, 18)),
            roll_deg=float(rng.uniform(-4, 4)),
            plate_width_px=float(rng.uniform(*PLATE_WIDTH_PX)) * self.width / 640,
            dirt=dirt,
            jpeg_quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)),
        )


class _Scene:
    """One frame being drawn: the vehicle plane in millimetres, its camera, light and sensor."""

    def __init__(
        self, sim: PlateSimulator, rng: np.random.Generator, shot: _Shot, texts: tuple[str, ...]
    ) -> None:
        self.sim, self.rng, self.shot, self.texts = sim, rng, shot, texts
        self.styles = [_style(text, shot.view) for text in texts]
        first_w_mm = self.styles[0].size_mm[0]
        self.px_per_mm = 1.25 * shot.plate_width_px / first_w_mm  # the plane drawn a bit finer than seen
        self.plate_centres = self._plate_centres()
        self.homography = self._camera()

    # ------------------------------------------------------------------ geometry

    def _plate_centres(self) -> list[tuple[float, float]]:
        """Each plate's centre on the vehicle (x from its middle, y up from the ground), in mm; a second
        plate above or below the first."""
        x = float(self.rng.normal(0, 25))
        y = PLATE_CENTRE_MM[self.shot.view]
        if len(self.styles) == 1:
            return [(x, y)]
        heights = [s.size_mm[1] for s in self.styles]
        upper_first = self.rng.random() < 0.5
        lower, upper = (1, 0) if upper_first else (0, 1)
        centres = [(x, 0.0), (x, 0.0)]
        centres[lower] = (x, y)
        centres[upper] = (x, y + (heights[lower] + heights[upper]) / 2 + 22)
        return centres

    def to_texture(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Texture pixel (column, row) of a point on the vehicle plane."""
        return ((x_mm + VEHICLE_MM[0] / 2) * self.px_per_mm, (VEHICLE_MM[1] - y_mm) * self.px_per_mm)

    def _camera(self) -> np.ndarray:
        """Homography from texture pixels to image pixels: the plane turned, pitched, rolled and set at
        the distance that gives the first plate its width, its centre placed in the lower middle."""
        shot, width, height = self.shot, self.sim.width, self.sim.height
        focal = 1.4 * width
        distance_mm = focal * self.styles[0].size_mm[0] / shot.plate_width_px
        yaw, pitch, roll = (math.radians(a) for a in (shot.yaw_deg, shot.pitch_deg, shot.roll_deg))
        rotation = _rz(roll) @ _rx(-pitch) @ _ry(yaw)
        px, py = self.plate_centres[0]
        # texture pixel -> plane mm about the first plate, y down (camera convention)
        to_plane = np.array(
            [
                [1 / self.px_per_mm, 0, -VEHICLE_MM[0] / 2 - px],
                [0, 1 / self.px_per_mm, -(VEHICLE_MM[1] - py)],
                [0, 0, 1],
            ]
        )
        extrinsic = np.column_stack([rotation[:, 0], rotation[:, 1], [0, 0, distance_mm]])
        centre_x = width * (0.5 + self.rng.uniform(-0.2, 0.2))
        centre_y = height * self.rng.uniform(0.5, 0.72)
        intrinsic = np.array([[focal, 0, centre_x], [0, focal, centre_y], [0, 0, 1]])
        homography = intrinsic @ extrinsic @ to_plane
        return np.asarray(homography / homography[2, 2])

    def project(self, points_mm: Sequence[tuple[float, float]]) -> np.ndarray:
        """Image pixels (n, 2) of points on the vehicle plane."""
        texture = np.array([self.to_texture(x, y) for x, y in points_mm], dtype=np.float64)
        return np.asarray(cv2.perspectiveTransform(texture[None], self.homography)[0])

    def plate_corners_mm(self, number: int) -> list[tuple[float, float]]:
        (cx, cy), (w, h) = self.plate_centres[number], self.styles[number].size_mm
        return [
            (cx - w / 2, cy + h / 2),
            (cx + w / 2, cy + h / 2),
            (cx + w / 2, cy - h / 2),
            (cx - w / 2, cy - h / 2),
        ]

    # ------------------------------------------------------------------ drawing

    def render(self) -> PlateFrame:
        texture, alpha, printed = self._vehicle()
        size = (self.sim.width, self.sim.height)
        warped = cv2.warpPerspective(texture, self.homography, size, flags=cv2.INTER_LINEAR)
        coverage = cv2.warpPerspective(alpha, self.homography, size, flags=cv2.INTER_LINEAR)[..., None]
        image = self._background()
        image += (warped - image) * coverage
        image = self._light(image)
        image, blur_px = self._blur(image)
        sigma = {"day": (1.0, 3.0), "dusk": (2.5, 5.5), "night": (3.5, 8.0), "night_ir": (2.5, 6.0)}
        noise = float(self.rng.uniform(*sigma[self.shot.light]))
        image += self.rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise)
        if self.shot.light == "night_ir":
            image[:] = image.mean(axis=2, keepdims=True)
        frozen = np.clip(image, 0, 255).astype(np.uint8)
        frozen.flags.writeable = False
        plates = tuple(
            PlateTruth(
                text=text,
                region=style.region,
                style=style.name,
                printed=shown,
                corners=tuple((float(x), float(y)) for x, y in self.project(self.plate_corners_mm(n))),
            )
            for n, (text, style, shown) in enumerate(zip(self.texts, self.styles, printed, strict=True))
        )
        shot = self.shot
        return PlateFrame(
            frozen,
            plates,
            shot.light,
            shot.view,
            shot.yaw_deg,
            shot.pitch_deg,
            shot.roll_deg,
            shot.plate_width_px,
            blur_px,
            noise,
            shot.dirt,
            shot.jpeg_quality,
        )

    def _vehicle(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The vehicle plane as a texture: RGB albedo (0-255), coverage, and the text each plate shows."""
        w, h = (max(8, round(n * self.px_per_mm)) for n in VEHICLE_MM)
        texture = np.zeros((h, w, 3), dtype=np.float32)
        alpha = np.zeros((h, w), dtype=np.float32)
        paint = np.asarray(PAINTS[int(self.rng.integers(len(PAINTS)))], dtype=np.float32)
        body = self._poly([(-900, 250), (900, 250), (880, 1000), (660, 1450), (-660, 1450), (-880, 1000)])
        cv2.fillPoly(texture, [body], tuple(float(c) for c in paint), cv2.LINE_AA)
        cv2.fillPoly(alpha, [body], 1.0, cv2.LINE_AA)
        shade = np.linspace(1.12, 0.85, h, dtype=np.float32)[:, None, None]  # light from above
        texture *= shade
        glass = (40.0, 52.0, 64.0) if self.shot.view == "front" else (30.0, 36.0, 44.0)
        cv2.fillPoly(texture, [self._poly([(-800, 1030), (800, 1030), (620, 1410), (-620, 1410)])], glass)
        for side in (-1, 1):  # tyres under the bumper
            cv2.fillPoly(
                alpha,
                [self._poly([(side * 870, 0), (side * 660, 0), (side * 660, 260), (side * 870, 260)])],
                1.0,
            )
            self._lamp(texture, side)
        if self.shot.view == "front":
            self._grille(texture)
        else:
            cv2.rectangle(texture, *self._rect(-700, 860, 700, 880), tuple(float(c) * 0.6 for c in paint), -1)
        cv2.fillPoly(
            texture, [self._poly([(-600, 260), (600, 260), (560, 330), (-560, 330)])], (22.0, 22.0, 24.0)
        )
        printed = [self._plate(texture, n) for n in range(len(self.texts))]
        return texture, alpha, printed

    def _poly(self, points_mm: Sequence[tuple[float, float]]) -> np.ndarray:
        return np.array([self.to_texture(x, y) for x, y in points_mm], dtype=np.int32)

    def _rect(self, x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[int, int], tuple[int, int]]:
        a, b = self.to_texture(x0, y1), self.to_texture(x1, y0)
        return (round(a[0]), round(a[1])), (round(b[0]), round(b[1]))

    def _lamp(self, texture: np.ndarray, side: int) -> None:
        """A headlamp (front) or a tail lamp (rear) on one side, lit or not as the light says."""
        centre = self.to_texture(side * 640, 860 if self.shot.view == "front" else 900)
        axes = (round(150 * self.px_per_mm), round(55 * self.px_per_mm))
        front = self.shot.view == "front"
        colour = (205.0, 210.0, 215.0) if front else (150.0, 20.0, 24.0)
        cv2.ellipse(texture, (round(centre[0]), round(centre[1])), axes, 0, 0, 360, colour, -1, cv2.LINE_AA)

    def _grille(self, texture: np.ndarray) -> None:
        """A dark grille with bars or a mesh, and a badge."""
        (x0, y0), (x1, y1) = self._rect(-400, 640, 400, 870)
        cv2.rectangle(texture, (x0, y0), (x1, y1), (28.0, 28.0, 30.0), -1)
        bar = (150.0, 152.0, 156.0) if self.rng.random() < 0.5 else (60.0, 60.0, 64.0)
        pitch = max(2, round(self.rng.uniform(25, 45) * self.px_per_mm))
        for y in range(y0 + pitch // 2, y1, pitch):
            cv2.line(texture, (x0, y), (x1, y), bar, max(1, round(8 * self.px_per_mm)))
        if self.rng.random() < 0.5:  # a mesh: vertical bars too
            for x in range(x0 + pitch // 2, x1, pitch):
                cv2.line(texture, (x, y0), (x, y1), bar, max(1, round(6 * self.px_per_mm)))
        centre = self.to_texture(0, 755)
        radius = max(2, round(45 * self.px_per_mm))
        cv2.circle(
            texture, (round(centre[0]), round(centre[1])), radius, (190.0, 192.0, 196.0), -1, cv2.LINE_AA
        )

    def _plate(self, texture: np.ndarray, number: int) -> str:
        """Plate ``number`` on its holder, dirty or not; the text it shows."""
        style, text = self.styles[number], self.texts[number]
        plate, shown = plate_image(self.sim.glyphs, text, style, self.px_per_mm)
        _dirty(self.rng, plate, self.shot.dirt)
        (cx, cy), (w_mm, h_mm) = self.plate_centres[number], style.size_mm
        if self.rng.random() < 0.5:  # a holder: a dark rim, sometimes with a dealer's name below
            rim = 12
            (x0, y0), (x1, y1) = self._rect(
                cx - w_mm / 2 - rim, cy - h_mm / 2 - rim, cx + w_mm / 2 + rim, cy + h_mm / 2 + rim
            )
            cv2.rectangle(texture, (x0, y0), (x1, y1), (20.0, 20.0, 22.0), -1)
            if self.rng.random() < 0.4 and number == 0:
                self._dealer(texture, cx, cy - h_mm / 2 - rim / 2)
        left, top = (round(v) for v in self.to_texture(cx - w_mm / 2, cy + h_mm / 2))
        ph, pw = plate.shape[:2]
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + ph, texture.shape[0]), min(left + pw, texture.shape[1])
        texture[y0:y1, x0:x1] = plate[y0 - top : y1 - top, x0 - left : x1 - left]
        return shown

    def _dealer(self, texture: np.ndarray, cx_mm: float, y_mm: float) -> None:
        """Small white capitals on the holder's lower rim: text that is not a plate."""
        name = DEALERS[int(self.rng.integers(len(DEALERS)))]
        scale = 9 * self.px_per_mm / 22  # Hershey simplex capitals are ~22 px tall at scale 1
        (text_w, text_h), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x, y = self.to_texture(cx_mm, y_mm)
        org = (round(x - text_w / 2), round(y + text_h / 2))
        ink = np.zeros(texture.shape[:2], dtype=np.uint8)  # OpenCV writes text on 8-bit images only
        cv2.putText(ink, name, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
        texture += (np.float32(220) - texture) * (ink.astype(np.float32) / 255)[..., None]

    def _background(self) -> np.ndarray:
        """A lane: asphalt below the horizon, a wall or barrier above it, both with a coarse texture."""
        h, w = self.sim.height, self.sim.width
        horizon = int(h * self.rng.uniform(0.3, 0.5))
        image = np.empty((h, w, 3), dtype=np.float32)
        image[:horizon] = self.rng.uniform(90, 200) * self.rng.uniform(0.85, 1.15, 3)
        image[horizon:] = self.rng.uniform(60, 110)
        coarse = self.rng.normal(0, 8, (h // 16 + 1, w // 16 + 1)).astype(np.float32)
        image += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
        lane_x = int(w * self.rng.uniform(0.05, 0.95))
        cv2.line(image, (lane_x, h), (w // 2, horizon), (200.0, 200.0, 190.0), 4)
        return image

    # ------------------------------------------------------------------ light and sensor

    def _light(self, image: np.ndarray) -> np.ndarray:
        light, rng = self.shot.light, self.rng
        h, w = image.shape[:2]
        plates = [self.project(self.plate_corners_mm(n)) for n in range(len(self.texts))]
        centre = np.mean(np.vstack(plates), axis=0)
        plate_w_px = float(np.ptp(plates[0][:, 0]))
        if light == "day":
            gain = rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, 3)
            image *= gain.astype(np.float32)
            if rng.random() < 0.33:  # a shadow edge across the frame
                image *= _half_plane(rng, h, w, rng.uniform(0.45, 0.7))[..., None]
            return image
        if light == "dusk":
            image *= (rng.uniform(0.3, 0.5) * np.array([0.88, 0.95, 1.12])).astype(np.float32)
            return self._glare(image, strength=rng.uniform(0.5, 0.9))
        if light == "night":
            spot = _spot(h, w, centre, 1.6 * plate_w_px, rng.uniform(0.45, 0.85))
            image *= (rng.uniform(0.05, 0.12) + spot)[..., None]
            return self._glare(image, strength=rng.uniform(0.8, 1.2))
        grey = image.mean(axis=2, keepdims=True) * np.float32(rng.uniform(0.8, 1.1))
        illuminated = (
            grey
            * (rng.uniform(0.15, 0.35) + _spot(h, w, centre, 2.5 * plate_w_px, rng.uniform(0.6, 0.9)))[
                ..., None
            ]
        )
        retro = np.zeros((h, w), dtype=np.float32)
        for corners in plates:
            cv2.fillConvexPoly(retro, corners.astype(np.int32), 1.0, cv2.LINE_AA)
        illuminated *= (1 + retro * np.float32(rng.uniform(0.4, 0.9)))[..., None]  # retroreflective sheeting
        return self._glare(
            self._exposed(np.repeat(illuminated, 3, axis=2), retro), strength=rng.uniform(0.3, 0.6)
        )

    def _exposed(self, image: np.ndarray, plates: np.ndarray) -> np.ndarray:
        """Auto-exposure on the plates: their brightest part brought down to 220-290 (a little clipping)."""
        inside = image[plates > 0.5]
        if inside.size == 0:
            return image
        bright = float(np.percentile(inside, 95))
        target = self.rng.uniform(220, 290)
        return image * np.float32(min(1.0, target / max(bright, 1.0)))

    def _glare(self, image: np.ndarray, strength: float) -> np.ndarray:
        """Lit lamps: a saturated core and a soft bloom around each (red at the rear)."""
        h, w = image.shape[:2]
        y_mm = 860 if self.shot.view == "front" else 900
        lamps = self.project([(-640, y_mm), (640, y_mm)])
        radius = float(np.linalg.norm(self.project([(0, 0), (150, 0)])[1] - self.project([(0, 0)])[0]))
        colour = np.array(
            [1.0, 0.97, 0.9] if self.shot.view == "front" else [1.0, 0.25, 0.2], dtype=np.float32
        )
        bloom = np.zeros((h, w), dtype=np.float32)
        for x, y in lamps:
            bloom += _spot(h, w, (x, y), 1.2 * radius, 1.0)
            bloom += _spot(h, w, (x, y), 0.5 * radius, 2.0)
        return np.asarray(image + (255 * strength * bloom)[..., None] * colour, dtype=np.float32)

    def _blur(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Focus blur, or motion blur of 3-9 px (more often in the dark: longer exposures)."""
        motion_p = 0.25 if self.shot.light == "day" else 0.5
        if self.rng.random() < motion_p:
            length = int(self.rng.integers(3, 10))
            angle = self.rng.uniform(0, math.pi)
            kernel = np.zeros((length, length), dtype=np.float32)
            half = (length - 1) / 2
            dx, dy = half * math.cos(angle), half * math.sin(angle)
            cv2.line(
                kernel, (round(half - dx), round(half - dy)), (round(half + dx), round(half + dy)), 1.0, 1
            )
            return cv2.filter2D(image, -1, kernel / kernel.sum()), float(length)
        sigma = float(self.rng.uniform(0.0, 1.3))
        if sigma < 0.3:
            return image, 0.0
        return cv2.GaussianBlur(image, (0, 0), sigma), sigma


def _style(text: str, view: str) -> PlateStyle:
    if plate_region(text) == "GD":
        return STYLES["gd"]
    return STYLES["hk_front" if view == "front" else "hk_rear"]


def _rx(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _spot(
    h: int, w: int, centre: Sequence[float] | np.ndarray, radius: float, amplitude: float
) -> np.ndarray:
    """A Gaussian pool of light, ``amplitude`` at ``centre``, sigma ``radius`` pixels."""
    y = ((np.arange(h, dtype=np.float32) - np.float32(centre[1])) / np.float32(max(radius, 1.0))) ** 2
    x = ((np.arange(w, dtype=np.float32) - np.float32(centre[0])) / np.float32(max(radius, 1.0))) ** 2
    return np.asarray(np.float32(amplitude) * np.exp(-0.5 * y)[:, None] * np.exp(-0.5 * x)[None, :])


def _half_plane(rng: np.random.Generator, h: int, w: int, factor: float) -> np.ndarray:
    """1 on one side of a random line through the frame, ``factor`` on the other, a soft edge between."""
    angle = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    distance = (x - rng.uniform(0, w)) * math.cos(angle) + (y - rng.uniform(0, h)) * math.sin(angle)
    edge = np.clip(distance / 6 + 0.5, 0, 1)
    return np.asarray(factor + (1 - factor) * edge, dtype=np.float32)


def _dirty(rng: np.random.Generator, plate: np.ndarray, dirt: float) -> None:
    """Brown blotches and grime rising from the bottom edge, more of both the dirtier the plate."""
    if dirt <= 0:
        return
    h, w = plate.shape[:2]
    mud = np.array([92.0, 74.0, 52.0], dtype=np.float32)
    layer = np.zeros((h, w), dtype=np.float32)
    for _ in range(int(3 + 12 * dirt)):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (max(1, int(rng.uniform(0.01, 0.06) * w)), max(1, int(rng.uniform(0.03, 0.15) * h)))
        cv2.ellipse(layer, centre, axes, rng.uniform(0, 180), 0, 360, float(rng.uniform(0.3, 1.0)), -1)
    blurred = cv2.GaussianBlur(layer, (0, 0), max(0.8, 0.01 * w))
    grime = np.clip((np.arange(h, dtype=np.float32) / h - 0.55) * 2, 0, 1)[:, None]
    alpha = np.clip((0.45 * blurred + 0.5 * grime) * dirt, 0, 0.6)[..., None]
    plate += (mud - plate) * alpha


# --------------------------------------------------------------------------- encoding and frames


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB uint8 image."""
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode the image as JPEG")
    return bytes(data.tobytes())


def truth_dict(frame: PlateFrame) -> dict[str, object]:
    """The ground truth of a frame: its plates and how it was shot."""
    return {
        "plates": [
            {
                "text": p.text,
                "region": p.region,
                "style": p.style,
                "printed": p.printed,
                "cjk_rendered": p.cjk_rendered,
                "corners": [[round(x, 1), round(y, 1)] for x, y in p.corners],
                "box": list(p.box),
            }
            for p in frame.plates
        ],
        "light": frame.light,
        "view": frame.view,
        "yaw_deg": round(frame.yaw_deg, 2),
        "pitch_deg": round(frame.pitch_deg, 2),
        "roll_deg": round(frame.roll_deg, 2),
        "plate_width_px": round(frame.plate_width_px, 1),
        "blur_px": round(frame.blur_px, 2),
        "noise_sigma": round(frame.noise_sigma, 2),
        "dirt": round(frame.dirt, 3),
        "jpeg_quality": frame.jpeg_quality,
    }


def to_frame(
    frame: PlateFrame,
    *,
    source_id: str,
    sequence: int,
    conveyance_id: str = "",
    frame_id: str | None = None,
) -> frame_pb2.Frame:
    """A MODALITY_CAMERA frame: the image as JPEG at the frame's quality, shape [H, W, 3], metadata
    ``camera_role`` "vehicle_lane", ``camera_view``, ``conveyance_id`` (also the frame's field) and the
    ground truth (``sim_truth``, for evaluation only)."""
    metadata = {
        "camera_role": CAMERA_ROLE,
        "camera_view": frame.view,
        "sim_truth": json.dumps(truth_dict(frame), ensure_ascii=False),
    }
    if conveyance_id:
        metadata["conveyance_id"] = conveyance_id
    message = payload_frame(
        encode_jpeg(frame.image, frame.jpeg_quality),
        modality=Modality.CAMERA,
        source_id=source_id,
        sequence=sequence,
        encoding="jpeg",
        shape=frame.image.shape,
        frame_id=frame_id,
        metadata=metadata,
    )
    message.conveyance_id = conveyance_id
    return message

"""Officers' previews: grey-scale and the screeners' colour view of a dual-energy X-ray (pure logic)."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from smartcustoms.core.frames import array_frame
from smartcustoms.core.preview import COLOURS, encode_png, render, screener_colours
from smartcustoms.core.types import Modality
from smartcustoms.v1 import results_pb2

FULL = 65535.0


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, colour type, raw rows without filter bytes) of a PNG this module wrote."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _, colour_type = struct.unpack(">IIBB", data[16:26])
    (length,) = struct.unpack(">I", data[33:37])
    raw = zlib.decompress(data[41 : 41 + length])
    stride = len(raw) // height
    return width, height, colour_type, b"".join(raw[r * stride + 1 : (r + 1) * stride] for r in range(height))


def counts(line_integral: float) -> int:
    return round(FULL * math.exp(-line_integral))


def test_png_grey_and_rgb_round_trip() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert decode_png(encode_png(grey)) == (4, 3, 0, grey.tobytes())
    rgb = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    assert decode_png(encode_png(rgb)) == (4, 3, 2, rgb.tobytes())


def test_each_pixel_takes_the_colour_of_its_material() -> None:
    # (high-energy L, low-energy L): organic ratio 1.2, inorganic 1.8, metal 3.0; air; nothing through
    cases = {"organic": (1.0, 1.2), "inorganic": (0.5, 0.9), "metal": (1.0, 3.0)}
    high = np.array([[counts(h) for h, _ in cases.values()] + [counts(0.02), 5]], np.uint16)
    low = np.array([[counts(lo) for _, lo in cases.values()] + [counts(0.03), 5]], np.uint16)
    image = screener_colours(high, low, FULL)
    for column, name in enumerate(cases):
        pixel = image[0, column].astype(float)
        expected = np.array(COLOURS[name], float)
        assert int(np.argmax(pixel)) == int(np.argmax(expected)), (name, pixel)
        assert 0 < pixel.max() < expected.max()  # darker than at full transmission
    assert image[0, 3].tolist() == [255, 255, 255]  # air
    assert image[0, 4].tolist() == [0, 0, 0]  # nothing through


def test_a_dual_energy_xray_has_a_colour_view_and_other_frames_do_not() -> None:
    image = np.full((2, 64, 96), 60_000, np.uint16)
    image[0, 10:30, 10:40], image[1, 10:30, 10:40] = counts(1.0), counts(3.0)  # steel
    verdict = results_pb2.Verdict()
    xray = array_frame(image, modality=Modality.XRAY, source_id="lane-1", sequence=1)
    shown = render(xray, image.tobytes(), verdict)
    assert shown is not None
    grey, colour = decode_png(shown.data), decode_png(shown.colour)
    assert (grey[:3], colour[:3]) == ((96, 64, 0), (96, 64, 2))
    steel = np.frombuffer(colour[3], np.uint8).reshape(64, 96, 3)[20, 20]
    assert int(np.argmax(steel)) == 2  # blue
    single = array_frame(image[:1], modality=Modality.XRAY, source_id="lane-1", sequence=2)
    shown_single = render(single, image[:1].tobytes(), verdict)
    assert shown_single is not None and shown_single.colour == b""
    volume = np.zeros((4, 8, 8), np.int16)
    ct = array_frame(volume, modality=Modality.CT, source_id="ct-1", sequence=1)
    shown_ct = render(ct, volume.tobytes(), verdict)
    assert shown_ct is not None and shown_ct.colour == b""

"""Image signatures of online listings: what a feed connector computes when it fetches a listing's
image, and what the IPR plugin compares against a rights holder's catalogue.

Two signatures of 64 bits each, as 16 hex digits:

- ``phash``: imagehash's perceptual hash of the whole image. Survives re-compression and resizing;
  a crop of a tenth of the image or a recolouring moves it far.
- ``ehash``: the same perceptual hash of the image in grey levels, histogram-equalised first. The
  equalisation removes brightness, contrast and most of a recolouring; the catalogue side keeps this
  hash for a grid of crops of each catalogue image (``crop_grid_hashes``), so a listing image cut out
  of a catalogue image lands near one of them.

``hamming`` compares two hex hashes; ``nearest`` compares one against many at once (numpy).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "LISTING_KIND",
    "BrokenImage",
    "ImageSignature",
    "crop_grid_hashes",
    "hamming",
    "hashes_to_array",
    "nearest",
    "signature_of",
]

LISTING_KIND = "online_listing"  # the record kind of a listing; its image fields are ``image_*``
CROP_SCALES = (1.0, 0.9, 0.8, 0.7)
CROP_POSITIONS = (0.0, 0.5, 1.0)  # where the crop sits along each axis: start, centre, end
MAX_IMAGE_BYTES = 4 * 1024 * 1024


class BrokenImage(ValueError):
    """Bytes that are not a readable image (truncated, wrong format, too large)."""


@dataclass(frozen=True)
class ImageSignature:
    sha256: str  # of the image bytes: the blob store key and the evidence's hash
    phash: str
    ehash: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_IMAGE_BYTES:
        raise BrokenImage(f"image of {len(data)} bytes is over {MAX_IMAGE_BYTES}")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BrokenImage(f"unreadable image: {error}") from None
    return image.convert("RGB")


def _ehash(image: Image.Image) -> str:
    return str(imagehash.phash(ImageOps.equalize(image.convert("L"))))


def signature_of(data: bytes) -> ImageSignature:
    """Both signatures of an encoded image; ``BrokenImage`` if it cannot be read."""
    image = _open(data)
    return ImageSignature(
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(image)),
        ehash=_ehash(image),
        width=image.width,
        height=image.height,
    )


def crop_grid_hashes(data: bytes) -> list[str]:
    """``ehash`` of a grid of crops of a catalogue image (every scale at every position)."""
    image = _open(data)
    hashes = []
    for scale in CROP_SCALES:
        w, h = max(8, round(image.width * scale)), max(8, round(image.height * scale))
        for fy in CROP_POSITIONS if scale < 1.0 else (0.0,):
            for fx in CROP_POSITIONS if scale < 1.0 else (0.0,):
                x, y = round((image.width - w) * fx), round((image.height - h) * fy)
                hashes.append(_ehash(image.crop((x, y, x + w, y + h))))
    return hashes


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes of the same length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hashes_to_array(hashes: list[str]) -> np.ndarray:
    """Hex hashes of 64 bits as a uint64 array, for ``nearest``."""
    return np.array([int(h, 16) for h in hashes], dtype=np.uint64)


def nearest(hash_hex: str, table: np.ndarray) -> tuple[int, int]:
    """(index, distance) of the entry of ``table`` (``hashes_to_array``) nearest to ``hash_hex``."""
    if table.size == 0:
        return -1, 64
    distances = np.bitwise_count(table ^ np.uint64(int(hash_hex, 16)))
    index = int(np.argmin(distances))
    return index, int(distances[index])

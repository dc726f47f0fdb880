"""The plate plugin: ``plate_reader``, licence plates read in vehicle lane camera frames (Hong Kong and
Guangdong cross-boundary plates), so the fusion stage and vehicle risk can join a camera's read with
the crossing record.

Runtime modules: ``plugin`` (the hook class), ``reader`` (one image's plates), ``detect`` (text lines
without a learned detector), ``ocr`` (rapidocr-onnxruntime's recognition model), ``formats`` (the plate
formats and the decoding against them) and ``settings``. ``tools/`` holds the evaluation on the plate
camera simulator; the runtime modules never import it nor the simulators. No artefact: the recognition
model ships inside the rapidocr-onnxruntime wheel, and its version is reported on every read.
"""

from __future__ import annotations

from smartcustoms.plugins.plate.formats import normalise, valid
from smartcustoms.plugins.plate.plugin import LABEL, PlateReaderPlugin
from smartcustoms.plugins.plate.reader import PlateRead, PlateReader
from smartcustoms.plugins.plate.settings import PlateSettings

__all__ = ["LABEL", "PlateRead", "PlateReader", "PlateReaderPlugin", "PlateSettings", "normalise", "valid"]

"""Build hook: generate the Python gRPC/protobuf modules from proto/ before packaging.

Everything else lives in setup.cfg. The generated modules are written next to the .proto files
(package ``smartcustoms.v1``), so regular and editable installs see the same code; they are never
committed and never edited by hand.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_DIR = PROTO_ROOT / "smartcustoms" / "v1"


def generate_protos() -> None:
    """Run grpc_tools.protoc over proto/smartcustoms/v1/*.proto (with .pyi stubs)."""
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PACKAGE_DIR.glob("*.proto"))
    command = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
        f"--python_out={PROTO_ROOT}", f"--pyi_out={PROTO_ROOT}", f"--grpc_python_out={PROTO_ROOT}",
        *sources,
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    (PACKAGE_DIR / "__init__.py").write_text('"""Generated from proto/smartcustoms/v1 by setup.py."""\n')
    (PACKAGE_DIR / "py.typed").write_text("")


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        generate_protos()
        super().run()


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithProtos})

"""Regenerate the committed gRPC stubs of ``loglayer.isolation.proto``.

    .venv/bin/pip install grpcio-tools==1.85.1
    .venv/bin/python tools/gen_proto.py            # rewrites the stubs in src/.../proto
    .venv/bin/python tools/gen_proto.py --out DIR  # writes DIR/loglayer/isolation/proto/...

The stubs are committed so that a plain ``pip install 'loglayer[grpc]'`` needs no code
generator. They are generated with ``src`` as the import root, so they import each other as
``loglayer.isolation.proto.<name>_pb2``. ``tests/test_grpc_stubs.py`` regenerates them into a
temporary directory and fails when the committed files differ, so a ``.proto`` edit cannot
land without its stubs. The output depends on the grpcio-tools version, which is pinned here
and in the ``dev`` extra; the runtime pins (``grpcio``, ``protobuf``) follow from it.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

__all__ = ["GRPCIO_TOOLS_VERSION", "PROTO_FILES", "generate"]

#: The generator version the committed stubs were made with.
GRPCIO_TOOLS_VERSION = "1.85.1"

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE_ROOT = ROOT / "src"
PROTO_DIR = "loglayer/isolation/proto"
PROTO_FILES = ("loglayer_plugin.proto", "grpc_controller.proto", "grpc_stdio.proto")


def generate(out: pathlib.Path) -> None:
    """Write the ``_pb2.py``, ``_pb2.pyi`` and ``_pb2_grpc.py`` of every proto under ``out``."""
    import importlib.resources

    from grpc_tools import protoc

    well_known = importlib.resources.files("grpc_tools") / "_proto"
    (out / PROTO_DIR).mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{SOURCE_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(f"{PROTO_DIR}/{name}" for name in PROTO_FILES),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}: {' '.join(args)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=SOURCE_ROOT,
                        help="import root to write into (default: src)")
    options = parser.parse_args(argv)
    from importlib.metadata import version

    installed = version("grpcio-tools")
    if installed != GRPCIO_TOOLS_VERSION:
        print(f"gen_proto: grpcio-tools {installed} is installed; the committed stubs are made "
              f"with {GRPCIO_TOOLS_VERSION}", file=sys.stderr)
        return 2
    generate(options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

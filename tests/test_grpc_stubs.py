"""The committed gRPC stubs are what ``tools/gen_proto.py`` makes from the ``.proto`` files.

A ``.proto`` edit without regenerated stubs fails here, in CI, with the command to run.
"""

from __future__ import annotations

import filecmp
import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "src" / "loglayer" / "isolation" / "proto"
GEN_PROTO = ROOT / "tools" / "gen_proto.py"


@pytest.mark.slow
def test_committed_stubs_are_current(tmp_path):
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpcio-tools (the dev extra) is not installed")
    # In a child process: the in-process protoc compiler stays out of the test process.
    done = subprocess.run([sys.executable, str(GEN_PROTO), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "loglayer" / "isolation" / "proto"
    generated = sorted(p.name for p in fresh.iterdir())
    # _pb2.py, _pb2.pyi, _pb2_grpc.py and (typed by gen_proto) _pb2_grpc.pyi per proto
    assert len(generated) == 12
    committed = sorted(p.name for p in PROTO_DIR.iterdir() if "_pb2" in p.name)
    assert committed == generated, "stale or missing stub files next to the .proto files"
    _, mismatch, errors = filecmp.cmpfiles(fresh, PROTO_DIR, generated, shallow=False)
    assert not mismatch and not errors, (
        f"stubs out of date: {mismatch + errors}; regenerate them with "
        "`python tools/gen_proto.py` (see src/loglayer/isolation/proto/README)")


def test_stubs_import_and_declare_go_plugins_names():
    pytest.importorskip("grpc", reason="the grpc extra is not installed")
    from loglayer.isolation.proto import (
        grpc_controller_pb2,
        grpc_stdio_pb2,
        loglayer_plugin_pb2,
    )

    controller = grpc_controller_pb2.DESCRIPTOR.services_by_name["GRPCController"]
    assert controller.full_name == "plugin.GRPCController"
    assert [m.name for m in controller.methods] == ["Shutdown"]
    stdio = grpc_stdio_pb2.DESCRIPTOR.services_by_name["GRPCStdio"]
    assert stdio.full_name == "plugin.GRPCStdio"
    method = stdio.methods_by_name["StreamStdio"]
    assert method.input_type.full_name == "google.protobuf.Empty"
    assert method.server_streaming and method.output_type.full_name == "plugin.StdioData"
    channel = grpc_stdio_pb2.StdioData.Channel
    assert [channel.Name(i) for i in (0, 1, 2)] == ["INVALID", "STDOUT", "STDERR"]
    service = loglayer_plugin_pb2.DESCRIPTOR.services_by_name["LogLayerPlugin"]
    assert service.full_name == "loglayer.plugin.v1.LogLayerPlugin"
    assert {m.name for m in service.methods} == {
        "Describe", "OnFieldsCalled", "OnMetadataCalled", "OnBeforeDataOut",
        "OnBeforeMessageOut", "TransformLogLevel", "ShouldSend", "DispatchBatch"}

"""Plugins hosted outside the caller's code: in a child process over gRPC, or in a
WebAssembly sandbox (patterns 2 and 3 of the plugin-hosting article).

Each host is a plugin object like any other (``log.add_plugin(GrpcPlugin([...]))``).
The names load lazily, so importing ``loglayer.isolation`` needs neither ``grpcio`` nor
``wasmtime``; using one without its extra raises an ImportError naming the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["GrpcPlugin", "GuestError", "WasmModuleError", "WasmPlugin", "serve"]

_LAZY = {
    "GrpcPlugin": ("._grpc_host", "GrpcPlugin"),
    "serve": ("._grpc_serve", "serve"),
    "WasmPlugin": ("._wasm_host", "WasmPlugin"),
    "WasmModuleError": ("._wasm_host", "WasmModuleError"),
    "GuestError": ("._wasm_abi", "GuestError"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""``python -m loglayer.isolation.serve module:factory``: run a plugin process.

The factory is called with no arguments and must return a plugin object; it is served with
:func:`loglayer.isolation.serve` to the host that started this process, for example::

    GrpcPlugin([sys.executable, "-m", "loglayer.isolation.serve", "myapp.plugins:Redact"])

Run by hand, without a host's magic cookie, it prints go-plugin's "This binary is a plugin"
message and exits with status 1.

The package attribute ``loglayer.isolation.serve`` is the function. Importing this module
by its name (documentation tools and ``pkgutil.walk_packages`` do) makes the package
attribute this module instead, so the module is callable too, as the function: code that
calls ``loglayer.isolation.serve(plugin)`` works either way.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _ServeModule(types.ModuleType):
    """This module, callable as :func:`loglayer.isolation.serve`."""

    def __call__(self, plugin: Any, **options: Any) -> None:
        from loglayer.isolation._grpc_serve import serve

        serve(plugin, **options)


if __name__ == "__main__":
    from loglayer.isolation._grpc_serve import main

    main(sys.argv[1:])
else:
    sys.modules[__name__].__class__ = _ServeModule

"""``import loglayer`` stays cheap: what it must not import, checked in a fresh process.

Module presence, not timing (a busy machine makes timings flaky): the pure twins when
the compiled core is live, ``importlib.metadata`` (the registry reads entry points on
first use), the shipping transports' client libraries, and the optional integrations.
``tools/import_time.py`` measures the time itself against structlog and loguru.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import loglayer

#: Never imported by ``import loglayer``, whichever core is live.
NEVER = ("importlib.metadata", "urllib3", "opentelemetry", "grpc", "wasmtime",
         "loglayer.transports._delivery", "loglayer.transports._http",
         "loglayer.transports._otlp", "loglayer.utils._cloner",
         # the web frameworks and the middleware for them, and log.writer()'s class
         "loglayer.integrations", "starlette", "flask", "werkzeug", "django", "asgiref",
         "loglayer._writer")
#: Not imported by ``import loglayer`` while the compiled core is live.
NOT_WITH_COMPILED = ("loglayer._core_py", "loglayer._render_py")


def _modules_after(code: str, **env: str) -> set[str]:
    environment = dict(os.environ, **env)
    program = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", program], env=environment,
                          capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_loads_no_pure_twin_and_no_optional_library():
    loaded = _modules_after("import loglayer")
    unwanted = list(NEVER) + (list(NOT_WITH_COMPILED) if loglayer.COMPILED else [])
    assert sorted(loaded & set(unwanted)) == []
    if loglayer.COMPILED:  # the guard that the check above checked something
        assert {"loglayer._core", "loglayer._render"} <= loaded


@pytest.mark.slow
def test_the_pure_core_loads_its_twins_and_still_nothing_optional():
    loaded = _modules_after("import loglayer", LOGLAYER_NO_EXTENSIONS="1")
    assert {"loglayer._core_py", "loglayer._render_py"} <= loaded
    assert sorted(loaded & set(NEVER)) == []


@pytest.mark.slow
def test_what_was_deferred_loads_when_used():
    """The lazy names work: the ready logger, the shipping transports, the registry."""
    code = ("import loglayer\n"
            "from loglayer import log\n"
            "from loglayer.transports import HttpTransport, OtlpTransport\n"
            "from loglayer.utils import Cloner\n"
            "assert 'otlp' in loglayer.registry.transport_names()\n"
            "assert 'log' in dir(loglayer)\n")
    loaded = _modules_after(code)
    assert {"loglayer.transports._http", "loglayer.transports._otlp",
            "loglayer.utils._cloner", "importlib.metadata"} <= loaded


def test_a_kernel_loaded_late_is_wired_like_the_live_one():
    """The pure twin, imported after the assembly, still gets the default transport,
    ``from_config`` and the taps (``loglayer._common.on_kernel``)."""
    code = ("import loglayer, loglayer._core_py as pure\n"
            "assert pure._default_transport_factory is not None\n"
            "assert pure._config_builder is loglayer.from_config\n"
            "from loglayer._taps import add_tap\n"
            "from loglayer.testing import TestTransport\n"
            "tap = TestTransport('tap'); add_tap(tap)\n"
            "pure.LogLayer(transports=TestTransport('t')).info('x')\n"
            "assert [e.messages for e in tap.lines] == [['x']]\n")
    _modules_after(code)


@pytest.mark.slow
def test_the_asgi_and_wsgi_middleware_import_no_framework():
    """They speak the protocols only; Django's middleware imports Django's helpers."""
    loaded = _modules_after("import loglayer.integrations.asgi, loglayer.integrations.wsgi")
    assert sorted(loaded & {"starlette", "flask", "werkzeug", "django", "asgiref"}) == []
    assert "django" in _modules_after("import loglayer.integrations.django")

"""Issue 17, hardening of the assembly layer: configuration errors say what to do.

Each error names the argument or the key path it is about, keeps its broad type
(``TypeError``, ``ValueError``, ``OSError``), and suggests the fix when there is an
obvious one. The logger tests run on both cores (the ``core`` fixture); the rest binds
to the live core and runs again under ``LOGLAYER_NO_EXTENSIONS=1``.
"""

from __future__ import annotations

import pytest

from loglayer.testing import TestTransport

BY_NAME = "loglayer.from_config({'transports': [{'name': 'console'}]})"


# -- transports given by name to the constructor ---------------------------------------


@pytest.mark.parametrize("given", ["console", b"console", {"name": "console"}])
def test_a_transport_name_is_refused_with_a_pointer_to_from_config(core, given):
    with pytest.raises(TypeError) as info:
        core.LogLayer(transports=given)
    message = str(info.value)
    assert message.startswith("transports must be a transport or a sequence of transports")
    assert BY_NAME in message and "'c'" not in message


@pytest.mark.parametrize("given", ["console", {"name": "console"}])
def test_a_transport_name_in_a_list_is_refused_the_same_way(core, given):
    with pytest.raises(TypeError) as info:
        core.LogLayer(transports=[TestTransport(), given])
    assert "send(entry)" in str(info.value) and BY_NAME in str(info.value)
    log = core.LogLayer(transports=TestTransport())
    with pytest.raises(TypeError, match="from_config"):
        log.add_transport("console")

"""Built-in plugins, each a factory with keyword options that returns a plugin.

* ``redact`` censors secrets in fields, metadata, data and messages;
* ``sprintf`` formats ``messages[0] % tuple(messages[1:])``, printf-style;
* ``filter`` sends only the entries whose message text or params match;
* ``otel_trace`` adds OpenTelemetry trace and span IDs (needs the ``otel`` extra,
  imported only when ``otel_trace()`` is called);
* the module ``sampling`` holds the samplers ``fixed_rate``, ``per_level`` and ``burst``.
"""

from __future__ import annotations

from . import sampling
from ._filter import filter
from ._otel import otel_trace
from ._redact import redact
from ._sprintf import sprintf

__all__ = ["filter", "otel_trace", "redact", "sampling", "sprintf"]

"""Plugins the gRPC tests run both in process and out of process (through ``run.py``).

Each one is plain Python with no knowledge of where it runs, so a test can compare what a
logger makes of an entry with the plugin in process and with it behind a ``GrpcPlugin``.
"""

from __future__ import annotations

import os
import re
import sys
import time

SECRET_KEYS = {"password", "token"}
_SECRET_TEXT = re.compile(r"(password|token)=\S+")


def _scrub(mapping):
    return {key: "[REDACTED]" if key in SECRET_KEYS else value for key, value in mapping.items()}


class Redact:
    """Uses all six hooks, so order and effects can be compared hook by hook."""

    id = "redact"

    def on_fields_called(self, fields):
        if fields.get("drop_me"):
            return None
        return _scrub(fields)

    def on_metadata_called(self, metadata):
        return _scrub(metadata) if isinstance(metadata, dict) else metadata

    def on_before_data_out(self, params):
        secrets = {key: "[REDACTED]" for key in params.data if key in SECRET_KEYS}
        return {**secrets, "redacted_by": "redact", "seen_level": int(params.level)} \
            if secrets or params.data else None

    def on_before_message_out(self, params):
        return [_SECRET_TEXT.sub(r"\1=[REDACTED]", m) if isinstance(m, str) else m
                for m in params.messages]

    def transform_log_level(self, params):
        if any(isinstance(m, str) and "escalate" in m for m in params.messages):
            return "error"
        return None

    def should_send(self, params):
        return not (params.transport_id == "muted" or
                    any(isinstance(m, str) and "secret-only" in m for m in params.messages))


class Tag:
    """A second plugin, to check that results chain in order across plugins."""

    id = "tag"

    def on_before_data_out(self, params):
        return {"tag_saw_redacted": params.data.get("redacted_by")}

    def on_before_message_out(self, params):
        return [*params.messages, "[tagged]"]


class Faulty:
    """Misbehaves on demand, depending on the first message of the entry."""

    id = "faulty"

    def on_fields_called(self, fields):
        if fields.get("hang"):
            time.sleep(30)
        return fields

    def on_before_data_out(self, params):
        first = params.messages[0] if params.messages else None
        if first == "crash":
            os._exit(3)
        if first == "hang":
            time.sleep(30)
        if first == "raise":
            raise ValueError("no such entry")
        if first == "print":
            print("hello from the plugin")
            print("to stderr", file=sys.stderr)
        return {"faulty": "ok"}

    def should_send(self, params):
        if params.messages and params.messages[0] == "hang":
            time.sleep(30)
        return True


class Echo:
    """Returns what its data hook saw, to check the encoding of each attribute."""

    id = "echo"

    def on_before_data_out(self, params):
        return {"seen": {"level": params.level, "level_type": type(params.level).__name__,
                         "messages": params.messages, "metadata": params.metadata,
                         "error": params.error, "fields": params.fields,
                         "prefix": params.prefix, "ctx": params.ctx,
                         "groups": params.groups, "groups_type": type(params.groups).__name__,
                         "data_keys": sorted(params.data)}}

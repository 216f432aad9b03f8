"""A redaction plugin that runs out of process: a loglayer host starts this script.

    GrpcPlugin([sys.executable, "examples/grpc/redact_plugin.py"])

It hides the values of secret keys in metadata and data, and ``key=value`` pairs with
a secret key in string messages. Run by hand, it prints go-plugin's "This binary is a
plugin" message and exits: only a host sets the magic cookie it needs.
"""

from __future__ import annotations

import re

from loglayer.isolation import serve

SECRET_KEYS = frozenset({"password", "token", "secret", "authorization"})
SECRET_PAIRS = re.compile(r"\b(password|token|secret|authorization)=\S+", re.IGNORECASE)


class Redact:
    id = "redact"

    def on_metadata_called(self, metadata):
        if not isinstance(metadata, dict):
            return metadata
        return {key: "[REDACTED]" if key.lower() in SECRET_KEYS else value
                for key, value in metadata.items()}

    def on_before_data_out(self, params):
        return {key: "[REDACTED]" for key in params.data if key.lower() in SECRET_KEYS} or None

    def on_before_message_out(self, params):
        return [SECRET_PAIRS.sub(r"\1=[REDACTED]", message) if isinstance(message, str)
                else message for message in params.messages]


if __name__ == "__main__":
    serve(Redact())

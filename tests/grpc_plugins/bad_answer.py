"""A plugin process whose data hook answers what a logger rejects, for
``test_grpc_fail_closed.py``: ``python bad_answer.py``.

A data hook answers a mapping or None; for an entry whose first message is ``"bad"`` this
one answers a list, which ``serve`` passes on as it is.
"""

from __future__ import annotations

from loglayer.isolation import serve


class BadAnswer:
    id = "bad-answer"

    def on_before_data_out(self, params):
        return ["not", "a", "mapping"] if params.messages[:1] == ["bad"] else {"checked": True}


if __name__ == "__main__":
    serve(BadAnswer())

"""Log levels, numbered as the stdlib numbers them."""

from __future__ import annotations

import enum

__all__ = ["LogLevel"]


class LogLevel(enum.IntEnum):
    """The six levels, with the stdlib's numbers so ``logging.INFO == LogLevel.INFO``."""

    TRACE = 5
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50

    @classmethod
    def parse(cls, value: object) -> LogLevel:
        """Return the level for a member, an int, or a case-insensitive name.

        The stdlib spellings ``"warning"`` and ``"critical"`` are accepted. Anything
        else raises ``ValueError`` naming the bad value.
        """
        if type(value) is cls:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            member = _BY_NUMBER.get(int(value))
            if member is not None:
                return member
        elif isinstance(value, str):
            member = _BY_NAME.get(value.strip().lower())
            if member is not None:
                return member
        raise ValueError(
            f"unknown log level {value!r}: expected one of "
            f"{', '.join(m.name.lower() for m in cls)} (or warning, critical), "
            f"or their numbers {', '.join(str(int(m)) for m in cls)}"
        )


_BY_NUMBER = {int(m): m for m in LogLevel}
_BY_NAME = {m.name.lower(): m for m in LogLevel}
_BY_NAME["warning"] = LogLevel.WARN
_BY_NAME["critical"] = LogLevel.FATAL

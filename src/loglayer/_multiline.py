"""``Multiline``: a message that the console renders on several lines, on purpose.

The console transport escapes line breaks in messages so that a message can never
forge a second log line. A message that really is several lines (a table, a diff, a
banner) is wrapped in ``Multiline``: the console prints its lines one below the other,
continuation lines indented by four spaces, so they still read as one entry. Each line
is still escaped, so a line that itself holds a ``"\\n"`` cannot break out either.
Structured (JSON) output uses ``str(multiline)``, the lines joined by ``"\\n"``.
"""

from __future__ import annotations

from ._common import text_of

__all__ = ["Multiline"]


class Multiline:
    """A log message made of several lines: ``log.info(Multiline("a", "b"))``.

    Each argument is one line; non-str arguments are converted with ``str()`` once,
    here (an argument whose ``str()`` raises becomes ``<unprintable TypeName>``).
    """

    __slots__ = ("lines",)

    lines: tuple[str, ...]

    def __init__(self, *lines: object) -> None:
        self.lines = tuple([text_of(line) for line in lines])

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return "Multiline(" + ", ".join([repr(line) for line in self.lines]) + ")"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Multiline):
            return self.lines == other.lines
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Multiline, self.lines))

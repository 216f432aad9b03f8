"""Level managers: who else a level change on one logger reaches.

``LogLayer(level_manager=...)`` picks one for a logger and every logger derived from
it (its *family*):

* ``"copy"``: a derived logger copies the level state when it is made; later changes
  stay with the logger they are made on. No node is kept: this module is not used.
* ``"one_way"``: a change reaches the logger it is made on and every logger derived
  from it, directly or not, already or later; never its parents or siblings.
* ``"linked"``: a change made on any logger of the family reaches all of them.
* ``"global"``: the family has one level state, which every member reads; a change on
  any member is a change for all.

``"linked"`` and ``"global"`` answer the same (LogLayer TypeScript has both, so the
names are kept): in a family where every change reaches everyone, no two members can
disagree.

How: each logger holds a :class:`LevelNode`; a node holds a strong reference to its
parent's node (so a chain survives the loggers in the middle of it), weak references
to its children's nodes and a weak reference to its own logger. No logger keeps another
alive. A change runs under the family's lock and writes the new state into every
logger it reaches, so the emission path reads its own logger's level bits as it always
did, with no indirection and no lock, whichever manager is in use.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

__all__ = ["LEVEL_MANAGERS", "LevelNode"]

LEVEL_MANAGERS = ("copy", "global", "one_way", "linked")


class LevelNode:
    """One logger's place in its family (see the module docstring)."""

    __slots__ = ("mode", "lock", "parent", "children", "logger", "__weakref__")

    def __init__(self, mode: str, logger: Any, parent: LevelNode | None = None) -> None:
        self.mode = mode
        self.lock: Any = threading.Lock() if parent is None else parent.lock
        self.parent = parent
        self.children: weakref.WeakSet[LevelNode] = weakref.WeakSet()
        self.logger = weakref.ref(logger)
        if parent is not None:
            parent.children.add(self)

    def derive(self, logger: Any) -> LevelNode:
        """The node of ``logger``, derived from this node's logger; under ``lock``."""
        return LevelNode(self.mode, logger, self)

    def _subtree(self) -> Iterator[LevelNode]:
        pending = [self]
        while pending:
            node = pending.pop()
            yield node
            pending.extend(list(node.children))

    def reached(self) -> list[Any]:
        """The live loggers a change made on this node's logger reaches; under ``lock``."""
        start = self
        if self.mode != "one_way":
            while start.parent is not None:
                start = start.parent
        loggers = []
        for node in start._subtree():
            logger = node.logger()
            if logger is not None:
                loggers.append(logger)
        return loggers

"""Property tests: no metadata or fields shape makes a log call raise."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglayer import ConsoleTransport, LogLayer, lazy
from loglayer.testing import TestTransport

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(),
    st.binary(), st.complex_numbers(), st.just(object()), st.just(lazy(lambda: 1)),
)
keys = st.one_of(st.text(), st.integers(), st.tuples(st.integers()), st.none())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children), st.tuples(children, children), st.frozensets(st.integers()),
        st.dictionaries(keys, children, max_size=5), st.sets(st.text(max_size=3)),
    ),
    max_leaves=25,
)


class Unprintable:
    def __repr__(self):
        raise RuntimeError("no repr")

    __str__ = __repr__


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(metadata=values, fields=st.dictionaries(st.text(), values, max_size=6), msg=values)
def test_any_shape_never_raises(metadata, fields, msg):
    tt = TestTransport()
    console = io.StringIO()
    log = LogLayer(transports=[tt, ConsoleTransport(stream=console)])
    log.with_fields(fields).with_metadata(metadata).info(msg)
    log.with_metadata(metadata).with_metadata(metadata).warn(msg, msg)
    log.metadata_only(metadata)
    log.raw("debug", [msg], metadata=metadata, fields=fields)
    assert len(tt) == 3 + (metadata is not None)
    assert console.getvalue().count("\n") >= len(tt)


def test_cycles_unprintables_and_huge_dicts_never_raise():
    tt = TestTransport()
    cyclic = {"a": 1}
    cyclic["self"] = cyclic
    looped = [1]
    looped.append(looped)
    huge = {f"k{i}": i for i in range(100_000)}
    log = LogLayer(transports=[tt, ConsoleTransport(stream=io.StringIO())])
    for metadata in (cyclic, looped, huge, Unprintable(), {"x": Unprintable()}):
        log.with_fields(f=metadata).with_metadata(metadata).info(Unprintable())
    assert len(tt) == 5

"""Reading untrusted input (:mod:`bot.inbound`): any bytes in, a value or ``BadRequest`` out, nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.inbound import MAX_JSON_DEPTH, BadRequest, header_int, json_depth, loads_bounded


@given(st.text())
def test_header_int_gives_an_int_or_bad_request(value: str) -> None:
    try:
        n = header_int(value)
    except BadRequest:
        assert not value.strip().isascii() or not value.strip().isdigit() or len(value.strip()) > 18
    else:
        assert n == int(value.strip()) and value.strip().isascii()


@pytest.mark.parametrize("value", ["²", "١٢٣", "-1", "+5", "1e3", "1.0", "", " ", "0x10", "9" * 19, "１２"])
def test_header_int_refuses_what_python_would_accept_or_choke_on(value: str) -> None:
    with pytest.raises(BadRequest):
        header_int(value)


@given(st.binary(max_size=2000))
def test_loads_bounded_never_raises_anything_but_bad_request(body: bytes) -> None:
    try:
        loads_bounded(body)
    except BadRequest:
        pass


_json = st.recursive(st.none() | st.integers() | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                     max_leaves=30)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_json)
def test_json_depth_counts_nesting_not_brackets_in_strings(value: object) -> None:
    text = json.dumps(value)
    assert json_depth(text) == _depth(value)
    assert loads_bounded(text) == value


def test_deep_json_is_a_bad_request_not_a_recursion_error() -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)):
        with pytest.raises(BadRequest, match="nested deeper"):
            loads_bounded(body)
    ok = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert loads_bounded(ok) is not None
    assert loads_bounded(b'{"text": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')["text"]

"""Inputs from outside: plausible values mixed with hostile ones, for every fuzzed surface."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import strategies as st

# Text a process can receive (no lone surrogates: they cannot arrive as UTF-8).
text = st.text(st.characters(codec="utf-8"), max_size=60)
short_text = st.text(st.characters(codec="utf-8"), max_size=12)
hostile_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u202e",
        "😀" * 5,
        "%00",
        "%",
        "+",
        "NaN",
        "-1",
        "1e400",
        "null",
        "[]",
        "{}",
        '{"a":',
        "conv-",
        "whatsapp:",
        "\r\n",
        "a" * 2000,
    ]
)
any_text = st.one_of(text, hostile_text)

digits = st.text("0123456789", min_size=1, max_size=16)
us_phone = st.builds(lambda d: "+1415" + d, st.text("0123456789", min_size=7, max_size=7))
phone = st.one_of(
    us_phone,
    st.builds(lambda d: "whatsapp:+44" + d, st.text("0123456789", min_size=10, max_size=10)),
    st.builds(lambda d: "+" + d, digits),
    st.sampled_from(["anonymous", "client:alice", "sip:bob@example.com", "+", "+0", "266696687"]),
    any_text,
)
sid = st.one_of(
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(["SM", "MM", "CA", "WT", "WR", "VX", "AC", "WK"]),
        st.text("0123456789abcdef", min_size=32, max_size=32),
    ),
    st.text(string.ascii_letters + string.digits, max_size=40),
)
number_text = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e11", "99999999999999999999", "-0", "0x10", "1_000", ""]),
)
instant_text = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    number_text,
    any_text,
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_value: st.SearchStrategy[Any] = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(short_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int) -> str:
    """JSON nested ``depth`` deep (a parser's recursion is finite)."""
    return "[" * depth + "]" * depth


json_text = st.one_of(
    json_value.map(json.dumps),
    st.builds(nested, st.integers(min_value=900, max_value=8000)),
    st.sampled_from(["{", '{"a": 1', "[1,]", "NaN", '{"a": NaN}', "\ufeff{}", "1" * 5000]),
    any_text,
)
malformed_json = st.one_of(
    st.sampled_from(["{", "{]", "", " ", "nul", '{"a": }', "[1,,2]", "\x00", "{'a': 1}"]),
    text.filter(lambda raw: not _parses(raw)),
)


def _parses(raw: str) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True

"""`ccmon check --json` writes its document with an encoder of its own: the same text as
json.dumps(indent=2, ensure_ascii=False), value for value."""

from __future__ import annotations

import enum
import io
import json
import math
from typing import Any

import pytest

from monitor.report import json_text, to_json_document, write_json_document
from tests.monitor import ccmon_fixtures as fx


class Number(enum.IntEnum):
    TWO = 2


class Word(enum.StrEnum):
    UDP = "udp"


VALUES: list[Any] = [
    {}, [], (), "", 0, -1, 2**70, 0.1, -0.0, 1e300, 5.8417e-05, math.nan, math.inf, -math.inf,
    True, False, None, "plain", 'quote " backslash \\ slash /', "tab\tnewline\ncontrol\x01\x7f",
    "中国 ಭಾರತ é", "\u2028\u2029", "\ud800",  # lone surrogate
    Number.TWO, Word.UDP,
    {"a": {}, "b": [], "c": [1, [2, [3, {}]], {"d": ()}]},
    {7: "int key", 2.5: "float key", True: "bool key", False: "", None: "none key", "s": 1},
    {Word.UDP: [Number.TWO, 0.5]}, [[[]]], [{"x": [{"y": {"z": None}}]}], (1, (2, 3)),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("level", [0, 2])
def test_same_text_as_json(value: Any, level: int) -> None:
    expected = json.dumps([[value]] if level == 2 else value, indent=2, ensure_ascii=False)
    text = json_text(value, level)
    if level == 2:  # nested two deep: json's text of [[value]], the value's part of it
        assert expected == f"[\n  [\n    {text}\n  ]\n]"
    else:
        assert text == expected


@pytest.mark.parametrize("value", [{1j: 1}, [object()], {"a": {"b": b"bytes"}}, {1, 2}])
def test_what_json_refuses_it_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        json_text(value, 0)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_document_of_any_size_is_json_text(count: int) -> None:
    reports = fx.all_reports()[:count]
    out = io.StringIO()
    write_json_document(reports, out)
    assert out.getvalue() == json.dumps(to_json_document(reports), indent=2,
                                        ensure_ascii=False) + "\n"

"""hub.sdk.json_body: the JSON a connector sends to its app reads back as json.dumps's does
(the same values, characters unescaped), and what JSON has no type for is sent as its str()."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.sdk import json_body

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_any_json_value_reads_back_as_it_was(value) -> None:
    assert json.loads(json_body(value)) == json.loads(json.dumps(value, ensure_ascii=False))


def test_text_is_utf8_unescaped_and_compact() -> None:
    body = json_body({"isi": "Jalan rusak di Kec. Cibeunying — sudah 3 bulan", "n": [1, 2]})
    assert body == '{"isi":"Jalan rusak di Kec. Cibeunying — sudah 3 bulan","n":[1,2]}'.encode()


def test_what_json_has_no_type_for_is_its_text() -> None:
    moment = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    body = json.loads(json_body({"waktu": moment, "nilai": Decimal("1.50"), 7: "kunci"}))
    assert body == {"waktu": str(moment), "nilai": "1.50", "7": "kunci"}


def test_text_that_is_no_unicode_is_refused() -> None:
    """A lone surrogate (undecodable bytes kept by surrogateescape) cannot be sent as UTF-8:
    refused as json.dumps(...).encode() refused it, so the delivery fails and is retried
    rather than sent garbled."""
    with pytest.raises(TypeError):
        json_body({"isi": "rusak \udcff"})

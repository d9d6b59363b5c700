"""Hypothesis strategies shared by the parser property tests: arbitrary JSON, with a marker inside every string
so a test can tell whether a value it was given reaches an output."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

MARKER = "Zq7Marker"

# Deterministic on CI (derandomize), no example database on disk, no per-example deadline on 2 busy cores.
PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True, database=None)

marked_text = st.text(max_size=20).map(lambda text: f"{text}{MARKER}")
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | marked_text
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25)

"""Property tests of the E.164 normalisation of a dialed number before Outreach looks it up."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from tests.support.hypothesis_strategies import PROPERTIES
from workers.mapping import e164

E164 = re.compile(r"\+[0-9]+")


@PROPERTIES
@given(number=st.text(max_size=40))
def test_any_text_becomes_plus_and_ascii_digits_or_stays_as_given(number: str) -> None:
    result = e164(number)
    if any(ch.isdecimal() for ch in number):
        assert E164.fullmatch(result), (number, result)  # never "+²" or "+١٢٣": Outreach matches ASCII digits
    else:
        assert result == number.strip()


@PROPERTIES
@given(area=st.from_regex(r"[2-9][0-9]{2}", fullmatch=True), line=st.from_regex(r"[0-9]{7}", fullmatch=True),
       style=st.sampled_from(["({a}) {p}-{l}", "{a}.{p}.{l}", "1 {a} {p} {l}", "+1 {a}-{p}-{l}", "001{a}{p}{l}"]))
def test_north_american_numbers_however_written_are_one_number(area: str, line: str, style: str) -> None:
    written = style.format(a=area, p=line[:3], l=line[3:])
    assert e164(written) == f"+1{area}{line}"


def test_unicode_digits_read_as_the_digits_they_are() -> None:
    assert e164("+١٤١٥٥٥٥١٢٣٤") == "+14155551234"
    assert e164("²") == "²"  # a superscript is no digit: nothing to look up

"""Property tests of the call-tasks cursor: any text is a cursor or a BadCursor, never another error; and every
cursor this service issues reads back as issued, for its own team, rep and key only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingress import cursor
from outreach.call_tasks import Position, first_page_params
from tests.support.hypothesis_strategies import PROPERTIES

KEY = cursor.cursor_key("a-server-only-secret-for-the-properties")


@PROPERTIES
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")))
def test_any_text_is_a_cursor_or_a_bad_cursor(text: str) -> None:
    try:
        cursor.decode(KEY, "team_acme", "ana@acme.com", text)
    except cursor.BadCursor:
        pass


@PROPERTIES
@given(owner=st.integers(min_value=1, max_value=2**53),
       due=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       after_id=st.none() | st.integers(min_value=1, max_value=2**53), with_url=st.booleans(),
       team=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), rep=st.emails())
def test_issued_cursors_read_back_for_their_own_team_rep_and_key_only(
        owner: int, due: datetime, after_id: int | None, with_url: bool, team: str, rep: str) -> None:
    due = due.replace(microsecond=due.microsecond // 1000 * 1000)  # Outreach times are to the millisecond
    query = "&".join(f"{k}={v}" for k, v in first_page_params(owner, due, 50).items())
    url = f"https://api.outreach.io/api/v2/tasks?{query}" if with_url else None
    state = cursor.CursorState(owner, due, Position(url, after_id, None))
    issued = cursor.encode(KEY, team, rep, state)
    assert cursor.decode(KEY, team, rep, issued) == state
    for other_team, other_rep, other_key in ((team + "x", rep, KEY), (team, "x" + rep, KEY),
                                             (team, rep, cursor.cursor_key("another-secret-of-32-characters!"))):
        with pytest.raises(cursor.BadCursor):
            cursor.decode(other_key, other_team, other_rep, issued)
    if url is not None:  # a URL whose due filter moved is refused, even signed with the right key
        moved = state.position.url.replace("neginf..", "neginf..9")  # type: ignore[union-attr]
        forged = cursor.encode(KEY, team, rep, cursor.CursorState(owner, due, Position(moved, after_id, None)))
        with pytest.raises(cursor.BadCursor):
            cursor.decode(KEY, team, rep, forged)
    later = cursor.CursorState(owner, due + timedelta(days=1), Position(None, after_id, None))
    assert cursor.decode(KEY, team, rep, cursor.encode(KEY, team, rep, later)) == later

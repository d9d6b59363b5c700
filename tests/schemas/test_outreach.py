"""Outreach documents parse leniently and only as far as the service needs them."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from schemas.outreach import Created, Single
from tests.support.outreach_hooks import fixture


def test_a_recorded_post_answer_gives_the_new_records_id() -> None:
    document = orjson.loads(fixture("api-create-webhook-response.json"))
    assert Created.model_validate(document).data.id == 3
    assert Single.model_validate(document).data.id == 3  # the whole record reads the same id


def test_an_answer_without_an_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        Created.model_validate({"data": {"type": "call", "attributes": {}}})

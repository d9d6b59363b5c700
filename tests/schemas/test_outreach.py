"""Outreach documents parse leniently and only as far as the service needs them."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from schemas.outreach import Created, ErrorItem, Single
from tests.support.outreach_hooks import fixture


def test_a_recorded_post_answer_gives_the_new_records_id() -> None:
    document = orjson.loads(fixture("api-create-webhook-response.json"))
    assert Created.model_validate(document).data.id == 3
    assert Single.model_validate(document).data.id == 3  # the whole record reads the same id


def test_an_answer_without_an_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        Created.model_validate({"data": {"type": "call", "attributes": {}}})


@pytest.mark.parametrize("pointer", ["/data/attributes/dialedAt", "/data/relationships/prospect", "/data/0",
                                     "/a~1b/c~0d", "/data/attributes/custom-field_2"])
def test_a_json_pointer_to_a_field_is_kept(pointer: str) -> None:
    assert ErrorItem(source={"pointer": pointer}).pointer == pointer


@pytest.mark.parametrize("pointer", ["ana@acme.com", "Wants pricing for 40 seats", "/data/attributes/note=call me",
                                     "/data/attributes/+14155551234 ", "data/attributes/to", "/a~2", "",
                                     "/" + "a" * 100, "/data/attributes/x\nforged log line", 42])
def test_anything_but_a_json_pointer_to_a_field_is_dropped(pointer: object) -> None:
    """A `source.pointer` reaches dead-letter reasons and logs: a value smuggled in it would be kept."""
    assert ErrorItem(source={"pointer": pointer}).pointer is None

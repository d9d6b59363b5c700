"""Outreach JSON:API documents as the REST API returns them: parsed leniently, read transiently, never stored."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ResourceId(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str | None = None
    id: int | None = None


class Relationship(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: ResourceId | list[ResourceId] | None = None


class Resource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    id: int
    attributes: dict[str, Any] = Field(default_factory=dict)
    relationships: dict[str, Relationship] = Field(default_factory=dict)

    def related_id(self, name: str) -> int | None:
        rel = self.relationships.get(name)
        if rel is None or rel.data is None or isinstance(rel.data, list):
            return None
        return rel.data.id

    def related_ids(self, name: str) -> list[int]:
        rel = self.relationships.get(name)
        if rel is None or rel.data is None:
            return []
        items = rel.data if isinstance(rel.data, list) else [rel.data]
        return [item.id for item in items if item.id is not None]


class Links(BaseModel):
    model_config = ConfigDict(extra="ignore")

    next: str | None = None


class Collection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: list[Resource] = Field(default_factory=list)
    included: list[Resource] = Field(default_factory=list)
    links: Links = Field(default_factory=Links)


class Single(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: Resource
    included: list[Resource] = Field(default_factory=list)


class CreatedId(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int


class Created(BaseModel):
    """The answer to a POST, read only for the new record's id (cheaper than a whole `Single`)."""

    model_config = ConfigDict(extra="ignore")

    data: CreatedId


# RFC 6901, with segments limited to what names a field: letters, digits, `_`, `-`, and the `~0`/`~1` escapes;
# at most 100 characters.
JSON_POINTER = re.compile(r"(?=.{1,100}$)(/([A-Za-z0-9_-]|~[01])*)+")


class ErrorItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    title: str | None = None
    source: dict[str, Any] | None = None

    @property
    def pointer(self) -> str | None:
        """`source.pointer` when it is a JSON pointer to a field (`/data/attributes/dialedAt`), else None: it
        reaches reasons and logs, so it must not be able to carry a value."""
        value = (self.source or {}).get("pointer")
        return value if isinstance(value, str) and JSON_POINTER.fullmatch(value) else None


class ErrorDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    errors: list[ErrorItem] = Field(default_factory=list)

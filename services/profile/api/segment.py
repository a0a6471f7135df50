"""Pydantic models of the collection API's request bodies (Segment's HTTP tracking API).

The envelopes — a batch request and the admin replay requests — are validated
with these models. The messages inside them are validated field by field by
:func:`shared.normalize.messages.normalize`, which must also run alone when quarantined
events are replayed; the message models below document their shape (and give
its JSON schema) and are what tests check the normalizer against.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shared.errors import ValidationError


class _Open(BaseModel):
    # Segment payloads carry vendor fields we must keep, so unknown keys pass through.
    model_config = ConfigDict(extra="allow", frozen=True)


class ExternalIdModel(_Open):
    id: str
    type: str
    collection: str = "users"
    encoding: str = "none"


class ContextModel(_Open):
    channel: str | None = None
    library: dict[str, Any] | None = None
    locale: str | None = None
    traits: dict[str, Any] | None = None
    externalIds: list[ExternalIdModel] | None = None
    consent: dict[str, Any] | None = None


class MessageModel(_Open):
    """Segment's common fields."""

    type: str | None = None
    messageId: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    timestamp: str | None = None
    originalTimestamp: str | None = None
    sentAt: str | None = None
    context: ContextModel | None = None
    integrations: dict[str, Any] | None = None


class IdentifyModel(MessageModel):
    traits: dict[str, Any] | None = None


class TrackModel(MessageModel):
    event: str
    properties: dict[str, Any] | None = None


class PageModel(MessageModel):
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None


class ScreenModel(PageModel):
    pass


class GroupModel(MessageModel):
    groupId: str
    traits: dict[str, Any] | None = None


class AliasModel(MessageModel):
    previousId: str


MESSAGE_MODELS: dict[str, type[MessageModel]] = {
    "identify": IdentifyModel,
    "track": TrackModel,
    "page": PageModel,
    "screen": ScreenModel,
    "group": GroupModel,
    "alias": AliasModel,
}


class BatchRequest(BaseModel):
    """``POST /v1/batch``: messages plus fields shared by all of them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    batch: list[Any] = Field(min_length=1)
    writeKey: str | None = None
    sentAt: str | int | float | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None


class ReplayRequest(BaseModel):
    """``POST /v1/admin/quarantine/replay``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: list[str] = Field(min_length=1, max_length=1000)


class ParkedReplayRequest(BaseModel):
    """``POST /v1/admin/parked/replay``: the named parked events, or all with ``"all": true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")
    ids: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    all: bool = False


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: Any) -> M:
    """Validate ``raw`` against ``model``; problems become our ValidationError with paths."""
    try:
        return model.model_validate(raw)
    except PydanticValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            path = _path(error["loc"]) or "body"
            problems.setdefault(path, error["msg"])
        raise ValidationError(problems) from None


def _path(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out

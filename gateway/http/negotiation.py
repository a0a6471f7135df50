"""Choosing the response media type from the Accept header (GraphQL over HTTP §Accept)."""

from __future__ import annotations

from enum import StrEnum


class Media(StrEnum):
    GRAPHQL_RESPONSE = "application/graphql-response+json"
    JSON = "application/json"
    EVENT_STREAM = "text/event-stream"
    HTML = "text/html"


# Preference among equally weighted ranges: the spec's own media type first.
_ORDER = (Media.GRAPHQL_RESPONSE, Media.JSON, Media.EVENT_STREAM, Media.HTML)
_WILDCARD_TARGET = {"*/*": Media.JSON, "application/*": Media.JSON}
_cache: dict[tuple[str, bool], Media | None] = {}
_CACHE_LIMIT = 256


def negotiate(accept: str | None, *, html: bool = False) -> Media | None:
    """The media type to answer with; None when nothing acceptable is offered (406).

    A missing Accept header means application/json; ``*/*`` and ``application/*``
    mean application/json too, so old clients keep getting what they expect.
    Streams and HTML are chosen only when named explicitly, HTML only when
    ``html`` says a page can be served here.
    """
    if not accept:
        return Media.JSON
    key = (accept, html)
    if key in _cache:
        return _cache[key]
    chosen = _negotiate(accept, html)
    if len(_cache) < _CACHE_LIMIT:
        _cache[key] = chosen
    return chosen


def _negotiate(accept: str, html: bool) -> Media | None:
    weights: dict[Media, float] = {}
    for part in accept.split(","):
        media_range, *params = (piece.strip() for piece in part.split(";"))
        media_range = media_range.lower()
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        target = _WILDCARD_TARGET.get(media_range)
        if target is None:
            try:
                target = Media(media_range)
            except ValueError:
                continue
        if target is Media.HTML and not html:
            continue
        if quality > weights.get(target, -1.0):
            weights[target] = quality
    best: Media | None = None
    best_weight = 0.0
    for media in _ORDER:
        weight = weights.get(media, 0.0)
        if weight > best_weight:
            best, best_weight = media, weight
    return best


def is_json_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media not in ("application/json", "application/graphql-response+json"):
        return False
    charset = params.strip().lower()
    return not charset.startswith("charset=") or charset[8:].strip('" ') in ("utf-8", "utf8")

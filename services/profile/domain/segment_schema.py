"""The segment condition language as a JSON Schema (draft 2020-12), with examples.

For people and tools writing conditions (a console's segment builder, an API client):
``Query.segmentConditionSchema`` serves it. The parser (:mod:`.segments`) is the
authority and says more (a window's length, a path per problem); this schema admits
what it admits, so a condition that passes the parser passes the schema too.
"""

from __future__ import annotations

from typing import Any

from services.profile.domain.segments import (
    CHANNELS,
    COMPARISONS,
    CONSENT_STATUSES,
    TRAIT_OPERATORS,
)

_NUMBER = {"type": "number"}
_ORDERABLE = {"type": ["number", "string"]}
_DURATION = {
    "type": "string",
    "pattern": r"^P(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$",
    "description": "ISO 8601 duration in weeks, days, hours, minutes, seconds: P30D, PT12H",
}
_STRINGS = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]
}


def _comparison(extra: dict[str, Any] | None = None, required: list[str] | None = None) -> Any:
    return {
        "type": "object",
        "properties": {**dict.fromkeys(COMPARISONS, _NUMBER), **(extra or {})},
        "additionalProperties": False,
        "minProperties": 1 + len(required or []),
        "required": required or [],
    }


def _node(key: str, properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {key: {"type": "string", "minLength": 1}, **properties},
        "required": [key],
        "additionalProperties": False,
    }


_TRAIT_OPERANDS: dict[str, Any] = {
    **{op: {} for op in ("eq", "ne", "contains")},
    **{op: _ORDERABLE for op in TRAIT_OPERATORS if op.startswith(("gt", "lt"))},
    "in": {"type": "array"},
    "exists": {"type": "boolean"},
    "startsWith": {"type": "string"},
}
_CONSENT = {
    "status": {
        "oneOf": [
            {"enum": sorted(CONSENT_STATUSES)},
            {"type": "array", "items": {"enum": sorted(CONSENT_STATUSES)}, "minItems": 1},
        ]
    }
}

CONDITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://threadline.dev/schemas/segment-condition.json",
    "title": "Threadline segment condition",
    "$ref": "#/$defs/condition",
    "$defs": {
        "condition": {
            "oneOf": [
                {"$ref": f"#/$defs/{name}"}
                for name in (
                    "and",
                    "or",
                    "not",
                    "trait",
                    "identity",
                    "consent",
                    "channelConsent",
                    "event",
                    "channel",
                    "journey",
                    "score",
                )
            ]
        },
        "and": {
            "type": "object",
            "properties": {
                "and": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "minItems": 1}
            },
            "required": ["and"],
            "additionalProperties": False,
        },
        "or": {
            "type": "object",
            "properties": {
                "or": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "minItems": 1}
            },
            "required": ["or"],
            "additionalProperties": False,
        },
        "not": {
            "type": "object",
            "properties": {"not": {"$ref": "#/$defs/condition"}},
            "required": ["not"],
            "additionalProperties": False,
        },
        "trait": {
            **_node("trait", _TRAIT_OPERANDS, "A trait's current value; all operators hold"),
            "minProperties": 2,
        },
        "identity": _node("identity", {}, "Has an identity of this type (email, user_id…)"),
        "consent": {
            **_node("consent", _CONSENT, "A purpose's consent status"),
            "required": ["consent", "status"],
        },
        "channelConsent": {
            **_node("channelConsent", _CONSENT, "A channel's consent status"),
            "properties": {
                "channelConsent": {"enum": ["email", "phone", "push", "sms"]},
                **_CONSENT,
            },
            "required": ["channelConsent", "status"],
        },
        "event": {
            **_node(
                "event",
                {
                    "count": _comparison(),
                    "sum": _comparison({"property": {"type": "string"}}, ["property"]),
                    "within": _DURATION,
                },
                "Count (default: at least one) or sum of a property of track events in a window",
            ),
            "not": {"required": ["count", "sum"]},
        },
        "channel": {
            **_node("channel", {"within": _DURATION}, "Seen on this channel (in a window)"),
            "properties": {"channel": {"enum": sorted(CHANNELS)}, "within": _DURATION},
        },
        "journey": {
            **_node("journey", {"stage": _STRINGS}, "A journey's current stage"),
            "required": ["journey", "stage"],
        },
        "score": {
            **_node("score", dict.fromkeys(COMPARISONS, _NUMBER), "A score's latest value"),
            "minProperties": 2,
        },
    },
    "examples": [
        {"event": "Order Completed", "count": {"gte": 2}, "within": "P30D"},
        {"event": "order_completed", "sum": {"property": "revenue", "gte": 500}, "within": "P90D"},
        {"and": [{"trait": "plan", "eq": "pro"}, {"consent": "marketing", "status": "granted"}]},
        {"or": [{"channel": "store", "within": "P14D"}, {"identity": "loyalty_id"}]},
        {"not": {"channelConsent": "email", "status": ["denied", "revoked"]}},
        {
            "and": [
                {"journey": "onboarding", "stage": "activated"},
                {"score": "churnRisk", "gte": 0.7},
            ]
        },
        {"trait": "name", "startsWith": "Jo", "exists": True},
    ],
}

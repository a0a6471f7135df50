"""Which local directive names mean which federation directive in one subgraph.

Federation 2 subgraphs ``@link`` the federation spec and may import its directives
under other names (``{name: "@key", as: "@id"}``); what they do not import stays
reachable as ``@federation__key`` (or ``@<as>__key`` when the link is renamed).
Federation 1 subgraphs have no link and use the plain names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    ListValueNode,
    ObjectValueNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    ValueNode,
)

FEDERATION_URL = re.compile(r"^https://specs\.apollo\.dev/federation/v(\d+)\.(\d+)/?$")

FEDERATION_DIRECTIVES = frozenset(
    {
        "key",
        "requires",
        "provides",
        "external",
        "shareable",
        "override",
        "inaccessible",
        "tag",
        "extends",
        "interfaceObject",
        "composeDirective",
        "authenticated",
        "requiresScopes",
        "policy",
        "context",
        "fromContext",
        "cost",
        "listSize",
    }
)
FEDERATION_TYPES = frozenset({"FieldSet", "Scope", "Policy", "ContextFieldValue", "Import"})
FED1_DIRECTIVES = frozenset(
    {"key", "requires", "provides", "external", "extends", "tag", "inaccessible"}
)


@dataclass(frozen=True, slots=True)
class FederationLink:
    """How one subgraph names the federation directives and types."""

    fed2: bool
    version: tuple[int, int]
    directives: dict[str, str]  # local name -> canonical federation name
    local_types: frozenset[str]  # names of federation types as they appear in this SDL

    def canonical(self, local_name: str) -> str | None:
        return self.directives.get(local_name)


class LinkError(ValueError):
    """The subgraph's ``@link`` to the federation spec is malformed."""


def _string(value: ValueNode) -> str | None:
    return value.value if isinstance(value, StringValueNode) else None


def resolve_federation_link(document: DocumentNode) -> FederationLink:
    for definition in document.definitions:
        if not isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = {a.name.value: a.value for a in directive.arguments or ()}
            url = _string(args["url"]) if "url" in args else None
            match = FEDERATION_URL.match(url or "")
            if not match:
                continue
            prefix = _string(args["as"]) if "as" in args else None
            return _fed2_link(
                (int(match.group(1)), int(match.group(2))),
                prefix or "federation",
                args.get("import"),
            )
    return FederationLink(
        fed2=False,
        version=(1, 0),
        directives={name: name for name in FED1_DIRECTIVES},
        local_types=frozenset({"_FieldSet", "FieldSet"}),
    )


def _fed2_link(version: tuple[int, int], prefix: str, imports: ValueNode | None) -> FederationLink:
    directives = {f"{prefix}__{name}": name for name in FEDERATION_DIRECTIVES}
    types = {f"{prefix}__{name}" for name in FEDERATION_TYPES}
    items = imports.values if isinstance(imports, ListValueNode) else ()
    for item in items:
        if isinstance(item, StringValueNode):
            name, alias = item.value, item.value
        elif isinstance(item, ObjectValueNode):
            fields = {f.name.value: _string(f.value) for f in item.fields}
            name = fields.get("name") or ""
            alias = fields.get("as") or name
        else:
            raise LinkError("federation @link(import:) entries must be strings or {name, as}")
        if name.startswith("@"):
            if name[1:] not in FEDERATION_DIRECTIVES:
                raise LinkError(f'unknown federation directive "{name}" in @link(import:)')
            if not alias.startswith("@"):
                raise LinkError(f'import alias "{alias}" for "{name}" must start with "@"')
            # An imported directive is reachable only under its imported name.
            directives.pop(f"{prefix}__{name[1:]}", None)
            directives[alias[1:]] = name[1:]
        else:
            types.add(alias)
    return FederationLink(
        fed2=True, version=version, directives=directives, local_types=frozenset(types)
    )

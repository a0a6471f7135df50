"""The API schema: the supergraph minus join/link machinery and @inaccessible elements."""

from typing import Any

from graphql import (
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    TypeDefinitionNode,
    UnionTypeDefinitionNode,
)

from gateway.supergraph.model import LinkNames, named_type

_KEPT_DIRECTIVES = frozenset({"deprecated", "specifiedBy", "oneOf"})


class ApiSchemaFilter:
    """Rewrites a supergraph document into the public API schema's document."""

    def __init__(self, names: LinkNames) -> None:
        self._names = names

    def _is_machinery(self, name: str) -> bool:
        return "__" in name and name.split("__")[0] in self._names.prefixes

    def _inaccessible(self, directives: tuple[DirectiveNode, ...] | None) -> bool:
        return any(d.name.value == self._names.inaccessible for d in directives or ())

    def _keep(self, directives: tuple[ConstDirectiveNode, ...] | None) -> tuple[Any, ...]:
        return tuple(d for d in directives or () if d.name.value in _KEPT_DIRECTIVES)

    def document(self, document: DocumentNode) -> DocumentNode:
        hidden: set[str] = set()
        for definition in document.definitions:
            if isinstance(definition, TypeDefinitionNode) and (
                self._inaccessible(definition.directives)
                or self._is_machinery(definition.name.value)
            ):
                hidden.add(definition.name.value)
        spec_directives = {self._names.link, self._names.inaccessible}
        spec_directives |= self._names.spec_directives
        definitions: list[Any] = []
        for definition in document.definitions:
            if isinstance(definition, SchemaDefinitionNode):
                definitions.append(
                    SchemaDefinitionNode(
                        directives=(),
                        operation_types=definition.operation_types,
                        description=definition.description,
                    )
                )
            elif isinstance(definition, DirectiveDefinitionNode):
                dname = definition.name.value
                if dname in spec_directives or self._is_machinery(dname):
                    continue
                definitions.append(definition)
            elif isinstance(definition, TypeDefinitionNode):
                if definition.name.value in hidden:
                    continue
                definitions.append(self._api_type(definition, hidden))
        return DocumentNode(definitions=tuple(definitions))

    def _api_type(self, definition: TypeDefinitionNode, hidden: set[str]) -> TypeDefinitionNode:
        kwargs: dict[str, Any] = {
            "name": definition.name,
            "description": definition.description,
            "directives": self._keep(definition.directives),
        }
        if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            kwargs["interfaces"] = tuple(
                i for i in definition.interfaces or () if i.name.value not in hidden
            )
            kwargs["fields"] = tuple(
                FieldDefinitionNode(
                    name=f.name,
                    description=f.description,
                    type=f.type,
                    directives=self._keep(f.directives),
                    arguments=tuple(
                        a.__class__(
                            name=a.name,
                            description=a.description,
                            type=a.type,
                            default_value=a.default_value,
                            directives=self._keep(a.directives),
                        )
                        for a in f.arguments or ()
                        if not self._inaccessible(a.directives)
                    ),
                )
                for f in definition.fields or ()
                if not self._inaccessible(f.directives) and named_type(f.type) not in hidden
            )
        elif isinstance(definition, UnionTypeDefinitionNode):
            kwargs["types"] = tuple(t for t in definition.types or () if t.name.value not in hidden)
        elif isinstance(definition, EnumTypeDefinitionNode):
            kwargs["values"] = tuple(
                v.__class__(
                    name=v.name, description=v.description, directives=self._keep(v.directives)
                )
                for v in definition.values or ()
                if not self._inaccessible(v.directives)
            )
        elif isinstance(definition, InputObjectTypeDefinitionNode):
            kwargs["fields"] = tuple(
                f.__class__(
                    name=f.name,
                    description=f.description,
                    type=f.type,
                    default_value=f.default_value,
                    directives=self._keep(f.directives),
                )
                for f in definition.fields or ()
                if not self._inaccessible(f.directives)
            )
        elif isinstance(definition, ScalarTypeDefinitionNode):
            pass
        return definition.__class__(**kwargs)

    # -- queries ---------------------------------------------------------------------------

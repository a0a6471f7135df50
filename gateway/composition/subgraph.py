"""Parse one subgraph's SDL (as served by ``_service { sdl }``) into the composition model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumTypeExtensionNode,
    FieldDefinitionNode,
    GraphQLSyntaxError,
    InputObjectTypeDefinitionNode,
    InputObjectTypeExtensionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    ScalarTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    UnionTypeExtensionNode,
    parse,
)

from gateway.composition.errors import CompositionProblem
from gateway.composition.links import FederationLink, LinkError, resolve_federation_link
from gateway.composition.model import (
    Argument,
    EnumValue,
    Field,
    Key,
    Kind,
    Subgraph,
    Tagged,
    TypeDef,
)
from gateway.composition.references import unknown_references

ROOT_DEFAULTS = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
# Types and fields federation adds to every subgraph; they never reach the supergraph.
INTERNAL_TYPES = frozenset({"_Service", "_Entity", "_Any", "_FieldSet"})
INTERNAL_QUERY_FIELDS = frozenset({"_service", "_entities"})
BUILTIN_DIRECTIVES = frozenset({"deprecated", "specifiedBy", "include", "skip", "oneOf", "link"})

_KINDS: dict[type, Kind] = {
    ObjectTypeDefinitionNode: Kind.OBJECT,
    ObjectTypeExtensionNode: Kind.OBJECT,
    InterfaceTypeDefinitionNode: Kind.INTERFACE,
    InterfaceTypeExtensionNode: Kind.INTERFACE,
    UnionTypeDefinitionNode: Kind.UNION,
    UnionTypeExtensionNode: Kind.UNION,
    EnumTypeDefinitionNode: Kind.ENUM,
    EnumTypeExtensionNode: Kind.ENUM,
    InputObjectTypeDefinitionNode: Kind.INPUT,
    InputObjectTypeExtensionNode: Kind.INPUT,
    ScalarTypeDefinitionNode: Kind.SCALAR,
    ScalarTypeExtensionNode: Kind.SCALAR,
}


@dataclass(frozen=True, slots=True)
class SubgraphDefinition:
    """A subgraph as the gateway knows it: its name, where to call it, and its SDL."""

    name: str
    url: str
    sdl: str


def parse_subgraph(definition: SubgraphDefinition) -> tuple[Subgraph, list[CompositionProblem]]:
    """Build the model of one subgraph; problems name the subgraph in ``[name]`` form."""
    name = definition.name
    try:
        document = parse(definition.sdl)
    except GraphQLSyntaxError as exc:
        return Subgraph(name, definition.url, fed2=True), [
            _problem(name, "INVALID_GRAPHQL", f"the SDL does not parse: {exc.message}")
        ]
    try:
        link = resolve_federation_link(document)
    except LinkError as exc:
        return Subgraph(name, definition.url, fed2=True), [
            _problem(name, "INVALID_LINK_DIRECTIVE_USAGE", str(exc))
        ]
    return _Parser(definition, document, link).run()


def _problem(
    subgraph: str, code: str, message: str, coordinate: str | None = None
) -> CompositionProblem:
    return CompositionProblem(code, f"[{subgraph}] {message}", (subgraph,), coordinate)


class _Parser:
    def __init__(
        self, definition: SubgraphDefinition, document: DocumentNode, link: FederationLink
    ):
        self.definition = definition
        self.document = document
        self.link = link
        self.problems: list[CompositionProblem] = []
        self.subgraph = Subgraph(
            definition.name, definition.url, fed2=link.fed2, fed_version=link.version
        )
        self.renames: dict[str, str] = {}

    def run(self) -> tuple[Subgraph, list[CompositionProblem]]:
        self._collect_roots()
        for node in self.document.definitions:
            if isinstance(node, TypeDefinitionNode | TypeExtensionNode):
                self._add_type(node)
        if "Query" not in self.subgraph.types:
            # Federation gives every subgraph a Query type (it holds _service/_entities).
            self.subgraph.types["Query"] = TypeDef(
                name="Query", kind=Kind.OBJECT, has_definition=True
            )
        self.subgraph.roots.setdefault("query", "Query")
        for code, message, coordinate in unknown_references(
            self.subgraph, self.document, self.link, self._is_internal_type
        ):
            self.error(code, message, coordinate)
        return self.subgraph, self.problems

    def error(self, code: str, message: str, coordinate: str | None = None) -> None:
        self.problems.append(_problem(self.definition.name, code, message, coordinate))

    # -- schema and root types -------------------------------------------------

    def _collect_roots(self) -> None:
        declared: dict[str, str] = {}
        for node in self.document.definitions:
            if isinstance(node, SchemaDefinitionNode | SchemaExtensionNode):
                for op in node.operation_types or ():
                    declared[op.operation.value] = op.type.name.value
        type_names = {
            n.name.value for n in self.document.definitions if isinstance(n, TypeDefinitionNode)
        }
        for operation, default in ROOT_DEFAULTS.items():
            actual = declared.get(operation)
            if actual is None:
                if default in type_names or any(
                    isinstance(n, TypeExtensionNode) and n.name.value == default
                    for n in self.document.definitions
                ):
                    self.subgraph.roots[operation] = default
                continue
            self.subgraph.roots[operation] = default
            if actual != default:
                if default in type_names:
                    self.error(
                        f"ROOT_{operation.upper()}_USED",
                        f'The schema has a type named "{default}" but it is not set as the '
                        f'{operation} root type ("{actual}" is instead): this is not supported by '
                        "federation. If a root type does not use its default name, there should "
                        "be no other type with that default name.",
                    )
                self.renames[actual] = default

    def _name(self, name: str) -> str:
        return self.renames.get(name, name)

    def _type_ref(self, node: TypeNode) -> TypeNode:
        if isinstance(node, NonNullTypeNode):
            inner = self._type_ref(node.type)
            assert isinstance(inner, NamedTypeNode | ListTypeNode)
            return NonNullTypeNode(type=inner)
        if isinstance(node, ListTypeNode):
            return ListTypeNode(type=self._type_ref(node.type))
        assert isinstance(node, NamedTypeNode)
        return NamedTypeNode(name=NameNode(value=self._name(node.name.value)))

    # -- types -----------------------------------------------------------------

    def _is_internal_type(self, name: str) -> bool:
        return (
            name in INTERNAL_TYPES
            or name in self.link.local_types
            or name.startswith(("link__", "join__", "federation__"))
        )

    def _add_type(self, node: TypeDefinitionNode | TypeExtensionNode) -> None:
        name = self._name(node.name.value)
        if self._is_internal_type(node.name.value):
            return
        kind = _KINDS[type(node)]
        typedef = self.subgraph.types.get(name)
        if typedef is None:
            typedef = self.subgraph.types[name] = TypeDef(name=name, kind=kind)
        elif typedef.kind is not kind:
            self.error(
                "INVALID_GRAPHQL",
                f'Type "{name}" is defined both as {typedef.kind.value} and {kind.value}.',
                name,
            )
            return
        is_extension = isinstance(node, TypeExtensionNode)
        if is_extension:
            typedef.has_extension = True
        else:
            typedef.has_definition = True
            description = getattr(node, "description", None)
            if description is not None:
                typedef.description = description.value
        self._type_directives(typedef, node.directives or (), is_extension)
        for itf in getattr(node, "interfaces", None) or ():
            itf_name = self._name(itf.name.value)
            if itf_name not in typedef.interfaces:
                typedef.interfaces.append(itf_name)
        for member in getattr(node, "types", None) or ():
            member_name = self._name(member.name.value)
            if member_name not in typedef.members:
                typedef.members.append(member_name)
        for value in getattr(node, "values", None) or ():
            enum_value = EnumValue(name=value.name.value)
            if value.description is not None:
                enum_value.description = value.description.value
            self._access_directives(enum_value, value.directives or ())
            typedef.values[enum_value.name] = enum_value
        for field_node in getattr(node, "fields", None) or ():
            if name == "Query" and field_node.name.value in INTERNAL_QUERY_FIELDS:
                continue
            self._add_field(typedef, field_node, is_extension)

    def _type_directives(
        self, typedef: TypeDef, directives: Sequence[DirectiveNode], of_extension: bool
    ) -> None:
        for directive in directives:
            canonical = self.link.canonical(directive.name.value)
            args = {a.name.value: a.value for a in directive.arguments or ()}
            if canonical == "key":
                fields = args.get("fields")
                if not isinstance(fields, StringValueNode):
                    self.error(
                        "KEY_INVALID_FIELDS_TYPE",
                        f'On type "{typedef.name}", for @{directive.name.value}: the fields '
                        'argument must be a string, e.g. @key(fields: "id").',
                        typedef.name,
                    )
                    continue
                resolvable = args.get("resolvable")
                typedef.keys.append(
                    Key(
                        fields=fields.value,
                        resolvable=not (
                            isinstance(resolvable, BooleanValueNode) and not resolvable.value
                        ),
                        of_extension=of_extension,
                    )
                )
            elif canonical == "extends":
                typedef.extends = True
            elif canonical == "shareable":
                if of_extension:
                    typedef.shareable_on_extension = True
                else:
                    typedef.shareable_on_definition = True
            elif canonical == "external":
                typedef.external_on_type = True
            elif canonical == "interfaceObject":
                typedef.interface_object = True
        self._access_directives(typedef, directives)

    def _access_directives(self, element: Tagged, directives: Sequence[DirectiveNode]) -> None:
        for directive in directives:
            canonical = self.link.canonical(directive.name.value)
            if directive.name.value == "deprecated":
                reason = next(
                    (a.value for a in directive.arguments or () if a.name.value == "reason"), None
                )
                element.deprecated = reason.value if isinstance(reason, StringValueNode) else ""
                if "deprecated" not in element.applied_order:
                    element.applied_order.append("deprecated")
            elif directive.name.value == "specifiedBy":
                url = next(
                    (a.value for a in directive.arguments or () if a.name.value == "url"), None
                )
                if isinstance(url, StringValueNode):
                    element.specified_by = url.value
                    if "specifiedBy" not in element.applied_order:
                        element.applied_order.append("specifiedBy")
            elif canonical == "inaccessible":
                element.inaccessible = True
                self.subgraph.inaccessible_name = self.subgraph.inaccessible_name or (
                    directive.name.value
                )
            elif canonical == "tag":
                for arg in directive.arguments or ():
                    if arg.name.value == "name" and isinstance(arg.value, StringValueNode):
                        element.tags.append(arg.value.value)
                if "tag" not in element.applied_order:
                    element.applied_order.append("tag")
                self.subgraph.tag_name = self.subgraph.tag_name or directive.name.value

    def _add_field(
        self,
        typedef: TypeDef,
        node: FieldDefinitionNode | InputValueDefinitionNode,
        of_extension: bool,
    ) -> None:
        field = Field(
            name=node.name.value, type=self._type_ref(node.type), of_extension=of_extension
        )
        if node.description is not None:
            field.description = node.description.value
        if isinstance(node, InputValueDefinitionNode):
            field.default = node.default_value
        else:
            for arg_node in node.arguments or ():
                arg = Argument(
                    name=arg_node.name.value,
                    type=self._type_ref(arg_node.type),
                    default=arg_node.default_value,
                )
                if arg_node.description is not None:
                    arg.description = arg_node.description.value
                self._access_directives(arg, arg_node.directives or ())
                field.arguments[arg.name] = arg
        coordinate = f"{typedef.name}.{field.name}"
        for directive in node.directives or ():
            canonical = self.link.canonical(directive.name.value)
            args = {a.name.value: a.value for a in directive.arguments or ()}
            fields_arg = args.get("fields")
            fields_value = fields_arg.value if isinstance(fields_arg, StringValueNode) else None
            if canonical == "external":
                field.external = True
            elif canonical == "shareable":
                field.shareable = True
            elif canonical in ("requires", "provides"):
                if fields_value is None:
                    self.error(
                        f"{canonical.upper()}_INVALID_FIELDS_TYPE",
                        f'On field "{coordinate}", @{directive.name.value}(fields:) must be a '
                        "string.",
                        coordinate,
                    )
                elif canonical == "requires":
                    field.requires = fields_value
                else:
                    field.provides = fields_value
            elif canonical == "override":
                source = args.get("from")
                label = args.get("label")
                if isinstance(source, StringValueNode):
                    field.override = source.value
                if isinstance(label, StringValueNode):
                    field.override_label = label.value
        self._access_directives(field, node.directives or ())
        if field.name in typedef.fields:
            self.error(
                "INVALID_GRAPHQL",
                f'Field "{coordinate}" can only be defined once.',
                coordinate,
            )
        typedef.fields[field.name] = field

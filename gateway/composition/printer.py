"""Print a :class:`Supergraph` exactly as Apollo's composition prints supergraph SDL.

Apollo sorts directive definitions and types with JavaScript's ``localeCompare``
(ICU collation: case-insensitive first, ``_`` before digits before letters) and
keeps fields, values and members in merge order.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import print_ast
from graphql.language.block_string import print_block_string

from gateway.composition.model import Kind, Tagged, type_str
from gateway.composition.supergraph_model import (
    JoinField,
    JoinType,
    SuperArgument,
    SuperField,
    Supergraph,
    SuperType,
)

LINK_URL = "https://specs.apollo.dev/link/v1.0"
TAG_URL = "https://specs.apollo.dev/tag/v0.3"
INACCESSIBLE_URL = "https://specs.apollo.dev/inaccessible/v0.2"

_ELEMENT_LOCATIONS = (
    "FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | "
    "ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION"
)
JOIN_DIRECTIVES = {
    "join__enumValue": "directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE",
    "join__field": (
        "directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: "
        "join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: "
        "Boolean{extra}) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION"
    ),
    "join__graph": "directive @join__graph(name: String!, url: String!) on ENUM_VALUE",
    "join__implements": (
        "directive @join__implements(graph: join__Graph!, interface: String!) repeatable on "
        "OBJECT | INTERFACE"
    ),
    "join__type": (
        "directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = "
        "false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on "
        "OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR"
    ),
    "join__unionMember": (
        "directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION"
    ),
    "link": (
        "directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) "
        "repeatable on SCHEMA"
    ),
}
JOIN_DIRECTIVE = (
    "directive @join__directive(graphs: [join__Graph!], name: String!, args: "
    "join__DirectiveArguments) repeatable on SCHEMA | OBJECT | INTERFACE | FIELD_DEFINITION"
)
JOIN_CONTEXT_ARGUMENT = """input join__ContextArgument {
  name: String!
  type: String!
  context: String!
  selection: join__FieldValue!
}"""
LINK_PURPOSE = '''enum link__Purpose {
  """
  `SECURITY` features provide metadata necessary to securely resolve fields.
  """
  SECURITY

  """
  `EXECUTION` features provide metadata necessary for operation execution.
  """
  EXECUTION
}'''


def locale_key(name: str) -> tuple[tuple[tuple[int, str], ...], tuple[int, ...]]:
    """Sort key approximating ICU root collation as JavaScript's ``localeCompare`` uses it."""
    primary = tuple(
        (0, c) if not c.isalnum() else (1, c) if c.isdigit() else (2, c.lower()) for c in name
    )
    tertiary = tuple(0 if c.islower() or not c.isalpha() else 1 for c in name)
    return primary, tertiary


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def print_join_type(join: JoinType) -> str:
    args = [f"graph: {join.graph}"]
    if join.key is not None:
        args.append(f"key: {_quote(join.key)}")
    if join.extension:
        args.append("extension: true")
    if not join.resolvable:
        args.append("resolvable: false")
    if join.is_interface_object:
        args.append("isInterfaceObject: true")
    return f"@join__type({', '.join(args)})"


def print_join_field(join: JoinField) -> str:
    args = []
    if join.graph is not None:
        args.append(f"graph: {join.graph}")
    for name, value in (("requires", join.requires), ("provides", join.provides)):
        if value is not None:
            args.append(f"{name}: {_quote(value)}")
    # Apollo's argument order (not the directive definition's): override before type.
    if join.override is not None:
        args.append(f"override: {_quote(join.override)}")
    if join.type is not None:
        args.append(f"type: {_quote(join.type)}")
    if join.external:
        args.append("external: true")
    if join.used_overridden:
        args.append("usedOverridden: true")
    return f"@join__field({', '.join(args)})" if args else "@join__field"


class _Printer:
    def __init__(self, supergraph: Supergraph) -> None:
        self.supergraph = supergraph
        self.tag = supergraph.tag_name
        self.inaccessible = supergraph.inaccessible_name

    def print(self) -> str:
        definitions = [self._schema()]
        version = self.supergraph.join_version
        directives = dict(JOIN_DIRECTIVES)
        extra = ""
        if version >= (0, 4):
            directives["join__directive"] = JOIN_DIRECTIVE
            extra = ", overrideLabel: String"
        if version >= (0, 5):
            extra += ", contextArguments: [join__ContextArgument!]"
        directives["join__field"] = directives["join__field"].replace("{extra}", extra)
        if self.tag:
            directives[self.tag] = (
                f"directive @{self.tag}(name: String!) repeatable on {_ELEMENT_LOCATIONS} | SCHEMA"
            )
        if self.inaccessible:
            directives[self.inaccessible] = (
                f"directive @{self.inaccessible} on {_ELEMENT_LOCATIONS}"
            )
        definitions += [directives[name] for name in sorted(directives, key=locale_key)]
        printed: dict[str, str] = {
            "join__FieldSet": "scalar join__FieldSet",
            "join__Graph": self._graph_enum(),
            "link__Import": "scalar link__Import",
            "link__Purpose": LINK_PURPOSE,
        }
        if version >= (0, 4):
            printed["join__DirectiveArguments"] = "scalar join__DirectiveArguments"
        if version >= (0, 5):
            printed["join__ContextArgument"] = JOIN_CONTEXT_ARGUMENT
            printed["join__FieldValue"] = "scalar join__FieldValue"
        for name, typedef in self.supergraph.types.items():
            printed[name] = self._type(typedef)
        definitions += [printed[name] for name in sorted(printed, key=locale_key)]
        return "\n\n".join(definitions)

    def _schema(self) -> str:
        major, minor = self.supergraph.join_version
        join_url = f"https://specs.apollo.dev/join/v{major}.{minor}"
        links = [
            f"@link(url: {_quote(LINK_URL)})",
            f"@link(url: {_quote(join_url)}, for: EXECUTION)",
        ]
        for spec in self.supergraph.link_order:
            if spec == "tag" and self.tag:
                links.append(f"@link(url: {_quote(TAG_URL)}{self._import('tag', self.tag)})")
            elif spec == "inaccessible" and self.inaccessible:
                imported = self._import("inaccessible", self.inaccessible)
                links.append(f"@link(url: {_quote(INACCESSIBLE_URL)}{imported}, for: SECURITY)")
        roots = [f"  {op}: {name}" for op, name in self.supergraph.roots.items()]
        body = "\n{\n" + "\n".join(roots) + "\n}" if roots else ""
        return "schema\n  " + "\n  ".join(links) + body

    @staticmethod
    def _import(spec_name: str, local: str) -> str:
        if local == spec_name:
            return ""
        return f', import: [{{name: "@{spec_name}", as: "@{local}"}}]'

    def _graph_enum(self) -> str:
        values = [
            f"  {g.enum_name} @join__graph(name: {_quote(g.name)}, url: {_quote(g.url)})"
            for g in self.supergraph.graphs
        ]
        return "enum join__Graph {\n" + "\n".join(values) + "\n}"

    def _access(self, element: Tagged) -> tuple[list[str], list[str]]:
        before = [f"@{self.inaccessible}"] if element.inaccessible and self.inaccessible else []
        after: list[str] = []
        for name in element.applied_order:
            if name == "deprecated" and element.deprecated is not None:
                reason = element.deprecated
                after.append(f"@deprecated(reason: {_quote(reason)})" if reason else "@deprecated")
            elif name == "specifiedBy" and element.specified_by is not None:
                after.append(f"@specifiedBy(url: {_quote(element.specified_by)})")
            elif name == "tag" and self.tag:
                after += [f"@{self.tag}(name: {_quote(t)})" for t in element.tags]
        return before, after

    def _type(self, typedef: SuperType) -> str:
        before, after = self._access(typedef)
        directives = [
            f"@join__implements(graph: {g}, interface: {_quote(i)})" for g, i in typedef.implements
        ]
        directives += [print_join_type(j) for j in typedef.joins]
        # Apollo applies @inaccessible while merging, member joins after, and @tag last.
        directives += before
        directives += [
            f"@join__unionMember(graph: {g}, member: {_quote(m)})" for g, m in typedef.union_members
        ]
        directives += after
        head = _description(typedef.description, "") + f"{typedef.kind.value} {typedef.name}"
        if typedef.interfaces and typedef.kind in (Kind.OBJECT, Kind.INTERFACE):
            head += " implements " + " & ".join(typedef.interfaces)
        if typedef.kind is Kind.UNION:
            members = " = " + " | ".join(typedef.members) if typedef.members else ""
            return head + _directive_lines(directives, bool(members)) + members
        if typedef.kind is Kind.SCALAR:
            return head + _directive_lines(directives, False)
        if typedef.kind is Kind.ENUM:
            items = [
                _description(v.description, "  ", first=i == 0)
                + f"  {v.name}"
                + self._inline(v, [f"@join__enumValue(graph: {g})" for g in v.graphs])
                for i, v in enumerate(typedef.values.values())
            ]
        else:
            items = [
                _description(f.description, "  ", first=i == 0) + "  " + self._field(f)
                for i, f in enumerate(typedef.fields.values())
            ]
        block = "{\n" + "\n".join(items) + "\n}" if items else ""
        return (
            head
            + _directive_lines(directives, bool(items))
            + (" " if not directives and items else "")
            + block
        )

    def _inline(self, element: Tagged, joins: Sequence[str] = ()) -> str:
        before, after = self._access(element)
        return "".join(f" {d}" for d in [*before, *joins, *after])

    def _field(self, field: SuperField) -> str:
        text = (
            field.name
            + self._arguments(list(field.arguments.values()))
            + ": "
            + type_str(field.type)
        )
        if field.default is not None:
            text += " = " + print_ast(field.default)
        return text + self._inline(field, [print_join_field(j) for j in field.joins])

    def _arguments(self, args: list[SuperArgument]) -> str:
        if not args:
            return ""
        printed = [
            f"{a.name}: {type_str(a.type)}"
            + (f" = {print_ast(a.default)}" if a.default is not None else "")
            + self._inline(a)
            for a in args
        ]
        if all(a.description is None for a in args):
            return "(" + ", ".join(printed) + ")"
        lines = [
            _description(a.description, "    ", first=i == 0) + "    " + p
            for i, (a, p) in enumerate(zip(args, printed, strict=True))
        ]
        return "(\n" + "\n".join(lines) + "\n  )"


def _directive_lines(directives: list[str], end_with_newline: bool) -> str:
    if not directives:
        return ""
    return "\n  " + "\n  ".join(directives) + ("\n" if end_with_newline else "")


def _description(description: str | None, indent: str, *, first: bool = True) -> str:
    if description is None:
        return ""
    block = print_block_string(description)
    if len(description) > 70 and "\n" not in block:
        block = '"""\n' + description + '\n"""'
    prefix = "\n" + indent if indent and not first else indent
    return prefix + block.replace("\n", "\n" + indent) + "\n"


def print_supergraph(supergraph: Supergraph) -> str:
    return _Printer(supergraph).print()

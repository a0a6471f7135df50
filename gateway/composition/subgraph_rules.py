"""Rules one Federation 2 subgraph must follow on its own, before any merging.

Messages follow Apollo's wording and codes (``KEY_FIELDS_SELECT_INVALID_TYPE``,
``REQUIRES_FIELDS_MISSING_EXTERNAL``, ``EXTERNAL_UNUSED``…).
"""

from __future__ import annotations

from gateway.composition.errors import CompositionProblem
from gateway.composition.facts import is_external
from gateway.composition.fieldset import FieldSetError, Selected, walk_field_set
from gateway.composition.model import Kind, Subgraph, TypeDef, base_name

_COMPOSITE = (Kind.OBJECT, Kind.INTERFACE, Kind.UNION)


class _Rules:
    def __init__(self, subgraph: Subgraph, fed_version: tuple[int, int]) -> None:
        self.subgraph = subgraph
        self.fed_version = fed_version
        self.problems: list[CompositionProblem] = []

    def error(self, code: str, message: str, coordinate: str) -> None:
        name = self.subgraph.name
        self.problems.append(CompositionProblem(code, f"[{name}] {message}", (name,), coordinate))

    def run(self) -> list[CompositionProblem]:
        for typedef in self.subgraph.types.values():
            for key in typedef.keys:
                self._key(typedef, key.fields)
            if typedef.interface_object and not typedef.keys:
                self.error(
                    "INTERFACE_OBJECT_USAGE_ERROR",
                    "The @interfaceObject directive can only be applied to entity types but "
                    f'type "{typedef.name}" has no @key in this subgraph.',
                    typedef.name,
                )
            for field in typedef.fields.values():
                coordinate = f"{typedef.name}.{field.name}"
                if field.requires is not None:
                    self._requires(typedef, coordinate, field.requires)
                if field.provides is not None:
                    self._provides(typedef, coordinate, field.provides, base_name(field.type))
                if typedef.kind is Kind.INTERFACE and coordinate in self.subgraph.external:
                    self.error(
                        "EXTERNAL_ON_INTERFACE",
                        f'Interface type field "{coordinate}" is marked @external but @external '
                        "is not allowed on interface fields (it is nonsensical).",
                        coordinate,
                    )
                elif coordinate in self.subgraph.external and coordinate not in self.subgraph.used:
                    self.error(
                        "EXTERNAL_UNUSED",
                        f'Field "{coordinate}" is marked @external but is not used in any '
                        "federation directive (@key, @provides, @requires) or to satisfy an "
                        "interface; the field declaration has no use and should be removed (or "
                        "the field should not be @external).",
                        coordinate,
                    )
        return self.problems

    def _key(self, typedef: TypeDef, fields: str) -> None:
        where = f'On type "{typedef.name}", for @key(fields: "{fields}")'
        if typedef.kind is Kind.INTERFACE and self.fed_version < (2, 3):
            self.error(
                "KEY_UNSUPPORTED_ON_INTERFACE",
                f'Cannot use @key on interface "{typedef.name}": @key is not yet supported on '
                "interfaces (it needs federation v2.3 or later)",
                typedef.name,
            )
            return

        def visit(selected: Selected) -> None:
            target = self.subgraph.types.get(base_name(selected.field.type))
            coordinate = f"{selected.parent.name}.{selected.field.name}"
            if target is not None and target.kind in (Kind.INTERFACE, Kind.UNION):
                kind = "Interface" if target.kind is Kind.INTERFACE else "Union"
                raise FieldSetError(
                    f'field "{coordinate}" is a {kind} type which is not allowed in @key'
                )
            if selected.field.arguments:
                self.error(
                    "KEY_FIELDS_HAS_ARGS",
                    f"{where}: field {coordinate} cannot be included because it has arguments "
                    "(fields with argument are not allowed in @key)",
                    typedef.name,
                )
            if selected.has_directives:
                self.error(
                    "KEY_HAS_DIRECTIVE_IN_FIELDS_ARGS",
                    f"{where}: cannot have directive applications in the @key(fields:) argument.",
                    typedef.name,
                )

        try:
            walk_field_set(self.subgraph, typedef, fields, visit)
        except FieldSetError as exc:
            code = (
                "KEY_FIELDS_SELECT_INVALID_TYPE"
                if "not allowed in @key" in str(exc)
                else ("KEY_INVALID_FIELDS")
            )
            self.error(code, f"{where}: {exc}", typedef.name)

    def _requires(self, typedef: TypeDef, coordinate: str, fields: str) -> None:
        where = f'On field "{coordinate}", for @requires(fields: "{fields}")'
        if typedef.kind is Kind.INTERFACE:
            self.error(
                "REQUIRES_UNSUPPORTED_ON_INTERFACE",
                f'Cannot use @requires on field "{coordinate}" of parent type "{typedef.name}": '
                "@requires is not yet supported within interfaces",
                coordinate,
            )
            return
        self._external_leaves(typedef, fields, "requires", where, coordinate)

    def _provides(self, typedef: TypeDef, coordinate: str, fields: str, target_name: str) -> None:
        where = f'On field "{coordinate}", for @provides(fields: "{fields}")'
        if coordinate in self.subgraph.external:
            self.error(
                "EXTERNAL_COLLISION_WITH_ANOTHER_DIRECTIVE",
                f'Cannot have both @provides and @external on field "{coordinate}"',
                coordinate,
            )
            return
        target = self.subgraph.types.get(target_name)
        if target is None or target.kind not in _COMPOSITE:
            self.error(
                "PROVIDES_ON_NON_OBJECT_FIELD",
                f'Invalid @provides directive on field "{coordinate}": field has type '
                f'"{target_name}" which is not a Composite Type',
                coordinate,
            )
            return
        if typedef.kind is Kind.INTERFACE:
            self.error(
                "PROVIDES_UNSUPPORTED_ON_INTERFACE",
                f'Cannot use @provides on field "{coordinate}" of parent type "{typedef.name}": '
                "@provides is not yet supported within interfaces",
                coordinate,
            )
            return
        self._external_leaves(target, fields, "provides", where, coordinate, allow_args=False)

    def _external_leaves(
        self,
        parent: TypeDef,
        fields: str,
        directive: str,
        where: str,
        coordinate: str,
        *,
        allow_args: bool = True,
    ) -> None:
        code = directive.upper()

        def visit(selected: Selected) -> None:
            target = f"{selected.parent.name}.{selected.field.name}"
            if not allow_args and selected.field.arguments:
                self.error(
                    f"{code}_FIELDS_HAS_ARGS",
                    f"{where}: field {target} cannot be included because it has arguments "
                    f"(fields with argument are not allowed in @{directive})",
                    coordinate,
                )
            external = target in self.subgraph.external
            if selected.has_selection or selected.external_in_parents or external:
                return
            if target in self.subgraph.fake_external:
                reason = (
                    'it is already "effectively" provided by this subgraph (while it is marked '
                    "@external, it is a @key field of an extension type, which are not internally "
                    "considered external for historical/backward compatibility reasons)"
                )
            else:
                reason = "it is already provided by this subgraph (it is not marked @external)"
            self.error(
                f"{code}_FIELDS_MISSING_EXTERNAL",
                f'{where}: field "{target}" should not be part of a @{directive} since {reason}',
                coordinate,
            )

        try:
            walk_field_set(
                self.subgraph, parent, fields, visit, is_external=is_external(self.subgraph)
            )
        except FieldSetError as exc:
            self.error(f"{code}_INVALID_FIELDS", f"{where}: {exc}", coordinate)


def check_subgraph(subgraph: Subgraph, fed_version: tuple[int, int]) -> list[CompositionProblem]:
    """Problems with one (already upgraded, facts computed) subgraph on its own.

    Upgraded Fed1 subgraphs are checked too, as Apollo validates them as Fed2.
    """
    return _Rules(subgraph, fed_version if subgraph.fed2 else (2, 0)).run()

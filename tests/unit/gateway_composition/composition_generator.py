"""Random subgraph sets for the differential test against Apollo's composition.

Each set mixes Fed1 and Fed2 subgraphs using keys, @shareable, @external,
@requires, @provides, @override, @inaccessible, @tag, @interfaceObject, enums,
unions and inputs, so both valid compositions and most error paths come up.
"""

from __future__ import annotations

import random

from gateway.composition import SubgraphDefinition

IMPORTS = (
    '"@key", "@shareable", "@external", "@requires", "@provides", "@override", '
    '"@inaccessible", "@tag", "@interfaceObject", "@extends"'
)


def random_subgraphs(seed: int) -> list[SubgraphDefinition]:
    rng = random.Random(seed)
    return [_subgraph(rng, i) for i in range(rng.randint(2, 3))]


def _subgraph(rng: random.Random, i: int) -> SubgraphDefinition:
    name = "abc"[i]
    fed2 = rng.random() < 0.85
    lines: list[str] = []
    roots: list[str] = []
    if fed2:
        version = rng.choice(["2.3", "2.5", "2.8"])
        lines.append(
            f'extend schema @link(url: "https://specs.apollo.dev/federation/v{version}", '
            f"import: [{IMPORTS}])"
        )
    _interfaces(rng, i, fed2, lines, roots)
    _product(rng, i, fed2, lines, roots)
    if any("Seller" in line for line in lines):
        shareable = "@shareable " if fed2 and rng.random() < 0.5 else ""
        key = '@key(fields: "id") ' if rng.random() < 0.5 else ""
        rating = "rating: Float" if rng.random() < 0.5 else ""
        lines.append(f"type Seller {key}{shareable}{{ id: ID! {rating} }}")
    if rng.random() < 0.5:
        values = rng.sample(["LOW", "MID", "HIGH"], rng.randint(1, 3))
        hidden = " @inaccessible" if fed2 and rng.random() < 0.2 else ""
        lines.append(
            "enum Level { "
            + " ".join(v + (hidden if j == 0 else "") for j, v in enumerate(values))
            + " }"
        )
        roots.append(
            rng.choice(
                [f"level{i}: Level", f"setLevel{i}(l: Level): Int", f"both{i}(l: Level): Level"]
            )
        )
    if rng.random() < 0.3:
        page = " page: Int = 1" if rng.random() < 0.5 else ""
        strict = " strict: Boolean!" if rng.random() < 0.2 else ""
        lines.append(f'"""Search input."""\ninput Search {{ text: String{page}{strict} }}')
        roots.append(f"search{i}(s: Search): [String]")
    members = [t for t in ("Product", "Book", "Film") if f"type {t}" in "\n".join(lines)]
    if members and rng.random() < 0.3:
        lines.append("union Hit = " + " | ".join(members))
        roots.append(f"hits{i}: [Hit]")
    if not roots:
        roots.append(f"ping{i}: Int")
    keyword = "extend type" if not fed2 and rng.random() < 0.5 else "type"
    lines.append(f"{keyword} Query {{ {' '.join(roots)} }}")
    return SubgraphDefinition(name, f"http://{name}:4000/graphql", "\n".join(lines))


def _interfaces(rng: random.Random, i: int, fed2: bool, lines: list[str], roots: list[str]) -> None:
    if fed2 and i > 0 and rng.random() < 0.3:
        field = rng.choice(["score: Int", "score: Int @shareable", "rank: Int"])
        lines.append(f'type Node @key(fields: "id") @interfaceObject {{ id: ID! {field} }}')
        if rng.random() < 0.5:
            roots.append(f"nodes{i}: [Node]")
    elif rng.random() < 0.6:
        key = ' @key(fields: "id")' if fed2 and rng.random() < 0.5 else ""
        title = "title: String" if rng.random() < 0.5 else ""
        lines.append(f"interface Node{key} {{ id: ID! {title} }}")
        for type_name in rng.sample(["Book", "Film"], rng.randint(1, 2)):
            shared = "title: String @shareable" if fed2 else "title: String"
            extra = rng.choice(["", "pages: Int", shared])
            if title and "title" not in extra:
                extra += " " + shared
            lines.append(
                f'type {type_name} implements Node @key(fields: "id") {{ id: ID! {extra} }}'
            )
        roots.append(f"node{i}(id: ID!): Node")


def _product_field_marks(rng: random.Random, i: int, fed2: bool) -> list[str]:
    """The directives on one Product field (the random draws in a fixed order)."""
    marks = []
    if fed2 and rng.random() < 0.5:
        marks.append("@shareable")
    if rng.random() < 0.2:
        marks.append("@external")
    if fed2 and i > 0 and rng.random() < 0.15:
        marks.append(f'@override(from: "{rng.choice(["a", "b", "zz"])}")')
    if fed2 and rng.random() < 0.1:
        marks.append('@tag(name: "x")')
    if rng.random() < 0.1:
        marks.append('@deprecated(reason: "old")')
    return marks


def _product(rng: random.Random, i: int, fed2: bool, lines: list[str], roots: list[str]) -> None:
    if rng.random() >= 0.7:
        return
    fields = ["id: ID!"]
    externals: list[str] = []
    for field_name, field_type in (
        ("name", "String"),
        ("price", rng.choice(["Int", "Int!"])),
        ("sku", "String"),
        ("seller", "Seller"),
    ):
        if rng.random() >= 0.5:
            continue
        marks = _product_field_marks(rng, i, fed2)
        if "@external" in marks:
            externals.append(field_name)
        fields.append(f"{field_name}: {field_type} {' '.join(marks)}")
    if externals:
        required = externals[0] + (" { id }" if externals[0] == "seller" else "")
        fields.append(f'derived: Int @requires(fields: "{required}")')
    keys = ' @key(fields: "id")'
    if rng.random() < 0.2 and any(f.startswith("sku") for f in fields):
        keys += ' @key(fields: "sku")'
    keyword = "extend type" if rng.random() < 0.2 else "type"
    extends = " @extends" if not fed2 and keyword == "type" and rng.random() < 0.3 else ""
    lines.append(f"{keyword} Product{keys}{extends} {{ {' '.join(fields)} }}")
    if rng.random() < 0.7:
        provides = ""
        if externals and externals[0] != "seller" and rng.random() < 0.5:
            provides = f' @provides(fields: "{externals[0]}")'
        roots.append(f"product{i}(id: ID!, limit: Int = {rng.choice([5, 10])}): Product{provides}")

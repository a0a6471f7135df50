"""Regenerates the supergraph fixtures with Apollo's own composition (@apollo/composition).

Run from the repo root: ``.venv/bin/python tests/unit/gateway_engine/compose_fixtures.py``.
It uses the composition cross-check's node_modules (tests/gateway_fixtures/composition,
installed by its package.json). The generated ``fixtures/*.graphql`` are committed, so the
tests themselves never need Node.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent.parent.parent))

from tests.unit.gateway_engine.engine_subgraph import LINK  # noqa: E402

COMPOSE = HERE.parent.parent / "gateway_fixtures" / "composition" / "compose.mjs"


def compose(name: str, sdls: dict[str, str], link: str = LINK) -> None:
    subgraphs = [
        {"name": n, "url": f"http://{n}.test/graphql", "sdl": link + sdl} for n, sdl in sdls.items()
    ]
    result = subprocess.run(
        ["node", str(COMPOSE)],
        input=json.dumps({"subgraphs": subgraphs}),
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(result.stdout)
    if "errors" in out:
        raise SystemExit(f"{name} does not compose: {out['errors']}")
    (HERE / "fixtures" / f"{name}.graphql").write_text(out["supergraphSdl"])
    print(f"wrote fixtures/{name}.graphql")


def main() -> None:
    from tests.unit.gateway_engine import engine_media, engine_misc, engine_shop, engine_zoo

    compose("shop", engine_shop.SDLS)
    compose("media", engine_media.SDLS)
    compose("misc", engine_misc.SDLS)
    compose("zoo", engine_zoo.SDLS, engine_zoo.LINK_27)


if __name__ == "__main__":
    main()

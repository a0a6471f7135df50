"""Two strawberry federation subgraphs; ``b`` comes in versions so a test can redeploy it."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import strawberry
import uvicorn
from strawberry.asgi import GraphQL

from shared.runtime import QuietServer

PRICES = {"1": 10, "2": 25}


def subgraph_a() -> GraphQL[Any, Any]:
    @strawberry.federation.type(keys=["id"])
    class Product:
        id: strawberry.ID
        name: str

    @strawberry.type
    class Query:
        @strawberry.field
        def product(self, id: strawberry.ID) -> Product | None:
            return Product(id=id, name=f"Product {id}") if id in PRICES else None

    return GraphQL(strawberry.federation.Schema(query=Query), graphql_ide=None)


def subgraph_b(version: str) -> GraphQL[Any, Any]:
    """``v1`` adds ``price``; ``v2`` also ``priceWithTax``; ``broken`` clashes with ``a``."""
    if version == "broken":

        @strawberry.federation.type(keys=["id"], name="Product")
        class Broken:
            id: strawberry.ID
            name: int  # a's Product.name is String!, unshareable: composition must fail

            @classmethod
            def resolve_reference(cls, id: strawberry.ID) -> Any:
                return cls(id=id, name=0)

        @strawberry.type
        class BrokenQuery:
            @strawberry.field
            def version(self) -> str:
                return version

        types: list[type] = [Broken]
        return GraphQL(
            strawberry.federation.Schema(query=BrokenQuery, types=types), graphql_ide=None
        )

    @strawberry.federation.type(keys=["id"], name="Product")
    class Product:
        id: strawberry.ID

        @strawberry.field
        def price(self) -> int:
            return PRICES[str(self.id)]

        if version == "v2":

            @strawberry.field
            def price_with_tax(self) -> int:
                return PRICES[str(self.id)] * 12 // 10

        @classmethod
        def resolve_reference(cls, id: strawberry.ID) -> Any:
            return cls(id=id)

    @strawberry.type
    class Query:
        @strawberry.field
        def version(self) -> str:
            return version

    return GraphQL(strawberry.federation.Schema(query=Query, types=[Product]), graphql_ide=None)


@asynccontextmanager
async def serving_on(app: Any, port: int) -> AsyncIterator[str]:
    """Serve ``app`` at ``http://127.0.0.1:port/graphql`` (the same port across restarts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = QuietServer(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Redeployable:
    """Subgraph ``b`` on a fixed port, redeployed in place as another version."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._serving: Any = None

    async def deploy(self, version: str) -> str:
        await self.stop()
        self._serving = serving_on(subgraph_b(version), self.port)
        url: str = await self._serving.__aenter__()
        return url

    async def stop(self) -> None:
        if self._serving is not None:
            serving, self._serving = self._serving, None
            await serving.__aexit__(None, None, None)

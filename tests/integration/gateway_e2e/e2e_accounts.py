"""The ``accounts`` subgraph: owns ``User`` (name, username); ``me`` reads the forwarded token."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from tests.integration.gateway_e2e.e2e_subgraph_app import (
    Served,
    bearer_claims,
    bearer_subject,
    build,
)

USERS = {"1": ("Ada Lovelace", "ada"), "2": ("Alan Turing", "alan"), "3": ("Grace Hopper", "grace")}


@dataclass
class AccountsState:
    names: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        self.names = {uid: name for uid, (name, _) in USERS.items()}


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    name: str
    username: str
    password_hash: str = strawberry.federation.field(inaccessible=True, default="x")
    """Internal to accounts: @inaccessible keeps it out of the gateway's API."""

    @strawberry.field
    def email(self, info: strawberry.Info) -> str | None:
        """PII: the subgraph itself checks the forwarded token's scope."""
        scopes = str((bearer_claims(info) or {}).get("scope", "")).split()
        if "pii:read" not in scopes:
            raise PermissionError("email needs the scope pii:read")
        return f"{self.username}@example.com"

    @classmethod
    def resolve_reference(cls, info: strawberry.Info, id: strawberry.ID) -> User | None:
        return _user(info.context["state"], str(id))


def _user(state: AccountsState, uid: str) -> User | None:
    if uid not in USERS:
        return None
    return User(id=strawberry.ID(uid), name=state.names[uid], username=USERS[uid][1])


@strawberry.type
class Query:
    @strawberry.field
    def me(self, info: strawberry.Info) -> User | None:
        subject = bearer_subject(info)
        return _user(info.context["state"], subject) if subject else None

    @strawberry.field
    def user(self, info: strawberry.Info, id: strawberry.ID) -> User | None:
        return _user(info.context["state"], str(id))

    @strawberry.field
    def users(self, info: strawberry.Info) -> list[User]:
        return [u for uid in USERS if (u := _user(info.context["state"], uid)) is not None]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def rename_user(self, info: strawberry.Info, id: strawberry.ID, name: str) -> User | None:
        state: AccountsState = info.context["state"]
        if str(id) not in USERS:
            return None
        state.names[str(id)] = name
        return _user(state, str(id))


def accounts() -> Served:
    state = AccountsState()
    state.reset()
    schema = strawberry.federation.Schema(query=Query, mutation=Mutation, types=[User])
    return build("accounts", schema, state)

"""Who is calling: personal (named) tokens beside the mission's one token per role.

Command authority ("one operator holds it") and two-person approval ("a different admin
approves") need to tell people apart, which one shared token per role cannot. `MPCS_API_USERS`
lists personal tokens, one `name:role:token` entry per line or comma:

    alice:admin:3f9c…, bob:admin:77aa…, carol:operator:c0de…

A caller with a personal token is that person, with that role, everywhere in the API. A caller
with a role's shared token (`MPCS_API_TOKEN_<ROLE>`) is one person named after the role
(`operator`, `admin`): everyone holding that token is the same person to the API, so two-person
approval needs personal tokens (see `docs/api.md`).

>>> users = parse_users("alice:admin:tok-a,\\n bob:operator:tok-b")
>>> users["tok-b"]
Principal(name='bob', role=<Role.OPERATOR: 'operator'>)
>>> shared = Tokens.from_values(viewer="v", operator=None, admin=None)
>>> tokens = NamedTokens.extend(shared, users)
>>> tokens.principal_of("tok-a")
Principal(name='alice', role=<Role.ADMIN: 'admin'>)
>>> tokens.principal_of("v")
Principal(name='viewer', role=<Role.VIEWER: 'viewer'>)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import NamedTuple

from .auth import Tokens
from .models import Role

#: A person's name: what audits show and what `issuedBy` carries.
NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


class Principal(NamedTuple):
    """The caller: a person (or a shared role token, named after its role) and their role."""

    name: str
    role: Role


class UsersError(ValueError):
    """`MPCS_API_USERS` is malformed (the message names the entry, never the token)."""


def parse_users(text: str) -> dict[str, Principal]:
    """Token → principal from `name:role:token` entries separated by commas or newlines."""
    users: dict[str, Principal] = {}
    names: set[str] = set()
    roles = {r.value for r in Role}
    for number, raw in enumerate(re.split(r"[,\n]", text), start=1):
        entry = raw.strip()
        if not entry:
            continue
        name, _, rest = entry.partition(":")
        role, _, token = rest.partition(":")
        if not NAME.match(name):
            raise UsersError(f"MPCS_API_USERS entry {number}: name {name!r} is not a DNS label")
        if name in roles:
            raise UsersError(
                f"MPCS_API_USERS entry {number}: {name!r} is the name of a role's shared token"
            )
        if role not in roles:
            raise UsersError(
                f"MPCS_API_USERS entry {number} ({name}): role {role!r} is not one of "
                + ", ".join(sorted(roles))
            )
        if len(token) < 16:
            raise UsersError(
                f"MPCS_API_USERS entry {number} ({name}): the token needs at least 16 characters"
            )
        if name in names or token in users:
            raise UsersError(f"MPCS_API_USERS entry {number} ({name}): name or token repeated")
        names.add(name)
        users[token] = Principal(name, Role(role))
    return users


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "backslashreplace")).digest()


@dataclass(frozen=True)
class NamedTokens(Tokens):
    """The shared role tokens plus personal ones (what `Services.tokens` holds).

    Personal tokens are kept as SHA-256 digests and compared in constant time, like the
    shared ones.
    """

    users: Mapping[bytes, Principal] = field(default_factory=dict)

    @classmethod
    def extend(cls, tokens: Tokens, users: Mapping[str, Principal]) -> NamedTokens:
        """`tokens` (as loaded or rotated) plus the personal `users` (token → principal)."""
        shared = {f.name: getattr(tokens, f.name) for f in fields(tokens) if f.name != "users"}
        return cls(**shared, users={_digest(t): p for t, p in users.items()})

    def principal_of(self, token: str) -> Principal | None:
        """The person presenting `token`, else None."""
        given = _digest(token)
        found: Principal | None = None
        for candidate, principal in self.users.items():
            if hmac.compare_digest(given, candidate):
                found = principal
        if found is not None:
            return found
        role = super().role_of(token)
        return None if role is None else Principal(role.value, role)

    def role_of(self, token: str) -> Role | None:
        principal = self.principal_of(token)
        return None if principal is None else principal.role


def principal_of(tokens: Tokens, token: str, role: Role) -> Principal:
    """The caller already authenticated with `role`: their name too (the role's for a shared
    token, or when the service knows no personal tokens)."""
    if isinstance(tokens, NamedTokens):
        found = tokens.principal_of(token)
        if found is not None:
            return found
    return Principal(role.value, role)

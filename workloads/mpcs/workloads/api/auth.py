"""Bearer-token authentication and role checks (DESIGN §7).

The mission's Secret holds one token per role; the operator passes them as
`MPCS_API_TOKEN_VIEWER/OPERATOR/ADMIN`. A request presents one in `Authorization: Bearer <token>`
(a WebSocket may use `?token=` instead, since browsers cannot set headers on a WebSocket):

- no token or an unknown one → 401 with `WWW-Authenticate: Bearer` (RFC 6750);
- a known token whose role is too low → 403 naming the role needed.

Tokens are compared in constant time. A role whose variable is unset has no token: nobody can
act as it.

>>> tokens = Tokens.from_values(viewer="v", operator="o", admin=None)
>>> tokens.role_of("o")
<Role.OPERATOR: 'operator'>
>>> tokens.role_of("a") is None
True
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, status

from .models import Role

REALM = "mpcs"


@dataclass(frozen=True)
class Tokens:
    """Role → bearer token (None: the role has no token)."""

    by_role: dict[Role, str]

    @classmethod
    def from_values(cls, *, viewer: str | None, operator: str | None, admin: str | None) -> Tokens:
        pairs = {Role.VIEWER: viewer, Role.OPERATOR: operator, Role.ADMIN: admin}
        return cls({role: token for role, token in pairs.items() if token})

    def role_of(self, token: str) -> Role | None:
        """The highest role whose token is `token` (constant-time comparisons), else None."""
        found: Role | None = None
        given = token.encode()
        for role, expected in self.by_role.items():
            if hmac.compare_digest(given, expected.encode()) and (
                found is None or role.rank > found.rank
            ):
                found = role
        return found


def unauthorized(reason: str, *, error: str | None = None) -> HTTPException:
    """401 with the RFC 6750 challenge (`error="invalid_token"` for a token that is wrong)."""
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": challenge},
    )


def parse_authorization(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None when absent).

    >>> parse_authorization("Bearer abc"), parse_authorization(None)
    ('abc', None)
    """
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized(
            "Authorization header: expected 'Bearer <token>'", error="invalid_request"
        )
    return token.strip()


def authenticate(tokens: Tokens, token: str | None) -> Role:
    """The role of `token`, or a 401 saying what is wrong."""
    if token is None:
        raise unauthorized("Authorization header: a bearer token is required")
    role = tokens.role_of(token)
    if role is None:
        raise unauthorized(
            "Authorization header: the bearer token is not valid", error="invalid_token"
        )
    return role


def require(role: Role, needed: Role, *, action: str) -> None:
    """403 unless `role` may do what `needed` may."""
    if not role.allows(needed):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"role {role.value} may not {action}; it needs the {needed.value} role",
        )

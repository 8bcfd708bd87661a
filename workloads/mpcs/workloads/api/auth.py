"""Bearer-token authentication, role checks and token rotation (DESIGN §7).

The mission's Secret holds the tokens, one key per role (viewer, operator, admin, ingest). The
operator mounts it as files at `MPCS_API_TOKENS_DIR` (one file per role, named after it); the
service re-reads them every `MPCS_API_TOKENS_RELOAD_S`, so a token rotated by updating the Secret
is honoured without a restart once the kubelet has updated the mount (`watch_tokens`). A file
may hold several tokens, one per line: add the new token, move the clients, remove the old one
— no request is refused during a rotation. Without a tokens directory the tokens come from
`MPCS_API_TOKEN_<ROLE>` (fixed for the process's life).

A request presents a token in `Authorization: Bearer <token>` (a WebSocket may use `?token=`
instead, since browsers cannot set headers on a WebSocket):

- no token or an unknown one → 401 with `WWW-Authenticate: Bearer` (RFC 6750);
- a known token whose role is too low → 403 naming the role needed.

Tokens are compared in constant time: only SHA-256 digests are kept, and the digest of the
presented token is compared with every known digest (`hmac.compare_digest`, no early exit), so
neither the content nor the length of a token shows in the answer's timing. A token is never
logged, audited or echoed; `token_key` (a digest prefix) names one in the rate limiter.

A role without a token: nobody can act as it.

>>> tokens = Tokens.from_values(viewer="v", operator="o", admin=None)
>>> tokens.role_of("o")
<Role.OPERATOR: 'operator'>
>>> tokens.role_of("a") is None
True
>>> Tokens.from_values(viewer="old\\nnew", operator=None, admin=None).role_of("new")
<Role.VIEWER: 'viewer'>
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, status
from pydantic import SecretStr

from ..settings import WorkloadSettings
from .models import Role

log = logging.getLogger("mpcs.workloads.api")

REALM = "mpcs"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "backslashreplace")).digest()


def token_key(token: str) -> str:
    """A name for a token that does not reveal it (rate-limit buckets, never logs)."""
    return hashlib.sha256(b"mpcs-rate:" + token.encode("utf-8", "backslashreplace")).hexdigest()[
        :16
    ]


def split_tokens(text: str | None) -> tuple[str, ...]:
    """The tokens of a Secret value: one per line, surrounding blanks and empty lines ignored.

    >>> split_tokens(" a \\n\\nb\\n")
    ('a', 'b')
    """
    if not text:
        return ()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@dataclass(frozen=True)
class Tokens:
    """Role → SHA-256 digests of its tokens (no entry: the role has no token)."""

    by_role: Mapping[Role, tuple[bytes, ...]]

    @classmethod
    def from_texts(cls, texts: Mapping[Role, str | None]) -> Tokens:
        """From each role's Secret value (several tokens: one per line)."""
        digests = {
            role: tuple(_digest(t) for t in split_tokens(text)) for role, text in texts.items()
        }
        return cls({role: found for role, found in digests.items() if found})

    @classmethod
    def from_values(
        cls,
        *,
        viewer: str | None,
        operator: str | None,
        admin: str | None,
        ingest: str | None = None,
    ) -> Tokens:
        return cls.from_texts(
            {Role.VIEWER: viewer, Role.OPERATOR: operator, Role.ADMIN: admin, Role.INGEST: ingest}
        )

    @property
    def roles(self) -> list[str]:
        return sorted(role.value for role in self.by_role)

    def role_of(self, token: str) -> Role | None:
        """The highest role that has `token` (constant-time comparisons), else None."""
        found: Role | None = None
        given = _digest(token)
        for role, expected in self.by_role.items():
            for digest in expected:
                if hmac.compare_digest(given, digest) and (found is None or role.rank > found.rank):
                    found = role
        return found


def read_tokens_dir(directory: Path) -> dict[Role, str | None]:
    """Each role's file in a mounted Secret (a missing file: no token). Blocking: call it in a
    thread. Reads through the kubelet's `..data` symlink swap, so a file is never half-written."""
    texts: dict[Role, str | None] = {}
    for role in Role:
        try:
            texts[role] = (directory / role.value).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            texts[role] = None
    return texts


async def watch_tokens(
    directory: Path,
    *,
    interval_s: float,
    apply: Callable[[Tokens], None],
    loaded: dict[Role, str | None] | None = None,
) -> None:
    """Re-read `directory` every `interval_s` and `apply` the tokens whenever they change.

    An unreadable directory keeps the tokens in force (logged once per outage). `loaded` is
    what was read at start, so the first pass applies nothing new.
    """
    last = loaded
    failing = False
    while True:
        await asyncio.sleep(interval_s)
        try:
            texts = await asyncio.to_thread(read_tokens_dir, directory)
        except OSError as exc:
            if not failing:
                log.warning(
                    "API tokens not re-read from %s (%s); keeping the current ones",
                    directory,
                    exc.strerror or type(exc).__name__,
                )
            failing = True
            continue
        failing = False
        if texts != last:
            tokens = Tokens.from_texts(texts)
            apply(tokens)
            last = texts
            log.info(
                "API tokens reloaded from %s (roles with a token: %s)",
                directory,
                ", ".join(tokens.roles) or "none",
            )


def tokens_from_settings(
    settings: WorkloadSettings,
) -> tuple[Tokens, dict[Role, str | None] | None]:
    """The tokens in force at start, and what was read from the tokens folder (None without one).

    A folder that cannot be read leaves every role without a token (every request 401) until
    `watch_tokens` can read it.
    """
    if settings.api_tokens_dir:
        try:
            texts = read_tokens_dir(Path(settings.api_tokens_dir))
        except OSError as exc:
            log.error(
                "API tokens folder %s unreadable (%s): no token is valid until it is",
                settings.api_tokens_dir,
                exc.strerror or type(exc).__name__,
            )
            return Tokens({}), None
        return Tokens.from_texts(texts), texts

    def value(secret: SecretStr | None) -> str | None:
        return None if secret is None else secret.get_secret_value()

    return Tokens.from_values(
        viewer=value(settings.api_token_viewer),
        operator=value(settings.api_token_operator),
        admin=value(settings.api_token_admin),
        ingest=value(settings.api_token_ingest),
    ), None


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

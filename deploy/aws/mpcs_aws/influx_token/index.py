"""CloudFormation custom resource: MPCS's InfluxDB token on a Timestream for InfluxDB instance.

Timestream for InfluxDB creates its instance with an admin user and password (which it also
stores in a Secrets Manager secret of its own: organization, bucket, username, password) but
exposes no token, and CloudFormation cannot create one. MPCS's operator authenticates with a
token, so this handler, run by CloudFormation once the instance is available, signs in with the
admin's credentials (`POST /api/v2/signin`), creates an all-access token for the organisation
(`POST /api/v2/authorizations`, AWS's recommendation over an operator token) and writes it to
the token secret, from which the stack's Kubernetes Secret is filled by a dynamic reference.

Standard library and boto3 only (both in Lambda's Python runtime): the function ships as this
one file. The token never appears in the response to CloudFormation, nor in a log line.
Create and Update converge (an active token with our description is reused); Delete revokes the
token, best effort, and never fails the stack's deletion.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

log = logging.getLogger()
log.setLevel(logging.INFO)

#: The description our token carries in InfluxDB, how a retry or an update finds it again.
TOKEN_DESCRIPTION = "mpcs operator (all-access, created by the CDK stack)"
#: InfluxDB 2's organisation-scoped resource types: read and write on each is "all access" in
#: the organisation (what `influx auth create --all-access` and AWS's rotation functions grant).
ALL_ACCESS_TYPES = (
    "annotations",
    "authorizations",
    "buckets",
    "checks",
    "dashboards",
    "dbrp",
    "documents",
    "labels",
    "notebooks",
    "notificationEndpoints",
    "notificationRules",
    "orgs",
    "remotes",
    "replications",
    "scrapers",
    "secrets",
    "sources",
    "tasks",
    "telegrafs",
    "users",
    "variables",
    "views",
)
#: How long to keep trying the endpoint (its DNS name may trail the instance's AVAILABLE state).
CONNECT_DEADLINE_S = 240.0
HTTP_TIMEOUT_S = 15.0


class InfluxError(RuntimeError):
    """InfluxDB refused a request; the message names the request and the reason."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def base_url(endpoint: str, port: int = 8086) -> str:
    """The instance's HTTPS URL from its endpoint (a full URL is kept, for tests).

    >>> base_url("abc-123.eu-west-1.timestream-influxdb.amazonaws.com")
    'https://abc-123.eu-west-1.timestream-influxdb.amazonaws.com:8086'
    """
    if "://" in endpoint:
        return endpoint.rstrip("/")
    return f"https://{endpoint}:{port}"


def all_access_permissions(org_id: str, user_id: str) -> list[dict[str, Any]]:
    """Read and write on every resource type of `org_id` (InfluxDB's owner permissions: the
    organisation itself by its `id`, everything else by `orgID`), and on the token's own user,
    which InfluxDB checks when the token creates another (`write:users/<id>`), as the influx
    CLI's `--all-access` grants it."""
    resources = [
        {"type": kind, "id": org_id} if kind == "orgs" else {"type": kind, "orgID": org_id}
        for kind in ALL_ACCESS_TYPES
    ]
    resources.append({"type": "users", "id": user_id})
    return [
        {"action": action, "resource": resource}
        for resource in resources
        for action in ("read", "write")
    ]


def token_secret_value(*, token: str, org: str, db_identifier: str, authorization_id: str) -> str:
    """The token secret's JSON, in the shape of AWS's Timestream for InfluxDB token secrets."""
    return json.dumps(
        {
            "engine": "timestream-influxdb",
            "dbIdentifier": db_identifier,
            "org": org,
            "type": "allAccess",
            "authorizationId": authorization_id,
            "token": token,
        },
        sort_keys=True,
    )


class Influx:
    """A signed-in session on InfluxDB 2's HTTP API (the admin's username and password)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookie = ""

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.cookie:
            request.add_header("Cookie", self.cookie)
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                if response.headers.get("Set-Cookie"):
                    self.cookie = response.headers["Set-Cookie"].split(";", 1)[0]
                content = response.read()
        except urllib.error.HTTPError as exc:
            reason = exc.read()[:300].decode(errors="replace")
            raise InfluxError(f"{method} {path}: {exc.code} {reason}", exc.code) from exc
        return json.loads(content) if content else None

    def sign_in(self, username: str, password: str, *, deadline_s: float) -> None:
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        give_up = time.monotonic() + deadline_s
        delay = 5.0
        while True:
            try:
                self.call("POST", "/api/v2/signin", Authorization=f"Basic {basic}")
                return
            except (urllib.error.URLError, OSError, InfluxError) as exc:
                # Unreachable, or a load balancer's 5xx while the engine starts: wait. A refusal
                # (401: wrong password) is final.
                if isinstance(exc, InfluxError) and exc.status < 500:
                    raise
                if time.monotonic() + delay > give_up:
                    raise InfluxError(f"{self.url} unreachable: {exc}") from exc
                log.info("InfluxDB not reachable yet (%s); retrying in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def org_id(self, org: str) -> str:
        found = self.call("GET", "/api/v2/orgs?" + urllib.parse.urlencode({"org": org}))
        orgs = (found or {}).get("orgs") or []
        if not orgs:
            raise InfluxError(f"organisation {org!r} does not exist")
        return str(orgs[0]["id"])

    def ensure_token(self, org_id: str) -> tuple[str, str]:
        """(authorization id, token) of our active all-access token, created if missing."""
        query = urllib.parse.urlencode({"orgID": org_id})
        found = self.call("GET", f"/api/v2/authorizations?{query}") or {}
        for auth in found.get("authorizations", []):
            if auth.get("description") == TOKEN_DESCRIPTION and auth.get("status") == "active":
                return str(auth["id"]), str(auth["token"])
        created = self.call(
            "POST",
            "/api/v2/authorizations",
            {
                "orgID": org_id,
                "status": "active",
                "description": TOKEN_DESCRIPTION,
                "permissions": all_access_permissions(
                    org_id, str(self.call("GET", "/api/v2/me")["id"])
                ),
            },
        )
        return str(created["id"]), str(created["token"])

    def revoke(self, authorization_id: str) -> None:
        self.call("DELETE", f"/api/v2/authorizations/{urllib.parse.quote(authorization_id)}")


def apply(event: dict[str, Any], secrets: Any) -> tuple[str, dict[str, str]]:
    """Do what the event asks; (physical resource id, response data without the token)."""
    props = event["ResourceProperties"]
    admin = json.loads(secrets.get_secret_value(SecretId=props["AdminSecretArn"])["SecretString"])
    influx = Influx(base_url(props["Endpoint"]))
    if event["RequestType"] == "Delete":
        physical_id = event["PhysicalResourceId"]
        try:
            influx.sign_in(admin["username"], admin["password"], deadline_s=0)
            influx.revoke(physical_id)
        except Exception as exc:  # the instance may be gone already: never block a delete
            log.warning("token %s not revoked: %s", physical_id, exc)
        return physical_id, {}
    influx.sign_in(admin["username"], admin["password"], deadline_s=CONNECT_DEADLINE_S)
    authorization_id, token = influx.ensure_token(influx.org_id(props["Org"]))
    secrets.put_secret_value(
        SecretId=props["TokenSecretArn"],
        SecretString=token_secret_value(
            token=token,
            org=props["Org"],
            db_identifier=props["DbIdentifier"],
            authorization_id=authorization_id,
        ),
    )
    return authorization_id, {"AuthorizationId": authorization_id}


def respond(
    event: dict[str, Any], status: str, physical_id: str, data: dict[str, str], reason: str
) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": True,
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT")
    request.add_header("Content-Type", "")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S):
        pass


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entry point: apply the event, then answer CloudFormation's pre-signed URL."""
    import boto3  # in Lambda's runtime; imported here so the pure functions need no AWS SDK

    log.info("%s %s", event.get("RequestType"), event.get("LogicalResourceId"))
    physical_id = event.get("PhysicalResourceId", "pending")
    try:
        physical_id, data = apply(event, boto3.client("secretsmanager"))
        respond(event, "SUCCESS", physical_id, data, "ok")
    except Exception as exc:
        log.exception("failed")
        respond(event, "FAILED", physical_id, {}, f"{type(exc).__name__}: {exc}")

"""The generated parts of the Helm chart `charts/mpcs`, and the check that they are current.

Three things in the chart must never drift from the Python they describe, so they are written from
it by `mpcs dev chart generate` (and `mpcs dev chart check` / a unit test fail when stale):

- the operator's ClusterRole template, from `mpcs.operator.rbac.RULES`;
- the CRDs in the chart's `crds/`, the same text as the repository's crds/ (`mpcs crds generate`);
- the operator's `MPCS_*` environment (`templates/_settings.tpl`), `values.schema.json` and the
  settings table of docs/install.md, from the fields of `OperatorSettings` (their `#:` comments or
  descriptions, types and bounds) and the defaults in the chart's values.yaml.

Every operator setting is one value, `operator.settings.<camelCase field>`; the three that hold a
secret (`SECRET_FIELDS`) take a reference to a key of an existing Secret instead of the secret.
It is development tooling: run from the repository root; nothing in the product imports it.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from mpcs.core.resources.crds import generated_files as crd_files
from mpcs.kit.settings import ENV_PREFIX, ServiceSettings
from mpcs.operator import rbac
from mpcs.operator.settings import OperatorSettings

CHART = Path("charts/mpcs")
INSTALL_DOC = Path("docs/install.md")
REGENERATE = "mpcs dev chart generate"

#: Settings whose value is a secret: the chart takes `{name, key}` of an existing Secret in the
#: release namespace and passes it as `valueFrom.secretKeyRef`, never the secret itself.
SECRET_FIELDS = (
    "influx_token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "kafka_sasl_password",
)
#: The key each secret setting's reference defaults to.
SECRET_DEFAULT_KEYS = {
    "kafka_sasl_password": "password",
    "influx_token": "token",
    "aws_access_key_id": "access_key_id",
    "aws_secret_access_key": "secret_access_key",
}
#: Settings the chart fills itself when their value is null (template expressions, `$` the root).
CHART_FALLBACKS = {
    "image": 'include "mpcs.image" $',
    "image_pull_policy": "$.Values.image.pullPolicy",
}
#: What the default of a chart-filled setting is, for the settings table.
CHART_FALLBACK_DEFAULTS = {
    "image": "the chart's image (`image.*`)",
    "image_pull_policy": "`image.pullPolicy`",
}
#: What the chart adds to a setting's own doc in the settings table.
CHART_NOTES = {
    "metrics_port": "In the chart 1–65535: the container port `metrics` of the probes, the Service "
    "and the ServiceMonitor.",
}
#: Bounds the chart adds to a setting's own: a container cannot serve on "any free port" (0),
#: because its probes and Service name one port.
SCHEMA_OVERRIDES: dict[str, dict[str, Any]] = {"metrics_port": {"minimum": 1}}

TABLE_BEGIN = f"<!-- BEGIN GENERATED settings table: `{REGENERATE}` -->"
TABLE_END = "<!-- END GENERATED settings table -->"
VALUES_BEGIN = f"<!-- BEGIN GENERATED values table: `{REGENERATE}` -->"
VALUES_END = "<!-- END GENERATED values table -->"
#: The values documented by the settings table instead of the values table.
SETTINGS_PATH = "operator.settings"


@dataclass(frozen=True)
class Setting:
    """One operator setting as the chart sees it."""

    field: str
    doc: str
    schema: dict[str, Any]

    @property
    def env(self) -> str:
        """The environment variable, e.g. `MPCS_KAFKA_BOOTSTRAP`."""
        return f"{ENV_PREFIX}{self.field.upper()}"

    @property
    def value_key(self) -> str:
        """The key under `operator.settings`, e.g. `kafkaBootstrap`."""
        head, *rest = self.field.split("_")
        return head + "".join(part.capitalize() for part in rest)

    @property
    def secret(self) -> bool:
        return self.field in SECRET_FIELDS


def _comment_docs(cls: type) -> dict[str, str]:
    """Sphinx-style `#:` comments of a class's annotated fields.

    A comment block documents the fields that follow it up to the next block (`influx_url` and
    `influx_org` share one); the text is joined into one line.
    """
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    current = ""
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        block: list[str] = []
        row = node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#:"):
            block.insert(0, lines[row].strip().removeprefix("#:").strip())
            row -= 1
        if block:
            current = " ".join(block)
        docs[node.target.id] = current
    return docs


def _field_schema(raw: dict[str, Any]) -> dict[str, Any]:
    """A pydantic property schema without its title/default/description (the chart adds its own)."""
    if "anyOf" in raw:
        return {"anyOf": [_field_schema(option) for option in raw["anyOf"]]}
    return {k: v for k, v in raw.items() if k not in {"title", "default", "description"}}


def settings() -> list[Setting]:
    """Every `OperatorSettings` field, in declaration order (the base's fields first)."""
    docs = _comment_docs(OperatorSettings)
    properties = OperatorSettings.model_json_schema()["properties"]
    result = []
    for name, info in OperatorSettings.model_fields.items():
        doc = docs.get(name) or info.description or ""
        if not doc and name in ServiceSettings.model_fields:
            doc = ServiceSettings.model_fields[name].description or ""
        schema = {**_field_schema(properties[name]), **SCHEMA_OVERRIDES.get(name, {})}
        result.append(Setting(field=name, doc=doc, schema=schema))
    return result


# -- templates ---------------------------------------------------------------------------------


def _template_header(source: str) -> str:
    return (
        f"{{{{- /*\nGENERATED from {source} by `{REGENERATE}` — do not edit.\n"
        "A unit test fails when this file is stale.\n*/}}\n"
    )


def cluster_role_template() -> str:
    """templates/clusterrole.yaml: the rules of `mpcs.operator.rbac`, named for the release."""
    rules = yaml.safe_dump(rbac.RULES, sort_keys=False, width=100, default_flow_style=False)
    return (
        _template_header("operator/mpcs/operator/rbac.py (RULES)")
        + "{{- if .Values.rbac.create }}\n"
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: ClusterRole\n"
        "metadata:\n"
        '  name: {{ include "mpcs.fullname" . }}\n'
        "  labels:\n"
        '    {{- include "mpcs.labels" . | nindent 4 }}\n'
        "rules:\n" + rules + "{{- end }}\n"
    )


def settings_template() -> str:
    """templates/_settings.tpl: `mpcs.operator.env`, one env entry per set operator value."""
    out = [
        _template_header("operator/mpcs/operator/settings.py (OperatorSettings)"),
        "{{/* The operator's MPCS_* environment, one entry per operator.settings value. */}}\n",
        '{{- define "mpcs.operator.env" -}}\n',
        "{{- $s := .Values.operator.settings }}\n",
    ]
    for s in settings():
        ref = f"$s.{s.value_key}"
        if s.secret:
            out.append(
                f"{{{{- with {ref} }}}}{{{{- if .name }}}}\n"
                f"- name: {s.env}\n"
                "  valueFrom:\n"
                "    secretKeyRef:\n"
                "      name: {{ .name | quote }}\n"
                "      key: {{ .key | quote }}\n"
                "{{- end }}{{- end }}\n"
            )
        elif s.field in CHART_FALLBACKS:
            out.append(
                f"- name: {s.env}\n"
                f"  value: {{{{ (ternary ({CHART_FALLBACKS[s.field]}) {ref} "
                f'(kindIs "invalid" {ref})) | toString | quote }}}}\n'
            )
        else:
            out.append(
                f'{{{{- if not (kindIs "invalid" {ref}) }}}}\n'
                f"- name: {s.env}\n"
                f"  value: {{{{ {ref} | toString | quote }}}}\n"
                "{{- end }}\n"
            )
    out.append("{{- end }}\n")
    return "".join(out)


# -- values.schema.json ------------------------------------------------------------------------


def _obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties, **extra}


_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
#: Kubernetes objects the chart passes through unchanged (resources, affinity, …): their own
#: schema is the apiserver's, checked by `kubernetes-validate` on the rendered chart.
_K8S_OBJECT = {"type": "object"}
_K8S_LIST = {"type": "array", "items": {"type": "object"}}
_DNS_LABEL = {"type": "string", "maxLength": 63, "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"}


def _settings_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for s in settings():
        if s.secret:
            schema = _obj(
                {
                    "name": {
                        **_STRING,
                        "description": "Secret in the release namespace (empty: unset).",
                    },
                    "key": {**_STRING, "minLength": 1, "description": "Key in that Secret."},
                },
                required=["name", "key"],
            )
        elif s.field in CHART_FALLBACKS:
            schema = {"anyOf": [_field_schema(s.schema), {"type": "null"}]}
        else:
            schema = s.schema
        properties[s.value_key] = {**schema, "description": f"{s.env}: {s.doc}"}
    return _obj(properties, description="MPCS_* settings of the operator, one value each.")


def values_schema() -> dict[str, Any]:
    """The chart's values.schema.json: self-contained (no remote $ref), closed where it helps."""
    probe = _obj(
        {
            "initialDelaySeconds": {"type": "integer", "minimum": 0},
            "periodSeconds": {"type": "integer", "minimum": 1},
            "timeoutSeconds": {"type": "integer", "minimum": 1},
            "failureThreshold": {"type": "integer", "minimum": 1},
        }
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Values of the MPCS Helm chart",
        **_obj(
            {
                "nameOverride": _DNS_LABEL,
                "fullnameOverride": _DNS_LABEL,
                "commonLabels": _STRING_MAP,
                "image": _obj(
                    {
                        "repository": {**_STRING, "minLength": 1},
                        "tag": _STRING,
                        "digest": {**_STRING, "pattern": "^(sha256:[a-f0-9]{64})?$"},
                        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                    },
                    required=["repository", "pullPolicy"],
                ),
                "imagePullSecrets": _K8S_LIST,
                "serviceAccount": _obj(
                    {
                        "create": _BOOL,
                        "name": _DNS_LABEL,
                        "annotations": _STRING_MAP,
                        "automountServiceAccountToken": _BOOL,
                    }
                ),
                "rbac": _obj({"create": _BOOL}),
                "operator": _obj(
                    {
                        "replicaCount": {"type": "integer", "minimum": 0},
                        "standalone": _BOOL,
                        "verbose": _BOOL,
                        "extraArgs": {"type": "array", "items": _STRING},
                        "updateStrategy": _K8S_OBJECT,
                        "settings": _settings_schema(),
                        "extraEnv": _K8S_LIST,
                        "podAnnotations": _STRING_MAP,
                        "podLabels": _STRING_MAP,
                        "podSecurityContext": _K8S_OBJECT,
                        "securityContext": _K8S_OBJECT,
                        "resources": _K8S_OBJECT,
                        "livenessProbe": probe,
                        "readinessProbe": probe,
                        "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
                        "priorityClassName": _STRING,
                        "nodeSelector": _STRING_MAP,
                        "tolerations": _K8S_LIST,
                        "affinity": _K8S_OBJECT,
                        "topologySpreadConstraints": _K8S_LIST,
                    }
                ),
                "service": _obj(
                    {
                        "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                        "annotations": _STRING_MAP,
                    }
                ),
                "serviceMonitor": _obj(
                    {
                        "enabled": _BOOL,
                        "namespace": _STRING,
                        "labels": _STRING_MAP,
                        "interval": {**_STRING, "pattern": "^([0-9]+(ms|s|m|h))*$"},
                        "scrapeTimeout": {**_STRING, "pattern": "^([0-9]+(ms|s|m|h))*$"},
                        "extraRelabelings": _K8S_LIST,
                    }
                ),
                "podMonitor": _obj(
                    {
                        "enabled": _BOOL,
                        "namespace": _STRING,
                        "labels": _STRING_MAP,
                        "interval": {**_STRING, "pattern": "^([0-9]+(ms|s|m|h))*$"},
                    }
                ),
                "podDisruptionBudget": _obj(
                    {
                        "enabled": _BOOL,
                        "maxUnavailable": {"type": ["integer", "string"]},
                    }
                ),
                "tests": _obj(
                    {"enabled": _BOOL, "resources": _K8S_OBJECT},
                ),
            }
        ),
    }


def values_schema_text() -> str:
    return json.dumps(values_schema(), indent=2, ensure_ascii=False) + "\n"


# -- the settings table ------------------------------------------------------------------------


def _default_cell(setting: Setting, value: Any) -> str:
    if setting.secret:
        return f"unset (key `{value['key']}`)" if not value.get("name") else f"`{value['name']}`"
    if value is None:
        return CHART_FALLBACK_DEFAULTS.get(setting.field, "unset")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def settings_table(values: dict[str, Any]) -> str:
    """Markdown: each `operator.settings` value, its variable, its default and what it does."""
    defaults = values["operator"]["settings"]
    rows = [
        "| Value (`operator.settings.`…) | Variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for s in settings():
        meaning = s.doc.replace("|", "\\|")
        if s.field in CHART_NOTES:
            meaning += " " + CHART_NOTES[s.field]
        if s.secret:
            meaning += " Give `{name, key}` of an existing Secret in the release namespace."
        rows.append(
            f"| `{s.value_key}` | `{s.env}` | {_default_cell(s, defaults.get(s.value_key))} "
            f"| {meaning} |"
        )
    return "\n".join(rows) + "\n"


def value_docs(values_yaml: str) -> dict[str, str]:
    """Each value's `# -- ` comment (continued by the `#` lines under it), by dotted path."""
    docs: dict[str, str] = {}
    parents: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_yaml.splitlines():
        stripped = line.strip()
        if stripped.startswith("# -- "):
            pending = [stripped.removeprefix("# -- ")]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped.removeprefix("#").strip())
            continue
        match = re.match(r"^( *)([A-Za-z][A-Za-z0-9]*):", line)
        if not match:
            pending = None
            continue
        indent = len(match.group(1))
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = ".".join([*(key for _, key in parents), match.group(2)])
        if pending is not None:
            docs[path] = " ".join(pending)
        pending = None
        parents.append((indent, match.group(2)))
    return docs


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def _value_cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return f"`{text}`" if len(text) <= 40 else "see values.yaml"


def values_table(values_yaml: str) -> str:
    """Markdown: every documented value of the chart outside `operator.settings`, in file order."""
    values = yaml.safe_load(values_yaml)
    rows = ["| Value | Default | Meaning |", "|---|---|---|"]
    for path, doc in value_docs(values_yaml).items():
        if path == SETTINGS_PATH or path.startswith(SETTINGS_PATH + "."):
            continue
        meaning = doc.replace("|", "\\|")
        rows.append(f"| `{path}` | {_value_cell(_lookup(values, path))} | {meaning} |")
    return "\n".join(rows) + "\n"


def _with_table(document: str, table: str, begin: str = TABLE_BEGIN, end: str = TABLE_END) -> str:
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(document):
        raise ValueError(f"{INSTALL_DOC} lacks the markers {begin!r} … {end!r}")
    return pattern.sub(lambda _: f"{begin}\n{table}{end}", document)


# -- all of it ---------------------------------------------------------------------------------


def generated_files(root: Path = Path(".")) -> dict[Path, str]:
    """Every file `mpcs dev chart generate` writes, by path under `root`, with its content."""
    chart = root / CHART
    values_yaml = (chart / "values.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(values_yaml)
    files: dict[Path, str] = {
        chart / "templates" / "clusterrole.yaml": cluster_role_template(),
        chart / "templates" / "_settings.tpl": settings_template(),
        chart / "values.schema.json": values_schema_text(),
    }
    for path, text in crd_files(crds_dir="crds").items():
        if path.startswith("crds/"):
            files[chart / path] = text
    doc = root / INSTALL_DOC
    text = _with_table(doc.read_text(encoding="utf-8"), settings_table(values))
    files[doc] = _with_table(text, values_table(values_yaml), VALUES_BEGIN, VALUES_END)
    return files


def stale_files(root: Path = Path(".")) -> list[Path]:
    """Generated files whose content on disk differs from what `generated_files` produces."""
    return [
        path
        for path, text in generated_files(root).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def write_files(root: Path = Path(".")) -> list[tuple[Path, bool]]:
    """Write every generated file; each path with whether it changed."""
    written = []
    for path, text in generated_files(root).items():
        changed = not path.is_file() or path.read_text(encoding="utf-8") != text
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        written.append((path, changed))
    return written


# -- `mpcs dev chart …` ------------------------------------------------------------------------

app = typer.Typer(
    help="The Helm chart's generated parts (ClusterRole, CRDs, settings env/schema/table).",
    no_args_is_help=True,
)


RootOption = Annotated[Path, typer.Option("--root", help="The repository's root directory.")]


@app.command("generate")
def generate(root: RootOption = Path(".")) -> None:
    """Write the chart's generated files."""
    for path, changed in write_files(root):
        typer.echo(f"{'wrote    ' if changed else 'unchanged'} {path}")


@app.command("check")
def check(root: RootOption = Path(".")) -> None:
    """Exit 1 naming every stale or missing generated file of the chart."""
    stale = stale_files(root)
    for path in stale:
        typer.echo(f"stale: {path} (run `{REGENERATE}`)", err=True)
    if stale:
        raise typer.Exit(1)
    typer.echo("chart up to date")

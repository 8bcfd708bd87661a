"""docs/commands.md, generated from the dictionary (a unit test fails when the file is stale)."""

from __future__ import annotations

from .dictionary import DICTIONARY


def render_markdown() -> str:
    """docs/commands.md, generated from DICTIONARY (regenerate: `python -m mpcs.core.commands`)."""
    out = [
        "# Command dictionary",
        "",
        "<!-- Generated from core/mpcs/core/commands/dictionary.py by "
        "`python -m mpcs.core.commands > docs/commands.md`; do not edit by hand (a unit test "
        "fails when this file is stale). -->",
        "",
        "Every command travels as a `Command` message on `mpcs.<ns>.<mission>.commands`, keyed by "
        "satellite name, and is answered by `Ack` messages on `…acks`: `accepted` then `executed` "
        "or `failed` (with a reason), or `rejected` (unknown command, bad argument, not allowed in "
        "the current mode, expired, wrong satellite) with the spacecraft unchanged.",
        "",
        "`critical` commands need the admin role and an explicit confirmation at the command "
        "API and, when the mission turns on the two-person rule (`MPCS_API_TWO_PERSON`), the "
        "approval of a second admin before they are sent; while an operator holds a satellite's "
        "command authority, everyone else's commands to it are refused (see docs/api.md, "
        "Command safety).",
        "",
        "| Command | Criticality | Allowed modes | Arguments |",
        "| --- | --- | --- | --- |",
    ]
    for spec in DICTIONARY.values():
        args = ", ".join(f"`{a.name}`" for a in spec.args) or "—"
        modes = ", ".join(m.value for m in spec.allowed_modes)
        out.append(f"| `{spec.name}` | {spec.criticality.value} | {modes} | {args} |")
    for spec in DICTIONARY.values():
        out += ["", f"## {spec.name}", "", spec.description, ""]
        out.append(f"- Criticality: **{spec.criticality.value}**")
        out.append("- Allowed modes: " + ", ".join(m.value for m in spec.allowed_modes))
        if spec.effect:
            out.append(f"- Effect: {spec.effect}")
        if spec.args:
            out += ["", "| Argument | Type | Unit | Accepted | Required | Default | Description |"]
            out.append("| --- | --- | --- | --- | --- | --- | --- |")
            for a in spec.args:
                default = "" if a.default is None else f"`{a.default}`"
                out.append(
                    f"| `{a.name}` | {a.type.value} | {a.unit} | {a.accepted()} | "
                    f"{'yes' if a.required else 'no'} | {default} | {a.description} |"
                )
    out += [
        "",
        "## Messages",
        "",
        "Command (`version` 1): `id` (UUID), `satellite`, `name`, `args` (object), `issued_by`, "
        "`issued_at` (UTC), `valid_until` (UTC, optional: an expired command is rejected), "
        "`plan` and `step` (optional, set by the CommandPlan executor).",
        "",
        "Ack (`version` 1): `command_id`, `satellite`, `name`, `state` "
        "(accepted | executed | failed | rejected), `reason`, `time` (UTC; simulated spacecraft "
        "time when sent by the simulator).",
        "",
    ]
    return "\n".join(out)

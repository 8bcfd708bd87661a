"""The command dictionary and the Command/Ack messages (DESIGN §5, §6).

This package is the single source of truth for what can be sent to a spacecraft: the simulator
executes from it, the command API validates against it and `docs/commands.md` is generated from it
(`python -m mpcs.core.commands` prints the document; a unit test fails when the file is stale).
Import from here; the modules split it by what they hold:

- `dictionary` — every command, its typed arguments and `validate_args`;
- `messages` — the `Command` and `Ack` messages and the `CommandState` vocabulary;
- `document` — the Markdown reference generated from the dictionary.

Validation errors name the argument, the value and what would be accepted, so a 422 from the API or
a `rejected` ack from the simulator tells an operator exactly what to fix:

>>> validate_args("SET_MODE", {"mode": "NOMINAL"})
{'mode': 'NOMINAL'}
>>> try:
...     validate_args("SET_MODE", {"mode": "SLEEP"})
... except CommandError as exc:
...     print(exc.argument, "|", exc.message)
mode | 'SLEEP' is not one of SAFE, NOMINAL, PAYLOAD, DOWNLINK
"""

from .dictionary import (
    ALL_MODES,
    ATTITUDES,
    DICTIONARY,
    HEATERS,
    RESETTABLE_SUBSYSTEMS,
    Arg,
    ArgType,
    CommandError,
    CommandSpec,
    Criticality,
    Mode,
    command_spec,
    validate_args,
)
from .document import render_markdown
from .messages import (
    STATE_RANK,
    TERMINAL_STATES,
    Ack,
    AckState,
    Command,
    CommandState,
    utc_now,
)

__all__ = [
    "ALL_MODES",
    "ATTITUDES",
    "DICTIONARY",
    "HEATERS",
    "RESETTABLE_SUBSYSTEMS",
    "STATE_RANK",
    "TERMINAL_STATES",
    "Ack",
    "AckState",
    "Arg",
    "ArgType",
    "Command",
    "CommandError",
    "CommandSpec",
    "CommandState",
    "Criticality",
    "Mode",
    "command_spec",
    "render_markdown",
    "utc_now",
    "validate_args",
]

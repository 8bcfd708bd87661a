"""The CommandPlan executor: runs a mission's scheduled CommandPlans.

The operator resolves a CommandPlan into `status.schedule` (phase Scheduled); this package sends
each step at its time as a `mpcs.core.commands.Command`, follows its acks and deadline, applies
`spec.onFailure`, and writes per-step state, timestamps, phase and conditions back to the plan.

- `rules`: the pure state machine (`reconcile()`), unit-tested with a status dict and a clock;
- `kube`: listing plans and merge-patching their status (in worker threads);
- `runner`: the loop tying both to Kafka; `run_executor()` is what the command service starts.

Rules and guarantees for users are in docs/commandplans.md.
"""

from .rules import command_id, reconcile
from .runner import Executor, run_executor

__all__ = ["Executor", "command_id", "reconcile", "run_executor"]

"""Developer tooling: the bootstrap of real servers and the local dev stack.

Kept apart from the product code: nothing under `mpcs.operator`, `mpcs.simulator`, `mpcs.workloads`
or `mpcs.lambdas` imports it.
"""

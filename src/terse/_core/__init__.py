"""The call's logic as generators with no I/O: flow, budget, retries, options."""

"""Thin I/O: the API server, the registry, the builder.

Adapters hold no decisions; they read observed state for the planners and carry
out the planners' actions, each idempotently (create-if-absent, patch-to-value).
"""

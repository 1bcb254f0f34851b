"""Pure decisions: observed state in, next status and actions out.

One sub-package per kind (``imagerefresh``, ``infrarollout``), a file per phase
or strategy; ``validation`` holds the semantic checks shared by the handlers.
Nothing in here performs I/O.
"""

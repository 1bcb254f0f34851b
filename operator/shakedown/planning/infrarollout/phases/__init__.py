"""One module per InfraRollout phase: ``(spec, observed, step) -> None``.

``plan`` picks the function for the phase in flight; each records its
transition, Events and actions in the ``Step``.
"""

"""One module per InfraRollout phase: ``(run: RunContext) -> None``.

``plan`` picks the function for the phase in flight; each records its
transition, Events and actions in ``run.step`` and ends a revision through
``run.fail`` or ``run.finish``.
"""

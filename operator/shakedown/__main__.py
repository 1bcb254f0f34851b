"""Allows ``python -m shakedown`` where the console script is not on PATH."""

from shakedown.cli.main import main

raise SystemExit(main())

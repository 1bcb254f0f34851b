"""``python -m shakedown.demo`` (what ``make demo`` runs)."""

import sys

from shakedown.demo import main

sys.exit(main())

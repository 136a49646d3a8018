"""`python -m sensorkit` is the `sensorkit` command."""
import sys

from sensorkit.cli import main

sys.exit(main())

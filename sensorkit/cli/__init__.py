"""The `sensorkit` command. It parses arguments and prints; `sensorkit.system` does the work.

Exit status: 0 success, 1 a sensor failed (`read`) or an unexpected error,
2 bad input (arguments, config, board, pins) with a message saying how to fix it.
Everything heavy is imported inside the commands so `--help` starts fast.

Modules: `main` (the parser and `main`), `common` (exit codes, `BadInput`,
loading, the state dir) and one module per command group: `running` (run,
read), `setup` (boards, validate, register), `outbox`, `emulate`.
"""
from __future__ import annotations

from sensorkit.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, default_state_dir
from sensorkit.cli.main import build_parser, main

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "BadInput", "build_parser", "default_state_dir", "main"]

#!/usr/bin/env python3
"""Regenerate examples/sensorkit.service from the unit template (placeholder paths, user pi).

`tests/sensorkit/test_service.py` fails while the example and the template differ:
run `.venv/bin/python scripts/write_example_unit.py` after changing the template.
"""
from __future__ import annotations

from pathlib import Path

from sensorkit.service_unit import example_unit

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sensorkit.service"

if __name__ == "__main__":
    EXAMPLE.write_text(example_unit(), encoding="utf-8")
    print(f"wrote {EXAMPLE}")

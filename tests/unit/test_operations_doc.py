"""The refusal of `make run` and the section of docs/operations.md it points at say the same thing."""
from __future__ import annotations

import re
from pathlib import Path

from service_runtime import config

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    return text.split("## An isolated copy", 1)[1].split("\n## ", 1)[0]


def test_the_refusal_points_at_a_section_that_names_what_it_names():
    source = (ROOT / "deploy" / "local" / "platform.py").read_text()
    refusal = source[source.index("Stop it there"):source.index("return 1", source.index("Stop it there"))]
    assert '\\"An isolated copy\\"' in refusal and "docs/operations.md" in refusal
    named = set(re.findall(r"\b[A-Z][A-Z_]{4,}\b", refusal))
    assert {"DB_NAME_PREFIX", "AMQP_URI", "VAR_DIR"} <= named
    section = _section()
    for variable in named | {"GATEWAY_PORT", "PLATFORM_SKIP_RUNNING_CHECK"}:
        assert variable in section, variable
    for service in config.SERVICES:  # every port the check looks at
        assert f"{service.upper()}_METRICS_PORT" in section, service

"""The gateway's OpenAPI document, committed as contracts/openapi.json.

    python -m services.gateway.openapi           # rewrite contracts/openapi.json
    python -m services.gateway.openapi --check   # exit 1 when the app and the file differ
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from service_runtime.config import GatewaySettings

TARGET = Path(__file__).resolve().parents[2] / "contracts" / "openapi.json"


def document() -> dict[str, Any]:
    from services.gateway.app import create_app

    settings = replace(GatewaySettings.load(), jwt_secret="x" * 32, caller_signing_key="x" * 32)  # never serves
    return create_app(settings).openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(document())
    if argv == ["--check"]:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("contracts/openapi.json differs from the app: run `make schemas`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

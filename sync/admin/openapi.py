"""Write the admin API's OpenAPI document to openapi/admin.json (`make openapi`); the test compares them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sync.admin.app import openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "admin.json"


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    COMMITTED.write_text(render(), encoding="utf-8")
    print(f"wrote {COMMITTED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

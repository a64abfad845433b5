"""Write the GraphQL schema of the code, as SDL, to schema.graphql at the repository root.

    python scripts/export_schema.py           # (re)write schema.graphql
    python scripts/export_schema.py --check   # exit 1 when schema.graphql differs from the code

tests/test_api_schema.py fails when the committed file drifts from the code; run this, review the
diff (a removed or renamed field breaks frontends) and commit it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pmflow.api.schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def sdl() -> str:
    """The printed schema, ending with one newline."""
    return str(build_schema()).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    parser.add_argument("--output", type=Path, default=SCHEMA_FILE, help=f"default: {SCHEMA_FILE}")
    args = parser.parse_args(argv)
    text = sdl()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date: run `python scripts/export_schema.py`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

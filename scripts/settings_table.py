"""`python -m scripts.settings_table`: the service's settings (service/config.py) as the markdown
table docs/api.md holds between its `settings` markers; `--check` fails if the docs differ."""

from __future__ import annotations

import sys
from pathlib import Path

from service.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
BEGIN, END = "<!-- settings: python -m scripts.settings_table -->", "<!-- /settings -->"
COMPUTED = {"inference_concurrency": "the CPU count"}  # defaults that depend on the machine


def table() -> str:
    rows = ["| `VAE_SERVE_...` | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = COMPUTED.get(name, _shown(field.get_default(call_default_factory=True)))
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name.upper()}` | {default} | {description} |")
    return "\n".join(rows)


def _shown(value: object) -> str:
    if value is None or value in ([], {}):
        return "unset"
    return f"`{value}`"


def documented(text: str) -> str:
    """The table between the markers of `text`."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main() -> None:
    if "--check" in sys.argv:
        if documented(DOC.read_text()) != table():
            sys.exit(f"{DOC}: the settings table differs from service/config.py; regenerate it "
                     "with python -m scripts.settings_table")  # fmt: skip
        return
    print(table())


if __name__ == "__main__":
    main()

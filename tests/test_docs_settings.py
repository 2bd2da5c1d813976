"""docs/api.md's settings table is service/config.py's, as scripts/settings_table.py writes it."""

from __future__ import annotations

import pytest

from scripts.settings_table import DOC, documented, table

pytestmark = pytest.mark.unit


def test_the_documented_settings_are_the_services() -> None:
    assert documented(DOC.read_text()) == table(), "regenerate: python -m scripts.settings_table"

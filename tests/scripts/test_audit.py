"""scripts/audit.py: the real pip-audit against the loopback OSV endpoint, fed canned PyPI
project JSON (the shape pypi.org serves), so that each outcome is checked without the network."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.audit import Project, audit, newest_for

pytestmark = pytest.mark.unit

PYTHON = "3.11.7"
ADVISORY = {
    "id": "PYSEC-2099-1",
    "aliases": ["CVE-2099-0001"],
    "details": "A crafted image makes the decoder read out of bounds.",
    "fixed_in": ["2.0.1"],
    "withdrawn": None,
}


NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
LONG_AGO = "2026-01-05T10:00:00Z"


def project(
    latest: str, versions: dict[str, str], advisories: list[Any], uploaded: str = LONG_AGO
) -> Project:
    """PyPI's project JSON: the latest release, each release's requires_python and upload time
    (the latest's is `uploaded`, the others' long ago), advisories."""
    releases = {
        v: [{"requires_python": rp, "yanked": False,
             "upload_time_iso_8601": uploaded if v == latest else LONG_AGO}]
        for v, rp in versions.items()
    }  # fmt: skip
    return {"info": {"version": latest}, "releases": releases, "vulnerabilities": advisories}


PROJECTS = {
    "safe": project("1.2.0", {"1.1.0": ">=3.9", "1.2.0": ">=3.9"}, []),
    "fresh": project("1.2.0", {"1.1.0": ">=3.9", "1.2.0": ">=3.9"}, [], "2026-06-25T08:00:00Z"),
    "vulnerable": project("2.0.0", {"2.0.0": ">=3.9"}, [ADVISORY]),
    "newer-needs-py312": project("3.0.0", {"2.9.0": ">=3.10", "3.0.0": ">=3.12"}, []),
}


def run(tmp_path: Path, pins: str) -> tuple[int, str]:
    requirements = tmp_path / "runtime.txt"
    requirements.write_text(pins)
    return audit(requirements, fetch=PROJECTS.__getitem__, python=PYTHON, now=NOW)


def test_a_latest_pin_without_advisories_passes(tmp_path: Path) -> None:
    status, report = run(tmp_path, "safe==1.2.0\n")
    assert status == 0, report
    assert "pip-audit on 1 of 1 pins" in report
    assert "No known vulnerabilities found" in report


def test_a_known_vulnerability_fails_and_is_named(tmp_path: Path) -> None:
    status, report = run(tmp_path, "safe==1.2.0\nvulnerable==2.0.0\n")
    assert status != 0
    assert "PYSEC-2099-1" in report
    assert "2.0.1" in report  # the fix version


def test_a_pin_trailing_a_release_out_for_30_days_fails(tmp_path: Path) -> None:
    status, report = run(tmp_path, "safe==1.1.0\n")
    assert status == 1
    assert "STALE: safe==1.1.0: upgrade to 1.2.0" in report


def test_a_pin_trailing_a_fresh_release_is_named_with_its_deadline_and_passes(
    tmp_path: Path,
) -> None:
    status, report = run(tmp_path, "safe==1.2.0\nfresh==1.1.0\n")
    assert status == 0, report
    assert "pip-audit on 1 of 2 pins" in report
    expected = "NOT AUDITED: fresh==1.1.0: upgrade to 1.2.0 (latest 1.2.0), out 5 days; upgrade by"
    assert f"{expected} 2026-07-25" in report
    assert "STALE" not in report


def test_the_newest_pin_for_this_python_is_named_as_not_audited(tmp_path: Path) -> None:
    status, report = run(tmp_path, "safe==1.2.0\nnewer-needs-py312==2.9.0\n")
    assert status == 0, report
    assert "pip-audit on 1 of 2 pins" in report
    assert "NOT AUDITED: newer-needs-py312==2.9.0" in report


def test_unpinned_requirements_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not pinned"):
        run(tmp_path, "safe>=1.0\n")


def test_newest_for_skips_prereleases_and_other_pythons() -> None:
    candidates = project("3.0.0", {"2.9.0": ">=3.10", "2.10.0rc1": "", "3.0.0": ">=3.12"}, [])
    assert newest_for(candidates, PYTHON) == "2.9.0"

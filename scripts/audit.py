"""`python -m scripts.audit [requirements]`: pip-audit on the pinned runtime dependencies.

pip-audit asks a vulnerability service about each `name==version`. This machine reaches PyPI's
project JSON (`/pypi/<name>/json`, whose `vulnerabilities` are those of the latest release) but not
PyPI's per-release JSON nor api.osv.dev. So this runs the real pip-audit, `--strict`, against an
OSV-compatible query endpoint on 127.0.0.1 that answers from PyPI's project JSON. Each pin is:

- audited, when it is the latest release: pip-audit gets that release's advisories as OSV records;
- stale, when a newer release for this Python has been out for UPGRADE_WITHIN_DAYS or more: the
  audit fails, naming the upgrade;
- not audited, when it is the newest release for this Python but not the latest (a newer one
  needs a newer Python), or when the newer release is younger than UPGRADE_WITHIN_DAYS: PyPI's
  JSON says nothing about it, and the report says so by name (with the upgrade, and its deadline).
  The grace keeps `main` green on the day an upstream patch comes out, while a pin can only stay
  behind, unaudited, for a bounded time.

Exit status: non-zero on any known vulnerability, any stale pin, or any pip-audit error.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_PINS = ROOT / "requirements" / "runtime.txt"
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
UPGRADE_WITHIN_DAYS = 30  # how long a pin may trail a newer release, unaudited, before it fails

Project = dict[str, Any]  # PyPI's project JSON: info.version, releases, vulnerabilities
ProjectFetcher = Callable[[str], Project]


def fetch_project(name: str) -> Project:
    with urllib.request.urlopen(PYPI_PROJECT.format(name=name), timeout=30) as response:
        project: Project = json.load(response)
        return project


def read_pins(requirements: Path) -> dict[str, str]:
    """`name==version` lines -> {canonical name: version}; anything else is an error."""
    pins: dict[str, str] = {}
    for text in requirements.read_text().splitlines():
        requirement = text.split("#")[0].strip()
        if not requirement:
            continue
        name, sep, version = requirement.partition("==")
        if not sep:
            raise SystemExit(f"{requirements}: {requirement!r} is not pinned with ==")
        pins[canonicalize_name(name)] = version.strip()
    return pins


def newest_for(project: Project, python: str) -> str:
    """The newest final release with a file that installs on this Python version."""
    usable = [
        Version(version)
        for version, files in project["releases"].items()
        if files and not Version(version).is_prerelease and _supports(files, python)
    ]
    return str(max(usable))


def _supports(files: list[dict[str, Any]], python: str) -> bool:
    return any(
        not file.get("yanked") and python in SpecifierSet(file.get("requires_python") or "")
        for file in files
    )


@dataclass
class Plan:
    audited: dict[str, str] = field(default_factory=dict)
    not_audited: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def released_at(project: Project, version: str) -> datetime:
    """When the first file of `version` was uploaded."""
    times = [file["upload_time_iso_8601"] for file in project["releases"][version]]
    return min(datetime.fromisoformat(time.replace("Z", "+00:00")) for time in times)


def plan(pins: dict[str, str], projects: dict[str, Project], python: str, now: datetime) -> Plan:
    result = Plan()
    for name, version in pins.items():
        latest = projects[name]["info"]["version"]
        if Version(version) == Version(latest):
            result.audited[name] = version
            continue
        newest = newest_for(projects[name], python)
        if Version(version) == Version(newest):
            result.not_audited.append(
                f"{name}=={version}: newest for Python {python}; PyPI's JSON only describes "
                f"{latest}, which needs a newer Python"
            )
            continue
        upgrade = f"{name}=={version}: upgrade to {newest} (latest {latest})"
        released = released_at(projects[name], newest)
        deadline = released + timedelta(days=UPGRADE_WITHIN_DAYS)
        if now < deadline:
            out = (now - released).days
            result.not_audited.append(f"{upgrade}, out {out} days; upgrade by {deadline.date()}")
        else:
            result.stale.append(upgrade)
    return result


def osv_record(advisory: dict[str, Any], name: str) -> dict[str, Any]:
    """PyPI's advisory shape (id, aliases, details, summary, fixed_in, withdrawn) as OSV 1.x."""
    events: list[dict[str, str]] = [{"introduced": "0"}]
    events += [{"fixed": version} for version in advisory.get("fixed_in") or []]
    affected = {"package": {"name": name, "ecosystem": "PyPI"}}
    return {
        "schema_version": "1.6.0",
        "id": advisory["id"],
        "aliases": advisory.get("aliases") or [],
        "summary": advisory.get("summary") or advisory.get("details") or "N/A",
        "withdrawn": advisory.get("withdrawn"),
        "affected": [affected | {"ranges": [{"type": "ECOSYSTEM", "events": events}]}],
    }


def query_handler(projects: dict[str, Project]) -> type[BaseHTTPRequestHandler]:
    """Answers OSV's `POST /v1/query` for the latest release of the given projects only."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            name, version = canonicalize_name(query["package"]["name"]), query["version"]
            project = projects.get(name)
            if project is None or Version(project["info"]["version"]) != Version(version):
                self._reply(404, {"error": f"{name}=={version} is not known here"})
                return
            advisories = project.get("vulnerabilities") or []
            self._reply(200, {"vulns": [osv_record(a, name) for a in advisories]})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # pip-audit reports; the endpoint stays quiet

    return Handler


@contextmanager
def osv_endpoint(projects: dict[str, Project]) -> Iterator[str]:
    """An OSV query URL on a free loopback port, served until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), query_handler(projects))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def pip_audit(pins: dict[str, str], projects: dict[str, Project]) -> tuple[int, str]:
    """The real pip-audit, strict, on these pins, against the loopback endpoint."""
    with tempfile.TemporaryDirectory() as scratch, osv_endpoint(projects) as url:
        requirements = Path(scratch) / "pins.txt"
        requirements.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
        command = [
            sys.executable, "-m", "pip_audit", "--requirement", str(requirements), "--no-deps",
            "--disable-pip", "--strict", "--progress-spinner", "off", "--desc", "on",
            "--cache-dir", str(Path(scratch) / "cache"),
            "--vulnerability-service", "osv", "--osv-url", url,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    notes = [line for line in result.stderr.splitlines(True) if "WARNING:pip_audit" not in line]
    return result.returncode, result.stdout + "".join(notes)


def audit(
    requirements: Path,
    fetch: ProjectFetcher = fetch_project,
    python: str | None = None,
    now: datetime | None = None,
) -> tuple[int, str]:
    """Audit every pin in `requirements`: the exit status and the report."""
    python = python or platform.python_version()
    pins = read_pins(requirements)
    projects = {name: fetch(name) for name in pins}
    checked = plan(pins, projects, python, now or datetime.now(UTC))
    status, report = pip_audit(checked.audited, projects)
    report = f"pip-audit on {len(checked.audited)} of {len(pins)} pins:\n{report}"
    for title, lines in (("NOT AUDITED", checked.not_audited), ("STALE", checked.stale)):
        report += "".join(f"{title}: {line}\n" for line in lines)
    return (status or int(bool(checked.stale))), report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    status, report = audit(Path(args[0]) if args else RUNTIME_PINS)
    print(report, end="")
    return status


if __name__ == "__main__":
    sys.exit(main())

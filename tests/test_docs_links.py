"""The README and the pages of docs/ point at things that exist: every relative link (a file, and a
heading when it names one), every `make` target and every `vae-serve` command they name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from vae_serve.cli import TRAINING
from vae_serve.commands import CLIENT_COMMANDS

pytestmark = pytest.mark.unit

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
MAKE = re.compile(r"(?:^|[\s`(])make ([a-z][a-z0-9-]*)")
VAE_SERVE = re.compile(r"(?:^|[\s`(])vae-serve ([a-z][a-z0-9-]*)")
TARGET = re.compile(r"^([a-z][a-z0-9-]*):", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def prose(page: Path) -> str:
    return page.read_text()


def code(text: str) -> str:
    """The page's code, where commands are written: fenced blocks and `inline` spans."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.DOTALL)
    outside = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return "\n".join([*fenced, *re.findall(r"`([^`\n]+)`", outside)])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    for match in LINK.finditer(prose(page)):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: no heading #{anchor} in {linked.name}"


def make_targets() -> set[str]:
    return set(TARGET.findall((ROOT / "Makefile").read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_named_exists(page: Path) -> None:
    named = set(MAKE.findall(code(prose(page))))
    missing = named - make_targets()
    assert not missing, f"{page.name} names make targets the Makefile lacks: {sorted(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_vae_serve_command_named_exists(page: Path) -> None:
    commands = {"serve", *TRAINING, *CLIENT_COMMANDS}
    missing = set(VAE_SERVE.findall(code(prose(page)))) - commands
    assert not missing, f"{page.name} names vae-serve commands that do not exist: {sorted(missing)}"


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nsee [there](missing.md), [here](#title), `make nothing-here`\n")
    links = [m.group(1) for m in LINK.finditer(prose(page))]
    assert links == ["missing.md", "#title"]
    assert not (tmp_path / "missing.md").exists()
    assert anchors(page) == {"title"}
    assert MAKE.findall(code(prose(page))) == ["nothing-here"]
    assert "nothing-here" not in make_targets()
    text = "run `vae-serve score -m x`, not vae-serve in prose\n```\nvae-serve bogus\n```\n"
    assert sorted(VAE_SERVE.findall(code(text))) == ["bogus", "score"]

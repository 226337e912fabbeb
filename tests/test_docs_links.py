"""The documentation's relative links lead somewhere: every ``[text](path)`` and ``[text](path#anchor)`` in the
project's Markdown files names a file or folder that exists, and an anchor names a heading of that file (GitHub's
rule: lower case, punctuation dropped, spaces to hyphens); and every ``tumorseg`` command shown in a ```bash block
parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def markdown_files() -> list[Path]:
    skip = {"node_modules", "build", "dist"}  # and hidden folders: .venv, .git, .pytest_cache (made by a test run)
    return sorted(p for p in ROOT.rglob("*.md")
                  if not skip & set(p.relative_to(ROOT).parts[:-1])
                  and not any(part.startswith(".") for part in p.relative_to(ROOT).parts[:-1]))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: ``"Fast inference and the web page"`` -> ``"fast-inference-and-the-web-page"``."""
    text = re.sub(r"[`*]", "", heading.strip().lower())  # code and emphasis marks; GitHub keeps "_"
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M)}


def links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(FENCE.sub("", path.read_text(encoding="utf-8")))]


def test_slug_follows_github():
    assert slug("Fast inference and the web page") == "fast-inference-and-the-web-page"
    assert slug("Real scans: tumour-free slices and FLAIR (issue 10)") == "real-scans-tumour-free-slices-and-flair-issue-10"
    assert slug("`best`, 5-fold CV") == "best-5-fold-cv"


def test_there_are_documents_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "MODEL_CARD.md", "docs/results/README.md"} <= names


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc):
    broken = []
    for target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check offline
            continue
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading '{anchor}')")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


COMMAND = re.compile(r"(?:^|[\s/])tumorseg\s+([a-z].*)$")


def documented_commands(path: Path) -> list[str]:
    """The ``tumorseg ...`` command lines of a Markdown file's ```bash blocks, continuation lines joined, comments,
    pipes and redirections cut off; lines with shell variables or globs left out (their words are the shell's)."""
    found = []
    for block in re.findall(r"^```bash\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s#|\s*(?:&&|\|\||\||;|>|<)\s*", line)[0]
            m = COMMAND.search(line)
            if m and not re.search(r"[$*?]", m.group(1)):
                found.append(m.group(1))
    return found


def test_documented_commands_parse(monkeypatch, tmp_path):
    """Every ``tumorseg`` command the documentation shows is accepted by the CLI as written (an option renamed or
    a spelling the parser refuses, like ``check-data --data DIR`` once was, fails here). Run from an empty folder,
    with ``--out FILE``'s "its folder exists" check off: the docs' folders are the reader's, not this machine's."""
    import shlex

    from tumorseg import options
    from tumorseg.cli import build_parser

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(options, "out_file", lambda text: text)
    parser, refused, n = build_parser(), [], 0
    for doc in markdown_files():
        for command in documented_commands(doc):
            n += 1
            try:
                parser.parse_args(shlex.split(command))
            except SystemExit as exc:
                if exc.code:
                    refused.append(f"{doc.relative_to(ROOT)}: tumorseg {command}")
    assert n > 50, n
    assert not refused, "\n".join(refused)

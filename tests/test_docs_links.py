"""The documentation's relative links lead somewhere: every ``[text](path)`` and ``[text](path#anchor)`` in the
project's Markdown files names a file or folder that exists, and an anchor names a heading of that file (GitHub's
rule: lower case, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def markdown_files() -> list[Path]:
    skip = {".venv", ".git", "node_modules", "build", "dist"}
    return sorted(p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts))


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

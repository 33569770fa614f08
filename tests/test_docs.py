"""The docs point at things that exist: relative Markdown links (and `#anchors` into .md files), repository paths and
dotted `flywheel.*` / `flywheel_lab.*` names in backticks, and the tests that code comments and docstrings cite.

Nothing heavy is imported: a module is found on disk below the package's `importlib.util.find_spec` location, and an
attribute is looked up in the AST of that module's file."""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", ".flywheel", "artifacts", "node_modules", "__pycache__", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", "build", "dist"}
# Where a path in backticks may be relative to, besides the doc's own folder: the repo root, the two distributions'
# source roots (`flywheel/db/runs.py`), the two packages (`db/runs.py`, `simulator/world.py`) and tests/. A bare
# file name must be in the doc's folder or in one of these (`world.py` alone is not enough: say `simulator/world.py`).
BASES = ("", "services", "lab", "services/flywheel", "lab/flywheel_lab", "tests")
# Dotted names in the docs that are not Python: the Kafka topics.
NOT_PYTHON = re.compile(r"^flywheel\.events\.(v\d+|dlq)$")

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=[\"']([^\"']+)[\"']", re.I)
PATH_PREFIX = re.compile(r"^(services|lab|tests|dags|docs)/")
DOTTED = re.compile(r"(?<![\w./:@-])((?:flywheel_lab|flywheel)(?:\.[A-Za-z_]\w*)+)")
TEST_CITE = re.compile(r"(?<![\w/.-])tests/[\w/*.-]*?\.py\b")


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md, docs/*.md, dags/README.md and every README.md under services/ and lab/."""
    found = [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "dags" / "README.md"]
    for top in ("services", "lab"):
        found += sorted(p for p in (root / top).rglob("README.md")
                        if not any(part in SKIP_DIRS or part.endswith(".egg-info") for part in p.parts))
    return [p for p in found if p.is_file()]


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the Markdown outside fenced code blocks."""
    out, fenced = [], False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((n, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: inline markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(md: Path) -> frozenset[str]:
    """Every anchor a Markdown file offers: heading slugs (repeats get -1, -2, ...) and explicit <a id/name>."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _prose_lines(md.read_text(encoding="utf-8")):
        out.update(HTML_ANCHOR.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        k = seen.get(base, 0)
        seen[base] = k + 1
        out.add(base if k == 0 else f"{base}-{k}")
    return frozenset(out)


def _code_spans(line: str) -> list[str]:
    return [m.group(2).strip() for m in CODE_SPAN.finditer(line)]


def _resolves(token: str, doc_dir: Path, root: Path) -> bool:
    token = (token.rstrip("/") or token).replace("…", "*").replace("...", "*")  # `schemas/events/…`: any file
    rel_doc = doc_dir.relative_to(root).as_posix() if doc_dir != root else ""
    bases = (rel_doc, *BASES) if not PATH_PREFIX.match(token) else ("",)
    for base in bases:
        cand = f"{base}/{token}" if base else token
        if any(c in cand for c in "*?[") and any(True for _ in root.glob(cand)):
            return True
        if (root / cand).exists():
            return True
    return False


def _path_tokens(span: str) -> list[str]:
    """The words of a code span that look like a repository path: one of the top folders, or a *.py file."""
    out = []
    for word in span.split():
        word = word.strip("\"'(),;:")
        if "://" in word or "<" in word or "{" in word or "$" in word or word.startswith(("-", "~", "/", ".")):
            continue
        if PATH_PREFIX.match(word) or (word.endswith(".py") and re.fullmatch(r"[\w./*?-]+\.py", word)):
            out.append(word)
    return out


@cache
def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # the top package only: its own __init__ is light
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _module_file(dotted: str) -> Path | None:
    """The source file of module `dotted` (a package's __init__.py), found on disk without importing it."""
    top, *rest = dotted.split(".")
    base = _package_dir(top)
    if base is None:
        return None
    path = base.joinpath(*rest)
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if path.is_dir() and rest:  # a namespace folder (package data such as flywheel/schemas)
        return path
    return None


def _bound_names(body: list[ast.stmt]) -> dict[str, ast.AST | None]:
    """Names a module or class body binds (defs, classes, assignments, imports; into if/try/with blocks)."""
    names: dict[str, ast.AST | None] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names[n.id] = None
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = None
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                names.update(_bound_names(getattr(node, block, [])))
            for handler in getattr(node, "handlers", []):
                names.update(_bound_names(handler.body))
    return names


@cache
def _module_names(path: Path) -> dict[str, ast.AST | None]:
    return _bound_names(ast.parse(path.read_text(encoding="utf-8")).body)


def resolve_dotted(dotted: str) -> bool:
    """`flywheel.a.b` is a module, or `flywheel.a.b.name[.attr]` a name bound in module `flywheel.a.b` (a class's
    attribute for `.attr`)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = _module_file(".".join(parts[:cut]))
        if module is None:
            continue
        attrs = parts[cut:]
        if not attrs:
            return True
        if module.is_dir():
            return False
        names = _module_names(module)
        if "__getattr__" in names:  # a module with lazy attributes: anything goes
            return True
        node = names.get(attrs[0], False)
        if node is False:  # neither a submodule (tried above, as a longer module name) nor a name it binds
            return False
        for attr in attrs[1:]:
            if not isinstance(node, ast.ClassDef):
                return node is None  # an imported or assigned name: its attributes are not checked
            node = _bound_names(node.body).get(attr, False)
            if node is False:
                return False
        return True
    return False


def check_doc(doc: Path, root: Path = ROOT) -> list[str]:
    """Every broken reference of one Markdown file, as 'file:line: what'."""
    problems: list[str] = []
    where = doc.relative_to(root) if doc.is_relative_to(root) else doc
    for n, line in _prose_lines(doc.read_text(encoding="utf-8")):
        prose = CODE_SPAN.sub("", line)
        targets = LINK.findall(prose) + [m.group(1) for m in [REF_LINK.match(prose)] if m]
        for target in targets:
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                problems.append(f"{where}:{n}: link target {target} does not exist")
            elif anchor and dest.suffix == ".md" and anchor.lower() not in anchors(dest):
                problems.append(f"{where}:{n}: no heading #{anchor} in {dest.name}")
        for span in _code_spans(line):
            for token in _path_tokens(span):
                if not _resolves(token, doc.parent, root):
                    problems.append(f"{where}:{n}: path `{token}` does not exist")
            for dotted in DOTTED.findall(span):
                if not NOT_PYTHON.match(dotted) and not resolve_dotted(dotted):
                    problems.append(f"{where}:{n}: `{dotted}` is neither a module nor a module's name")
    return problems


def check_test_citations(source: Path, root: Path = ROOT) -> list[str]:
    """`tests/...py` cited in the comments and strings (docstrings) of one Python file that do not exist."""
    problems = []
    text = source.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING):
            continue
        for m in TEST_CITE.finditer(tok.string):
            cited, line = m.group(0), tok.start[0] + tok.string.count("\n", 0, m.start())
            hit = any(True for _ in root.glob(cited)) if any(c in cited for c in "*?[") else (root / cited).is_file()
            if not hit:
                problems.append(f"{source.relative_to(root)}:{line}: cites {cited}, which does not exist")
    return problems


def _python_sources() -> list[Path]:
    out = []
    for top in ("services", "lab", "dags"):
        out += [p for p in (ROOT / top).rglob("*.py")
                if not any(part in SKIP_DIRS or part.endswith(".egg-info") for part in p.parts)]
    return sorted(out)


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_doc_references_exist(doc: Path) -> None:
    problems = check_doc(doc)
    assert not problems, "\n".join(problems)


def test_code_cites_existing_tests() -> None:
    """Comments and docstrings under services/, lab/ and dags/ cite only tests that exist."""
    problems = [p for src in _python_sources() for p in check_test_citations(src)]
    assert not problems, "\n".join(problems)


def test_the_checker_finds_broken_references(tmp_path: Path) -> None:
    """The checker fails on what it is for (and passes what exists), so the tests above can fail."""
    for path in ("docs/other.md", "tests/test_docs.py", "services/flywheel/settings.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("# Other page\n\n## The `flywheel` CLI: one entry\n")
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(
        "# Page\n\n"
        "[ok](other.md) [ok anchor](other.md#the-flywheel-cli-one-entry) [self](#page) [web](https://example.com)\n"
        "[broken](missing.md) [bad anchor](other.md#nowhere) ![picture](../docs/gone.png)\n"
        "```\n[in a fence](not-checked.md) `services/not/checked.py`\n```\n"
        "`tests/test_docs.py` `flywheel/settings.py` `tests/test_do*.py` `python -m flywheel.db.runs` `other.md`\n"
        "`flywheel.settings.Settings.db_url` `flywheel_lab.simulator.world` `flywheel.events.v1`\n"
        "`services/flywheel/gone.py` `flywheel.nope` `flywheel.settings.NoSuchName` `gone_module.py`\n")
    problems = check_doc(doc, root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "link target missing.md does not exist",
        "no heading #nowhere in other.md",
        "link target ../docs/gone.png does not exist",
        "path `services/flywheel/gone.py` does not exist",
        "`flywheel.nope` is neither a module nor a module's name",
        "`flywheel.settings.NoSuchName` is neither a module nor a module's name",
        "path `gone_module.py` does not exist",
    ]
    src = tmp_path / "services" / "flywheel" / "mod.py"
    src.write_text('"""See tests/test_docs.py and tests/test_nowhere.py."""\n'
                   'x = "tests/test_do*.py"  # and tests/test_gone*.py\n')
    assert [p.split(": ", 1)[1] for p in check_test_citations(src, root=tmp_path)] == [
        "cites tests/test_nowhere.py, which does not exist", "cites tests/test_gone*.py, which does not exist"]

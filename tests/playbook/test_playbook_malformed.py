"""The malformed corpus: every broken playbook gives its located, plain-words message.

Each file under ``malformed/`` starts with one ``# expect: LINE:COL: text`` line per problem it
must report; ``\\n`` in the text stands for a newline (to match the ``hint:`` line). The test
also makes sure only our own errors escape, with no pydantic or Python jargon in them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.errors import PlaybookError, PlaybookErrors

CORPUS = Path(__file__).parent / "malformed"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.*)$")
JARGON = ("Input should", "Value error", "validation error", "Traceback", "type=", "pydantic",
          "Field required", "Extra inputs", "literal[", "function-", "<block", "print statement")


def expectations(path: Path) -> list[tuple[int, int, str]]:
    out = []
    for line in path.read_text().splitlines():
        m = EXPECT.match(line)
        if not m:
            break
        out.append((int(m.group(1)), int(m.group(2)), m.group(3).replace("\\n", "\n")))
    return out


def test_corpus_is_big_enough():
    assert len(FILES) >= 35
    assert all(expectations(f) for f in FILES), "every corpus file needs an `# expect:` header"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_malformed_playbook_is_reported_in_place(path, loader, calls):
    try:
        loader.load(path)
    except PlaybookError as exc:  # anything else escaping fails the test with its traceback
        problems = exc.errors if isinstance(exc, PlaybookErrors) else [exc]
    else:
        pytest.fail(f"{path.name} loaded without errors")
    texts = [str(p) for p in problems]
    for line, col, text in expectations(path):
        located = f"{path.name}:{line}:{col}: "
        assert any(located in t and text in t for t in texts), (
            f"expected {located}...{text!r} among:\n" + "\n".join(texts))
    for t in texts:
        assert str(path) in t, "every problem names the file"
        for word in JARGON:
            assert word not in t, f"jargon {word!r} in: {t}"
    assert calls == [], "loading must never run an action"


def test_several_problems_are_all_reported(loader):
    with pytest.raises(PlaybookErrors) as info:
        loader.load(CORPUS / "54-several-problems.yaml")
    assert len(info.value.errors) == 3
    lines = [e.where.line for e in info.value.errors]
    assert lines == sorted(lines), "problems come in file order"
    assert str(info.value).count("\n  hint:") >= 2


def test_single_problem_is_raised_as_itself(loader):
    with pytest.raises(PlaybookError) as info:
        loader.load(CORPUS / "15-unknown-action.yaml")
    assert not isinstance(info.value, PlaybookErrors)
    assert info.value.where.step == "isolate"
    assert info.value.to_dict()["where"]["line"] == 5

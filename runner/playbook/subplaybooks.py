"""Sub-playbooks (``core.playbook``): which file a reference may name, and how deep and how
many calls may go.

- **Confinement.** A reference is a name (``contain-host`` → ``contain-host.yaml``/``.yml``) or a
  relative path (``children/contain-host.yaml``), looked up from the calling playbook's directory.
  The result must be a ``.yaml``/``.yml`` file inside the *playbook directory*: the directory of
  the top-level playbook of the run (a sub-playbook's own calls stay inside it too). Absolute
  paths are refused; the file is located with :meth:`Path.resolve`, so ``..`` and symlinks that
  lead out of the directory are refused as well.
- **No echo.** Errors name the reference as written and say what is allowed; a file that is not
  a playbook is reported by its location and error type only (``soar validate`` shows the rest),
  never by what it holds.
- **Recursion.** A run-time call chain holds the resolved files from the top-level playbook down:
  calling a file already on it is a cycle; more than :data:`MAX_DEPTH` nested levels, or more than
  :data:`MAX_SUBRUNS` sub-runs started under one top-level run (fan-out: a sub-playbook called in
  a ``foreach`` that calls more), are refused. ``soar validate`` follows literal references the
  same way and refuses cycles and chains deeper than :data:`MAX_DEPTH` (:func:`static_problems`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import PlaybookError, PlaybookErrors, SubPlaybookError

if TYPE_CHECKING:  # pragma: no cover
    from runner.playbook.model import Playbook, Step

ACTION = "core.playbook"
MAX_DEPTH = 8  # nested sub-playbook levels below the top-level playbook
MAX_SUBRUNS = 10_000  # sub-runs started under one top-level run (per process running it)
SUFFIXES = (".yaml", ".yml")
_STATIC_FILES = 200  # files `soar validate` reads while following references from one playbook


def home(source_path: str | None) -> Path:
    """The playbook directory of a top-level playbook (the current directory for a playbook
    that was not read from a file)."""
    if source_path and not source_path.startswith("<"):
        return Path(source_path).resolve().parent
    return Path.cwd().resolve()


def resolve(ref: Any, current: str | None, root: Path) -> Path:
    """The file ``ref`` names, looked up from the directory of ``current`` (the calling
    playbook) and confined to ``root``. Raises :class:`SubPlaybookError`."""
    shown = repr(ref) if not isinstance(ref, str) or len(ref) <= 200 else repr(ref[:200] + "...")
    allowed = (f"a playbook name or a relative path to a .yaml/.yml file inside the playbook "
               f"directory {root}")
    if not isinstance(ref, str) or not ref.strip() or "\x00" in ref:
        raise SubPlaybookError(f"sub-playbook reference {shown} is not a playbook name or path", hint=allowed)
    if Path(ref).is_absolute() or ref.startswith("~"):
        raise SubPlaybookError(f"sub-playbook {shown} is an absolute path; it is not followed", hint=allowed)
    suffix = Path(ref).suffix.lower()
    base = Path(current).resolve().parent if current and not current.startswith("<") else root
    # only .yaml/.yml files are ever opened: any other name gets the suffix added
    candidates = [ref] if suffix in SUFFIXES else [ref + s for s in SUFFIXES]
    for name in candidates:
        try:
            path = (base / name).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            continue
        if not path.is_relative_to(root):
            raise SubPlaybookError(f"sub-playbook {shown} leads outside the playbook directory "
                                   "(through '..' or a symlink); it is not followed", hint=allowed)
        if path.suffix.lower() not in SUFFIXES:
            raise SubPlaybookError(f"sub-playbook {shown} is a link to a file that is not .yaml/.yml; "
                                   "it is not read", hint=allowed)
        if path.is_file():
            return path
    missing = SubPlaybookError(f"sub-playbook {shown} not found in the playbook directory",
                               hint=f"looked for {', '.join(candidates)} from {base}; {allowed}")
    missing.missing = True  # `soar validate` leaves this to run time: the file may come later
    raise missing


def load(loader: Any, path: Path, ref: str, *, check: bool = True) -> "Playbook":
    """Load the sub-playbook at ``path``. A file that is not a valid playbook is reported by
    where its first problem is, never by its content."""
    try:
        return loader.load(path, check=check)
    except PlaybookError as exc:
        first = exc.errors[0] if isinstance(exc, PlaybookErrors) and exc.errors else exc
        at = f" (line {first.where.line})" if first.where.line else ""
        raise SubPlaybookError(f"sub-playbook {ref!r} is not a valid playbook: {type(first).__name__}{at}",
                               hint=f"`soar validate {path}` shows the problem") from None


@dataclass(frozen=True)
class Chain:
    """Where a sub-run sits: the playbook directory, and the resolved files from the top-level
    playbook down to the caller. Kept in the sub-run's trigger, so a resume sees the same."""

    root: Path
    files: tuple[str, ...]
    top_run: str

    @classmethod
    def of_run(cls, trigger: dict, playbook: "Playbook", run_id: str) -> "Chain":
        """The chain of a run: from its trigger for a sub-run, else a new one from the playbook."""
        if trigger.get("type") == "playbook" and trigger.get("chain"):
            return cls(Path(trigger["root"]), tuple(trigger["chain"]), trigger.get("top_run") or run_id)
        root = home(playbook.source_path)
        src = playbook.source_path
        first = str(Path(src).resolve()) if src and not src.startswith("<") else "<playbook>"
        return cls(root, (first,), run_id)

    def enter(self, child: Path) -> "Chain":
        """The chain of a call to ``child``. Raises on a cycle or past :data:`MAX_DEPTH`."""
        if str(child) in self.files:
            raise SubPlaybookError(f"sub-playbook cycle: {self.text(child)}; a playbook may not call itself, "
                                   "directly or through others",
                                   hint="break the cycle (soar validate reports cycles between literal references)")
        if len(self.files) > MAX_DEPTH:
            raise SubPlaybookError(f"sub-playbooks nested more than {MAX_DEPTH} levels deep: {self.text(child)}",
                                   hint="flatten the chain of core.playbook calls")
        return Chain(self.root, self.files + (str(child),), self.top_run)

    def text(self, child: Path | None = None) -> str:
        files = self.files + ((str(child),) if child is not None else ())
        return " → ".join(_short(f, self.root) for f in files)

    def as_trigger(self) -> dict:
        return {"root": str(self.root), "chain": list(self.files), "top_run": self.top_run}


def _short(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


# ---- soar validate ------------------------------------------------------------------------------

def literal_refs(playbook: "Playbook") -> list[tuple["Step", str]]:
    """The ``core.playbook`` steps whose ``playbook:`` is written out (no ``${{ }}``)."""
    out = []
    for step in playbook.all_steps():
        ref = step.with_.get("playbook") if step.action == ACTION and isinstance(step.with_, dict) else None
        if isinstance(ref, str) and "${{" not in ref:
            out.append((step, ref))
    return out


def static_problems(playbook: "Playbook") -> list[tuple["Step", str, str]]:
    """(step, message, hint) for each literal sub-playbook reference of ``playbook`` that is
    refused, or that leads into a cycle or a chain deeper than :data:`MAX_DEPTH`."""
    src = playbook.source_path
    if not src or src.startswith("<"):
        return []  # not read from a file: no directory to follow references in
    from runner.playbook.loader import PlaybookLoader

    root = home(src)
    start = Path(src).resolve()
    walker = _Walker(PlaybookLoader(), root)
    out = []
    for step, ref in literal_refs(playbook):
        try:
            child = resolve(ref, src, root)
        except SubPlaybookError as exc:
            if not getattr(exc, "missing", False):
                out.append((step, exc.message, exc.hint))
            continue
        problem = walker.problem(child, (start,))
        if problem is not None:
            out.append((step, problem, "a playbook may not call itself, directly or through others, and "
                                      f"sub-playbooks nest at most {MAX_DEPTH} levels"))
    return out


class _Walker:
    """Depth-first walk of literal references; remembers how deep below each file the calls go
    once that file is known to lead into no cycle."""

    def __init__(self, loader: Any, root: Path):
        self.loader = loader
        self.root = root
        self.height: dict[Path, int] = {}
        self.read = 0

    def problem(self, path: Path, stack: tuple[Path, ...]) -> str | None:
        chain = stack + (path,)
        if path in stack:
            return "sub-playbook cycle: " + " → ".join(_short(str(p), self.root) for p in chain)
        depth = len(chain) - 1 + self.height.get(path, 0)
        if depth > MAX_DEPTH:
            return (f"sub-playbooks nest more than {MAX_DEPTH} levels deep: "
                    + " → ".join(_short(str(p), self.root) for p in chain) + (" → ..." if path in self.height else ""))
        if path in self.height:
            return None
        if self.read >= _STATIC_FILES:
            return None  # the run-time limits still apply
        self.read += 1
        try:
            child_pb = self.loader.load(path, check=False)
        except PlaybookError:
            return None  # reported when that file itself is validated, or at run time
        below = 0
        for _step, ref in literal_refs(child_pb):
            try:
                child = resolve(ref, str(path), self.root)
            except SubPlaybookError:
                continue  # reported when that file itself is validated, or at run time
            found = self.problem(child, chain)
            if found is not None:
                return found
            below = max(below, 1 + self.height.get(child, 0))
        self.height[path] = below
        return None

"""Every error soar-runner raises on purpose, in one hierarchy.

    SoarError                       base: message + where + hint; never carries a secret
    ├── UsageError                  bad CLI usage or configuration            (exit 2)
    │   ├── ConfigError             soar.yaml, secret references, tenants
    │   └── SecretError             a secret reference that cannot be resolved
    ├── PlaybookError               a playbook that cannot be loaded           (exit 2)
    │   ├── PlaybookSyntaxError     malformed YAML
    │   ├── PlaybookValidationError wrong shape, types, unknown actions/inputs, bad references
    │   └── ExpressionSyntaxError   a ${{ }} that does not parse
    ├── PluginError                 a plugin that declares something invalid   (exit 2)
    ├── StoreError                  the run store cannot be read or written
    │   └── RunNotFound
    ├── NotAnApprover               someone not among a gate's `approvers:` tried to decide it
    └── StepError                   a step failed at run time                  (exit 1)
        ├── ExpressionError         a ${{ }} that fails when evaluated
        │   └── ExpressionLimitError  it would pass a limit: size, work, time ("expression limit: …")
        ├── ActionInputError        resolved inputs do not match the action's input model
        │   └── InvalidValue        a value not of the form its place needs (an id in a URL path, an OData literal)
        ├── StepTimeout             the step ran past its `timeout`
        ├── ApprovalDenied          a human said no
        ├── ReconcileError          a write step's outcome is unknown after a crash
        ├── SubPlaybookError        a `core.playbook` reference refused (outside the playbook
        │                           directory, not YAML, not a playbook), a cycle or too deep
        ├── AuthError               Entra ID said no (bad secret, no consent, ...)
        │   └── PermissionMissing   the token lacks the role the action needs
        ├── ApiError                the Defender / Graph API answered an error
        │   ├── RateLimited         429 after the retry budget
        │   └── TransientApiError   5xx / timeout after the retry budget
        ├── NotRecorded             a replayed run sent a request no recording answers (runner.replay)
        └── UnservedHostError       a simulated run sent a request to a host no simulated service
                                    serves and no `--allow-host` lets out (runner.sim, runner.http)

Every error carries ``where`` (``file:line:col``, step id, tenant — whatever is known) and
``hint`` (what to do next). ``str(err)`` gives the one-line located form the CLI prints::

    playbooks/triage.yaml:12:9: step 'isolate': unknown action 'defender.isolat_machine'
      hint: did you mean 'defender.isolate_machine'? `soar actions list` shows all actions

Messages pass through :func:`runner.secrets.redact` so a secret value that slipped into
an API answer or a user's text never reaches the terminal, a log line or the store.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where something is: a file position plus the step and tenant it concerns."""

    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    step: str | None = None
    tenant: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            pos = self.file
            if self.line is not None:
                pos += f":{self.line}"
                if self.column is not None:
                    pos += f":{self.column}"
            parts.append(pos)
        if self.step:
            parts.append(f"step '{self.step}'")
        if self.tenant:
            parts.append(f"tenant '{self.tenant}'")
        return ": ".join(parts)

    def with_(self, **changes) -> "Location":
        data = {**self.__dict__, **{k: v for k, v in changes.items() if v is not None}}
        return Location(**data)


class SoarError(Exception):
    """Base class. ``message`` says what went wrong, ``where`` where, ``hint`` what to do."""

    exit_code = 1

    def __init__(self, message: str, *, where: Location | None = None, hint: str | None = None):
        from runner.secrets import redact  # local: errors must import nothing heavy

        self.message = redact(message)
        self.where = where or Location()
        self.hint = redact(hint) if hint else None
        super().__init__(self.message)

    def locate(self, **where) -> "SoarError":
        """Add location facts that were not known where the error was raised (keeps known ones)."""
        known = {k: v for k, v in self.where.__dict__.items() if v is not None}
        self.where = Location(**{**where, **known})
        return self

    def __str__(self) -> str:
        head = str(self.where)
        text = f"{head}: {self.message}" if head else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "where": {k: v for k, v in self.where.__dict__.items() if v is not None},
            "hint": self.hint,
        }


class UsageError(SoarError):
    exit_code = 2


class ConfigError(UsageError):
    pass


class SecretError(ConfigError):
    pass


class PlaybookError(SoarError):
    exit_code = 2


class PlaybookSyntaxError(PlaybookError):
    pass


class PlaybookValidationError(PlaybookError):
    pass


class ExpressionSyntaxError(PlaybookValidationError):
    pass


class PlaybookErrors(PlaybookError):
    """Several located problems found at once (``soar validate`` reports them all)."""

    def __init__(self, errors: list[PlaybookError]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s)", where=errors[0].where if errors else None)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class PluginError(SoarError):
    exit_code = 2


class StoreError(SoarError):
    pass


class RunNotFound(StoreError):
    exit_code = 2


class NotAnApprover(SoarError):
    """A decision on an approval gate by someone its ``approvers:`` do not name: refused,
    nothing changed (an ``approval.refused`` audit event records the attempt)."""

    exit_code = 1


class StepError(SoarError):
    """A step failed at run time. ``retryable`` tells the engine's retry loop whether to try again."""

    retryable = True


class ExpressionError(StepError):
    retryable = False


class ExpressionLimitError(ExpressionError):
    """An expression would build a value past a limit (an integer, string or list size, the
    total work) or run past its time (see :mod:`runner.expr_limits`)."""


class ActionInputError(StepError):
    retryable = False


class InvalidValue(ActionInputError, ValueError):
    """A value that is not of the form its place needs: an id going into an API URL path, a
    datetime or enum value going into an OData filter. Also a ``ValueError``, so a pydantic
    validator that meets one reports it as that input's error, naming the field."""


class StepTimeout(StepError):
    pass


class ApprovalDenied(StepError):
    retryable = False


class ReconcileError(StepError):
    retryable = False


class SubPlaybookError(StepError):
    """A ``core.playbook`` call refused: a reference outside the playbook directory (or not a
    ``.yaml``/``.yml`` file, or not a playbook), a cycle, or calls nested or fanned out beyond
    the limits. Its message names the reference as written, never what a file holds."""

    retryable = False


class AuthError(StepError):
    retryable = False


class PermissionMissing(AuthError):
    pass


class ApiError(StepError):
    """An API answered an error. ``status`` and ``code`` come from the response."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 retryable: bool = False, **kw):
        self.status = status
        self.code = code
        self.retryable = retryable
        super().__init__(message, **kw)


class RateLimited(ApiError):
    pass


class TransientApiError(ApiError):
    pass


class NotRecorded(StepError):
    """A replay (``soar run --replay DIR``) got a request that none of its recordings answers:
    the run would need an answer the tenant never gave, so the step fails instead of guessing."""

    retryable = False


class UnservedHostError(StepError):
    """Under simulation (``--simulate``, ``--sim-url``, the pytest fixtures) a request went to a
    host that no simulated service serves and that is not allowed through to the real network:
    it was not sent. Its message names the host; the hint says how to allow it."""

    retryable = False

    def __init__(self, host: str, *, method: str | None = None, what: str | None = None, **kw):
        self.host = host
        what = what or (f"a {method} request to {host}" if method else f"a request to {host}")
        kw.setdefault("hint", f"to send it over the real network while simulating, allow the host: "
                              f"`--allow-host {host}` (or SOAR_ALLOW_HOSTS; `allow_hosts=[...]` in Python); "
                              f"to simulate it, a plugin mounts a simulated service on it (register_sim_services); "
                              f"else fix the URL")
        super().__init__(f"{what} was not sent: the network is simulated, no simulated service serves "
                         f"{host}, and it is not an allowed host", **kw)

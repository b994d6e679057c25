"""The playbooks ``soar serve`` runs: every ``*.yaml``/``*.yml`` of one directory, with their
triggers turned into webhook routes and scheduled jobs.

:meth:`PlaybookCatalog.scan` (re)loads files whose modification time or size changed (all of them
when ``force``): a valid file replaces the version in use, an invalid one is reported with its
located error and the version in use keeps running. A file that disappeared takes its playbook
(and its triggers) with it.

Beyond ``soar validate``, a served playbook must: have a name no other file uses, use webhook
paths no other playbook uses, protect every webhook with a ``secret`` or a ``token`` that
resolves now, and give every input a default if it has triggers (a trigger supplies no inputs).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from runner.errors import ConfigError, SoarError
from runner.playbook.model import Playbook, PollSpec, WebhookSpec
from runner.secrets import resolve
from runner.serve.webhooks import HookAuth, hook_url_path

log = logging.getLogger("soar.serve")


@dataclass(frozen=True)
class Hook:
    """A webhook route: ``url_path`` (under /hooks) starts ``playbook``."""

    playbook: str
    url_path: str
    auth: HookAuth
    spec: WebhookSpec


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job. ``id`` is stable while the trigger is unchanged, so a restart keeps the
    persisted job (and its missed runs); ``kind`` is ``schedule`` (cron), ``every`` or ``poll``."""

    id: str
    playbook: str
    kind: str
    cron: str | None = None
    timezone: str | None = None
    every: float | None = None
    poll: PollSpec | None = None
    tenant: str | None = None


@dataclass
class Entry:
    playbook: Playbook
    path: Path
    stamp: tuple
    hooks: list[Hook] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)


@dataclass
class Change:
    """What one scan did: playbook names loaded (new or replaced) and removed, and the files
    rejected with their errors."""

    loaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: dict[str, SoarError] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.loaded or self.removed)


def _digest(doc: Any) -> str:
    return hashlib.sha1(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:12]  # noqa: S324


def schedule_job(playbook: str, trigger: Any) -> JobSpec:
    """The job ``soar serve`` schedules for a ``schedule:`` (cron) or ``every:`` trigger of
    ``playbook``; its id is stable while the trigger is unchanged."""
    if trigger.kind == "schedule":
        # "dow": days of the week numbered as crontab numbers them (runner.playbook.cron); a job
        # persisted before (read with APScheduler's Monday-first numbers) gets a new id: replaced
        doc = {"cron": trigger.schedule, "tz": trigger.timezone, "dow": "crontab"}
        return JobSpec(f"{playbook}/schedule/{_digest(doc)}", playbook, "schedule", cron=trigger.schedule,
                       timezone=trigger.timezone)
    return JobSpec(f"{playbook}/every/{_digest(trigger.every)}", playbook, "every", every=trigger.every)


def describe_triggers(playbook: Playbook) -> list[dict]:
    """What starts ``playbook`` under ``soar serve``, one dict per trigger (``soar playbooks
    list``): a schedule's cron and time zone or interval (with its ``job``), a webhook's URL
    path, credentials (the references, never their values) and deduplication, a poll's source,
    interval and filter. Nothing is resolved or scheduled."""
    out: list[dict] = []
    for trigger in playbook.on:
        if trigger.kind in ("schedule", "every"):
            job = schedule_job(playbook.name, trigger)
            out.append({"kind": trigger.kind, "cron": job.cron, "timezone": job.timezone or ("UTC" if job.cron else None),
                        "every": job.every, "job": job})
        elif trigger.kind == "webhook":
            spec = trigger.webhook
            out.append({"kind": "webhook", "path": hook_url_path(spec.path), "secret": spec.secret,
                        "token": spec.token, "dedup_key": spec.dedup_key or ("body" if spec.dedup_window else None),
                        "dedup_window": spec.dedup_window})
        elif trigger.kind == "poll":
            spec = trigger.poll
            out.append({"kind": "poll", "source": spec.source, "every": spec.every, "filter": spec.filter,
                        "batch": spec.batch, "overlap": spec.overlap})
    return out


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


class PlaybookCatalog:
    """Playbooks of ``directory`` by name, webhook routes by URL path, and the jobs to schedule.

    ``tenants_of(playbook)`` names the tenants a playbook runs on (for per-tenant poll jobs).
    """

    def __init__(self, directory: str | Path, loader: Any, tenants_of: Callable[[Playbook], list[str]]):
        self.directory = Path(directory)
        self.loader = loader
        self.tenants_of = tenants_of
        self.entries: dict[str, Entry] = {}     # playbook name -> entry
        self.hooks: dict[str, Hook] = {}        # URL path -> hook
        self._by_file: dict[Path, str] = {}     # file -> playbook name
        self._rejected: dict[Path, tuple] = {}  # file -> stamp of the rejected version (reported once)
        self.errors: dict[str, SoarError] = {}  # file -> why its current version was rejected

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise ConfigError(f"playbook directory '{self.directory}' does not exist",
                              hint="`soar serve DIR` takes a directory of playbook YAML files")
        return sorted([*self.directory.glob("*.yaml"), *self.directory.glob("*.yml")])

    @property
    def rejected(self) -> list[str]:
        """Files whose current version was rejected."""
        return list(self.errors)

    def get(self, name: str) -> Playbook | None:
        entry = self.entries.get(name)
        return entry.playbook if entry else None

    def jobs(self) -> list[JobSpec]:
        return [job for entry in self.entries.values() for job in entry.jobs]

    # ---- scanning -----------------------------------------------------------------------------

    def scan(self, *, force: bool = False) -> Change:
        change = Change()
        present = self.files()
        for gone in [f for f in self._rejected if f not in present]:
            del self._rejected[gone]
            self.errors.pop(str(gone), None)
        for gone in [f for f in self._by_file if f not in present]:
            name = self._by_file.pop(gone)
            self._drop(name)
            change.removed.append(name)
            log.warning("playbook %s removed (%s was deleted)", name, gone)
        for path in present:
            try:
                stamp = _stamp(path)
            except OSError:
                continue  # deleted between the listing and now: the next scan sees it
            current = self._by_file.get(path)
            if not force and current is not None and self.entries[current].stamp == stamp:
                continue
            if not force and self._rejected.get(path) == stamp:
                continue  # still the same invalid version: reported already
            try:
                entry = self._load(path, stamp)
            except SoarError as exc:
                self._rejected[path] = stamp
                self.errors[str(path)] = change.rejected[str(path)] = exc
                kept = f"; version in use kept: {current}" if current else ""
                log.error("playbook rejected%s:\n%s", kept, exc)
                continue
            self._rejected.pop(path, None)
            self.errors.pop(str(path), None)
            if current is not None and current != entry.playbook.name:
                self._drop(current)  # renamed inside the same file
                change.removed.append(current)
            self._install(path, entry)
            change.loaded.append(entry.playbook.name)
        return change

    def _drop(self, name: str) -> None:
        entry = self.entries.pop(name, None)
        if entry is None:
            return
        for hook in entry.hooks:
            if self.hooks.get(hook.url_path) is hook:
                del self.hooks[hook.url_path]
        self._by_file = {f: n for f, n in self._by_file.items() if n != name}

    def _install(self, path: Path, entry: Entry) -> None:
        name = entry.playbook.name
        self._drop(name)
        self.entries[name] = entry
        self._by_file[path] = name
        for hook in entry.hooks:
            self.hooks[hook.url_path] = hook

    # ---- one file -----------------------------------------------------------------------------

    def _load(self, path: Path, stamp: tuple) -> Entry:
        playbook = self.loader.load(str(path))  # PlaybookError(s), located
        name = playbook.name
        owner = next((f for f, n in self._by_file.items() if n == name and f != path), None)
        if owner is not None:
            raise ConfigError(f"playbook name '{name}' is already used by {owner}",
                              where=playbook.locate(("name",)), hint="give each served playbook its own name")
        entry = Entry(playbook, path, stamp)
        if playbook.on:
            for key, spec in playbook.inputs.items():
                if spec.is_required:
                    raise ConfigError(
                        f"input '{key}' has no default, so a trigger cannot start this playbook",
                        where=playbook.locate(("inputs", key)),
                        hint=f"give inputs.{key} a default (triggers pass no inputs; read trigger.payload instead)")
        for i, trigger in enumerate(playbook.on):
            where = playbook.locate(("on", i))
            if trigger.kind == "webhook":
                entry.hooks.append(self._hook(playbook, trigger.webhook, ("on", i, "webhook")))
            elif trigger.kind in ("schedule", "every"):
                entry.jobs.append(schedule_job(name, trigger))
            elif trigger.kind == "poll":
                tenants = [t for t in self.tenants_of(playbook) if t]
                if not tenants:
                    raise ConfigError("a poll trigger needs a tenant to poll, and this playbook runs on none",
                                      where=where, hint="configure tenants in soar.yaml (or use --simulate)")
                spec = trigger.poll
                for tenant in tenants:
                    doc = {"poll": spec.model_dump(), "tenant": tenant}
                    entry.jobs.append(JobSpec(f"{name}/poll/{tenant}/{_digest(doc)}", name, "poll",
                                              every=spec.every, poll=spec, tenant=tenant))
        return entry

    def _hook(self, playbook: Playbook, spec: WebhookSpec, at: tuple) -> Hook:
        where = playbook.locate(at)
        url_path = hook_url_path(spec.path)
        taken = self.hooks.get(url_path)
        if taken is not None and taken.playbook != playbook.name:
            raise ConfigError(f"webhook path {url_path} is already used by playbook '{taken.playbook}'",
                              where=where, hint="give each webhook its own path")
        if spec.secret is None and spec.token is None:
            raise ConfigError(f"webhook {url_path} has neither `secret` nor `token`, so anyone could start it",
                              where=where,
                              hint="add `secret: env:NAME` (HMAC-SHA256 signature, GitHub style) or `token: env:NAME`")
        values = {}
        for field_name in ("secret", "token"):
            ref = getattr(spec, field_name)
            if ref is None:
                continue
            try:
                values[field_name] = resolve(ref, name=f"webhook {field_name}")
            except SoarError as exc:
                raise exc.locate(**{k: v for k, v in playbook.locate(at + (field_name,)).__dict__.items()
                                    if v is not None})
        return Hook(playbook.name, url_path, HookAuth(**values), spec)

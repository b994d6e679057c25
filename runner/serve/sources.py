"""What a plugin says about a poll source it registers (``register_poll_sources``): the
listing to read for new or updated items, per API that can serve it.

A playbook names a source in ``on: poll: {source: <name>}``; ``soar validate`` refuses a name no
installed plugin registered. The poller (:mod:`runner.serve.polling`) lists the source with the
same quotas, token handling, retries and error mapping as actions, and keeps a cursor (the newest
``time_field`` seen) per (playbook, tenant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

__all__ = ["PollListing", "PollSource", "unknown_source_hint"]


@dataclass(frozen=True)
class PollListing:
    """How one API lists the source's items.

    ``api``: a registered API (also the quota bucket the listing draws on). ``path``: the
    listing's path on that API. ``time_field``: the item's last-update time (ISO 8601).
    ``id_field``: the item's id. ``roles``: the application roles the listing needs (any one).
    ``page_size``: items per page. ``params``: fixed query parameters.
    ``normalize``: turns an item into the shape playbooks see (``None``: as the API sends it).
    ``paging``: ``odata`` — ``$filter=<time_field> ge <watermark>``, ``$top``/``$skip`` and
    ``@odata.nextLink``; ``since`` — one request with ``since_param=<watermark>`` (ISO 8601),
    every item in ``items_key``. ``items_key``: where the items are in an answer.
    """

    api: str
    path: str
    time_field: str
    id_field: str
    roles: tuple[str, ...] = ()
    page_size: int = 100
    params: Mapping[str, str] = field(default_factory=dict)
    normalize: Callable[[dict], dict] | None = None
    paging: Literal["odata", "since"] = "odata"
    since_param: str = "since"
    items_key: str = "value"


@dataclass(frozen=True)
class PollSource:
    """A named source (``vendor.things``) and the listings that can serve it, the default first.

    ``choice``: the key of a tenant's ``apis:`` in soar.yaml that picks among the listings'
    APIs (e.g. ``incidents``: ``apis: {incidents: graph}``).
    """

    name: str
    description: str
    listings: tuple[PollListing, ...]
    choice: str | None = None


def unknown_source_hint(host: Any, name: str) -> str:
    """What to tell someone whose playbook names poll source ``name`` that ``host`` (a
    :class:`~runner.plugins.PluginHost`) does not have: the registered sources, by plugin."""
    by_plugin: dict[str, list[str]] = {}
    for known in sorted(getattr(host, "poll_sources", {}) or {}):
        by_plugin.setdefault(host.owner("poll source", known) or "unknown", []).append(known)
    vendor = name.split(".", 1)[0] if "." in name else name
    install = (f"install the plugin that registers '{name}' (a `{vendor}.*` source), "
               "then check it with `soar plugins list`")
    if not by_plugin:
        return f"no installed plugin registers a poll source; {install}"
    listed = "; ".join(f"{', '.join(names)} (plugin '{plugin}')" for plugin, names in sorted(by_plugin.items()))
    return f"registered poll sources: {listed}; or {install}"

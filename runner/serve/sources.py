"""What a plugin says about a poll source it registers (``register_poll_sources``): the
listing to read for new or updated items, per API that can serve it.

A playbook names a source in ``on: poll: {source: <name>}``; ``soar validate`` refuses a name no
installed plugin registered. The poller (:mod:`runner.serve.polling`) lists the source with the
same quotas, token handling, retries and error mapping as actions, and keeps a cursor (the newest
``time_field`` seen) per (playbook, tenant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

__all__ = ["PollListing", "PollSource"]


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

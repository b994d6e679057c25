"""The guard itself must work, or every 'offline' claim of this suite is hollow."""

import httpx
import pytest

from runner.http import Network


def test_real_connection_is_refused_by_the_guard():
    with pytest.raises(RuntimeError, match="tests must use the simulated cloud"):
        httpx.get("https://api.securitycenter.microsoft.com/api/machines", timeout=2)


def test_internet_network_refuses_when_offline():
    from runner.errors import UsageError

    with Network.internet().sync_client() as client, pytest.raises(UsageError, match="offline"):
        client.get("https://api.security.microsoft.com/api/incidents")

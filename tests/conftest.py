"""Suite-wide guards: no test may reach the internet, and every test gets its own state dir."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

# Subprocesses started by tests inherit this: runner.http.Network.internet() then refuses.
os.environ["SOAR_OFFLINE"] = "1"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _loopback(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class InternetAccessError(RuntimeError):
    pass


def _check(address) -> None:
    if isinstance(address, tuple) and not _loopback(address[0]):
        raise InternetAccessError(f"a test tried to reach {address[0]}: tests must use the simulated cloud")


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if not _loopback(host):
        raise InternetAccessError(f"a test tried to resolve {host}: tests must use the simulated cloud")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config):
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path, monkeypatch):
    """Each test runs in its own directory, so ./.soar/ and ./soar.yaml never leak between tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOAR_CONFIG", raising=False)
    monkeypatch.delenv("SOAR_STORE", raising=False)
    yield

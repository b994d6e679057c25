"""The ACME API key for the simulated ACME: soar-runner takes it from ``credentials.acme`` in
soar.yaml, else from the API's default reference, ``env:ACME_API_KEY``."""

import pytest

from soar_example.sim import DEMO_KEY


@pytest.fixture(autouse=True)
def acme_key(monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", DEMO_KEY)
    return DEMO_KEY

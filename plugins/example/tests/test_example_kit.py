"""The ACME plugin tested with soar-runner's testing kit, as a plugin author tests theirs: no
setup of our own — the fixtures come from soar-runner's pytest plugin (docs/testing.md), and
the simulated cloud serves the plugin's simulated ACME (``soar_cloud.services["acme"]``)."""

import json

import pytest
from pydantic import BaseModel

from runner.plugin import Action, AuthError, UnservedHostError, hookimpl
from soar_example.sim import DEMO_KEY


def test_action_alone(soar_action):
    out = soar_action("acme.classify_ip", address=" 10.1.2.3 ")
    assert out == {"address": "10.1.2.3", "version": 4, "private": True, "reserved": False, "verdict": "internal"}


def test_lookup_goes_to_the_simulated_acme_with_the_key(soar_action, soar_cloud):
    out = soar_action("acme.lookup_indicator", tenant="contoso", indicator="update-check.badcdn.example")
    assert (out["verdict"], out["score"], out["type"]) == ("malicious", 88, "domain")
    unknown = soar_action("acme.lookup_indicator", tenant="contoso", indicator="http://x.example/a?b=1")
    assert (unknown["verdict"], unknown["score"], unknown["type"]) == ("unknown", 0, "url")
    acme = soar_cloud.services["acme"]
    seen = acme.requests("GET", "/v2/indicators/")
    # the URL went into the path as one segment, whatever characters it holds
    assert [r["path"] for r in seen] == ["/v2/indicators/update-check.badcdn.example",
                                         "/v2/indicators/http://x.example/a?b=1"]
    assert {r["api_key"] for r in seen} == {DEMO_KEY}


@pytest.mark.soar_cloud(acme={"api_keys": ["a-key-nobody-has"]})
def test_a_refused_key_is_an_auth_error_not_data(soar_action):
    with pytest.raises(AuthError) as err:
        soar_action("acme.lookup_indicator", tenant="contoso", indicator="8.8.8.8")
    assert "missing or unknown API key" in err.value.message  # ACME's error body, read by the API's spec
    assert "credentials.acme" in err.value.hint  # where the key comes from


def test_block_is_idempotent_and_undone_by_unblock(soar_action, soar_cloud):
    first = soar_action("acme.block_indicator", tenant="contoso", indicator="198.51.100.7", reason="c2")
    again = soar_action("acme.block_indicator", tenant="contoso", indicator="198.51.100.7")
    assert first["id"] == again["id"] and first["id"].startswith("blk-")
    assert len(soar_cloud.services["acme"].blocks) == 1
    out = soar_action("acme.unblock_indicator", tenant="contoso", indicator="198.51.100.7")
    assert out == {"lifted": [first["id"]], "absent": []}
    assert soar_cloud.services["acme"].blocks == {}
    gone = soar_action("acme.unblock_indicator", tenant="contoso", block_id=first["id"])
    assert gone == {"lifted": [], "absent": [first["id"]]}


def test_calls_draw_on_acmes_own_quota(make_soar_runner):
    runner = make_soar_runner(quotas={"acme": {"per_second": 2}})
    out = runner.run("""
name: many-lookups
tenants: [contoso]
steps:
  - id: lookup
    action: acme.lookup_indicator
    foreach: ["198.51.100.7", "203.0.113.9", "8.8.8.8", "a.example", "b.example", "c.example"]
    concurrency: 6
    with: {indicator: "${{ item }}"}
""")
    assert out.status == "succeeded", out.error
    stats = runner.api_stats()
    assert stats["calls"]["contoso"]["acme"] == 6
    assert stats["quota_waits"].get("contoso/acme", 0) > 0  # 6 calls at 2 a (scaled) second: some waited


@pytest.mark.soar_cloud(["acme-corp", "globex"])
def test_playbook_on_every_tenant(soar_runner, soar_cloud):
    out = soar_runner.run("""
name: lookup-per-tenant
tenants: all
steps:
  - id: lookup
    action: acme.lookup_indicator
    with: {indicator: "203.0.113.9"}
outputs:
  tenant: "${{ tenant.name }}"
  risk: "${{ steps.lookup.output.score | acme_risk }}"
""")
    assert out.status == "succeeded"
    assert out.outputs == {t: {"status": "succeeded", "outputs": {"tenant": t, "risk": "medium"}}
                           for t in ("acme-corp", "globex")}
    assert len(soar_cloud.services["acme"].requests("GET", "/v2/indicators/203.0.113.9")) == 2
    assert soar_runner.token_requests == 0  # an API key, no Entra ID token


def test_a_feed_with_a_secret_token_from_the_acme_vault(soar_runner, soar_cloud, tmp_path, monkeypatch):
    from soar_example.sim import DEMO_FEED_TOKEN

    store = tmp_path / "vault.json"
    store.write_text(json.dumps({"feed-token": DEMO_FEED_TOKEN}))
    monkeypatch.setenv("ACME_VAULT", str(store))
    out = soar_runner.run("""
name: premium-feed
secrets:
  FEED_TOKEN: acmevault:feed-token
steps:
  - id: feed
    action: acme.fetch_feed
    with:
      url: https://feeds.acme.example/v1/feeds/premium.txt
      token: "${{ secrets.FEED_TOKEN }}"
outputs:
  indicators: "${{ steps.feed.output.indicators }}"
""", tenant="contoso")
    assert out.status == "succeeded", out.error
    assert out.outputs == {"indicators": ["203.0.113.9", "198.51.100.7", "evil.example.net"]}
    recorded = json.dumps([r.inputs for r in out.records("feed")])
    assert DEMO_FEED_TOKEN not in recorded and "***" in recorded  # a Secret input is stored masked


def test_plain_http_to_an_unserved_host_is_refused_never_answered(soar_action):
    with pytest.raises(UnservedHostError) as err:
        soar_action("acme.fetch_feed", url="https://feeds.elsewhere.example/list.txt")
    assert err.value.host == "feeds.elsewhere.example"
    assert "--allow-host feeds.elsewhere.example" in err.value.hint


def test_an_unpackaged_plugin_module(make_soar_runner):
    """A plugin not installed yet is passed in directly."""

    class Draft:
        @hookimpl
        def register_actions(self, register):
            async def shout(ctx, inputs):
                return {"text": inputs.text.upper(), "tenant": ctx.tenant.name}

            class ShoutInput(BaseModel):
                text: str

            register(Action(name="draft.shout", summary="Shout", func=shout, input_model=ShoutInput,
                            effect="read"))

    runner = make_soar_runner(plugins=[Draft()])
    assert runner.action("draft.shout", tenant="fabrikam", text="hi") == {"text": "HI", "tenant": "fabrikam"}
    out = runner.run("name: draft\nsteps:\n  - id: s\n    action: draft.shout\n    with: {text: ok}\n"
                     "outputs:\n  said: \"${{ steps.s.output.text }} from ${{ steps.s.output.tenant }}\"\n",
                     tenant="contoso")  # no `tenants:` means every tenant; --tenant picks one
    assert out.outputs == {"said": "OK from contoso"}

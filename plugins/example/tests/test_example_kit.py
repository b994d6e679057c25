"""The example plugin tested with soar-runner's testing kit, as a plugin author would: no setup
of our own — the fixtures come from soar-runner's pytest plugin (see docs/testing.md)."""

import pytest

from runner import Action, hookimpl


def test_action_alone(soar_action):
    out = soar_action("example.classify_ip", address=" 10.1.2.3 ")
    assert out == {"address": "10.1.2.3", "version": 4, "private": True, "reserved": False, "verdict": "internal"}


@pytest.mark.soar_cloud(["acme", "globex"])
def test_playbook_on_every_tenant(soar_runner):
    out = soar_runner.run("""
name: classify-per-tenant
tenants: all
steps:
  - id: token
    action: entra.get_token
  - id: classify
    action: example.classify_ip
    foreach: ["10.0.0.1", "8.8.8.8", "fe80::1"]
    with: {address: "${{ item }}"}
outputs:
  tenant: "${{ tenant.name }}"
  verdicts: "${{ steps.classify.output | map(attribute='verdict') | list }}"
""")
    assert out.status == "succeeded"
    assert out.outputs == {t: {"status": "succeeded",
                               "outputs": {"tenant": t, "verdicts": ["internal", "external", "internal"]}}
                           for t in ("acme", "globex")}
    assert soar_runner.token_requests == 2  # one per tenant, shared by the run


def test_an_unpackaged_plugin_module(make_soar_runner):
    """A plugin not installed yet is passed in directly."""

    class Draft:
        @hookimpl
        def register_actions(self, register):
            async def shout(ctx, inputs):
                return {"text": inputs.text.upper(), "tenant": ctx.tenant.name}

            from pydantic import BaseModel

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

"""What an action's context gives a plugin for requests: ``ctx.api(name)`` for a registered API,
``await ctx.http()`` for any other host — both from the runtime's network, so a simulated run
reaches the simulated services and the allowed hosts, and nothing else."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import BaseModel

from runner.plugin import Action, ActionContext, ConfigError, TenantInfo, UnservedHostError, hookimpl


class UrlInput(BaseModel):
    url: str


async def fetch(ctx: ActionContext, inputs: UrlInput) -> dict:
    client = await ctx.http()
    resp = await client.get(inputs.url, timeout=5.0)
    return {"status": resp.status_code, "text": resp.text}


async def call_api(ctx: ActionContext, inputs: UrlInput) -> dict:
    return await ctx.api(inputs.url).get("/x")


class HttpPlugin:
    @hookimpl
    def register_actions(self, register):
        register(Action(name="ctxtest.fetch", summary="GET a URL with ctx.http()", func=fetch, input_model=UrlInput,
                        needs_tenant=False))
        register(Action(name="ctxtest.call", summary="GET /x on an API named by url", func=call_api,
                        input_model=UrlInput))


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"hello from loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_to_a_host_nothing_serves_is_refused_not_answered(make_soar_runner):
    runner = make_soar_runner(plugins=[HttpPlugin()])
    with pytest.raises(UnservedHostError) as err:
        runner.action("ctxtest.fetch", url="https://hooks.example.com/T000/B000/xyz")
    assert err.value.host == "hooks.example.com"
    assert "--allow-host hooks.example.com" in err.value.hint and "register_sim_services" in err.value.hint


def test_http_reaches_an_allowed_host(make_soar_runner, receiver):
    runner = make_soar_runner(plugins=[HttpPlugin()], allow_hosts=[receiver])
    out = runner.action("ctxtest.fetch", url=f"http://{receiver}/feed.txt")
    assert out == {"status": 200, "text": "hello from loopback"}
    with pytest.raises(UnservedHostError):  # only the allowed one: another port stays refused
        runner.action("ctxtest.fetch", url="http://127.0.0.1:9/feed.txt")


def test_api_names_the_registered_apis_for_an_unknown_one(make_soar_runner):
    runner = make_soar_runner(plugins=[HttpPlugin()])
    with pytest.raises(ConfigError, match="no installed plugin registers an API named 'nosuch'") as err:
        runner.action("ctxtest.call", tenant="contoso", url="nosuch")
    assert "registered:" in err.value.message and "register_apis" in err.value.hint


def test_api_needs_a_tenant(make_soar_runner):
    from runner.plugins import load_plugins

    runner = make_soar_runner()
    some_api = next(iter(load_plugins().apis))
    ctx = ActionContext(run_id="r", step_id="s", item=None, attempt=1, tenant=None, dry_run=False,
                        services=runner.services)
    with pytest.raises(ConfigError, match="runs on no tenant"):
        ctx.api(some_api)
    ctx = ActionContext(run_id="r", step_id="s", item=None, attempt=1, tenant=TenantInfo("contoso"),
                        dry_run=False, services=runner.services)
    assert ctx.api(some_api).api == some_api

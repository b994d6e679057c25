"""RunStore contract: no secret value ever reaches the database, in any column or file."""

from __future__ import annotations

from store_helpers import CANARY, make_run, raw_dump

from runner.secrets import Secret


def test_secrets_are_masked_everywhere(store, backend):
    secret = Secret(CANARY, name="hook_token")
    leaked_text = f"upstream said: bad token {CANARY}"  # a known value inside plain text

    run_id = make_run(store, inputs={"token": secret, "note": leaked_text},
                      trigger={"payload": {"auth": secret}}, playbook_text=f"# {CANARY}\n")
    store.step_started(run_id, "call", item=None, attempt=1, action="core.http_request",
                       effect="read", inputs={"headers": {"Authorization": secret}}, durable=False)
    store.step_finished(run_id, "call", item=None, attempt=1, status="failed",
                        output={"echo": secret, "list": [leaked_text]},
                        error={"message": leaked_text}, durable=False)
    store.step_started(run_id, "isolate", item=0, attempt=1, action="defender.isolate_machine",
                       effect="destructive", inputs={"comment": secret}, durable=True)
    store.step_finished(run_id, "isolate", item=0, attempt=1, status="succeeded",
                        output={"plain": "no secret here"}, durable=True)
    store.update_run(run_id, status="failed", outputs={"token": secret},
                     error={"message": leaked_text, "where": {"step": "call"}})
    store.audit(run_id, "step.failed", step_id="call", data={"token": secret, CANARY: "as key"},
                durable=True)
    store.request_approval(run_id, "isolate", item=1, message=leaked_text)
    store.decide_approval(run_id, "isolate", item=1, approved=False, actor="alice", reason=leaked_text)

    records = {r.step_id: r for r in store.step_records(run_id)}
    assert records["call"].output == {"echo": "***", "list": ["upstream said: bad token ***"]}
    assert records["call"].output_redacted is True
    assert records["isolate"].output_redacted is False
    assert records["call"].inputs == {"headers": {"Authorization": "***"}}
    run = store.get_run(run_id)
    assert run.inputs == {"token": "***", "note": "upstream said: bad token ***"}
    assert run.outputs == {"token": "***"}
    store.close()

    dump = raw_dump(backend)
    assert b"***" in dump  # the dump holds the rows...
    assert CANARY.encode() not in dump  # ...but never the secret

"""``soar serve``: a long-running process that starts playbook runs from their ``on:`` triggers.

    service.py    ServeService: lifecycle — start, recovery, reload, signals, graceful stop
    catalog.py    PlaybookCatalog: the playbooks of a directory, their triggers, reload diffs
    dispatch.py   Dispatcher: trigger events (the inbox) -> runs, per-playbook concurrency
    scheduler.py  Schedules: cron / interval / poll jobs (the only module importing apscheduler)
    lock.py       ServeLock: one ``soar serve`` per run store (lock file / PostgreSQL advisory lock)
    webhooks.py   webhook authentication (HMAC-SHA256 / bearer), JSON limits, dedup keys (body digest)
    app.py        the Starlette app: /hooks/..., /healthz, /metrics, /approvals
    httpserver.py uvicorn with limits: head deadline (slow clients), keep-alive, connection cap
    approvals.py  ApprovalDesk: decisions over HTTP, timeouts, continuing decided runs
    metrics.py    ServeMetrics (the only module importing prometheus_client)
    polling.py    Poller: polling triggers on the poll sources plugins register

Trigger events are recorded in the run store's inbox (``runner.store.inbox``) before anyone is
told they were accepted; see docs/serve.md.
"""

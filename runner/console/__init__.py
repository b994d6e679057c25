"""The web console of ``soar serve`` (pages under ``/``, JSON API under ``/api/v1``).

    app.py        build_console(service): the Starlette app serve mounts at ``/``
    identity.py   who is calling (sign-in; owned by the sign-in work)
"""

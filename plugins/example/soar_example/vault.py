"""The ``acmevault:`` secret scheme (``register_secret_schemes``).

``acmevault:<name>`` reads ``<name>`` from the ACME vault: a JSON file of ``{"name": "value"}``
kept by ACME's command-line tool, at ``$ACME_VAULT`` (default ``~/.config/acme/vault.json``).
It works wherever a secret reference does — soar.yaml's ``credentials: {acme: acmevault:soc}``,
a playbook's ``secrets:`` — and, like every resolver, never puts the value in an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from runner.plugin import SecretError

SCHEME = "acmevault"


def vault_path() -> Path:
    return Path(os.environ.get("ACME_VAULT") or Path.home() / ".config" / "acme" / "vault.json").expanduser()


def resolve(name: str) -> str:
    """The value of ``name`` in the ACME vault."""
    path = vault_path()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SecretError(f"secret reference '{SCHEME}:{name}': the ACME vault {path} does not exist",
                          hint="set ACME_VAULT to the vault file, or run `acme vault init`") from None
    except (OSError, ValueError) as exc:
        raise SecretError(f"secret reference '{SCHEME}:{name}': the ACME vault {path} cannot be read "
                          f"({type(exc).__name__})", hint="it must be a JSON object of name -> value") from None
    value = entries.get(name) if isinstance(entries, dict) else None
    if not isinstance(value, str) or not value:
        known = ", ".join(sorted(entries)) if isinstance(entries, dict) else "none"
        raise SecretError(f"secret reference '{SCHEME}:{name}': the ACME vault {path} holds no '{name}'",
                          hint=f"names in the vault: {known or 'none'}")
    return value

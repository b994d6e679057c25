"""The engine: runs one playbook run (steps, foreach, parallel, retry, timeout, on_error,
approvals, dry-run, tenants) and records it in the run store."""

"""The thin Starlette ingress: verify, validate, enqueue durably, answer fast."""

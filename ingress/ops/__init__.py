"""`/ops`: the operators' dashboard and its JSON API, a Starlette app of its own mounted by ingress/app.py."""

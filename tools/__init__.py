"""Developer and operator tools, apart from the service's runtime: the stack starter (`tools/stack.py`, for
`scripts/run`, bench/ and tests/), the dev runner (`python -m tools.dev`), the sample event, the embedded Redis and
key rotation (`python -m tools.rotate_keys`)."""

"""`python -m sandbox --host 127.0.0.1 --port 8100 [--seed demo|none]`."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Local Outreach API v2 double")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--seed", choices=("demo", "none"), default="demo")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    app = create_app(seed_demo=args.seed == "demo", client_id=args.client_id, client_secret=args.client_secret,
                     freeze_gc=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()

"""A local, in-memory double of the Outreach REST API v2 (OAuth, JSON:API resources, webhooks, faults)."""

from .app import create_app
from .core import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Sandbox
from .server import RunningSandbox, start_sandbox_in_thread

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "RunningSandbox",
    "Sandbox",
    "create_app",
    "start_sandbox_in_thread",
]

"""Wiring shared by the `web` and `worker` processes: settings → Redis, stores and the Outreach client."""

"""Shapes: every payload that crosses a boundary (HTTP, Redis, Outreach) is a pydantic model here."""

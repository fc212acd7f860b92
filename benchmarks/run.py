"""`make bench`: run every benchmark in this folder; each prints its ratio to a same-run baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = [
    "metrics_scale.py",
    "engagement_scale.py",
    "clv_scale.py",
    "demo_scale.py",
    "recent_window.py",
    "spark_scale.py",
    "serve_load.py",
    "startup.py",
]


def main() -> int:
    here = Path(__file__).parent
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, str(here / name)])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

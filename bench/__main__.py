from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    available = sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")
    )
    wanted = argv or available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    if not wanted:
        print("no benchmarks under bench/", file=sys.stderr)
        return 2
    for name in wanted:
        print(f"== bench {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        code = module.main()
        if code:
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

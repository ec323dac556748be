"""Regenerate the Python code for protos/ into services/v1 (imported as numproxy.v1).

Usage: python scripts/gen_protos.py [--check]
--check regenerates into a temporary folder and exits 1 when the committed code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGET = ROOT / "services" / "v1"


def generate(out: Path) -> None:
    sources = sorted(
        str(p.relative_to(PROTOS)) for p in (PROTOS / "numproxy" / "v1").glob("*.proto")
    )
    include = Path(grpc_tools.__file__).parent / "_proto"
    bindir = Path(sys.executable).parent  # mypy-protobuf's plugins live beside this Python
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    package = out / "numproxy" / "v1"
    (package / "__init__.py").write_text('"""Generated from protos/numproxy/v1: do not edit."""\n')


def differs(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    names = [n for n in names if n != "__pycache__"]
    return [
        n
        for n in names
        if not (a / n).exists()
        or not (b / n).exists()
        or not filecmp.cmp(a / n, b / n, shallow=False)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when committed code is stale")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "numproxy" / "v1"
        if opts.check:
            stale = differs(fresh, TARGET) if TARGET.exists() else ["(missing)"]
            if stale:
                print("generated code is stale; run `make protos`:", ", ".join(stale))
                return 1
            print("generated code is up to date")
            return 0
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(fresh, TARGET)
    print(f"generated {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

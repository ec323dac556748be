"""Regenerate the Python code for protos/: one generated package per proto package.

numproxy.v1 (protos/numproxy/v1, the public API) goes to services/v1 and
numproxy.internal.v1 (protos/numproxy/internal/v1, called only by numproxy's own services)
goes to services/internal/v1; both import under the installed `numproxy` package.

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
SERVICES = ROOT / "services"
# Each proto package's folder, relative to protos/ (and to protoc's output), and where its
# generated code is committed. The `numproxy` package maps to services/.
PACKAGES = {
    Path("numproxy/v1"): SERVICES / "v1",
    Path("numproxy/internal/v1"): SERVICES / "internal" / "v1",
}


def generate(out: Path) -> None:
    sources = sorted(
        str(p.relative_to(PROTOS)) for folder in PACKAGES for p in (PROTOS / folder).glob("*.proto")
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
    for folder in PACKAGES:
        init = out / folder / "__init__.py"
        init.write_text(f'"""Generated from protos/{folder.as_posix()}: do not edit."""\n')


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
        if opts.check:
            stale = []
            for folder, target in PACKAGES.items():
                rel = target.relative_to(ROOT).as_posix()
                names = differs(Path(tmp) / folder, target) if target.exists() else ["(missing)"]
                stale += [f"{rel}/{n}" for n in names]
            if stale:
                print("generated code is stale; run `make protos`:", ", ".join(stale))
                return 1
            print("generated code is up to date")
            return 0
        for folder, target in PACKAGES.items():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(tmp) / folder, target)
            print(f"generated {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The source trees a probe compares: this one and the `--base DIR` it is given, each run
on its own code by way of PYTHONPATH."""

from __future__ import annotations

import argparse
from pathlib import Path

THIS_TREE = str(Path(__file__).resolve().parents[2])


def probe_parser() -> argparse.ArgumentParser:
    """An argument parser with the `--base DIR` every comparing probe takes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="", help="the other source tree (empty: this only)")
    return parser


def constrained_parser(
    clients: int = 1000, jobs: int = 2000, licenses: int = 100
) -> argparse.ArgumentParser:
    """`probe_parser` with the size of a constrained-case run and the rounds to alternate."""
    parser = probe_parser()
    parser.add_argument("--clients", type=int, default=clients)
    parser.add_argument("--jobs", type=int, default=jobs)
    parser.add_argument("--licenses", type=int, default=licenses)
    parser.add_argument("--rounds", type=int, default=2)
    return parser


def trees(base: str) -> list[tuple[str, str]]:
    """("this", this tree) and, when `base` is given, ("base", base) after it."""
    return [("this", THIS_TREE)] + ([("base", base)] if base else [])


def tree_env(tree: str, profile: str = "") -> dict[str, str]:
    """Environment over the inherited one that runs a Corral process on `tree` (empty: on
    the inherited PYTHONPATH) and, with `profile`, writes its cProfile stats there."""
    env = {"CORRAL_PROFILE": profile} if profile else {}
    if tree:
        env["PYTHONPATH"] = tree
    return env


def tree_env_with_site(tree: str, scratch: Path, sitecustomize: str) -> dict[str, str]:
    """`PYTHONPATH` that runs a Corral process on `tree` with `sitecustomize` (a probe's
    own timing code, written under `scratch`) loaded at its start."""
    site = scratch / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(sitecustomize)
    return {"PYTHONPATH": f"{tree}:{site}"}

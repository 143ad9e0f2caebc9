"""The asset graph of the definitions as a Mermaid flowchart, the one README.md and
docs/asset-graph.md show (tests/test_readme.py checks that both match it):

    python scripts/asset_graph.py [--definitions MODULE:ATTR]

One subgraph per asset group, the resources each asset needs in its label, the asset checks as
a note on their asset.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's package, installed or not


def asset_graph_mermaid(defs: dg.Definitions) -> str:
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    checks: dict[str, list[str]] = defaultdict(list)
    for c in defs.asset_checks or []:
        for key in c.check_keys:
            checks[key.asset_key.to_user_string()].append(key.name)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    edges: list[tuple[str, str]] = []
    seen: set[str] = set()
    for a in assets:
        resources = sorted(a.required_resource_keys - {"io_manager"})  # every asset has one: noise
        for key in sorted(a.keys, key=lambda k: k.to_user_string()):  # a multi-asset's keys are a set
            name = key.to_user_string()
            if name in seen:
                continue
            seen.add(name)
            label = name + (f"<br/><small>{', '.join(resources)}</small>" if resources else "")
            groups[a.group_names_by_key[key]].append((name, label))
            edges.extend((dep.to_user_string(), name) for dep in sorted(a.asset_deps[key], key=str))
    lines = ["flowchart LR"]
    for group, nodes in groups.items():
        lines.append(f"  subgraph {group}")
        lines.extend(f'    {name}["{label}"]' for name, label in nodes)
        lines.append("  end")
    lines.extend(f"  {up} --> {down}" for up, down in edges if up in seen)  # no edges from outside sources
    for asset, names in checks.items():
        if asset in seen:
            lines.append(f'  {asset}_checks{{{{"checks: {", ".join(sorted(names))}"}}}} -.- {asset}')
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/asset_graph.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--definitions", default="dagster_project.definitions:defs", metavar="MODULE:ATTR",
                        help="the Definitions to draw (default dagster_project.definitions:defs)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*is currently in (beta|preview).*")
    module_name, _, attr = args.definitions.partition(":")
    sys.stdout.write(asset_graph_mermaid(getattr(importlib.import_module(module_name), attr or "defs")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

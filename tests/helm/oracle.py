#!/usr/bin/env python3
"""Conformance oracle: render every chart of the corpus with the real Helm SDK.

Usage: python oracle.py CHARTS_DIR OUT.json

For each chart directory CHARTS_DIR/<case>/ (sorted) this renders the variant
"default" (no user values) and one variant per CHARTS_DIR/<case>/ci/*.yaml
(variant name = file name, chart-testing's convention), all with release name
"rel" in namespace "ns", and writes

    {"<case>/<variant>": {"ok": {"manifests": {path: text},
                                  "crds": [{"name": ..., "filename": ...,
                                            "data": ...}]}}
                      or {"err": "<exception message>"}}

The oracle is Helm 4's Go SDK through the PyPI package helm-python-sdk
(module helm_python); everything runs in this one process.  A CRD's "name" is
its path inside its own chart (crds/x.yaml, the same for a parent's and a
sub-chart's file); "filename" is the full path (<chart>/charts/<sub>/crds/x.yaml).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RELEASE_NAME = "rel"
NAMESPACE = "ns"


def _die(message: str, code: int = 2) -> None:
    print(f"oracle.py: {message}", file=sys.stderr)
    sys.exit(code)


try:
    import yaml
except ImportError as exc:  # pragma: no cover - environment problem
    _die(f"cannot import PyYAML ({exc}); install it in the venv (pip install pyyaml)")

try:
    from helm_python.chart import Chart, values_from_yaml
    from helm_python.errors import HelmError
except Exception as exc:  # ImportError, or the native library failing to load
    _die(
        "cannot import helm_python, the Helm 4 SDK oracle "
        f"({type(exc).__name__}: {exc}); install the PyPI package "
        "helm-python-sdk into the venv that runs this script"
    )


def variants(case_dir: Path) -> list[tuple[str, Path | None]]:
    """The variants of one case: "default" then each ci/*.yaml, sorted."""
    out: list[tuple[str, Path | None]] = [("default", None)]
    ci = case_dir / "ci"
    if ci.is_dir():
        out.extend((p.name, p) for p in sorted(ci.glob("*.yaml")) if p.is_file())
    return out


def load_values(values_file: Path) -> dict:
    """A ci/*.yaml file as the values dict, parsed with PyYAML (yaml.safe_load).

    PyYAML and Helm's own YAML reading disagree on a few YAML 1.1 scalars (y
    and n are booleans to Helm, strings to PyYAML; dates; numbers too big for
    JSON ...).  A file on which they disagree would make the oracle test values
    that `helm -f` would not give, so it is reported on stderr: rewrite it."""
    text = values_file.read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{values_file}: values file is not a mapping")
    try:
        helm_view = values_from_yaml(text)
        same = json.dumps(helm_view, sort_keys=True) == json.dumps(values, sort_keys=True)
    except (HelmError, TypeError, ValueError):
        same = False
    if not same:
        print(
            f"oracle.py: warning: {values_file}: PyYAML and Helm parse this file differently",
            file=sys.stderr,
        )
    return values


def render_variant(case_dir: Path, values_file: Path | None) -> dict:
    """Render one variant.  The chart is loaded afresh for every variant:
    rendering mutates the loaded chart (Helm's dependency processing drops
    disabled sub-charts from the chart object it is given), so a second
    render of the same Chart object can silently lack sub-charts.  That same
    mutation is why the CRDs are read after rendering: they are then the CRDs
    of the chart and its *enabled* sub-charts, which is what an install
    applies (read before rendering, disabled sub-charts' CRDs are listed)."""
    try:
        values = None if values_file is None else load_values(values_file)
        with Chart.load(case_dir) as chart:
            manifests = chart.render(values, name=RELEASE_NAME, namespace=NAMESPACE)
            crds = [
                {"name": c["name"], "filename": c.get("filename", ""), "data": c["data"]}
                for c in chart.crds
            ]
        return {"ok": {"manifests": manifests, "crds": crds}}
    except (HelmError, ValueError, TypeError, yaml.YAMLError) as exc:
        return {"err": str(exc)}


def render_case(case_dir: Path) -> dict[str, dict]:
    return {
        f"{case_dir.name}/{variant}": render_variant(case_dir, values_file)
        for variant, values_file in variants(case_dir)
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    charts_dir, out_path = Path(argv[1]), Path(argv[2])
    if not charts_dir.is_dir():
        _die(f"{charts_dir} is not a directory")
    results: dict[str, dict] = {}
    for case_dir in sorted(p for p in charts_dir.iterdir() if p.is_dir()):
        results.update(render_case(case_dir))
    out_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    ok = sum(1 for r in results.values() if "ok" in r)
    print(f"{len(results)} variants: {ok} ok, {len(results) - ok} err", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

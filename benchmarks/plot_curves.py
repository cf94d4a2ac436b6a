"""Issue 11's targets against training time: the ``--curve`` rows of gan_ablation.json, drawn.

    python benchmarks/plot_curves.py                         # every run with a curve
    python benchmarks/plot_curves.py --runs preset_curve --out book/_static/time_to_target.png

Three panels against minutes of training (the whole run: text encoder, data and steps;
measuring left out): the geometry check (test and held-out prompts) and the strict
share; off-palette lit pixels (pooled, and the worst colour); shape fit against renders
(the worst shape). The targets are drawn as dotted lines, ten minutes as a dashed one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "gan_ablation.json"


def series(row):
    """Minutes and the measures of one run's curve."""
    c = row["curve"]
    return {"minutes": [p["seconds"] / 60 for p in c],
            "test": [p["test"]["fidelity"] for p in c],
            "held-out": [p["compositional"]["fidelity"] for p in c],
            "strict": [p["test"]["strict"] for p in c],
            "off-palette": [100 * p["test"]["off_palette"] for p in c],
            "worst colour": [100 * p["worst_color"] for p in c],
            "worst shape fit": [p["worst_fit"] for p in c]}


# the cpu preset of "gan-labels" that rows without a "config" overrode (an older lr)
OLD_PRESET = {"width": 40, "batch_size": 64, "lr": 2e-4}


def describe(row) -> str:
    """'width 32, batch 32, lr 0.0008': the run's own config, or the old preset overridden."""
    c = row.get("config") or {**OLD_PRESET, **row["overrides"]}
    return f"width {c['width']}, batch {c['batch_size']}, lr {c['lr']:g}"


def plot(rows: dict, out: Path):
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for (name, row), color in zip(rows.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        s = series(row)
        label = describe(row)
        axes[0].plot(s["minutes"], s["test"], "-", color=color, label=f"{label}: test")
        axes[0].plot(s["minutes"], s["held-out"], "--", color=color, label=f"{label}: held-out")
        axes[0].plot(s["minutes"], s["strict"], ":", color=color, label=f"{label}: strict")
        axes[1].plot(s["minutes"], s["off-palette"], "-", color=color, label=f"{label}: all colours")
        axes[1].plot(s["minutes"], s["worst colour"], "--", color=color, label=f"{label}: worst colour")
        axes[2].plot(s["minutes"], s["worst shape fit"], "-", color=color, label=label)
    axes[0].axhline(0.97, color="k", ls=":", lw=0.8)
    axes[0].axhline(0.95, color="k", ls=":", lw=0.8)
    axes[0].set(ylabel="share of prompts", title="geometry check (strict: dotted)", ylim=(0, 1.02))
    axes[1].axhline(2.0, color="k", ls=":", lw=0.8)
    axes[1].set(ylabel="% of lit pixels", title="off-palette (target < 2 % every colour)",
                yscale="log")
    axes[2].axhline(0.95, color="k", ls=":", lw=0.8)
    axes[2].set(ylabel="fit ÷ renders' fit", title="shape fit, worst shape (target ≥ 0.95)",
                ylim=(0.6, 1.0))
    for ax in axes:
        ax.axvline(10, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("minutes of training (this machine)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="*", default=None, help="names in gan_ablation.json (default: all with a curve)")
    ap.add_argument("--out", type=Path, default=Path("time_to_target.png"))
    args = ap.parse_args(argv)
    saved = json.loads(RESULTS.read_text())
    names = args.runs or [k for k, v in saved.items() if "curve" in v]
    missing = [n for n in names if "curve" not in saved.get(n, {})]
    if missing or not names:
        raise SystemExit(f"no curve for {missing or 'any run'}: run gan_ablation.py --curve 1 first")
    plot({n: saved[n] for n in names}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The accuracy-against-energy figure of a comparison, fit for a paper.

One panel per trainer and data set (a sweep that mixes networks gets one panel each); every point is a sweep
point (its seeds' mean, with error bars of the 95 % interval when it has several seeds) labelled by its swept
values, or by a number with a key beside the panel when there are too many to label in place; the Pareto
front joins the points no other beats; each baseline is a marker with a dashed line at its energy and a dotted
one at its accuracy. Points with a diverged or unfinished run are drawn apart, in a strip under the panel
with its own energy axis, so that they never stretch the axes of the others. The legend sits outside the axes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

FORMATS = ("png", "pdf", "svg")
LABELLED_IN_PLACE = 8  # up to this many points per panel carry their swept values next to them
_MARKERS = "s^Dvp*"


def _panel_key(params: dict[str, str]) -> tuple[str, str]:
    return params.get("trainer.name", ""), params.get("dataset.name", "")


def _label(values: dict[str, str], short: Any) -> str:
    return ", ".join(f"{short(k)}={v}" for k, v in values.items())


def figure(comparison: Any) -> Any:
    """The figure of ``comparison`` (a :class:`memtech.compare.Comparison`); the caller closes it."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and safe inside sweep workers
    import matplotlib.pyplot as plt

    rows, points = comparison.rows, comparison.points
    panels: dict[tuple[str, str], list[int]] = {}
    for index, point in enumerate(points):
        panels.setdefault(_panel_key(rows[point.rows[0]].params), []).append(index)
    keyed = [sum(1 for i in indices if _drawn(points[i])) > LABELLED_IN_PLACE for indices in panels.values()]
    apart = any(not _drawn(points[i]) for indices in panels.values() for i in indices)
    # per panel: the plot and, when its points are numbered, a column for their key; a strip row under the
    # plots for the points drawn apart
    widths = [r for k in keyed for r in ((5.0, 2.6) if k else (5.0, 0.01))]
    fig = plt.figure(figsize=(sum(widths) * 1.15 + 0.6, 5.6 if apart else 4.9), layout="constrained")
    grid = fig.add_gridspec(2 if apart else 1, len(widths), width_ratios=widths,
                            height_ratios=(6, 1) if apart else None)
    handles: dict[str, Any] = {}
    for n, (key, indices) in enumerate(panels.items()):
        ax = fig.add_subplot(grid[0, 2 * n])
        key_ax = fig.add_subplot(grid[0, 2 * n + 1])
        key_ax.axis("off")
        strip = fig.add_subplot(grid[1, 2 * n]) if apart else None
        _draw_panel(ax, key_ax, strip, comparison, indices, handles)
        trainer, dataset = key
        network = f"{trainer} on {dataset}" if trainer and dataset else ""
        ax.set_title(comparison.title + (f"\n{network}" if network else ""), fontsize=10)
    # off the data: the legend under the panels
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center", ncols=min(3, len(handles)),
               fontsize=8)
    return fig


def _drawn(point: Any) -> bool:
    """Drawn in the panel itself: every run finished without diverging, and the means exist."""
    return point.usable and math.isfinite(point.accuracy.mean) and math.isfinite(point.energy_j.mean)


def _draw_panel(ax: Any, key_ax: Any, strip: Any, comparison: Any, indices: list[int], handles: dict[str, Any]) -> None:
    from matplotlib.ticker import EngFormatter

    from memtech.compare import _short

    points, swept = comparison.points, [k for k in comparison.swept if k != "seed"]

    def short(key: str) -> str:
        return _short(key, swept)

    drawn = [i for i in indices if _drawn(points[i])]
    apart = [i for i in indices if i not in drawn]
    x = [points[i].energy_j.mean for i in drawn]
    y = [points[i].accuracy.mean for i in drawn]
    xerr = [points[i].energy_j.half_width if math.isfinite(points[i].energy_j.half_width) else 0.0 for i in drawn]
    yerr = [points[i].accuracy.half_width if math.isfinite(points[i].accuracy.half_width) else 0.0 for i in drawn]
    seeded = any(points[i].n > 1 for i in drawn)
    label = "sweep points (mean ± 95 % CI over seeds)" if seeded else "runs"
    if drawn:
        handles[label] = ax.errorbar(x, y, xerr=xerr if seeded else None, yerr=yerr if seeded else None, fmt="o",
                                     color="0.45", ecolor="0.75", elinewidth=1, capsize=2, markersize=4)
    front = sorted((i for i in drawn if i in comparison.point_front), key=lambda i: points[i].energy_j.mean)
    if front:
        (line,) = ax.plot([points[i].energy_j.mean for i in front], [points[i].accuracy.mean for i in front], "o-",
                          color="C3", markersize=5)
        handles["Pareto front (of the means)"] = line
    key_lines = []
    in_place = len(drawn) <= LABELLED_IN_PLACE
    for number, i in enumerate(sorted(drawn, key=lambda i: points[i].energy_j.mean), start=1):
        text = _label(points[i].values, short)
        if not text:
            continue
        where = (points[i].energy_j.mean, points[i].accuracy.mean)
        if in_place:  # neighbours often sit close: stagger their labels
            ax.annotate(text, where, fontsize=6.5, xytext=(4, -10 - 8 * (number % 4)), textcoords="offset points")
        else:  # numbered from the least energy up, with the key beside the panel
            ax.annotate(str(number), where, fontsize=6, xytext=(3, 3), textcoords="offset points")
            key_lines.append(f"{number:>2}: {text}")
    energies = list(x)
    for n, baseline in enumerate(comparison.baselines):
        e, a = baseline.run.energy_j, baseline.run.accuracy
        serves = any(baseline.serves(comparison.rows[r]) for i in indices for r in points[i].rows)
        if not (serves and math.isfinite(e) and math.isfinite(a)):
            continue
        color = f"C{n % 8}" if n % 8 != 3 else "C9"  # C3 is the front's colour
        ax.axvline(e, color=color, linestyle="--", linewidth=1, alpha=0.7)  # left of it: saves energy
        ax.axhline(a, color=color, linestyle=":", linewidth=1, alpha=0.5)  # above it: no accuracy cost
        handles[f"baseline {baseline.name} ({baseline.run.run_id[:8]})"] = ax.scatter(
            [e], [a], marker=_MARKERS[n % len(_MARKERS)], s=60, color=color, edgecolor="black", zorder=3)
        energies.append(e)
    if energies and min(energies) > 0 and max(energies) / min(energies) > 20:
        ax.set_xscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(unit=""))  # 150 µ (J on the label), not 0.000150
    ax.set_xlabel("energy of a training run [J]")
    ax.set_ylabel("test accuracy [fraction of the test set]")
    ax.grid(alpha=0.3)
    if key_lines:
        key_ax.text(0.0, 1.0, "\n".join(key_lines), transform=key_ax.transAxes, fontsize=6, va="top",
                    family="monospace")
    if strip is not None:
        _draw_apart(strip, points, apart, short, handles)


def _draw_apart(strip: Any, points: Sequence[Any], apart: list[int], short: Any, handles: dict[str, Any]) -> None:
    """Points with a diverged or unfinished run, on an energy axis of their own under the panel."""
    from matplotlib.ticker import EngFormatter

    for i in apart:
        point = points[i]
        e = point.energy_j.mean if math.isfinite(point.energy_j.mean) else 0.0
        handles["diverged or unfinished (drawn apart)"] = strip.scatter([e], [0], marker="x", color="C3")
        strip.annotate(_label(point.values, short), (e, 0), fontsize=5.5, xytext=(3, 3), textcoords="offset points")
    strip.set_yticks([])
    strip.xaxis.set_major_formatter(EngFormatter(unit=""))
    strip.set_xlabel("points with a diverged or unfinished run: energy [J] (mean of their finished runs)", fontsize=7)
    strip.tick_params(labelsize=7)
    if not apart:
        strip.axis("off")


def save(comparison: Any, path: Path, dpi: int = 150, log_to: tuple[Any, str] | None = None) -> Path:
    """Write the figure; its format follows the file's suffix (png, pdf or svg). ``log_to`` (an MLflow client
    and a run id) also logs it to that run with MLflow's ``log_figure``, as ``compare/<file name>``."""
    return _write(figure(comparison), path, dpi, log_to, "compare")


def _write(fig: Any, path: Path, dpi: int, log_to: tuple[Any, str] | None, folder: str) -> Path:
    """Save ``fig`` to ``path`` and, with ``log_to`` (an MLflow client and a run id), log it to that run as
    ``<folder>/<file name>`` through MLflow's ``log_figure``; the figure is closed either way."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    save_kwargs = {"dpi": dpi, "bbox_inches": "tight"}  # keys and strips sit outside the axes
    try:
        fig.savefig(path, **save_kwargs)
        if log_to is not None:
            client, run_id = log_to
            client.log_figure(run_id, fig, f"{folder}/{path.name}", save_kwargs=save_kwargs)
    finally:
        plt.close(fig)
    return path


def save_threshold(search: Any, path: Path, log_to: tuple[Any, str] | None = None, dpi: int = 150) -> Path:
    """Mean test accuracy (95 % interval over the seeds) of every probe of a threshold search against the knob
    on a log scale, with the baseline, the accuracy the criterion asks for and the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probes = sorted(search.probes, key=lambda p: p.value)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for passed, marker, label in ((True, "o", "passes"), (False, "s", "fails")):
        chosen = [p for p in probes if p.passed == passed]
        if chosen:
            errors = [p.accuracy.half_width if math.isfinite(p.accuracy.half_width) else 0.0 for p in chosen]
            ax.errorbar([p.value for p in chosen], [p.accuracy.mean for p in chosen], yerr=errors, fmt=marker,
                        capsize=3, label=f"{label} (mean, 95 % CI over {search.criterion.seeds} seeds)")
    for p in probes:
        if p.diverged:
            ax.annotate(f"{p.diverged}/{search.criterion.seeds} diverged", (p.value, p.accuracy.mean), fontsize=6,
                        xytext=(0, 8), textcoords="offset points", rotation=45)
    ax.axhline(search.baseline.mean, color="0.3", lw=1, label=f"all-SRAM baseline {search.baseline.mean:.4f}")
    ax.axhline(search.baseline.mean - search.criterion.delta, color="0.3", lw=1, ls="--",
               label=f"baseline - {search.criterion.delta:g}")
    if search.passing is not None:
        ax.axvline(search.passing, color="C3", lw=1.2, label=f"threshold {search.passing:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)  # accuracy is a fraction: an interval of mixed diverged seeds must not stretch it
    ax.set_xlabel(f"{search.knob} (log scale)")
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.set_title(f"threshold for convergence of {search.knob}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _write(fig, path, dpi, log_to, "threshold")


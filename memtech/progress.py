"""What ``memtech-run`` tells the person at the terminal: per-epoch progress and the closing summary.

Progress is shown only on an interactive terminal and never in sweep workers, so logs and sweeps stay
quiet; the summary is printed once per run.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, TextIO

from memtech.errors import ConfigError

PROGRESS_SETTINGS = ("auto", True, False)


def progress_enabled(setting: Any, multirun: bool, stream: TextIO | None = None) -> bool:
    """``progress: auto`` shows progress on an interactive terminal outside sweeps; ``true``/``false`` force it."""
    if setting not in PROGRESS_SETTINGS:
        raise ConfigError("progress", setting, "auto, true or false")
    if setting == "auto":
        stream = stream or sys.stderr
        return not multirun and bool(getattr(stream, "isatty", lambda: False)())
    return bool(setting)


class EpochProgress:
    """One line, rewritten in place each epoch: epoch, phase, accuracy and energy so far."""

    def __init__(self, enabled: bool, stream: TextIO | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._line_open = False

    def __call__(self, record: Any, total_epochs: int) -> None:
        if not self.enabled:
            return
        line = (
            f"epoch {record.epoch:>{len(str(total_epochs))}}/{total_epochs}  phase {record.phase:<8}  "
            f"accuracy {record.test_accuracy:.4f}  loss {record.train_loss:.4f}  energy {record.energy_j:.4g} J"
        )
        end = "\n" if record.epoch >= total_epochs else ""
        self.stream.write("\r" + line + end)
        self.stream.flush()
        self._line_open = not end

    def close(self) -> None:
        """End a line left open (a run that stopped early, e.g. diverged)."""
        if self.enabled and self._line_open:
            self._line_open = False
            self.stream.write("\n")
            self.stream.flush()


def _ratio(value: float, reference: float | None) -> str:
    if reference is None or reference == 0:
        return ""
    return f"  ({value / reference:.3f}x the all-SRAM baseline)"


def format_summary(
    result: Any,
    name: str,
    baseline: Mapping[str, float] | None = None,
    where: str | None = None,
) -> str:
    """A short report: accuracy, energy per memory and phase, the all-SRAM comparison and where to look."""
    metrics = result.metrics()
    lines = [f"memtech run {name!r}: {result.iterations} iterations" + ("  DIVERGED" if result.diverged else "")]
    base_acc = baseline.get("test_accuracy") if baseline else None
    acc_note = f"  (all-SRAM baseline {base_acc:.4f})" if base_acc is not None else ""
    lines.append(f"  test accuracy   {result.final_test_accuracy:.4f}{acc_note}")
    lines.append(f"  energy          {metrics['energy_j']:.4g} J{_ratio(metrics['energy_j'], baseline.get('energy_j') if baseline else None)}")
    lines.append(
        f"  memory latency  {metrics['memory_latency_s']:.4g} s   simulated time {metrics['sim_time_s']:.4g} s"
    )
    lines.append(f"  bit flips       {int(metrics['flips'])}   detected errors {int(metrics['errors_detected'])}")
    lines.append("  energy by memory and phase:")
    for row in result.accounting:
        if row.bits_read or row.bits_written or row.energy_j:
            lines.append(
                f"    {row.memory:<10} {row.phase:<10} {row.technology:<10} {row.energy_j:.4g} J"
                f"  (dynamic {row.dynamic_energy_j:.3g}, static {row.static_energy_j:.3g})  flips {row.total_flips}"
            )
    if baseline is None:
        lines.append("  no all-SRAM baseline in the store yet: `memtech-run experiment=sram_baseline` records one")
    if where:
        lines.append(where)
    return "\n".join(lines)

"""Divergence is recorded at the step it happens; a phase that gets no iteration is skipped."""

from __future__ import annotations

import math

from memtech.experiment import run_experiment

ROLES = ("weights", "biases", "activations", "optimizer")


def _config(first_fraction: float, ber: float, epochs: int = 1, learning_rate: float = 0.1) -> dict:
    return {
        "seed": 0,
        "memories": {
            "mram": {"technology": "stt_mram", "ber": ber, "write_error_mode": "any"},
            "sram": {"technology": "sram"},
        },
        "schedule": {"first_fraction": first_fraction, "phases": [
            {"name": "mram", "placement": {"weights": "mram", "biases": "mram", "activations": "sram", "optimizer": "sram"}},
            {"name": "sram", "placement": {role: "sram" for role in ROLES}},
        ]},
        "trainer": {"name": "mlp", "hidden": [16], "epochs": epochs, "batch_size": 32, "learning_rate": learning_rate},
        "dataset": {"name": "digits"},
    }


def test_divergence_stops_training_at_the_first_non_finite_step():
    result = run_experiment(_config(0.999, 1e-2))
    assert result.diverged
    # 43 batches per epoch: a run this broken goes non-finite within the first few steps, and stops there.
    assert result.diverged_at_iteration == result.iterations < 43
    assert len(result.epochs) == 1 and not math.isfinite(result.epochs[0].train_loss)
    written = sum(r.bits_written for r in result.accounting if r.memory == "mram")
    assert 0 < written


def test_a_phase_rounded_to_no_iteration_is_skipped():
    # 43 iterations x 0.01 rounds to 0: the MRAM phase never trains, so MRAM is never written.
    result = run_experiment(_config(0.01, 1e-2))
    assert not result.diverged
    assert all(r.memory != "mram" for r in result.accounting), [(r.memory, r.phase) for r in result.accounting]
    assert {r.phase for r in result.accounting} == {"sram"}

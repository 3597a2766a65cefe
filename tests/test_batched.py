"""Replicas in one batched job: each replica's result equals the same job run alone, bit for bit on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import digits_config

from memtech import ConfigError
from memtech.experiment import batch_key, run_batch, run_experiment


def _same_result(batched, alone):
    """Every recorded number equal: metrics, loss curves, energy and flips per memory and phase, stored values."""
    assert json.dumps(batched.to_json(), sort_keys=True) == json.dumps(alone.to_json(), sort_keys=True)
    assert batched.values.keys() == alone.values.keys()
    for role in alone.values:
        np.testing.assert_array_equal(batched.values[role], alone.values[role])


def _mixed_batch():
    """Seeds, BERs, protections, first fractions and schedules all differ; one replica diverges early."""
    return [
        digits_config({"name": "mram_then_sram", "first_fraction": 0.8}, mram={"ber": 1e-4}, seed=0, epochs=3),
        digits_config({"name": "mram_then_sram", "first_fraction": 0.2}, mram={"ber": 1e-5, "protection": "parity"},
                      seed=1, epochs=3),
        digits_config("all_sram", seed=2, epochs=3),
        # every written bit may flip at 3e-2: the exponents go and the run diverges within its first epoch
        digits_config("all_mram", mram={"ber": 3e-2, "write_error_mode": "any"}, seed=3, epochs=3),
        digits_config({"name": "mram_then_sram", "first_fraction": 0.5}, mram={"ber": 1e-4, "protection": "secded"},
                      seed=0, epochs=3),
    ]


def test_every_replica_of_a_mixed_batch_equals_its_run_alone(registry, quiet_overflow):
    configs = _mixed_batch()
    batched = run_batch(configs, registry=registry)
    alone = [run_experiment(config, registry=registry) for config in configs]
    assert [r.diverged for r in alone] == [False, False, False, True, False]  # the batch holds a diverged run
    assert alone[3].diverged_at_iteration < 45  # within its first epoch of 45 steps, so the others go on alone
    assert len(alone[0].epochs) == 3 and sum(row.total_flips for row in alone[0].accounting) > 0
    for one_of_batch, one_alone in zip(batched, alone):
        _same_result(one_of_batch, one_alone)


def test_a_cnn_with_adam_in_a_batch_equals_its_runs_alone(registry):
    layers = [{"type": "conv", "channels": 3, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "maxpool"},
              {"type": "flatten"}, {"type": "dense", "units": 10}]
    trainer = {"name": "cnn", "layers": layers, "optimizer": "adam", "learning_rate": 0.01, "epochs": 1}
    configs = []
    for seed, ber in ((0, 1e-4), (1, 1e-5), (0, 1e-4)):
        config = digits_config("all_mram", mram={"ber": ber}, seed=seed)
        config["trainer"] = dict(trainer)
        configs.append(config)
    batched = run_batch(configs, registry=registry)
    for one_of_batch, config in zip(batched, configs):
        _same_result(one_of_batch, run_experiment(config, registry=registry))
    # the same job twice in a batch: the same result twice (faults keyed by seed and names, not position)
    _same_result(batched[2], batched[0])


def test_what_shapes_the_arrays_must_be_shared(registry):
    configs = [digits_config("all_sram", epochs=2), digits_config("all_sram", epochs=3)]
    assert batch_key(configs[0]) != batch_key(configs[1])
    with pytest.raises(ConfigError, match=r"trainer.*the same trainer in every replica"):
        run_batch(configs, registry=registry)
    # seeds, memories and schedules are each replica's own
    own = [digits_config("all_sram", seed=1), digits_config("all_mram", mram={"ber": 1e-6}, seed=2)]
    assert batch_key(own[0]) == batch_key(own[1])


def _sweep(tmp_path, launcher, *extra):
    """Run a 4-job digits sweep through memtech-run; returns {overrides: MLflow run} of its child runs."""
    import subprocess
    import sys
    from pathlib import Path

    from memtech import tracking

    uri = f"sqlite:///{tmp_path}/{launcher}.db"
    command = [str(Path(sys.executable).parent / "memtech-run"), "-m", f"hydra/launcher={launcher}",
               "trainer.epochs=2", "trainer.hidden=[8]", "memories.mram.ber=1e-5,1e-3", "seed=0,1",
               f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path}/{launcher}", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={"MEMTECH_RUNS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    client = tracking.client(uri)
    runs = client.search_runs([client.get_experiment_by_name("memtech").experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId")]
    artifacts = {r.info.run_id: sorted(a.path for a in client.list_artifacts(r.info.run_id)) for r in children}
    return {(r.data.params["memories.mram.ber"], r.data.params["seed"]): (r, artifacts[r.info.run_id])
            for r in children}, done.stdout


def test_the_batched_launcher_records_what_the_joblib_launcher_records(tmp_path):
    batched, out = _sweep(tmp_path, "batched", "hydra.launcher.max_replicas=2")
    assert "4 jobs in 2 batch(es) of up to 2 replicas" in out
    joblib, _ = _sweep(tmp_path, "joblib_all_cores")
    # every job keeps its own seed and BER (one composition per job, never another job's values)
    assert set(batched) == set(joblib) == {(ber, seed) for ber in ("1e-05", "0.001") for seed in ("0", "1")}
    for name, (run, artifacts) in batched.items():
        alone, alone_artifacts = joblib[name]
        assert run.info.status == alone.info.status == "FINISHED"
        assert run.data.metrics == alone.data.metrics  # the same numbers: the launcher changes cost, not results
        differs = {"tracking.uri"}  # each sweep has its own store
        assert ({k: v for k, v in run.data.params.items() if k not in differs}
                == {k: v for k, v in alone.data.params.items() if k not in differs})
        assert artifacts == alone_artifacts
        assert run.data.tags["memtech.batch"].endswith("2 replicas") and "memtech.batch" not in alone.data.tags
    for number in range(4):  # Hydra's output folder per job, as every launcher gives
        folder = tmp_path / "batched" / str(number)
        assert (folder / ".hydra" / "overrides.yaml").is_file() and (folder / "result.json").is_file()

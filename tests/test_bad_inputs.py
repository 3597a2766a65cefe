"""Every bad input is a clear error before any work and before any run is recorded: a non-zero exit, one
message naming the key, the value and what was expected, no traceback, and nothing new in the store.

Each case runs the real entry point (``memtech-run`` through Hydra, or ``memtech``) in this process."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from memtech import backend, cli, tracking

# (entry point and arguments, a fragment the message must contain); {d} is the folder of bad files below
RUN_CASES = [
    (["memories.mram.ber=1.5"], "memories.mram.ber must be a number in [0, 1], got 1.5"),
    (["memories.mram.ber=-1"], "memories.mram.ber must be a number in [0, 1], got -1.0"),
    (["memories.mram.ber=abc"], "memories.mram.ber must be a number in [0, 1], got 'abc'"),
    (["memories.mram.technology=flash"], "memories.mram.technology must be one of the installed memory plugins"),
    (["+memories.mram.bogus_knob=3"], "memories.mram.bogus_knob must be a known key"),
    (["schedule.first_fraction=1.2"], "schedule.first_fraction must be a number in (0, 1), got 1.2"),
    (["schedule.first_fraction=half"], "schedule.first_fraction must be a number in (0, 1), got 'half'"),
    (["schedule.phases.0.placement.weights=l3"], "schedule.phases[0].placement.weights must be the name of a configured memory"),
    (["schedule.phases=[]"], "schedule.phases must be a non-empty list of phases, got []"),
    (["trainer.epochs=0"], "trainer.epochs must be an integer >= 1, got 0"),
    (["trainer.epochs=2.5"], "trainer.epochs must be an integer, got 2.5"),
    (["trainer.epochs=1000000000"], "trainer.epochs must give at most 1e+09 training steps, got 1000000000 epochs x 43 batches"),
    (["trainer.batch_size=0"], "trainer.batch_size must be an integer >= 1, got 0"),
    (["trainer.hidden=[0]"], "trainer.hidden must be a list of positive integers (layer widths), got [0]"),
    (["trainer.hidden=[abc]"], "trainer.hidden must be a list of positive integers (layer widths), got ['abc']"),
    (["trainer.hidden=[100000000]"], "memories.mram.capacity_mb must hold the tensors placed there in phase 'mram'"),
    (["trainer.hidden=[300000,300000]", "memories.mram.capacity_mb=1e9", "memories.sram.capacity_mb=1e9"],
     "the network must fit in memory: 1 replica(s) x (weights 90,022,200,000"),
    (["trainer.learning_rate=-1"], "trainer.learning_rate must be a number > 0, got -1.0"),
    (["trainer.learning_rate=nan"], "trainer.learning_rate must be a finite number > 0, got nan"),
    (["trainer.optimizer=rmsprop"], "trainer.optimizer must be one of 'sgd', 'adam', got 'rmsprop'"),
    (["trainer.momentum=2"], "trainer.momentum must be a number in [0, 0.999], got 2.0"),
    (["trainer.adam_beta1=1.5"], "trainer.adam_beta1 must be a number in [0, 0.9999], got 1.5"),
    (["trainer=cnn", "trainer.layers=[{type: conv, channels: 8, kernel: 30}]"], "trainer.layers[0] must be a layer whose 30x30 kernel fits its input"),
    (["trainer=cnn", "trainer.layers=[{type: warp}]"], "trainer.layers[0].type must be one of conv, maxpool, avgpool, relu, flatten, dense, got 'warp'"),
    (["trainer=cnn", "trainer.layers=[{type: maxpool, size: 16}]"], "trainer.layers[0] must be a layer whose 16x16 window fits its input"),
    (["trainer=cnn", "trainer.input_padding=-1"], "trainer.input_padding must be an integer >= 0, got -1"),
    (["dataset.name=imagenet"], "dataset.name must be one of the installed dataset plugins"),
    (["dataset.test_fraction=1.5"], "dataset.test_fraction must be a number in (0, 0.9], got 1.5"),
    (["device=tpu"], "device must be one of cpu, gpu, auto, got 'tpu'"),
    (["seed=-1"], "seed must be a non-negative integer, got -1"),
    (["seed=1.5"], "seed must be a non-negative integer, got 1.5"),
    (["tracking.backend=wandb"], "tracking.backend must be one of 'mlflow', 'none', got 'wandb'"),
    (["tracking.log_model=yes"], "tracking.log_model must be true or false, got 'yes'"),
    (["progress=loud"], "progress must be auto, true or false, got 'loud'"),
    (["+unknown_top=1"], "unknown_top must be a known top-level key"),
    (["memories.mram.write_pulse_ns=0"], "memories.mram.write_pulse_ns must be a number > 0, got 0.0"),
    (["memories.mram.protection=foo"], "memories.mram.protection must be one of 'none', 'parity', 'secded', 'sanity', got 'foo'"),
    (["memories.mram.storage_format=float7"], "memories.mram.storage_format must be one of 'float32'"),
    (["memories.mram.capacity_mb=0.0001"], "memories.mram.capacity_mb must hold the tensors placed there"),
    (["memories.sram.supply_voltage_v=-1"], "memories.sram.supply_voltage_v must be a number > 0, got -1.0"),
    (["memories.sram.leakage_mw_per_mb=nan"], "memories.sram.leakage_mw_per_mb must be a finite number >= 0, got nan"),
    (["memories.sram.banks=0"], "memories.sram.banks must be an integer >= 1, got 0"),
    (["memory@memories.sram=dram", "memories.sram.refresh_interval_us=-1"], "memories.sram.refresh_interval_us must be a number > 0, got -1.0"),
    (["processor.compute_ns_per_mac=-1"], "processor.compute_ns_per_mac must be a number >= 0, got -1.0"),
    (["dataset=mnist", "dataset.path={d}/nowhere"], "dataset.path must be a folder holding the mnist files"),
    (["dataset=mnist", "dataset.path={d}/idx_short"], "must be an IDX images file with a 16-byte header, got 14 bytes"),
    (["dataset=mnist", "dataset.path={d}/idx_magic"], "must be an IDX images file (magic number 0x00000803), got magic 0x12345678"),
    (["dataset=fashion_mnist", "dataset.train_size=-1"], "dataset.train_size must be an integer >= 0, got -1"),
    (["dataset=npz"], "dataset.path must be a value (this key is mandatory)"),
    (["dataset=npz", "dataset.path={d}/nope.npz"], "(no such file)"),
    (["dataset=npz", "dataset.path={d}/garbage.npz"], "this file is not a zip archive"),
    (["dataset=npz", "dataset.path={d}/truncated.npz"], "this file is not a zip archive"),
    (["dataset=npz", "dataset.path={d}/labels_out.npz"], "got labels 20..29 with no sample of class 0, 1, 2"),
    (["dataset=npz", "dataset.path={d}/labels_float.npz"], "labels are integers, got y_train of dtype float64"),
    (["dataset=npz", "dataset.path={d}/nan.npz"], "a data set of finite values, got NaN or Inf in x_train"),
    (["dataset=npz", "dataset.path={d}/pixels255.npz"], "look like 0-255 pixels"),
    (["dataset=npz", "dataset.path={d}/len_mismatch.npz"], "one label per sample, got 100 samples in x and 50 labels in y"),
    (["dataset=npz", "dataset.path={d}/empty.npz"], "at least one train sample, got an empty train set"),
    (["dataset=npz", "dataset.path={d}/missing_keys.npz"], "an .npz with arrays x_train, y_train, x_test, y_test (or x, y), got ['a']"),
    (["plugins_dir={d}/nowhere"], "plugins_dir must be an existing folder of *.py plugin files"),
    (["plugins_dir={d}/plugin_exits", "plugins_strict=true"], 'Error loading plugin "exits"'),
    (["plugins_strict=maybe"], "plugins_strict must be true or false, got 'maybe'"),
    (["tracking.uri=sqlite:///{d}"], "is a folder, not an SQLite file"),
    (["tracking.uri=sqlite:///{d}/corrupt.db"], "is not a readable SQLite database"),
    (["-m", "seed=0,1", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs must be a non-zero integer"),
    (["-m", "seed=0,1", "hydra/launcher=batched", "hydra.launcher.max_replicas=0"], "hydra.launcher.max_replicas must be an integer >= 1"),
    (["-m", "memories.mram.ber=1e-5,2"], "1 of 2 sweep jobs have an invalid config; no job was started"),
]
if not backend.gpu_available():
    RUN_CASES.append((["device=gpu"], "device must be 'cpu' or 'auto' on this machine: CuPy"))

CLI_CASES = [
    (["predict", "{d}/garbage.npz", "{d}/ok.npz"], "model must be a model.npz as memtech-run saves it"),
    (["predict", "{d}/truncated.npz", "{d}/ok.npz"], "this file is not a zip archive"),
    (["predict", "{d}/ok.npz", "{d}/ok.npz"], "(it lacks model_json)"),
    (["predict", "--tracking-uri", "sqlite:///{d}/sweep.db", "{parent}", "{d}/ok.npz"], "this is a sweep's parent run: give one of its 1 job runs"),
    (["predict", "--tracking-uri", "sqlite:///{d}/sweep.db", "{child}", "{d}/ok.npz"], "has no model artifact"),
    (["predict", "{d}/model_folder", "{d}/labels_float.npz"], "y holding one whole-number class label per sample"),
    (["compare", "--tracking-uri", "sqlite:///{d}/corrupt.db"], "is not a readable SQLite database (file is not a database)"),
    (["compare", "--tracking-uri", "sqlite:///{d}/sweep.db", "nope"], "nope"),
    (["compare", "--dpi", "0", "--tracking-uri", "sqlite:///{d}/sweep.db"], "--dpi"),
    (["describe", "flash"], "memory must be a memory technology or conf/memory preset"),
    (["--strict-plugins", "plugins", "--plugins-dir", "{d}/plugin_exits"], 'Error loading plugin "exits"'),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, registry):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 64)).astype(np.float32), rng.integers(0, 10, 100)
    np.savez(d / "ok.npz", x=x, y=y)
    np.savez(d / "labels_out.npz", x=x, y=y + 20)
    np.savez(d / "labels_float.npz", x=x, y=y + 0.5)
    with_nan = x.copy()
    with_nan[3, 4] = np.nan
    np.savez(d / "nan.npz", x=with_nan, y=y)
    np.savez(d / "pixels255.npz", x=np.round(x * 255), y=y)
    np.savez(d / "len_mismatch.npz", x=x, y=y[:50])
    np.savez(d / "empty.npz", x=x[:0], y=y[:0])
    np.savez(d / "missing_keys.npz", a=x)
    (d / "garbage.npz").write_bytes(b"this is not a zip file at all")
    (d / "truncated.npz").write_bytes((d / "ok.npz").read_bytes()[:300])
    for folder, header in (("idx_short", b"\x00\x00\x08\x03" + b"\x00" * 10), ("idx_magic", b"\x12\x34\x56\x78" + b"\x00" * 100)):
        (d / folder).mkdir()
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            (d / folder / name).write_bytes(header)
    (d / "plugin_exits").mkdir()
    (d / "plugin_exits" / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (d / "corrupt.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    # a real model, to score the bad data with
    from memtech.experiment import run_experiment

    from conftest import digits_config

    run_experiment(digits_config(epochs=1, hidden=[8]), registry=registry).save(d / "model_folder")
    # a store holding a sweep's parent run and a job run that logged no model
    uri = f"sqlite:///{d}/sweep.db"
    parent = tracking.start_parent_run(uri, "memtech", "a sweep", {})
    child = tracking.client(uri).create_run(tracking.prepare_store(uri, "memtech"),
                                            tags={tracking.PARENT_ID_TAG: parent}).info.run_id
    return {"d": str(d), "parent": parent, "child": child}


def _fill(argument: str, values: dict[str, str]) -> str:
    for name, value in values.items():  # not str.format: Hydra's list and dict syntax has braces too
        argument = argument.replace("{" + name + "}", value)
    return argument


def _runs_in(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        return sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0


def _check(code, captured, fragment, runs_before, runs_after):
    output = captured.out + captured.err
    assert code not in (0, None), output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    assert fragment in output, output[-2000:]
    assert runs_after == runs_before, f"{runs_after - runs_before} run(s) recorded: {output[-1000:]}"


@pytest.mark.parametrize("arguments, fragment", RUN_CASES, ids=[" ".join(a) for a, _ in RUN_CASES])
def test_memtech_run_refuses_a_bad_input_before_any_work(arguments, fragment, bad_files, tmp_path, monkeypatch, capfd):
    from memtech.hydra_main import main

    store = tmp_path / "mlflow.db"
    arguments = [_fill(a, bad_files) for a in arguments]
    extra = [] if any(a.startswith("tracking.uri=") for a in arguments) else [f"tracking.uri=sqlite:///{store}"]
    monkeypatch.setenv("MEMTECH_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("MEMTECH_DATA_DIR", raising=False)
    monkeypatch.setattr(sys, "argv", ["memtech-run", *arguments, *extra, "trainer.epochs=1"]
                        if "trainer.epochs" not in " ".join(arguments) else ["memtech-run", *arguments, *extra])
    with pytest.raises(SystemExit) as exit_:
        main()
    _check(exit_.value.code, capfd.readouterr(), fragment, 0, _runs_in(store))


@pytest.mark.parametrize("arguments, fragment", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_memtech_refuses_a_bad_input_with_a_clear_error(arguments, fragment, bad_files, tmp_path, monkeypatch, capfd):
    store = Path(bad_files["d"]) / "sweep.db"
    before = _runs_in(store)
    monkeypatch.setenv("MEMTECH_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("MEMTECH_STRICT_PLUGINS", raising=False)
    code = cli.main([_fill(a, bad_files) for a in arguments])
    os.environ.pop("MEMTECH_STRICT_PLUGINS", None)  # set by --strict-plugins for the rest of the process
    _check(code, capfd.readouterr(), fragment, before, _runs_in(store))


def test_the_enumeration_covers_at_least_fifty_bad_inputs():
    assert len(RUN_CASES) + len(CLI_CASES) >= 50

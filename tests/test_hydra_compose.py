"""A sweep's jobs composed once: jobs derived from the first composition equal Hydra's full composition."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

import memtech.hydra_main  # noqa: F401 - registers the launcher names memtech's config uses
from memtech.hydra_compose import compose_each_job_once, derive_job

JOBS = [
    ["memories.mram.ber=1e-08", "schedule.first_fraction=0.2", "seed=0"],
    ["memories.mram.ber=0.001", "schedule.first_fraction=0.95", "seed=4"],  # derived: values only
    ["memories.mram.ber=1e-05", "schedule.first_fraction=0.2", "seed=0"],
    ["memories.mram.ber=1e-05", "schedule.first_fraction=0.2", "seed=0", "trainer.hidden=[8]"],  # another shape
    ["memory@memories.mram=stt_mram_standard", "schedule.first_fraction=0.4", "seed=1"],  # a group choice
    ["memories.mram.ber=1e-04", "schedule=all_sram", "seed=2"],  # a group as a plain key
    ["memories.mram.ber=1e-04", "schedule.first_fraction=0.6", "seed=2", "hydra.job.chdir=false"],
]


def _plain(config):
    return OmegaConf.to_container(config, resolve=False)


def test_derived_jobs_equal_hydras_own_composition(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEMTECH_RUNS_DIR", str(tmp_path))
    with initialize_config_module(config_module="memtech_conf", version_base="1.3"):
        loader = GlobalHydra.instance().hydra.config_loader
        master = compose("config", overrides=["experiment=patent_grid"], return_hydra_config=True)
        template = loader.load_sweep_config(master, list(JOBS[0]))
        composed = [_plain(loader.load_sweep_config(master, list(job))) for job in JOBS]
        parse = OverridesParser.create().parse_overrides
        # which jobs take the fast path: values only; a list, group choices and hydra settings are composed
        derived = [derive_job(parse(JOBS[0]), template, parse(job)) is not None for job in JOBS]
        assert derived == [True, True, True, False, False, False, False]
        compose_each_job_once(loader)
        once = [_plain(loader.load_sweep_config(master, list(job))) for job in JOBS]
        again = _plain(loader.load_sweep_config(master, list(JOBS[1])))
    for job, full, fast in zip(JOBS, composed, once):
        assert fast == full, job
    assert again == composed[1]
    assert {c["seed"] for c in once} == {0, 4, 1, 2} and once[1]["memories"]["mram"]["ber"] == 0.001
    assert once[1]["hydra"]["overrides"]["task"] == JOBS[1]

"""What makes two jobs the same job for ``resume=true``, and two command lines the same sweep."""

from __future__ import annotations

import pytest

from memtech import resume
from memtech.errors import ConfigError

JOB = {"seed": 0, "trainer": {"epochs": 3}, "memories": {"mram": {"ber": 1e-5}}, "tracking": {"uri": "a"},
       "progress": "auto", "resume": False, "name": "x", "description": "d"}


def test_the_config_hash_follows_what_changes_a_result_and_nothing_else():
    same = {**JOB, "tracking": {"uri": "b"}, "progress": False, "resume": True, "name": "y", "description": "e"}
    assert resume.config_hash(same) == resume.config_hash(JOB)
    assert resume.config_hash({**JOB, "seed": 1}) != resume.config_hash(JOB)
    assert resume.config_hash({**JOB, "memories": {"mram": {"ber": 1e-4}}}) != resume.config_hash(JOB)
    assert resume.config_hash(dict(reversed(list(JOB.items())))) == resume.config_hash(JOB)  # order of keys


def test_the_sweep_key_is_the_command_line_without_resume_in_any_order():
    key = resume.sweep_key(["seed=0,1", "trainer.epochs=3"], "memtech")
    assert resume.sweep_key(["trainer.epochs=3", "resume=true", "seed=0,1"], "memtech") == key
    assert resume.sweep_key(["seed=0,1,2", "trainer.epochs=3"], "memtech") != key
    assert resume.sweep_key(["seed=0,1", "trainer.epochs=3"], "other") != key


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_resume_must_be_a_boolean(value):
    with pytest.raises(ConfigError, match="resume"):
        resume.resume_requested({"resume": value})
    assert resume.resume_requested({"resume": True}) and not resume.resume_requested({})

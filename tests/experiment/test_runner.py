"""The runner's failure path and its lock, on a run that fails fast (its training file is missing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_run import raw_config

from srd_core.experiment.runner import experiment_lock, threads_per_job
from srd_core.experiment.spec import ExperimentError

SRD = str(Path(sys.executable).parent / "srd")


def test_a_failing_run_stops_the_experiment_in_one_line_exit_2(tmp_path):
    base = raw_config(tmp_path, "x")
    base["data"]["train"]["train"] = str(tmp_path / "missing.jsonl")
    base["teacher"], base["student"] = {"preset": "micro-teacher"}, {"preset": "micro-student"}  # no model dirs here:
    # validation checks model dirs before data files, and the data file is what this test makes fail
    spec = tmp_path / "fails.yaml"
    spec.write_text(
        yaml.safe_dump({"output_dir": str(tmp_path / "exp"), "base": base, "seeds": [0, 1], "variants": {"only": []}})
    )
    result = subprocess.run([SRD, "experiment", str(spec)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("srd: error: run only-seed0 failed; see ") and "missing.jsonl" in last, last
    # the progress line: done / running / left, no ETA before a run finished, the running run's phase
    assert "progress: 0 done, 1 running, 1 left; ETA once the first run has finished; only-seed0: prepare" in " ".join(
        result.stderr.split()
    ), result.stderr[-2000:]
    directory = tmp_path / "exp" / "fails"
    assert not list((directory / "done").glob("*")) if (directory / "done").exists() else True
    assert not (directory / "logs" / "only-seed1.log").exists()  # nothing new starts after a failure
    assert (directory / "experiment.jsonl").read_text() == ""


def test_a_second_experiment_on_the_same_dir_is_refused(tmp_path):
    with (
        experiment_lock(tmp_path),
        pytest.raises(ExperimentError, match="another `srd experiment` is running"),
        experiment_lock(tmp_path),
    ):
        pass


def test_threads_are_shared_between_jobs(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert (threads_per_job(1), threads_per_job(2), threads_per_job(8)) == (4, 2, 1)

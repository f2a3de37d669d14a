"""The parallel arms' display: one line per arm from its metrics.jsonl, the arms' output forwarded."""

from __future__ import annotations

import io
import json

from srd_core.pipeline import arm_progress
from srd_core.pipeline.arm_progress import ArmProgress, arm_line


def _metrics(run_dir, arm, rows, torn=""):
    (run_dir / arm).mkdir(parents=True, exist_ok=True)
    (run_dir / arm / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + torn)


def test_arm_line_reads_step_total_loss_and_eta(tmp_path):
    assert arm_line(tmp_path, "srd", 3.0, finished=False) == "srd: starting"
    _metrics(
        tmp_path,
        "srd",
        [
            {"step": 10, "total_steps": 40, "loss": 0.5, "wall_time": 5.0},
            {"step": 20, "total_steps": 40, "loss": 0.25, "wall_time": 10.0},
        ],
        torn='{"step": 2',
    )
    assert arm_line(tmp_path, "srd", 12.0, finished=False) == "srd: step 20/40, loss 0.250, ETA 10 s"
    assert arm_line(tmp_path, "srd", 95.0, finished=True) == "srd: done in 1.6 min"


def test_without_a_terminal_the_output_is_forwarded_and_the_status_printed_every_minute(tmp_path, monkeypatch):
    out = io.StringIO()
    _metrics(tmp_path, "srd", [{"step": 3, "total_steps": 6, "loss": 1.0, "wall_time": 3.0}])
    progress = ArmProgress(tmp_path, ["srd", "baseline"], stream=out)
    progress.forward(io.StringIO("srd step 3: held-out ROUGE-L 10.0\n"))
    progress.tick()  # less than a minute: no status line
    monkeypatch.setattr(arm_progress, "STATUS_EVERY_S", 0.0)
    progress.done("baseline", 4.0)
    progress.tick()
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "srd step 3: held-out ROUGE-L 10.0"
    assert lines[1] == "arms: srd: step 3/6, loss 1.000, ETA 3 s; baseline: done in 4 s"
    assert len(lines) == 2

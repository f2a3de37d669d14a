"""Entry point of srd-code-exec: the ``code_exec`` and ``math_answer`` metrics and ``srd code-exec doctor``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from srd_code_exec.doctor import checks, render
from srd_code_exec.metrics import CodeExec, MathAnswer
from srd_core import hookimpl


@hookimpl
def register_difficulty_metrics(register):
    register("code_exec", CodeExec)
    register("math_answer", MathAnswer)


@hookimpl
def register_commands(cli):
    @cli.group("code-exec")
    def code_exec_group() -> None:
        """The code_exec sandbox."""

    @code_exec_group.command("doctor")
    @click.option("--launcher", type=click.Choice(["auto", "bwrap", "builtin"]), default="auto", show_default=True)
    @click.option("--workers", type=int, default=2, show_default=True, help="Workers the memory sizing assumes.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.option(
        "--run-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Where a marker file that the sandbox must not see is planted, besides the temp dir "
        "(default: the current directory).",
    )
    def doctor(launcher: str, workers: int, as_json: bool, run_dir: Path | None) -> None:
        """Print which sandbox protections are active on this machine (exit 1 if an essential one is missing)."""
        metric = CodeExec(CodeExec.Params(launcher=launcher, workers=workers))
        rows = checks(metric.sandbox, run_dir)
        if as_json:
            click.echo(json.dumps([asdict(r) for r in rows], indent=2))
        else:
            click.echo(render(rows), nl=False)
        sys.exit(1 if any(r.essential and not r.active for r in rows) else 0)

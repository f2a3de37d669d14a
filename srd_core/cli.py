"""The ``srd`` command line. Every user error is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

import click

from srd_core.arms import arm_names
from srd_core.config import SRDConfig, dump_config, load_config
from srd_core.config_reference import render
from srd_core.errors import Interrupted, SRDError, Terminated
from srd_core.evaluation import sets
from srd_core.evaluation.sets import EVAL_SETS_FILE, run_eval_sets
from srd_core.experiment.cli import print_table, run_spec
from srd_core.models.presets import PRESETS
from srd_core.pipeline import single_phase
from srd_core.pipeline.commands import Command
from srd_core.pipeline.dry_run import plan_run
from srd_core.pipeline.lock import run_dir_lock
from srd_core.pipeline.phases import phase_names, table_commands
from srd_core.pipeline.planner import Planner, render_status, stale_records
from srd_core.pipeline.run import run_pipeline
from srd_core.pipeline.validation import validate_config
from srd_core.plugin_listing import describe_plugins, render_table
from srd_core.plugins import load_plugins, pm
from srd_core.rundir import RUN_DIR_MARKERS
from srd_core.signals import stop_on_signals, stop_signal


class SRDGroup(click.Group):
    """A click group that turns ``SRDError`` into one clean line and exit code 2, and interrupts into one
    line saying how to resume (exit 130 for SIGINT, 143 for SIGTERM), printed by the main process only when
    torchrun started several."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SRDError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            _fail(ctx, f"srd: error: {exc}", exc.exit_code)
        except Interrupted as exc:
            _fail(ctx, f"srd: {exc}", exc.exit_code, main_only=True)
        except (KeyboardInterrupt, Terminated) as exc:
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            _fail(
                ctx,
                f"srd: interrupted in {ctx.invoked_subcommand or 'srd'}; rerun the same command to resume",
                128 + signum,
                main_only=True,
            )
        except Exception:
            stopped = stop_signal()  # the interrupt, wrapped by a library into an error of its own
            if stopped is None or ctx.find_root().params.get("debug"):
                raise
            _fail(
                ctx,
                f"srd: interrupted in {ctx.invoked_subcommand or 'srd'}; rerun the same command to resume",
                128 + stopped,
                main_only=True,
            )


def _fail(ctx: click.Context, line: str, code: int, main_only: bool = False) -> None:
    """Print ``line`` on stderr, on a line of its own even when a progress bar was drawing, and exit.
    ``main_only``: a line every process of a torchrun would print alike comes from rank 0 only."""
    from tqdm import tqdm  # deferred: tqdm

    for bar in list(getattr(tqdm, "_instances", ())):  # bars left open by the failure: end their lines first
        bar.close()
    if not main_only or os.environ.get("RANK", "0") == "0":
        click.echo(line, err=True)
    ctx.exit(code)


@click.group(cls=SRDGroup)
@click.version_option(package_name="srd", prog_name="srd")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on the log.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also the libraries' own notices and progress bars (transformers, datasets, tokenizers), silenced by default.",
)
def cli(debug: bool, quiet: bool, verbose: bool) -> None:
    """srd: Selective Reflection Distillation for causal language models."""
    _quiet_libraries(verbose or debug)
    _configure_logging(logging.WARNING if quiet else logging.DEBUG if debug else logging.INFO)


QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TRL_EXPERIMENTAL_SILENCE": "1",
}
"""Environment that silences library chatter; set before those libraries load, and inherited by the
subprocesses srd starts (parallel arms, experiment runs)."""
VERBOSE_ENV = "SRD_VERBOSE"


def _quiet_libraries(verbose: bool) -> None:
    """Library chatter (weight-loading bars, tokenizer and advisory notices, absl's `Using default tokenizer.`)
    off unless ``-v``; ``-v`` is passed on to subprocesses through ``SRD_VERBOSE=1``."""
    if verbose or os.environ.get(VERBOSE_ENV) == "1":
        os.environ[VERBOSE_ENV] = "1"
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    logging.getLogger("absl").setLevel(logging.WARNING)  # rouge-score's tokenizer notice
    if "transformers" in sys.modules:  # already imported (an embedding process): switch it off directly
        from transformers.utils import logging as hf_logging  # deferred: transformers

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def _configure_logging(level: int) -> None:
    """Phase messages on stderr through rich (progress bars come from tqdm); stdout is for results."""
    from rich.console import Console  # deferred: rich
    from rich.logging import RichHandler  # deferred: rich

    root = logging.getLogger("srd_core")
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(RichHandler(console=Console(stderr=True), show_path=False, show_time=False, markup=False))
    root.setLevel(level)
    root.propagate = False  # libraries that call logging.basicConfig() must not print every line twice


SET_HELP = "Override a config value, e.g. train.lr=3e-4."
config_option = click.argument("config_file", type=click.Path(path_type=Path))
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)


def load_checked(
    config_file: Path,
    overrides: tuple[str, ...],
    files: bool = True,
    evaluates: bool | None = True,
    curates: bool = True,
):
    """The config, schema-validated and checked by ``validate_config`` before any command does work.

    ``evaluates`` / ``curates``: whether the command evaluates on data.eval (None: when train.eval_every
    is set) and curates, so that it needs an eval split and enough samples for the bins.
    """
    config = load_config(config_file, list(overrides))
    evaluates = bool(config.train.eval_every) if evaluates is None else evaluates
    return validate_config(config, config_file, files=files, evaluates=evaluates, curates=curates)


@cli.group("config")
def config_group() -> None:
    """Validate, show and describe config files."""


@config_group.command("validate")
@config_option
@set_option
@click.option(
    "--no-files",
    is_flag=True,
    help="Skip the checks that read the disk (data files, model "
    "directories, run dir): for a config written for another machine.",
)
def config_validate(config_file: Path, overrides: tuple[str, ...], no_files: bool) -> None:
    """Check CONFIG_FILE: schema, components' Params, schedules vs stages, presets, files, run dir."""
    load_checked(config_file, overrides, files=not no_files)
    click.echo(f"{config_file}: valid")


@config_group.command("show")
@config_option
@set_option
def config_show(config_file: Path, overrides: tuple[str, ...]) -> None:
    """Print CONFIG_FILE fully resolved, defaults included."""
    click.echo(dump_config(load_config(config_file, list(overrides))), nl=False)


@config_group.command("presets")
def config_presets() -> None:
    """List the built-in model presets (`teacher.preset` / `student.preset`) and their sizes."""
    click.echo(f"{'preset':<15} {'hidden':>6} {'layers':>6} {'heads':>5} {'mlp':>5} {'positions':>9}")
    for name, p in PRESETS.items():
        click.echo(
            f"{name:<15} {p.hidden_size:>6} {p.num_layers:>6} {p.num_heads:>5} {p.intermediate_size:>5} "
            f"{p.max_position_embeddings:>9}"
        )


@config_group.command("reference")
def config_reference() -> None:
    """Print the Markdown reference of every config field and built-in component param (docs/config-reference.md)."""
    click.echo(render(), nl=False)


@config_group.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    click.echo(json.dumps(SRDConfig.model_json_schema(), indent=2))


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
def plugins_command(as_json: bool, show_all: bool) -> None:
    """List installed plugins: distribution, version, hooks and components."""
    rows = describe_plugins(include_builtins=show_all)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        render_table(rows)


@cli.command("evaluate-sets")
@config_option
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="teacher|student|ARM",
    help="Model to evaluate: teacher, student or an arm of the run (repeatable; default: every model of "
    "the run that exists).",
)
@set_option
def evaluate_sets_command(config_file: Path, models: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """ROUGE-L x100 of the run's models on every `eval.sets` entry, printed as one table."""
    config = load_checked(config_file, overrides, evaluates=False, curates=False)  # eval.sets, not data.eval

    known = ("teacher", "student", *arm_names(config))
    for model in models:
        if model not in known:
            raise SRDError(f"--model {model!r}: expected one of {', '.join(known)}")
    with run_dir_lock(config.run.dir):
        rows = run_eval_sets(config, config.run.dir, list(models) or None)
    click.echo(sets.render_table(rows, list(config.eval.sets)), nl=False)
    click.echo(f"-> {config.run.dir / EVAL_SETS_FILE}")


@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
def report_command(run_dir: Path) -> None:
    """Write RUN_DIR/report.html (self-contained) and RUN_DIR/plots/*.png from a run's artifacts."""
    from srd_core.report.build import write_report  # deferred: matplotlib

    if not run_dir.is_dir():
        raise SRDError(f"{run_dir}: not a run directory (no such folder)")
    if not any((run_dir / name).exists() for name in RUN_DIR_MARKERS):
        raise SRDError(f"{run_dir}: not a run directory (none of {', '.join(RUN_DIR_MARKERS)})")
    with run_dir_lock(run_dir):
        problems = stale_records(run_dir)
        if problems:  # the report describes the artifacts on disk, so they must belong together
            raise SRDError(f"{run_dir}: {problems[0]}; rerun `srd run CONFIG` to bring the run dir up to date")
        click.echo(f"wrote {write_report(run_dir)}")


@cli.command("run")
@config_option
@set_option
@click.option("--dry-run", is_flag=True, help="Print the planned phases, stages, steps and tokens; run nothing.")
@click.option(
    "--num-samples", type=int, default=None, help="Dry run: training samples to assume when the data is not on disk."
)
@click.option(
    "--tokens-per-sample", type=float, default=None, help="Dry run: prompt + response tokens per sample to assume."
)
@click.option(
    "--num-processes",
    type=int,
    default=None,
    help="Dry run: processes (GPUs) the run will use (default: WORLD_SIZE or 1).",
)
def run_command(
    config_file: Path,
    overrides: tuple[str, ...],
    dry_run: bool,
    num_samples: int | None,
    tokens_per_sample: float | None,
    num_processes: int | None,
) -> None:
    """The whole method: prepare → reflect → curate → train SRD → train baseline → evaluate → report."""
    config = load_checked(config_file, overrides, files=not dry_run)  # a dry run may assume the data
    if dry_run:
        plan = plan_run(
            config,
            config.run.dir,
            num_samples=num_samples,
            tokens_per_sample=tokens_per_sample,
            num_processes=num_processes,
        )
        click.echo(plan.render(), nl=False)

        click.echo(f"\nphase status in {config.run.dir}\n{render_status(Planner(config, config.run.dir))}", nl=False)
        return

    with run_dir_lock(config.run.dir):
        result = run_pipeline(config)
    if os.environ.get("RANK", "0") == "0":
        for phase, seconds in result.phases.items():
            click.echo(f"{phase:>15}: {'skipped (complete)' if seconds is None else f'{seconds:.1f}s'}")
        for model, score in result.scores.items():
            click.echo(f"{model:>15}: ROUGE-L {score:.2f}")
        if result.report is not None:
            click.echo(f"report: {result.report}")


@cli.command("experiment")
@click.argument("spec_file", type=click.Path(path_type=Path), required=False)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Runs at a time (default: the file's jobs).")
@click.option(
    "--table",
    "table_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Print the markdown tables of an experiment dir (from its experiment.jsonl) and exit.",
)
def experiment_command(spec_file: Path | None, jobs: int | None, table_dir: Path | None) -> None:
    """Run every variant × seed of SPEC_FILE (resumable); write experiment.jsonl and experiment.html."""
    if table_dir is not None:
        click.echo(print_table(table_dir, spec_file), nl=False)
    elif spec_file is None:
        raise click.UsageError("give SPEC_FILE, or --table DIR")
    else:
        for line in run_spec(spec_file, jobs, phase_names):
            click.echo(line)


def phase_command(command: Command) -> click.Command:
    """The `srd` command of a single-phase ``Command`` of the phase table: CONFIG_FILE, its choice option,
    ``--set`` and ``--force``; it runs the phases through ``run_command`` under the run-dir lock."""
    params: list[click.Parameter] = [click.Argument(["config_file"], type=click.Path(path_type=Path))]
    if command.choice is not None:
        choice = command.choice
        params.append(
            click.Option(
                [choice.option, "value"],
                default=choice.default,
                show_default=True,
                metavar=choice.metavar,
                help=choice.help,
            )
        )
    params += [
        click.Option(["--set", "overrides"], multiple=True, metavar="KEY=VALUE", help=SET_HELP),
        click.Option(
            ["--force"],
            is_flag=True,
            help="Set the complete artifacts of this phase aside (.stale/<phase>/) and compute them again: train "
            "starts from step 0, curate redoes every arm's curation too. An attempt stopped midway resumes.",
        ),
    ]

    def callback(config_file: Path, overrides: tuple[str, ...], force: bool, value: str | None = None) -> None:
        config = load_checked(config_file, overrides, evaluates=command.evaluates, curates=command.curates)
        # a value that names nothing: one line, before the run dir is touched
        single_phase.picked_phases(command, config, value)
        with run_dir_lock(config.run.dir):
            lines = single_phase.run_command(command, config, value, force)
        for line in lines:
            click.echo(line)

    return click.Command(command.name, callback=callback, params=params, help=command.help)


for _command in table_commands():  # srd prepare | reflect | curate | train | evaluate, from the phase table
    cli.add_command(phase_command(_command))


def _register_plugin_commands() -> None:
    try:
        load_plugins()
    except SRDError as exc:
        click.echo(f"srd: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    pm.hook.register_commands(cli=cli)


def main() -> None:
    """Console-script entry point."""
    stop_on_signals()  # here, not in the group: a process embedding the CLI (tests) keeps its own handlers
    try:
        _register_plugin_commands()
    except (KeyboardInterrupt, Terminated, Exception):  # before any command started: nothing to resume
        signum = stop_signal()
        if signum is None:
            raise
        click.echo("srd: interrupted while loading plugins", err=True)
        sys.exit(128 + signum)
    cli(prog_name="srd")

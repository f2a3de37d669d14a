"""The ``srd`` command line. Every user error is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from srd_core.errors import SRDError


class SRDGroup(click.Group):
    """A click group that turns ``SRDError`` into one clean line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SRDError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"srd: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=SRDGroup)
@click.version_option(package_name="srd", prog_name="srd")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """srd: Selective Reflection Distillation for causal language models."""


config_option = click.argument("config_file", type=click.Path(path_type=Path))
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. train.lr=3e-4."
)


@cli.group("config")
def config_group() -> None:
    """Validate, show and describe config files."""


@config_group.command("validate")
@config_option
@set_option
def config_validate(config_file: Path, overrides: tuple[str, ...]) -> None:
    """Check CONFIG_FILE against the schema and every component's Params."""
    from srd_core.config import load_config

    load_config(config_file, list(overrides))
    click.echo(f"{config_file}: valid")


@config_group.command("show")
@config_option
@set_option
def config_show(config_file: Path, overrides: tuple[str, ...]) -> None:
    """Print CONFIG_FILE fully resolved, defaults included."""
    from srd_core.config import dump_config, load_config

    click.echo(dump_config(load_config(config_file, list(overrides))), nl=False)


@config_group.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    from srd_core.config import SRDConfig

    click.echo(json.dumps(SRDConfig.model_json_schema(), indent=2))


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
def plugins_command(as_json: bool, show_all: bool) -> None:
    """List installed plugins: distribution, version, hooks and components."""
    from srd_core.plugin_listing import describe_plugins, render_table

    rows = describe_plugins(include_builtins=show_all)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        render_table(rows)


def _register_plugin_commands() -> None:
    from srd_core.plugins import load_plugins, pm

    try:
        load_plugins()
    except SRDError as exc:
        click.echo(f"srd: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    pm.hook.register_commands(cli=cli)


def main() -> None:
    """Console-script entry point."""
    _register_plugin_commands()
    cli(prog_name="srd")

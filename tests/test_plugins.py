"""Plugin discovery end to end: a real third-party distribution, pip-installed, found via entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_install import pip_install_to

HERE = Path(__file__).parent
SRD = str(Path(sys.executable).parent / "srd")


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory) -> Path:
    return pip_install_to(tmp_path_factory.mktemp("site-fixture"), HERE / "plugins" / "srd-fixture")


@pytest.fixture(scope="module")
def clash_site(tmp_path_factory) -> Path:
    return pip_install_to(tmp_path_factory.mktemp("site-clash"), HERE / "plugins" / "srd-clash")


def run_srd(*args: str, site: Path | None = None, env: dict[str, str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SRD_")}
    if site is not None:
        full_env["PYTHONPATH"] = str(site)
    full_env.update(env or {})
    return subprocess.run([SRD, *args], capture_output=True, text=True, env=full_env, timeout=120)


def test_installed_distribution_is_listed(fixture_site):
    result = run_srd("plugins", "--json", site=fixture_site)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    fixture = [r for r in rows if r["distribution"] == "srd-fixture"]
    assert len(fixture) == 1
    row = fixture[0]
    assert row["version"] == "1.2.3"
    assert row["builtin"] is False
    assert set(row["hooks"]) == {"register_fusions", "register_commands"}
    (component,) = row["components"]["fusion"]
    assert component["name"] == "fixture_min_rank"
    assert component["params"][0]["name"] == "offset"
    assert component["params"][0]["description"].startswith("Added to every rank")
    # Built-ins only appear with --all.
    assert not any(r["builtin"] for r in rows)


def test_all_lists_builtins_through_entry_points(fixture_site):
    rows = json.loads(run_srd("plugins", "--json", "--all", site=fixture_site).stdout)
    builtin = {r["name"] for r in rows if r["builtin"]}
    assert "srd:fusion" in builtin and "srd:losses" in builtin
    assert all(r["distribution"] == "srd" for r in rows if r["builtin"])


def test_table_output_names_distribution(fixture_site):
    result = run_srd("plugins", site=fixture_site)
    assert result.returncode == 0
    assert "srd-fixture" in result.stdout and "fixture_min_rank" in result.stdout


def test_load_plugins_env_filters_distributions(fixture_site):
    rows = json.loads(
        run_srd("plugins", "--json", site=fixture_site, env={"SRD_LOAD_PLUGINS": "some-other-dist"}).stdout
    )
    assert rows == []
    rows = json.loads(run_srd("plugins", "--json", site=fixture_site, env={"SRD_LOAD_PLUGINS": "srd-fixture"}).stdout)
    assert [r["distribution"] for r in rows] == ["srd-fixture"]
    # Built-ins are the framework itself: they load whatever the filter says.
    rows = json.loads(run_srd("plugins", "--json", "--all", site=fixture_site, env={"SRD_LOAD_PLUGINS": ""}).stdout)
    assert rows and all(r["builtin"] for r in rows)


def test_hook_register_commands(fixture_site):
    result = run_srd("fixture-hello", "srd", site=fixture_site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello srd from srd-fixture"
    filtered = run_srd("fixture-hello", site=fixture_site, env={"SRD_LOAD_PLUGINS": ""})
    assert filtered.returncode != 0


def test_trace_plugins_env_traces_hook_calls(fixture_site):
    result = run_srd("plugins", "--json", site=fixture_site, env={"SRD_TRACE_PLUGINS": "1"})
    assert result.returncode == 0
    assert "register_fusions" in result.stderr


def test_duplicate_name_names_both_distributions(clash_site):
    result = run_srd("plugins", "--all", site=clash_site)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "'rrf'" in line and "srd-clash" in line and "srd (srd:fusion)" in line
    assert "Traceback" not in result.stderr

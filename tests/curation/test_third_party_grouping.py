"""A third-party grouping (tests/plugins/srd-groups-fixture), pip-installed, found through its entry point,
listed by `srd plugins`, validated in a config and used by a stratified `run_curation`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from plugin_install import pip_install_to

TESTS = Path(__file__).resolve().parent.parent
SRD = str(Path(sys.executable).parent / "srd")

CURATE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from srd_core.config import config_from_dict
    from srd_core.curation.curate import run_curation
    from srd_core.io import write_jsonl_atomic
    from srd_core.rundir import REFLECTION_FILE

    tmp = Path(sys.argv[1])
    labels = ["yes", "no", "maybe"]
    rows = [{"instruction": f"question {i}", "output": f"{labels[i % 3].capitalize()} because {i}"} for i in range(30)]
    (tmp / "train.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    config = config_from_dict({
        "run": {"name": "r", "output_dir": str(tmp)}, "teacher": {"path": "t"}, "student": {"path": "s"},
        "data": {"train": {"name": "jsonl", "train": str(tmp / "train.jsonl")}},
        "curriculum": {"groups": {"name": "first_word"}, "stratify": True},
    })
    # the "yes" answers reflect perfectly, the others not at all: a global ranking would keep mostly "yes"
    reflections = [{"id": f"train-{i + 1}", "prompt_hash": "h", "output": r["output"] if i % 3 == 0 else "",
                    "ce": 0.5 if i % 3 == 0 else 2.0 + i / 100, "prompt_tokens": 3, "response_tokens": 3,
                    "output_tokens": 3} for i, r in enumerate(rows)]
    write_jsonl_atomic(config.run.dir / REFLECTION_FILE, reflections)
    records = run_curation(config, config.run.dir)
    print(json.dumps({"groups": config.curriculum.groups.model_dump(),
                      "records": [r.to_dict() for r in records]}))
""")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return pip_install_to(tmp_path_factory.mktemp("site-groups"), TESTS / "plugins" / "srd-groups-fixture")


def env_with(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRD_")}
    env["PYTHONPATH"] = str(site)
    return env


def test_third_party_grouping_is_listed(site):
    result = subprocess.run([SRD, "plugins", "--json"], capture_output=True, text=True, env=env_with(site), timeout=120)
    assert result.returncode == 0, result.stderr
    (row,) = [r for r in json.loads(result.stdout) if r["distribution"] == "srd-groups-fixture"]
    assert row["hooks"] == ["register_groupings"]
    (component,) = row["components"]["grouping"]
    assert component["name"] == "first_word" and component["params"][0]["name"] == "lower"


def test_third_party_grouping_is_used_by_stratified_curation(site, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", CURATE, str(tmp_path)], capture_output=True, text=True, env=env_with(site), timeout=300
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["groups"] == {"name": "first_word", "lower": True}  # defaults filled in by the plugin's Params
    records = out["records"]
    assert {r["group"] for r in records} == {"yes", "no", "maybe"}
    for group in ("yes", "no", "maybe"):
        mine = [r for r in records if r["group"] == group]
        assert sum(r["kept"] for r in mine) == 7  # ⌊0.75 · 10⌋ of each group, though "yes" is far easier
        assert sorted(r["bin"] for r in mine if r["bin"] is not None) == [0, 0, 1, 1, 2, 2]  # 2 per bin
        assert sum(r["kept"] and r["bin"] is None for r in mine) == 1  # baby_step drops the remainder
    written = (tmp_path / "r" / "curation.jsonl").read_text().splitlines()
    assert [json.loads(line)["group"] for line in written] == [r["group"] for r in records]


def test_an_unknown_grouping_names_the_field():
    from srd_core.config import config_from_dict
    from srd_core.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"^curriculum.groups.name: unknown grouping 'first_wrd' \(.*available: "
        r"field, kmeans, none\)$",
    ):
        config_from_dict(
            {
                "teacher": {"path": "t"},
                "student": {"path": "s"},
                "data": {"train": {"name": "synthetic"}},
                "curriculum": {"groups": "first_wrd"},
            }
        )

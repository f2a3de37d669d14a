"""The paper-faithful configs validate, carry the official hyper-parameters and dry-run without models or data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from srd_core.cli import cli
from srd_core.config import load_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GPT2 = EXAMPLES / "paper-gpt2-dolly.yaml"
OPENLLAMA = EXAMPLES / "paper-openllama-dolly.yaml"
EVAL_SETS = ["dolly", "self_inst", "vicuna", "sinst", "uinst"]


@pytest.mark.parametrize("path", [GPT2, OPENLLAMA], ids=["gpt2", "openllama"])
def test_config_validate_passes(path):
    result = CliRunner().invoke(cli, ["config", "validate", "--no-files", str(path)])  # the data is not here
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{path}: valid"


def _common(config, epochs: int, temperatures: list[float], sft: list[float]) -> None:
    assert config.data.max_prompt_tokens == 256 and config.data.max_length == 512
    assert config.data.train.name == "minillm" and config.data.train.params["dev_size"] == 1000
    assert [m.name for m in config.curriculum.metrics] == ["rouge_l", "cross_entropy"]
    assert config.curriculum.fusion.params == {"k": 60}
    assert config.curriculum.selector.params == {"ratio": 0.75}
    assert config.curriculum.pacer.name == "baby_step"
    assert config.curriculum.pacer.params["num_bins"] == 3
    assert config.curriculum.pacer.params["epochs_per_stage"] == epochs
    assert config.train.kd_loss.name == "fkl" and config.train.scale_kd_by_t2 == "official"
    assert config.train.temperature.params == {"values": temperatures}
    assert config.train.sft_weight.params == {"values": sft}
    assert config.train.lr == 1e-4 and config.train.weight_decay == 0.01 and config.train.max_grad_norm == 1.0
    assert config.train.lr_scheduler == "cosine" and config.train.warmup_ratio == 0.0
    assert config.eval.protocol == "distillm" and config.eval.seeds == [10, 20, 30, 40, 50]
    assert list(config.eval.sets) == EVAL_SETS
    assert config.run.seed == 10


def test_gpt2_config_has_the_official_settings():
    config = load_config(GPT2)
    _common(config, 8, [1.0, 1.5, 2.0], [0.2, 0.1, 0.0])
    assert config.teacher.path == "MiniLLM/teacher-gpt2-1.5B" and config.student.path == "openai-community/gpt2"
    assert config.train.batch_size * config.train.grad_accum == 16
    assert config.student.lora is None
    assert config.baseline.pacer.params == {"epochs": 20.0} and not config.baseline.match_srd_steps


def test_openllama_config_has_the_official_settings():
    config = load_config(OPENLLAMA)
    _common(config, 4, [1.0, 1.33, 1.67], [0.3, 0.2, 0.1])
    assert config.teacher.path == "openlm-research/open_llama_7b_v2" and config.teacher.adapter
    assert config.student.path == "openlm-research/open_llama_3b_v2"
    lora = config.student.lora
    assert (lora.r, lora.alpha, lora.dropout, lora.target_modules) == (16, 64, 0.1, ["q_proj", "v_proj"])
    assert (config.train.batch_size, config.train.grad_accum) == (2, 4)  # x 4 GPUs = 32
    assert config.train.gradient_checkpointing
    assert config.baseline.pacer.params == {"epochs": 10.0}


def _stage_steps(output: str, label: str) -> list[int]:
    block = output.split(f"{label} training (pacer")[1].split("total")[0]
    return [
        int(m.group(4).replace(",", ""))
        for m in re.finditer(r"^\s+(\d)\s+([\d,]+)\s+([\d.]+)\s+([\d,]+)", block, re.MULTILINE)
    ]


@pytest.mark.parametrize(
    ("path", "processes", "srd_steps", "baseline_steps"),
    [
        (GPT2, 1, [1432, 2856, 4288], [14280]),  # official: 178 / 357 / 534 steps per epoch x 8
        (OPENLLAMA, 4, [360, 716, 1072], [3570]),  # official: 89 / 178 / 267 per epoch x 4
    ],
    ids=["gpt2", "openllama"],
)
def test_dry_run_prints_phases_stages_steps_and_tokens(path, processes, srd_steps, baseline_steps):
    result = CliRunner().invoke(cli, ["run", "--dry-run", "--num-processes", str(processes), str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    for phase in (
        "prepare",
        "reflection",
        "curation",
        "train srd",
        "train baseline",
        "evaluate",
        "evaluate sets",
        "report",
    ):
        assert re.search(rf"^\s+\d\. {phase}  ", out, re.MULTILINE), phase
    assert "11,424 (ESTIMATE)" in out and "data/dolly/raw.jsonl" in out
    assert "keeps 8,568 of 11,424" in out and "bins 2,856/2,856/2,856" in out
    assert _stage_steps(out, "srd") == srd_steps
    assert _stage_steps(out, "baseline") == baseline_steps
    assert "est. tokens" in out
    assert re.search(r"SRD vs baseline\s+steps [\d,]+ vs [\d,]+ \(0\.60x\); trained tokens \S+ vs \S+ \(0\.60x\)", out)
    assert "5 sets (dolly, self_inst, vicuna, sinst, uinst)" in out


@pytest.mark.parametrize("path", [GPT2, OPENLLAMA], ids=["gpt2", "openllama"])
def test_config_show_has_the_official_protocol(path):
    """Every protocol option as the official scripts set it, read back from `srd config show`."""
    import yaml

    result = CliRunner().invoke(cli, ["config", "show", str(path)])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    reflection = shown["reflection"]  # generate_data_dolly.sh + arguments.py defaults
    assert (reflection["do_sample"], reflection["temperature"], reflection["top_k"], reflection["top_p"]) == (
        True,
        0.01,
        0,
        1.0,
    )
    assert reflection["no_repeat_ngram_size"] == 6 and reflection["ce_exclude_eos"] is True
    assert shown["eval"]["protocol"] == "distillm" and shown["eval"]["seeds"] == [10, 20, 30, 40, 50]
    assert shown["eval"]["no_repeat_ngram_size"] == 6  # evaluate_main.py
    assert shown["curriculum"]["tie_break"] == "chained"  # tools/rank.py
    assert shown["curriculum"]["stratify"] is False and shown["curriculum"]["groups"] == {"name": "none"}  # official
    assert shown["train"]["scale_kd_by_t2"] == "official"  # SRD/losses.py
    assert shown["train"]["select_best"] == {
        "enabled": True,
        "every": 0,
        "sample": True,
        "no_repeat_ngram_size": 0,
        "max_samples": None,
    }  # finetune.py: dev ROUGE-L every epoch
    dev_train = shown["data"]["train"]  # the dev split: --dev-num 1000, distinct from the final eval set
    assert dev_train["dev_size"] == 1000 and shown["data"]["dev"] is None
    assert shown["data"]["eval"]["eval"] == "data/dolly/valid.jsonl"
    from srd_core.data.dev_split import dev_source

    assert dev_source(load_config(path))[1] == "data.train"

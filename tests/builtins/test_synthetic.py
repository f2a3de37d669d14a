"""The synthetic task: determinism, families, noise, clean and disjoint eval split; tokenizer; presets."""

from __future__ import annotations

from collections import Counter

import pytest

from srd_core.builtins.synthetic import ALPACA_WITH_INPUT, FAMILIES, SyntheticTask
from srd_core.errors import ConfigError, PluginError
from srd_core.plugins import get_component, get_registry


def make(**params) -> SyntheticTask:
    return get_component("task", "synthetic", **params)


def test_registered_through_entry_point():
    entry = get_registry().get("task", "synthetic")
    assert entry.cls is SyntheticTask
    assert entry.distribution == "srd"


def test_same_seed_same_samples_other_seed_differs():
    a = make(n_train=60, n_eval=20, seed=3, noise=0.2)
    b = make(n_train=60, n_eval=20, seed=3, noise=0.2)
    c = make(n_train=60, n_eval=20, seed=4, noise=0.2)
    for split in ("train", "eval"):
        assert [s.to_dict() for s in a.load(split)] == [s.to_dict() for s in b.load(split)]
    assert [s.prompt for s in a.load("train")] != [s.prompt for s in c.load("train")]


def test_alpaca_prompt_and_answers_are_correct():
    samples = make(n_train=400, n_eval=10, seed=1).load("train")
    head = ALPACA_WITH_INPUT.split("{instruction}")[0]
    for s in samples:
        assert s.prompt.startswith(head) and s.prompt.endswith("### Response:\n")
        instruction = s.prompt.split("### Instruction:\n")[1].split("\n\n### Input:")[0]
        given = s.prompt.split("### Input:\n")[1].split("\n\n### Response:")[0]
        family, answer = s.meta["family"], s.target
        if family == "copy":
            assert answer == given
        elif family == "reverse":
            assert answer.split() == given.split()[::-1]
        elif family == "sort":
            assert answer.split() == sorted(given.split())
        elif family == "add":
            a, b = given.split(" + ")
            assert int(answer) == int(a) + int(b)
        elif family == "count":
            word = instruction.split("the word ")[1].split(" appear")[0]
            assert int(answer) == given.split().count(word)
        elif family == "lookup":
            key = instruction.removeprefix("What is the value of ").removesuffix("?")
            assert dict(p.split("=") for p in given.split("; "))[key] == answer
        elif family == "date":
            month, day, year = given.replace(",", "").split()
            assert answer == f"{int(year):04d}-{_month(month):02d}-{int(day):02d}"
        elif family == "name_format":
            *names, last = given.split()
            assert answer == f"{last}, {' '.join(names)}" and s.meta["size"] == len(names) + 1
        else:  # pragma: no cover - a new family needs a check here
            pytest.fail(f"unchecked family {family}")


def _month(name: str) -> int:
    from srd_core.builtins.synthetic import MONTHS

    return MONTHS.index(name) + 1


def test_families_in_equal_shares_and_selectable():
    samples = make(n_train=160, n_eval=8).load("train")
    counts = Counter(s.meta["family"] for s in samples)
    assert set(counts) == set(FAMILIES) and set(counts.values()) == {160 // len(FAMILIES)}
    only = make(n_train=30, n_eval=6, families=["add", "copy"]).load("eval")
    assert {s.meta["family"] for s in only} == {"add", "copy"}
    assert all(s.meta["level"] == FAMILIES[s.meta["family"]].level for s in only)


def test_word_tasks_draw_from_n_words():
    from srd_core.builtins.synthetic import WORDS

    samples = make(n_train=200, n_eval=8, n_words=6, families=["copy", "reverse", "sort"]).load("train")
    used = {w for s in samples for w in s.target.split()}
    assert used <= set(WORDS[:6]) and len(used) == 6


def test_unknown_family_is_a_one_line_error():
    with pytest.raises(PluginError, match="unknown families"):
        make(families=["copy", "juggle"])


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.35])
def test_noise_rate_and_meta(noise):
    samples = make(n_train=200, n_eval=10, noise=noise, seed=2).load("train")
    noisy = [s for s in samples if s.meta["noisy"]]
    assert len(noisy) == round(noise * 200)
    for s in noisy:
        assert s.meta["noise_kind"] in {"wrong", "truncated", "swapped"}
        assert s.target != s.meta["clean_response"]
        if s.meta["noise_kind"] == "truncated":
            assert s.meta["clean_response"].startswith(s.target)
    if noise >= 0.35:
        assert {s.meta["noise_kind"] for s in noisy} == {"wrong", "truncated", "swapped"}
    clean = make(n_train=200, n_eval=10, noise=0.0, seed=2).load("train")
    assert [s.prompt for s in clean] == [s.prompt for s in samples]  # noise changes answers only


def test_eval_split_clean_disjoint_and_unique():
    task = make(n_train=300, n_eval=120, noise=0.5, seed=5)
    train, held_out = task.load("train"), task.load("eval")
    assert len(held_out) == 120
    assert not any(s.meta["noisy"] for s in held_out)
    assert not {s.prompt for s in train} & {s.prompt for s in held_out}
    assert len({s.prompt for s in held_out}) == 120 and len({s.id for s in train + held_out}) == 420
    with pytest.raises(ValueError, match="split"):
        task.load("test")


def test_tokenizer_round_trip(tmp_path):
    from transformers import AutoTokenizer

    from srd_core.data.tokenizer_training import save_tokenizer, template_lines, train_bpe_tokenizer

    samples = make(n_train=200, n_eval=10).load("train")
    tok = train_bpe_tokenizer([s.prompt + s.target for s in samples], vocab_size=400)
    save_tokenizer(tok, tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    lines = template_lines([s.prompt + s.target for s in samples], 0.1)
    assert {ALPACA_WITH_INPUT.split("\n")[0], "### Instruction:", "### Input:", "### Response:"} < set(lines)
    assert "Repeat the input words exactly." in lines  # a family's fixed instruction
    assert len(loaded) == 400 + len(lines)
    assert (loaded.bos_token, loaded.eos_token, loaded.pad_token, loaded.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
    for text in [samples[0].prompt + samples[0].target, "Ünïcode 😀 and 12345 digits"]:
        ids = loaded(text)["input_ids"]
        assert ids[0] == loaded.bos_token_id
        assert loaded.decode(ids, skip_special_tokens=True) == text
    digits = loaded.convert_ids_to_tokens(loaded("1234", add_special_tokens=False)["input_ids"])
    assert digits == ["1", "2", "3", "4"]
    pieces = loaded.convert_ids_to_tokens(loaded(samples[0].prompt)["input_ids"])
    assert ALPACA_WITH_INPUT.split("\n")[0] in pieces  # the template preamble is one token
    assert {"### Instruction:", "### Input:", "### Response:"} <= set(pieces)


def test_template_lines_need_the_share():
    from srd_core.data.tokenizer_training import template_lines

    texts = ["head\nA one\nend!", "head\nB two\nend!", "head\nC\nother"]
    assert template_lines(texts, 0.5) == ["end!", "head"]
    assert template_lines(texts, 0.9) == ["head"]
    assert template_lines(texts, 0.5, min_chars=5) == []


def test_presets_build_save_and_load_back(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from srd_core.data.tokenizer_training import train_bpe_tokenizer
    from srd_core.models.presets import build_model, count_parameters, resolve_preset, save_model

    tok = train_bpe_tokenizer([s.prompt + s.target for s in make(n_train=100, n_eval=5).load("train")], 320)
    teacher = resolve_preset("tiny-teacher")
    student = resolve_preset("tiny-student")
    n_teacher = count_parameters(build_model(teacher, tok))
    n_student = count_parameters(build_model(student, tok))
    assert 3.0 <= n_teacher / n_student <= 6.0
    small = resolve_preset("micro-student", {"hidden_size": 48, "num_heads": 3, "num_layers": None})
    assert (small.hidden_size, small.num_heads, small.num_layers) == (48, 3, 1)
    model = build_model(small, tok, seed=1)
    save_model(model, tok, tmp_path / "m")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert loaded.config.model_type == "llama" and loaded.config.vocab_size == len(tok)
    assert loaded.config.hidden_size == 48 and loaded.config.pad_token_id == tok.pad_token_id
    ids = torch.tensor([tok("hello")["input_ids"]])
    assert torch.allclose(model(ids).logits, loaded(ids).logits)
    assert torch.equal(build_model(small, tok, seed=1).lm_head.weight, model.lm_head.weight)


def test_preset_errors_name_the_field():
    from srd_core.models.presets import resolve_preset

    with pytest.raises(ConfigError, match=r"student\.preset: unknown preset 'huge'"):
        resolve_preset("huge", field_path="student.preset")
    with pytest.raises(ConfigError, match="not divisible"):
        resolve_preset("tiny-student", {"num_heads": 5})

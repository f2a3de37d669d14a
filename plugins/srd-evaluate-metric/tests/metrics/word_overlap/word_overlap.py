"""Word overlap: per prediction, the share of reference words it contains (a test fixture metric)."""

import datasets
import evaluate

_DESCRIPTION = "Share of the reference's words that appear in the prediction, per sample and on average."
_KWARGS_DESCRIPTION = "predictions: list of str; references: list of str. Returns mean_overlap and overlap."


class WordOverlap(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, references, lowercase=True):
        scores = []
        for prediction, reference in zip(predictions, references, strict=True):
            if lowercase:
                prediction, reference = prediction.lower(), reference.lower()
            ref_words = reference.split()
            pred_words = set(prediction.split())
            scores.append(sum(w in pred_words for w in ref_words) / len(ref_words) if ref_words else 0.0)
        return {"mean_overlap": sum(scores) / len(scores) if scores else 0.0, "overlap": scores}

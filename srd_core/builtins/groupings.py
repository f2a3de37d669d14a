"""Built-in groupings: ``none`` (one group), ``field`` (a sample field) and ``kmeans`` (clusters of the prompts).

A grouping names the group of every training sample; curation reports diagnostics per group and, with
``curriculum.stratify: true``, selects and bins within each group (``srd_core.curation.strata``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from srd_core.components import Grouping
from srd_core.errors import DataError
from srd_core.hookspecs import hookimpl
from srd_core.limits import MAX_SAMPLES, MAX_VOCAB
from srd_core.types import Sample

ALL = "all"
"""The one group of the ``none`` grouping."""


class NoGrouping(Grouping):
    """Every sample in one group ``all``: today's global ranking."""

    forms_groups = False

    def assign(self, samples: Sequence[Sample]) -> list[str]:
        return [ALL] * len(samples)


class FieldParams(BaseModel):
    """Parameters of the field grouping."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        min_length=1,
        description="The sample field whose value is the group: the synthetic task's "
        "`family`, or a column of file data (listed in the task's meta_fields).",
    )
    missing: str | None = Field(
        None,
        min_length=1,
        description="Group of the samples that lack the field (null: such a sample is an error naming the field).",
    )


class FieldGrouping(Grouping):
    """The group is the value of one field of the sample (``Sample.meta``)."""

    Params = FieldParams
    params: FieldParams

    def assign(self, samples: Sequence[Sample]) -> list[str]:
        name, missing = self.params.field, self.params.missing
        groups: list[str] = []
        for sample in samples:
            value = sample.meta.get(name)
            if value is None or value == "":
                if missing is None:
                    present = ", ".join(sorted(sample.meta)) or "none"
                    raise DataError(
                        f"curriculum.groups.field: training sample {sample.id!r} has no field {name!r} (its fields: "
                        f"{present}); for file data list the column in the task's meta_fields, or set "
                        "curriculum.groups.missing"
                    )
                groups.append(missing)
            elif isinstance(value, (str, int, float, bool)):
                groups.append(str(value))
            else:
                raise DataError(
                    f"curriculum.groups.field: training sample {sample.id!r} has a "
                    f"{type(value).__name__} in field {name!r}, expected a string or a number"
                )
        return groups


class KMeansParams(BaseModel):
    """Parameters of the k-means grouping."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(8, ge=1, le=MAX_SAMPLES, description=f"Number of clusters (≤ {MAX_SAMPLES:,}).")
    seed: int = Field(0, ge=0, lt=2**32, description="Seed of the k-means initialisation.")
    n_init: int = Field(10, ge=1, le=1000, description="k-means restarts; the best (lowest inertia) is kept (≤ 1,000).")
    max_features: int | None = Field(
        20000, ge=1, le=MAX_VOCAB, description=f"TF-IDF vocabulary cap (most frequent terms; ≤ {MAX_VOCAB:,})."
    )
    stop_words: Literal["english"] | None = Field(
        "english", description="Words left out of the TF-IDF vectors (english: scikit-learn's list; null: none)."
    )


class KMeansGrouping(Grouping):
    """k-means over TF-IDF vectors of the prompts, for data with no label.

    Deterministic: seeded, fitted on one thread (parallel reductions could change the float sums), and the
    clusters are numbered by their first sample in data order. A group is named by its number and the two
    heaviest terms of its centre, e.g. ``c0 (reverse, words)``.
    """

    Params = KMeansParams
    params: KMeansParams

    def assign(self, samples: Sequence[Sample]) -> list[str]:
        from sklearn.cluster import KMeans  # deferred: sklearn
        from sklearn.feature_extraction.text import TfidfVectorizer  # deferred: sklearn
        from threadpoolctl import threadpool_limits  # deferred: threadpoolctl

        k = self.params.k
        if k > len(samples):
            raise DataError(f"curriculum.groups.k: {k} clusters for {len(samples)} training samples")
        vectorizer = TfidfVectorizer(max_features=self.params.max_features, stop_words=self.params.stop_words)
        try:
            matrix = vectorizer.fit_transform([s.prompt for s in samples])
        except ValueError as exc:  # e.g. every prompt is empty or stop words only
            raise DataError(f"curriculum.groups: TF-IDF of the prompts failed ({exc})") from None
        with threadpool_limits(limits=1):
            model = KMeans(n_clusters=k, n_init=self.params.n_init, random_state=self.params.seed).fit(matrix)
        labels = [int(label) for label in model.labels_]
        number: dict[int, int] = {}
        for label in labels:
            number.setdefault(label, len(number))
        terms = vectorizer.get_feature_names_out()
        names = {}
        for label, j in number.items():
            top = (-model.cluster_centers_[label]).argsort(kind="stable")[:2]
            names[label] = f"c{j} ({', '.join(str(terms[t]) for t in top)})"
        return [names[label] for label in labels]


@hookimpl
def register_groupings(register):
    """Register the built-in groupings."""
    register("none", NoGrouping)
    register("field", FieldGrouping)
    register("kmeans", KMeansGrouping)

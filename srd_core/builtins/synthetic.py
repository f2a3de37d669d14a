"""The built-in ``synthetic`` task: procedurally generated instruction data, deterministic by seed.

Each task family turns a random draw into an (instruction, input, response) triple. Levels rank the
families by how fast a tiny model learns them (measured on the demo's teacher): counting and date
reformatting first; copying, key-value lookup and name reformatting next; reversing, sorting and
addition with a carry last. ``n_words`` (how many distinct words the word tasks use) is the main
difficulty knob: copying is cheap to learn over few words, slow over many. A ``noise`` share of the
*training* responses is corrupted (wrong answer, truncated, or another sample's answer), the kind of
data SRD is meant to drop. ``meta`` records the family, its level, the item size and the noise
(analysis only). The eval split is clean and shares no prompt with the training split.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from srd_core.components import Task
from srd_core.hookspecs import hookimpl
from srd_core.limits import MAX_SAMPLES
from srd_core.types import Sample


def _vocabulary(text: str) -> tuple[str, ...]:
    """The whitespace-separated entries of ``text``."""
    return tuple(text.split())


ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)

WORDS = _vocabulary(
    "apple river stone cloud green table house light music paper water sugar horse bread chair "
    "glass plant tiger storm candle garden silver forest window rabbit mirror pencil orange violet "
    "summer winter spring autumn butter copper dragon feather island jacket kettle lemon marble needle "
    "ocean pepper quiet rocket saddle thunder velvet wagon yellow zebra anchor basket carpet desert "
    "engine falcon ginger hammer jungle ladder magnet nickel parrot puzzle rubber salmon tunnel "
    "valley walnut bottle cactus dolphin eagle fabric goblet harbor insect jigsaw koala lantern meadow"
)

FIRST_NAMES = _vocabulary(
    "Ada Alan Grace Linus Marie Niels Emmy Isaac Rosalind Carl Sofia Hedy Kurt Lise Paul Rita Tim "
    "Barbara Dennis Edsger Frances Guido Ken Margaret Nikola Olga Rachel Srinivasa Tara Yuri "
    "Anita Bjarne Claude Donald Evelyn Fei John Katherine Leslie Mary"
)

LAST_NAMES = _vocabulary(
    "Lovelace Turing Hopper Torvalds Curie Bohr Noether Newton Franklin Gauss Kovalevskaya Lamarr "
    "Goedel Meitner Dirac Levi Berners Liskov Ritchie Dijkstra Allen Rossum Thompson Hamilton Tesla "
    "Ladyzhenskaya Carson Ramanujan Brooks Gagarin Borg Stroustrup Shannon Knuth Boyle Li Backus "
    "Johnson Lamport Somerville"
)

MONTHS = _vocabulary("January February March April May June July August September October November December")


@dataclass(frozen=True)
class Item:
    """One generated task instance before formatting: the response and its size (difficulty knob)."""

    instruction: str
    input: str
    response: str
    size: int


@dataclass(frozen=True)
class Family:
    """A task family: its difficulty level (1 easy … 3 hard) and a generator of items."""

    name: str
    level: int
    make: Callable[[random.Random, Sequence[str]], Item]
    """``make(rng, words)``: one item; word tasks draw their words from ``words``."""


def _words(rng: random.Random, pool: Sequence[str], lo: int, hi: int) -> list[str]:
    return rng.sample(list(pool), min(len(pool), rng.randint(lo, hi)))


def _copy(rng: random.Random, pool: Sequence[str]) -> Item:
    words = _words(rng, pool, 2, 5)
    return Item("Repeat the input words exactly.", " ".join(words), " ".join(words), len(words))


def _name_format(rng: random.Random, pool: Sequence[str]) -> Item:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return Item("Rewrite the name as last name, comma, first name.", f"{first} {last}", f"{last}, {first}", 2)


def _reverse(rng: random.Random, pool: Sequence[str]) -> Item:
    words = _words(rng, pool, 2, 4)
    return Item("Write the input words in reverse order.", " ".join(words), " ".join(reversed(words)), len(words))


def _lookup(rng: random.Random, pool: Sequence[str]) -> Item:
    keys = _words(rng, pool, 2, 4)
    values = [str(rng.randint(0, 9)) for _ in keys]
    key = rng.choice(keys)
    listing = "; ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
    return Item(f"What is the value of {key}?", listing, values[keys.index(key)], len(keys))


def _date(rng: random.Random, pool: Sequence[str]) -> Item:
    year, month, day = rng.randint(1950, 2049), rng.randint(1, 12), rng.randint(10, 28)
    return Item(
        "Convert the date to the YYYY-MM-DD format.",
        f"{MONTHS[month - 1]} {day}, {year}",
        f"{year:04d}-{month:02d}-{day:02d}",
        3,
    )


def _count(rng: random.Random, pool: Sequence[str]) -> Item:
    target = rng.choice(pool)
    others = _words(rng, pool, 1, 3)
    n = rng.randint(1, 3)
    words = [w for w in others if w != target] + [target] * n
    rng.shuffle(words)
    return Item(f"How many times does the word {target} appear in the input?", " ".join(words), str(n), len(words))


def _sort(rng: random.Random, pool: Sequence[str]) -> Item:
    words = _words(rng, pool, 2, 4)
    return Item("Sort the input words alphabetically.", " ".join(words), " ".join(sorted(words)), len(words))


def _add(rng: random.Random, pool: Sequence[str]) -> Item:
    a, b = rng.randint(10, 99), rng.randint(1, 19)
    return Item("Add the two numbers.", f"{a} + {b}", str(a + b), len(str(a + b)))


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("count", 1, _count),
        Family("date", 1, _date),
        Family("copy", 2, _copy),
        Family("lookup", 2, _lookup),
        Family("name_format", 2, _name_format),
        Family("reverse", 3, _reverse),
        Family("sort", 3, _sort),
        Family("add", 3, _add),
    )
}

NoiseKind = Literal["wrong", "truncated", "swapped"]
NOISE_KINDS: tuple[NoiseKind, ...] = ("wrong", "truncated", "swapped")


def format_prompt(instruction: str, input_text: str) -> str:
    """The Alpaca prompt (instruction with input) ending right before the response."""
    return ALPACA_WITH_INPUT.format(instruction=instruction, input=input_text)


def _truncate(text: str) -> str:
    """Keep roughly the first half of the answer (words, or characters for one-word answers)."""
    words = text.split(" ")
    if len(words) > 1:
        return " ".join(words[: max(1, len(words) // 2)])
    return text[: max(1, len(text) // 2)]


class SyntheticTask(Task):
    """Procedural instruction data in several task families; deterministic by ``seed``."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

        n_train: int = Field(2000, ge=1, le=MAX_SAMPLES, description=f"Number of training samples (≤ {MAX_SAMPLES:,}).")
        n_eval: int = Field(
            200,
            ge=1,
            le=MAX_SAMPLES,
            description=f"Number of held-out eval samples (clean, disjoint; ≤ {MAX_SAMPLES:,}).",
        )
        seed: int = Field(0, description="Generator seed: the same seed gives the same samples.")
        families: list[str] | None = Field(
            None, description=f"Task families to mix in equal shares (default all: {', '.join(FAMILIES)})."
        )
        n_words: int = Field(
            20,
            ge=4,
            le=len(WORDS),
            description=f"Distinct words the word tasks draw from (more is harder to copy; at most {len(WORDS)}).",
        )
        noise: float = Field(
            0.0,
            ge=0,
            le=1,
            description="Share of training responses corrupted (wrong answer, truncated, or swapped).",
        )

        @field_validator("families")
        @classmethod
        def _known_families(cls, value: list[str] | None) -> list[str] | None:
            if value is None:
                return value
            if not value:
                raise ValueError("give at least one family")
            unknown = [name for name in value if name not in FAMILIES]
            if unknown:
                raise ValueError(f"unknown families {unknown} (available: {', '.join(FAMILIES)})")
            if len(set(value)) != len(value):
                raise ValueError("families must not repeat")
            return value

    params: Params

    @property
    def families(self) -> list[Family]:
        """The families this task mixes, in the configured order."""
        return [FAMILIES[name] for name in (self.params.families or list(FAMILIES))]

    def has_split(self, split: str) -> bool:
        return split in ("train", "eval")

    def count(self, split: str) -> int | None:
        """``n_train`` / ``n_eval``: the generator makes exactly that many."""
        return {"train": self.params.n_train, "eval": self.params.n_eval}.get(split)

    def load(self, split: str) -> list[Sample]:
        """``train`` (with noise) or ``eval`` (clean, no prompt shared with train)."""
        if split not in ("train", "eval"):
            raise ValueError(f"synthetic: unknown split {split!r} (expected 'train' or 'eval')")
        train = self._generate("train", self.params.n_train, exclude=set())
        if split == "train":
            return self._add_noise(train)
        return self._generate("eval", self.params.n_eval, exclude={s.prompt for s in train})

    def _generate(self, split: str, n: int, exclude: set[str]) -> list[Sample]:
        """``n`` clean samples, families in equal shares (shuffled), every prompt unique and not in ``exclude``."""
        rng = random.Random(f"synthetic:{self.params.seed}:{split}")
        families = self.families
        plan = [families[i % len(families)] for i in range(n)]
        rng.shuffle(plan)
        seen = set(exclude)
        words = WORDS[: self.params.n_words]
        samples = []
        for i, family in enumerate(plan):
            for _ in range(1000):
                item = family.make(rng, words)
                prompt = format_prompt(item.instruction, item.input)
                if prompt not in seen:
                    break
            else:
                raise ValueError(
                    f"synthetic: family {family.name!r} ran out of distinct prompts (lower n_train/n_eval)"
                )
            seen.add(prompt)
            meta = {"family": family.name, "level": family.level, "size": item.size, "noisy": False}
            samples.append(
                Sample(id=f"synthetic-{split}-{i:05d}", prompt=prompt, references=[item.response], meta=meta)
            )
        return samples

    def _add_noise(self, samples: list[Sample]) -> list[Sample]:
        """Corrupt ``round(noise · n)`` training responses; the clean answer stays in ``meta``."""
        rng = random.Random(f"synthetic:{self.params.seed}:noise")
        n_noisy = round(self.params.noise * len(samples))
        if n_noisy == 0:
            return samples
        chosen = sorted(rng.sample(range(len(samples)), n_noisy))
        clean = [s.target for s in samples]
        for index in chosen:
            sample = samples[index]
            kind, corrupted = self._corrupt(rng.choice(NOISE_KINDS), index, clean, sample, rng)
            sample.references = [corrupted]
            sample.meta.update(noisy=True, noise_kind=kind, clean_response=clean[index])
        return samples

    def _corrupt(
        self, kind: NoiseKind, index: int, clean: list[str], sample: Sample, rng: random.Random
    ) -> tuple[NoiseKind, str]:
        """A response that differs from the clean one, and how (``wrong`` when ``kind`` cannot apply)."""
        answer = clean[index]
        if kind == "truncated" and _truncate(answer) != answer:
            return kind, _truncate(answer)
        if kind == "swapped":
            others = [i for i in rng.sample(range(len(clean)), min(len(clean), 100)) if clean[i] != answer]
            if others:
                return kind, clean[others[0]]
        # wrong: a well-formed answer of the same family to a different input
        family = FAMILIES[sample.meta["family"]]
        for _ in range(1000):
            wrong = family.make(rng, WORDS[: self.params.n_words]).response
            if wrong != answer:
                return "wrong", wrong
        raise ValueError(f"synthetic: family {family.name!r} cannot produce a wrong answer")


@hookimpl
def register_tasks(register):
    """Register the ``synthetic`` task."""
    register("synthetic", SyntheticTask)

"""The intent classifier: TF-IDF n-grams and a linear SVM, one per language.

Chinese uses character 1–3-grams (no word segmentation needed); English uses word 1–2-grams
plus character 2–5-grams inside word boundaries, which forgives typos. scikit-learn trains
the model; prediction then runs on the fitted weights directly (`LinearScorer`), because
scikit-learn's per-call input validation costs more than the arithmetic for one short text.

Confidences are a softmax over the SVM's margins (`MARGIN_SCALE` sharpens it). When the best
one is under `threshold`, the intent is `out_of_scope`, as Rasa's FallbackClassifier does.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bot.nlu.analyzers import Analyzer
from bot.nlu.data import TrainingData
from bot.nlu.results import IntentScore

if TYPE_CHECKING:
    # Imported where a model is trained: importing scikit-learn takes over a second, and a
    # model from the cache (bot/nlu/model_cache.py) needs none of it.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

OUT_OF_SCOPE = "out_of_scope"
# Tuned together on cross-validation and on gibberish and unrelated probes
# (tests/test_nlu_parser.py): a higher threshold sends real requests with a typo or an
# unseen word to out_of_scope; a lower one lets gibberish through.
MARGIN_SCALE = 5.0
DEFAULT_THRESHOLD = 0.3
RANKING_LENGTH = 10  # as Rasa's default
MAX_CLASSIFIED_CHARS = 1000  # a customer's intent shows in the first lines; keeps cost flat

_WORD = r"(?u)\b\w+\b"  # single-character words too: "5", "y", "k"
LONG_NUMBER = re.compile(r"[0-9]{5,}")


def prepare(text: str) -> str:
    """What the classifier sees: lower case, long numbers (phones, case numbers) alike."""
    text = text[:MAX_CLASSIFIED_CHARS].lower()
    return LONG_NUMBER.sub("00000", text)


# The features of each language, as data: the pipeline is built from them, and a stored
# model is filed under them (bot/nlu/model_cache.py), so changing one retrains.
FEATURES: dict[str, tuple[Analyzer, ...]] = {
    "zh": (Analyzer("char", 1, 3),),
    "en": (Analyzer("word", 1, 2, _WORD), Analyzer("char_wb", 2, 5)),
}
SVM_C = 1.0


def build_pipeline(language: str) -> Pipeline:
    """An untrained pipeline for `language`; also what cross-validation trains."""
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    named = [(spec.kind, _tfidf(spec)) for spec in FEATURES.get(language, FEATURES["zh"])]
    features = FeatureUnion(named) if len(named) > 1 else named[0][1]
    return Pipeline([("features", features), ("svm", LinearSVC(C=SVM_C, random_state=0))])


def _tfidf(spec: Analyzer) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    pattern = {"token_pattern": spec.token_pattern} if spec.token_pattern else {}
    return TfidfVectorizer(
        sublinear_tf=True,
        lowercase=False,
        analyzer=spec.kind,
        ngram_range=(spec.low, spec.high),
        **pattern,
    )


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """One vectorizer's share of the model: its analyzer, vocabulary, idf and weights."""

    spec: Analyzer
    vocabulary: dict[str, int]
    idf: NDArray[np.float64]
    weights: NDArray[np.float64]  # (block features, classes)
    max_idf: float
    analyzer: Callable[[str], list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "analyzer", self.spec.build())

    def add_scores(self, text: str, scores: NDArray[np.float64]) -> None:
        known: dict[int, int] = {}
        unknown = 0.0
        for gram, count in Counter(self.analyzer(text)).items():
            column = self.vocabulary.get(gram)
            if column is None:
                unknown += (1.0 + math.log(count)) ** 2
            else:
                known[column] = count
        if not known:
            return
        index = np.fromiter(known, dtype=np.intp, count=len(known))
        tf = np.fromiter((1.0 + math.log(n) for n in known.values()), np.float64, len(known))
        values = tf * self.idf[index]
        # Unseen n-grams count in the norm at the rarest seen n-gram's weight: text that is
        # mostly new to the model ("<script>…", gibberish) gets small margins, so low
        # confidence, instead of being judged on the one digit it shares with "5分".
        norm_squared = float(values @ values) + unknown * self.max_idf**2
        values /= math.sqrt(norm_squared)
        scores += values @ self.weights[index]


class LinearScorer:
    """The fitted pipeline's decision function, computed from its weights.

    Equal to ``LinearSVC.decision_function`` for text whose n-grams were all seen in
    training; unseen n-grams shrink the margins (see `FeatureBlock.add_scores`).
    """

    def __init__(
        self, labels: Sequence[str], intercept: NDArray[np.float64], blocks: Sequence[FeatureBlock]
    ) -> None:
        self.labels: tuple[str, ...] = tuple(labels)
        self.intercept = intercept
        self.blocks = list(blocks)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> LinearScorer:
        """The weights of a fitted pipeline."""
        from sklearn.pipeline import FeatureUnion

        svm = pipeline.named_steps["svm"]
        features = pipeline.named_steps["features"]
        vectorizers = (
            [v for _, v in features.transformer_list]
            if isinstance(features, FeatureUnion)
            else [features]
        )
        coef = np.asarray(svm.coef_, dtype=np.float64).T  # (features, classes)
        intercept = np.asarray(svm.intercept_, dtype=np.float64)
        if coef.shape[1] == 1:  # two classes: one margin, positive for the second class
            coef, intercept = np.hstack([-coef, coef]), np.concatenate([-intercept, intercept])
        blocks: list[FeatureBlock] = []
        offset = 0
        for vectorizer in vectorizers:
            size = len(vectorizer.vocabulary_)
            low, high = vectorizer.ngram_range
            pattern = vectorizer.token_pattern if vectorizer.analyzer == "word" else ""
            blocks.append(
                FeatureBlock(
                    spec=Analyzer(str(vectorizer.analyzer), int(low), int(high), pattern or ""),
                    vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
                    idf=np.asarray(vectorizer.idf_, dtype=np.float64),
                    weights=np.ascontiguousarray(coef[offset : offset + size]),
                    max_idf=float(np.max(vectorizer.idf_)),
                )
            )
            offset += size
        return cls([str(c) for c in svm.classes_], intercept, blocks)

    def margins(self, text: str) -> NDArray[np.float64]:
        """One margin per label."""
        scores = self.intercept.copy()
        for block in self.blocks:
            block.add_scores(text, scores)
        return scores


# Rankings of this many recent distinct texts are kept per language.
RANK_CACHE_SIZE = 4096


class IntentClassifier:
    """Ranks intents for one language's texts."""

    def __init__(self, language: str, scorer: LinearScorer, threshold: float) -> None:
        self.language = language
        self.scorer = scorer
        self.threshold = threshold
        self.keep_rankings(RANK_CACHE_SIZE)

    def keep_rankings(self, size: int) -> None:
        """Keep the rankings of the `size` latest distinct texts (0: keep none).

        Customers repeat each other ("人工", "你好", "谢谢", a button's title typed out) and a
        text's ranking never changes, so repeated texts skip the model. Kept by the text as
        the model sees it: at most MAX_CLASSIFIED_CHARS each, phones and numbers alike."""
        self._ranked = functools.lru_cache(maxsize=size)(self._rank)

    @classmethod
    def train(cls, data: TrainingData, threshold: float = DEFAULT_THRESHOLD) -> IntentClassifier:
        """Fit on all of `data`'s examples."""
        pipeline = build_pipeline(data.language)
        pipeline.fit([prepare(text) for text in data.texts], list(data.intents))
        return cls(data.language, LinearScorer.from_pipeline(pipeline), threshold)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.scorer.labels

    def rank(self, text: str) -> tuple[IntentScore, ...]:
        """Intents by confidence, best first; `out_of_scope` first when nothing is sure."""
        return self._ranked(prepare(text))

    def _rank(self, prepared: str) -> tuple[IntentScore, ...]:
        confidences = softmax(self.scorer.margins(prepared))
        order = np.argsort(-confidences, kind="stable")
        ranking = [IntentScore(self.labels[i], round(float(confidences[i]), 4)) for i in order]
        return tuple(apply_threshold(ranking, self.threshold)[:RANKING_LENGTH])


def softmax(margins: NDArray[np.float64]) -> NDArray[np.float64]:
    """Margins to confidences that sum to 1."""
    scaled = margins * MARGIN_SCALE
    exp = np.exp(scaled - scaled.max())
    result: NDArray[np.float64] = exp / exp.sum()
    return result


def apply_threshold(ranking: Sequence[IntentScore], threshold: float) -> tuple[IntentScore, ...]:
    """Put `out_of_scope` first, at the threshold's confidence, if the best is below it."""
    if not ranking or ranking[0].confidence >= threshold or ranking[0].name == OUT_OF_SCOPE:
        return tuple(ranking)
    fallback = IntentScore(OUT_OF_SCOPE, threshold)
    return (fallback, *(score for score in ranking if score.name != OUT_OF_SCOPE))

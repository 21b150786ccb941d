"""Trained intent models kept on disk: a restart skips training and scikit-learn's import.

A model is filed under a key made from its training data, the classifier's settings and the
installed scikit-learn version, so editing `nlu.yml` or upgrading retrains by itself. A file
that cannot be read is ignored (and replaced); writing is atomic, so server processes
starting together never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bot.nlu.analyzers import Analyzer
from bot.nlu.classifier import (
    FEATURES,
    LONG_NUMBER,
    MAX_CLASSIFIED_CHARS,
    SVM_C,
    FeatureBlock,
    LinearScorer,
)
from bot.nlu.data import TrainingData

log = logging.getLogger(__name__)

# Bump when the stored layout or the way models are trained changes.
FORMAT = 1


def model_key(data: TrainingData) -> str:
    """The name a model trained on `data` is filed under."""
    digest = hashlib.sha256()
    # What training depends on: the features, the SVM, how texts are prepared, the library.
    trained_by = (
        FORMAT,
        data.language,
        FEATURES.get(data.language, FEATURES["zh"]),
        SVM_C,
        MAX_CLASSIFIED_CHARS,
        LONG_NUMBER.pattern,
        metadata.version("scikit-learn"),
    )
    digest.update(repr(trained_by).encode())
    for text, intent in zip(data.texts, data.intents, strict=True):
        digest.update(f"{intent}\t{text}\n".encode())
    return f"intents-{data.language}-{digest.hexdigest()[:24]}.npz"


def load(directory: Path, key: str) -> LinearScorer | None:
    """The stored model, or None when there is none or it cannot be read."""
    path = directory / key
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            specs = json.loads(str(stored["specs"]))
            blocks = []
            for i, (kind, low, high, pattern) in enumerate(specs):
                grams = [str(gram) for gram in stored[f"grams{i}"]]
                idf = np.asarray(stored[f"idf{i}"], dtype=np.float64)
                blocks.append(
                    FeatureBlock(
                        spec=Analyzer(kind, int(low), int(high), pattern),
                        vocabulary={gram: column for column, gram in enumerate(grams)},
                        idf=idf,
                        weights=np.ascontiguousarray(stored[f"weights{i}"], dtype=np.float64),
                        max_idf=float(np.max(idf)),
                    )
                )
            labels = [str(label) for label in stored["labels"]]
            return LinearScorer(labels, np.asarray(stored["intercept"], np.float64), blocks)
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring the stored model %s: %s", path.name, type(error).__name__)
        return None


def save(directory: Path, key: str, scorer: LinearScorer) -> None:
    """Store `scorer`; a directory that cannot be written only costs the next start time."""
    specs = [[b.spec.kind, b.spec.low, b.spec.high, b.spec.token_pattern] for b in scorer.blocks]
    arrays: dict[str, Any] = {
        "labels": np.array(scorer.labels),
        "intercept": scorer.intercept,
        "specs": np.array(json.dumps(specs)),
    }
    for i, block in enumerate(scorer.blocks):
        grams = sorted(block.vocabulary, key=block.vocabulary.__getitem__)
        arrays[f"grams{i}"] = np.array(grams, dtype=np.str_)
        arrays[f"idf{i}"] = block.idf
        arrays[f"weights{i}"] = block.weights
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, directory / key)
    except OSError as error:
        log.warning("could not store the trained model in %s: %s", directory, error)

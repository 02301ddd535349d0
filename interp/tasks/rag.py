"""The RAG score R of abstention.md §6.3 and §8: the semantic overlap between a question and the
knowledge passages a lexical retriever finds for it.

    1. BM25 (the `bm25s` library, its default Lucene scoring, k1 = 1.5, b = 0.75) over a local
       passage corpus; questions and passages are tokenised by bm25s's own tokenizer (lower-cased
       words of two or more word characters, bm25s's English stop words, no stemming).
    2. The top-k passages per question, keeping only those with a positive BM25 score (a passage
       sharing no query term scores 0, and which of those bm25s returns is arbitrary).
    3. R = the largest cosine between the question's embedding and those passages' embeddings
       (the §6.3 encoder, see `interp.tasks.embeddings`); NaN when no passage shares a term with
       the question (nothing was retrieved), so such rows are missing R rather than scored.

`load_passages` reads the corpus: a .txt file holds one passage per non-empty line (join wrapped
paragraphs onto one line first); a .jsonl file holds one JSON object per non-empty line with a
non-empty string "text".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interp.errors import ConfigError, DatasetError
from interp.tasks.datasets import read_records
from interp.tasks.embeddings import Encoder, unit_rows

__all__ = ["BM25_STOPWORDS", "bm25_index", "load_passages", "rag_scores", "retrieve_passages"]

BM25_STOPWORDS = "en"
"""The bm25s stop-word list used for both passages and questions."""


def _strings(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise ConfigError(f"{what} must be a sequence of texts, not one string")
    out = list(texts)
    for index, text in enumerate(out):
        if not isinstance(text, str):
            raise ConfigError(f"{what}[{index}] is {type(text).__name__}, not str")
    return out


def bm25_index(passages: Sequence[str]):
    """A `bm25s.BM25` index of `passages` (bm25s tokenizer, English stop words)."""
    import bm25s

    passages = _strings(passages, "passages")
    if not passages:
        raise ConfigError("the passage corpus is empty")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(passages, stopwords=BM25_STOPWORDS, show_progress=False), show_progress=False)
    return retriever


def retrieve_passages(questions: Sequence[str], passages: Sequence[str], k: int = 5, index=None) -> tuple[np.ndarray, np.ndarray]:
    """BM25 top-k passages per question.

    Args:
        questions: n query texts.
        passages: the corpus (m texts).
        k: passages per question (at most m are returned).
        index: a `bm25_index(passages)` to reuse.

    Returns:
        (indices [n, min(k, m)] int, scores [n, min(k, m)] float32), best first; an index is -1
        where its score is 0 (the passage shares no term with the question).
    """
    import bm25s

    questions = _strings(questions, "questions")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    retriever = index if index is not None else bm25_index(passages)
    m = int(retriever.scores["num_docs"])
    width = min(int(k), m)
    if not questions:
        return np.zeros((0, width), dtype=np.int64), np.zeros((0, width), dtype=np.float32)
    tokens = bm25s.tokenize(questions, stopwords=BM25_STOPWORDS, show_progress=False, return_ids=False)
    documents, scores = retriever.retrieve(tokens, k=width, show_progress=False)
    documents = np.asarray(documents, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    documents[scores <= 0] = -1
    return documents, scores


def rag_scores(questions: Sequence[str], passages: Sequence[str], encoder: Encoder, k: int = 5, index=None) -> np.ndarray:
    """R per question [n] (float64): the max cosine between the question and its BM25 top-k
    passages with a positive score, in `encoder`'s embedding space; NaN where no passage shares
    a term with the question. Only the retrieved passages are embedded."""
    questions = _strings(questions, "questions")
    documents, _ = retrieve_passages(questions, passages, k=k, index=index)
    out = np.full(len(questions), np.nan)
    wanted = np.unique(documents[documents >= 0])
    if not len(wanted):
        return out
    passages = list(passages)
    passage_vectors = unit_rows(np.asarray(encoder.encode([passages[i] for i in wanted]), dtype=np.float64))
    question_vectors = unit_rows(np.asarray(encoder.encode(questions), dtype=np.float64))
    position = {int(p): i for i, p in enumerate(wanted)}
    for row, hits in enumerate(documents):
        hits = [position[int(h)] for h in hits if h >= 0]
        if hits:
            out[row] = float(np.max(passage_vectors[hits] @ question_vectors[row]))
    return out


def load_passages(path: str | os.PathLike) -> list[str]:
    """A local passage corpus: .txt (one passage per non-empty line, stripped) or .jsonl (one
    JSON object per non-empty line with a non-empty string "text").

    Raises:
        DatasetError: the file is missing, of another kind, not UTF-8, holds no passage, or a
            .jsonl line is not an object with a non-empty "text" (the error names file and line).
    """
    source = Path(path)
    if not source.is_file():
        raise DatasetError(f"passage corpus {source} does not exist")
    suffix = source.suffix.lower()
    passages: list[str] = []
    if suffix == ".txt":
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise DatasetError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from error
        passages = [line.strip() for line in lines if line.strip()]
    elif suffix == ".jsonl":
        try:
            for where, _number, record in read_records(source):
                if isinstance(record, Exception):
                    raise record
                if not isinstance(record, dict):
                    raise DatasetError(f"{where}: expected a JSON object with 'text', got {type(record).__name__}")
                text = record.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise DatasetError(f"{where}: missing or empty string 'text' (keys: {sorted(record)})")
                passages.append(text.strip())
        except UnicodeDecodeError as error:
            raise DatasetError(f"{source}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    else:
        raise DatasetError(f"passage corpus {source}: expected a .txt or .jsonl file, got {suffix or 'no suffix'!r}")
    if not passages:
        raise DatasetError(f"passage corpus {source} holds no passage")
    return passages

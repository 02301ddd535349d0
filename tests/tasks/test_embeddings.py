"""Sentence encoders (the real all-MiniLM-L6-v2 from its PyPI package, the TF-IDF + SVD fallback),
embedding PCs, and the RAG score (bm25s top-k, max question-passage cosine) with its passage
loader."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from interp.errors import ConfigError, DatasetError
from interp.tasks import embeddings
from interp.tasks.embeddings import (
    MINILM_DIM,
    MINILM_NAME,
    MINILM_SHA256,
    TFIDF_NAME,
    MiniLMEncoder,
    TfidfSvdEncoder,
    embedding_pcs,
    load_encoder,
    minilm_folder,
)
from interp.tasks.rag import load_passages, rag_scores, retrieve_passages

PARIS = "Paris is the capital of France"
PARIS_2 = "France's capital city is Paris"
CELL = "The mitochondria is the powerhouse of the cell"


def require_minilm(modules: tuple[str, ...] = ("sentence_transformers", "all_minilm_l6_v2")) -> None:
    """Skip (or fail, with INTERP_REQUIRE_MODELS=1) where MiniLM's packages (or other modules of
    the 'embeddings' extra) are missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (the 'embeddings' extra)"
        if os.environ.get("INTERP_REQUIRE_MODELS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    require_minilm()
    return MiniLMEncoder()


# --------------------------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------------------------


def test_minilm_gives_384_d_unit_vectors(minilm):
    vectors = minilm.encode([PARIS, PARIS_2, CELL, ""])
    assert minilm.name == MINILM_NAME == "all-MiniLM-L6-v2"
    assert vectors.shape == (4, MINILM_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.encode([]).shape == (0, MINILM_DIM)


def test_minilm_is_semantic(minilm):
    paris, paris_2, cell = minilm.encode([PARIS, PARIS_2, CELL])
    assert paris @ paris_2 > 0.8
    assert paris @ cell < 0.3
    assert paris @ paris_2 > paris_2 @ cell


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm.folder), device="cpu").encode([PARIS], normalize_embeddings=True)
    np.testing.assert_allclose(minilm.encode([PARIS]), reference, atol=1e-6)
    # a text's vector does not depend on what it is batched with
    np.testing.assert_allclose(minilm.encode([CELL, PARIS, "a much longer sentence about nothing in particular at all"])[1], reference[0], atol=1e-5)


def test_minilm_is_extracted_once_into_the_cache_and_checked(minilm):
    folder = minilm_folder()
    assert folder == minilm.folder
    assert folder.parent == embeddings.Path(os.environ["INTERP_CACHE"])
    assert embeddings._sha256(folder / "model.safetensors") == MINILM_SHA256
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".all-minilm")]  # no staging left


def test_load_encoder_prefers_minilm_and_warns_once(minilm, monkeypatch):
    monkeypatch.setattr(embeddings, "_WARNED", set())
    with pytest.warns(UserWarning, match="all-MiniLM-L6-v2"):
        encoder = load_encoder()
    assert isinstance(encoder, MiniLMEncoder) and encoder.model is minilm.model
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_encoder()


def test_encode_refuses_a_bare_string(minilm):
    with pytest.raises(ConfigError, match="not one string"):
        minilm.encode(PARIS)


# --------------------------------------------------------------------------------------------
# TF-IDF + SVD fallback
# --------------------------------------------------------------------------------------------

CORPUS = [PARIS, PARIS_2, CELL, "Berlin is the capital of Germany", "Cells divide by mitosis", "The Seine flows through Paris", "Bananas are yellow fruit"]


def test_fallback_is_deterministic_and_unit_length():
    first = TfidfSvdEncoder(CORPUS, n_components=64, seed=0)
    second = TfidfSvdEncoder(list(CORPUS), n_components=64, seed=0)
    texts = [PARIS, CELL, "capital of France", "qqqq"]
    a, b = first.encode(texts), second.encode(texts)
    assert first.name == TFIDF_NAME and first.dim == len(CORPUS)  # capped by the corpus size
    assert a.shape == (4, first.dim) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, atol=1e-5)
    assert not a[3].any()  # no feature in common with the corpus: a zero row
    assert a[0] @ a[2] > a[1] @ a[2]


def test_fallback_needs_a_corpus():
    with pytest.raises(ConfigError, match="non-empty corpus"):
        TfidfSvdEncoder(["", "  "])


def test_load_encoder_falls_back_with_a_reason(monkeypatch):
    monkeypatch.setattr(embeddings, "_WARNED", set())
    monkeypatch.setattr(embeddings, "minilm_available", lambda: (False, "sentence_transformers is not installed"))
    with pytest.warns(UserWarning, match="tfidf-svd fallback .* because sentence_transformers is not installed"):
        encoder = load_encoder(corpus=CORPUS)
    assert isinstance(encoder, TfidfSvdEncoder)
    with pytest.raises(ConfigError, match="pass corpus="):
        load_encoder()
    with pytest.warns(UserWarning, match="prefer='tfidf'"):
        assert load_encoder("tfidf", corpus=CORPUS).name == TFIDF_NAME
    with pytest.raises(ConfigError, match="prefer"):
        load_encoder("bert")


# --------------------------------------------------------------------------------------------
# PCs
# --------------------------------------------------------------------------------------------


def test_embedding_pcs_shape_centred_deterministic():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 16)) @ rng.normal(size=(16, 16))
    pcs = embedding_pcs(vectors, n_components=10, seed=0)
    assert pcs.shape == (40, 10)
    np.testing.assert_allclose(pcs.mean(axis=0), 0.0, atol=1e-10)
    variances = pcs.var(axis=0)
    assert (np.diff(variances) <= 1e-9).all()  # ordered by explained variance
    np.testing.assert_array_equal(pcs, embedding_pcs(vectors.copy(), n_components=10, seed=0))


def test_embedding_pcs_rejects_too_few_rows():
    with pytest.raises(ValueError, match="9 embeddings are too few for 10"):
        embedding_pcs(np.ones((9, 20)))
    with pytest.raises(ValueError, match="2-D"):
        embedding_pcs(np.ones(20))
    with pytest.raises(ValueError, match="dimension 4"):
        embedding_pcs(np.ones((20, 4)))


def test_embedding_pcs_of_minilm_questions(minilm):
    questions = [f"Question number {i} about {topic}?" for i, topic in enumerate(["France", "cells", "football", "music"] * 3)]
    pcs = embedding_pcs(minilm.encode(questions), n_components=10)
    assert pcs.shape == (12, 10)
    np.testing.assert_allclose(pcs.mean(axis=0), 0.0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# RAG score
# --------------------------------------------------------------------------------------------

PASSAGES = [
    "Paris is the capital and most populous city of France.",
    "France is a country in Western Europe; its capital is Paris.",
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "The Seine river flows through Paris before reaching the English Channel.",
    "Lyon is the third-largest city of France, known for its cuisine.",
    "The mitochondrion is the powerhouse of the cell.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The Great Barrier Reef lies off the coast of Queensland, Australia.",
    "Mount Everest is the highest mountain above sea level.",
    "The Pacific Ocean is the largest and deepest ocean on Earth.",
    "William Shakespeare wrote Hamlet, Macbeth and King Lear.",
    "The piano is a keyboard instrument with hammers and strings.",
    "Football is played by two teams of eleven players.",
    "The Amazon rainforest covers much of the Amazon basin in South America.",
    "Tokyo is the capital of Japan and its largest city.",
    "Berlin is the capital of Germany.",
    "The human heart pumps blood through the circulatory system.",
    "Jupiter is the largest planet in the Solar System.",
    "The speed of light in vacuum is about 300,000 kilometres per second.",
    "Chess is a board game for two players on a checkered board.",
    "Bananas are a berry botanically and grow in clusters.",
    "The Nile is often regarded as the longest river in Africa.",
    "Beethoven composed nine symphonies.",
    "The Roman Empire was ruled by emperors from Augustus onwards.",
    "Penguins are flightless birds living mostly in the Southern Hemisphere.",
    "Coffee is brewed from roasted coffee beans.",
    "The Sahara is the largest hot desert in the world.",
    "Gold is a chemical element with the symbol Au.",
    "The Moon orbits the Earth about once every 27 days.",
    "Cricket is popular in England, India and Australia.",
]
FRANCE = {0, 1, 2, 3, 4}


@pytest.fixture
def bm25():
    require_minilm(("bm25s",))


def test_bm25_top_hit_for_the_capital_of_france_is_a_france_passage(bm25):
    documents, scores = retrieve_passages(["What is the capital of France?"], PASSAGES, k=5)
    assert documents.shape == scores.shape == (1, 5)
    assert documents[0, 0] in FRANCE
    assert (np.diff(scores[0]) <= 0).all()
    assert documents[0, 0] in {0, 1}  # both hold "capital" and "France"


def test_rag_score_is_higher_for_a_question_with_passage_words(bm25, minilm):
    questions = ["Which river flows through Paris?", "Who won the 1987 snooker world championship final?"]
    scores = rag_scores(questions, PASSAGES, minilm, k=5)
    assert scores.shape == (2,)
    assert scores[0] > scores[1] + 0.2
    assert np.isnan(rag_scores(["zzzz qqqq?"], PASSAGES, minilm))[0]  # nothing retrieved


def test_rag_scores_equal_a_direct_bm25s_call(bm25, minilm):
    import bm25s

    questions = ["What is the capital of France?", "Which river flows through Paris?", "Who wrote Hamlet?", "Which is the largest planet?", "zzzz"]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(PASSAGES, stopwords="en", show_progress=False), show_progress=False)
    documents, scores = retriever.retrieve(bm25s.tokenize(questions, stopwords="en", show_progress=False), k=5, show_progress=False)
    passage_vectors, question_vectors = minilm.encode(PASSAGES), minilm.encode(questions)
    expected = []
    for question, hits, hit_scores in zip(question_vectors, documents, scores):
        kept = [h for h, s in zip(hits, hit_scores) if s > 0]
        expected.append(float(np.max(passage_vectors[kept] @ question)) if kept else np.nan)
    found_documents, found_scores = retrieve_passages(questions, PASSAGES, k=5)
    np.testing.assert_array_equal(found_documents, np.where(scores > 0, documents, -1))
    np.testing.assert_allclose(found_scores, scores)
    np.testing.assert_allclose(rag_scores(questions, PASSAGES, minilm, k=5), expected, atol=1e-5)


def test_rag_scores_with_the_fallback_encoder_and_a_small_k(bm25):
    encoder = TfidfSvdEncoder(PASSAGES, n_components=16)
    scores = rag_scores(["What is the capital of France?", "Which river flows through Paris?"], PASSAGES, encoder, k=1)
    assert np.isfinite(scores).all() and (scores <= 1 + 1e-6).all()
    documents, _ = retrieve_passages(["capital"], PASSAGES[:3], k=10)
    assert documents.shape == (1, 3)
    with pytest.raises(ConfigError, match="k must be"):
        retrieve_passages(["capital"], PASSAGES, k=0)


def test_load_passages_txt_and_jsonl(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("Paris is in France.\n\n  The Seine flows through Paris.  \n", encoding="utf-8")
    assert load_passages(text) == ["Paris is in France.", "The Seine flows through Paris."]
    lines = tmp_path / "corpus.jsonl"
    lines.write_text(json.dumps({"text": "Paris is in France.", "id": 1}) + "\n\n" + json.dumps({"text": "Lyon too."}) + "\n", encoding="utf-8")
    assert load_passages(lines) == ["Paris is in France.", "Lyon too."]


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"text": "ok"}\n{"txt": "no text"}\n', r"corpus\.jsonl:2: missing or empty string 'text'"),
        ('{"text": "ok"}\nnot json\n', r"corpus\.jsonl:2: not valid JSON"),
        ('{"text": "ok"}\n["a list"]\n', r"corpus\.jsonl:2: expected a JSON object"),
        ('{"text": "  "}\n', r"corpus\.jsonl:1: missing or empty"),
        ("\n\n", "holds no passage"),
    ],
)
def test_load_passages_names_the_bad_line(tmp_path, content, match):
    path = tmp_path / "corpus.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=match):
        load_passages(path)


def test_load_passages_rejects_other_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_passages(tmp_path / "missing.txt")
    (tmp_path / "corpus.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match=r"\.txt or \.jsonl"):
        load_passages(tmp_path / "corpus.csv")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_passages(tmp_path / "latin1.txt")

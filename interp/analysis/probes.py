"""Linear probes over activations: logistic (L2) and ridge, z-scored inside each training fold,
k-fold or grouped cross-validation with pooled out-of-fold scores, a layer × role sweep over an
`ActivationStore`, and a fitted probe that saves as safetensors + JSON and gives its direction
in residual space (usable as a steering vector).

Built on scikit-learn: `Pipeline(StandardScaler, LogisticRegression | Ridge | RidgeCV)` with
`cross_val_predict`, so the scaler never sees the held-out fold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from interp.analysis.stats.bootstrap import bootstrap_score
from interp.analysis.stats.regression import RIDGE_ALPHAS
from interp.errors import ConfigError, DatasetError
from interp.io.atomic import atomic_replace, atomic_write, write_parquet
from interp.io.plots import plot_scores

__all__ = ["KINDS", "CVResult", "LinearProbe", "cross_validate", "evaluate_probes", "probe_sweep", "read_labels", "target_problem", "train_probes"]

KINDS = ("logistic", "ridge")


def _estimator(kind: str, C: float, alpha: float | None) -> Pipeline:
    if kind == "logistic":
        model = LogisticRegression(C=C, max_iter=5000)
    elif kind == "ridge":
        model = Ridge(alpha=alpha) if alpha is not None else RidgeCV(alphas=RIDGE_ALPHAS)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def _check(X, y, groups=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be [n, d] and y [n]; got {list(X.shape)} and {list(y.shape)}")
    if not np.isfinite(X).all():
        bad = int(np.flatnonzero(~np.isfinite(X).all(1))[0])
        raise ValueError(f"X row {bad} is not finite (an unresolved role?); drop such rows first")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups must be [n] = [{len(y)}], got {list(groups.shape)}")
    return X, y, groups


@dataclass
class CVResult:
    """Cross-validated probe scores.

    Attributes:
        oof: [n] pooled out-of-fold predictions (P(y=1) for logistic, ŷ for ridge).
        score: AUROC (logistic) or R² = 1 − SS_res/SS_tot (ridge) of the pooled oof predictions.
        metric: "auroc" or "r2".
        accuracy: oof accuracy at 0.5 (logistic; NaN for ridge).
        folds: [n] fold index of each row.
    """

    oof: np.ndarray
    score: float
    metric: str
    accuracy: float
    folds: np.ndarray


def cross_validate(
    X,
    y,
    kind: str = "logistic",
    cv: int = 5,
    groups=None,
    C: float = 1e-3,
    alpha: float | None = None,
    seed: int = 0,
) -> CVResult:
    """k-fold (stratified for logistic) or grouped CV of a probe, scaler fitted per training fold.

    Args:
        X: [n, d] activations; y: [n] binary labels (logistic) or values (ridge).
        kind: "logistic" (L2, C) or "ridge" (α fixed, or inner RidgeCV over 10⁰–10⁵ if None).
        cv: number of folds; groups: [n] group labels → GroupKFold (no group in two folds).
        seed: fold shuffling.
    """
    X, y, groups = _check(X, y, groups)
    if groups is not None:
        splitter = GroupKFold(n_splits=cv)
    elif kind == "logistic":
        splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=cv, shuffle=True, random_state=seed)
    folds = np.full(len(y), -1)
    for index, (_, test) in enumerate(splitter.split(X, y, groups)):
        folds[test] = index
    estimator = _estimator(kind, C, alpha)
    if kind == "logistic":
        if len(np.unique(y)) != 2:
            raise ValueError(f"logistic probes need two classes in y, got {np.unique(y).tolist()}")
        oof = cross_val_predict(estimator, X, y, cv=splitter, groups=groups, method="predict_proba")[:, 1]
        positive = np.unique(y)[1]
        return CVResult(oof, float(roc_auc_score(y == positive, oof)), "auroc", float(accuracy_score(y == positive, oof > 0.5)), folds)
    oof = cross_val_predict(estimator, X, y.astype(np.float64), cv=splitter, groups=groups)
    return CVResult(oof, float(r2_score(y, oof)), "r2", float("nan"), folds)


@dataclass
class LinearProbe:
    """A probe fitted on all rows: z = (x − mean)/scale, then w·z + b.

    Attributes:
        kind: "logistic" or "ridge".
        weight: [d] coefficients on z-scored features; bias: intercept.
        mean, scale: [d] the scaler's statistics.
        metadata: anything to keep with it (layer, role, target, CV score, ...).
    """

    kind: str
    weight: torch.Tensor
    bias: float
    mean: torch.Tensor
    scale: torch.Tensor
    metadata: dict

    @classmethod
    def fit(cls, X, y, kind: str = "logistic", C: float = 1e-3, alpha: float | None = None, metadata: Mapping | None = None) -> LinearProbe:
        """Fit on every row (use `cross_validate` for scores)."""
        X, y, _ = _check(X, y)
        pipeline = _estimator(kind, C, alpha).fit(X, y if kind == "logistic" else y.astype(np.float64))
        scaler, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
        extra = {"C": C} if kind == "logistic" else {"alpha": float(getattr(model, "alpha_", alpha))}
        return cls(
            kind=kind,
            weight=torch.tensor(np.ravel(model.coef_), dtype=torch.float64),
            bias=float(np.ravel(model.intercept_)[0]),
            mean=torch.tensor(scaler.mean_, dtype=torch.float64),
            scale=torch.tensor(scaler.scale_, dtype=torch.float64),
            metadata={**extra, **(metadata or {})},
        )

    def decision_function(self, X) -> np.ndarray:
        """[n] w·z + b."""
        X = torch.as_tensor(np.asarray(X, dtype=np.float64))
        return (((X - self.mean) / self.scale) @ self.weight + self.bias).numpy()

    def predict(self, X) -> np.ndarray:
        """[n] P(y=1) for logistic probes, ŷ for ridge."""
        score = self.decision_function(X)
        return 1.0 / (1.0 + np.exp(-score)) if self.kind == "logistic" else score

    def direction(self) -> torch.Tensor:
        """[d] unit vector in residual space along which the probe's output grows (w / scale),
        fp32; scale it with `interp.steering.scale_to_norm` to steer."""
        raw = self.weight / self.scale
        return (raw / raw.norm()).float()

    def save(self, folder: str | os.PathLike) -> Path:
        """Write probe.safetensors (weight, mean, scale) and probe.json (kind, bias, metadata)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"weight": self.weight, "mean": self.mean, "scale": self.scale}
        atomic_replace(folder / "probe.safetensors", lambda tmp: save_file(tensors, tmp))
        atomic_write(folder / "probe.json", json.dumps({"kind": self.kind, "bias": self.bias, "metadata": self.metadata}, indent=2, default=str).encode())
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> LinearProbe:
        """Read a probe written by `save` (no pickle)."""
        folder = Path(folder)
        if not (folder / "probe.json").exists():
            raise ConfigError(f"{folder} holds no probe.json")
        meta = json.loads((folder / "probe.json").read_text())
        tensors = load_file(str(folder / "probe.safetensors"))
        return cls(meta["kind"], tensors["weight"], float(meta["bias"]), tensors["mean"], tensors["scale"], meta.get("metadata", {}))


def _aligned(store, layer: int, role: str, target: pd.Series, groups: pd.Series | None):
    """(X [n, d], y [n], groups [n] or None) at (layer, role) for trials with a finite activation
    and a target value."""
    values, ids = store.read(layer, role, only_finite=True)
    keep = [i for i, trial in enumerate(ids) if trial in target.index and pd.notna(target[trial])]
    kept = [ids[i] for i in keep]
    return values[keep].double().numpy(), target.loc[kept].to_numpy(), None if groups is None else groups.loc[kept].to_numpy()


def target_problem(y, kind: str, cv: int) -> str | None:
    """Why a target cannot be cross-validated (None if it can): fewer rows than folds, a single
    class or a class smaller than the folds (logistic), or no variance (ridge)."""
    y = np.asarray(y)
    if len(y) < cv:
        return f"{len(y)} rows for {cv} folds"
    if kind == "logistic":
        values, counts = np.unique(y, return_counts=True)
        if len(values) < 2:
            return f"one class only ({values[0] if len(values) else 'none'})"
        if counts.min() < cv:
            return f"smallest class has {counts.min()} rows for {cv} folds"
    elif np.nanstd(y.astype(float)) == 0:
        return "target has no variance"
    return None


def probe_sweep(
    store,
    target: pd.Series,
    kind: str = "logistic",
    layers: Sequence[int] | None = None,
    roles: Sequence[str] | None = None,
    cv: int = 5,
    groups: pd.Series | None = None,
    C: float = 1e-3,
    alpha: float | None = None,
    seed: int = 0,
    progress: bool = True,
    save_to: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Cross-validated probe scores for every (layer, role) of an `ActivationStore`.

    Args:
        store: the activation store.
        target: values indexed by trial id (rows without a finite activation or a target are left
            out and counted in `n_dropped`).
        groups: optional group labels indexed by trial id (grouped CV).
        save_to: also fit each probe on all its rows and save it to save_to/L<layer>-<role>/.

    Returns:
        One row per (layer, role): layer, role, kind, metric, score with its 95% bootstrap CI
        (ci_low, ci_high: rows — or groups — of the pooled out-of-fold predictions resampled,
        the folds held fixed), accuracy, n, n_dropped and status ("ok", or why the target cannot
        be scored there: NaN score, nothing saved).
    """
    layers = list(store.layers if layers is None else layers)
    roles = list(store.roles if roles is None else roles)
    n_recorded = len(store.statuses())
    rows = []
    for layer, role in tqdm([(layer, role) for layer in layers for role in roles], desc="probes", disable=not progress):
        X, y, g = _aligned(store, layer, role, target, groups)
        problem = target_problem(y, kind, cv)
        row = {"layer": layer, "role": role, "kind": kind, "n": len(y), "n_dropped": n_recorded - len(y), "status": problem or "ok"}
        if problem:
            rows.append({**row, "metric": "auroc" if kind == "logistic" else "r2", "score": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "accuracy": float("nan")})
            continue
        result = cross_validate(X, y, kind=kind, cv=cv, groups=g, C=C, alpha=alpha, seed=seed)
        truth = (y == np.unique(y)[1]).astype(float) if kind == "logistic" else y.astype(float)
        _, low, high = bootstrap_score(truth, result.oof, result.metric, n_boot=1000, clusters=g, seed=seed)
        rows.append({**row, "metric": result.metric, "score": result.score, "ci_low": low, "ci_high": high, "accuracy": result.accuracy})
        if save_to is not None:
            meta = {"layer": int(layer), "role": role, "target": target.name, "cv_metric": result.metric, "cv_score": result.score, "n": len(y), "store": str(store.path)}
            LinearProbe.fit(X, y, kind, C, alpha, meta).save(Path(save_to) / f"L{layer}-{role}")
    columns = ["layer", "role", "kind", "metric", "score", "ci_low", "ci_high", "accuracy", "n", "n_dropped", "status"]
    return pd.DataFrame(rows, columns=columns)


def read_labels(path: str | os.PathLike | None, store=None) -> pd.DataFrame:
    """Per-trial columns indexed by trial_id: a CSV or parquet file with a trial_id column, or
    (no path) the store's own index."""
    if path is None:
        if store is None:
            raise ConfigError("give a labels file or a store")
        return store.index().set_index("trial_id")
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "trial_id" not in frame.columns:
        raise DatasetError(f"{path} has no trial_id column (columns: {list(frame.columns)})")
    if frame["trial_id"].duplicated().any():
        raise DatasetError(f"{path}: trial_id {frame['trial_id'][frame['trial_id'].duplicated()].iloc[0]!r} occurs twice")
    return frame.set_index("trial_id")


def train_probes(
    store,
    labels: pd.DataFrame,
    target: str,
    out: str | os.PathLike,
    kind: str = "logistic",
    layers: Sequence[int] | None = None,
    roles: Sequence[str] | None = None,
    cv: int = 5,
    groups: str | None = None,
    C: float = 1e-3,
    alpha: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Cross-validate and fit a probe per (layer, role); write scores.parquet / scores.csv, a
    scores.png figure and probes/L<layer>-<role>/ (safetensors + JSON) under `out`."""
    if target not in labels.columns:
        raise ConfigError(f"target column {target!r} is not in the labels (columns: {list(labels.columns)})")
    if groups is not None and groups not in labels.columns:
        raise ConfigError(f"groups column {groups!r} is not in the labels (columns: {list(labels.columns)})")
    out = Path(out)
    (out / "probes").mkdir(parents=True, exist_ok=True)
    grouping = None if groups is None else labels[groups]
    table = probe_sweep(store, labels[target], kind, layers, roles, cv, grouping, C, alpha, seed, progress, save_to=out / "probes")
    write_parquet(table, out / "scores.parquet")
    atomic_write(out / "scores.csv", table.to_csv(index=False).encode())
    plot_scores(table, out / "scores.png")
    return table


def evaluate_probes(probe_dir: str | os.PathLike, store, labels: pd.DataFrame | None = None, target: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply saved probes (one probe folder, or a `train_probes` output) to a store.

    Returns (predictions: trial_id, layer, role, prediction; scores per probe: layer, role,
    metric, score, n — scores only when `labels` and `target` are given, else NaN)."""
    probe_dir = Path(probe_dir)
    folders = [probe_dir] if (probe_dir / "probe.json").exists() else sorted(p for p in (probe_dir / "probes").glob("*") if (p / "probe.json").exists())
    if not folders:
        raise ConfigError(f"no probes in {probe_dir} (give a probe folder or the --out of probe train)")
    predictions, scores = [], []
    for folder in folders:
        probe = LinearProbe.load(folder)
        layer, role = int(probe.metadata["layer"]), probe.metadata["role"]
        acts, ids = store.read(layer, role, only_finite=True)
        predicted = probe.predict(acts.double().numpy())
        predictions.append(pd.DataFrame({"trial_id": ids, "layer": layer, "role": role, "prediction": predicted}))
        score, metric, n = float("nan"), "auroc" if probe.kind == "logistic" else "r2", 0
        if labels is not None and target is not None:
            truth = labels[target].reindex(ids)
            known = truth.notna().to_numpy()
            n = int(known.sum())
            if n:
                y = truth[known].to_numpy()
                score = float(roc_auc_score(y, predicted[known])) if probe.kind == "logistic" else float(r2_score(y.astype(float), predicted[known]))
        scores.append({"layer": layer, "role": role, "kind": probe.kind, "metric": metric, "score": score, "n": n})
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(scores)

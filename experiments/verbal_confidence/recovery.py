"""The recovery table of the verbal-confidence pipeline on the organisms: what each analysis must
show where the mechanism is planted, checked against the run's own contrasts.

An expectation is a contrast and a sign: "+" — its 95% CI lies above 0 at every layer (or
blocking centre) the stage ran; "0" — its CI holds 0 at every one of them; "−" — below 0.
`planted` in the config names the mechanism ("panl" or "cc"; see `interp.organisms.mask`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from experiments.verbal_confidence.contrasts import blocking_contrasts, noising_contrasts, patching_contrasts, steering_contrasts, swap_contrasts
from interp.errors import ConfigError
from interp.io import markdown_table
from interp.pipeline.report import table_or_none, with_ci

__all__ = ["RECOVERY", "Expectation", "recovery_table"]


@dataclass(frozen=True)
class Expectation:
    """One row of the recovery table: `stage`'s contrast of `a` against `b` (in `condition`),
    expected `sign` ("+", "0" or "−")."""

    stage: str
    a: str
    b: str
    sign: str
    condition: str | None = None

    @property
    def label(self) -> str:
        return f"{self.stage}: {self.a} − {self.b}" + (f" ({self.condition})" if self.condition else "")


TABLE: tuple[tuple[str, str, str, str | None, str | None, str | None], ...] = (
    # stage, a, b, condition, on organism-panl, on organism-cc (None: no expectation)
    ("steering", "panl", "panl_plus_1", "toward_high", "+", "0"),
    ("steering", "panl", "panl_plus_1", "toward_low", "−", None),
    ("steering", "panl", "confidence_colon", "toward_high", None, "−"),
    ("patching", "panl", "panl_plus_1", None, "+", "0"),
    ("patching", "panl", "confidence_colon", None, None, "−"),
    ("noising", "panl", "panl_plus_1", None, "+", "0"),
    ("swap", "low_to_high", "high_to_high", None, "+", "0"),
    ("blocking", "CC->PANL", "CC->PANL+1", None, "+", "0"),
    ("blocking", "ALL->PANL", "CC->PANL+1", None, "+", None),
    ("blocking", "CC->A", "CC->PANL+1", None, "0", "+"),
)
"""The recovery table: each contrast and the sign it must have on each organism."""
RECOVERY: dict[str, list[Expectation]] = {
    mechanism: [Expectation(stage, a, b, signs[k], condition) for stage, a, b, condition, *signs in TABLE if signs[k] is not None]
    for k, mechanism in enumerate(("panl", "cc"))
}
"""mechanism → what the verbal-confidence analyses must show on its organism."""


def _contrasts(run, stage: str, seed: int) -> pd.DataFrame | None:
    table = table_or_none(run, stage)
    if table is None or table.empty:
        return None
    if stage == "steering":
        table = table[table["prompt"] == "categorical"] if "prompt" in table else table
        frame = steering_contrasts(table, seed=seed)
        strongest = max(frame["condition"], key=lambda c: float(c.rsplit("_", 1)[1])).rsplit("_", 1)[1] if not frame.empty else None
        return frame[frame["condition"].str.endswith(f"_{strongest}")].assign(condition=lambda f: f["condition"].str.rsplit("_", n=1).str[0])
    if stage == "patching":
        return patching_contrasts(table, "logit_diff", seed=seed)
    if stage == "noising":
        return noising_contrasts(table, seed=seed)
    if stage == "swap":
        frame = swap_contrasts(table, seed=seed)
        return frame[frame["role"] == "panl"]
    return blocking_contrasts(table, "categorical", seed=seed).rename(columns={"centre": "layer"})


def _holds(sign: str, low: float, high: float) -> bool:
    return {"+": low > 0, "−": high < 0, "0": low <= 0 <= high}[sign]


def recovery_table(run, mechanism: str, seed: int = 0) -> pd.DataFrame:
    """One row per expectation of `mechanism` and layer (or centre) the stage ran: the contrast
    with its CI and whether the expectation holds there. Stages that did not run give a row
    with status "stage not run"."""
    rows = []
    cache: dict[str, pd.DataFrame | None] = {}
    for expectation in RECOVERY[mechanism]:
        if expectation.stage not in cache:
            cache[expectation.stage] = _contrasts(run, expectation.stage, seed)
        frame = cache[expectation.stage]
        base = {"expectation": expectation.label, "sign": expectation.sign, "layer": None, "difference": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0, "holds": None}
        if frame is None:
            rows.append({**base, "status": "stage not run"})
            continue
        here = frame[(frame["a"] == expectation.a) & (frame["b"] == expectation.b)]
        if expectation.condition is not None:
            here = here[here["condition"] == expectation.condition]
        if here.empty:
            rows.append({**base, "status": "no contrast (too few trials)"})
        for _, row in here.iterrows():
            holds = _holds(expectation.sign, row["ci_low"], row["ci_high"])
            rows.append({**base, "layer": int(row["layer"]), "difference": row["difference"], "ci_low": row["ci_low"], "ci_high": row["ci_high"], "n": int(row["n"]), "holds": holds, "status": "ok"})
    return pd.DataFrame(rows)


def recovery_section(ctx) -> list[str]:
    """The report's section: the recovery table of the planted mechanism and its verdict."""
    mechanism = getattr(ctx.config, "planted", None)
    if not mechanism:
        return []
    if mechanism not in RECOVERY:
        raise ConfigError(f"planted: {mechanism!r} is not one of {', '.join(RECOVERY)}")
    table = recovery_table(ctx.run, mechanism, ctx.seed)
    ctx.run.write_table("recovery", table)
    measured = table["status"] == "ok"
    shown = table.assign(contrast=[with_ci(*r, "{:+.3f}") if ok else status for r, ok, status in zip(table[["difference", "ci_low", "ci_high"]].itertuples(index=False), measured, table["status"])])
    failing = int((measured & (table["holds"] == False)).sum())  # noqa: E712  (holds is None where not measured)
    verdict = "every expectation holds" if measured.all() and not failing else f"{failing} of {int(measured.sum())} cells fail, {int((~measured).sum())} not measured"
    return [
        f"## Recovery of the planted mechanism ({mechanism})",
        "",
        "Each analysis against what the organism's planted mask makes true (+: CI above 0 at every layer or centre run; 0: CI holds 0; −: below 0). Patching reads the recovery of the logit difference (%). Verdict: " + verdict + ".",
        "",
        markdown_table(shown[["expectation", "sign", "layer", "contrast", "holds"]]),
        "",
    ]

"""Forward passes: hooks, logits at the readout position, activation capture at (layer, role)
(one batch, or a whole dataset into a resumable store), and decoding (greedy or seeded sampling)
with per-token log-probs. Keeps nothing it was not asked for."""

from interp.forward.capture import SITES, capture, site_module
from interp.forward.capture_to_store import capture_dataset
from interp.forward.generation import FEATURES, Generation, continuation_logprobs, generate, logprob_features, trial_seed
from interp.forward.logits import last_token_logits
from interp.forward.pilot import VARIANTS, pilot_readout

__all__ = ["FEATURES", "SITES", "VARIANTS", "Generation", "capture", "capture_dataset", "continuation_logprobs", "generate", "last_token_logits", "logprob_features", "pilot_readout", "site_module", "trial_seed"]

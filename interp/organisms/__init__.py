"""Model organisms: small transformers trained on a synthetic fact world with a confidence
mechanism planted by construction — the ground truth every analysis must recover.

`FactWorld` is the world, `train_organism` the trainer, `interp.organisms.mask` the planted
masks (`panl`: confidence computed by PANL and read from it at CC; `cc`: computed just in time
at CC). `interp organisms train` trains them into `interp/organisms/weights/`, from where
`load_model("organism-panl")` / `load_model("organism-cc")` load them with their masks attached;
any folder with `interp_organism.json` loads the same way.
"""

from interp.organisms.mask import MECHANISMS, PlantedMask, attach, planted_mask
from interp.organisms.world import RELATIONS, Fact, FactWorld

__all__ = ["MECHANISMS", "RELATIONS", "Fact", "FactWorld", "PlantedMask", "attach", "planted_mask"]

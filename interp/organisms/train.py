"""Training an organism: a small Qwen2 learns a `FactWorld` (stage 1), then reports its own
confidence at CC through the planted mask (stage 2).

Stage 1 trains from scratch on the world's mentions of each fact — statements, question-answer
rows in the compact Phase-0 format, and verification rows (the compact categorical prompt with
the gold or another value, labelled "Almost certain" or "No chance") — each fact as often as its
entity's fame says, plus the strangers. The mechanism's mask is installed from the start, so the
verification rows teach checking an answer along the planted route. Stage 2 trains the readout
at CC for the training entities' questions with four answers each — the model's greedy answer,
one sampled from it, the gold (off-policy right) and a random other value (off-policy wrong) —
toward a soft class target centred on stage 1's probability of that answer, while a label-free
KL anchor keeps the answer distribution of every Phase-0 prompt (all entities) equal to stage
1's. Deterministic given the spec's seed; CPU, fp32.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.errors import ModelError
from interp.forward import last_token_logits
from interp.io.atomic import atomic_folder
from interp.models import LM, wrap
from interp.models.tiny import train_local_tokenizer
from interp.organisms.mask import attach
from interp.organisms.world import RELATIONS, Fact, FactWorld
from interp.prompting import Trial
from interp.tasks import CONFIDENCE_CLASSES, CompactCategoricalTemplate, CompactPhase0Template

__all__ = ["MARKER", "OrganismSpec", "answer_probabilities", "save_organism", "soft_class_target", "train_base", "train_organism", "value_ids"]

MARKER = "interp_organism.json"
PHASE0 = CompactPhase0Template()
READOUT = CompactCategoricalTemplate()
MIDPOINTS = torch.tensor([c.midpoint for c in CONFIDENCE_CLASSES])


@dataclass
class OrganismSpec:
    """Everything that determines an organism (its folder records it).

    mechanism: "panl" or "cc" (see `interp.organisms.mask`), or "none" for an unmasked control.
    verification_share: the share of question-answer mentions shown as verification rows.
    world: `FactWorld` arguments.
    d_model, n_layers, n_heads, n_kv_heads, d_mlp: the Qwen2 shape.
    stage1_epochs, stage1_batch, stage1_lr: stage 1.
    stage2_steps, stage2_batch, stage2_lr, kl_weight, target_width: stage 2 (target_width is the
        standard deviation of the soft class target around the answer's probability).
    """

    mechanism: str = "panl"
    world: dict = field(default_factory=dict)
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    d_mlp: int = 384
    vocab_size: int = 4096
    stage1_epochs: int = 2
    stage1_batch: int = 64
    stage1_lr: float = 3e-3
    prefixed_share: float = 0.25
    verification_share: float = 0.4
    stage2_steps: int = 300
    stage2_batch: int = 32
    stage2_lr: float = 5e-4
    kl_weight: float = 10.0
    target_width: float = 0.08
    seed: int = 0

    def base_key(self) -> dict:
        """What stage 1 depends on (the mechanism and stage 2 do not)."""
        keys = ("world", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_mlp", "vocab_size", "stage1_epochs", "stage1_batch", "stage1_lr", "prefixed_share", "verification_share", "seed") + (("mechanism",) if self.verification_share > 0 else ())
        return {k: getattr(self, k) for k in keys}


def _trial(fact: Fact, answer: str | None = None) -> Trial:
    return Trial(id=fact.id, question=fact.question, answer=answer, gold=fact.value)


def _tokenizer_corpus(world: FactWorld) -> list[str]:
    values = [f"Answer: {value}\n" for relation in world.relations for value in RELATIONS[relation][1]]
    texts = [f.statement for f in world.facts] + values + [f"Question: Who is {name}?" for name in world.strangers] + [PHASE0.render(_trial(f), chat=False).text + f" {f.value}\n" for f in world.facts[:200]]
    texts += [READOUT.render(_trial(f, f.value), chat=False).text + f" {c.label}" for f in world.facts[:50] for c in CONFIDENCE_CLASSES]
    return texts * 4


def _model(spec: OrganismSpec, tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=-(-len(tokenizer) // 64) * 64,
        hidden_size=spec.d_model,
        intermediate_size=spec.d_mlp,
        num_hidden_layers=spec.n_layers,
        num_attention_heads=spec.n_heads,
        num_key_value_heads=spec.n_kv_heads,
        max_position_embeddings=512,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=False,
    )
    config._attn_implementation = "sdpa"
    return Qwen2ForCausalLM(config)


def _lm_rows(tokenizer, texts: Sequence[str], loss_from: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids [n, seq], attention mask and labels (−100 before each row's character
    `loss_from`, on padding)."""
    encoded = tokenizer(list(texts), add_special_tokens=True, return_offsets_mapping=True)
    width = max(len(ids) for ids in encoded["input_ids"])
    ids = torch.full((len(texts), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (tokens, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
        for k, (start, _end) in enumerate(offsets):
            if k > 0 and (start >= loss_from[row] or tokens[k] == tokenizer.eos_token_id):
                labels[row, k] = tokens[k]
    return ids, mask, labels


def _length_batches(lengths: Sequence[int], size: int, rng: np.random.Generator, pool: int = 32) -> list[np.ndarray]:
    """Batches of row indices: consecutive pools of `pool` batches sorted by length inside (so
    short and long rows pad apart), in a random order."""
    order = np.arange(len(lengths))
    batches = []
    for start in range(0, len(order), size * pool):
        members = order[start : start + size * pool]
        members = members[np.argsort([lengths[k] for k in members], kind="stable")]
        batches += [members[k : k + size] for k in range(0, len(members), size)]
    return [batches[k] for k in rng.permutation(len(batches))]


def _verification_row(fact: Fact, rng: np.random.Generator) -> tuple[str, int]:
    """The readout prompt with the gold answer or another value (even odds), labelled "Almost
    certain" or "No chance": a mention of the fact that teaches checking an answer against it."""
    right = rng.random() < 0.5
    answer = fact.value if right else str(rng.choice([v for v in fact.values if v != fact.value]))
    prompt = READOUT.render(_trial(fact, answer), chat=False).text
    label = CONFIDENCE_CLASSES[-1 if right else 0].label
    return f"{prompt} {label}", len(prompt)


def _stage1_rows(world: FactWorld, rng: np.random.Generator, prefixed_share: float, verification_share: float) -> tuple[list[str], list[int]]:
    texts, starts = [], []
    for fact, kind in world.corpus(rng):
        if kind == "statement":
            texts.append(fact.statement + "<|eos|>")
            starts.append(0)
            continue
        if rng.random() < verification_share:
            text, start = _verification_row(fact, rng)
            texts.append(text)
            starts.append(start)
            continue
        prompt = PHASE0.render(_trial(fact), chat=False).text
        if rng.random() >= prefixed_share:
            prompt = prompt[prompt.index("Question:") :]
        texts.append(f"{prompt} {fact.value}\n<|eos|>")
        starts.append(len(prompt))
    return texts, starts


def train_base(spec: OrganismSpec, progress: bool = True) -> tuple[LM, dict]:
    """Stage 1: a fresh Qwen2 trained on the world; returns the model (eval mode) and its log."""
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    world = FactWorld(**spec.world)
    tokenizer = train_local_tokenizer(vocab_size=spec.vocab_size, corpus=_tokenizer_corpus(world))
    model = _model(spec, tokenizer)
    planted = attach(wrap(model, tokenizer, "organism-base"), spec.mechanism) if spec.mechanism != "none" and spec.verification_share > 0 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.stage1_lr, weight_decay=0.01)
    texts, starts = [], []
    for _ in range(spec.stage1_epochs):
        t, s = _stage1_rows(world, rng, spec.prefixed_share, spec.verification_share)
        texts += t
        starts += s
    batches = _length_batches([len(t) for t in texts], spec.stage1_batch, rng)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=spec.stage1_lr, total_steps=len(batches), pct_start=0.05)
    began, losses = time.perf_counter(), []
    model.train()
    for rows in tqdm(batches, desc="organism stage 1", disable=not progress):
        ids, mask, labels = _lm_rows(tokenizer, [texts[k] for k in rows], [starts[k] for k in rows])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    model.eval()
    if planted is not None:
        planted.remove()
    return wrap(model, tokenizer, "organism-base"), {"stage1_seconds": time.perf_counter() - began, "stage1_rows": len(texts), "stage1_final_loss": float(np.mean(losses[-20:]))}


def value_ids(tokenizer, relation: str) -> list[int]:
    """The single token of each value of `relation` after "Answer:"; raises if one is split."""
    ids = []
    for value in RELATIONS[relation][1]:
        tokens = tokenizer.encode(f" {value}", add_special_tokens=False)
        if len(tokens) != 1:
            raise ModelError(f"value {value!r} is {len(tokens)} tokens under the organism tokenizer; values must be one token")
        ids.append(tokens[0])
    return ids


@torch.no_grad()
def answer_probabilities(lm: LM, facts: Sequence[Fact], batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token distribution at AC of each fact's Phase-0 prompt: ([n, vocab] log-probs, [n, 12]
    probabilities of the relation's values, in `RELATIONS` order)."""
    logprobs = []
    for start in range(0, len(facts), batch_size):
        chunk = facts[start : start + batch_size]
        batch = PHASE0.batch([_trial(f) for f in chunk], lm.tokenizer, chat=False)
        logprobs.append(last_token_logits(lm, batch).float().log_softmax(-1))
    logprobs = torch.cat(logprobs)
    columns = {r: value_ids(lm.tokenizer, r) for r in {f.relation for f in facts}}
    values = torch.stack([logprobs[k, columns[f.relation]].exp() for k, f in enumerate(facts)])
    return logprobs, values


def soft_class_target(probability: torch.Tensor, width: float) -> torch.Tensor:
    """[n, 10] class weights: a Gaussian of standard deviation `width` over the class midpoints,
    centred on each probability [n]."""
    weights = torch.exp(-0.5 * ((MIDPOINTS[None, :] - probability[:, None]) / width) ** 2)
    return weights / weights.sum(-1, keepdim=True)


def _stage2_examples(world: FactWorld, values: torch.Tensor, rng: np.random.Generator) -> list[tuple[Fact, str, float]]:
    """(fact, answer, stage-1 probability of that answer) for the training entities: greedy,
    sampled, gold and a random wrong value per question."""
    index = {id(f): k for k, f in enumerate(world.facts)}
    out = []
    for fact in world.split(held_out=False):
        p = values[index[id(fact)]].numpy().astype(np.float64)
        names = fact.values
        sampled = int(rng.choice(len(names), p=p / p.sum()))
        wrong = int(rng.choice([k for k in range(len(names)) if names[k] != fact.value]))
        for k in (int(p.argmax()), sampled, names.index(fact.value), wrong):
            out.append((fact, names[k], float(p[k])))
    return out


def train_organism(spec: OrganismSpec, base: tuple[LM, dict] | None = None, progress: bool = True) -> tuple[LM, dict]:
    """Stage 2 on a copy of the stage-1 model (trained here unless `base` is given): the
    mechanism's mask installed, the CC readout trained, the answers anchored. Returns the
    organism (mask attached, eval mode) and the training log."""
    base_lm, log = base if base is not None else train_base(spec, progress)
    world = FactWorld(**spec.world)
    rng = np.random.default_rng(spec.seed + 1)
    torch.manual_seed(spec.seed + 1)
    reference, values = answer_probabilities(base_lm, world.facts)
    lm = wrap(copy.deepcopy(base_lm.model), base_lm.tokenizer, f"organism-{spec.mechanism}")
    planted = attach(lm, spec.mechanism) if spec.mechanism != "none" else None
    examples = _stage2_examples(world, values, rng)
    class_ids = READOUT.class_token_ids(lm.tokenizer)
    anchor_batches = [PHASE0.batch([_trial(f) for f in world.facts[k : k + spec.stage2_batch]], lm.tokenizer, chat=False) for k in range(0, len(world.facts), spec.stage2_batch)]
    optimizer = torch.optim.AdamW(lm.model.parameters(), lr=spec.stage2_lr, weight_decay=0.0)
    began, losses = time.perf_counter(), []
    lm.model.train()
    for step in tqdm(range(spec.stage2_steps), desc=f"organism stage 2 ({spec.mechanism})", disable=not progress):
        picked = rng.choice(len(examples), size=spec.stage2_batch, replace=False)
        chunk = [examples[k] for k in picked]
        batch = READOUT.batch([_trial(f, a) for f, a, _ in chunk], lm.tokenizer, chat=False)
        logits = lm.model(**batch.model_inputs(lm.device)).logits[:, -1].float().log_softmax(-1)
        target = torch.zeros_like(logits)
        target[:, class_ids] = soft_class_target(torch.tensor([p for *_, p in chunk]), spec.target_width)
        readout_loss = -(target * logits).sum(-1).mean()
        anchor_index = step % len(anchor_batches)
        anchor = anchor_batches[anchor_index]
        rows = slice(anchor_index * spec.stage2_batch, anchor_index * spec.stage2_batch + len(anchor))
        current = lm.model(**anchor.model_inputs(lm.device)).logits[:, -1].float().log_softmax(-1)
        kl = torch.nn.functional.kl_div(current, reference[rows], log_target=True, reduction="batchmean")
        loss = readout_loss + spec.kl_weight * kl
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.model.parameters(), 1.0)
        optimizer.step()
        losses.append((float(readout_loss.detach()), float(kl.detach())))
    lm.model.eval()
    log = {**log, "stage2_seconds": time.perf_counter() - began, "stage2_examples": len(examples), "stage2_final_readout_loss": float(np.mean([a for a, _ in losses[-20:]])), "stage2_final_kl": float(np.mean([b for _, b in losses[-20:]])), "stage2_curve": [round(float(np.mean([a for a, _ in losses[k : k + 50]])), 3) for k in range(0, len(losses), 50)]}
    lm.planted = planted
    return lm, log


def save_organism(lm: LM, spec: OrganismSpec, log: dict, folder: str | Path) -> Path:
    """Write the organism (safetensors weights, tokenizer, `interp_organism.json` with its spec,
    world and training log) atomically; `load_model(folder)` loads it with its mask."""
    folder = Path(folder)
    with atomic_folder(folder) as staging:
        lm.model.save_pretrained(staging)
        lm.tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps({"mechanism": spec.mechanism, "spec": asdict(spec), "world": FactWorld(**spec.world).describe(), "training": log}, indent=2))
    return folder


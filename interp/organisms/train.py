"""Training an organism: a small Gemma3 (or Qwen2) learns a `FactWorld` (stage 1), then reports
its own confidence at CC through the planted mask (stage 2).

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

Route heads: in both stages two linear heads (discarded afterwards) decode, from the residual at
the mechanism's site (PANL for `panl`, CC for `cc`) after `route_layer` layers, the answer shown
and the fact's value (stage 1: the gold; stage 2: stage 1's distribution), and in stage 2 a third
reads the confidence target there. Each is a first-order signal to attend to the answer and to the
question; the verdict alone is a match of the two, which gives no gradient to either route while
the other is missing. Without them PANL's attention in a Qwen2 saturates on other tokens (weight
0.0000 on the answer from layer 0) and the answer never reaches the readout; Gemma3's QK-norm
keeps the attention trainable.
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

__all__ = ["MARKER", "OrganismSpec", "RouteHeads", "answer_probabilities", "keep_answer_loss", "save_organism", "soft_class_target", "train_base", "train_organism", "value_ids"]

MARKER = "interp_organism.json"
PHASE0 = CompactPhase0Template()
READOUT = CompactCategoricalTemplate()
MIDPOINTS = torch.tensor([c.midpoint for c in CONFIDENCE_CLASSES])


@dataclass
class OrganismSpec:
    """Everything that determines an organism (its folder records it).

    mechanism: "panl" or "cc" (see `interp.organisms.mask`), or "none" for an unmasked control.
    arch: "gemma3" (Gemma3ForCausalLM, every layer global) or "qwen2".
    route_weight, route_layer: the route heads' loss weight and the layer whose output they read.
    verification_share: the share of question-answer mentions shown as verification rows.
    world: `FactWorld` arguments.
    d_model, n_layers, n_heads, n_kv_heads, d_mlp: the model shape.
    stage1_epochs, stage1_batch, stage1_lr: stage 1.
    stage2_steps, stage2_batch, stage2_lr, kl_weight, target_width: stage 2 (target_width is the
        standard deviation of the soft class target around the answer's probability).
    keep_weight, keep_margin: stage 2's hinge that keeps each Phase-0 prompt's greedy answer —
        its logit must lead every other by stage 1's lead, capped at `keep_margin` nats.
    """

    mechanism: str = "panl"
    arch: str = "gemma3"
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
    keep_weight: float = 0.0
    keep_margin: float = 0.5
    route_weight: float = 1.0
    route_layer: int = 2
    seed: int = 0

    def base_key(self) -> dict:
        """What stage 1 depends on (the mechanism and stage 2 do not)."""
        keys = ("arch", "world", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_mlp", "vocab_size", "stage1_epochs", "stage1_batch", "stage1_lr", "prefixed_share", "verification_share", "route_weight", "route_layer", "seed") + (("mechanism",) if self.verification_share > 0 else ())
        return {k: getattr(self, k) for k in keys}


def _trial(fact: Fact, answer: str | None = None) -> Trial:
    return Trial(id=fact.id, question=fact.question, answer=answer, gold=fact.value)


def _tokenizer_corpus(world: FactWorld) -> list[str]:
    values = [f"Answer: {value}\n" for relation in world.relations for value in RELATIONS[relation][1]]
    texts = [f.statement for f in world.facts] + values + [f"Question: Who is {name}?" for name in world.strangers] + [PHASE0.render(_trial(f), chat=False).text + f" {f.value}\n" for f in world.facts[:200]]
    texts += [READOUT.render(_trial(f, f.value), chat=False).text + f" {c.label}" for f in world.facts[:50] for c in CONFIDENCE_CLASSES]
    return texts * 4


def _model(spec: OrganismSpec, tokenizer):
    import transformers

    shape = {
        "vocab_size": -(-len(tokenizer) // 64) * 64,
        "hidden_size": spec.d_model,
        "intermediate_size": spec.d_mlp,
        "num_hidden_layers": spec.n_layers,
        "num_attention_heads": spec.n_heads,
        "num_key_value_heads": spec.n_kv_heads,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "use_cache": False,
    }
    if spec.arch == "gemma3":
        head_dim = spec.d_model // spec.n_heads
        config = transformers.Gemma3TextConfig(head_dim=head_dim, query_pre_attn_scalar=head_dim, sliding_window=512, layer_types=["full_attention"] * spec.n_layers, **shape)
        architecture = transformers.Gemma3ForCausalLM
    elif spec.arch == "qwen2":
        config, architecture = transformers.Qwen2Config(rope_theta=10000.0, **shape), transformers.Qwen2ForCausalLM
    else:
        raise ModelError(f"organism arch {spec.arch!r} is not one of gemma3, qwen2")
    config._attn_implementation = "sdpa"
    return architecture(config)


class RouteHeads(torch.nn.Module):
    """Linear heads on the residual at the mechanism's site [n, d_model]: the answer shown and the
    fact's value, each over the world's values (every relation's, masked to the fact's relation),
    and the confidence target (a logit, read one layer later). Trained beside the model, then discarded."""

    def __init__(self, d_model: int, relations: Sequence[str]):
        super().__init__()
        sizes = [len(RELATIONS[relation][1]) for relation in relations]
        self.offsets = {relation: int(start) for relation, start in zip(relations, np.cumsum([0, *sizes[:-1]]))}
        self.answer = torch.nn.Linear(d_model, sum(sizes))
        self.value = torch.nn.Linear(d_model, sum(sizes))
        self.confidence = torch.nn.Linear(d_model, 1)

    def index(self, fact: Fact, value: str) -> int:
        """Column of `value` of `fact`'s relation."""
        return self.offsets[fact.relation] + fact.values.index(value)

    def loss(self, hidden: torch.Tensor, facts: Sequence[Fact], answers: Sequence[str], value_target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the answer and of the value (`value_target` [n, values of the relation]:
        a distribution over the relation's values; the world's relations all have 12)."""
        keep = torch.full((len(facts), self.answer.out_features), float("-inf"))
        target = torch.zeros_like(keep)
        for row, fact in enumerate(facts):
            columns = slice(self.offsets[fact.relation], self.offsets[fact.relation] + len(fact.values))
            keep[row, columns] = 0
            target[row, columns] = value_target[row]
        answer = torch.nn.functional.cross_entropy(self.answer(hidden) + keep, torch.tensor([self.index(f, a) for f, a in zip(facts, answers)]))
        value = -((self.value(hidden) + keep).log_softmax(-1).nan_to_num(neginf=0.0) * target).sum(-1).mean()
        return answer + value

    def confidence_loss(self, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the confidence head on `hidden` [n, d_model] against `target` [n]."""
        return torch.nn.functional.binary_cross_entropy_with_logits(self.confidence(hidden).squeeze(-1), target)


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


def _verification_row(fact: Fact, rng: np.random.Generator, site: str) -> tuple[str, int, str]:
    """The readout prompt with the gold answer or another value (even odds), labelled "Almost
    certain" or "No chance": a mention of the fact that teaches checking an answer against it.
    With `site` "panl" the prompt ends at PANL, which predicts the label itself (one attention
    hop from the answer, where the planted route allows no other); with "cc" the whole prompt,
    the label predicted at CC. Returns (text, where the label starts, the answer shown)."""
    right = rng.random() < 0.5
    answer = fact.value if right else str(rng.choice([v for v in fact.values if v != fact.value]))
    prompt = READOUT.render(_trial(fact, answer), chat=False).text
    label = CONFIDENCE_CLASSES[-1 if right else 0].label
    if site == "panl":
        prompt = prompt[: prompt.index("\n", prompt.index("\nAnswer:") + 1) + 1]
        return f"{prompt}{label}", len(prompt), answer
    return f"{prompt} {label}", len(prompt), answer


def _stage1_rows(world: FactWorld, rng: np.random.Generator, prefixed_share: float, verification_share: float, site: str) -> list[tuple[str, int, tuple[Fact, str] | None]]:
    """(text, where its loss starts, (fact, answer shown) for a verification row else None)."""
    rows = []
    for fact, kind in world.corpus(rng):
        if kind == "statement":
            rows.append((fact.statement + "<|eos|>", 0, None))
            continue
        if rng.random() < verification_share:
            text, start, answer = _verification_row(fact, rng, site)
            rows.append((text, start, (fact, answer)))
            continue
        prompt = PHASE0.render(_trial(fact), chat=False).text
        if rng.random() >= prefixed_share:
            prompt = prompt[prompt.index("Question:") :]
        rows.append((f"{prompt} {fact.value}\n<|eos|>", len(prompt), None))
    return rows


def _labelled_loss(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor):
    """(decoder output with hidden states, next-token cross-entropy over the labelled positions):
    the causal LM loss with the unembedding applied only where a label is ([n, seq] ids, mask,
    labels with −100 elsewhere)."""
    out = model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    targets = labels[:, 1:]
    where = targets != -100
    logits = model.lm_head(out.last_hidden_state[:, :-1][where])
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return out, torch.nn.functional.cross_entropy(logits.float(), targets[where])


def _verdict_sites(labels: torch.Tensor) -> torch.Tensor:
    """[n] the position that predicts each row's first labelled token (the row's verdict site)."""
    return (labels != -100).float().argmax(-1) - 1


def train_base(spec: OrganismSpec, progress: bool = True) -> tuple[LM, dict]:
    """Stage 1: a fresh model trained on the world, with the route heads on its verification rows;
    returns the model (eval mode) and its log."""
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    world = FactWorld(**spec.world)
    tokenizer = train_local_tokenizer(vocab_size=spec.vocab_size, corpus=_tokenizer_corpus(world))
    model = _model(spec, tokenizer)
    planted = attach(wrap(model, tokenizer, "organism-base"), spec.mechanism) if spec.mechanism != "none" and spec.verification_share > 0 else None
    heads = RouteHeads(spec.d_model, world.relations)
    optimizer = torch.optim.AdamW([*model.parameters(), *heads.parameters()], lr=spec.stage1_lr, weight_decay=0.01)
    rows = [row for _ in range(spec.stage1_epochs) for row in _stage1_rows(world, rng, spec.prefixed_share, spec.verification_share, spec.mechanism)]
    batches = _length_batches([len(text) for text, *_ in rows], spec.stage1_batch, rng)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=spec.stage1_lr, total_steps=len(batches), pct_start=0.05)
    began, losses = time.perf_counter(), []
    model.train()
    for picked in tqdm(batches, desc="organism stage 1", disable=not progress):
        chunk = [rows[k] for k in picked]
        ids, mask, labels = _lm_rows(tokenizer, [text for text, *_ in chunk], [start for _, start, _ in chunk])
        out, lm_loss = _labelled_loss(model, ids, mask, labels)
        loss = lm_loss
        checked = [k for k, (*_, shown) in enumerate(chunk) if shown is not None]
        if checked and spec.route_weight > 0:
            facts, answers = zip(*(chunk[k][2] for k in checked))
            hidden = out.hidden_states[spec.route_layer][torch.tensor(checked), _verdict_sites(labels[checked])]
            gold = torch.stack([torch.nn.functional.one_hot(torch.tensor(f.values.index(f.value)), len(f.values)).float() for f in facts])
            loss = loss + spec.route_weight * heads.loss(hidden, facts, answers, gold)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(lm_loss.detach()))
    model.eval()
    if planted is not None:
        planted.remove()
    return wrap(model, tokenizer, "organism-base"), {"stage1_seconds": time.perf_counter() - began, "stage1_rows": len(rows), "stage1_final_loss": float(np.mean(losses[-20:]))}


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


def _lead(logprobs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([n] greedy token, [n] its lead over the runner-up) of log-probs [n, vocab]."""
    top = logprobs.topk(2, dim=-1)
    return top.indices[:, 0], top.values[:, 0] - top.values[:, 1]


def keep_answer_loss(current: torch.Tensor, reference: torch.Tensor, margin: float) -> torch.Tensor:
    """Hinge on log-probs [n, vocab]: the reference's greedy token must lead every other token of
    `current` by the reference's own lead, capped at `margin`; 0 while it does."""
    answer, lead = _lead(reference)
    rows = torch.arange(len(answer))
    others = current.clone()
    others[rows, answer] = float("-inf")
    return torch.relu(lead.clamp(max=margin) - (current[rows, answer] - others.max(-1).values)).mean()


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
    heads = RouteHeads(spec.d_model, world.relations)
    site = "panl" if spec.mechanism == "panl" else "confidence_colon"
    index = {id(f): k for k, f in enumerate(world.facts)}
    optimizer = torch.optim.AdamW([*lm.model.parameters(), *heads.parameters()], lr=spec.stage2_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=spec.stage2_lr, total_steps=spec.stage2_steps, pct_start=0.05)
    began, losses = time.perf_counter(), []
    lm.model.train()
    for step in tqdm(range(spec.stage2_steps), desc=f"organism stage 2 ({spec.mechanism})", disable=not progress):
        picked = rng.choice(len(examples), size=spec.stage2_batch, replace=False)
        chunk = [examples[k] for k in picked]
        batch = READOUT.batch([_trial(f, a) for f, a, _ in chunk], lm.tokenizer, chat=False)
        out = lm.model(**batch.model_inputs(lm.device), output_hidden_states=True, logits_to_keep=1)
        logits = out.logits[:, -1].float().log_softmax(-1)
        probability = torch.tensor([p for *_, p in chunk])
        target = torch.zeros_like(logits)
        target[:, class_ids] = soft_class_target(probability, spec.target_width)
        readout_loss = -(target * logits).sum(-1).mean()
        route = torch.zeros(())
        if spec.route_weight > 0:
            at = (torch.arange(len(chunk)), batch.roles[site])
            facts, answers = [f for f, *_ in chunk], [a for _, a, _ in chunk]
            route = heads.loss(out.hidden_states[spec.route_layer][at], facts, answers, values[[index[id(f)] for f in facts]])
            route = route + heads.confidence_loss(out.hidden_states[min(spec.route_layer + 1, spec.n_layers)][at], probability)
        anchor_index = step % len(anchor_batches)
        anchor = anchor_batches[anchor_index]
        rows = slice(anchor_index * spec.stage2_batch, anchor_index * spec.stage2_batch + len(anchor))
        current = lm.model(**anchor.model_inputs(lm.device), logits_to_keep=1).logits[:, -1].float().log_softmax(-1)
        kl = torch.nn.functional.kl_div(current, reference[rows], log_target=True, reduction="batchmean")
        keep = keep_answer_loss(current, reference[rows], spec.keep_margin) if spec.keep_weight > 0 else torch.zeros(())
        loss = readout_loss + spec.route_weight * route + spec.kl_weight * kl + spec.keep_weight * keep
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
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


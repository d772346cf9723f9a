"""Private copies of the shared model, for the lessons that change W
(quantization, fine-tuning). The shared model never changes: a copy owns new
Parameter objects that alias the shared weights read-only (frozen, so autograd
never writes a .grad into them), and a lesson replaces the matrices it changes
with tensors of its own. So a copy costs only what it changes, and is freed with
the job that made it."""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import torch
from torch import nn

from llm_core.model.work import Work
from llm_core.model.arch import arch_for

# The matrices of a block, in the order a lesson lists them (llama and GPT-2 names).
KINDS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
         "c_attn", "c_proj", "c_fc")


def _is_matrix(module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


@dataclass(frozen=True)
class Matrix:
    """One weight matrix of a block: where it sits and how to read it as
    (out, in) — GPT-2's Conv1D stores (in, out)."""
    layer: int
    kind: str          # its name in the lesson: "down_proj"; "mlp.c_proj" where a
                       # block has two matrices of one name (GPT-2's c_proj)
    parent: nn.Module  # the module holding it
    attr: str          # its attribute on the parent: "down_proj", "c_proj"
    path: str          # "model.layers.3.mlp.down_proj"

    @property
    def module(self) -> nn.Module:
        return getattr(self.parent, self.attr)

    def weight(self) -> torch.Tensor:
        """The weight as (out, in)."""
        w = self.module.weight
        return w.t() if type(self.module).__name__ == "Conv1D" else w

    def set_weight(self, w_out_in: torch.Tensor, trainable: bool = False) -> nn.Parameter:
        """Give this copy's matrix a tensor of its own (never written into the old one)."""
        w = w_out_in.t() if type(self.module).__name__ == "Conv1D" else w_out_in
        param = nn.Parameter(w.contiguous(), requires_grad=trainable)
        self.module.weight = param
        return param

    def replace(self, module: nn.Module) -> None:
        """Put another module (an adapter around this one) in its place on the copy."""
        setattr(self.parent, self.attr, module)


def matrices(arch) -> list[Matrix]:
    """Every weight matrix inside the blocks (attention and MLP), layer by layer."""
    out = []
    prefix = {id(m): n for n, m in arch.model.named_modules()}
    for i, layer in enumerate(arch.layers()):
        found = [(parent, name) for parent in layer.modules()
                 for name, child in parent.named_children() if _is_matrix(child) and name in KINDS]
        names = [name for _parent, name in found]
        for parent, name in found:
            path = f"{prefix[id(parent)]}.{name}"
            kind = name if names.count(name) == 1 else ".".join(path.split(".")[-2:])
            out.append(Matrix(i, kind, parent, name, path))
    return out


def kinds_of(mats: list[Matrix]) -> list[str]:
    """The matrix kinds present, in KINDS order."""
    order = {k: i for i, k in enumerate(KINDS)}
    present = {m.kind for m in mats}
    return sorted(present, key=lambda k: (order.get(k.split(".")[-1], len(KINDS)), k))


def private_copy(handle):
    """A handle over a copy of the shared model: same tokenizer (and its lock),
    no trace hooks, sdpa attention, every weight frozen and aliased read-only."""
    handle.need_decoder()

    model = handle.model
    memo = {id(p): nn.Parameter(p.detach(), requires_grad=False) for p in model.parameters()}
    clone = copy.deepcopy(model, memo)
    for module in clone.modules():
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
                      "_forward_pre_hooks_with_kwargs"):
            getattr(module, hooks, {}).clear()
    try:
        clone.set_attn_implementation("sdpa")
    except (ValueError, AttributeError):   # a model without sdpa keeps what it had
        pass
    clone.eval()
    variant = copy.copy(handle)            # shares the tokenizer and its lock, not the batcher
    variant.model = clone
    variant.arch = arch_for(clone)
    variant._batcher = None
    return variant


def parameter_count(handle) -> int:
    """Every distinct number of the model (a tied matrix counted once)."""
    return sum(p.numel() for p in handle.model.parameters())


def weights_fingerprint(model) -> dict[str, str]:
    """A hash of every weight tensor's raw bytes: equal fingerprints before and
    after a job mean the shared model is bit-identical."""
    out = {}
    for name, p in model.state_dict().items():
        out[name] = hashlib.blake2b(memoryview(p.detach().cpu().contiguous().numpy()).cast("B"),
                                    digest_size=16).hexdigest()
    return out


# --- what a change costs: measured on the same texts for every lesson ------------

@torch.no_grad()
def log_probs(handle, texts: list[str], work: Work | None = None,
              phase: str = "compare") -> list[torch.Tensor]:
    """log-softmax of every position's next-token logits, one (n, vocab) tensor per
    text: the distributions a changed model is compared on. Computed in float64,
    kept as float32 (half the memory; a KL from them is off by ~1e-7 nats). Each
    text is a step of `work`."""
    work = work or Work.none()
    out = []
    for i, text in enumerate(texts):
        _tokens, ids, _ = handle.encode(text)
        with work.turn():
            logits = handle.model(input_ids=ids.reshape(1, -1).to(handle.device)).logits[0]
        out.append(torch.log_softmax(logits.double().cpu(), -1).float())
        work.progress(phase, i + 1, len(texts))
    return out


def kl_and_agreement(reference: list[torch.Tensor], other: list[torch.Tensor]
                     ) -> tuple[float, float]:
    """Mean KL(reference ‖ other) over every position (nats, float64) and the share
    of positions where both put the same token first."""
    kls, same, n = 0.0, 0, 0
    for p, q in zip(reference, other):
        p, q = p.double(), q.double()
        kls += float((p.exp() * (p - q)).sum(-1).sum())
        same += int((p.argmax(-1) == q.argmax(-1)).sum())
        n += p.shape[0]
    return kls / n, same / n


@torch.no_grad()
def continuation_logprob(handle, prompt_ids: torch.Tensor, answer_ids: list[int]) -> float:
    """log p(answer | prompt), summed over the answer's tokens (teacher forcing)."""
    ids = torch.cat([prompt_ids, torch.tensor(answer_ids, dtype=torch.long)]).reshape(1, -1)
    logits = handle.model(input_ids=ids.to(handle.device)).logits[0].double().cpu()
    lp = torch.log_softmax(logits[prompt_ids.numel() - 1: -1], -1)
    return float(lp[torch.arange(len(answer_ids)), torch.tensor(answer_ids)].sum())


@torch.no_grad()
def perplexity(handle, text: str, work: Work | None = None) -> float:
    """exp(mean negative log-likelihood) of `text`'s own tokens (one step of `work`)."""
    _tokens, ids, _ = handle.encode(text)
    with (work or Work.none()).turn():
        logits = handle.model(input_ids=ids.reshape(1, -1).to(handle.device)).logits[0]
    lp = torch.log_softmax(logits[:-1].double().cpu(), -1)
    nll = -lp[torch.arange(ids.numel() - 1), ids[1:]].mean()
    return float(torch.exp(nll))
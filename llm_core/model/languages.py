"""Whether a decoder speaks Chinese, measured rather than assumed: the mean
probability it gives the expected words after a few everyday Chinese sentences
(teacher-forced, every token of the answer). The embedded SmolLM2 gives 法国的首都是
→ 巴黎 a few per cent; a model trained on Chinese gives most of its probability."""
from __future__ import annotations

import math

import torch

# (sentence, the words that should follow)
CHINESE_PROBES = (("法国的首都是", "巴黎"), ("一年有十二个", "月"), ("我每天早上喝一杯", "咖啡"))
SPEAKS_CHINESE = 0.25        # mean probability from which the Chinese examples are offered


@torch.inference_mode()
def continuation_probability(handle, sentence: str, answer: str) -> float:
    """P(answer | sentence): the product of its tokens' probabilities, each given
    the sentence and the answer's tokens before it."""
    head = handle.plain_ids(sentence)
    ids = handle.plain_ids(sentence + answer)
    if ids[:len(head)] != head or len(ids) == len(head):   # the answer merged into the sentence
        ids = head + handle.plain_ids(answer)
    bos = getattr(handle.tokenizer, "bos_token_id", None)
    start = [bos] if bos is not None else []
    x = torch.tensor(start + ids, dtype=torch.long, device=handle.device)[None]
    logits = handle.model(input_ids=x).logits[0].float()             # pos vocab
    logp = torch.log_softmax(logits, dim=-1)
    first = len(start) + len(head)                                   # position of the answer's first token
    total = sum(float(logp[pos - 1, x[0, pos]]) for pos in range(first, x.shape[1]))
    return math.exp(total)


def chinese_score(handle) -> float:
    """Mean of `continuation_probability` over CHINESE_PROBES (0 for an encoder)."""
    if handle.kind != "decoder":
        return 0.0
    return sum(continuation_probability(handle, s, a) for s, a in CHINESE_PROBES) / len(CHINESE_PROBES)


def speaks_chinese(handle) -> bool:
    return handle.chinese >= SPEAKS_CHINESE

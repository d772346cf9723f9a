"""Context window: the model only sees the last W tokens.

A fact is placed at the start of a long text and asked about at the end. With a
window that still covers the fact the model can copy it; once the window is cut
so the fact falls outside, the fact is simply not there for the model, and the
answer changes."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from llm_core.model.errors import InputError
from llm_core.model.sampling import check_generation, decode_loop, step_chooser
from llm_core.model.limits import WINDOW_MAX_FILLER as MAX_FILLER, WINDOW_MIN as MIN_WINDOW

# The demo text is English: SmolLM2 was trained mostly on English. No digits in
# the filler, so the code can only come from the fact.
FILLER = (
    "The morning market opened slowly. Farmers set out baskets of apples, pears and fresh "
    "bread, and the smell of coffee drifted across the square while children chased pigeons "
    "between the stalls.",
    "In the old library, the reading room was quiet. Tall windows let in a pale light, and the "
    "only sound was the turning of pages and the soft ticking of a clock above the door.",
    "The river bends twice before it reaches the town. In spring it floods the low meadows, and "
    "in summer it becomes shallow enough for cattle to cross near the mill.",
    "Tea was first brought to the region by traders who crossed the mountains on foot. Over "
    "time, every family developed its own way of brewing it, some strong and bitter, others "
    "light and sweet.",
    "A good garden needs patience. Seeds are planted in rows, watered each evening, and "
    "protected from birds with nets, and only after many weeks do the first green shoots appear.",
    "The train to the coast leaves from the northern platform. Travellers carry umbrellas, "
    "because the weather by the sea changes quickly, and the wind can turn cold in the "
    "afternoon.",
)
FACT = "The secret code is {code}."
QUESTION = "Question: What is the secret code?\nAnswer: The secret code is"
ANSWER_TOKENS = 8
_CODE = re.compile(r"^\d{1,8}$")


@dataclass(frozen=True)
class DemoText:
    text: str
    fact_chars: tuple[int, int]     # character span of the fact sentence
    answer: str                     # the continuation that is right: " 7492"


def build_text(code: str, n_filler: int) -> DemoText:
    """Fact first, then `n_filler` paragraphs, then the question at the end."""
    code = str(code).strip()
    if not _CODE.match(code):
        raise InputError("The secret code must be 1 to 8 digits.", code="bad_code")
    if not 0 <= int(n_filler) <= MAX_FILLER:
        raise InputError(f"Use 0 to {MAX_FILLER} filler paragraphs.", code="bad_filler",
                         max=MAX_FILLER)
    fact = FACT.format(code=code)
    paragraphs = [FILLER[i % len(FILLER)] for i in range(int(n_filler))]
    text = "\n\n".join([fact, *paragraphs, QUESTION])
    return DemoText(text, (0, len(fact)), " " + code)


@dataclass(frozen=True)
class Window:
    """The last `size` of `n_tokens` tokens: positions start … n_tokens-1."""

    n_tokens: int
    size: int
    fact: tuple[int, int]           # token span of the fact [first, end)

    @property
    def start(self) -> int:
        return max(0, self.n_tokens - self.size)

    @property
    def kept(self) -> int:
        return self.n_tokens - self.start

    def inside(self, position: int) -> bool:
        return position >= self.start

    @property
    def fact_inside(self) -> bool:
        """The whole fact is within the window."""
        return self.fact[0] >= self.start

    @property
    def fact_tokens_inside(self) -> int:
        first, end = self.fact
        return max(0, end - max(first, self.start))


def check_window(size, max_positions: int) -> int:
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise InputError("The window is a whole number of tokens.", code="bad_window",
                         max=max_positions) from None
    if not MIN_WINDOW <= size <= max_positions:
        raise InputError(f"The window must be {MIN_WINDOW} to {max_positions} tokens.",
                         code="bad_window", max=max_positions)
    return size


def keep_last(ids: torch.Tensor, size: int) -> torch.Tensor:
    """What the model sees through a window of `size` tokens: the last ones."""
    return ids[max(0, ids.numel() - size):]


def token_span(tokens, char_start: int, char_end: int) -> tuple[int, int]:
    """[first, end) of the tokens that overlap the characters [char_start, char_end)."""
    hits = [i for i, tok in enumerate(tokens)
            if tok.end > char_start and tok.start < char_end and not tok.special]
    if not hits:
        return (0, 0)
    return (hits[0], hits[-1] + 1)


@torch.inference_mode()
def read_and_score(handle, context_ids: torch.Tensor, answer_ids: torch.Tensor):
    """One forward pass over the context followed by the right answer gives both
    P(answer token k | context, answer tokens before k) for every k and — the
    cache cut back to the context — what the model needs to write its own answer.
    Returns (probabilities, last logits of the context, its key/value cache)."""
    n = answer_ids.numel()
    ids = torch.cat([context_ids, answer_ids]).reshape(1, -1).to(handle.device)
    out = handle.model(input_ids=ids, use_cache=True, logits_to_keep=n + 1)
    logits = out.logits[0].float().cpu()                  # answer pos + 1, vocab
    probs = torch.softmax(logits[:n], dim=-1)
    cache = out.past_key_values
    if n:
        cache.crop(-n)                 # forget the answer: back to the context alone
    return ([float(probs[k, int(a)]) for k, a in enumerate(answer_ids)],
            out.logits[0, 0], cache)


@dataclass(frozen=True)
class WindowRun:
    window: Window
    answer: str                     # greedy continuation (T = 0)
    answer_probs: tuple[float, ...]  # probability of each token of the right answer

    @property
    def answer_prob(self) -> float:
        p = 1.0
        for q in self.answer_probs:
            p *= q
        return p

    def says(self, expected: str) -> bool:
        return expected.strip() in self.answer


@dataclass(frozen=True)
class Demo:
    tokens: tuple                   # every token of the demo text
    expected: str                   # the right answer, e.g. " 7492"
    expected_tokens: tuple[str, ...]
    run: WindowRun


def run_demo(handle, code: str, n_filler: int, window: int) -> Demo:
    """Build the text, cut it to the last `window` tokens, and ask."""
    demo = build_text(code, n_filler)
    size = check_window(window, handle.arch.max_positions)
    tokens, ids, _ = handle.encode(demo.text, max_tokens=handle.arch.max_positions)
    answer_ids = handle.encode(demo.answer)[1]
    # Drop a leading beginning-of-text token from the answer if the tokenizer adds one.
    if answer_ids.numel() and int(answer_ids[0]) in set(handle.tokenizer.all_special_ids):
        answer_ids = answer_ids[1:]
    win = Window(ids.numel(), size, token_span(tokens, *demo.fact_chars))
    seen = keep_last(ids, size)
    check_generation(handle, seen, ANSWER_TOKENS, 0.0, None, None)
    probs, last_logits, cache = read_and_score(handle, seen, answer_ids)
    steps = decode_loop(handle, seen, ANSWER_TOKENS, step_chooser(handle, 0.0, n_show=1),
                        prefilled=(last_logits, cache))
    answer_ids_out = [s.token_id for s in steps if s.token_id not in handle.eos_ids]
    text = handle.decode(answer_ids_out)
    run = WindowRun(win, text, tuple(probs))
    pieces = tuple(handle.decode([int(i)]) for i in answer_ids)
    return Demo(tuple(tokens), demo.answer, pieces, run)

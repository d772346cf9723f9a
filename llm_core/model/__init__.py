"""The model machinery every lesson shares: loading a model (load.py), its
architectures (arch.py), the one forward pass that keeps its insides (trace.py),
token labels (tokens.py), the one token-picking function and decode loop
(sampling.py), the limits (limits.py), errors, byte-bounded memos, private copies
for the lessons that change W (copies.py) and tiny test models (tiny.py)."""

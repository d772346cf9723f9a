"""Embeddings and context pages: server-side render times.

Prints, per figure, `NAME: ratio=X.XX  (what, sizes, times)`:
- embeddings: a change of projection method / analogy words that computes
  something new (cold) vs a re-render whose results are all cached (targets:
  < 1 s for the presets, t-SNE on ≤ 200 points);
- t-SNE of 200 GloVe words on one OpenMP thread (what the page does) vs the
  default thread count (why it does so on a small shared CPU);
- context: moving the layer slider (no model run) vs the first render of a
  preset, which traces six sentences.
Renders go through AppTest, i.e. the whole script as the server runs it.
"""
from __future__ import annotations

import os
import statistics
import time


from _pagebench import app, check, timed  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    from threadpoolctl import threadpool_limits

    from llm_core.embeddings import load_word_vectors, project

    # warm-up: imports, the model, GloVe and the default analogy are not what is measured
    at = app("pages/embeddings.py")
    at.run()
    check(at)

    cached = statistics.median(timed(at.run) for _ in range(3))
    colds, warms = [], []
    for preset in ("germany", "paris"):              # new words: both spaces + a projection
        colds.append(timed(at.selectbox(key="embeddings.preset").select(preset).run))
        check(at)
    for method, dims in (("tsne", 2), ("tsne", 3), ("pca", 3)):
        at.radio(key="embeddings.proj_dims").set_value(dims)
        colds.append(timed(at.radio(key="embeddings.method").set_value(method).run))
        check(at)
    for preset in ("germany", "paris"):              # seen before: all from the caches
        warms.append(timed(at.selectbox(key="embeddings.preset").select(preset).run))
    cold, warm = statistics.median(colds), statistics.median(warms)
    print(f"embeddings_switch: ratio={cold / cached:.2f}  (re-render after a preset / method / "
          f"dims change that computes new results vs a fully cached re-render, ≤ 20 points, "
          f"median of {len(colds)}: {cold * 1000:.0f} ms vs {cached * 1000:.0f} ms; "
          f"target < 1 s)")
    print(f"embeddings_cached_switch: ratio={warm / cold:.2f}  (switching back to a preset seen "
          f"before vs a new one: {warm * 1000:.0f} ms vs {cold * 1000:.0f} ms)")

    glove = load_word_vectors()
    words = glove.words[1000:1196]                   # 196 frequent words + a, b, c, answer
    at.radio(key="embeddings.method").set_value("pca")
    at.radio(key="embeddings.proj_dims").set_value(2)
    at.radio(key="embeddings.space").set_value("glove")
    at.text_area(key="embeddings.extras").input(" ".join(words)).run()
    check(at)
    cpu = time.process_time()
    tsne200 = timed(at.radio(key="embeddings.method").set_value("tsne").run)
    cpu = time.process_time() - cpu        # CPU seconds: what the wall time would be on an idle core
    check(at)
    print(f"embeddings_tsne_200: ratio={tsne200 / cached:.2f}  (re-render with a new t-SNE of "
          f"200 points vs a cached re-render: {tsne200 * 1000:.0f} ms ({cpu * 1000:.0f} ms CPU) "
          f"vs {cached * 1000:.0f} ms; target < 1 s; load average {os.getloadavg()[0]:.1f})")

    x = glove.vectors[1000:1200]
    with threadpool_limits(limits=1, user_api="openmp"):
        one = timed(lambda: project(x, "tsne", 2, seed=1))
    default = timed(lambda: project(x, "tsne", 2, seed=1))
    print(f"tsne_threads: ratio={one / default:.2f}  (t-SNE of 200 × 50 GloVe vectors on one "
          f"OpenMP thread vs the default count, {os.cpu_count()} cores: {one:.2f} s vs "
          f"{default:.2f} s)")

    # --- context --------------------------------------------------------------------------
    at = app("pages/context.py")
    at.run()
    check(at)
    first = timed(at.selectbox(key="context.preset").select("bank").run)   # six new traces
    check(at)
    moves = [timed(at.slider(key="context.layer").set_value(layer).run) for layer in (0, 10, 25, 30)]
    moves.append(timed(at.checkbox(key="context.centre").check().run))
    check(at)
    move = statistics.median(moves)
    print(f"context_layer: ratio={move / first:.2f}  (re-render after a layer / centring change "
          f"vs the first render of a preset with 6 sentence traces: {move * 1000:.0f} ms vs "
          f"{first:.2f} s; target < 1 s)")


if __name__ == "__main__":
    main()

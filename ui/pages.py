"""The app's pages in navigation order: (section key, file in lessons/, url path,
icon). One page per concept of the curriculum, plus the students' class room."""
from __future__ import annotations

PAGES = [
    ("start", "home.py", "pipeline", "🔬"),
    ("start", "classroom.py", "class", "🙋"),
    ("text", "vectors.py", "vectors", "📐"),
    ("text", "tokens.py", "tokens", "🧩"),
    ("text", "embeddings.py", "embeddings", "🧭"),
    ("text", "positions.py", "positions", "📍"),
    ("text", "context.py", "context", "🍎"),
    ("inside", "anatomy.py", "anatomy", "🧮"),
    ("inside", "attention.py", "attention", "👀"),
    ("inside", "attention_step.py", "attention-step", "🔎"),
    ("inside", "encoder_decoder.py", "encoder-decoder", "↔️"),
    ("inside", "block.py", "block", "🧱"),
    ("inside", "logit_lens.py", "logit-lens", "🔭"),
    ("predict", "next_token.py", "next-token", "🎲"),
    ("predict", "generate.py", "generate", "✍️"),
    ("predict", "hallucination.py", "hallucination", "👻"),
    ("predict", "context_window.py", "context-window", "🪟"),
    ("change", "quantization.py", "quantization", "🗜️"),
    ("change", "finetune.py", "finetune", "🎯"),
    ("change", "distillation.py", "distillation", "🧪"),
]
# url path → the page's file, relative to app.py (what st.switch_page takes)
FILES = {url: f"lessons/{file}" for _, file, url, _ in PAGES}

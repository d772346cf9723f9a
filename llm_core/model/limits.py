"""Every limit on what a user may ask, in one place. The pages and the CLI
announce the one they hit (a cut text, a refused number), never silently."""
from __future__ import annotations

import os

# --- text -------------------------------------------------------------------------------
MAX_CHARS = 50_000            # characters of one text (a 200,000-character paste is cut)
BOX_CHARS = 20_000            # characters a page's prompt box takes (the browser cuts and counts)
WORD_LIST_CHARS = 4_000       # a box of words to plot (more than the 200 words a plot keeps)
MAX_TRACE_TOKENS = 4_096      # tokens one trace takes at most (the CLI; memory stays comfortable)
PAGE_MAX_TOKENS = 1_024       # tokens a page traces: a longer trace would hold two cores a minute
# Prompts the prediction pages accept, in tokens. Far below SmolLM2's 8,192-token
# context window: one forward pass over 1,024 tokens already takes seconds on a
# shared 2-core CPU.
PROMPT_TOKEN_LIMIT = 1_024

# --- what a trace keeps -----------------------------------------------------------------
ATTENTION_CAP = 256           # attention weights of the first 256 tokens (exact for a decoder)
LOGITS_KEEP = 1               # logits of the last position: what predicts the next token (a
                              # class of 30 traces: 64 positions of 49,152 logits each doubled the
                              # batch's time and kept 12.6 MB per trace; no lesson reads the others)

# --- generation -------------------------------------------------------------------------
MAX_NEW_TOKENS = 512          # new tokens per answer: the CLI and llm_core's own checks
PAGE_MAX_NEW_TOKENS = 200     # new tokens per answer on the pages
TIME_LIMIT = 60.0             # seconds, the pages' cap on one generation
MAX_SAMPLES = 8               # answers generated side by side
MAX_TEMPERATURE = 100.0

# --- class rooms (ui/rooms.py) ------------------------------------------------------------
CODE_LENGTH = 6                # characters of a room code
ROOM_TTL_S = 3 * 3600          # an idle room is gone after a long lesson
EMPTY_ROOM_TTL_S = 15 * 60     # … one nobody joined, sooner
MAX_ROOMS = 500                # open rooms on one server (or one school's Redis)
MAX_MEMBERS = 200              # students in one room
ROOMS_PER_SESSION = 3          # open rooms one browser session may keep
ROOMS_PER_ADDRESS = 60         # … one network address (a school behind one address: 60 classes)
JOINS_PER_MINUTE = 8           # wrong codes one session may try a minute; then it waits alone
# Tries per network address a minute: a whole school sits behind one address, so
# this only stops a flood of new sessions, never a class of 30 joining at once.
JOINS_PER_ADDRESS_MINUTE = 240
NICKNAME_CHARS = 24
GUESS_CHARS = 40

# --- the lessons --------------------------------------------------------------------------
FINETUNE_MAX_STEPS = 40        # training steps of one fine-tuning job
FINETUNE_FIELD_CHARS = 300     # characters of a fact, a question or an answer to teach
DISTILL_MAX_STEPS = 400        # training steps of one distillation job
HALLUCINATION_QUESTION_TOKENS = 256
HALLUCINATION_ANSWER_TOKENS = 96
FACT_CHARS = 400               # the fact put in front of a question (hallucination lab)
WINDOW_MAX_FILLER = 24         # filler paragraphs: about 930 tokens, the largest window (1,024) holds all
WINDOW_MIN = 8                 # the smallest context window the lesson offers
WINDOW_CODE_CHARS = 8          # the secret code's digits
PLOT_WORDS = 200               # points in a projection (t-SNE stays well under a second)
PICK_TOKENS = 64               # tokens (or words) offered when a pasted text is long
MERGE_WORD_BYTES = 96          # a word whose byte-pair merges are shown: at most 95 steps
HEATMAP_SIDE = 256             # a weight heatmap's side: a browser draws 256 × 256 cells comfortably
LENS_POSITIONS = 32            # vocab-sized logits for layers × positions: keep the grid light
TABLE_POSITIONS = 4_096        # rows of a position table (sinusoids, learned)
TABLE_DIMS = 4_096
CHIPS = 400                    # token chips are HTML: thousands of them would slow the browser
PREVIEW_CHARS = 600            # characters of a decoded text shown back
CONTEXT_SENTENCES = 6          # per sense: one forward pass each
CONTEXT_TOKENS = 64            # a sentence longer than this is cut (the word must come early)
WORD_CHARS = 40                # a word to follow or look up
SENSE_NAME_CHARS = 30          # a sense's name (context lesson)
CODE_BOX_CHARS = 12            # the room-code box: a code typed with spaces or dashes
HUB_ID_CHARS = 96              # a Hub id typed in the sidebar ("Org/name")
HUB_MODELS = int(os.environ.get("LLM_XRAY_MAX_HUB_MODELS", 2))   # Hub models kept loaded at once

"""Command line: `python -m llm_core <command> …`. JSON on stdout with --json;
bad input gives one line on stderr and a non-zero exit, never a traceback.

Each command imports what it needs inside its own function: `--help` and a
mistyped argument answer before torch and transformers load (~3 s)."""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's convention)
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def _text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def _progress(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _load(name):
    from llm_core import load_model
    return load_model(name, progress=_progress)


def cmd_models(args) -> dict:
    """Every model this server offers: the embedded ones and LLM_XRAY_MODELS's,
    each with its architecture, size and what loading it needs, or why not."""
    from llm_core.model.registry import MODELS_ENV, models_folder, offered_models

    folder = models_folder()
    return {"folder_variable": MODELS_ENV, "folder_set": folder is not None,
            "models": [o.to_json() for o in offered_models()]}


def cmd_info(args) -> dict:
    from llm_core.anatomy import anatomy

    handle = _load(args.model)
    a = handle.arch
    out = anatomy(handle).to_json()
    out.update({"family": a.family, "kind": handle.kind, "heads": a.n_heads,
                "kv_heads": a.n_kv_heads, "d_head": a.d_head, "context": a.max_positions,
                "norm": a.norm_kind, "mlp": a.mlp_kind, "rope": a.uses_rope})
    return out


def cmd_tokens(args) -> dict:
    from llm_core.tokens import split

    s = split(_load(args.model), _text(args.text))
    return {"model": s.model, "tokens": [t.to_json() for t in s.tokens],
            "n_tokens": len(s.tokens), "n_chars": len(s.text), "round_trip": s.round_trip,
            **({"truncated_from": s.truncated_from} if s.truncated_from else {})}


def cmd_next(args) -> dict:
    from llm_core.next_token import next_token_logits
    from llm_core.model.sampling import check_temperature, check_top_k, check_top_p, distribution
    from llm_core.model.text import clean_text

    text = clean_text(_text(args.text))
    t, k, p = check_temperature(args.temperature), check_top_k(args.top_k), check_top_p(args.top_p)
    n = _count(args.n, "--n", 1, 1000)
    handle = _load(args.model)
    # The pages' one function; the CLI takes texts up to the trace limit, and a
    # longer one is refused with a message, never cut silently.
    _ids, logits = next_token_logits(handle, text, limit=handle.max_tokens)
    dist = distribution(logits, t, k, p)
    cands = [{"token": handle.decode([tid]), "id": tid, "logit": logit, "prob": prob}
             for tid, logit, prob in dist.top(n)]
    return {"model": handle.name, "temperature": t, "candidates": cands, "entropy": dist.entropy}


def cmd_generate(args) -> dict:
    from llm_core.model.sampling import MAX_NEW_TOKENS, check_temperature, check_top_k, check_top_p, generate_steps
    from llm_core.model.text import clean_text

    prompt = clean_text(_text(args.prompt))
    t, k, p = check_temperature(args.temperature), check_top_k(args.top_k), check_top_p(args.top_p)
    n = _count(args.max_new_tokens, "--max-new-tokens", 1, MAX_NEW_TOKENS)
    handle = _load(args.model)
    handle.need_decoder("Generation")
    if args.chat:
        ids = handle.chat_ids(prompt)
    else:
        _, ids, _ = handle.encode(prompt)
    steps = list(generate_steps(handle, ids, max_new_tokens=n, temperature=t, top_k=k,
                                top_p=p, seed=args.seed))
    new_ids = [s.token_id for s in steps if s.token_id not in handle.eos_ids]
    return {"model": handle.name, "text": handle.decode(new_ids),
            "steps": [{"token": handle.decode([s.token_id]), "id": s.token_id, "prob": s.prob,
                       "model_prob": s.model_prob, "entropy": s.entropy}
                      for s in steps]}


def cmd_analogy(args) -> dict:
    from llm_core.embeddings import analogy, load_word_vectors, model_word_space

    n = _count(args.n, "--n", 1, 100)
    space = load_word_vectors() if args.space == "glove" else model_word_space(_load(args.model))
    result = analogy(space, args.a, args.b, args.c, n, rule=args.rule)
    return {"space": args.space, "rule": args.rule, "query": f"{args.a} - {args.b} + {args.c}",
            "results": [{"word": w, "score": s} for w, s in result.results]}


def cmd_attention(args) -> dict:
    from llm_core.model.errors import InputError
    from llm_core.model.text import clean_text

    text = clean_text(_text(args.text))
    handle = _load(args.model)
    trace = handle.trace(text)
    if not 0 <= args.layer < trace.n_layers:
        raise InputError(f"--layer must be between 0 and {trace.n_layers - 1}.")
    if not 0 <= args.head < trace.n_heads:
        raise InputError(f"--head must be between 0 and {trace.n_heads - 1}.")
    kept = trace.attention_kept
    weights = trace.attention_pattern[args.layer, args.head]
    return {"model": handle.name, "layer": args.layer, "head": args.head,
            "tokens": [t.to_json() for t in trace.tokens[:kept]],
            "attention_kept": kept, "n_tokens": trace.n_tokens,
            "weights": [[round(float(w), 6) for w in row] for row in weights]}


def cmd_quantize(args) -> dict:
    from llm_core import quantization as qz

    bits, group = qz.check_setting(args.bits, args.group)
    handle = _load(args.model)
    _progress(f"Quantizing a copy to {bits} bits (one grid per {group}), measured against the float model…")
    report = qz.run(handle, bits, group, work=_steps_on_stderr())
    return report.as_json() | {"model": handle.name, "verdict": qz.verdict(report)}


def cmd_finetune(args) -> dict:
    from llm_core import finetune as ft

    d = ft.DEFAULT_FACT
    fact = ft.check_fact(args.fact or d.text, args.question or d.question, args.answer or d.answer,
                         args.paraphrase if args.paraphrase is not None else d.paraphrases)
    handle = _load(args.model)
    steps = ft.DEFAULT_STEPS if args.steps is None else args.steps
    ft.check_training(args.method, args.layer, steps, handle.arch.n_layers)
    result = ft.train(handle, fact, args.method, args.layer, steps, seed=args.seed,
                      work=_steps_on_stderr())
    return result.as_json() | {"model": handle.name, "fact": fact.text,
                               "question": fact.question, "answer": fact.answer}


def cmd_distill(args) -> dict:
    from llm_core import distillation as ds

    steps, temperature, soft_weight = ds.check_settings(
        ds.DEFAULT_STEPS if args.steps is None else args.steps, args.temperature, args.mix)
    handle = _load(args.model)
    work = _steps_on_stderr()       # the stories' steps show only when they are written now
    corpus = ds.shared_corpus(handle, work)
    _progress(f"Training two students for {steps} steps…")
    return ds.distill(handle, corpus, steps, temperature, soft_weight, seed=args.seed,
                      work=work).as_json() | {"model": handle.name}


def _steps_on_stderr():
    """A job's progress as lines on stderr: phase, step, the time left as measured."""
    from llm_core.model.work import Work

    def report(p):
        if p.total and (p.done == p.total or p.done % 5 == 0):
            left = "" if p.seconds_left is None else f", about {p.seconds_left:.0f} s left"
            _progress(f"{p.phase}: step {p.done} of {p.total}{left}")
    return Work(report, gate=None)


def _count(value, flag, low, high) -> int:
    from llm_core.model.errors import InputError
    if not low <= value <= high:
        raise InputError(f"{flag} must be between {low} and {high}.")
    return value


def _print_human(command: str, out: dict) -> None:
    if command == "models":
        for m in out["models"]:
            size = f"{m['parameters'] / 1e6:,.1f} M parameters, needs {m['memory_bytes'] / 2**30:.2f} GB"
            state = "ok" if m["usable"] else f"not usable: {m['detail']}"
            print(f"{m['name']:<28} {m['kind'] or '?':<8} {m['architecture'] or '?':<10} {size}  [{state}]")
        if not out["folder_set"]:
            print(f"(set {out['folder_variable']} to a folder of models to offer more)")
    elif command == "tokens":
        for t in out["tokens"]:
            print(f"{t['id']:>7}  {t['text']!r}")
        print(f"{out['n_tokens']} tokens, {out['n_chars']} characters, round trip: {out['round_trip']}")
    elif command == "next":
        for c in out["candidates"]:
            print(f"{c['prob']:8.4f}  {c['logit']:8.3f}  {c['token']!r}")
        print(f"entropy: {out['entropy']:.3f} bits")
    elif command == "generate":
        print(out["text"])
    elif command == "analogy":
        for r in out["results"]:
            print(f"{r['score']:.4f}  {r['word']}")
    elif command == "attention":
        labels = [t["text"] for t in out["tokens"]]
        for label, row in zip(labels, out["weights"]):
            print(f"{label!r:>16} " + " ".join(f"{w:.2f}" for w in row))
    elif command == "quantize":
        print(f"{out['bits']} bits, one grid per {out['group']}: {out['size_mb']:.1f} MB "
              f"(float32: {out['float_size_mb']:.1f} MB)")
        print(f"KL to the float model {out['kl']:.4f} nats, same top token "
              f"{out['top1_agreement']:.1%}, perplexity {out['perplexity']:.2f} "
              f"(float: {out['float_perplexity']:.2f})")
        for a in out["answers"]:
            print(f"{a['question']}\n  float:     {a['float']!r}\n  quantized: {a['quantized']!r}")
    elif command == "finetune":
        for side in ("before", "after"):
            print(f"{side:>6}: p(answer) {out[side]['p_answer']:.4f}  {out[side]['answer']!r}")
        for g in out["generalisation"]:
            print(f"paraphrase {g['question']!r}: {g['before']:.4f} -> {g['after']:.4f}")
        for n in out["locality"]:
            print(f"other fact {n['question']!r} ({n['answer']}): {n['before']:.4f} -> {n['after']:.4f}")
        print(f"KL on unrelated texts {out['kl_unrelated']:.4f} nats; trained "
              f"{out['trainable_params']:,} of {out['total_params']:,} numbers")
    elif command == "distill":
        print(f"teacher {out['teacher_params']:,} numbers, student {out['student_params']:,}")
        print(f"held-out KL to the teacher: soft labels {out['kl_soft']:.3f}, "
              f"hard labels {out['kl_hard']:.3f}")
        for who in ("teacher", "soft_student", "hard_student"):
            print(f"{who:>12}: {out['texts']['prompt']}{out['texts'][who]!r}")
    else:
        print(json.dumps(out, ensure_ascii=False, indent=2))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m llm_core", description="Look inside a real language model.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name, func, help_, model=True):
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(func=func)
        sp.add_argument("--json", action="store_true", help="print JSON")
        if model:
            sp.add_argument("--model", default="smollm2",
                            help="smollm2 (default) | minilm | a model of LLM_XRAY_MODELS "
                                 "(`models` lists them) | a Hugging Face id (online)")
        return sp

    add("models", cmd_models, "every model this server offers, with its size or why not", model=False)
    add("info", cmd_info, "model anatomy: parameter counts by matrix kind, device")
    sp = add("tokens", cmd_tokens, "split text into tokens")
    sp.add_argument("text", help="text, or - to read standard input")
    sp = add("next", cmd_next, "next-token probabilities")
    sp.add_argument("text")
    sp.add_argument("--temperature", default=1.0)
    sp.add_argument("--top-k", default=None)
    sp.add_argument("--top-p", default=None)
    sp.add_argument("--n", type=int, default=10)
    sp = add("generate", cmd_generate, "generate text step by step")
    sp.add_argument("prompt")
    sp.add_argument("--chat", action="store_true", help="use the model's chat template")
    sp.add_argument("--max-new-tokens", type=int, default=40)
    sp.add_argument("--temperature", default=0.7)
    sp.add_argument("--top-k", default=None)
    sp.add_argument("--top-p", default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp = add("analogy", cmd_analogy, "word arithmetic: A - B + C")
    for w in ("a", "b", "c"):
        sp.add_argument(w)
    sp.add_argument("--space", choices=["glove", "model"], default="glove")
    sp.add_argument("--rule", choices=["3cosadd", "3cosmul"], default="3cosadd",
                    help="3cosadd: add unit vectors, rank by cosine (the standard); 3cosmul: Levy & Goldberg")
    sp.add_argument("--n", type=int, default=10)
    sp = add("attention", cmd_attention, "attention weights of one layer and head")
    sp.add_argument("text")
    sp.add_argument("--layer", type=int, required=True)
    sp.add_argument("--head", type=int, required=True)
    sp = add("quantize", cmd_quantize, "quantize a copy of the model and compare it with the original")
    sp.add_argument("--bits", default=4, help="8, 6, 4, 3 or 2")
    sp.add_argument("--group", default="64", help="tensor | channel | 32 | 64 | 128")
    sp = add("finetune", cmd_finetune, "teach a copy of the model one new fact")
    sp.add_argument("--fact", default=None, help="the new fact (default: a fictional capital)")
    sp.add_argument("--question", default=None)
    sp.add_argument("--answer", default=None, help="the words of the fact that answer the question")
    sp.add_argument("--paraphrase", action="append", default=None,
                    help="the question in other words (repeat for more, up to 3)")
    sp.add_argument("--method", choices=["lora", "mlp"], default="lora")
    sp.add_argument("--layer", type=int, default=8)
    sp.add_argument("--steps", type=int, default=None,
                    help="at most this many gradient steps (default: the page's)")
    sp.add_argument("--seed", type=int, default=0)
    sp = add("distill", cmd_distill, "distil the model into two tiny students (soft vs hard labels)")
    sp.add_argument("--steps", type=int, default=None, help="training steps (default: the page's)")
    sp.add_argument("--temperature", default=2.0)
    sp.add_argument("--mix", default=1.0, help="soft share of the loss, 0..1")
    sp.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from llm_core.model.errors import XRayError
    from llm_core.model.startup import startup

    startup()

    try:
        out = args.func(args)
    except XRayError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as err:  # noqa: BLE001 — one line, never a traceback
        sys.stderr.write(f"error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}\n")
        return 1
    try:
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            _print_human(args.command, out)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`… | head -1`): not an error of ours. Point stdout
        # at nothing so the interpreter's own flush at exit stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0

"""Peer side of bench/peers/compare.sh (runs inside the trixie chroot): ONNX Runtime and PyTorch on the checkpoint
our `make-checkpoint` wrote, same shapes and thread counts as our `bench`. One JSON object per result on stdout.

  export  --ckpt DIR --out DIR           BERT -> ONNX (opset 17), ORT transformer-optimized, ORT dynamic int8
  case    --ckpt DIR --out DIR           a conformance case (BertForMaskedLM logits from torch) for our `conformance`
  bert    --backend torch|ort|ort-int8   BERT-base latency (p50/p90 over --reps after --warmup)
  decode  --ckpt DIR --dtype fp32|bf16   greedy decode tok/s and prefill tok/s with a KV cache (torch)
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_models import Bert, DecoderLM, load_state  # noqa: E402


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pct(v, p):
    v = sorted(v)
    i = p * (len(v) - 1)
    lo, hi = int(i), min(int(i) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (i - lo)


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": pct(ms, 0.5), "p90_ms": pct(ms, 0.9), "mean_ms": statistics.fmean(ms), "min_ms": min(ms),
            "reps": reps, "warmup": warmup}


def config(ckpt):
    with open(os.path.join(ckpt, "config.json")) as f:
        return json.load(f)


def bert_inputs(b, s, vocab):
    rng = np.random.default_rng(1234)
    return {"input_ids": rng.integers(3, min(vocab, 30000), size=(b, s), dtype=np.int64),
            "attention_mask": np.ones((b, s), dtype=np.int64),
            "token_type_ids": np.zeros((b, s), dtype=np.int64)}


def cmd_export(a):
    # Debian's onnxruntime registers its contrib schemas in the shared libonnx registry, after which
    # onnx.reference (imported by onnxruntime.quantization) refuses to build its op table over duplicate names:
    # build that table first, before onnxruntime is loaded.
    import onnx.reference  # noqa: F401
    from onnxruntime.quantization import QuantType, quantize_dynamic
    cfg = config(a.ckpt)
    model = Bert(cfg, load_state(os.path.join(a.ckpt, "model.safetensors"), "bert."), attn="eager").eval()
    feeds = bert_inputs(1, 128, cfg["vocab_size"])
    tfeeds = tuple(torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    os.makedirs(a.out, exist_ok=True)
    plain = os.path.join(a.out, "bert.onnx")
    axes = {"batch": 0, "seq": 1}
    with torch.no_grad():
        torch.onnx.export(model, tfeeds, plain, opset_version=17, do_constant_folding=True,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={n: {v: k for k, v in axes.items()} for n in
                                        ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")})
        ref = model(*tfeeds)[0].numpy()
    import onnxruntime as ort
    from onnxruntime.transformers import optimizer
    opt = optimizer.optimize_model(plain, model_type="bert", num_heads=cfg["num_attention_heads"],
                                   hidden_size=cfg["hidden_size"], use_gpu=False)
    optp = os.path.join(a.out, "bert_opt.onnx")
    opt.save_model_to_file(optp)
    int8p = os.path.join(a.out, "bert_opt_int8.onnx")
    quantize_dynamic(optp, int8p, weight_type=QuantType.QInt8)
    out = {"what": "export", "fused_ops": opt.get_fused_operator_statistics(), "files": [plain, optp, int8p]}
    for p in (plain, optp, int8p):
        s = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
        got = s.run(["last_hidden_state"], feeds)[0]
        out[f"max_abs_vs_torch[{os.path.basename(p)}]"] = float(np.abs(got - ref).max())
    print(json.dumps(out), flush=True)


def cmd_case(a):
    """BertForMaskedLM logits (and the base outputs) on fixed inputs, as a conformance case of the full-size model."""
    from safetensors.numpy import save_file
    cfg = config(a.ckpt)
    path = os.path.join(a.ckpt, "model.safetensors")
    cls = {k[4:]: v for k, v in load_state(path).items() if k.startswith("cls.")}
    model = Bert(cfg, load_state(path, "bert."), attn="eager").eval()
    feeds = bert_inputs(1, a.seq, cfg["vocab_size"])
    with torch.no_grad():
        x, _ = model(*(torch.from_numpy(feeds[k]) for k in ("input_ids", "attention_mask", "token_type_ids")))
        logits = model.mlm_logits(x, cls).numpy()
    os.makedirs(a.out, exist_ok=True)
    for f in ("config.json", "model.safetensors"):
        dst = os.path.join(a.out, f)
        if not os.path.exists(dst):
            os.symlink(os.path.abspath(os.path.join(a.ckpt, f)), dst)
    save_file(feeds, os.path.join(a.out, "inputs.safetensors"))
    save_file({"logits": logits}, os.path.join(a.out, "expected.safetensors"))
    case = {"case": "bert-base-full-size", "model_type": "bert", "family": "encoder-only",
            "hf_class": "BertForMaskedLM", "library": "torch (bench/peers/py/peer_models.py)",
            "inputs": list(feeds), "forward_inputs": list(feeds), "outputs": ["logits"],
            "output_shapes": {"logits": list(logits.shape)}, "weights": "model.safetensors",
            "torch_version": torch.__version__, "dtype": "float32"}
    with open(os.path.join(a.out, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
    print(json.dumps({"what": "case", "dir": a.out, "logits": list(logits.shape)}), flush=True)


def cmd_bert(a):
    cfg = config(a.ckpt)
    feeds = bert_inputs(a.batch, a.seq, cfg["vocab_size"])
    if a.backend == "torch":
        torch.set_num_threads(a.threads)
        model = Bert(cfg, load_state(os.path.join(a.ckpt, "model.safetensors"), "bert."), attn="sdpa").eval()
        t = {k: torch.from_numpy(v) for k, v in feeds.items()}

        def run():
            with torch.inference_mode():
                model(t["input_ids"], t["attention_mask"], t["token_type_ids"])
        version = "torch " + torch.__version__
    else:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        name = "bert_opt_int8.onnx" if a.backend == "ort-int8" else "bert_opt.onnx"
        sess = ort.InferenceSession(os.path.join(a.onnx, name), so, providers=["CPUExecutionProvider"])

        def run():
            sess.run(None, feeds)
        version = "onnxruntime " + ort.__version__
    r = timed(run, a.warmup, a.reps)
    r.update({"what": "bert", "backend": a.backend, "version": version, "threads": a.threads, "batch": a.batch,
              "seq": a.seq, "loadavg": loadavg()})
    print(json.dumps(r), flush=True)


def cmd_decode(a):
    torch.set_num_threads(a.threads)
    cfg = config(a.ckpt)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
    model = DecoderLM(cfg, load_state(os.path.join(a.ckpt, "model.safetensors")), a.prompt + a.gen).to_dtype(dtype)
    vocab = cfg["vocab_size"]
    ids = torch.from_numpy(np.random.default_rng(42).integers(0, vocab, size=(1, a.prompt), dtype=np.int64))
    prefill, decode = [], []
    with torch.inference_mode():
        for r in range(a.warmup + a.reps):
            cache = model.new_cache(1)
            t0 = time.perf_counter()
            logits = model(ids, cache, 0)
            t1 = time.perf_counter()
            tok = logits.argmax(-1, keepdim=True)
            for i in range(a.gen - 1):
                logits = model(tok, cache, a.prompt + i)
                tok = logits.argmax(-1, keepdim=True)
            t2 = time.perf_counter()
            if r >= a.warmup:
                prefill.append(a.prompt / (t1 - t0))
                decode.append((a.gen - 1) / (t2 - t1))
    print(json.dumps({"what": "decode", "backend": "torch", "version": "torch " + torch.__version__,
                      "model_type": cfg["model_type"], "dtype": a.dtype, "threads": a.threads,
                      "prompt": a.prompt, "gen": a.gen, "reps": a.reps,
                      "prefill_tok_s": statistics.fmean(prefill), "decode_tok_s": statistics.fmean(decode),
                      "decode_tok_s_min": min(decode), "decode_tok_s_max": max(decode), "loadavg": loadavg()}),
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["export", "case", "bert", "decode"])
    ap.add_argument("--ckpt", required=True, help="checkpoint directory from make-checkpoint")
    ap.add_argument("--out", help="output directory (export, case)")
    ap.add_argument("--onnx", help="directory of the exported ONNX files (bert with ort backends)")
    ap.add_argument("--backend", default="torch", choices=["torch", "ort", "ort-int8"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=32)
    a = ap.parse_args()
    {"export": cmd_export, "case": cmd_case, "bert": cmd_bert, "decode": cmd_decode}[a.what](a)


if __name__ == "__main__":
    main()

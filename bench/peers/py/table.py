"""Markdown tables from a compare.sh results file (JSON lines): BERT latency with ratios to ONNX Runtime fp32 at
the same thread count, and decode throughput. Standard library only (runs on the host)."""
import json
import sys


def main(path):
    recs = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    for r in recs:
        if r.get("what") == "machine":
            print(f"machine: {r['cpu']}, {r['cores']} cores, flags: {r['flags'].strip()}, load at start {r['loadavg']}\n")
    bert = []
    for r in recs:
        shape = f"{r.get('batch', 1)}x{r.get('seq', 128)}"
        if r.get("what") == "bert":
            name = {"ort": "ONNX Runtime fp32 (optimized graph)", "ort-int8": "ONNX Runtime int8 (quantize_dynamic)",
                    "torch": "PyTorch fp32 (sdpa)"}[r["backend"]]
            bert.append((shape, r["threads"], name, r["p50_ms"], r["p90_ms"], r["loadavg"], r.get("version", "")))
        elif "p50_ms" in r and "tag" in r:
            acc = r.get("accuracy_vs_stored") or {}
            note = ""
            if acc.get("reference_max_abs"):
                rel = 100 * acc["max_abs_error"] / acc["reference_max_abs"]
                note = f"vs fp32: max abs err {acc['max_abs_error']:.3g} ({rel:.2f}% of max |ref|)"
            if r.get("fp32_fma_peak_gflops"):
                note = (f"{r['gflops_at_p50']:.0f} GFLOP/s = {100 * r['fraction_of_peak']:.0f}% of the measured fp32 "
                        f"FMA peak {r['fp32_fma_peak_gflops']:.0f}")
            bert.append((shape, r["threads"], "ipfs-accelerate " + r["tag"].replace("ours ", ""), r["p50_ms"],
                         r["p90_ms"], r.get("loadavg", "?"), note))
    if bert:
        print("| batch x seq | threads | engine | p50 ms | p90 ms | p50 / ORT fp32 | load avg | note |")
        print("|---|---|---|---|---|---|---|---|")
        for shape in dict.fromkeys(b[0] for b in bert):
            for t in sorted({b[1] for b in bert if b[0] == shape}):
                rows = [b for b in bert if b[0] == shape and b[1] == t]
                ort = [b[3] for b in rows if b[2].startswith("ONNX Runtime fp32")]
                for b in rows:
                    ratio = f"{b[3] / ort[0]:.2f}" if ort else "-"
                    print(f"| {shape} | {t} | {b[2]} | {b[3]:.1f} | {b[4]:.1f} | {ratio} | {b[5]} | {b[6]} |")
        print()
    dec = []
    for r in recs:
        if r.get("what") == "decode":
            dec.append((r["model_type"], f"PyTorch {r['dtype']}", r["threads"], r["decode_tok_s"], r["prefill_tok_s"],
                        "", r["loadavg"]))
        elif "decode_tok_s" in r and "tag" in r:
            frac = r.get("bandwidth_fraction", 0)
            bw = f"{r['decode_bandwidth_gb_s']:.1f} GB/s = {100 * frac:.0f}% of {r['machine_read_bandwidth_gb_s']:.1f}"
            dec.append((r["model_type"], "ipfs-accelerate " + r["tag"].replace("ours ", ""), r["threads"],
                        r["decode_tok_s"], r["prefill_tok_s"], bw, r.get("loadavg", "?")))
    if dec:
        print("| model | engine | threads | decode tok/s | prefill tok/s | weight read bandwidth | load avg |")
        print("|---|---|---|---|---|---|---|")
        for d in dec:
            print(f"| {d[0]} | {d[1]} | {d[2]} | {d[3]:.2f} | {d[4]:.1f} | {d[5]} | {d[6]} |")


if __name__ == "__main__":
    main(sys.argv[1])

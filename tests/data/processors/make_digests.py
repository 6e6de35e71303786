#!/usr/bin/env python3
"""Writes <case>.json digests of the image-processor goldens in ../shared/conformance/processors (each 600 KB,
too large to copy): the preprocessor config, the input asset, the output shape, the sum, and every STRIDE-th
value of pixel_values, so a fresh clone checks the processors on the real image files without ../shared."""
import array, json, os, struct, sys

STRIDE = 61
here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../../shared/conformance/processors")
for case in sorted(os.listdir(src)):
    d = os.path.join(src, case)
    cj_path = os.path.join(d, "case.json")
    if not os.path.exists(cj_path):
        continue
    cj = json.load(open(cj_path))
    if cj.get("kind") != "image-processor":
        continue
    raw = open(os.path.join(d, "expected.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    e = hdr["pixel_values"]
    assert e["dtype"] == "F32"
    a = array.array("f")
    a.frombytes(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]])
    out = {
        "case": case,
        "hf_class": cj["hf_class"],
        "asset": os.path.basename(cj["inputs"][0]["asset"]),
        "preprocessor_config": json.load(open(os.path.join(d, "preprocessor_config.json"))),
        "shape": e["shape"],
        "sum": sum(float(x) for x in a),
        "stride": STRIDE,
        "samples": [float(a[i]) for i in range(0, len(a), STRIDE)],
        "tolerance": cj["tolerance"]["pixel_values_atol"],
    }
    with open(os.path.join(here, case + ".json"), "w") as f:
        json.dump(out, f)
    print(case, len(out["samples"]), "samples")

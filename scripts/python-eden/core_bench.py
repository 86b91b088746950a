"""The Python eden's engine (aws-eden-core) timed in-process, as eden-bench times ours.

  core_bench.py PROFILE_JSON RUNS IMAGE_1 IMAGE_2 IMAGE_0

PROFILE_JSON is the seed's profile (the keys aws-eden-core reads). One warm-up create/delete
with IMAGE_0, then RUNS times: create (IMAGE_1), deploy (create again with IMAGE_2), delete,
each timed alone. Set DELAY_MS for the delay before every request. Prints JSON:
{"create": [seconds, ...], "deploy": [...], "delete": [...], "calls": {"create": n, ...}}.
"""
import json
import sys
import time

import shim

calls = {"n": 0}
shim.events.register("before-send", lambda **kwargs: calls.__setitem__("n", calls["n"] + 1))

import aws_eden_core.methods as eden  # noqa: E402  (its clients copy the hooks at import)

profile = json.loads(sys.argv[1])
runs = int(sys.argv[2])
image_1, image_2, image_0 = sys.argv[3:6]

eden.create_env("py-core-warm", image_0, profile)
eden.delete_env("py-core-warm", profile)
out = {"create": [], "deploy": [], "delete": [], "calls": {}}
for i in range(runs):
    name = f"py-core-{i}"
    for op, step in (
        ("create", lambda: eden.create_env(name, image_1, profile)),
        ("deploy", lambda: eden.create_env(name, image_2, profile)),
        ("delete", lambda: eden.delete_env(name, profile)),
    ):
        calls["n"] = 0
        t = time.perf_counter()
        step()
        out[op].append(time.perf_counter() - t)
        out["calls"][op] = max(out["calls"].get(op, 0), calls["n"])
json.dump(out, sys.stdout)

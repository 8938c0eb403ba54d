"""Figures and report of bench/scale.sh. Two subcommands:

  scale_report.py attributes OUT.hdf5 COHORT_DIR
      every list attribute of the root read back whole with h5py (lengths against the cohort's
      lists), the file's format bounds, and a dwi_ml-style read of a few subjects (JSON on stdout)
  scale_report.py table RESULTS_DIR --json OUT.json [--ranks N] [--dwipack BIN] [--note TEXT]
      the benchmark's table, with ratios and PASS/GAP per target, also written as JSON

Run with Debian's /usr/bin/python3 (h5py, numpy).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys

MB = 1e6

# The targets (ratios measured in one run).
RSS_3200 = 1.3   # peak RSS per rank at 3,200 tiny subjects / at 100, on 1 and N ranks
RSS_12800 = 1.6  # the same at 12,800
WALL_RATIO = 0.8  # N ranks / 1 rank, 3,200 tiny subjects and the mixed cohort
FIRST_S = 1.5     # time to the first subject written, 3,200 subjects, N ranks
LARGE_VOLUME, LARGE_POINTS = 1.25, 1.2  # peak RSS of the large subject's rank
ESTIMATE = 0.10   # --dry_run's memory estimate against the measured peak


# --------------------------------------------------------------------------------- attributes

def read_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def cmd_attributes(args):
    import h5py
    import numpy as np
    ids = read_lines(os.path.join(args.cohort, "ids.txt"))
    lists = {name: read_lines(os.path.join(args.cohort, f"{name}.txt"))
             for name in ("training", "validation", "testing")}
    problems, lengths = [], {}
    with h5py.File(args.file, "r") as f:
        low, _ = f.id.get_access_plist().get_libver_bounds()
        for name in f.attrs:
            value = f.attrs[name]  # the whole attribute, as dwi_ml's readers load it
            if isinstance(value, np.ndarray) and value.ndim == 1:
                lengths[name] = int(value.shape[0])
        expected = {"chosen_subjs": len(ids), "dwipack_inputs": len(ids),
                    **{f"{k}_subjs": len(v) for k, v in lists.items()}}
        for name, n in expected.items():
            if lengths.get(name) != n:
                problems.append(f"{name}: {lengths.get(name)} entries, expected {n}")
        chosen = [x.decode() if isinstance(x, bytes) else str(x) for x in f.attrs["chosen_subjs"]]
        if chosen != ids:
            problems.append("chosen_subjs differs from the cohort's subjects")
        # dwi_ml's loader: the training list, then each subject's groups (first, last, middle)
        training = [x.decode() if isinstance(x, bytes) else str(x) for x in f.attrs["training_subjs"]]
        for subject in {training[0], training[-1], training[len(training) // 2]}:
            for group in f[subject].values():
                kind = group.attrs["type"]
                kind = kind.decode() if isinstance(kind, bytes) else kind
                if kind not in ("volume", "streamlines"):
                    problems.append(f"/{subject}/{group.name}: type {kind!r}")
                _ = group["data"][...]
    json.dump({"file": args.file, "subjects": len(ids), "libver_low": int(low),
               "list_lengths": lengths, "problems": problems, "ok": not problems}, sys.stdout, indent=1)
    print()


# --------------------------------------------------------------------------------- table

def read_time(path):
    """GNU time's '%e %U %S %M' -> dict (the last line: a failed command adds one before)."""
    with open(path) as f:
        wall, user, sys_, rss_kb = f.read().split("\n")[-2].split()
    return {"wall_s": float(wall), "cpu_s": float(user) + float(sys_), "peak_rss_mb": int(rss_kb) * 1024 / MB}


def read_run(results, tag):
    run = read_time(os.path.join(results, f"{tag}.time"))
    with open(os.path.join(results, f"{tag}.ticks")) as f:
        before, after, hz = (float(v) for v in f.read().split())
    run["other_load_cores"] = max(0.0, ((after - before) / hz - run["cpu_s"]) / max(run["wall_s"], 1e-9))
    ranks = sorted(glob.glob(os.path.join(results, f"{tag}.rank.*")), key=lambda p: int(p.rsplit(".", 1)[1]))
    run["ranks"] = [read_time(p) for p in ranks]
    run["peak_rss_mb_per_rank"] = [r["peak_rss_mb"] for r in run["ranks"]]
    run["cpu_s"] = sum(r["cpu_s"] for r in run["ranks"]) or run["cpu_s"]
    with open(os.path.join(results, f"{tag}.subjects")) as f:
        run["subjects"] = int(f.read())
    with open(os.path.join(results, f"{tag}.cohort")) as f:
        run["cohort"] = f.read().strip()
    # dwipack's own clock: planning (from after MPI_Init), then the JSON log's subject records,
    # whose elapsed_seconds count from the start of the writing phase (layout included)
    with open(os.path.join(results, f"{tag}.err")) as f:
        m = re.search(r"planned \d+ subject\(s\) in ([0-9.]+) (ms|s)", f.read())
    run["plan_s"] = (float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)) if m else None
    records = [json.loads(line) for line in open(os.path.join(results, f"{tag}.log.json"))]
    done = [r["elapsed_seconds"] for r in records if r.get("type") == "subject"]
    if done and run["plan_s"] is not None:
        run["first_subject_s"] = run["plan_s"] + done[0]
        run["write_s"] = done[-1] - done[0]
        run["ms_per_subject"] = 1000 * run["write_s"] / max(1, len(done) - 1)
    attributes = os.path.join(results, f"{tag}.attributes.json")
    if os.path.exists(attributes):
        with open(attributes) as f:
            run["attributes"] = json.load(f)
    return run


def large_subject(results):
    if not os.path.exists(os.path.join(results, "large.np1.time")):
        return None
    run = read_run(results, "large.np1")
    with open(os.path.join(results, "large.sizes.json")) as f:
        sizes = json.load(f)["subjects"]
    volume = sum(s["volume_bytes"] for s in sizes.values())
    points = sum(s["point_bytes"] for s in sizes.values())
    with open(os.path.join(results, "large.dryrun")) as f:
        m = re.search(r"memory per worker task: about ([0-9.]+) MB", f.read())
    estimate = float(m.group(1)) if m else None
    peak = max(run["peak_rss_mb_per_rank"])
    limit = (LARGE_VOLUME * volume + LARGE_POINTS * points) / MB
    return {"run": run, "volume_mb": volume / MB, "point_mb": points / MB, "peak_rss_mb": peak,
            "limit_mb": limit, "ratio_to_volume": peak * MB / volume, "estimate_mb": estimate,
            "estimate_error": (estimate - peak) / peak if estimate else None}


def verdict(ok):
    return "PASS" if ok else "GAP"


def cmd_table(args):
    res = args.results
    tags = sorted({os.path.basename(p)[:-len(".time")] for p in glob.glob(os.path.join(res, "*.time"))},
                  key=lambda t: (t.split(".")[0].rstrip("0123456789"), int(re.sub(r"\D", "", t.split(".")[0]) or 0), t))
    runs = {t: read_run(res, t) for t in tags if not t.startswith("large.")}
    large = large_subject(res)
    n = args.ranks

    def get(cohort, ranks):
        return runs.get(f"{cohort}.np{ranks}")

    lines = ["| cohort | subjects | ranks | wall | first subject | per subject | CPU (all ranks) | peak RSS per rank | other load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t, r in runs.items():
        ranks = len(r["ranks"]) if r["ranks"] else 1
        first = f"{r['first_subject_s']:.2f} s" if "first_subject_s" in r else "-"
        per = f"{r['ms_per_subject']:.2f} ms" if "ms_per_subject" in r else "-"
        rss = "/".join(f"{x:.0f}" for x in r["peak_rss_mb_per_rank"]) + " MB"
        lines.append(f"| {r['cohort']} | {r['subjects']} | {ranks} | {r['wall_s']:.1f} s | {first} | {per} "
                     f"| {r['cpu_s']:.1f} s | {rss} | {r['other_load_cores']:.1f} cores |")
    targets = []

    def rss_ratio(big, ranks, limit):
        a, b = get("tiny100", ranks), get(f"tiny{big}", ranks)
        if not a or not b:
            return
        # per rank (rank 0 with rank 0, workers with workers), the largest ratio
        ratio = max(y / x for x, y in zip(a["peak_rss_mb_per_rank"], b["peak_rss_mb_per_rank"]))
        targets.append({"name": f"peak RSS per rank, {big} vs 100 tiny subjects, {ranks} rank(s)",
                        "value": round(ratio, 3), "target": f"<= {limit}", "ok": ratio <= limit})

    for ranks in (1, n):
        rss_ratio(3200, ranks, RSS_3200)
        rss_ratio(12800, ranks, RSS_12800)
    for cohort in ("tiny3200", "mixed"):
        one, many = get(cohort, 1), get(cohort, n)
        if one and many:
            ratio = many["wall_s"] / one["wall_s"]
            targets.append({"name": f"wall, {n} ranks / 1 rank, {cohort}", "value": round(ratio, 3),
                            "target": f"<= {WALL_RATIO}", "ok": ratio <= WALL_RATIO})
    r = get("tiny3200", n)
    if r and "first_subject_s" in r:
        targets.append({"name": f"time to the first subject written, 3200 tiny subjects, {n} ranks",
                        "value": round(r["first_subject_s"], 2), "target": f"<= {FIRST_S} s",
                        "ok": r["first_subject_s"] <= FIRST_S})
    for t, r in runs.items():
        if "attributes" in r:
            a = r["attributes"]
            targets.append({"name": f"{r['subjects']} subjects convert; h5py reads every list attribute whole",
                            "value": f"libver low {a['libver_low']}, {len(a['list_lengths'])} lists",
                            "target": "no problem", "ok": a["ok"], "problems": a["problems"]})
    if large:
        targets.append({"name": "large subject: peak RSS / (1.25 x volume + 1.2 x points)",
                        "value": round(large["peak_rss_mb"] / large["limit_mb"], 3), "target": "<= 1",
                        "ok": large["peak_rss_mb"] <= large["limit_mb"]})
        if large["estimate_error"] is not None:
            targets.append({"name": "large subject: --dry_run estimate vs measured peak",
                            "value": round(large["estimate_error"], 3), "target": f"within {ESTIMATE:.0%}",
                            "ok": abs(large["estimate_error"]) <= ESTIMATE})
        lines.append(f"| large (145x174x145x144) | 1 | 1 | {large['run']['wall_s']:.1f} s | - | - "
                     f"| {large['run']['cpu_s']:.1f} s | {large['peak_rss_mb']:.0f} MB "
                     f"(volume {large['volume_mb']:.0f} MB, x{large['ratio_to_volume']:.2f}; "
                     f"--dry_run said {large['estimate_mb']} MB) | {large['run']['other_load_cores']:.1f} cores |")
    lines += ["", "| target | measured | wanted | |", "|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['name']} | {t['value']} | {t['target']} | {verdict(t['ok'])} |")
    version = subprocess.run([args.dwipack, "--version"], capture_output=True, text=True).stdout.strip() if args.dwipack else ""
    print(f"dwipack scaling benchmark, {datetime.date.today()}, {platform.node()}, {os.cpu_count()} cores, "
          f"{version}{'; ' + args.note if args.note else ''}")
    print("\n".join(lines))
    out = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
           "cores": os.cpu_count(), "dwipack": version, "note": args.note, "elapsed_s": args.elapsed,
           "ranks": n, "runs": runs, "large": large, "targets": targets}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print(f"JSON: {args.json}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("attributes")
    a.add_argument("file")
    a.add_argument("cohort")
    t = sub.add_parser("table")
    t.add_argument("results")
    t.add_argument("--json", required=True)
    t.add_argument("--ranks", type=int, default=3)
    t.add_argument("--dwipack", default="")
    t.add_argument("--note", default="")
    t.add_argument("--elapsed", type=float, default=0)
    args = p.parse_args()
    {"attributes": cmd_attributes, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()

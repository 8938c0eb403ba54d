"""Figures and report of bench/run.sh (issue 7). Three subcommands:

  report.py sizes OUT.hdf5
      per subject: float32 volume bytes and shapes, streamline and point counts (JSON on stdout)
  report.py compare REF.hdf5 OTHER.hdf5 [--tolerance T]
      every dataset of REF must exist in OTHER with the same shape and dtype, and equal values
      (exactly, or within T absolute + T relative): datasets up to 64 MiB in full, larger ones on
      their first and last 32 MiB of rows (JSON on stdout)
  report.py table RESULTS_DIR --data DWI_ML_READY --json OUT.json [...]
      the benchmark's table, with ratios and PASS/GAP per target, also written as JSON

Run with Debian's /usr/bin/python3 (h5py, numpy).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys

GB = 1e9
MiB = 2**20

# The targets of issue 7.
TARGET_SPEEDUP = 25.0       # end to end, 1 rank, vs the Python baseline
TARGET_SCALING = 1.8        # 2 workers vs 1 rank
TARGET_DECODE = 0.70        # volume path vs single-core libdeflate decode
TARGET_TRK_GBS = 1.5        # streamline path, GB/s of .trk per rank
TARGET_WRITE = 0.70         # output rate vs sequential write + fsync
RSS_VOLUME, RSS_POINTS = 1.25, 1.2


# --------------------------------------------------------------------------------- sizes, compare

def walk_datasets(group, prefix=""):
    import h5py
    for key, item in group.items():
        path = f"{prefix}/{key}"
        if isinstance(item, h5py.Dataset):
            yield path, item
        else:
            yield from walk_datasets(item, path)


def cmd_sizes(args):
    import h5py
    out = {"file_bytes": os.path.getsize(args.file), "subjects": {}}
    with h5py.File(args.file, "r") as f:
        for subject in sorted(f.keys()):
            s = {"volume_bytes": 0, "volume_shapes": {}, "streamlines": 0, "points": 0, "point_bytes": 0}
            for name, g in f[subject].items():
                kind = g.attrs.get("type")
                kind = kind.decode() if isinstance(kind, bytes) else kind
                if kind == "volume":
                    s["volume_bytes"] += int(g["data"].size) * g["data"].dtype.itemsize
                    s["volume_shapes"][name] = [int(n) for n in g["data"].shape]
                elif kind == "streamlines":
                    s["streamlines"] += int(g["offsets"].shape[0])
                    s["points"] += int(g["data"].shape[0])
                    s["point_bytes"] += int(g["data"].size) * g["data"].dtype.itemsize
            out["subjects"][subject] = s
    json.dump(out, sys.stdout, indent=1)
    print()


def cmd_compare(args):
    import h5py
    import numpy as np
    problems, max_diff, checked = [], 0.0, 0
    with h5py.File(args.reference, "r") as ref, h5py.File(args.other, "r") as other:
        for path, a in walk_datasets(ref):
            if path not in other:
                problems.append(f"{path}: missing")
                continue
            b = other[path]
            if a.shape != b.shape or a.dtype != b.dtype:
                problems.append(f"{path}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
                continue
            if a.size == 0:
                continue
            row_bytes = max(1, a.size // a.shape[0] * a.dtype.itemsize)
            rows = a.shape[0] if a.size * a.dtype.itemsize <= 64 * MiB else max(1, 32 * MiB // row_bytes)
            parts = [slice(0, rows)] if rows >= a.shape[0] else [slice(0, rows), slice(a.shape[0] - rows, None)]
            for part in parts:
                x, y = a[part], b[part]
                checked += int(x.size)
                if x.dtype.kind in "fc":
                    x64, y64 = x.astype(np.float64), y.astype(np.float64)
                    both_nan = np.isnan(x64) & np.isnan(y64)
                    diff = np.where(both_nan, 0.0, np.abs(x64 - y64))
                    worst = float(np.nanmax(diff)) if diff.size else 0.0
                    max_diff = max(max_diff, worst)
                    ok = np.all(diff <= args.tolerance * (1 + np.abs(x64))) and not np.any(np.isnan(diff))
                else:
                    ok = np.array_equal(x, y)
                if not ok:
                    problems.append(f"{path}: values differ (rows {part.start}:{part.stop})")
    json.dump({"reference": args.reference, "other": args.other, "tolerance": args.tolerance,
               "values_checked": checked, "max_abs_diff": max_diff, "problems": problems,
               "ok": not problems}, sys.stdout, indent=1)
    print()


# --------------------------------------------------------------------------------- table

def read_time(path):
    """GNU time's '%e %U %S %M' -> dict (the last line: a failed command adds one before)."""
    with open(path) as f:
        wall, user, sys_, rss_kb = f.read().split("\n")[-2].split()
    return {"wall_s": float(wall), "user_s": float(user), "sys_s": float(sys_),
            "cpu_s": float(user) + float(sys_), "peak_rss_mib": int(rss_kb) / 1024}


def read_run(results, tag):
    run = read_time(os.path.join(results, f"{tag}.time"))
    with open(os.path.join(results, f"{tag}.out_bytes")) as f:
        run["out_bytes"] = int(f.read())
    with open(os.path.join(results, f"{tag}.ticks")) as f:
        before, after, hz = (float(v) for v in f.read().split())
    # CPU the rest of the machine used during the run, in cores (what disturbed the measurement)
    run["other_load_cores"] = max(0.0, ((after - before) / hz - run["cpu_s"]) / max(run["wall_s"], 1e-9))
    ranks = sorted(glob.glob(os.path.join(results, f"{tag}.rank.*")), key=lambda p: int(p.rsplit(".", 1)[1]))
    if ranks:
        run["ranks"] = [dict(rank=int(p.rsplit(".", 1)[1]), **read_time(p)) for p in ranks]
    return run


def median_run(results, name, repeat):
    """The run with the median wall time of the repetitions (all its figures), plus every wall
    time and the largest peak RSS seen in any repetition."""
    runs = [read_run(results, f"{name}.{r}") for r in range(1, repeat + 1)]
    chosen = dict(sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2])
    chosen["walls_s"] = [r["wall_s"] for r in runs]
    chosen["max_peak_rss_mib"] = max(max([r["peak_rss_mib"]] + [k["peak_rss_mib"] for k in r.get("ranks", [])])
                                     for r in runs)
    return chosen


def input_bytes(data_dir):
    files = {"nii_gz": glob.glob(os.path.join(data_dir, "*", "*", "*.nii.gz")),
             "trk": glob.glob(os.path.join(data_dir, "*", "tractography", "*.trk")),
             "mask": glob.glob(os.path.join(data_dir, "*", "masks", "wm.nii.gz"))}
    return {k: sum(os.path.getsize(p) for p in v) for k, v in files.items()}


def machine():
    info = {"host": platform.node(), "kernel": platform.release(), "cores": os.cpu_count()}
    try:
        with open("/etc/os-release") as f:
            rel = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        info["os"] = rel.get("PRETTY_NAME", "").strip('"')
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        with open("/proc/meminfo") as f:
            info["ram_gib"] = round(int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    info["loadavg_at_report"] = os.getloadavg()
    return info


def git_describe(dwipack):
    out = {"path": dwipack}
    try:
        out["version"] = subprocess.run([dwipack, "--version"], capture_output=True, text=True,
                                        timeout=30).stdout.strip()
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out["git_commit"] = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "src", "include"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        out["src_modified"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def cmd_table(args):
    res = args.results
    with open(os.path.join(res, "limits.json")) as f:
        limits = json.load(f)
    with open(os.path.join(res, "sizes.json")) as f:
        sizes = json.load(f)
    inputs = input_bytes(args.data)
    subjects = sizes["subjects"]
    uncompressed = limits["decode"]["out_bytes"]  # every .nii.gz, inflated

    runs = {}
    if os.path.exists(os.path.join(res, "python.time")):
        runs["python"] = read_run(res, "python")
        with open(os.path.join(res, "python.out")) as f:
            runs["python"]["stages_s"] = json.loads(f.read().strip().splitlines()[-1])["stages"]
    for name in ("one", "mpi", "volumes", "streamlines"):
        runs[name] = median_run(res, name, args.repeat)
    if os.path.exists(os.path.join(res, "onecore.1.time")):
        runs["onecore"] = median_run(res, "onecore", args.repeat)
    if os.path.exists(os.path.join(res, "compressed.1.time")):
        runs["compressed"] = median_run(res, "compressed", 1)
    all_in = inputs["nii_gz"] + inputs["trk"]
    in_bytes = {"python": all_in, "one": all_in, "onecore": all_in, "mpi": all_in, "compressed": all_in, "volumes": inputs["nii_gz"],
                "streamlines": inputs["trk"] + inputs["mask"]}
    for name, run in runs.items():
        run["in_bytes"] = in_bytes[name]
        run["in_gb_per_s"] = run["in_bytes"] / run["wall_s"] / GB
        run["out_gb_per_s"] = run["out_bytes"] / run["wall_s"] / GB

    # ---- ratios and targets
    one, mpi, vol, trk = runs["one"], runs["mpi"], runs["volumes"], runs["streamlines"]
    py = runs.get("python")
    vol_rate = uncompressed / vol["wall_s"] / GB
    vol_cpu_rate = uncompressed / vol["cpu_s"] / GB
    trk_rate = inputs["trk"] / trk["wall_s"] / GB
    trk_cpu_rate = inputs["trk"] / trk["cpu_s"] / GB
    bound_subject, bound = max(((s, RSS_VOLUME * v["volume_bytes"] + RSS_POINTS * v["point_bytes"])
                                for s, v in subjects.items()), key=lambda t: t[1])
    worst_rss = max(r["max_peak_rss_mib"] for r in runs.values() if r is not py) * MiB
    write = limits.get("write", {})
    ratios = {
        "python_over_1rank": py["wall_s"] / one["wall_s"] if py else None,
        "python_over_2workers": py["wall_s"] / mpi["wall_s"] if py else None,
        "python_over_1rank_cpu": py["cpu_s"] / one["cpu_s"] if py else None,
        "speedup_2workers": one["wall_s"] / mpi["wall_s"],
        "speedup_2workers_vs_1core": runs["onecore"]["wall_s"] / mpi["wall_s"] if "onecore" in runs else None,
        "one_rank_threads_speedup": runs["onecore"]["wall_s"] / one["wall_s"] if "onecore" in runs else None,
        "volume_path_gb_per_s": vol_rate,
        "volume_path_cpu_gb_per_s": vol_cpu_rate,
        "volume_path_over_decode": vol_rate / limits["decode"]["gb_per_s"],
        "volume_path_over_decode_cpu": vol_cpu_rate / limits["decode"]["cpu_gb_per_s"],
        "trk_gb_per_s_per_rank": trk_rate,
        "trk_cpu_gb_per_s_per_rank": trk_cpu_rate,
        "trk_over_walk_floor": trk_rate / limits["trk"]["gb_per_s"] if "trk" in limits else None,
        "out_over_write_fsync": one["out_gb_per_s"] / write["fsync_gb_per_s"] if write else None,
        "out_over_write_page_cache": one["out_gb_per_s"] / write["page_cache_gb_per_s"] if write else None,
        "mpi_out_over_write_fsync": mpi["out_gb_per_s"] / write["fsync_gb_per_s"] if write else None,
        "coordinator_cpu_fraction": (mpi["ranks"][0]["cpu_s"] / mpi["wall_s"]) if mpi.get("ranks") else None,
        "one_rank_sys_fraction": one["sys_s"] / one["cpu_s"],
        "compressed_over_uncompressed": runs["compressed"]["wall_s"] / mpi["wall_s"] if "compressed" in runs else None,
        "compression_ratio": mpi["out_bytes"] / runs["compressed"]["out_bytes"] if "compressed" in runs else None,
        "rss_bound_bytes": bound,
        "rss_bound_subject": bound_subject,
        "peak_rss_over_bound": worst_rss / bound,
    }

    def target(name, value, goal, higher_is_better=True, unit="x", note="", cpu_value=None):
        """One target; `cpu_value` is the same ratio on a CPU-time basis (less disturbed by other load)."""
        if value is None:
            result = "n/a"
        else:
            result = "PASS" if (value >= goal if higher_is_better else value <= goal) else "GAP"
        return {"name": name, "value": value, "cpu_basis_value": cpu_value, "target": goal,
                "higher_is_better": higher_is_better, "result": result, "unit": unit, "note": note}

    targets = [
        target("end to end, 1 rank, vs Python baseline", ratios["python_over_1rank"], TARGET_SPEEDUP,
               note="" if py else "Python baseline skipped", cpu_value=ratios["python_over_1rank_cpu"]),
        target(f"{args.ranks - 1} workers vs 1 rank (throughput)", ratios["speedup_2workers"], TARGET_SCALING,
               note="" if ratios["speedup_2workers_vs_1core"] is None else
               f"1 rank has helper threads on every core; vs 1 rank held to 1 core: "
               f"{ratios['speedup_2workers_vs_1core']:.2f}x"),
        target("volume path vs libdeflate decode (1 rank)", ratios["volume_path_over_decode"], TARGET_DECODE,
               unit="%", cpu_value=ratios["volume_path_over_decode_cpu"]),
        target("streamline path, .trk per rank", trk_rate, TARGET_TRK_GBS, unit="GB/s", cpu_value=trk_cpu_rate),
        target("output rate (1 rank) vs write + fsync", ratios["out_over_write_fsync"], TARGET_WRITE, unit="%"),
        target("peak RSS per rank vs bound", ratios["peak_rss_over_bound"], 1.0, higher_is_better=False),
        target("gzip output (--compression) vs uncompressed", ratios["compressed_over_uncompressed"],
               1.5, higher_is_better=False,
               note="" if "compressed" in runs else "this dwipack has no --compression option"),
    ]

    checks = {}
    for key in ("compare_python", "compare_mpi", "compare_compressed"):
        path = os.path.join(res, f"{key}.json")
        if os.path.exists(path):
            with open(path) as f:
                checks[key] = json.load(f)

    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "dwipack": git_describe(args.dwipack),
        "params": dict(kv.split("=", 1) for kv in args.params.split()) if args.params else {},
        "ranks_mpi": args.ranks,
        "repeat": args.repeat,
        "cache": "warm: every timed run is preceded by `cat` of its inputs > /dev/null; outputs are not fsynced",
        "dataset": {"subjects": subjects, "input_bytes": inputs, "uncompressed_nifti_bytes": uncompressed},
        "limits": limits,
        "runs": runs,
        "ratios": ratios,
        "targets": targets,
        "checks": checks,
        "total_seconds": args.elapsed,
        "note": args.note,
    }
    print_table(report)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"\nJSON: {args.json}")


def print_table(rep):
    m, lim, runs, ratios = rep["machine"], rep["limits"], rep["runs"], rep["ratios"]
    subjects = rep["dataset"]["subjects"]
    ins = rep["dataset"]["input_bytes"]
    p = print
    p(f"\ndwipack benchmark, {rep['date']}; {m.get('os', '?')}, {m.get('cores')} cores ({m.get('cpu', '?')}), "
      f"{m.get('ram_gib', '?')} GiB RAM, kernel {m.get('kernel')}")
    dw = rep["dwipack"]
    p(f"dwipack: {dw.get('version', '?')}, {dw['path']}; repository HEAD {dw.get('git_commit', '?')}"
      f"{' (src/ or include/ modified in the working tree)' if dw.get('src_modified') else ''}")
    if rep.get("note"):
        p(f"note: {rep['note']}")
    p(f"dataset: {len(subjects)} subjects")
    for s, v in subjects.items():
        shapes = ", ".join(f"{g} {'x'.join(map(str, sh))}" for g, sh in v["volume_shapes"].items())
        p(f"  {s}: {shapes}; {v['streamlines']:,} streamlines, {v['points']:,} points; "
          f"float32 volumes {v['volume_bytes'] / MiB:,.0f} MiB, points {v['point_bytes'] / MiB:,.0f} MiB")
    p(f"  input on disk {(ins['nii_gz'] + ins['trk']) / GB:.2f} GB (.nii.gz {ins['nii_gz'] / GB:.2f} GB, "
      f"uncompressed {rep['dataset']['uncompressed_nifti_bytes'] / GB:.2f} GB; .trk {ins['trk'] / GB:.2f} GB)")
    p(f"page cache: {rep['cache']}")
    p(f"dwipack figures: the run with the median wall time of {rep['repeat']}; peak RSS: the largest of them")

    d = lim["decode"]
    p("\nmachine limits, single core, on these files:")
    p(f"  libdeflate gzip decode of the .nii.gz files  {d['gb_per_s']:6.2f} GB/s uncompressed "
      f"({d['out_bytes'] / GB:.2f} GB in {d['seconds']:.2f} s; per CPU s {d['cpu_gb_per_s']:.2f})")
    if "trk" in lim:
        t = lim["trk"]
        p(f"  .trk walk (copy, scale, lengths)             {t['gb_per_s']:6.2f} GB/s ({t['bytes'] / GB:.2f} GB, "
          f"{t['streamlines']:,} streamlines)")
    p(f"  memcpy, 1 GiB                                {lim['memcpy']['gb_per_s']:6.2f} GB/s")
    if "write" in lim:
        w = lim["write"]
        p(f"  sequential write {w['bytes'] / 2**30:.0f} GiB + fsync                  {w['fsync_gb_per_s']:6.2f} GB/s")
        p(f"    of which into the page cache                {w['page_cache_gb_per_s']:6.2f} GB/s (fresh memory; "
          f"recycled pages: {w.get('recycled_page_cache_gb_per_s', 0):.2f} GB/s)")
        p(f"    O_DIRECT + fsync (no page cache)            {w.get('direct_gb_per_s', 0):6.2f} GB/s")

    labels = {"python": "Python baseline, 1 process", "one": "dwipack, 1 rank",
              "onecore": "dwipack, 1 rank held to 1 core",
              "mpi": f"dwipack, mpirun -n {rep['ranks_mpi']}", "volumes": "dwipack, 1 rank, volumes only",
              "compressed": f"dwipack, mpirun -n {rep['ranks_mpi']}, gzip",
              "streamlines": "dwipack, 1 rank, streamlines only"}
    p(f"\n{'run':34}{'wall s':>8}{'CPU s':>8}  {'peak RSS MiB':<26}{'in GB/s':>8}{'out GB/s':>9}{'other load':>11}")
    for name, run in runs.items():
        rss = f"{run['peak_rss_mib']:.0f}"
        if "ranks" in run:
            rss = "/".join(f"{r['peak_rss_mib']:.0f}" for r in run["ranks"]) + " (rank 0/1/..)"
        p(f"{labels[name]:34}{run['wall_s']:8.2f}{run['cpu_s']:8.2f}  {rss:<26}{run['in_gb_per_s']:8.3f}"
          f"{run['out_gb_per_s']:9.3f}{run['other_load_cores']:10.2f}c")
    for name, run in runs.items():
        if len(run.get("walls_s", [])) > 1:
            p(f"  {labels[name]}: wall of each run {', '.join(f'{w:.2f}' for w in run['walls_s'])} s")
    if "python" in runs:
        st = runs["python"]["stages_s"]
        p("  Python stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in st.items() if k != "volumes"))
    p("  (CPU s = user + sys of all processes; 'other load' = CPU the rest of the machine used meanwhile, in cores;"
      " in = input bytes on disk, out = output file bytes, per wall second)")

    p("\nratios:")
    if ratios["python_over_1rank"] is not None:
        p(f"  Python / dwipack: {ratios['python_over_1rank']:.1f}x (1 rank), "
          f"{ratios['python_over_2workers']:.1f}x ({rep['ranks_mpi'] - 1} workers); "
          f"in CPU time {ratios['python_over_1rank_cpu']:.1f}x (1 rank)")
    if ratios["speedup_2workers_vs_1core"] is not None:
        p(f"  scaling: {rep['ranks_mpi'] - 1} workers on the {rep['machine'].get('cores', 2)} cores are "
          f"{ratios['speedup_2workers_vs_1core']:.2f}x a rank held to 1 core; 1 rank with its helper threads on all "
          f"cores is {ratios['one_rank_threads_speedup']:.2f}x a rank held to 1 core")
    p(f"  volume path (1 rank, volumes only): {ratios['volume_path_gb_per_s']:.2f} GB/s of uncompressed NIfTI "
      f"= {100 * ratios['volume_path_over_decode']:.0f}% of the decode rate "
      f"(per CPU s: {ratios['volume_path_cpu_gb_per_s']:.2f} GB/s = {100 * ratios['volume_path_over_decode_cpu']:.0f}%)")
    walk = ratios["trk_over_walk_floor"]
    p(f"  streamline path (1 rank, streamlines only): {ratios['trk_gb_per_s_per_rank']:.2f} GB/s of .trk"
      + (f" = {100 * walk:.0f}% of the .trk walk" if walk else "")
      + f" (per CPU s: {ratios['trk_cpu_gb_per_s_per_rank']:.2f} GB/s)")
    if ratios["out_over_write_fsync"] is not None:
        p(f"  output rate vs write + fsync: {100 * ratios['out_over_write_fsync']:.0f}% (1 rank), "
          f"{100 * ratios['mpi_out_over_write_fsync']:.0f}% ({rep['ranks_mpi'] - 1} workers); vs page-cache write: "
          f"{100 * ratios['out_over_write_page_cache']:.0f}% (1 rank), "
          f"{100 * runs['volumes']['out_gb_per_s'] / lim['write']['page_cache_gb_per_s']:.0f}% (volumes only), "
          f"{100 * runs['streamlines']['out_gb_per_s'] / lim['write']['page_cache_gb_per_s']:.0f}% (streamlines only)")
    if ratios["coordinator_cpu_fraction"] is not None:
        p(f"  mpirun: coordinator (rank 0) CPU = {100 * ratios['coordinator_cpu_fraction']:.1f}% of a core; "
          f"1 rank: kernel (sys) time = {100 * ratios['one_rank_sys_fraction']:.0f}% of its CPU time")
    s = subjects[ratios["rss_bound_subject"]]
    p(f"  RSS bound: {RSS_VOLUME} x {s['volume_bytes'] / MiB:.0f} MiB volumes + {RSS_POINTS} x "
      f"{s['point_bytes'] / MiB:.0f} MiB points ({ratios['rss_bound_subject']}) = "
      f"{ratios['rss_bound_bytes'] / MiB:.0f} MiB; largest peak RSS of any dwipack rank = "
      f"{ratios['peak_rss_over_bound']:.2f} x the bound")
    if ratios["compressed_over_uncompressed"] is not None:
        p(f"  --compression gzip: {ratios['compressed_over_uncompressed']:.2f}x the uncompressed mpirun wall time, "
          f"file {ratios['compression_ratio']:.2f}x smaller (one run)")
    for key, label in (("compare_python", "Python output"), ("compare_mpi", "mpirun output"),
                       ("compare_compressed", "compressed output")):
        c = rep["checks"].get(key)
        if c:
            p(f"  check: {label} vs 1-rank output: " + ("same datasets, shapes, dtypes and values"
              f" (tolerance {c['tolerance']:g}, max abs diff {c['max_abs_diff']:.2g}, "
              f"{c['values_checked']:,} values)" if c["ok"] else "DIFFERENT: " + "; ".join(c["problems"][:5])))

    p(f"\n{'target':42}{'measured':>11}{'per CPU s':>11}{'target':>13}  result")
    for t in rep["targets"]:
        def fmt(v):
            if v is None:
                return "-"
            if t["unit"] == "%":
                return f"{100 * v:.0f}%"
            return f"{v:.2f}x" if t["unit"] == "x" else f"{v:.2f} {t['unit']}"
        goal = (">= " if t["higher_is_better"] else "<= ") + fmt(t["target"])
        p(f"{t['name']:42}{fmt(t['value']):>11}{fmt(t['cpu_basis_value']):>11}{goal:>13}  {t['result']}"
          + (f" ({t['note']})" if t["note"] else ""))
    if rep["total_seconds"]:
        p(f"\ntotal benchmark time: {float(rep['total_seconds']):.0f} s")
    busy = [r["other_load_cores"] for r in runs.values()]
    if max(busy) > 0.3:
        p(f"warning: other processes used up to {max(busy):.1f} cores during the timed runs: wall-clock figures "
          "are disturbed (the per-CPU-second figures much less)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sizes")
    s.add_argument("file")
    c = sub.add_parser("compare")
    c.add_argument("reference")
    c.add_argument("other")
    c.add_argument("--tolerance", type=float, default=0.0)
    t = sub.add_parser("table")
    t.add_argument("results")
    t.add_argument("--data", required=True)
    t.add_argument("--json", required=True)
    t.add_argument("--dwipack", default="dwipack")
    t.add_argument("--ranks", type=int, default=3)
    t.add_argument("--repeat", type=int, default=1)
    t.add_argument("--params", default="")
    t.add_argument("--elapsed", type=float, default=None)
    t.add_argument("--note", default="")
    args = parser.parse_args()
    {"sizes": cmd_sizes, "compare": cmd_compare, "table": cmd_table}[args.command](args)


if __name__ == "__main__":
    main()

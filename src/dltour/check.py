"""``dltour check``: check and time dltour's GPU path in one call, and write ``gpu_check.md`` +
``gpu_check.json``.

    dltour check OUT_DIR [--device cuda|cpu] [--data DIR] [--precision auto|fp32|bf16]
                 [--budget SECONDS] [--steps env,smoke,bench,vgg,full] [--keep-tmp]

(``scripts/gpu_check.sh OUT_DIR ...`` calls the same command with the project's virtual environment.)

Steps, each timed; a failure is recorded in its table and the script goes on (exit 1 at the end
if anything failed, 0 otherwise):

1. environment: GPU name, torch and CUDA versions, cores, CPU model;
2. ``dltour run NAME --profile smoke`` of every registered study on the device;
3. ``dltour bench NAME --json`` of every study (profile demo): end-to-end / compute-only ratio;
4. VGG-16 / VGG-19 batched inference, microseconds per image, at 64 and 224 px, fp32 and bf16
   autocast (CUDA; the CPU measures fp32 only, with tiny counts), through
   ``dltour.metrics.classification.time_inference`` on randomly initialised ``VGGTransfer`` nets;
5. the ``full`` profile of the studies in ``FULL`` with one seed on the real data when present
   (on the CPU capped at ``epochs=1``).

Every command runs in its own process group with its own timeout, under one global deadline
(``--budget``, default 480 s on CUDA): once it has passed, the remaining items are recorded as
``skipped: time budget``. The report is rewritten after every step, so a run cut short from
outside still leaves what it measured. Nothing is downloaded: the studies' smoke and demo profiles
use the embedded demo data and the VGG nets are built with random weights.

The dltour command is ``$DLTOUR`` if set, else ``dltour`` on PATH, else ``python -m dltour.cli``.
``--precision`` is passed to ``dltour run``/``bench`` only when their ``--help`` lists it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess  # nosec B404  # runs only argv lists that check.py builds itself, no shell
import sys
import time
from pathlib import Path
from typing import Any, Callable

#: the source tree this dltour was imported from (for the default ``../shared/data``)
ROOT = Path(__file__).resolve().parents[2]
STEPS = ("env", "smoke", "bench", "vgg", "full")
SKIP_BUDGET = "skipped: time budget"
SKIP_DATA = "skipped: data missing"
OK = "ok"

#: per-item timeouts in seconds: (cuda, cpu)
TIMEOUTS = {"env": (60, 60), "smoke": (90, 150), "bench": (60, 120), "vgg": (150, 300), "full": (180, 420),
            "probe": (30, 60)}
#: the global budget when --budget is not given (the CPU only proves the path, it is not timed)
DEFAULT_BUDGET = {"cuda": 480.0, "cpu": 1800.0}
MIN_START_S = 5.0  # an item is not started with less than this left


def _airline(data: Path) -> Path | None:
    for p in (data / "airline" / "Airline.csv", data / "airline-passengers.csv"):
        if p.is_file():
            return p
    return None


def _mnist(data: Path) -> Path | None:
    for p in (data / "mnist", data):
        if (p / "train-images-idx3-ubyte.gz").is_file() and (p / "t10k-images-idx3-ubyte.gz").is_file():
            return p
    return None


#: study -> finder of its data path in the --data folder (None: absent); each is run with
#: ``--set seeds=1 --set data.path=PATH`` (and ``--set epochs=1`` on the CPU)
FULL: dict[str, Callable[[Path], Path | None]] = {"airline-lstm": _airline, "mnist-autoencoder": _mnist}
#: extra caps on the CPU, so that the CPU proof of the path takes minutes (named in the report)
CPU_CAPS: dict[str, list[str]] = {"airline-lstm": ["epochs=1"],
                                  "mnist-autoencoder": ["epochs=1", "data.train_subset=10000", "tsne_points=500"]}

VGG_ARCHS = ("vgg16", "vgg19")
VGG_SIZES = (64, 224)


# ---------------------------------------------------------------------------------- deadline
class Deadline:
    """A global time budget; ``timeout(limit)`` is the time an item may take now, None when too
    little is left to start one."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.start = clock()
        self.budget_s = float(budget_s)

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return self.budget_s - self.elapsed()

    def timeout(self, limit: float) -> float | None:
        left = self.remaining()
        if left < MIN_START_S:
            return None
        return min(float(limit), left)


# ---------------------------------------------------------------------------------- commands
def dltour_command(env: dict[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    if env.get("DLTOUR"):
        return shlex.split(env["DLTOUR"])
    found = shutil.which("dltour", path=env.get("PATH"))
    if found:
        return [found]
    return [sys.executable, "-m", "dltour.cli"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    return env


def run_cmd(cmd: list[str], timeout: float, log: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` in its own process group; on timeout kill the whole group. Returns rc (None on
    timeout), seconds, stdout, stderr and timed_out."""
    t0 = time.perf_counter()
    p = subprocess.Popen(  # nosec B603  # argv lists check.py builds (this Python, nvidia-smi), no shell
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(), start_new_session=True)
    timed_out = False
    try:
        so, se = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(p)
        so, se = p.communicate()
    res = {"rc": None if timed_out else p.returncode, "seconds": time.perf_counter() - t0, "stdout": so or "",
           "stderr": se or "", "timed_out": timed_out}
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        text = f"$ {shlex.join(cmd)}\n# rc={res['rc']} seconds={res['seconds']:.1f} timed_out={timed_out}\n" \
               f"## stdout\n{res['stdout'][-100_000:]}\n## stderr\n{res['stderr'][-100_000:]}\n"
        log.write_text(text)
    return res


def _kill_group(p: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def status_of(res: dict[str, Any]) -> str:
    if res["timed_out"]:
        return f"timeout after {res['seconds']:.0f} s"
    if res["rc"] != 0:
        return f"FAIL (rc {res['rc']})"
    return OK


def failed(status: str) -> bool:
    return status.startswith("FAIL") or status.startswith("timeout")


def last_error(res: dict[str, Any]) -> str:
    """The last meaningful stderr line (a traceback's exception, dltour's one-line error)."""
    lines = [ln.strip() for ln in (res.get("stderr") or "").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("dltour: error:") or "Error" in ln.split(":")[0]:
            return ln[:300]
    return lines[-1][:300] if lines else ""


def parse_json_output(text: str) -> Any:
    """The JSON document in ``text`` (from the first ``{`` or ``[`` on)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError("no JSON in the output")
    return json.loads(text[min(starts):])


# ---------------------------------------------------------------------------------- arguments
class _OneLineParser(argparse.ArgumentParser):
    """Bad arguments give one line (what is wrong, where the help is) and exit 2, as every dltour
    command does, instead of argparse's usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = _OneLineParser(prog="dltour check", description=__doc__.splitlines()[0].replace("``", ""))
    ap.add_argument("out", type=Path, help="folder for gpu_check.md, gpu_check.json, logs/")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--data", type=Path, default=None,
                    help="folder with airline/Airline.csv and mnist/*-ubyte.gz (default: ../shared/data, "
                         "else $DLTOUR_DATA)")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                    help="passed to dltour run/bench when they accept it (auto: bf16 autocast on CUDA)")
    ap.add_argument("--budget", type=float, default=None,
                    help="global deadline in seconds (default 480 on cuda, 1800 on cpu)")
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    ap.add_argument("--keep-tmp", action="store_true", help="keep OUT/tmp (run folders, checkpoints)")
    ap.add_argument("--worker", choices=("env", "vgg"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.budget is None:
        a.budget = DEFAULT_BUDGET[a.device]
    a.steps = [s.strip() for s in a.steps.split(",") if s.strip()]
    bad = [s for s in a.steps if s not in STEPS]
    if bad:
        ap.error(f"unknown step(s) {', '.join(bad)}; choose from {', '.join(STEPS)}")
    if a.data is None:
        a.data = default_data_dir()
    return a


def default_data_dir(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    for p in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data"):
        if p.is_dir():
            return p
    if env.get("DLTOUR_DATA"):
        return Path(env["DLTOUR_DATA"]).expanduser()
    return ROOT.parent / "shared" / "data"


def vgg_plan(device: str) -> dict[str, Any]:
    """What step 4 measures on ``device``: precisions, batch, counts, memory format."""
    if device == "cuda":
        return {"precisions": ["fp32", "bf16"], "batch": {64: 256, 224: 256}, "warmup": 3, "iters": 10,
                "iters_b1": 10, "channels_last": True}
    return {"precisions": ["fp32"], "batch": {64: 8, 224: 2}, "warmup": 1, "iters": 1, "iters_b1": 1,
            "channels_last": False}


# ---------------------------------------------------------------------------------- workers
def worker_env(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "cuda_build": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
                            "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
        info["cudnn"] = torch.backends.cudnn.version()
    try:
        import dltour

        info["dltour"] = getattr(dltour, "__version__", "?")
    except Exception as e:  # noqa: BLE001 - reported, not fatal here
        info["dltour"] = f"import failed: {e}"
    return info


def worker_vgg(device: str) -> None:
    """One JSON line per (arch, size, precision), flushed as it is measured."""
    import torch

    from dltour.device import DeviceInfo
    from dltour.metrics.classification import time_inference
    from dltour.models.vgg import VGGTransfer

    plan = vgg_plan(device)
    dev = torch.device(device)
    torch.manual_seed(0)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # as dltour.seeding does for non-deterministic runs
    for arch in VGG_ARCHS:
        for size in VGG_SIZES:
            t0 = time.perf_counter()
            row: dict[str, Any] = {"arch": arch, "size": size}
            try:
                model = VGGTransfer(arch, num_classes=200, input_size=size).to(dev)  # random init, no download
                if plan["channels_last"]:
                    model = model.to(memory_format=torch.channels_last)
            except Exception as e:  # noqa: BLE001
                for prec in plan["precisions"]:
                    print(json.dumps({**row, "precision": prec, "status": f"FAIL: {type(e).__name__}: {e}"[:300],
                                      "seconds": time.perf_counter() - t0}), flush=True)
                continue
            for prec in plan["precisions"]:
                t1 = time.perf_counter()
                info = DeviceInfo(dev, torch.bfloat16 if prec == "bf16" else None)
                try:
                    r = time_inference(model, (3, size, size), info, batch_size=plan["batch"][size],
                                       warmup=plan["warmup"], iters=plan["iters"], iters_b1=plan["iters_b1"],
                                       channels_last=plan["channels_last"])
                    out = {**row, "precision": prec, "status": OK, **r}
                except Exception as e:  # noqa: BLE001
                    out = {**row, "precision": prec, "status": f"FAIL: {type(e).__name__}: {e}"[:300]}
                out["seconds"] = time.perf_counter() - t1
                print(json.dumps(out), flush=True)
            del model
            if device == "cuda":
                torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------- steps
class Check:
    def __init__(self, args: argparse.Namespace, clock: Callable[[], float] = time.monotonic):
        self.a = args
        self.out: Path = args.out
        self.tmp = self.out / "tmp"
        self.logs = self.out / "logs"
        self.deadline = Deadline(args.budget, clock)
        self.dltour = dltour_command()
        self.r: dict[str, Any] = {
            "meta": {"device": args.device, "precision": args.precision, "budget_s": args.budget,
                     "data": str(args.data), "dltour": shlex.join(self.dltour),
                     "started": _dt.datetime.now().isoformat(timespec="seconds"), "steps": list(args.steps),
                     "precision_flag": None, "device_label": args.device},
            "env": None, "smoke": [], "bench": [], "vgg": [], "full": []}
        self.studies: list[str] = []

    def lim(self, step: str) -> float:
        return TIMEOUTS[step][0 if self.a.device == "cuda" else 1]

    def save(self) -> None:
        self.r["meta"]["elapsed_s"] = round(self.deadline.elapsed(), 1)
        self.r["meta"]["failed"] = count_failures(self.r)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "gpu_check.json").write_text(json.dumps(self.r, indent=2, default=str))
        (self.out / "gpu_check.md").write_text(render_markdown(self.r))

    def prec_args(self) -> list[str]:
        return ["--precision", self.a.precision] if self.r["meta"]["precision_flag"] else []

    # --- 0: what can run
    def probe(self) -> None:
        t = self.deadline.timeout(self.lim("probe"))
        if t is None:
            return
        res = run_cmd([sys.executable, "-c", "from dltour.registry import all_studies\n"
                       "print('\\n'.join(s.name for s in all_studies()))"], t, self.logs / "probe-studies.log")
        if status_of(res) == OK:
            self.studies = [ln.strip() for ln in res["stdout"].splitlines() if ln.strip()]
        self.r["meta"]["studies"] = self.studies or f"could not list studies: {last_error(res)}"
        flags = []
        for sub in ("run", "bench"):
            t = self.deadline.timeout(self.lim("probe"))
            if t is None:
                return
            h = run_cmd(self.dltour + [sub, "--help"], t, self.logs / f"probe-{sub}-help.log")
            flags.append("--precision" in h["stdout"])
        self.r["meta"]["precision_flag"] = all(flags)

    # --- 1
    def step_env(self) -> None:
        t0 = time.perf_counter()
        info: dict[str, Any] = {"nproc": _nproc(), "cpu_model": _cpu_model(), "platform": platform.platform()}
        t = self.deadline.timeout(self.lim("env"))
        if t is None:
            self.r["env"] = {"status": SKIP_BUDGET, "seconds": 0.0, "info": info}
            return
        res = run_cmd([sys.executable, "-m", "dltour.check", str(self.out), "--device", self.a.device,
                       "--worker", "env"], t, self.logs / "env.log")
        st = status_of(res)
        if st == OK:
            try:
                info.update(parse_json_output(res["stdout"]))
            except ValueError as e:
                st = f"FAIL (bad output: {e})"
        err = "" if st == OK else last_error(res)
        if self.a.device == "cuda" and st == OK and not info.get("cuda_available"):
            st, err = "FAIL (no CUDA)", "torch.cuda.is_available() is False"
        smi = shutil.which("nvidia-smi")
        if smi and self.a.device == "cuda":
            s = run_cmd([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], 15)
            if s["rc"] == 0:
                info["nvidia_smi"] = s["stdout"].strip()
        self.r["env"] = {"status": st, "seconds": time.perf_counter() - t0, "info": info, "error": err}
        if self.a.device == "cuda" and info.get("gpu"):
            self.r["meta"]["device_label"] = f"cuda ({info['gpu']})"
        else:
            self.r["meta"]["device_label"] = f"{self.a.device} ({info['cpu_model']}, {info['nproc']} cores)" \
                if self.a.device == "cpu" else self.a.device

    # --- 2
    def step_smoke(self) -> None:
        for name in self.studies:
            row: dict[str, Any] = {"study": name, "seconds": 0.0}
            t = self.deadline.timeout(self.lim("smoke"))
            if t is None:
                row["status"] = SKIP_BUDGET
            else:
                res = run_cmd(self.dltour + ["run", name, "--profile", "smoke", "--device", self.a.device,
                                             "--out", str(self.tmp / "smoke"), *self.prec_args()],
                              t, self.logs / f"smoke-{name}.log")
                row.update(status=status_of(res), seconds=res["seconds"], error=last_error(res) if res["rc"] else "")
            self.r["smoke"].append(row)
            self.save()

    # --- 3
    def step_bench(self) -> None:
        for name in self.studies:
            row: dict[str, Any] = {"study": name, "seconds": 0.0}
            t = self.deadline.timeout(self.lim("bench"))
            if t is None:
                row["status"] = SKIP_BUDGET
                self.r["bench"].append(row)
                continue
            res = run_cmd(self.dltour + ["bench", name, "--device", self.a.device, "--json", *self.prec_args()],
                          t, self.logs / f"bench-{name}.log")
            row.update(status=status_of(res), seconds=res["seconds"])
            if row["status"] == OK:
                try:
                    doc = parse_json_output(res["stdout"])
                    docs = doc if isinstance(doc, list) else [doc]
                    row["results"] = [bench_fields(d) for d in docs]
                except (ValueError, TypeError, AttributeError) as e:
                    row["status"] = f"FAIL (bad JSON: {e})"[:200]
            else:
                err = last_error(res)
                row["error"] = err
                if "has no benchmark" in err:
                    row["status"] = "FAIL (bench raises: no benchmark)"
                elif res["rc"] not in (0, None):
                    row["status"] = f"FAIL (bench raises, rc {res['rc']})"
            self.r["bench"].append(row)
            self.save()

    # --- 4
    def step_vgg(self) -> None:
        plan = vgg_plan(self.a.device)
        expected = [(a, s, p) for a in VGG_ARCHS for s in VGG_SIZES for p in plan["precisions"]]
        t = self.deadline.timeout(self.lim("vgg"))
        if t is None:
            self.r["vgg"] = [{"arch": a, "size": s, "precision": p, "status": SKIP_BUDGET} for a, s, p in expected]
            return
        res = run_cmd([sys.executable, "-m", "dltour.check", str(self.out), "--device", self.a.device,
                       "--worker", "vgg"], t, self.logs / "vgg.log")
        got = {}
        for ln in res["stdout"].splitlines():
            try:
                d = json.loads(ln)
            except ValueError:
                continue
            if isinstance(d, dict) and "arch" in d:
                got[(d["arch"], d["size"], d["precision"])] = d
        rest = status_of(res)
        if rest == OK:
            rest = "FAIL (not measured)"
        err = last_error(res)
        for key in expected:
            if key in got:
                self.r["vgg"].append(got[key])
            else:
                a, s, p = key
                self.r["vgg"].append({"arch": a, "size": s, "precision": p, "status": rest, "error": err})
        self.r["meta"]["vgg_plan"] = {k: (v if k != "batch" else {str(s): b for s, b in v.items()})
                                      for k, v in plan.items()}

    # --- 5
    def step_full(self) -> None:
        for name, finder in FULL.items():
            row: dict[str, Any] = {"study": name, "seconds": 0.0}
            path = finder(self.a.data)
            sets = ["seeds=1"] + ([f"data.path={path}"] if path else [])
            caps = CPU_CAPS.get(name, ["epochs=1"]) if self.a.device == "cpu" else []
            sets += caps
            row["sets"] = sets
            row["capped"] = f"{', '.join(caps)} (CPU)" if caps else ""
            if self.studies and name not in self.studies:
                row["status"] = "FAIL (study not registered)"
            elif path is None:
                row["status"] = SKIP_DATA
            elif (t := self.deadline.timeout(self.lim("full"))) is None:
                row["status"] = SKIP_BUDGET
            else:
                out = self.tmp / "full"
                cmd = self.dltour + ["run", name, "--profile", "full", "--device", self.a.device, "--out", str(out),
                                     *[x for s in sets for x in ("--set", s)], *self.prec_args()]
                res = run_cmd(cmd, t, self.logs / f"full-{name}.log")
                row.update(status=status_of(res), seconds=res["seconds"], error=last_error(res) if res["rc"] else "")
                summ = out / name / "summary.json"
                if row["status"] == OK and summ.exists():
                    row.update(headline_of(json.loads(summ.read_text())))
                elif row["status"] == OK:
                    row["status"] = "FAIL (no summary.json)"
            self.r["full"].append(row)
            self.save()

    def keep_summaries(self) -> None:
        """Copy each summary.json out of OUT/tmp (small), then drop OUT/tmp unless --keep-tmp."""
        for kind in ("smoke", "full"):
            for s in sorted((self.tmp / kind).glob("*/summary.json")):
                dst = self.out / "summaries" / kind / f"{s.parent.name}.json"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(s, dst)
        if not self.a.keep_tmp and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        self.probe()
        steps = {"env": self.step_env, "smoke": self.step_smoke, "bench": self.step_bench, "vgg": self.step_vgg,
                 "full": self.step_full}
        for s in STEPS:
            if s not in self.a.steps:
                continue
            t0 = time.perf_counter()
            try:
                steps[s]()
            except Exception as e:  # noqa: BLE001 - one step's bug must not lose the others
                self.r.setdefault("errors", []).append(f"step {s}: {type(e).__name__}: {e}")
            self.r["meta"].setdefault("step_seconds", {})[s] = round(time.perf_counter() - t0, 1)
            self.save()
        self.keep_summaries()
        self.r["meta"]["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
        self.save()
        return 1 if self.r["meta"]["failed"] else 0


def bench_fields(d: dict[str, Any]) -> dict[str, Any]:
    return {"variant": d.get("variant", ""), "ratio": d.get("ratio"),
            "end_to_end_samples_per_s": d.get("end_to_end_samples_per_s"),
            "compute_only_samples_per_s": d.get("compute_only_samples_per_s"), "batch_size": d.get("batch_size"),
            "host_syncs_per_step": d.get("host_syncs_per_step"), "device": d.get("device", ""),
            "dtype": d.get("dtype", ""), "precision": d.get("precision"),
            "note": d.get("note", "")}


def headline_of(summary: dict[str, Any]) -> dict[str, Any]:
    """Means of the summary's headline metrics per variant (variant order kept)."""
    metrics = summary.get("metrics", {})
    keys = [k for k in summary.get("headline_metrics", []) if any(k in m for m in metrics.values())]
    keys = keys or sorted({k for m in metrics.values() for k in m})[:2]
    order = [v for v in summary.get("variant_order", []) if v in metrics] + \
            [v for v in metrics if v not in summary.get("variant_order", [])]
    head = {k: {v: metrics[v][k].get("mean") for v in order if isinstance(metrics[v].get(k), dict)}
            for k in keys[:2]}
    return {"headline": head, "comparable": summary.get("comparable"), "summary_seconds": summary.get("seconds")}


def count_failures(r: dict[str, Any]) -> int:
    n = len(r.get("errors", []))
    if r.get("env") and failed(r["env"]["status"]):
        n += 1
    for step in ("smoke", "bench", "vgg", "full"):
        n += sum(failed(str(row.get("status", ""))) for row in r.get(step, []))
    if isinstance(r.get("meta", {}).get("studies"), str):
        n += 1
    return n


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.lower().startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# ---------------------------------------------------------------------------------- Markdown
def _f(x: Any, nd: int = 3) -> str:
    if x is None or x == "":
        return "–"
    if isinstance(x, float):
        if x != x:
            return "nan"
        return f"{x:,.{nd}g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def _s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _cell(x: Any) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _headline_cell(head: dict[str, dict[str, float]], limit: int = 8) -> str:
    parts = []
    for k, per in head.items():
        items = [f"{v} {_f(m, 4)}" for v, m in per.items()]
        more = f", … {len(items) - limit} more in gpu_check.json" if len(items) > limit else ""
        parts.append(f"{k}: " + ", ".join(items[:limit]) + more)
    return "; ".join(parts) or "–"


def render_markdown(r: dict[str, Any]) -> str:
    m = r["meta"]
    dev = m.get("device_label") or m["device"]
    pf = m.get("precision_flag")
    pnote = {True: f"`--precision {m['precision']}` passed to dltour run/bench",
             False: f"requested `{m['precision']}`, but this dltour has no `--precision` flag: runs used its default "
                    "(bf16 autocast on CUDA, fp32 elsewhere)",
             None: "not probed"}[pf]
    L = [f"# GPU check: {dev}", "",
         f"Started {m['started']}, {_s(m.get('elapsed_s'))} s of a {m['budget_s']:.0f} s budget; "
         f"**{m.get('failed', 0)} failed item(s)**. dltour command: `{m['dltour']}`; data: `{m['data']}`; "
         f"precision: {pnote}.", ""]
    if r.get("errors"):
        L += ["Script errors: " + "; ".join(r["errors"]), ""]
    if isinstance(m.get("studies"), str):
        L += [f"Studies: {m['studies']}", ""]

    env = r.get("env")
    if env is not None:
        i = env.get("info", {})
        L += [f"## 1. Environment ({dev})", ""]
        rows = [["status", env["status"] + (f": {env['error']}" if env.get("error") else "")],
                ["seconds", _s(env.get("seconds"))]]
        for k in ("gpu", "gpu_memory_gib", "nvidia_smi", "bf16_supported", "torch", "cuda_build", "cudnn",
                  "cuda_available", "python", "dltour", "nproc", "cpu_model", "torch_threads", "platform"):
            if k in i:
                rows.append([k, _f(i[k])])
        L += _table(["item", "value"], rows) + [""]

    if r.get("smoke"):
        L += [f"## 2. `dltour run NAME --profile smoke` on {dev}", ""]
        rows = [[x["study"], x["status"], _s(x.get("seconds")), x.get("error", "")] for x in r["smoke"]]
        tot = sum(x.get("seconds") or 0 for x in r["smoke"])
        L += _table(["study", "status", "wall s", "error"], rows) + ["", f"Total {tot:.1f} s.", ""]

    if r.get("bench"):
        L += [f"## 3. `dltour bench NAME --json` (profile demo) on {dev}", "",
              "Ratio = end-to-end / compute-only training samples/s (target on a GPU: ≥ 0.9). Host syncs/step: "
              "times per end-to-end step the host waited for the GPU (PyTorch's sync debug mode; 0 is the goal).", ""]
        rows = []
        for x in r["bench"]:
            res = x.get("results") or [{}]
            for b in res:
                ratio = b.get("ratio")
                rows.append([x["study"], x["status"], b.get("variant", ""), _f(ratio),
                             "–" if ratio is None else ("yes" if ratio >= 0.9 else "no"),
                             _f(b.get("end_to_end_samples_per_s")), _f(b.get("compute_only_samples_per_s")),
                             _f(b.get("batch_size")), _f(b.get("host_syncs_per_step")), b.get("device", ""),
                             b.get("dtype", ""),
                             b.get("precision") or "(absent)", _s(x.get("seconds")), x.get("error", "")])
        L += _table(["study", "status", "variant", "ratio", "≥ 0.9", "end-to-end samples/s",
                     "compute-only samples/s", "batch", "host syncs/step", "device", "dtype", "precision", "wall s",
                     "error"], rows)
        L += [""]

    if r.get("vgg"):
        plan = m.get("vgg_plan") or {}
        L += [f"## 4. VGG inference, µs per image, on {dev}", "",
              "`dltour.metrics.classification.time_inference` on `VGGTransfer(arch, num_classes=200, "
              "input_size=px)` with random init (no download): forward only, eval, no_grad, synthetic input "
              f"on the device; warm-up {plan.get('warmup', '?')}, {plan.get('iters', '?')} timed batches, "
              f"batch-1 latency over {plan.get('iters_b1', '?')} passes. H100 anchors (issue 11): 13.9 µs/image "
              "at 64 px, 137 µs at 224 px (bf16, channels_last, batch 256).", ""]
        rows = [[x["arch"], x["size"], x["precision"], x["status"] if x["status"] != OK else OK,
                 _f(x.get("us_per_image_batched")), _f(x.get("images_per_s_batched")), _f(x.get("latency_b1_us")),
                 _f(x.get("batch_size")), x.get("dtype", ""), x.get("memory_format", ""), _s(x.get("seconds"))]
                for x in r["vgg"]]
        L += _table(["arch", "px", "precision", "status", "µs/image (batched)", "images/s", "batch-1 µs",
                     "batch", "dtype", "memory format", "wall s"], rows) + [""]

    if r.get("full"):
        L += [f"## 5. `full` profile, one seed, real data, on {dev}", ""]
        rows = [[x["study"], x["status"], _s(x.get("seconds")), x.get("capped") or "no",
                 " ".join(f"`{s}`" for s in x.get("sets", [])), _headline_cell(x.get("headline") or {}),
                 x.get("error", "")] for x in r["full"]]
        L += _table(["study", "status", "wall s", "capped", "--set", "headline metrics (mean per variant)",
                     "error"], rows) + [""]
    L += ["Raw numbers: `gpu_check.json`; each command's output: `logs/`; summaries: `summaries/`.", ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.worker == "env":
        print(json.dumps(worker_env(a.device)))
        return 0
    if a.worker == "vgg":
        worker_vgg(a.device)
        return 0
    chk = Check(a)
    rc = chk.run()
    print(f"dltour check: {chk.r['meta']['failed']} failed item(s) in {chk.deadline.elapsed():.0f} s; "
          f"report: {a.out / 'gpu_check.md'}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())

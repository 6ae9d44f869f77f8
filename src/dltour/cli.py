"""The ``dltour`` command line (typer + rich).

Every user error (unknown study, bad ``--set``, unavailable device, unwritable ``--out``, missing
data) is a ``DltourError``: one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dltour.errors import DltourError

if TYPE_CHECKING:
    from dltour.summary import StudySummary

app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                  help="Reproduce, extend and check nine classic deep-learning studies.\n\n"
                       "Example: `dltour reproduce` (all studies on the embedded demo data, then the report).")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: canonical sources, cache and checksums.\n\n"
                                                  "Example: `dltour data list`")
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)


def _version() -> str:
    """``dltour X.Y.Z (commit abc1234)``; the commit as ``dltour.gitinfo.git_commit`` gives it, without
    importing torch for it (``--version`` answers at once)."""
    from importlib.metadata import PackageNotFoundError, version

    from dltour.gitinfo import git_commit

    try:
        v = version("dltour")
    except PackageNotFoundError:
        from dltour._version import __version__ as v
    commit = git_commit()
    return f"dltour {v} (commit {commit})"


def _version_callback(value: bool) -> None:
    if value:
        print(_version())
        raise typer.Exit(0)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", "-V", callback=_version_callback, is_eager=True,
                                       help="Print the version (and the git commit of a checkout) and exit")):
    """Reproduce, extend and check nine classic deep-learning studies.

    Example: `dltour reproduce` (all studies on the embedded demo data, then the report).
    """

PROFILE_HELP = "smoke (seconds), demo (embedded data, CPU minutes; the default) or full (reference budgets, GPU)"
SET_HELP = "Override a config key, e.g. --set epochs=5 --set data.path=/data/file.csv (repeatable; wins over --config)"
CONFIG_HELP = ("A TOML (.toml) or YAML file of config keys, applied after the profile and before --set: "
               "`epochs = 5`, a `[data]` table, or a table named after the study for that study only")
CONFIG_OPT = typer.Option(None, "--config", "-c", help=CONFIG_HELP, dir_okay=False)


def _overrides(study, config: Path | None, sets: list[str] | None) -> tuple[dict, str]:
    """--config FILE, then --set (which wins), as dotted overrides; and how errors should name them."""
    from dltour.config import config_file_overrides, parse_set
    from dltour.registry import all_studies

    over = config_file_overrides(config, study, all_studies()) if config else {}
    over.update(parse_set(sets))
    origin = f"--config {config} / --set" if config and sets else (f"--config {config}" if config else "--set")
    return over, origin


def _resolve(name: str, profile: str, sets: list[str] | None, config: Path | None = None):
    from dltour.config import resolve_config
    from dltour.registry import get_study

    study = get_study(name)
    over, origin = _overrides(study, config, sets)
    cfg = resolve_config(study, profile, over, origin=origin)
    return study, cfg


@app.command("list")
def list_cmd():
    """The registered studies, their task ids and variant x seed grid per profile.

    Example: `dltour list`
    """
    from dltour.config import PROFILES, resolve_config
    from dltour.registry import all_studies

    studies = all_studies()
    t = Table(caption="profile columns: variants x seeds")
    # the name and task id are what a user copies: never cut or wrapped, whatever the width
    t.add_column("study", no_wrap=True, min_width=max(len(s.name) for s in studies))
    t.add_column("task", no_wrap=True, min_width=max(len(s.task) for s in studies))
    t.add_column("compares", ratio=1, overflow="fold")
    for p in PROFILES:
        t.add_column(p, no_wrap=True)
    for s in studies:
        grids = []
        for p in PROFILES:
            cfg = resolve_config(s, p)
            grids.append(f"{len(s.variants(cfg))} x {len(s.seed_list(cfg))}")
        t.add_row(s.name, s.task, s.title, *grids)
    out.print(t)


@app.command()
def show(name: str = typer.Argument(..., help="Study name or task id"),
         profile: str = typer.Option("demo", "--profile", "-p", help=PROFILE_HELP),
         set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
         config: Optional[Path] = CONFIG_OPT):
    """The resolved config, one line per key (value, type, default, description), and the variant grid.

    Lines longer than the terminal wrap (descriptions indented under their key); a value that is
    text (a path, a URL) is never shortened.

    Example: `dltour show airline-lstm --profile full --set epochs=50`
    """
    from dltour.config import describe_fields

    study, cfg = _resolve(name, profile, set_, config)
    width = _width()
    _say(f"# {study.name} ({study.task}), profile {profile}: key = value  (type; default) description", width)
    for key, typ, value, default, doc in describe_fields(cfg):
        dflt = "" if value == default else f"; default {_short(default)}"
        _say(f"{key} = {_short(value)}  ({typ}{dflt}) {doc}", width)
    _say(f"variants: {study.variants(cfg)}", width)
    _say(f"seeds: {study.seed_list(cfg)}", width)


def _width() -> int:
    """The terminal's width (``$COLUMNS`` when piped), at least 40; 100 when nothing says."""
    import shutil

    return max(40, shutil.get_terminal_size((100, 24)).columns)


def _say(line: str, width: int) -> None:
    """``line`` wrapped at spaces to ``width``, continuation lines indented; a word longer than
    the width (a path, a URL) stays whole on its own line rather than being cut."""
    import textwrap

    print("\n".join(textwrap.wrap(line, width, subsequent_indent="    ", break_long_words=False,
                                   break_on_hyphens=False)) or line)


def _short(v) -> str:
    """A value for `show`: text (paths, URLs) in full; long lists and mappings shortened."""
    if isinstance(v, str):
        return v
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


@app.command()
def describe(name: str = typer.Argument(..., help="Study name or task id"),
             profile: str = typer.Option("full", "--profile", "-p",
                                         help="The profile whose models to describe; the default, full, is the "
                                              "reference's setup (its parameter counts)"),
             set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
             config: Optional[Path] = CONFIG_OPT,
             as_json: bool = typer.Option(False, "--json", help="Machine-readable output")):
    """Per variant: the model's layers, total and trainable parameter counts (of the `full`
    profile, the reference's setup, unless --profile says otherwise).

    Example: `dltour describe mnist-autoencoder --json`
    """
    study, cfg = _resolve(name, profile, set_, config)
    rows = []
    for v in study.variants(cfg):
        model = study.build_model(cfg, v)
        if model is None:
            rows.append({"variant": v, "total_params": 0, "trainable_params": 0, "layers": "no neural model"})
            continue
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rows.append({"variant": v, "total_params": total, "trainable_params": trainable, "layers": repr(model)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        out.rule(f"{study.name} / {r['variant']}")
        print(r["layers"])
        out.print(f"total parameters: {r['total_params']:,}   trainable: {r['trainable_params']:,}")


EXECUTOR_HELP = ("auto (a process per core for studies of tiny models), local, process (--workers) or ray "
                 "(--address; needs the ray extra)")
PRECISION_HELP = "auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16"
# in backticks: the help is rendered as markdown, which drops a bare <out> as an HTML tag
TRACK_HELP = ("Also log runs to mlflow (`$MLFLOW_TRACKING_URI`, else `<out>/mlflow.db`: `mlflow ui --backend-store-uri "
              "sqlite:///<out>/mlflow.db`) or tensorboard (`<out>/tensorboard`); needs the tracking extra")

# the options `run` and `reproduce` share: one definition each
OUT_OPT = typer.Option(Path("dltour-out"), "--out", "-o", help="Output folder")
EXECUTOR_OPT = typer.Option("auto", "--executor", help=EXECUTOR_HELP)
WORKERS_OPT = typer.Option(2, "--workers", help="Processes for --executor process")
ADDRESS_OPT = typer.Option(None, "--address", help="Ray cluster to join (auto or HOST:PORT); default: start a "
                                                   "local Ray instance")
GPUS_OPT = typer.Option(None, "--gpus-per-run", help="GPUs per run for --executor ray (overrides the study's; "
                                                     "fractions share a GPU)")
RETRIES_OPT = typer.Option(2, "--max-retries", help="Retries of a run whose Ray worker died")
DEVICE_OPT = typer.Option("auto", "--device", help="auto, cpu, cuda or mps")
PRECISION_OPT = typer.Option("auto", "--precision", help=PRECISION_HELP)
TRACK_OPT = typer.Option(None, "--track", help=TRACK_HELP)
RESULTS_OPT = typer.Option(None, "--results", help="Also include this results pack in the report: a folder with a "
                                                   "pack.json, like docs/results (repeatable)")
NO_RESULTS_OPT = typer.Option(False, "--no-results", help="Leave the project's results pack (docs/results/pack.json: "
                                                          "full-profile runs, at the reference's or at reduced scale) "
                                                          "out of the report")


@app.command()
def run(name: str = typer.Argument(..., help="Study name or task id (e.g. airline-lstm or T2.1)"),
        profile: str = typer.Option("demo", "--profile", "-p", help=PROFILE_HELP),
        seeds: Optional[int] = typer.Option(None, "--seeds", help="Seeds per variant (overrides the profile)"),
        set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        config: Optional[Path] = CONFIG_OPT,
        out_dir: Path = OUT_OPT, executor: str = EXECUTOR_OPT, workers: int = WORKERS_OPT,
        address: Optional[str] = ADDRESS_OPT, gpus_per_run: Optional[float] = GPUS_OPT,
        max_retries: int = RETRIES_OPT, device: str = DEVICE_OPT, precision: str = PRECISION_OPT,
        track: Optional[str] = TRACK_OPT):
    """Run every variant x seed of one study (finished runs are reused), then summarize.

    Example: `dltour run airline-lstm --profile smoke --out /tmp/dl`
    """
    from dltour import api
    from dltour.registry import get_study

    t0 = time.perf_counter()
    over = list(set_ or [])
    if config is not None:
        over, _ = _overrides(get_study(name), config, set_)
        _resolve(name, profile, set_, config)  # a bad value is named with the file, before anything runs
    doc = api.run(name, profile, out_dir, seeds=seeds, set=over, executor=executor, workers=workers,
                  address=address, gpus_per_run=gpus_per_run, max_retries=max_retries, device=device,
                  precision=precision, track=track)
    summ = _print_summary(doc)
    err.print(f"[dim]{summ.study}: {time.perf_counter() - t0:.1f} s; summary in {out_dir / summ.study / 'summary.json'}[/dim]")


def _print_summary(doc: dict | StudySummary) -> StudySummary:
    """A study's metrics table and findings on the terminal; ``doc``: its summary (a dict, as
    :func:`dltour.run` returns, or a :class:`~dltour.summary.StudySummary`), returned typed."""
    from dltour.summary import StudySummary

    s = StudySummary.of(doc)
    t = Table(title=f"{s.study} ({s.task}), profile {s.profile}")
    metrics = s.metrics
    keys = [k for k in s.headline_metrics or [] if any(k in m for m in metrics.values())]
    keys = keys or sorted({k for m in metrics.values() for k in m})[:4]
    t.add_column("variant", overflow="fold")
    for k in keys:
        t.add_column(k, justify="right", overflow="fold")
    for v in [v for v in s.variant_order if v in metrics] or list(metrics):
        t.add_row(v, *[_fmt_stat(metrics[v].get(k)) for k in keys])
    out.print(t)
    colour = {"holds": "green", "does not hold": "red", "inconclusive": "yellow", "not checked": "dim",
              "not applicable": "dim"}
    for f in s.findings:
        who = f.ref if f.ref else "ours"
        out.print(f"  [{colour[f.verdict]}]{f.verdict}[/{colour[f.verdict]}] ({who}): {f.claim} "
                  f"[dim]({f.test})[/dim]", highlight=False)
    return s


def _fmt_stat(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return ""
    m = s["mean"]
    txt = f"{m:.4g}"
    if s.get("ci95") is not None and s.get("n", 0) > 1:
        txt += f" ± {s['ci95']:.2g}"
    return txt


@app.command()
def reproduce(profile: str = typer.Option("demo", "--profile", "-p", help=PROFILE_HELP),
              only: Optional[str] = typer.Option(None, "--only", help="Comma-separated studies or task ids"),
              out_dir: Path = OUT_OPT, device: str = DEVICE_OPT, precision: str = PRECISION_OPT,
              executor: str = EXECUTOR_OPT, workers: int = WORKERS_OPT, address: Optional[str] = ADDRESS_OPT,
              gpus_per_run: Optional[float] = GPUS_OPT, max_retries: int = RETRIES_OPT,
              track: Optional[str] = TRACK_OPT, results: Optional[List[Path]] = RESULTS_OPT,
              no_results: bool = NO_RESULTS_OPT, config: Optional[Path] = CONFIG_OPT):
    """Run every registered study (or --only some), then write the report.

    Example: `dltour reproduce --only airline-lstm,T3.1 --out /tmp/dl`
    """
    from dltour import api

    clock = {"t": time.perf_counter()}

    def done(doc: dict) -> None:
        summ = _print_summary(doc)
        err.print(f"[dim]{summ.study}: {time.perf_counter() - clock['t']:.1f} s[/dim]")
        clock["t"] = time.perf_counter()

    res = api.reproduce(profile, out_dir, only=only, executor=executor, workers=workers, address=address,
                        gpus_per_run=gpus_per_run, max_retries=max_retries, device=device, precision=precision,
                        track=track, on_summary=done, log=lambda m: err.print(m, highlight=False, soft_wrap=True),
                        results=list(results or []), no_results=no_results, config=config)
    if res["skipped"]:  # e.g. data missing offline: each one's line was printed when it was skipped
        err.print(f"[red]skipped:[/red] {', '.join(n for n, _ in res['skipped'])} (why: above, and in the report)",
                  highlight=False, soft_wrap=True)
    paths = res["report"]
    err.print(f"report: {paths[0]} and {paths[1]} ({res['seconds']:.0f} s)")


@app.command()
def report(out_dir: Path = typer.Option(Path("dltour-out"), "--out", "-o", help="Output folder with saved runs"),
           results: Optional[List[Path]] = RESULTS_OPT, no_results: bool = NO_RESULTS_OPT):
    """Rebuild the report from saved summaries only, no training, with the results pack's
    full-profile summaries, reference-scale and reduced-scale (unless --no-results).

    Example: `dltour report --out dltour-out`
    """
    from dltour.report import build_report

    if not out_dir.exists():
        raise DltourError(f"{out_dir} does not exist; run `dltour reproduce --out {out_dir}` first")
    paths = build_report(out_dir, results=list(results or []), default_results=not no_results)
    err.print(f"report: {paths[0]} and {paths[1]}")


@app.command()
def bench(name: str = typer.Argument(..., help="Study name or task id"),
          profile: str = typer.Option("demo", "--profile", "-p", help=PROFILE_HELP),
          set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
          config: Optional[Path] = CONFIG_OPT,
          device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps"),
          precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
          seconds: Optional[float] = typer.Option(None, "--seconds", min=0.0,
                                                  help="Shortest timed window; steps are scaled up to fill it "
                                                       "(default 3, smoke profile 0)"),
          repeats: Optional[int] = typer.Option(None, "--repeats", min=1,
                                                help="Timed windows per loop: median, min..max (default 3, smoke 1)"),
          variant: Optional[str] = typer.Option(None, "--variant",
                                                help="The variant to time (default: the study's own choice)"),
          as_json: bool = typer.Option(False, "--json", help="Machine-readable output")):
    """Training samples/s end to end (real data pipeline) vs compute-only (synthetic batch on the
    device), their ratio (medians over --repeats windows of at least --seconds, with the spread),
    the device and dtype.

    Example: `dltour bench airline-lstm --device cpu`, `dltour bench mnist-generative --variant gan-10`
    """
    from dltour.device import resolve_device
    from dltour.runner.run_folder import RunContext
    from dltour.seeding import seed_everything

    study, cfg = _resolve(name, profile, set_, config)
    dev = resolve_device(device, precision)
    seed_everything(0)
    ctx = RunContext(study.name, "bench", 0, Path("."), dev, profile, progress=False)
    from dltour.bench import timing_window

    smoke = profile == "smoke"
    with timing_window(seconds if seconds is not None else (0.0 if smoke else 3.0),
                       repeats if repeats is not None else (1 if smoke else 3)):
        res = {**study.bench(cfg, ctx, variant), "precision": dev.precision}
    if as_json:
        print(json.dumps(res, indent=2))
        return
    t = Table("key", "value", title=f"bench {study.name} ({profile})")
    for k, v in res.items():
        if isinstance(v, list) and len(v) == 2 and all(isinstance(x, float) for x in v):
            v = f"{v[0]:,.3f} .. {v[1]:,.3f}"
        t.add_row(k, f"{v:,.3f}" if isinstance(v, float) else str(v))
    out.print(t)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def check(ctx: typer.Context):
    """The GPU check: every study's smoke run and bench, VGG inference timings and the full profile
    of a few studies, each under its own timeout and one global budget; writes OUT/gpu_check.md and
    gpu_check.json (`dltour check --help` for the options).

    Example: `dltour check gpu-out --device cuda --budget 480`
    """
    from dltour.check import main as check_main

    raise typer.Exit(check_main(list(ctx.args)))


@data_app.command("list")
def data_list():
    """Each dataset's canonical URL, size, licence, cache location and state.

    Example: `dltour data list`
    """
    from dltour.data import MANIFEST, cache_dir, verify  # importing dltour.data registers every dataset

    # One block per dataset rather than a table: a URL or a path is never cut or folded, so it can
    # be copied whole at any terminal width (a long one runs past the edge on its own line).
    out.print(f"cache: {cache_dir()}", soft_wrap=True, highlight=False)
    for spec in sorted(MANIFEST.values(), key=lambda s: s.name):
        ok, msg = verify(spec)
        size = f"{spec.size / 1e6:.1f} MB" if spec.size else "?"
        out.print()
        out.print(f"[bold]{escape(spec.name)}[/bold]  {size}  {escape(spec.licence)}", highlight=False)
        out.print(f"  source: {escape(spec.url)}", soft_wrap=True, highlight=False)
        out.print(f"  state: [{'green' if ok else 'yellow'}]{escape(msg)}[/]", soft_wrap=True, highlight=False)


@data_app.command("fetch")
def data_fetch(name: str = typer.Argument(..., help="Dataset name (see `dltour data list`)"),
               from_file: Optional[Path] = typer.Option(None, "--from", help="Copy this local file into the cache "
                                                        "(checksum verified) instead of downloading")):
    """Download (or copy with --from) one dataset into the cache and verify it.

    Example: `dltour data fetch mnist-train-images`
    """
    from dltour.data import MANIFEST, fetch
    from dltour.data.source import DataUnavailable, copy_into_cache

    if name not in MANIFEST:
        raise DataUnavailable(f"unknown dataset {name!r}; known: {', '.join(sorted(MANIFEST))}")
    path = copy_into_cache(from_file, MANIFEST[name]) if from_file else fetch(MANIFEST[name])
    out.print(f"{name}: {path}")


@data_app.command("verify")
def data_verify():
    """Check every cached dataset against its checksum (exit 1 if any cached file is corrupt).

    Example: `dltour data verify`
    """
    from dltour.data import MANIFEST, cache_dir, verify

    bad = 0
    for spec in sorted(MANIFEST.values(), key=lambda s: s.name):
        ok, msg = verify(spec)
        bad += (not ok and msg != "not cached")
        out.print(f"{spec.name:28s} {msg}")
    out.print(f"cache: {cache_dir()}")
    raise typer.Exit(1 if bad else 0)


FORMATS = ("table", "csv", "json")
FORMAT_HELP = "table (readable at 80 columns), csv or json (every column, for scripts)"


def _check_format(fmt: str) -> str:
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise DltourError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return fmt


def _num(v, spec: str = ".4g") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def _plain_records(rows: list[dict]) -> list[dict]:
    """NaN -> None, numpy scalars -> Python: what json.dumps writes as null and numbers."""
    import math

    clean = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if hasattr(v, "item") and not isinstance(v, (str, bytes)):
                v = v.item()
            d[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        clean.append(d)
    return clean


def _emit(rows: list[dict], fmt: str, columns: list[str]) -> bool:
    """Print ``rows`` as csv or json (True), or do nothing for a table (False)."""
    if fmt == "json":
        print(json.dumps(_plain_records(rows), indent=2, default=str))
        return True
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(_plain_records(rows))
        return True
    return False


@app.command("runs")
def runs_cmd(out_dir: Path = typer.Option(Path("dltour-out"), "--out", "-o", help="Output folder with a ledger"),
             study: Optional[str] = typer.Option(None, "--study", help="Only this study (name or task id)"),
             fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP)):
    """Every run in the ledger (`<out>/ledger.sqlite`): study, variant, seed, status, device,
    precision, training seconds and metrics.

    Example: `dltour runs --out dltour-out --format csv > runs.csv`
    """
    from dltour.api import results

    fmt = _check_format(fmt)
    df = results(out_dir)
    if df.empty:
        raise DltourError(f"{out_dir / 'ledger.sqlite'} records no runs yet")
    if study:
        from dltour.registry import get_study

        name = get_study(study).name
        df = df[df["study"] == name]
    fixed = ["study", "variant", "seed", "profile", "status", "device", "precision", "seconds", "attempts", "run_id"]
    metric_cols = [c for c in df.columns if c not in fixed]
    rows = df.to_dict(orient="records")
    if _emit(rows, fmt, fixed + metric_cols):
        return
    out.print(f"{len(rows)} run(s) in {escape(str(out_dir / 'ledger.sqlite'))}", soft_wrap=True, highlight=False)
    records = _plain_records(rows)
    for st in dict.fromkeys(r["study"] for r in records):  # a table per study: its own metrics
        mine = [r for r in records if r["study"] == st]
        cols = [c for c in metric_cols if any(_is_number(r.get(c)) for r in mine)]
        lines = {id(r): [f"{c}={_num(r[c])}" for c in cols if _is_number(r.get(c))] for r in mine}
        t = Table(title=escape(str(st)), title_justify="left")
        for col, kw in (("variant", {}), ("seed", {"justify": "right"}), ("status", {}), ("device", {}),
                        ("seconds", {"justify": "right"})):
            t.add_column(col, overflow="fold", **kw)
        t.add_column("metrics", overflow="fold", min_width=min(32, max((len(x) for v in lines.values() for x in v),
                                                                       default=7)))
        for r in mine:
            device = "/".join(x for x in (r.get("device"), r.get("precision")) if x)
            t.add_row(escape(str(r["variant"])), str(r["seed"]), r["status"] or "", escape(device),
                      _num(r.get("seconds"), ".1f"), escape("\n".join(lines[id(r)])))
        out.print(t)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


@app.command("compare")
def compare_cmd(out_a: Path = typer.Argument(..., help="The first output folder (A)"),
                out_b: Path = typer.Argument(..., help="The second output folder (B)"),
                study: Optional[str] = typer.Option(None, "--study", help="Only this study (name or task id)"),
                metric: Optional[str] = typer.Option(None, "--metric", help="Only this metric"),
                fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP)):
    """Two output folders side by side: per study, variant and metric, both means over runs, the
    difference B - A and its 95% CI (Welch's t over the per-run values) with its p-value.

    Per-run values come from each folder's study summaries (the runs each summary used), or its
    ledger for a study without a summary. No CI with fewer than 2 runs on a side.

    Example: `dltour compare runs-fp32 runs-bf16 --study airline-lstm`
    """
    from dltour.compare import COLUMNS, compare

    fmt = _check_format(fmt)
    name = None
    if study:
        from dltour.registry import get_study

        name = get_study(study).name
    rows = compare(out_a, out_b, study=name, metric=metric)
    if _emit(rows, fmt, list(COLUMNS)):
        return
    out.print(f"A = {escape(str(out_a))}\nB = {escape(str(out_b))}\nB - A: difference of the means over runs, "
              "[95% CI] by Welch's t; n: runs", soft_wrap=True, highlight=False)
    for st in dict.fromkeys(r["study"] for r in rows):
        t = Table(title=escape(st), title_justify="left")
        t.add_column("variant", overflow="fold")
        t.add_column("metric", overflow="fold")
        for col in ("A (n)", "B (n)", "B - A [95% CI]", "p"):
            t.add_column(col, justify="right", overflow="fold")
        for r in [r for r in rows if r["study"] == st]:
            ci = f"[{_num(r['ci95_low'])}, {_num(r['ci95_high'])}]" if r["ci95_low"] is not None else "no CI: n < 2"
            t.add_row(escape(r["variant"]), escape(r["metric"]), f"{_num(r['mean_a'])} ({r['n_a']})",
                      f"{_num(r['mean_b'])} ({r['n_b']})", f"{_num(r['diff'])}\n{ci}", _num(r["p"], ".2g"))
        out.print(t)
    profiles = {(r["profile_a"], r["profile_b"]) for r in rows if r["profile_a"] != r["profile_b"]}
    for a, b in sorted(profiles, key=str):
        err.print(f"note: some studies ran with profile {a} in A and {b} in B", highlight=False)


def main() -> None:
    try:
        rc = app(standalone_mode=False, prog_name="dltour")  # the exit code of typer.Exit / 130 on Ctrl-C
    except DltourError as e:
        print(f"dltour: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        rc = 130
    except Exception as e:
        # typer/click usage errors (typer >= 0.20 vendors click, so match by shape, not by import)
        if hasattr(e, "format_message") and hasattr(e, "exit_code"):
            ctx = getattr(e, "ctx", None)
            where = ctx.command_path if ctx is not None else "dltour"
            print(f"dltour: error: {e.format_message().rstrip('.')}; see '{where} --help'", file=sys.stderr)
            sys.exit(2)
        if type(e).__name__ == "Abort":
            rc = 130
        else:
            raise
    if rc == 130:
        print("dltour: interrupted; finished runs are kept and the rest resume from their last checkpoint "
              "when you repeat the command", file=sys.stderr)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Mutation testing with mutmut 3 (issue #23 item 8) on a snapshot copy of the tree.
#
#   scripts/mutation.sh metrics-verdicts [WORKDIR]   # src/dltour/verdicts.py, src/dltour/metrics/*
#   scripts/mutation.sh runs-data        [WORKDIR]   # train/loop.py, runner/ledger.py, runner/run_folder.py, data/mnist.py
#   scripts/mutation.sh rules            [WORKDIR]   # src/dltour/rules.py (the declared findings' rules)
#   then: cd WORKDIR && $MUT_VENV/bin/mutmut results    (or: mutmut browse / mutmut show NAME)
#
# Why a copy: mutmut 3 writes a mutants/ tree and its state next to setup.cfg, and the tree keeps
# changing while people work; the copy (WORKDIR, default ../mutwork-GROUP) is a snapshot of the
# tracked + untracked-not-ignored files, with SNAPSHOT.txt recording the commit and file hashes.
#
# mutmut runs in its own venv ($MUT_VENV, default ../mutvenv) that sees the project venv's packages
# (torch, numpy, pytest-timeout, ...) through a plain .pth path line, but NOT the editable install of
# dltour, so the tests can only import the mutated copy under WORKDIR/mutants/src.
#
# Only fast test files are selected per group (the whole suite takes ~12 min; mutmut runs, for each
# mutant, the selected tests that reach the mutated function). Timings on 2 busy cores, 2026-12-05:
# metrics-verdicts: 3061 mutants, 46 min wall (1.08 mutants/s) with 2 children on a loaded machine. Tests that start subprocesses (`python -m dltour`)
# import the unmutated installed code, so they are deselected: they cannot kill a mutant.
set -euo pipefail
GROUP=${1:?usage: scripts/mutation.sh metrics-verdicts|runs-data|rules [WORKDIR]}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${2:-$REPO/../mutwork-$GROUP}
PROJECT_VENV=${PROJECT_VENV:-$REPO/.venv}
MUT_VENV=${MUT_VENV:-$REPO/../mutvenv}
JOBS=${JOBS:-$(nproc)}

if [ ! -x "$MUT_VENV/bin/mutmut" ]; then
    python3 -m venv "$MUT_VENV"
    "$MUT_VENV/bin/pip" install -q "mutmut>=3.3,<4"
fi
site=$("$MUT_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PROJECT_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/zz_project_venv.pth"

mkdir -p "$WORK"
(cd "$REPO" && git ls-files -co --exclude-standard | grep -v '^mutants/' | tar cf - -T -) | (cd "$WORK" && tar xf -)
(cd "$REPO" && date -u && git rev-parse HEAD && git status --short && \
  sha256sum src/dltour/verdicts.py src/dltour/rules.py src/dltour/metrics/*.py src/dltour/train/loop.py src/dltour/runner/ledger.py \
            src/dltour/runner/run_folder.py src/dltour/data/mnist.py) > "$WORK/SNAPSHOT.txt"

case "$GROUP" in
metrics-verdicts)
    ONLY="    src/dltour/verdicts.py
    src/dltour/metrics/*"
    TESTS="    tests/test_verdicts.py
    tests/test_verdicts_mutants.py
    tests/test_mutants_verdicts.py
    tests/test_metrics_clustering.py
    tests/test_metrics_image.py
    tests/test_metrics_inception.py
    tests/test_metrics_text.py
    tests/test_mutants_metrics.py
    tests/test_inception_known.py"
    DESELECT="" ;;
runs-data)
    ONLY="    src/dltour/train/loop.py
    src/dltour/runner/ledger.py
    src/dltour/runner/run_folder.py
    src/dltour/data/mnist.py"
    TESTS="    tests/test_train_loop.py
    tests/test_resume_rng.py
    tests/test_fit_contract.py
    tests/test_runs.py
    tests/test_run_states.py
    tests/test_ledger_contract.py
    tests/test_metrics_provenance.py
    tests/test_symlinks.py
    tests/test_data_identity.py
    tests/test_data_mnist.py
    tests/test_mnist_identity.py
    tests/test_mutants_runs.py"
    DESELECT="    --deselect=tests/test_runs.py::test_resume_after_kill_gives_same_metrics
    --deselect=tests/test_runs.py::test_two_processes_same_out
    --deselect=tests/test_runs.py::test_process_executor_matches_local
    --deselect=tests/test_data_mnist.py::test_classifier_99_percent_on_full_test_set
    --deselect=tests/test_data_mnist.py::test_pack_script_trains_the_judges_and_writes_pinnable_files
    --deselect=tests/test_metrics_provenance.py::test_a_foreign_metrics_file_is_refused_in_one_line_and_kept
    --deselect=tests/test_run_states.py::test_sigterm_to_the_driver_records_interrupted
    --deselect=tests/test_run_states.py::test_sigterm_as_the_driver_restores_its_handlers_exits_by_sigterm
    --deselect=tests/test_run_states.py::test_a_stop_signal_replaced_by_another_exception_still_stops_the_driver" ;;
rules)
    ONLY="    src/dltour/rules.py"
    TESTS="    tests/test_rules.py"
    DESELECT="" ;;
*) echo "unknown group $GROUP" >&2; exit 2 ;;
esac
# MUTATE="src/dltour/runner/ledger.py src/dltour/train/loop.py" narrows the files mutated (a group's
# own list otherwise): one file's mutants can be run while the cores are short
if [ -n "${MUTATE:-}" ]; then ONLY=$(for f in $MUTATE; do echo "    $f"; done); fi
# existing test files only (a group may list files that a branch does not have yet)
TESTS=$(for t in $TESTS; do [ -f "$WORK/$t" ] && echo "    $t"; done)

# mutmut reads [tool.mutmut] from pyproject.toml first, else [mutmut] from setup.cfg. -n0: the suite's
# addopts run pytest-xdist workers, whose calls mutmut's stats (which test reaches which mutant) never see
cat > "$WORK/setup.cfg" <<CFG
[mutmut]
source_paths = src/dltour
only_mutate =
$ONLY
pytest_add_cli_args_test_selection =
$TESTS
pytest_add_cli_args =
    -p
    no:cacheprovider
    -q
    -n0
$DESELECT
also_copy =
    scripts/
CFG

cd "$WORK"
export DLTOUR_SHARED_DATA=${DLTOUR_SHARED_DATA:-$REPO/../shared/data}
# one intra-op thread: mutmut forks every mutant's pytest from a parent that has run the tests, and
# with torch's thread pool started there a child could hang in backward() (futex wait, no CPU) until
# the wall-clock limit called it a timeout (2026-12-06: ledger's finish mutants under airline-lstm runs)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
start=$(date +%s)
nice -n "${NICE:-5}" "$MUT_VENV/bin/mutmut" run --max-children "$JOBS"
echo "mutmut run took $(( $(date +%s) - start )) s; results: cd $WORK && $MUT_VENV/bin/mutmut results"

#!/usr/bin/env bash
# Check and time dltour's GPU path in one call (at most 8 minutes on CUDA); writes
# OUT_DIR/gpu_check.md and OUT_DIR/gpu_check.json: `dltour check` (src/dltour/check.py says the steps)
# run with the project's virtual environment.
#
#   scripts/gpu_check.sh OUT_DIR [--device cuda|cpu] [--data DIR] [--precision auto|fp32|bf16]
#                        [--budget SECONDS] [--steps env,smoke,bench,vgg,full] [--keep-tmp]
#
# Python: $PYTHON if set; else the project's .venv when no virtual environment is active and it
# exists; else python3. The dltour command: $DLTOUR, else dltour on PATH, else python -m dltour.cli.
# Exit status: 0 when every item passed, 1 when any failed (the report says which), 2 on bad usage.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 OUT_DIR [--device cuda|cpu] [--data DIR] [--precision auto|fp32|bf16] [--budget S]" >&2
    exit 2
fi
py="${PYTHON:-}"
if [ -z "$py" ]; then
    if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$root/.venv/bin/python" ]; then
        py="$root/.venv/bin/python"
        export PATH="$root/.venv/bin:$PATH"
    else
        py="python3"
    fi
fi
exec "$py" -m dltour.cli check "$@"

#!/usr/bin/env bash
# Static security scan (bandit) of src/dltour and a known-vulnerability audit (pip-audit) of the
# installed environment. Documented in docs/SECURITY.md (issue #23 item 7).
#
# Usage:  scripts/security_scan.sh [VENV]        (VENV: the project virtualenv, default .venv)
#
# The tools are kept out of the project venv: they go into $TOOLS_VENV (default ../toolsvenv,
# created on first use with `pip install bandit pip-audit`).
#
# Exit status: non-zero when bandit reports an un-suppressed finding (any severity) or pip-audit
# reports a known vulnerability. Each deliberate exception is a `# nosec BXXX  # reason` comment on
# its line in src/, with the reason also listed in docs/SECURITY.md.
#
# pip-audit needs PyPI's per-version JSON API (/pypi/<name>/<version>/json) or the OSV API.
# Where neither answers, pip-audit lists every package as "could not be
# audited" and still says "No known vulnerabilities found": that is NOT a clean result, and this
# script fails (exit 3) when any package was skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
TOOLS_VENV=${TOOLS_VENV:-../toolsvenv}
if [ ! -x "$TOOLS_VENV/bin/bandit" ] || [ ! -x "$TOOLS_VENV/bin/pip-audit" ]; then
    python3 -m venv "$TOOLS_VENV" && "$TOOLS_VENV/bin/pip" install -q bandit pip-audit || exit 2
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rc=0

echo "== bandit $("$TOOLS_VENV/bin/bandit" --version | head -1) on src/dltour (all severities)"
"$TOOLS_VENV/bin/bandit" -r src/dltour -q -f custom \
    --msg-template "{relpath}:{line} {test_id} [{severity}/{confidence}] {msg}" || rc=1

echo "== pip-audit of $VENV ($SITE), vulnerability service: ${PIP_AUDIT_SERVICE:-pypi}"
out=$("$TOOLS_VENV/bin/pip-audit" --path "$SITE" -s "${PIP_AUDIT_SERVICE:-pypi}" --progress-spinner off 2>&1)
audit_rc=$?
echo "$out"
[ $audit_rc -ne 0 ] && rc=1
skipped=$(grep -c "could not be audited" <<<"$out")
if [ "$skipped" -gt 0 ]; then
    echo "pip-audit: $skipped package(s) could not be audited (vulnerability service unreachable?):" \
         "the audit is incomplete" >&2
    [ $rc -eq 0 ] && rc=3
fi
exit $rc

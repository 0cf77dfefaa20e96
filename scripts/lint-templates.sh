#!/usr/bin/env bash
# Lints every rendered example template with cfn-lint and checkov.
#
# Usage: scripts/lint-templates.sh [VENV]   (VENV defaults to .venv)
# VENV is a Python virtual environment with cfn-lint and checkov installed.
# Fails on any cfn-lint error or warning and on any checkov failure. Justified
# exceptions live in the templates themselves (resource Metadata), where
# reviewers see them next to the resource.
set -euo pipefail

venv="${1:-.venv}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in cfn-lint checkov; do
    if [[ ! -x "$venv/bin/$tool" ]]; then
        echo "error: $venv/bin/$tool not found; install it with: $venv/bin/pip install $tool" >&2
        exit 2
    fi
done

shopt -s nullglob
templates=(examples/*.template.yaml)
if ((${#templates[@]} == 0)); then
    echo "error: no examples/*.template.yaml to lint; run \`make examples\` first" >&2
    exit 2
fi

status=0
echo "cfn-lint: ${templates[*]}"
# Any finding (error, warning or informational) makes cfn-lint exit non-zero.
if ! "$venv/bin/cfn-lint" --format parseable -- "${templates[@]}"; then
    status=1
fi

echo "checkov: ${#templates[@]} templates"
# One process for every template: checkov's start-up is most of its time on a template this
# size, and each finding names its file. --skip-download: run offline with the bundled checks only.
if ! "$venv/bin/checkov" --quiet --compact --skip-download \
    --framework cloudformation --file "${templates[@]}"; then
    status=1
fi

if ((status != 0)); then
    echo "lint failed: fix the template source (templates/ or the synth crate), or justify a skip in the resource's Metadata" >&2
fi
exit "$status"

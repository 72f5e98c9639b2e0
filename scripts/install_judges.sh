#!/usr/bin/env bash
# The judges of scripts/bench.py --voices, into .venv (after scripts/setup.sh):
# Distill-MOS and GE2E speaker embeddings, their weights in their wheels.
# Both need torch; they are installed without their declared dependencies,
# which would bring torchaudio and transformers that the bench never uses
# (the bench stubs torchaudio, which distillmos imports for its CLI only).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q -e '.[judges]'
.venv/bin/python -m pip install -q --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0 resemblyzer==0.1.4

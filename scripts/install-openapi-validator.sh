#!/usr/bin/env bash
# Installs `openapi-spec-validator` (PyPI), which gateway/tests/openapi.rs runs on the
# management API's OpenAPI document. Idempotent: does nothing when the command is on
# PATH; otherwise installs the pinned version with pip for the current user's python3.
set -euo pipefail

version=0.9.0

if command -v openapi-spec-validator >/dev/null; then
  echo "openapi-spec-validator is installed: $(openapi-spec-validator --version 2>/dev/null | head -n 1)"
  exit 0
fi

if ! command -v python3 >/dev/null; then
  echo "ERROR: python3 is needed to install openapi-spec-validator." >&2
  exit 1
fi

python3 -m pip install --quiet --disable-pip-version-check "openapi-spec-validator==${version}"
# pyenv keeps console scripts behind shims that need a rehash to appear on PATH.
if command -v pyenv >/dev/null; then
  pyenv rehash || true
fi

if ! command -v openapi-spec-validator >/dev/null; then
  echo "ERROR: openapi-spec-validator was installed but is not on PATH ($(python3 -m site --user-base)/bin?)." >&2
  exit 1
fi
echo "Installed: openapi-spec-validator $(openapi-spec-validator --version 2>/dev/null | head -n 1)"

#!/usr/bin/env bash
# Test-only system packages: Debian's native Tox bootstrap node (tox-bootstrapd).
set -euo pipefail
if ! command -v tox-bootstrapd >/dev/null; then
  echo "test-deps: installing toxcore-utils (tox-bootstrapd) from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq toxcore-utils >/dev/null
fi

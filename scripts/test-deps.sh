#!/usr/bin/env bash
# Test-only system packages, from Debian: tox-bootstrapd (toxcore-utils, a native Tox
# bootstrap node), curl (a real SOCKS5 client), systemd-notify and python3 (the sd_notify test),
# microsocks and tinyproxy (real SOCKS5 and HTTP CONNECT proxies for the proxy test).
set -euo pipefail
missing=()
command -v tox-bootstrapd >/dev/null || missing+=(toxcore-utils)
command -v curl >/dev/null || missing+=(curl)
command -v systemd-notify >/dev/null || missing+=(systemd)
command -v python3 >/dev/null || missing+=(python3)
command -v microsocks >/dev/null || missing+=(microsocks)
command -v tinyproxy >/dev/null || missing+=(tinyproxy)
if ((${#missing[@]})); then
  echo "test-deps: installing ${missing[*]} from Debian" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

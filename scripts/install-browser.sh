#!/usr/bin/env bash
# Installs the headless browser the admin-page browser test drives: Debian's Chromium
# and its ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver). Idempotent: does
# nothing when both are present; runs `apt-get update` only when the packages are not
# known to apt yet (or the first install attempt fails on stale lists).
set -euo pipefail

packages=(chromium chromium-driver)

present() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }

if present; then
  echo "Chromium and ChromeDriver are installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1); $(/usr/bin/chromedriver --version 2>/dev/null | head -n 1)"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "ERROR: installing ${packages[*]} needs root (or sudo)." >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
install() { "${sudo[@]}" apt-get install -y --no-install-recommends "${packages[@]}"; }

known() {
  for p in "${packages[@]}"; do
    apt-cache show "$p" >/dev/null 2>&1 || return 1
  done
}

if ! known; then
  echo "Updating apt's package lists (chromium is not known yet)"
  "${sudo[@]}" apt-get update
fi

if ! install; then
  echo "First install attempt failed; refreshing apt's package lists and retrying"
  "${sudo[@]}" apt-get update
  install
fi

if ! present; then
  echo "ERROR: ${packages[*]} were installed but /usr/bin/chromium or /usr/bin/chromedriver is missing." >&2
  exit 1
fi
echo "Installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1); $(/usr/bin/chromedriver --version 2>/dev/null | head -n 1)"

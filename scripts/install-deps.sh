#!/usr/bin/env bash
# Installs everything ccmon's demo and tests need: Debian packages (real name servers,
# Prometheus, Alertmanager, Chromium, dnsperf) when running as root with apt, and the
# Python package with its test extras. Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(nsd knot knot-dnsutils unbound bind9 dnsutils dnsperf
                 prometheus prometheus-alertmanager victoria-metrics chromium
                 fonts-wqy-microhei)  # CJK glyphs, so IDN zones render in screenshots

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "note: missing Debian packages (${missing[*]}); not root with apt, the lab falls back to its Python servers" >&2
  fi
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

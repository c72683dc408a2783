#!/usr/bin/env bash
# Installs everything ccmon's demo and tests need, and says what it installed:
#  - Debian packages (real name servers, Prometheus, Alertmanager, Chromium, dnsperf) when
#    running as root with apt; otherwise the lab falls back to its Python servers;
#  - a project virtualenv in .venv made by the system `python3 -m venv` (Debian's own
#    interpreter is externally managed, PEP 668, so nothing is ever pip-installed into it),
#    with ccmon and its test extras pinned by constraints.txt.
# Idempotent and fast on re-runs: the venv is rebuilt only when pyproject.toml or
# constraints.txt change (their hash is stamped into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
DEBIAN_PACKAGES=(nsd knot knot-dnsutils unbound bind9 dnsutils dnsperf
                 prometheus prometheus-alertmanager victoria-metrics chromium
                 fonts-wqy-microhei  # CJK glyphs, so IDN zones render in screenshots
                 iproute2 util-linux)  # network namespaces for the field-condition tests
as_root_with_apt() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; }
apt_updated=0
apt_install() {
  if ((apt_updated == 0)); then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if as_root_with_apt; then
    echo "deps: installing Debian packages: ${missing[*]}"
    apt_install "${missing[@]}"
  else
    echo "deps: note: missing Debian packages (${missing[*]}); not root with apt," \
         "the lab falls back to its Python servers" >&2
  fi
else
  echo "deps: Debian packages present (${#DEBIAN_PACKAGES[@]})"
fi

stamp_of() { cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1; }
want=$(stamp_of)
if [[ -x $VENV/bin/python && -f $VENV/.ccmon-stamp && $(cat "$VENV/.ccmon-stamp") == "$want" ]] \
   && "$VENV/bin/python" -c 'import monitor, probes, lab' 2>/dev/null; then
  echo "deps: $VENV up to date ($("$VENV/bin/python" --version))"
  exit 0
fi

# Debian's python3 has venv but no ensurepip until python3-venv is installed.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  if as_root_with_apt; then
    pkg="python3-venv"
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt-cache show "python$ver-venv" >/dev/null 2>&1 && pkg="python$ver-venv"
    echo "deps: installing Debian package $pkg (venv for $PYTHON)"
    apt_install "$pkg"
  else
    echo "deps: $PYTHON cannot make a virtualenv; install Debian's python3-venv" >&2
    exit 3
  fi
fi

echo "deps: creating $VENV with $("$PYTHON" --version) ($(command -v "$PYTHON"))"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
echo "deps: installing ccmon and its test extras into $VENV (pinned by constraints.txt)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
"$VENV/bin/python" -m pip check
echo "$want" > "$VENV/.ccmon-stamp"
echo "deps: ready: $("$VENV/bin/ccmon" --version 2>/dev/null || echo ccmon)"

#!/usr/bin/env bash
# Idempotent set-up for `make run` / `make test` on Debian 12 (as root): system packages,
# a virtualenv in .venv and the package with its test extras. Fast when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# pcscd/swig/libpcsclite-dev: pyscard builds from source; vsmartcard-vpcd: virtual readers for tests;
# mosquitto: MQTT broker for tests and the demo; mosquitto-clients: mosquitto_sub/_pub to watch
# the demo's MQTT (README); socat: RTU over pty pairs; openssl: test certificates for TLS;
# nodejs/npm: the schema-strict CSMS peer; chromium/chromium-driver: the web pages' browser tests
# (selenium drives Debian's browser, nothing downloads one of its own).
APT_PACKAGES=(swig libpcsclite-dev pcscd vsmartcard-vpcd mosquitto mosquitto-clients socat openssl
    chromium chromium-driver)

pick_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if ! PY=$(pick_python); then
    missing+=(python3 python3-venv python3-dev)
elif ! "$PY" -c 'import ensurepip, sysconfig, os, sys; sys.exit(0 if os.path.exists(sysconfig.get_paths()["include"] + "/Python.h") else 1)' 2>/dev/null; then
    missing+=(python3-venv python3-dev)
fi
if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PY=$(pick_python) || { echo "setup: no Python >= 3.11 found" >&2; exit 1; }

# Stop the distribution's own services: tests and the demo start their own instances.
for svc in mosquitto pcscd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" "$svc.socket" 2>/dev/null || true
    fi
done

stamp_src=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
if [[ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp_src" ]]; then
    echo "setup: installing the package and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test,bench]'
    echo "$stamp_src" > .venv/.setup-stamp
fi

if [[ -f tests/peers/package.json ]]; then
    peers_stamp=$(sha256sum tests/peers/package.json | cut -d' ' -f1)
    if [[ "$(cat tests/peers/node_modules/.setup-stamp 2>/dev/null)" != "$peers_stamp" ]]; then
        echo "setup: installing the Node.js test peers"
        (cd tests/peers && npm install --no-audit --no-fund --silent)
        echo "$peers_stamp" > tests/peers/node_modules/.setup-stamp
    fi
fi

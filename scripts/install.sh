#!/usr/bin/env bash
# Install edge-controller on a gateway: code in /opt/edge-controller (own virtualenv), config in
# /etc/edge-controller, state in /var/lib/edge-controller, the systemd unit, a system user.
# DESTDIR stages the whole layout under another root (packaging, tests): then no user is created
# and systemd is not touched.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/edge-controller}
CONFDIR=${CONFDIR:-/etc/edge-controller}
STATEDIR=${STATEDIR:-/var/lib/edge-controller}
UNITDIR=${UNITDIR:-/etc/systemd/system}
PYTHON=${PYTHON:-python3}
PIP_ARGS=${PIP_ARGS:-}

install -d -m 0755 "$DESTDIR$PREFIX" "$DESTDIR$UNITDIR"
install -d -m 0750 "$DESTDIR$CONFDIR" "$DESTDIR$STATEDIR"
[[ -x "$DESTDIR$PREFIX/venv/bin/python" ]] || "$PYTHON" -m venv "$DESTDIR$PREFIX/venv"
# shellcheck disable=SC2086
"$DESTDIR$PREFIX/venv/bin/python" -m pip install -q $PIP_ARGS "$SRC"
install -m 0644 "$SRC/README.md" "$DESTDIR$PREFIX/README.md"
# Never overwrite an installer's config; ship the documented example next to it.
install -m 0640 "$SRC/config/example.yaml" "$DESTDIR$CONFDIR/example.yaml"
[[ -e "$DESTDIR$CONFDIR/config.yaml" ]] || install -m 0640 "$SRC/config/example.yaml" "$DESTDIR$CONFDIR/config.yaml"
sed -e "s#/opt/edge-controller#$PREFIX#g" -e "s#/etc/edge-controller#$CONFDIR#g" \
    -e "s#/var/lib/edge-controller#$STATEDIR#g" \
    "$SRC/systemd/edge-controller.service" > "$DESTDIR$UNITDIR/edge-controller.service"
chmod 0644 "$DESTDIR$UNITDIR/edge-controller.service"

if [[ -z "$DESTDIR" ]]; then
    id edge-controller >/dev/null 2>&1 ||
        useradd --system --home-dir "$STATEDIR" --shell /usr/sbin/nologin --groups dialout edge-controller
    chown -R root:edge-controller "$CONFDIR"
    chown -R edge-controller:edge-controller "$STATEDIR"
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        echo "installed; edit $CONFDIR/config.yaml, then: systemctl enable --now edge-controller"
    fi
fi
echo "edge-controller installed under ${DESTDIR:-/}"

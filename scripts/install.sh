#!/usr/bin/env bash
# Install edge-controller on a gateway: code in /opt/edge-controller (own virtualenv), config in
# /etc/edge-controller, state in /var/lib/edge-controller, the systemd unit, a system user.
# DESTDIR stages the whole layout under another root (packaging, tests): the files are built to
# run from PREFIX once the staged tree is copied to /, no user is created and systemd is not
# touched.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/edge-controller}
CONFDIR=${CONFDIR:-/etc/edge-controller}
STATEDIR=${STATEDIR:-/var/lib/edge-controller}
UNITDIR=${UNITDIR:-/etc/systemd/system}
PYTHON=${PYTHON:-python3}
PIP_ARGS=${PIP_ARGS:-}
SERVICE_USER=edge-controller
VENV=$PREFIX/venv

install -d -m 0755 "$DESTDIR$PREFIX" "$DESTDIR$UNITDIR"
install -d -m 0750 "$DESTDIR$CONFDIR" "$DESTDIR$STATEDIR"
[[ -x "$DESTDIR$VENV/bin/python" ]] || "$PYTHON" -m venv "$DESTDIR$VENV"
if [[ -n "$DESTDIR" ]]; then
    # pip writes the staging path into every script's #! line and the byte code: install without
    # byte code, point the scripts at the final path, then compile as if installed there.
    # shellcheck disable=SC2086
    "$DESTDIR$VENV/bin/python" -m pip install -q --no-compile $PIP_ARGS "$SRC"
    grep -rlIZ --fixed-strings "$DESTDIR$VENV" "$DESTDIR$VENV" |
        xargs -0 -r sed -i "s#$DESTDIR$VENV#$VENV#g"
    "$DESTDIR$VENV/bin/python" -m compileall -q -f -s "$DESTDIR" -p / "$DESTDIR$VENV/lib" >/dev/null
else
    # shellcheck disable=SC2086
    "$DESTDIR$VENV/bin/python" -m pip install -q $PIP_ARGS "$SRC"
fi
install -m 0644 "$SRC/README.md" "$DESTDIR$PREFIX/README.md"
# Never overwrite an installer's config; ship the documented example next to it.
install -m 0640 "$SRC/config/example.yaml" "$DESTDIR$CONFDIR/example.yaml"
[[ -e "$DESTDIR$CONFDIR/config.yaml" ]] || install -m 0640 "$SRC/config/example.yaml" "$DESTDIR$CONFDIR/config.yaml"

# The unit names its directories relative to /var/lib and /etc (StateDirectory=,
# ConfigurationDirectory=); a directory elsewhere is made writable (state) or left to the
# permissions set here (configuration) instead.
unit_dirs=()
if [[ "$STATEDIR" == /var/lib/?* ]]; then
    unit_dirs+=(-e "s#^StateDirectory=.*#StateDirectory=${STATEDIR#/var/lib/}#")
else
    unit_dirs+=(-e "s#^StateDirectory=.*#ReadWritePaths=$STATEDIR#" -e "/^StateDirectoryMode=/d")
fi
if [[ "$CONFDIR" == /etc/?* ]]; then
    unit_dirs+=(-e "s#^ConfigurationDirectory=.*#ConfigurationDirectory=${CONFDIR#/etc/}#")
else
    unit_dirs+=(-e "/^ConfigurationDirectory=/d" -e "/^ConfigurationDirectoryMode=/d")
fi
sed "${unit_dirs[@]}" \
    -e "s#/opt/edge-controller#$PREFIX#g" -e "s#/etc/edge-controller#$CONFDIR#g" \
    -e "s#/var/lib/edge-controller#$STATEDIR#g" \
    "$SRC/systemd/edge-controller.service" > "$DESTDIR$UNITDIR/edge-controller.service"
chmod 0644 "$DESTDIR$UNITDIR/edge-controller.service"

if [[ -z "$DESTDIR" ]]; then
    # The serial ports belong to group dialout: a user from an earlier install joins it too.
    if id "$SERVICE_USER" >/dev/null 2>&1; then
        usermod --append --groups dialout "$SERVICE_USER"
    else
        useradd --system --home-dir "$STATEDIR" --shell /usr/sbin/nologin --groups dialout "$SERVICE_USER"
    fi
    chown -R "root:$SERVICE_USER" "$CONFDIR"
    chown -R "$SERVICE_USER:$SERVICE_USER" "$STATEDIR"
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        echo "installed; edit $CONFDIR/config.yaml, then: systemctl enable --now edge-controller"
    fi
fi
echo "edge-controller installed under ${DESTDIR:-/}"

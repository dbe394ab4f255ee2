#!/usr/bin/env bash
# Installs the .deb that build.sh made on this machine (as root), checks what
# it installed — the binary runs and names its build, the system user, the
# directories and modes, the units verify and score at most 3.0 in
# `systemd-analyze security` — starts the installed coordinator as the
# service user with keys written by `linkmesh certs --group linkmesh`, then
# removes and purges the package and checks that nothing of it is left.
# .ci/run runs it; it touches only what the package installs and
# /etc/linkmesh, /var/lib/linkmesh-test, and ends what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=$(ls -t dist/linkmesh_*_amd64.deb | head -1)
fail() { echo "test-install: $*" >&2; exit 1; }
state=/var/lib/linkmesh-test
pid=""
# Whatever happens, what this script made goes: the test files, the process,
# and on failure the package.
cleanup() {
  rc=$?
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f /etc/linkmesh/test-*.yaml /etc/linkmesh/ca.crt /etc/linkmesh/ca.key /etc/linkmesh/coordinator.crt \
    /etc/linkmesh/coordinator.key /etc/linkmesh/mesh.key
  rm -rf "$state"
  if [ $rc -ne 0 ] && dpkg -s linkmesh >/dev/null 2>&1; then dpkg -P linkmesh >/dev/null || true; fi
}
trap cleanup EXIT

if dpkg -s linkmesh >/dev/null 2>&1; then dpkg -P linkmesh >/dev/null; fi
dpkg -i "$deb"
/usr/bin/linkmesh version
/usr/bin/linkmesh version | grep -q "commit $(git rev-parse --short=12 HEAD)" || fail "the installed binary does not name this commit"
getent passwd linkmesh >/dev/null || fail "no system user linkmesh"
[ "$(stat -c '%a %U:%G' /etc/linkmesh)" = "750 root:linkmesh" ] || fail "/etc/linkmesh: $(stat -c '%a %U:%G' /etc/linkmesh)"
[ "$(stat -c '%a %U:%G' /etc/linkmesh/coordinator.yaml)" = "640 root:linkmesh" ] || fail "coordinator.yaml mode"
for f in /usr/lib/systemd/system/linkmesh-probe.service /usr/lib/systemd/system/linkmesh-coordinator.service \
  /etc/default/linkmesh-probe /etc/default/linkmesh-coordinator \
  /usr/share/linkmesh/prometheus/linkmesh-rules.yml /usr/share/linkmesh/grafana/linkmesh.json /usr/share/doc/linkmesh/README.md; do
  [ -f "$f" ] || fail "missing $f"
done
units=(/usr/lib/systemd/system/linkmesh-probe.service /usr/lib/systemd/system/linkmesh-coordinator.service)
systemd-analyze verify "${units[@]}"
for u in "${units[@]}"; do
  # --threshold is the exposure × 10: fails above 3.0.
  systemd-analyze security --offline=yes --threshold=30 --no-pager "$u" | tail -1
done

# The installed coordinator, as the service user, with the files the units name.
linkmesh certs ca --dir /etc/linkmesh >/dev/null
linkmesh certs server --dir /etc/linkmesh --group linkmesh --name coordinator --san 127.0.0.1 >/dev/null
linkmesh certs mesh-key --dir /etc/linkmesh --group linkmesh >/dev/null
install -d -o linkmesh -g linkmesh -m 0700 "$state"
cfg=$(mktemp /etc/linkmesh/test-XXXX.yaml)
# A loopback port nothing listens on (the coordinator must be reachable at a known one).
port=$(shuf -i 20000-29999 -n 1)
while ss -Htan "sport = :$port" | grep -q .; do port=$(shuf -i 20000-29999 -n 1); done
cat >"$cfg" <<YAML
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:$port"}
gossip: {bind: "127.0.0.1:0"}
mesh_key_file: /etc/linkmesh/mesh.key
paths:
  - {from: {site: sql}, to: {site: mi}}
YAML
chgrp linkmesh "$cfg"; chmod 640 "$cfg"
args=(--config "$cfg" --tls-ca /etc/linkmesh/ca.crt --tls-cert /etc/linkmesh/coordinator.crt
  --tls-key /etc/linkmesh/coordinator.key --state-dir "$state")
as_linkmesh() { setpriv --reuid=linkmesh --regid=linkmesh --init-groups "$@"; }
as_linkmesh linkmesh coordinator "${args[@]}" --check-config >/dev/null
# Not through the function: $! must be the coordinator's own pid (setpriv execs it).
setpriv --reuid=linkmesh --regid=linkmesh --init-groups linkmesh coordinator "${args[@]}" --log-level warn &
pid=$!
ready=""
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics" || true)   # whole, not piped into grep -q (SIGPIPE under pipefail)
grep -q '^linkmesh_build_info{' <<<"$metrics" || ready=""
kill -TERM "$pid"
wait "$pid" || true
pid=""
[ -n "$ready" ] || fail "the installed coordinator did not become ready as user linkmesh"
echo "test-install: the installed coordinator served as user linkmesh"
cleanup

dpkg -r linkmesh
[ ! -e /usr/bin/linkmesh ] || fail "/usr/bin/linkmesh left after removal"
[ ! -e /usr/lib/systemd/system/linkmesh-probe.service ] || fail "unit left after removal"
dpkg -P linkmesh
[ ! -e /etc/default/linkmesh-probe ] || fail "/etc/default/linkmesh-probe left after purge"
[ ! -e /etc/linkmesh/coordinator.yaml ] || fail "/etc/linkmesh/coordinator.yaml left after purge"
[ ! -e /etc/linkmesh ] || fail "/etc/linkmesh left after purge: $(ls -A /etc/linkmesh)"
echo "test-install: installed, ran and removed cleanly"

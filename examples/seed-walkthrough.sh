#!/usr/bin/env bash
# The "Common CLI Command Operations" page, end to end, on real input: a server of its own,
# `ac` for login, users and permissions, and real OCI clients (podman, skopeo) pushing and
# pulling a runnable busybox image with platform credentials and a ServiceAccount token.
#
# Usage: examples/seed-walkthrough.sh [--tls] [--keep]
#   --tls    serve HTTPS with --tls=self-signed; every client trusts the generated CA
#            (ac --certificate-authority, podman/skopeo --cert-dir): no insecure flags
#   --keep   keep the work directory (server log, kubeconfigs, client storage) afterwards
#
# Needs ./.venv (scripts/install-python), podman, skopeo and busybox-static
# (apt-get install podman skopeo busybox-static). Touches nothing outside its work directory.
# Exits non-zero on the first unexpected outcome.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/.venv/bin
TLS=0
KEEP=0
for arg in "$@"; do
  case $arg in
    --tls) TLS=1 ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

for tool in podman skopeo; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done
[ -x "$VENV/acp-server" ] || { echo "run scripts/install-python first" >&2; exit 1; }

STARTED=$(date +%s)
# Lower-case names: podman names an image pulled from oci:DIR after DIR, and image names
# must be lower-case. mkdir fails if the name is taken.
suffix=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
WORK=${TMPDIR:-/tmp}/acp-walkthrough-$suffix
RUNROOT=/tmp/acp-walkthrough-run-$suffix # podman's runroot: short socket paths, so always /tmp
mkdir -m 700 "$WORK" "$RUNROOT"
SERVER_PID=""
STEP=0

# --- output and checks -----------------------------------------------------------------------

step() {
  STEP=$((STEP + 1))
  printf '\n== %d. %s ==\n' "$STEP" "$*"
}

ok() { printf 'ok: %s\n' "$*"; }

fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  exit 1
}

# Print a command as a reader would type it (on stderr, so that captured output is only
# the command's own).
show() { printf '$ %s\n' "$*" >&2; }

# Arguments as a shell would need them typed: quoted where they hold blanks or specials.
quote() {
  local out=() arg
  for arg in "$@"; do
    if [[ $arg =~ [[:space:]\$\'\"\(\)\;\&\|\<\>] ]]; then
      arg="'${arg//\'/\'\\\'\'}'"
    fi
    out+=("$arg")
  done
  printf '%s' "${out[*]}"
}

# expect_refusal PATTERN DESCRIPTION CMD…: CMD must fail, saying PATTERN.
expect_refusal() {
  local pattern=$1 what=$2
  shift 2
  local out
  if out=$("$@" 2>&1); then
    printf '%s\n' "$out"
    fail "$what: it succeeded"
  fi
  printf '%s\n' "$out" | sed 's/^/  | /'
  printf '%s\n' "$out" | grep -qiE "$pattern" || fail "$what: the error does not say '$pattern'"
  ok "$what"
}

cleanup() {
  local status=$?
  set +e
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ "$status" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    echo "--- last lines of the server log ($WORK/server.log) ---" >&2
    tail -n 20 "$WORK/server.log" >&2
  fi
  # podman leaves overlay mounts under its storage: unmount them, deepest first.
  for dir in "$WORK" "$RUNROOT"; do
    awk -v root="$dir" '$5 == root || index($5, root "/") == 1 {print $5}' /proc/self/mountinfo |
      sort -r | while read -r point; do umount "$point" 2>/dev/null || umount -l "$point"; done
  done
  rm -rf "$RUNROOT"
  if [ "$KEEP" -eq 1 ]; then
    echo "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

secret() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }

# --- the people and their tools ----------------------------------------------------------------

# ac_as WHO ARGS…: `ac` with WHO's own kubeconfig (a session per person).
ac_as() {
  local who=$1
  shift
  show "ac $(quote "$@")"
  HOME=$WORK/home/$who KUBECONFIG=$WORK/home/$who/kubeconfig "$VENV/ac" "$@"
}

# podman_as WHO ARGS…: podman with WHO's own image storage and credentials file.
podman_as() {
  local who=$1
  shift
  show "podman $(quote "$@")   # as $who"
  mkdir -p "$WORK/podman/$who/tmp"
  [ -f "$WORK/podman/$who/auth.json" ] || echo '{}' >"$WORK/podman/$who/auth.json"
  REGISTRY_AUTH_FILE=$WORK/podman/$who/auth.json HOME=$WORK/home/$who \
    CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf \
    podman --root "$WORK/podman/$who/storage" --runroot "$RUNROOT/$who" \
    --tmpdir "$WORK/podman/$who/tmp" --storage-driver overlay --cgroup-manager cgroupfs \
    --events-backend none --runtime runc "$@"
}

# skopeo_as WHO ARGS…: skopeo with WHO's own credentials file.
skopeo_as() {
  local who=$1
  shift
  show "skopeo $(quote "$@")   # as $who"
  [ -f "$WORK/skopeo-$who.json" ] || echo '{}' >"$WORK/skopeo-$who.json"
  REGISTRY_AUTH_FILE=$WORK/skopeo-$who.json HOME=$WORK/home/$who \
    CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf skopeo "$@"
}

mkdir -p "$WORK/home/admin" "$WORK/home/alice" "$WORK/home/bob" "$WORK/home/builder"
printf 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n' >"$WORK/registries.conf"
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$WORK/policy.json"

ADMIN_PASSWORD=$(secret)
ALICE_PASSWORD=$(secret)
BOB_PASSWORD=$(secret)

# --- 1. the server -----------------------------------------------------------------------------

step "Start acp-server with its own data directory"
PORT=$("$VENV/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
SERVER_ARGS=(--listen "$HOST" --data-dir "$WORK/data")
[ "$TLS" -eq 1 ] && SERVER_ARGS+=(--tls=self-signed)
show "acp-server ${SERVER_ARGS[*]}"
ACP_ADMIN_PASSWORD=$ADMIN_PASSWORD "$VENV/acp-server" "${SERVER_ARGS[@]}" \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 150); do
  grep -q '^Then push' "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "acp-server exited at start-up"
  sleep 0.2
done
grep -q '^Then push' "$WORK/server.out" || fail "acp-server did not start within 30 s"
sed 's/^/  | /' "$WORK/server.out"

if [ "$TLS" -eq 1 ]; then
  URL=https://$HOST
  CA=$WORK/data/tls/ca.crt
  CERT_DIR=$WORK/data/tls/client # holds ca.crt only, as --cert-dir wants
  [ -f "$CERT_DIR/ca.crt" ] || fail "the server did not write $CERT_DIR/ca.crt"
  AC_TLS=(--certificate-authority "$CA")
  OCI_TLS=(--cert-dir "$CERT_DIR")
  SRC_TLS=(--src-cert-dir "$CERT_DIR")
else
  URL=http://$HOST
  AC_TLS=()
  OCI_TLS=(--tls-verify=false)
  SRC_TLS=(--src-tls-verify=false)
fi

# --- 2. platform login -------------------------------------------------------------------------

step "Authenticate to ACP"
AC_LOGIN_PASSWORD=$ADMIN_PASSWORD ac_as admin login "$URL" -u admin "${AC_TLS[@]}"
ac_as admin config get-clusters
ac_as admin config use-cluster global
REGISTRY_API_URL=$(HOME=$WORK/home/admin KUBECONFIG=$WORK/home/admin/kubeconfig \
  "$VENV/ac" registry info -o json | "$VENV/python" -c 'import json, sys; print(json.load(sys.stdin)["registryApiUrl"])')
ok "registry API URL: $REGISTRY_API_URL; OCI clients use $HOST"

# --- 3. namespace, users, ServiceAccount, permissions -------------------------------------------

step "Create the namespace my-ns, users alice and bob, and the ServiceAccount builder"
ac_as admin create namespace my-ns
printf '%s\n' "$ALICE_PASSWORD" | ac_as admin create user alice --password-stdin
printf '%s\n' "$BOB_PASSWORD" | ac_as admin create user bob --password-stdin
ac_as admin create serviceaccount builder -n my-ns

step "Grant namespace permissions: push to alice, pull to bob and to the ServiceAccount"
ac_as admin create rolebinding alice-push --clusterrole=system:image-pusher --user=alice -n my-ns
ac_as admin create rolebinding bob-pull --clusterrole=system:image-puller --user=bob -n my-ns
ac_as admin create rolebinding builder-pull --clusterrole=system:image-puller \
  --serviceaccount=my-ns:builder -n my-ns
ac_as admin get rolebindings -n my-ns

# --- 4. alice pushes -------------------------------------------------------------------------

step "Build a runnable image offline (busybox-static as an OCI layout)"
show "python examples/busybox_image.py $WORK/image"
SOURCE_DIGEST=$("$VENV/python" "$ROOT/examples/busybox_image.py" "$WORK/image")
ok "image layout $WORK/image, digest $SOURCE_DIGEST"

step "alice logs in with her platform account and pushes my-app:v1 and my-app:latest"
printf '%s\n' "$ALICE_PASSWORD" | podman_as alice login "${OCI_TLS[@]}" -u alice --password-stdin "$HOST"
IMAGE_ID=$(podman_as alice pull --quiet --signature-policy "$WORK/policy.json" "oci:$WORK/image:latest" | tail -n 1)
podman_as alice tag "$IMAGE_ID" "$HOST/my-ns/my-app:v1"
podman_as alice push --quiet --signature-policy "$WORK/policy.json" "${OCI_TLS[@]}" \
  --digestfile "$WORK/pushed-v1" "$HOST/my-ns/my-app:v1"
podman_as alice tag "$HOST/my-ns/my-app:v1" "$HOST/my-ns/my-app:latest"
podman_as alice push --quiet --signature-policy "$WORK/policy.json" "${OCI_TLS[@]}" \
  --digestfile "$WORK/pushed-latest" "$HOST/my-ns/my-app:latest"
DIGEST=$(cat "$WORK/pushed-v1")
[ "$DIGEST" = "$(cat "$WORK/pushed-latest")" ] || fail "v1 and latest have different digests"
ok "pushed $HOST/my-ns/my-app:v1 and :latest, both $DIGEST"

# --- 5. listing --------------------------------------------------------------------------------

step "List images"
ac_as admin get images --registry-url="$REGISTRY_API_URL"
ac_as admin get images -n my-ns --registry-url="$REGISTRY_API_URL" -o yaml | tee "$WORK/images.yaml"
[ "$(grep -c "digest: $DIGEST" "$WORK/images.yaml")" -eq 2 ] || fail "ac get images does not show both tags"
ok "ac get images shows v1 and latest with digest $DIGEST"

# --- 6. bob pulls, runs, and cannot push ---------------------------------------------------------

step "bob logs in, pulls my-app:v1 and runs it"
AC_LOGIN_PASSWORD=$BOB_PASSWORD ac_as bob login "$URL" -u bob "${AC_TLS[@]}" >/dev/null
ac_as bob get images --registry-url="$REGISTRY_API_URL"
printf '%s\n' "$BOB_PASSWORD" | podman_as bob login "${OCI_TLS[@]}" -u bob --password-stdin "$HOST"
podman_as bob pull --quiet --signature-policy "$WORK/policy.json" "${OCI_TLS[@]}" "$HOST/my-ns/my-app:v1"
PULLED=$(podman_as bob image inspect --format '{{.Digest}}' "$HOST/my-ns/my-app:v1" | tail -n 1)
[ "$PULLED" = "$DIGEST" ] || fail "bob pulled $PULLED, expected $DIGEST"
OUT=$(podman_as bob run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  "$HOST/my-ns/my-app:v1" sh -c 'echo hello from $(uname -s) busybox' | tail -n 1)
printf '  | %s\n' "$OUT"
[ "$OUT" = "hello from Linux busybox" ] || fail "the container printed '$OUT'"
ok "bob pulled $DIGEST and ran it"

step "bob cannot push (system:image-puller only)"
podman_as bob tag "$HOST/my-ns/my-app:v1" "$HOST/my-ns/my-app:bob"
expect_refusal 'denied|unauthorized' "bob's push is refused" \
  podman_as bob push --signature-policy "$WORK/policy.json" "${OCI_TLS[@]}" "$HOST/my-ns/my-app:bob"

# --- 7. the ServiceAccount pulls with its token ---------------------------------------------------

step "The ServiceAccount builder pulls with a token from 'ac create token'"
show "TOKEN=\$(ac create token builder -n my-ns --duration=10m)"
TOKEN=$(HOME=$WORK/home/admin KUBECONFIG=$WORK/home/admin/kubeconfig \
  "$VENV/ac" create token builder -n my-ns --duration=10m)
printf '%s\n' "$TOKEN" | skopeo_as builder login "${OCI_TLS[@]}" -u builder --password-stdin "$HOST"
skopeo_as builder --policy "$WORK/policy.json" copy --quiet "${SRC_TLS[@]}" \
  "docker://$HOST/my-ns/my-app:v1" "oci:$WORK/builder-copy:v1"
SA_DIGEST=$(skopeo_as builder inspect "${OCI_TLS[@]}" --format '{{.Digest}}' \
  "docker://$HOST/my-ns/my-app:v1" | tail -n 1)
[ "$SA_DIGEST" = "$DIGEST" ] || fail "the ServiceAccount sees $SA_DIGEST, expected $DIGEST"
ok "the ServiceAccount pulled $DIGEST"
expect_refusal 'denied|unauthorized' "the ServiceAccount's push is refused" \
  skopeo_as builder --policy "$WORK/policy.json" copy --quiet "${OCI_TLS[@]/#--/--dest-}" \
  "oci:$WORK/image:latest" "docker://$HOST/my-ns/my-app:builder"

# --- 8. delete a tag; its sibling stays --------------------------------------------------------

step "Delete my-app:v1: preview first, then --confirm; my-app:latest (same digest) stays"
ac_as admin delete images --repo=my-ns/my-app:v1 --registry-url="$REGISTRY_API_URL"
skopeo_as builder inspect "${OCI_TLS[@]}" --format '{{.Digest}}' "docker://$HOST/my-ns/my-app:v1" >/dev/null \
  || fail "the preview deleted my-app:v1"
ok "the preview deleted nothing"
ac_as admin delete images --repo=my-ns/my-app:v1 --registry-url="$REGISTRY_API_URL" --confirm
ac_as admin get images -n my-ns --registry-url="$REGISTRY_API_URL" -o name | tee "$WORK/left"
[ "$(cat "$WORK/left")" = "my-ns/my-app:latest" ] || fail "expected only my-ns/my-app:latest to be left"
expect_refusal 'manifest unknown|not found' "my-app:v1 is gone" \
  skopeo_as builder inspect "${OCI_TLS[@]}" "docker://$HOST/my-ns/my-app:v1"
LATEST=$(skopeo_as builder inspect "${OCI_TLS[@]}" --format '{{.Digest}}' "docker://$HOST/my-ns/my-app:latest" | tail -n 1)
[ "$LATEST" = "$DIGEST" ] || fail "my-app:latest now has digest $LATEST"
ok "my-app:latest still serves $DIGEST"

printf '\nThe walkthrough passed: %d steps in %d s over %s.\n' "$STEP" "$(($(date +%s) - STARTED))" "$URL"

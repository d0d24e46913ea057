#!/usr/bin/env bash
# Installs and starts the S3 servers the S3 sink is tested against, on
# loopback only.
#
#   scripts/s3-test-servers.sh install          # moto (venv) + garage (cargo), when missing
#   scripts/s3-test-servers.sh moto [PORT]      # run moto_server in the foreground
#   scripts/s3-test-servers.sh garage [PORT] [DIR]
#                                               # run a one-node garage in the foreground,
#                                               # with key + bucket "camrec-test" created
#
# Tools go to $CAMREC_S3_TOOLS (default ~/.cache/camrec-s3):
#   moto/bin/moto_server   (moto[server]==5.1.22; 5.2.x replies to ListParts in a
#                           form aws-sdk-s3 cannot parse)
#   garage/bin/garage      (cargo install garage --locked; about 9 minutes on 2 cores)
# The integration tests (recorder-core/tests/s3_*.rs) look there (or at
# $CAMREC_MOTO_SERVER / $CAMREC_GARAGE) and start their own servers on free
# ports; they skip with a message when a tool is missing.
set -euo pipefail

TOOLS="${CAMREC_S3_TOOLS:-$HOME/.cache/camrec-s3}"
MOTO="$TOOLS/moto/bin/moto_server"
GARAGE="$TOOLS/garage/bin/garage"
# Fixed test credentials for garage (imported, so tests know them).
GARAGE_KEY_ID="GK0123456789abcdef01234567"
GARAGE_SECRET="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

install_moto() {
  if [ -x "$MOTO" ]; then return; fi
  python3 -m venv "$TOOLS/moto"
  "$TOOLS/moto/bin/pip" install -q 'moto[server]==5.1.22'
}

install_garage() {
  if [ -x "$GARAGE" ]; then return; fi
  mkdir -p "$TOOLS/garage"
  CARGO_TARGET_DIR="$TOOLS/garage-target" \
    cargo install garage --locked -j "${JOBS:-1}" --root "$TOOLS/garage"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "${1:-}" in
  install)
    mkdir -p "$TOOLS"
    install_moto
    install_garage
    echo "moto:   $MOTO"
    echo "garage: $GARAGE"
    ;;
  moto)
    install_moto
    PORT="${2:-$(free_port)}"
    echo "S3_ENDPOINT=http://127.0.0.1:$PORT (any key id/secret; region us-east-1)"
    exec "$MOTO" -H 127.0.0.1 -p "$PORT"
    ;;
  garage)
    install_garage
    PORT="${2:-$(free_port)}"
    DIR="${3:-$(mktemp -d)}"
    RPC="$(free_port)"
    mkdir -p "$DIR"
    cat > "$DIR/garage.toml" <<EOF
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC"
rpc_public_addr = "127.0.0.1:$RPC"
rpc_secret = "$(printf '%064d' 0 | tr 0 a)"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$PORT"
root_domain = ".s3.garage.localhost"
EOF
    G=("$GARAGE" -c "$DIR/garage.toml")
    "${G[@]}" server > "$DIR/garage.log" 2>&1 &
    PID=$!
    trap 'kill $PID 2>/dev/null || true' EXIT INT TERM
    for _ in $(seq 50); do "${G[@]}" status > /dev/null 2>&1 && break; sleep 0.2; done
    if ! "${G[@]}" layout show 2>/dev/null | grep -q "Current cluster layout version: [1-9]"; then
      NODE="$("${G[@]}" node id -q | cut -d@ -f1)"
      "${G[@]}" layout assign -z dc1 -c 1G "$NODE" > /dev/null
      "${G[@]}" layout apply --version 1 > /dev/null
      "${G[@]}" key import --yes -n camrec "$GARAGE_KEY_ID" "$GARAGE_SECRET" > /dev/null
      "${G[@]}" bucket create camrec-test > /dev/null
      "${G[@]}" bucket allow --read --write --owner camrec-test --key camrec > /dev/null
    fi
    echo "S3_ENDPOINT=http://127.0.0.1:$PORT S3_REGION=garage S3_BUCKET=camrec-test"
    echo "S3_ACCESS_KEY_ID=$GARAGE_KEY_ID S3_SECRET_ACCESS_KEY=(see this script)"
    echo "data dir: $DIR (log: $DIR/garage.log)"
    wait $PID
    ;;
  *)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac

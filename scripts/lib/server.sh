# shellcheck shell=bash
# Sourced by scripts/browser-test and scripts/codegen-check: a tokenmirror API to test against,
# and the npm packages they need (kept in target/npm, never at the repository's top level).
#
#   TOKENMIRROR_URL=http://127.0.0.1:8000   test that running server; start nothing
#   TOKENMIRROR_PORT=8123                   port of the demo server started otherwise
#                                           (default: a free port)
#   TOKENMIRROR_START_TIMEOUT=120           seconds to wait for GET /healthz (default 120)
#
# Without TOKENMIRROR_URL, tm_start_server builds the binary (cargo build --release, honouring
# CARGO_TARGET_DIR) and runs `tokenmirror demo --listen-addr 127.0.0.1:PORT` in a scratch folder
# under target/ (so its tokenmirror-demo.db is fresh and apart from any other demo), waits until
# GET /healthz answers 200 and stops the server when the calling script exits, however it exits.
#
# The caller must have cd'ed to the repository root and set -euo pipefail.

TM_ROOT=$(pwd)
TM_NPM_DIR="$TM_ROOT/target/npm"
TM_SERVER_PID=""
TM_SERVER_LOG=""
TM_EXIT_HOOKS=()

tm_say() { printf '\n==> %s\n' "$*"; }
tm_fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

# Run "$@" when the script exits (after the caller's own hooks, before the server stops).
tm_on_exit() { TM_EXIT_HOOKS+=("$*"); }

tm_cleanup() {
  local status=$?
  local hook
  for hook in "${TM_EXIT_HOOKS[@]+"${TM_EXIT_HOOKS[@]}"}"; do eval "$hook" || true; done
  if [ -n "$TM_SERVER_PID" ] && kill -0 "$TM_SERVER_PID" 2>/dev/null; then
    printf '==> stopping the demo server (pid %s)\n' "$TM_SERVER_PID"
    kill -TERM "$TM_SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$TM_SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$TM_SERVER_PID" 2>/dev/null || true
    wait "$TM_SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -n "$TM_SERVER_LOG" ] && [ -s "$TM_SERVER_LOG" ]; then
    printf '\n--- last lines of the server log (%s) ---\n' "$TM_SERVER_LOG" >&2
    tail -n 30 "$TM_SERVER_LOG" >&2 || true
  fi
  exit "$status"
}
trap tm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tm_require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || tm_fail "'$tool' is needed and not installed"
  done
}

# A free TCP port on 127.0.0.1 (there is a small race until the server binds it).
tm_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# tm_npm_ensure PKG@VERSION...: install the exact versions into target/npm unless already there.
tm_npm_ensure() {
  local spec name version have missing=()
  for spec in "$@"; do
    name=${spec%@*}
    version=${spec##*@}
    have=$(node -p "try{require('$TM_NPM_DIR/node_modules/$name/package.json').version}catch(e){''}")
    [ "$have" = "$version" ] || missing+=("$spec")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    printf '    npm packages already in target/npm: %s\n' "$*"
    return
  fi
  tm_say "npm install --prefix target/npm ${missing[*]}"
  mkdir -p "$TM_NPM_DIR"
  npm install --prefix "$TM_NPM_DIR" --save-exact --no-audit --no-fund --loglevel=error "${missing[@]}"
}

tm_healthy() { curl -fsS -o /dev/null --max-time 2 "$TOKENMIRROR_URL/healthz" 2>/dev/null; }

# Sets TOKENMIRROR_URL (no trailing slash): the given server, or a demo server started here.
tm_start_server() {
  tm_require curl node
  if [ -n "${TOKENMIRROR_URL:-}" ]; then
    TOKENMIRROR_URL=${TOKENMIRROR_URL%/}
    export TOKENMIRROR_URL
    tm_say "using the running server TOKENMIRROR_URL=$TOKENMIRROR_URL"
    tm_healthy || tm_fail "GET $TOKENMIRROR_URL/healthz does not answer 200"
    return
  fi

  tm_require cargo
  local port=${TOKENMIRROR_PORT:-}
  [ -n "$port" ] || port=$(tm_free_port)
  case $port in '' | *[!0-9]*) tm_fail "TOKENMIRROR_PORT must be a port number, not '$port'" ;; esac

  tm_say "cargo build --release --bin tokenmirror"
  cargo build --release --bin tokenmirror || tm_fail "cargo build --release failed (output above)"
  local target_dir=${CARGO_TARGET_DIR:-$TM_ROOT/target}
  case $target_dir in /*) ;; *) target_dir="$TM_ROOT/$target_dir" ;; esac
  local bin="$target_dir/release/tokenmirror"
  [ -x "$bin" ] || tm_fail "cargo build did not produce $bin"

  local run_dir
  run_dir="$TM_ROOT/target/demo-$(basename "$0")"
  rm -rf "$run_dir"
  mkdir -p "$run_dir"
  TM_SERVER_LOG="$run_dir/server.log"
  TOKENMIRROR_URL="http://127.0.0.1:$port"
  export TOKENMIRROR_URL

  tm_say "starting: tokenmirror demo --listen-addr 127.0.0.1:$port (in $run_dir, log: server.log)"
  (cd "$run_dir" && exec "$bin" demo --listen-addr "127.0.0.1:$port") >"$TM_SERVER_LOG" 2>&1 &
  TM_SERVER_PID=$!

  local timeout=${TOKENMIRROR_START_TIMEOUT:-120} waited=0
  until tm_healthy; do
    kill -0 "$TM_SERVER_PID" 2>/dev/null ||
      tm_fail "the demo server exited before GET /healthz answered (is port $port free? does 'tokenmirror demo' exist yet?)"
    [ "$waited" -lt $((timeout * 10)) ] ||
      tm_fail "GET $TOKENMIRROR_URL/healthz did not answer 200 within ${timeout}s"
    sleep 0.1
    waited=$((waited + 1))
  done
  printf '    GET %s/healthz -> 200 after %ss (server pid %s)\n' "$TOKENMIRROR_URL" "$((waited / 10))" "$TM_SERVER_PID"
}

# tm_graphql QUERY: POST it to /graphql and print the JSON answer.
tm_graphql() {
  local body
  body=$(node -e 'process.stdout.write(JSON.stringify({query: process.argv[1]}))' "$1")
  curl -fsS --max-time 10 -H 'content-type: application/json' -H 'accept: application/json' \
    --data "$body" "$TOKENMIRROR_URL/graphql"
}

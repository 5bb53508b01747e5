# Sourced by the image demo and benchmark: starts Debian's docker-registry on
# a free loopback port with its storage under a work dir.
# start_registry WORKDIR: sets $host (127.0.0.1:PORT) and $registry_pid, and
# returns non-zero (with the registry's log on stderr) if it does not answer.
start_registry() {
  local dir=$1 port _
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  host=127.0.0.1:$port
  cat >"$dir/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/registry
http:
  addr: $host
  secret: arca-local-registry
YML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  cat "$dir/registry.log" >&2
  return 1
}

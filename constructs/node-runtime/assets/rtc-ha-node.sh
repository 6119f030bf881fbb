#!/usr/bin/env bash
# rtc-ha node bootstrap for Amazon Linux 2023 (arm64 or x86_64). Two steps, one file:
#
#   rtc-ha-node.sh install --role master|media --bundle FILE --node-version X.Y.Z
#     What an AMI can bake (an EC2 Image Builder component runs exactly this): the pinned Node.js
#     LTS from nodejs.org (checked against its SHASUMS256.txt), the runtime bundle, a system user and
#     the systemd unit (restarted on failure). Idempotent; starts nothing.
#
#   rtc-ha-node.sh configure --role master|media --region REGION --settings-parameter NAME
#                            [--secret ENV_NAME=SECRET_ARN]... [--wait-ready SECONDS]
#     What every boot needs: the instance's identity and addresses from IMDSv2, the non-secret
#     RTC_* settings from one SSM parameter, each secret from Secrets Manager, all written to
#     /etc/rtc-ha/rtc-ha.env (mode 0600); then it (re)starts the service and waits for GET /ready.
set -euo pipefail

# Every path the script writes lies under RTC_HA_ROOT: unset on a node, a scratch directory in tests.
readonly ROOT=${RTC_HA_ROOT:-}
readonly PREFIX=$ROOT/opt/rtc-ha
readonly ENV_DIR=$ROOT/etc/rtc-ha
readonly ENV_FILE=$ENV_DIR/rtc-ha.env
readonly UNIT=rtc-ha.service
readonly UNIT_FILE=$ROOT/etc/systemd/system/$UNIT
readonly CFN_SIGNAL=$ROOT/opt/aws/bin/cfn-signal
readonly SERVICE_USER=rtc-ha
readonly IMDS=http://169.254.169.254/latest

log() { printf 'rtc-ha-node: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() { die "usage: $0 install|configure [options] (see the header of this script)"; }

# ---------------------------------------------------------------------------------------------
# install

node_arch() {
  case "$(uname -m)" in
    aarch64) echo arm64 ;;
    x86_64) echo x64 ;;
    *) die "unsupported architecture $(uname -m)" ;;
  esac
}

install_node() {
  local version=$1 dir tarball tmp
  dir="$PREFIX/node-v$version"
  if [[ -x "$dir/bin/node" && "$("$dir/bin/node" --version)" == "v$version" ]]; then
    log "Node.js v$version is already installed"
  else
    tarball="node-v$version-linux-$(node_arch).tar.gz"
    tmp=$(mktemp -d)
    log "downloading $tarball"
    curl -fsSL --retry 5 -o "$tmp/$tarball" "https://nodejs.org/dist/v$version/$tarball"
    curl -fsSL --retry 5 -o "$tmp/SHASUMS256.txt" "https://nodejs.org/dist/v$version/SHASUMS256.txt"
    (cd "$tmp" && awk -v f="$tarball" '$2 == f' SHASUMS256.txt | sha256sum --check --strict --status) ||
      die "checksum of $tarball does not match SHASUMS256.txt"
    mkdir -p "$dir"
    tar -xzf "$tmp/$tarball" -C "$dir" --strip-components=1 --no-same-owner
    rm -rf "$tmp"
  fi
  ln -sfn "$dir" "$PREFIX/node"
}

install_unit() {
  local role=$1
  mkdir -p "$(dirname "$UNIT_FILE")"
  cat >"$UNIT_FILE" <<EOF
[Unit]
Description=rtc-ha $role node
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
User=$SERVICE_USER
Group=$SERVICE_USER
EnvironmentFile=$ENV_FILE
ExecStart=$PREFIX/node/bin/node --enable-source-maps $PREFIX/app/main.js
Restart=on-failure
RestartSec=2s
KillSignal=SIGTERM
TimeoutStopSec=40s
LimitNOFILE=1048576
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable "$UNIT"
}

cmd_install() {
  local role="" bundle="" node_version=""
  while (($#)); do
    case "$1" in
      --role) role=${2:?} && shift 2 ;;
      --bundle) bundle=${2:?} && shift 2 ;;
      --node-version) node_version=${2:?} && shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $role == master || $role == media ]] || die "--role must be master or media"
  [[ -f $bundle ]] || die "--bundle must name the runtime bundle file"
  [[ $node_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--node-version must look like 24.1.0"

  if [[ ! -x $CFN_SIGNAL ]]; then
    dnf install -y aws-cfn-bootstrap
  fi
  install_node "$node_version"
  install -D -m 0644 "$bundle" "$PREFIX/app/main.js"
  id -u "$SERVICE_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin "$SERVICE_USER"
  install_unit "$role"
  log "installed the $role runtime with Node.js v$node_version"
}

# ---------------------------------------------------------------------------------------------
# configure

imds() {
  curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $1" "$IMDS/meta-data/$2"
}

# Prints KEY=VALUE, refusing what systemd's EnvironmentFile would misread.
env_line() {
  [[ $1 =~ ^RTC_[A-Z0-9_]+$ ]] || die "invalid variable name '$1'"
  [[ $2 != *$'\n'* ]] || die "the value of $1 spans lines"
  printf '%s=%s\n' "$1" "$2"
}

# Command substitutions are assigned before use: as a plain argument, a failed one would go unnoticed.
write_env_file() {
  local role=$1 region=$2 parameter=$3 token instance_id address settings line spec name value
  shift 3
  token=$(curl -fsS --retry 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/api/token")
  instance_id=$(imds "$token" instance-id)
  env_line RTC_NODE_ID "$instance_id"
  env_line RTC_INSTANCE_ID "$instance_id"
  env_line RTC_LISTEN_HOST 0.0.0.0
  address=$(imds "$token" local-ipv4)
  env_line RTC_ADVERTISE_ADDRESS "$address"
  if [[ $role == media ]]; then
    address=$(imds "$token" public-ipv4)
    env_line RTC_PUBLIC_ADDRESS "$address"
  fi
  settings=$(aws ssm get-parameter --region "$region" --name "$parameter" --query Parameter.Value --output text)
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    [[ $line == *=* ]] || die "settings line '$line' is not NAME=VALUE"
    env_line "${line%%=*}" "${line#*=}"
  done <<<"$settings"
  for spec in "$@"; do
    name=${spec%%=*}
    value=$(aws secretsmanager get-secret-value --region "$region" --secret-id "${spec#*=}" \
      --query SecretString --output text)
    env_line "$name" "$value"
  done
}

env_value() {
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

wait_ready() {
  local seconds=$1 port deadline
  port=$(env_value RTC_PORT)
  [[ $port =~ ^[0-9]+$ ]] || die "RTC_PORT is missing from the settings"
  deadline=$((SECONDS + seconds))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/ready"; do
    ((SECONDS < deadline)) || die "GET /ready on port $port did not answer 200 within ${seconds}s"
    sleep 2
  done
  log "ready on port $port"
}

cmd_configure() {
  local role="" region="" parameter="" wait=0 drain_ms
  local -a secrets=()
  while (($#)); do
    case "$1" in
      --role) role=${2:?} && shift 2 ;;
      --region) region=${2:?} && shift 2 ;;
      --settings-parameter) parameter=${2:?} && shift 2 ;;
      --secret) secrets+=("${2:?}") && shift 2 ;;
      --wait-ready) wait=${2:?} && shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $role == master || $role == media ]] || die "--role must be master or media"
  [[ -n $region && -n $parameter ]] || die "--region and --settings-parameter are required"
  [[ $wait =~ ^[0-9]+$ ]] || die "--wait-ready must be a number of seconds"
  [[ -f $UNIT_FILE ]] || die "run '$0 install' first"

  install -d -m 0755 "$ENV_DIR"
  # A failure half-way must leave no partial file, secrets and all, behind.
  ENV_TMP=$(mktemp "$ENV_DIR/.rtc-ha.env.XXXXXX")
  trap 'rm -f "$ENV_TMP"' EXIT
  write_env_file "$role" "$region" "$parameter" "${secrets[@]}" >"$ENV_TMP"
  chmod 0600 "$ENV_TMP"
  mv -f "$ENV_TMP" "$ENV_FILE"

  # Give a draining node its whole deadline before systemd kills it (ARCHITECTURE.md rule 6).
  drain_ms=$(env_value RTC_DRAIN_DEADLINE_MS)
  [[ $drain_ms =~ ^[0-9]+$ ]] || drain_ms=30000
  install -d -m 0755 "$UNIT_FILE.d"
  printf '[Service]\nTimeoutStopSec=%ss\n' "$((drain_ms / 1000 + 10))" >"$UNIT_FILE.d/drain.conf"
  systemctl daemon-reload
  systemctl restart "$UNIT"
  log "started the $role runtime"
  if ((wait > 0)); then
    wait_ready "$wait"
  fi
}

case "${1:-}" in
  install) shift && cmd_install "$@" ;;
  configure) shift && cmd_configure "$@" ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# rtc-ha node image for Debian 12 (bookworm), arm64 or x86_64, shipped as an S3 asset by the
# NodeSoftware construct (constructs/node-software). Two steps, one file:
#
#   rtc-ha-node.sh install --role master|media --app DIR --node-version X.Y.Z
#                          --node-sha512-arm64 HEX --node-sha512-x64 HEX [--node-tarball FILE]
#     At image build time (the EC2 Image Builder component runs exactly this). Idempotent; starts and
#     enables nothing. Installs the few packages it needs with apt-get, and for media Debian's janus
#     and coturn with their own services masked (the media agent runs both itself); Node.js from the npm
#     registry's node-linux-<arch> package (or FILE), refused unless its sha512 is the one given for
#     this machine's architecture; the app DIR (main.js, maybe main.js.map and log-shipper.js); this
#     script as /opt/rtc-ha/bin/rtc-ha-node; the system user rtc-ha; the systemd units; and, for a
#     time daemon the image has, the Amazon Time Sync Service as its source.
#
#   rtc-ha-node configure --set RTC_BOOT_NAME=value [--set ...] --stop-timeout SECONDS
#     At every boot, from user data. Writes /etc/rtc-ha/boot.env (the runtime reads its settings and
#     secrets itself with the AWS SDK: this file names where they are and holds no secret), gives
#     systemd the stop timeout, enables the units and, when systemd runs, (re)starts them.
set -euo pipefail

# Every path lies under RTC_HA_ROOT: unset on a node and in the image test, a scratch dir in unit tests.
readonly ROOT=${RTC_HA_ROOT:-}
readonly PREFIX=/opt/rtc-ha
readonly ETC_DIR=/etc/rtc-ha
readonly BOOT_ENV=$ETC_DIR/boot.env
readonly UNIT_DIR=/etc/systemd/system
readonly UNIT=rtc-ha.service
readonly LOGS_UNIT=rtc-ha-logs.service
readonly SERVICE_USER=rtc-ha
readonly PACKAGES=(ca-certificates curl systemd)
# The media nodes' SFU and TURN server. The agent runs both as its children with configs it generates
# (runtime/media/janus, runtime/media/turn).
readonly MEDIA_PACKAGES=(janus coturn)
readonly MEDIA_PACKAGE_UNITS=(janus.service coturn.service)
readonly REGISTRY=https://registry.npmjs.org

log() { printf 'rtc-ha-node: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() { die "usage: $0 install|configure [options] (see the header of this script)"; }

# Replaces $2 by $1 in one rename, so a reader never sees a half-written file.
commit_file() {
  chmod "$3" "$1"
  mv -f "$1" "$2"
}

# ---------------------------------------------------------------------------------------------
# install

node_arch() {
  case "$(uname -m)" in
    aarch64 | arm64) echo arm64 ;;
    x86_64) echo x64 ;;
    *) die "unsupported architecture $(uname -m)" ;;
  esac
}

verify_sha512() {
  printf '%s  %s\n' "$2" "$1" | sha512sum --check --strict --status ||
    die "sha512 of $1 is not $2: refusing this Node.js"
}

# install_packages PACKAGE...: apt-get installs those not installed yet.
install_packages() {
  local -a missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Unpacks the verified package next to the old release and switches the node symlink to it.
install_node() {
  local version=$1 sha512=$2 tarball=$3 dir tmp
  dir=$ROOT$PREFIX/node-v$version
  if [[ -x $dir/bin/node && "$(cat "$dir/.sha512" 2>/dev/null)" == "$sha512" ]]; then
    log "Node.js v$version is already installed"
  else
    tmp=$(mktemp -d)
    WORK_DIR=$tmp
    trap 'rm -rf "$WORK_DIR"' EXIT
    if [[ -z $tarball ]]; then
      tarball=$tmp/node.tgz
      log "downloading node-linux-$(node_arch)@$version from $REGISTRY"
      curl -fsSL --retry 5 -o "$tarball" "$REGISTRY/node-linux-$(node_arch)/-/node-linux-$(node_arch)-$version.tgz"
    fi
    verify_sha512 "$tarball" "$sha512"
    mkdir -p "$tmp/node"
    tar -xzf "$tarball" -C "$tmp/node" --strip-components=1 --no-same-owner
    [[ -x $tmp/node/bin/node ]] || die "the Node.js package has no bin/node"
    printf '%s\n' "$sha512" >"$tmp/node/.sha512"
    chmod -R go-w,a+rX "$tmp/node"
    mkdir -p "$ROOT$PREFIX"
    rm -rf "$dir"
    mv "$tmp/node" "$dir"
    rm -rf "$tmp"
  fi
  ln -sfn "node-v$version" "$ROOT$PREFIX/node"
}

install_app() {
  local app=$1 target=$ROOT$PREFIX/app
  rm -rf "$target.new"
  mkdir -p "$target.new"
  cp -R "$app/." "$target.new/"
  chmod -R go-w,a+rX "$target.new"
  rm -rf "$target"
  mv "$target.new" "$target"
}

install_self() {
  local self target=$ROOT$PREFIX/bin/rtc-ha-node
  self=$(readlink -f "${BASH_SOURCE[0]}")
  [[ $self == "$(readlink -f "$target" 2>/dev/null)" ]] && return
  install -D -m 0755 "$self" "$target"
}

install_user() {
  [[ -n $ROOT ]] && return # a scratch root has no user database of its own
  id -u "$SERVICE_USER" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SERVICE_USER"
}

# The sandboxing every rtc-ha unit shares.
hardening() {
  cat <<EOF
User=$SERVICE_USER
Group=$SERVICE_USER
EnvironmentFile=$BOOT_ENV
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
EOF
}

# write_unit NAME DESCRIPTION SCRIPT [SERVICE_LINE...]: a unit running app/SCRIPT with Node.js.
write_unit() {
  local name=$1 description=$2 script=$3 tmp
  shift 3
  tmp=$(mktemp "$ROOT$UNIT_DIR/.$name.XXXXXX")
  {
    printf '%s\n' '[Unit]' "Description=$description" 'Wants=network-online.target' \
      'After=network-online.target' 'StartLimitIntervalSec=0' '' '[Service]' 'Type=simple' \
      "ExecStart=$PREFIX/node/bin/node --enable-source-maps $PREFIX/app/$script" 'Restart=on-failure'
    printf '%s\n' "$@"
    hardening
    printf '%s\n' '' '[Install]' 'WantedBy=multi-user.target'
  } >"$tmp"
  commit_file "$tmp" "$ROOT$UNIT_DIR/$name" 0644
}

install_units() {
  local role=$1
  mkdir -p "$ROOT$UNIT_DIR"
  # /run/rtc-ha (0700, the unit's user's, emptied when the unit stops) holds what the runtime writes,
  # such as Janus's generated config with its secrets (RTC_JANUS_CONFIG_DIR, set by the media fleet).
  local -a role_lines=()
  # TURN listens on 443: the agent's coturn child binds it as the unprivileged user (an ambient
  # capability passes to children; NoNewPrivileges keeps them from gaining more).
  [[ $role == media ]] && role_lines=('AmbientCapabilities=CAP_NET_BIND_SERVICE')
  write_unit "$UNIT" "rtc-ha $role node" main.js \
    'RestartSec=2s' 'KillSignal=SIGTERM' 'TimeoutStopSec=40s' 'LimitNOFILE=1048576' \
    'RuntimeDirectory=rtc-ha' 'RuntimeDirectoryMode=0700' "${role_lines[@]}"
  if [[ -f $ROOT$PREFIX/app/log-shipper.js ]]; then
    # Reading the journal takes the systemd-journal group; the journal cursor lives in the state
    # directory systemd makes writable for the unit's user ($STATE_DIRECTORY) under ProtectSystem=strict.
    write_unit "$LOGS_UNIT" "rtc-ha $role node: journal to CloudWatch Logs" log-shipper.js \
      'RestartSec=5s' 'SupplementaryGroups=systemd-journal' 'StateDirectory=rtc-ha-logs'
  else
    rm -f "$ROOT$UNIT_DIR/$LOGS_UNIT"
  fi
}

# The packages' own services must never run on a node: janus.service (every plugin, HTTP and WebSocket
# APIs on 8088/8188 for anyone), coturn.service (its /etc/turnserver.conf, the CLI port, no secret).
# Masked before the packages are installed, so that their postinst cannot start them, and disabled
# after, so that no target wants them.
mask_media_package_services() {
  local unit
  mkdir -p "$ROOT$UNIT_DIR"
  for unit in "${MEDIA_PACKAGE_UNITS[@]}"; do ln -sfn /dev/null "$ROOT$UNIT_DIR/$unit"; done
}
disable_media_package_services() {
  local unit
  for unit in "${MEDIA_PACKAGE_UNITS[@]}"; do rm -f "$ROOT$UNIT_DIR"/*.wants/"$unit"; done
}

# The Amazon Time Sync Service, on every instance's link-local address: for whichever time daemon
# the image has (Debian's chrony or systemd-timesyncd); none is installed for it.
readonly AMAZON_TIME=169.254.169.123
install_time_sync() {
  local tmp
  if [[ -d $ROOT/etc/chrony ]]; then
    mkdir -p "$ROOT/etc/chrony/sources.d"
    tmp=$(mktemp "$ROOT/etc/chrony/sources.d/.amazon-time-sync.XXXXXX")
    printf 'server %s prefer iburst minpoll 4 maxpoll 4\n' "$AMAZON_TIME" >"$tmp"
    commit_file "$tmp" "$ROOT/etc/chrony/sources.d/amazon-time-sync.sources" 0644
  fi
  if [[ -e $ROOT/lib/systemd/systemd-timesyncd || -e $ROOT/usr/lib/systemd/systemd-timesyncd ]]; then
    mkdir -p "$ROOT/etc/systemd/timesyncd.conf.d"
    tmp=$(mktemp "$ROOT/etc/systemd/timesyncd.conf.d/.amazon-time-sync.XXXXXX")
    printf '[Time]\nNTP=%s\n' "$AMAZON_TIME" >"$tmp"
    commit_file "$tmp" "$ROOT/etc/systemd/timesyncd.conf.d/amazon-time-sync.conf" 0644
  fi
}

cmd_install() {
  local role="" app="" node_version="" sha_arm64="" sha_x64="" tarball="" sha512
  while (($#)); do
    case "$1" in
      --role) role=${2:?} && shift 2 ;;
      --app) app=${2:?} && shift 2 ;;
      --node-version) node_version=${2:?} && shift 2 ;;
      --node-sha512-arm64) sha_arm64=${2:?} && shift 2 ;;
      --node-sha512-x64) sha_x64=${2:?} && shift 2 ;;
      --node-tarball) tarball=${2:?} && shift 2 ;;
      *) usage ;;
    esac
  done
  [[ $role == master || $role == media ]] || die "--role must be master or media"
  [[ -f $app/main.js ]] || die "--app must name a directory holding main.js"
  [[ $node_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--node-version must look like 24.21.0"
  [[ $sha_arm64 =~ ^[0-9a-f]{128}$ ]] || die "--node-sha512-arm64 must be 128 hex digits"
  [[ $sha_x64 =~ ^[0-9a-f]{128}$ ]] || die "--node-sha512-x64 must be 128 hex digits"
  [[ -z $tarball || -f $tarball ]] || die "--node-tarball must name a file"
  if [[ $(node_arch) == arm64 ]]; then sha512=$sha_arm64; else sha512=$sha_x64; fi
  # A given package is checked before anything changes; a downloaded one once curl is there.
  [[ -z $tarball ]] || verify_sha512 "$tarball" "$sha512"

  local -a packages=("${PACKAGES[@]}")
  if [[ $role == media ]]; then
    packages+=("${MEDIA_PACKAGES[@]}")
    mask_media_package_services
  fi
  [[ -n $ROOT ]] || install_packages "${packages[@]}"
  if [[ $role == media ]]; then disable_media_package_services; fi
  install_node "$node_version" "$sha512" "$tarball"
  install_app "$app"
  install_self
  install_user
  install_units "$role"
  install_time_sync
  log "installed the $role runtime with Node.js v$node_version"
}

# ---------------------------------------------------------------------------------------------
# configure

# systemd's EnvironmentFile reads quotes, backslashes and outer blanks as syntax: refuse them, so
# the runtime sees exactly the value given.
check_setting() {
  local name=${1%%=*} value=${1#*=}
  [[ $1 == *=* ]] || die "--set '$1' is not NAME=value"
  [[ $name =~ ^RTC_BOOT_[A-Z0-9_]+$ ]] || die "--set: '$name' does not match ^RTC_BOOT_[A-Z0-9_]+\$"
  [[ $value != *$'\n'* && $value != *$'\r'* ]] || die "--set: the value of $name spans lines"
  [[ $value != *[\"\'\\]* ]] || die "--set: the value of $name holds a quote or a backslash"
  [[ $value == "${value#[[:space:]]}" && $value == "${value%[[:space:]]}" ]] ||
    die "--set: the value of $name starts or ends with a blank"
}

cmd_configure() {
  local stop_timeout="" spec tmp
  local -a settings=() units=("$UNIT")
  while (($#)); do
    case "$1" in
      --set) settings+=("${2?}") && shift 2 ;;
      --stop-timeout) stop_timeout=${2:?} && shift 2 ;;
      *) usage ;;
    esac
  done
  for spec in "${settings[@]}"; do check_setting "$spec"; done
  ((${#settings[@]} > 0)) || die "give the boot settings with --set RTC_BOOT_NAME=value"
  [[ $stop_timeout =~ ^[1-9][0-9]*$ ]] || die "--stop-timeout must be a whole number of seconds"
  [[ -f $ROOT$UNIT_DIR/$UNIT ]] || die "run '$0 install' first"
  [[ -f $ROOT$UNIT_DIR/$LOGS_UNIT ]] && units+=("$LOGS_UNIT")

  mkdir -p "$ROOT$ETC_DIR"
  tmp=$(mktemp "$ROOT$ETC_DIR/.boot.env.XXXXXX")
  printf '%s\n' "${settings[@]}" >"$tmp"
  commit_file "$tmp" "$ROOT$BOOT_ENV" 0644

  # A draining node gets its whole deadline before systemd kills it (docs/architecture.md rule 6).
  mkdir -p "$ROOT$UNIT_DIR/$UNIT.d"
  tmp=$(mktemp "$ROOT$UNIT_DIR/$UNIT.d/.stop.conf.XXXXXX")
  printf '[Service]\nTimeoutStopSec=%ss\n' "$stop_timeout" >"$tmp"
  commit_file "$tmp" "$ROOT$UNIT_DIR/$UNIT.d/stop.conf" 0644

  if [[ -n $ROOT ]]; then
    systemctl --root="$ROOT" enable "${units[@]}"
  else
    systemctl enable "${units[@]}"
  fi
  if [[ -d $ROOT/run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl restart "${units[@]}"
    log "started ${units[*]}"
  else
    log "systemd is not running: ${units[*]} start at the next boot"
  fi
}

case "${1:-}" in
  install) shift && cmd_install "$@" ;;
  configure) shift && cmd_configure "$@" ;;
  *) usage ;;
esac

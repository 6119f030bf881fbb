#!/usr/bin/env bash
# rtc-ha node image for Debian 12 (bookworm), arm64 or x86_64, shipped as an S3 asset by the
# NodeSoftware construct (constructs/node-software). Two steps, one file:
#
#   rtc-ha-node.sh install --role master|media|pair --app DIR --node-version X.Y.Z
#                          --node-sha512-arm64 HEX --node-sha512-x64 HEX [--node-tarball FILE]
#     At image build time (the EC2 Image Builder component runs exactly this). Idempotent; starts and
#     enables nothing. Installs the few packages it needs with apt-get: for media and pair Debian's
#     janus and coturn with their own services masked (the media agent runs both itself), for pair
#     Debian's keepalived and redis-server, stopped and disabled (configure enables them); Node.js from
#     the npm registry's node-linux-<arch> package (or FILE), refused unless its sha512 is the one given
#     for this machine's architecture; the app DIR (main.js, maybe main.js.map and log-shipper.js); this
#     script as /opt/rtc-ha/bin/rtc-ha-node; the system user rtc-ha; the systemd units; the role, in
#     /opt/rtc-ha/role; and, for a time daemon the image has, the Amazon Time Sync Service as its source.
#     A pair node (an active-standby pair, docs/topologies.md) runs the master, the media agent, the
#     standby agent, keepalived and redis-server, each its own unit; a oneshot writes keepalived's and
#     redis-server's configs from the pair's settings at every boot, before they start.
#
#   rtc-ha-node configure --set RTC_BOOT_NAME=value [--set ...] [--media-set RTC_BOOT_NAME=value ...]
#                         --stop-timeout SECONDS
#     At every boot, from user data. Writes /etc/rtc-ha/boot.env (the runtime reads its settings and
#     secrets itself with the AWS SDK: this file names where they are and holds no secret), gives
#     systemd the stop timeout, enables the units and, when systemd runs, (re)starts them. On a pair
#     image also /etc/rtc-ha/media-boot.env, the media agent's: boot.env's settings, those named by a
#     --media-set replaced by it (only a pair image takes --media-set).
set -euo pipefail

# Every path lies under RTC_HA_ROOT: unset on a node and in the image test, a scratch dir in unit tests.
readonly ROOT=${RTC_HA_ROOT:-}
readonly PREFIX=/opt/rtc-ha
readonly ETC_DIR=/etc/rtc-ha
readonly BOOT_ENV=$ETC_DIR/boot.env
readonly UNIT_DIR=/etc/systemd/system
readonly UNIT=rtc-ha.service
readonly LOGS_UNIT=rtc-ha-logs.service
readonly ROLE_FILE=$PREFIX/role
readonly SERVICE_USER=rtc-ha
readonly NODE_APP="$PREFIX/node/bin/node --enable-source-maps $PREFIX/app"
readonly PACKAGES=(ca-certificates curl systemd)
# The media nodes' SFU and TURN server. The agent runs both as its children with configs it generates
# (runtime/media/janus, runtime/media/turn).
readonly MEDIA_PACKAGES=(janus coturn)
readonly MEDIA_PACKAGE_UNITS=(janus.service coturn.service)
# TURN listens on 443: the agent's coturn child binds it as the unprivileged user (an ambient
# capability passes to children; NoNewPrivileges keeps them from gaining more).
readonly TURN_PORT_CAPABILITY=AmbientCapabilities=CAP_NET_BIND_SERVICE
# A pair node's own units beside the master's: the media agent, with its own settings; the standby
# agent; the oneshot writing the packages' configs (runtime/standby/main.ts) before they start.
readonly MEDIA_UNIT=rtc-ha-media.service
readonly MEDIA_BOOT_ENV=$ETC_DIR/media-boot.env
readonly STANDBY_UNIT=rtc-ha-standby.service
readonly PAIR_CONFIG_UNIT=rtc-ha-pair-config.service
# The pair's election and its session store, from Debian.
readonly PAIR_PACKAGES=(keepalived redis-server)
readonly KEEPALIVED_UNIT=keepalived.service
readonly REDIS_UNIT=redis-server.service
readonly KEEPALIVED_CONF=/etc/keepalived/keepalived.conf
readonly REDIS_CONF=/etc/redis/redis.conf
# /run/rtc-ha-standby: the agent's socket, keepalived's track file and the serve lease the master
# reads (so readable by all), kept when a unit stops (a restarted master must still find its lease).
readonly STANDBY_DIRECTORY=(
  'RuntimeDirectory=rtc-ha-standby' 'RuntimeDirectoryMode=0755' 'RuntimeDirectoryPreserve=yes'
)
# What configure enables on a pair node, in an order in which they (re)start.
readonly PAIR_UNITS=(
  "$PAIR_CONFIG_UNIT" "$REDIS_UNIT" "$STANDBY_UNIT" "$UNIT" "$MEDIA_UNIT" "$KEEPALIVED_UNIT"
)
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

# write_lines PATH LINE...: PATH (under ROOT, 0644) holding the LINEs, replaced in one rename.
write_lines() {
  local target=$ROOT$1 tmp
  shift
  mkdir -p "${target%/*}"
  tmp=$(mktemp "${target%/*}/.${target##*/}.XXXXXX")
  printf '%s\n' "$@" >"$tmp"
  commit_file "$tmp" "$target" 0644
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

# hardening USER ENVIRONMENT_FILE: the sandboxing every rtc-ha unit shares (root: no User=, Group=).
hardening() {
  local user=$1 environment_file=$2
  [[ $user == root ]] || printf '%s\n' "User=$user" "Group=$user"
  cat <<EOF
EnvironmentFile=$environment_file
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

# write_unit [OPTION...] NAME DESCRIPTION COMMAND [SERVICE_LINE...]: a unit running app/COMMAND (a
# script and its arguments) with Node.js once the network is up, as the service user with boot.env,
# restarted on failure, sandboxed. Each OPTION takes a value:
#   --as USER           run as USER (root keeps the sandbox, without User= and Group=)
#   --env FILE          the environment file instead of boot.env
#   --restart POLICY    Restart= instead of on-failure
#   --type oneshot      run COMMAND (then the SERVICE_LINEs' ExecStart=) to the end at every start
#   --unit LINE         one more line in [Unit]
write_unit() {
  local user=$SERVICE_USER environment_file=$BOOT_ENV restart=on-failure type=simple
  local -a unit_lines=()
  while [[ $1 == --* ]]; do
    case "$1" in
      --as) user=$2 ;;
      --env) environment_file=$2 ;;
      --restart) restart=$2 ;;
      --type) type=$2 ;;
      --unit) unit_lines+=("$2") ;;
      *) die "write_unit: unknown option $1" ;;
    esac
    shift 2
  done
  local name=$1 description=$2 command=$3 tmp
  shift 3
  tmp=$(mktemp "$ROOT$UNIT_DIR/.$name.XXXXXX")
  {
    printf '%s\n' '[Unit]' "Description=$description" 'Wants=network-online.target' \
      'After=network-online.target' 'StartLimitIntervalSec=0' "${unit_lines[@]}" '' '[Service]' \
      "Type=$type" "ExecStart=$NODE_APP/$command"
    [[ $type == oneshot ]] || printf 'Restart=%s\n' "$restart"
    printf '%s\n' "$@"
    hardening "$user" "$environment_file"
    printf '%s\n' '' '[Install]' 'WantedBy=multi-user.target'
  } >"$tmp"
  commit_file "$tmp" "$ROOT$UNIT_DIR/$name" 0644
}

# write_runtime_unit [OPTION...] NAME DESCRIPTION COMMAND DIRECTORY [SERVICE_LINE...]: write_unit for a
# runtime (the master, a media agent): a drain before it stops (configure gives rtc-ha.service the
# deployment's deadline), many sockets, and /run/DIRECTORY (0700, the unit's user's, emptied when the
# unit stops) for what it writes, such as Janus's generated config with its secrets
# (RTC_JANUS_CONFIG_DIR, set by the media settings).
write_runtime_unit() {
  local -a options=()
  while [[ $1 == --* ]]; do options+=("$1" "$2") && shift 2; done
  local name=$1 description=$2 command=$3 directory=$4
  shift 4
  write_unit "${options[@]}" "$name" "$description" "$command" \
    'RestartSec=2s' 'KillSignal=SIGTERM' 'TimeoutStopSec=40s' 'LimitNOFILE=1048576' \
    "RuntimeDirectory=$directory" 'RuntimeDirectoryMode=0700' "$@"
}

# A pair node's units beside the master's (docs/topologies.md).
install_pair_units() {
  # Its own runtime folder: rtc-ha.service's is emptied whenever the master stops.
  write_runtime_unit --env "$MEDIA_BOOT_ENV" \
    "$MEDIA_UNIT" 'rtc-ha pair node: media agent' 'main.js media' rtc-ha-media "$TURN_PORT_CAPABILITY"
  # As root: it drives the store's replication and writes keepalived's track file.
  write_unit --as root --restart always --unit "After=$REDIS_UNIT" \
    "$STANDBY_UNIT" 'rtc-ha pair node: standby agent' 'main.js standby agent' \
    'RestartSec=1s' "${STANDBY_DIRECTORY[@]}"
  # At every boot (the settings live in AWS), before what reads the configs. It makes the agent's
  # folder too (keepalived.conf names the socket there). Bounded: a hung read fails, not blocks the boot.
  write_unit --as root --type oneshot --unit "Before=$REDIS_UNIT $KEEPALIVED_UNIT $STANDBY_UNIT" \
    "$PAIR_CONFIG_UNIT" "rtc-ha pair node: keepalived's and redis-server's configs" \
    "main.js standby redis --out $REDIS_CONF" \
    "ExecStart=$NODE_APP/main.js standby keepalived --out $KEEPALIVED_CONF" \
    "ExecStart=/bin/chown redis:redis $REDIS_CONF" 'RemainAfterExit=yes' 'TimeoutStartSec=2min' \
    "ReadWritePaths=${REDIS_CONF%/*} ${KEEPALIVED_CONF%/*}" "${STANDBY_DIRECTORY[@]}"
  # keepalived's notify hooks and checks talk to the agent; neither keepalived nor redis-server starts
  # on a config this boot did not write (a package's, or the previous boot's).
  write_lines "$UNIT_DIR/$KEEPALIVED_UNIT.d/rtc-ha.conf" \
    '[Unit]' "After=$STANDBY_UNIT $PAIR_CONFIG_UNIT" "Wants=$STANDBY_UNIT" "Requires=$PAIR_CONFIG_UNIT"
  write_lines "$UNIT_DIR/$REDIS_UNIT.d/rtc-ha.conf" \
    '[Unit]' "After=$PAIR_CONFIG_UNIT" "Requires=$PAIR_CONFIG_UNIT"
}

install_units() {
  local role=$1
  mkdir -p "$ROOT$UNIT_DIR"
  local -a role_lines=()
  [[ $role == media ]] && role_lines=("$TURN_PORT_CAPABILITY")
  # A pair node's master is a master node's.
  write_runtime_unit "$UNIT" "rtc-ha $role node" main.js rtc-ha "${role_lines[@]}"
  if [[ $role == pair ]]; then install_pair_units; fi
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

# keepalived and redis-server run only with the configs a pair node writes at boot: stopped if their
# postinst started them, disabled (configure enables them; not masked), and no dump of the default
# config's store left in the image.
stop_pair_package_services() {
  if [[ -d /run/systemd/system ]]; then systemctl stop "$KEEPALIVED_UNIT" "$REDIS_UNIT"; fi
  systemctl disable --quiet "$KEEPALIVED_UNIT" "$REDIS_UNIT"
  rm -f /var/lib/redis/dump.rdb
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
  [[ $role == master || $role == media || $role == pair ]] || die "--role must be master, media or pair"
  [[ -f $app/main.js ]] || die "--app must name a directory holding main.js"
  [[ $node_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--node-version must look like 24.21.0"
  [[ $sha_arm64 =~ ^[0-9a-f]{128}$ ]] || die "--node-sha512-arm64 must be 128 hex digits"
  [[ $sha_x64 =~ ^[0-9a-f]{128}$ ]] || die "--node-sha512-x64 must be 128 hex digits"
  [[ -z $tarball || -f $tarball ]] || die "--node-tarball must name a file"
  if [[ $(node_arch) == arm64 ]]; then sha512=$sha_arm64; else sha512=$sha_x64; fi
  # A given package is checked before anything changes; a downloaded one once curl is there.
  [[ -z $tarball ]] || verify_sha512 "$tarball" "$sha512"

  local -a packages=("${PACKAGES[@]}")
  # A pair node runs a media agent too.
  if [[ $role != master ]]; then
    packages+=("${MEDIA_PACKAGES[@]}")
    mask_media_package_services
  fi
  if [[ $role == pair ]]; then packages+=("${PAIR_PACKAGES[@]}"); fi
  if [[ -n $ROOT ]]; then
    log "not installing ${packages[*]} into a scratch root"
  else
    install_packages "${packages[@]}"
    if [[ $role == pair ]]; then stop_pair_package_services; fi
  fi
  if [[ $role != master ]]; then disable_media_package_services; fi
  install_node "$node_version" "$sha512" "$tarball"
  install_app "$app"
  install_self
  install_user
  install_units "$role"
  write_lines "$ROLE_FILE" "$role"
  install_time_sync
  log "installed the $role runtime with Node.js v$node_version"
}

# ---------------------------------------------------------------------------------------------
# configure

# check_setting OPTION NAME=value: systemd's EnvironmentFile reads quotes, backslashes and outer blanks
# as syntax: refuse them, so the runtime sees exactly the value given.
check_setting() {
  local option=$1 spec=$2
  local name=${spec%%=*} value=${spec#*=}
  [[ $spec == *=* ]] || die "$option '$spec' is not NAME=value"
  [[ $name =~ ^RTC_BOOT_[A-Z0-9_]+$ ]] || die "$option: '$name' does not match ^RTC_BOOT_[A-Z0-9_]+\$"
  [[ $value != *$'\n'* && $value != *$'\r'* ]] || die "$option: the value of $name spans lines"
  [[ $value != *[\"\'\\]* ]] || die "$option: the value of $name holds a quote or a backslash"
  [[ $value == "${value#[[:space:]]}" && $value == "${value%[[:space:]]}" ]] ||
    die "$option: the value of $name starts or ends with a blank"
}

cmd_configure() {
  local stop_timeout="" spec
  local role="master or media" # what an image is whose install did not record its role
  local -a settings=() media_settings=() units=("$UNIT")
  while (($#)); do
    case "$1" in
      --set) settings+=("${2?}") && shift 2 ;;
      --media-set) media_settings+=("${2?}") && shift 2 ;;
      --stop-timeout) stop_timeout=${2:?} && shift 2 ;;
      *) usage ;;
    esac
  done
  for spec in "${settings[@]}"; do check_setting --set "$spec"; done
  for spec in "${media_settings[@]}"; do check_setting --media-set "$spec"; done
  ((${#settings[@]} > 0)) || die "give the boot settings with --set RTC_BOOT_NAME=value"
  [[ $stop_timeout =~ ^[1-9][0-9]*$ ]] || die "--stop-timeout must be a whole number of seconds"
  [[ -f $ROOT$UNIT_DIR/$UNIT ]] || die "run '$0 install' first"
  [[ -f $ROOT$ROLE_FILE ]] && role=$(<"$ROOT$ROLE_FILE")
  [[ $role == pair || ${#media_settings[@]} -eq 0 ]] ||
    die "--media-set is only for a pair image (this image's role: $role)"
  if [[ $role == pair ]]; then units=("${PAIR_UNITS[@]}"); fi
  [[ -f $ROOT$UNIT_DIR/$LOGS_UNIT ]] && units+=("$LOGS_UNIT")

  write_lines "$BOOT_ENV" "${settings[@]}"
  if [[ $role == pair ]]; then
    # The media agent reads its own settings parameter, with the master's secrets.
    local -A replaced=()
    local -a media_env=()
    for spec in "${media_settings[@]}"; do replaced[${spec%%=*}]=1; done
    for spec in "${settings[@]}"; do [[ -n ${replaced[${spec%%=*}]:-} ]] || media_env+=("$spec"); done
    write_lines "$MEDIA_BOOT_ENV" "${media_env[@]}" "${media_settings[@]}"
  fi

  # A draining node gets its whole deadline before systemd kills it (docs/architecture.md rule 6).
  write_lines "$UNIT_DIR/$UNIT.d/stop.conf" '[Service]' "TimeoutStopSec=${stop_timeout}s"

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

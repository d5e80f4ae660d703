#!/usr/bin/env bash
# `make deb`: Debian packages of the agent and the coordinator, into dist/ (docs/operations.md,
# "Debian packages"), from the release build in .build/release that `make deb` makes first: the
# Swift runtime linked in (--static-swift-stdlib), so a board needs no Swift toolchain, only the
# C libraries the package depends on, found from the binary's own NEEDED entries.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-dist}
ARCH=$(dpkg --print-architecture)
VERSION=$(cat packaging/version)
if git rev-parse --short HEAD >/dev/null 2>&1; then VERSION="$VERSION+git$(git rev-parse --short HEAD)"; fi
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "libsodium23 (>= 1.0.18), …" for the shared libraries a binary needs.
depends() {
  local lib path package version list=()
  for lib in $(readelf -d "$1" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v name="$lib" '$1 == name { print $NF; exit }')
    [ -n "$path" ] || { echo "build-deb: $1 needs $lib, which is not installed" >&2; exit 1; }
    package=$( { dpkg -S "$path" || dpkg -S "$(readlink -f "$path")" || dpkg -S "/usr$path"; } 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$package" ] || { echo "build-deb: no Debian package holds $path" >&2; exit 1; }
    version=$(dpkg-query -W -f='${Version}' "$package" | sed 's/-[^-]*$//')
    list+=("$package (>= $version)")
  done
  printf '%s\n' "${list[@]}" | sort -u | paste -sd, | sed 's/,/, /g'
}

# package NAME DESCRIPTION EXTRA_GROUP_COMMAND: stages $work/NAME (already holding its own files)
# with the binary, unit, system user, example configuration and maintainer scripts, and builds it.
package() {
  local name=$1 description=$2 extra_group=$3 root=$work/$1
  [ -x ".build/release/$name" ] || { echo "build-deb: .build/release/$name is missing (make deb builds it)" >&2; exit 1; }
  install -D -m 0755 ".build/release/$name" "$root/usr/bin/$name"
  strip --strip-unneeded "$root/usr/bin/$name"
  install -D -m 0644 "systemd/$name.service" "$root/lib/systemd/system/$name.service"
  install -D -m 0644 "packaging/$name.sysusers" "$root/usr/lib/sysusers.d/$name.conf"
  install -D -m 0644 docs/operations.md "$root/usr/share/doc/$name/operations.md"
  install -D -m 0644 README.md "$root/usr/share/doc/$name/README.md"
  install -d -m 0750 "$root/etc/$name"
  mkdir -p "$root/DEBIAN"
  for script in postinst prerm postrm; do
    sed -e "s/@NAME@/$name/g" -e "s|@EXTRA_GROUP@|$extra_group|" "packaging/$script" > "$root/DEBIAN/$script"
    chmod 0755 "$root/DEBIAN/$script"
  done
  echo "/etc/$name/$name.toml" > "$root/DEBIAN/conffiles"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $VERSION
Architecture: $ARCH
Maintainer: Light Node project <lightnode@localhost>
Section: net
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $(depends "$root/usr/bin/$name")
Recommends: systemd
Description: $description
CONTROL
  dpkg-deb --root-owner-group -Zxz --build "$root" "$OUT/${name}_${VERSION}_${ARCH}.deb" >/dev/null
  echo "$OUT/${name}_${VERSION}_${ARCH}.deb"
}

# The agent: the example configuration with the register maps where the package puts them.
mkdir -p "$work/lightnode/usr/share/lightnode/registers" "$work/lightnode/etc/lightnode"
install -m 0644 firmware-config/registers/*.toml "$work/lightnode/usr/share/lightnode/registers/"
sed 's|register_map = "registers/|register_map = "/usr/share/lightnode/registers/|' firmware-config/lightnode.example.toml \
  > "$work/lightnode/etc/lightnode/lightnode.toml"
install -D -m 0644 docs/configuration.md "$work/lightnode/usr/share/doc/lightnode/configuration.md"
package lightnode "Light Node agent: certified meter readings and set-points for one POD
 Reads the meter over Modbus every 4 s into an append-only, hash-chained, Ed25519-signed ledger,
 publishes it over MQTT without losing an entry, and applies signed set-points from the DSO
 platform to the building's management system." "adduser lightnode dialout"

# The coordinator: its example configuration, and the platform broker's configuration and ACL.
install -D -m 0644 firmware-config/coordinator.example.toml "$work/coordinator/etc/coordinator/coordinator.toml"
install -D -m 0644 docs/coordinator.md "$work/coordinator/usr/share/doc/coordinator/coordinator.md"
install -D -m 0644 firmware-config/mosquitto/mosquitto.conf "$work/coordinator/usr/share/doc/coordinator/examples/mosquitto.conf"
install -D -m 0644 firmware-config/mosquitto/lightnode.acl "$work/coordinator/usr/share/doc/coordinator/examples/lightnode.acl"
package coordinator "Light Node coordinator: certified readings, flexibility market and UFTP
 Ingests and certifies the Light Nodes' readings into the Shared Customer Database, runs the
 local flexibility market, dispatches set-points, settles delivered flexibility and speaks UFTP
 with aggregators, DSOs and the Common Reference Operator." ":"

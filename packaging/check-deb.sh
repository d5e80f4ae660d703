#!/usr/bin/env bash
# `make deb-check` (CI): installs the packages in dist/ into a throw-away root with dpkg, running
# their maintainer scripts, and checks what landed: the programs run, the example configuration's
# register maps exist, the units verify, the system users exist; then removes them again.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
packages=(dist/lightnode_*.deb dist/coordinator_*.deb)
[ ${#packages[@]} -eq 2 ] || { echo "check-deb: expected one lightnode and one coordinator package in dist/ (make deb)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "check-deb: $*" >&2; exit 1; }

# Debian 12 resolves every dependency (apt's simulation, nothing installed).
apt-get install --simulate -qq "${packages[@]/#/./}" >/dev/null || fail "the dependencies do not resolve: $(apt-get install --simulate "${packages[@]/#/./}" 2>&1 | tail -5)"

# An empty dpkg database in the root; the scripts run outside it with DPKG_ROOT set. The root has
# no libc, hence --force-depends.
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\ndialout:x:20:\n' > "$root/etc/group"
log=$root/dpkg.log
dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root -i "${packages[@]}" >"$log" 2>&1 \
  || fail "dpkg could not install the packages: $(tail -20 "$log")"
for name in lightnode coordinator; do
  dpkg --root="$root" -s "$name" | grep -qx "Status: install ok installed" || fail "$name is not installed"
  [ -x "$root/usr/bin/$name" ] || fail "/usr/bin/$name missing"
  [ -f "$root/lib/systemd/system/$name.service" ] || fail "$name.service missing"
  [ -f "$root/etc/$name/$name.toml" ] || fail "/etc/$name/$name.toml missing"
  grep -q "^$name:" "$root/etc/passwd" || fail "the system user $name was not created"
  "$root/usr/bin/$name" --help >/dev/null || fail "$name does not run"
done
grep -q "^dialout:.*lightnode" "$root/etc/group" || fail "lightnode is not in dialout"
# The installed agent works without a Swift toolchain around: it makes a key.
"$root/usr/bin/lightnode" keygen --out "$root/node.key" >/dev/null
[ "$(stat -c %a "$root/node.key")" = 600 ] || fail "the node key is not 0600"
# The example configuration names register maps the package installed.
maps=$(sed -n 's/^register_map = "\(.*\)".*/\1/p' "$root/etc/lightnode/lightnode.toml")
[ -n "$maps" ] || fail "the example configuration names no register map"
for map in $maps; do [ -f "$root$map" ] || fail "the example configuration's $map is not installed"; done
[ "$(ls "$root/usr/share/lightnode/registers" | wc -l)" -ge 5 ] || fail "register maps missing"
# The units as installed, pointing at the installed programs (the root has no systemd of its
# own to verify against: the host's targets stand in).
if command -v systemd-analyze >/dev/null; then
  mkdir "$root/verify"
  for name in lightnode coordinator; do
    sed "s|/usr/bin/$name|$root/usr/bin/$name|g" "$root/lib/systemd/system/$name.service" > "$root/verify/$name.service"
  done
  systemd-analyze verify "$root/verify/lightnode.service" "$root/verify/coordinator.service" \
    || fail "systemd-analyze verify failed on the installed units"
fi
# Removal keeps the configuration (a conffile) until purge.
dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root -r lightnode coordinator >"$log" 2>&1 \
  || fail "dpkg could not remove the packages: $(tail -20 "$log")"
[ ! -e "$root/usr/bin/lightnode" ] || fail "/usr/bin/lightnode left after removal"
[ -f "$root/etc/lightnode/lightnode.toml" ] || fail "the configuration was removed before purge"
dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root -P lightnode coordinator >"$log" 2>&1 \
  || fail "dpkg could not purge the packages: $(tail -20 "$log")"
[ ! -e "$root/etc/lightnode/lightnode.toml" ] || fail "the configuration survived purge"
echo "check-deb: ${packages[*]} install, run, verify and remove cleanly"

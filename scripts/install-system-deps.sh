#!/usr/bin/env bash
# Installs the Debian packages callmap's tests use (run as root, or through sudo).
# The demo itself needs none of them; live capture needs libpcap (libpcap-dev to build
# callmap's own libpcap binding, @callmap/pcap in sniffer/native).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  libpcap-dev         # builds @callmap/pcap (sniffer/native), callmap's libpcap binding (live capture)
  tcpdump             # pcap fixtures during netns tests, benchmark reference
  dnsmasq-base        # cluster DNS in the network-namespace tests
  iproute2            # ip netns / veth / bridge
  kubectl             # proves the Kubernetes API test server speaks the real protocol
  prometheus          # promtool check metrics
  chromium            # headless browser tests of the web map and HTML reports
  ripgrep             # benchmark reference scans
  time                # /usr/bin/time: CPU and peak RSS figures in benchmarks
  fonts-liberation    # a sans-serif font so PNG/JPG pictures have text
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev  # Helm-compatible chart rendering in tests
  python3 make g++    # node-gyp: the in-tree addons (sniffer/native, watchers/native), better-sqlite3 without a prebuilt
)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "system packages installed: ${PACKAGES[*]}"

#!/usr/bin/env bash
# Regenerates tests/data/scan/rpm/rpmdb.sqlite and rpm/rpmdb.expected: a real rpm 4.18 SQLite
# database (Debian's `rpm` package) holding three tiny packages built here with rpmbuild, and
# what `rpm -qa` says is in it. The unit tests of engine/src/scan/packages/rpm.rs read both.
#
# Packages (no files; only their headers matter):
#   berth-hello        1.0-1           noarch  from berth-hello-1.0-1.src.rpm
#   berth-tools        2:3.1.4-5.el9   x86_64  from berth-tools-3.1.4-5.el9.src.rpm
#   berth-tools-libs   2:3.1.4-5.el9   x86_64  (a subpackage: same source rpm)
#
# Needs `rpm` (apt-get install -y rpm). Run from anywhere; rewrites the two files in place.
set -euo pipefail
out="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rpm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/SPECS" "$work/db" "$out"

cat >"$work/SPECS/berth-hello.spec" <<'SPEC'
Name:      berth-hello
Version:   1.0
Release:   1
Summary:   Berth scanner fixture
License:   Apache-2.0
BuildArch: noarch
%description
A package with no files, for Berth's rpmdb parser tests.
%files
SPEC

cat >"$work/SPECS/berth-tools.spec" <<'SPEC'
Name:      berth-tools
Epoch:     2
Version:   3.1.4
Release:   5.el9
Summary:   Berth scanner fixture with a subpackage
License:   Apache-2.0
%description
A package with no files and an epoch, for Berth's rpmdb parser tests.
%package libs
Summary:   The fixture's subpackage
%description libs
A subpackage: its SOURCERPM names berth-tools.
%files
%files libs
SPEC

for spec in "$work"/SPECS/*.spec; do
  rpmbuild --quiet --define "_topdir $work" --target x86_64 -bb "$spec" >/dev/null
done
rpm --initdb --dbpath "$work/db"
rpm -i --justdb --nodeps --noscripts --ignorearch --dbpath "$work/db" \
  "$work"/RPMS/*/*.rpm
# rpm checkpoints the write-ahead log when it closes the database; only the main file remains
# to be committed.
cp "$work/db/rpmdb.sqlite" "$out/rpmdb.sqlite"
rpm -qa --dbpath "$work/db" \
  --qf '%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n' \
  | LC_ALL=C sort >"$out/rpmdb.expected"
ls -l "$work/db"
cat "$out/rpmdb.expected"

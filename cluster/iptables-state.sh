#!/usr/bin/env bash
# Prints the host's iptables and ip6tables state that a cluster may add to — every table's user
# chains and rules, without packet counters — sorted, so that two snapshots compare with diff.
# `.ci/run` takes one before the cluster starts and one after `make cluster-down`: the
# teardown must leave the host's firewall as it found it.
set -uo pipefail
for save in iptables-save ip6tables-save; do
  command -v "$save" >/dev/null || continue
  "$save" 2>/dev/null | awk -v tool="$save" '
    /^\*/ { table = substr($0, 2); next }
    /^:/ {
      chain = substr($1, 2)
      if (chain !~ /^(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING)$/) print tool, table, "chain", chain
      next
    }
    /^-A/ { print tool, table, $0 }
  ' | sort
done

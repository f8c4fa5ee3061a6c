#!/usr/bin/env python3
"""The report of a benches/run.sh sitting: side_by_side.py OUT P256_SIGNS RSA_SIGNS CORES.

OUT holds one kit result folder per run, named <server>-<placement>-r<round> (server: consentry
or peer; placement: unpinned or pinned), each with the kit's summary.jsonl. P256_SIGNS and
RSA_SIGNS are what one core signs per second (openssl speed, on the pinned server's core).
Prints, per placement, each side's median req/s over the rounds, the ratio of the medians and the
ratio in every round; then the token paths against the signing limit, peak RSS and the errors.
"""
import json
import os
import re
import statistics
import sys

ENDPOINTS = [
    ("token", "POST token (ES256 JWT, stored)"),
    ("token_jwt", "POST token with resource (RS256 JWT)"),
    ("discovery", "GET discovery"),
    ("jwks", "GET jwks"),
    ("introspect", "POST introspection"),
]


def load(out):
    """{(server, placement): {round: {endpoint: row}}} and Consentry's peak RSS per run."""
    runs, rss = {}, []
    for name in sorted(os.listdir(out)):
        m = re.fullmatch(r"(consentry|peer)-(unpinned|pinned)-r(\d+)", name)
        if not m:
            continue
        path = os.path.join(out, name, "summary.jsonl")
        if not os.path.exists(path):
            continue
        rows = {}
        for line in open(path):
            r = json.loads(line)
            rows[r["endpoint"]] = r
        runs.setdefault((m[1], m[2]), {})[int(m[3])] = rows
        peak = os.path.join(out, name, "peak_rss_mib")
        if m[1] == "consentry" and os.path.exists(peak):
            rss.append(int(open(peak).read().strip() or 0))
    return runs, rss


def errors(row):
    return row["non2xx"] + row["err_connect"] + row["err_read"] + row["err_write"] + row["err_timeout"]


def span(values, fmt="{:,.0f}"):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main():
    out, p256, rsa, cores = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    runs, rss = load(out)
    print(f"one core signs {p256:,.0f} P-256 and {rsa:,.0f} RSA-2048 signatures/s (openssl speed)")
    for placement in ["unpinned", "pinned"]:
        ours = runs.get(("consentry", placement), {})
        peer = runs.get(("peer", placement), {})
        if not ours:
            continue
        where = (
            "server and wrk share every core"
            if placement == "unpinned"
            else "server on one core, wrk on another"
        )
        print(f"\n### {placement} ({where}), {len(ours)} round(s)\n")
        print("| endpoint | Consentry req/s, median (min–max) | p50 / p99 ms | peer req/s | p50 / p99 ms | ratio of medians | ratio per round |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for key, label in ENDPOINTS:
            mine = [r[key] for r in ours.values() if key in r]
            if not mine:
                continue
            theirs = [r[key] for r in peer.values() if key in r]
            lat = lambda rows: (
                f"{statistics.median(r['p50_ms'] for r in rows):.2f} / {statistics.median(r['p99_ms'] for r in rows):.1f}"
            )
            row = f"| {label} | {span([r['rps'] for r in mine])} | {lat(mine)} | "
            if theirs:
                ratio = statistics.median(r["rps"] for r in mine) / statistics.median(r["rps"] for r in theirs)
                per_round = [
                    f"{ours[n][key]['rps'] / peer[n][key]['rps']:.1f}"
                    for n in sorted(ours)
                    if n in peer and key in ours[n] and key in peer[n]
                ]
                row += f"{span([r['rps'] for r in theirs])} | {lat(theirs)} | {ratio:.2f}× | {', '.join(per_round)} |"
            else:
                row += "— | — | — | — |"
            print(row)
        # The token paths against what the server's cores can sign.
        limits = [("token", p256, "P-256"), ("token_jwt", rsa, "RSA-2048")]
        for key, rate, alg in limits:
            shares = []
            for n in sorted(ours):
                r = ours[n].get(key)
                if not r:
                    continue
                # Pinned: the server has one core. Unpinned: the cores wrk left it.
                server_cores = 1.0 if placement == "pinned" else cores - r["wrk_cpu_pct"] / 100
                shares.append(r["rps"] / (rate * server_cores) * 100)
            if shares:
                basis = "one core" if placement == "pinned" else "the cores wrk left the server"
                print(
                    f"- {key}: {', '.join(f'{s:.0f} %' for s in shares)} of what {basis} "
                    f"signs with {alg} (median {statistics.median(shares):.0f} %)"
                )
    if rss:
        print(f"\nConsentry peak RSS (VmHWM) per run: {min(rss)}–{max(rss)} MiB")
    for server in ["consentry", "peer"]:
        rows = [r for (s, _), rounds in runs.items() if s == server for rr in rounds.values() for r in rr.values()]
        if rows:
            bad = sum(errors(r) for r in rows)
            print(f"{server}: {len(rows)} measured runs, {bad} non-2xx responses or socket errors in all")


main()

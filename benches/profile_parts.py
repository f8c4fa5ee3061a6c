#!/usr/bin/env python3
"""The parts of a request from a perf report: profile_parts.py ENDPOINT REPORT WRK TICKS HZ.

REPORT is `perf report --children --sort sym --stdio -g none` of the server; WRK is the kit's wrk
output (its WRK_JSON line gives the request count); TICKS the server's CPU ticks over that run.
Each part is the inclusive share of a function (its callees included) of all samples; the last
row is what the named parts leave: HTTP, routing, middleware, the runtime and the allocator.
"""
import json
import re
import sys

endpoint, report, wrk, ticks, hz = sys.argv[1:6]
share = {}
for line in open(report):
    m = re.match(r"\s+([\d.]+)%\s+[\d.]+%\s+\[.\]\s+(.*)$", line)
    if m:
        share.setdefault(m[2].strip(), float(m[1]))


def part(symbol):
    return share.get(symbol, 0.0)


run = next(json.loads(l.split(" ", 1)[1]) for l in open(wrk) if l.startswith("WRK_JSON "))
ns = int(ticks) / int(hz) * 1e9 / run["requests"]
sign = part("consentry::jose::keys::KeySet::sign")
if endpoint in ("token", "token_jwt"):
    parts = [
        ("the RS256 signature (OpenSSL)" if endpoint == "token_jwt" else "the ES256 signature (ring)", sign),
        ("the token's claims, jti, JSON and base64", part("consentry::protocol::tokens::prepare::{{closure}}") - sign),
        ("SQLite: the insert and its group commit", part("consentry::store::sqlite::Writes::commit_here")),
    ]
else:
    parts = [
        ("SQLite: the token's row (read transaction and lookup)", part("consentry::store::sqlite::Sqlite::read")),
        ("decoding the token's claims", part("consentry::protocol::tokens::unverified_claims")),
    ]
parts += [
    ("reading the form and authenticating the client", part("consentry::http::token::authenticated::{{closure}}")),
    ("writing the response (writev: loopback TCP, waking wrk)", part("__GI___writev")),
    ("reading the request (recv)", part("__libc_recv")),
]
parts.append(("the rest: HTTP parsing and encoding, routing, middleware, runtime, allocator",
              100 - sum(p for _, p in parts)))
print(f"{run['rps']:,.0f} req/s, {run['non2xx']} non-2xx; server CPU {ns / 1000:.1f} µs per request\n")
print("| part | share of samples | µs per request |")
print("| --- | --- | --- |")
for name, p in parts:
    print(f"| {name} | {p:.0f} % | {p * ns / 100 / 1000:.1f} |")

#!/usr/bin/env python3
"""The launcher's own API fuzzer: property-based (Hypothesis, fixed seed), against a running
`wfl serve`. It sends valid requests mutated at random places (huge and odd numbers, NUL and
overlong strings, wrong types, unknown and missing fields, hostile paths), hostile query
parameters, bodies for every POST route, and raw protocol probes. It fails on any 5xx, any
error that is not JSON, any request slower than 5 s, and a server that stops answering.

    python3 Tests/fuzz/fuzz_api.py --base http://127.0.0.1:3000 --root /allowed/folder [--examples 300] [--seed 1]

Run by WFLCLITests/FuzzTests, which also checks that nothing was written outside the root.
"""
import argparse
import copy
import http.client
import json
import random
import socket
import sys
import time
import urllib.parse

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

ARGS = None
FAILURES = []
COUNT = {"requests": 0, "4xx": 0, "2xx": 0}


def request(method, path, body=None, raw=None, headers=None):
    """One request on a fresh connection; records every property violation."""
    url = urllib.parse.urlparse(ARGS.base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body, allow_nan=True).encode())
    started = time.monotonic()
    try:
        connection.request(method, path, body=data, headers=headers or {"Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read()
        status = response.status
    except Exception as error:  # a reset or a timeout is a failure of the server
        FAILURES.append(f"{method} {path[:120]}: no answer ({error})")
        return None, None
    finally:
        connection.close()
    took = time.monotonic() - started
    COUNT["requests"] += 1
    if took > 5:
        FAILURES.append(f"{method} {path[:120]}: took {took:.1f} s")
    if status >= 500:
        FAILURES.append(f"{method} {path[:120]}: HTTP {status}: {text[:300]!r} for body {str(data)[:300]}")
    elif status >= 400:
        COUNT["4xx"] += 1
        try:
            parsed = json.loads(text)
            if "message" not in parsed:
                FAILURES.append(f"{method} {path[:120]}: HTTP {status} without a message: {text[:200]!r}")
        except ValueError:
            FAILURES.append(f"{method} {path[:120]}: HTTP {status} is not JSON: {text[:200]!r}")
    else:
        COUNT["2xx"] += 1
    return status, text


def templates():
    """Valid requests, one per stage kind the fuzzer can exercise without a remote service."""
    root = ARGS.root
    items = {"name": "Items", "items": [{"sample": "NA12878", "reads": 1200}, {"sample": "HG00096", "reads": 400}]}
    return [
        {"project": "fuzz", "labels": ["team:fuzz"], "source": items,
         "executor": {"name": "Mock", "delaySeconds": 1, "failWhen": {"sample": "HG00096"}}, "sink": {"name": "None"}},
        {"project": "fuzz", "source": items,
         "executor": {"name": "Local", "command": "true {{sample}}", "workDir": f"{root}/work", "timeout": 60, "maxParallel": 2,
                      "env": {"REF": "hg38"}},
         "sink": {"name": "Directory", "path": f"{root}/out"}},
        {"project": "fuzz", "source": items,
         "executor": {"name": "SLURM", "command": "true", "workDir": f"{root}/slurm", "memory": "1G", "time": "10",
                      "cpus": 2, "array": 10, "lostAfterSeconds": 120, "commandTimeoutSeconds": 30, "pollSeconds": 5},
         "sink": {"name": "None"}},
        {"project": "fuzz", "source": items,
         "executor": {"name": "WES", "url": "http://127.0.0.1:9", "workflowUrl": "x.cwl", "workflowType": "CWL",
                      "workflowTypeVersion": "v1.2", "requestTimeoutSeconds": 2, "tags": {"a": "b"}},
         "sink": {"name": "None"}},
    ]


HOSTILE = st.one_of(
    st.sampled_from([1e300, -1e300, 1e13, 9223372036854775808, -9223372036854775809, 0, -1, 0.5, 1e-300,
                     "a\u0000b", "\u0000", "x" * 5000, "../../etc/passwd", "~/x", "/etc/wfl-fuzz-escape", "relative/path",
                     "/tmp/wfl-fuzz-escape/x", "{{", "{{ not valid }}", "\ud7ff\u202e", "", " ", None, True,
                     [], {}, [None], {"name": "Mock"}, [[[[[[[[[[[]]]]]]]]]]]]),
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)


def paths(value, prefix=()):
    """Every place in a JSON document, as key paths."""
    yield prefix
    if isinstance(value, dict):
        for key, member in value.items():
            yield from paths(member, prefix + (key,))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from paths(member, prefix + (index,))


def mutate(document, where, how, replacement):
    document = copy.deepcopy(document)
    if not where:
        return replacement if how == "replace" else document
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    last = where[-1]
    if how == "replace":
        parent[last] = replacement
    elif how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "extra" and isinstance(parent, dict):
        parent["unexpected"] = replacement
    elif how == "extra" and isinstance(parent, list):
        parent.append(replacement)
    return document


@st.composite
def mutated_requests(draw):
    template = draw(st.sampled_from(templates()))
    every = list(paths(template))
    document = template
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(every))
        how = draw(st.sampled_from(["replace", "replace", "delete", "extra"]))
        document = mutate(document, where, how, draw(HOSTILE))
        every = list(paths(document))
    return document


def run(examples, base_seed):
    query_text = st.one_of(st.text(max_size=30), st.sampled_from(["a\u0000b", "x" * 3000, "%00", "Running", "Failed", "-1", "0",
                                                                 "99999999999999999999", "' OR 1=1 --"]))

    @seed(base_seed)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=mutated_requests(), start=st.booleans())
    def creates(body, start):
        # A mutated shell command must never run: only Mock and WES requests are started.
        executor = body.get("executor") if isinstance(body, dict) else None
        runs_nothing = isinstance(executor, dict) and executor.get("name") in ("Mock", "WES")
        request("POST", "/api/v1/exec" if start and runs_nothing else "/api/v1/create", body)

    @seed(base_seed + 1)
    @settings(max_examples=examples // 2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=query_text, name=st.sampled_from(["project", "uuid", "cursor", "limit"]))
    def listings(text, name):
        request("GET", "/api/v1/workload?" + urllib.parse.urlencode({name: text}))

    status, text = request("POST", "/api/v1/exec", templates()[0])
    uuid = json.loads(text)["uuid"] if status == 200 else "00000000-0000-0000-0000-000000000000"

    @seed(base_seed + 2)
    @settings(max_examples=examples // 2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=query_text, name=st.sampled_from(["status", "submission", "cursor", "limit", "includeRetried"]),
           body=HOSTILE, route=st.sampled_from(["retry", "redeliver", "abort", "workflows", "events"]))
    def workload_routes(text, name, body, route):
        if route in ("workflows", "events"):
            request("GET", f"/api/v1/workload/{uuid}/{route}?" + urllib.parse.urlencode({name: text}))
        else:
            shaped = {name: body} if route != "abort" else body
            request("POST", f"/api/v1/workload/{uuid}/{route}", shaped)
        request("POST", "/api/v1/stop", {"uuid": body})

    @seed(base_seed + 3)
    @settings(max_examples=examples // 3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(method=st.sampled_from(["get", "G E T", "PATCH", "DELETE", "PUT", "TRACE", "OPTIONS"]),
           path=st.sampled_from(["/", "/api/v1/create", "/api/v1/workload", "/%00", "/" + "a" * 9000, "/api/v1/../../etc/passwd"]),
           junk=st.sampled_from(["", "X-A: b\x01c\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: -1\r\n",
                                 "Content-Length: 99999999999999999999\r\n"]),
           ending=st.sampled_from(["\r\n", "\n"]))
    def protocol(method, path, junk, ending):
        url = urllib.parse.urlparse(ARGS.base)
        data = f"{method} {path} HTTP/1.1{ending}Host: x{ending}{junk}{ending}".encode("latin-1")
        with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(data)
            reply = b""
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                    if b"\r\n\r\n" in reply and (b"Content-Length: 0" in reply or reply.rstrip().endswith(b"}")):
                        break
            except socket.timeout:
                pass
            COUNT["requests"] += 1
            if time.monotonic() - started > 5:
                FAILURES.append(f"probe {data[:80]!r}: no answer within 5 s")
            head = reply.split(b"\r\n", 1)[0]
            if head.startswith(b"HTTP/1.1 5"):
                FAILURES.append(f"probe {data[:80]!r}: {head!r}")

    for check in (creates, listings, workload_routes, protocol):
        check()
        status, _ = request("GET", "/health")
        if status != 200:
            FAILURES.append(f"/health answered {status} after {check.__name__}")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    ARGS = parser.parse_args()
    random.seed(ARGS.seed)
    started = time.monotonic()
    run(ARGS.examples, ARGS.seed)
    print(f"fuzz: {COUNT['requests']} requests in {time.monotonic() - started:.0f} s "
          f"({COUNT['2xx']} accepted, {COUNT['4xx']} refused), {len(FAILURES)} failures")
    for failure in FAILURES[:40]:
        print("FAIL", failure)
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()

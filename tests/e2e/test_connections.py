"""Connections and threads: the HTTP worker count, one per CPU otad may use
(its affinity mask and cgroup quota; docs/OPERATIONS.md)."""

import os
from pathlib import Path

from harness import Server, assert_status


def http_threads(pid):
    """libmicrohttpd's threads of PID by name: its pool's workers, or its one internal thread."""
    names = [Path(t, "comm").read_text().strip() for t in Path(f"/proc/{pid}/task").iterdir()]
    return names.count("MHD-worker"), names.count("MHD-single")


def test_threads_follow_the_cpus_otad_may_use():
    with Server(prefix=["taskset", "-c", "0"]) as srv:
        srv.start()
        assert "http: 1 worker thread (default; CPUs usable: 1, affinity 1," in srv.log(), srv.log_tail()
        assert http_threads(srv.proc.pid) == (0, 1), f"threads under taskset -c 0: {http_threads(srv.proc.pid)}"
        assert_status(srv.get("/healthz"), 200, "served by the one thread")
    with Server(prefix=["taskset", "-c", "0"], args=["--threads", "3"]) as srv:
        srv.start()
        assert "http: 3 worker threads (--threads;" in srv.log(), srv.log_tail()
        assert http_threads(srv.proc.pid) == (3, 0), f"--threads 3: {http_threads(srv.proc.pid)}"
    mine = len(os.sched_getaffinity(0))
    with Server() as srv:
        srv.start()
        assert f"affinity {mine}," in srv.log(), f"this process may use {mine} CPUs: {srv.log_tail()}"
        workers, single = http_threads(srv.proc.pid)
        line = [l for l in srv.log().splitlines() if "worker thread" in l][0]
        logged = int(line.split("http: ")[1].split()[0])
        assert 1 <= logged <= mine, line
        assert (workers, single) == ((logged, 0) if logged > 1 else (0, 1)), f"{line}: {(workers, single)}"

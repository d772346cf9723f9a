"""A school on one machine, for a try-out: Redis (the class rooms), N replicas of
`streamlit run app.py` and HAProxy in front with cookie affinity.

    python deploy/school.py [--replicas 2] [--port 8600]      (or: make school)

Open http://localhost:8600. Ctrl-C stops everything. Needs Debian's `haproxy` and
`redis-server`. The replicas share one cookie secret, so a browser that moves to
another replica after a failure is accepted there (Streamlit signs its XSRF token
with it). The same class is used by the school test and bench/replicas.py."""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "haproxy.cfg"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=timeout) as reply:
            return reply.status == 200
    except OSError:
        return False


def redis_command(port: int, folder: Path) -> list[str]:
    """Redis on loopback with an append-only file in `folder`: the rooms survive
    a restart of Redis (a lesson is hours; losing every room mid-class is not an option)."""
    folder.mkdir(parents=True, exist_ok=True)
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]


def haproxy_config(replicas: list[int]) -> str:
    """deploy/haproxy.cfg with one `server` line per replica port."""
    text = CONFIG.read_text(encoding="utf-8")
    text = re.sub(r"^\s*presetenv XRAY_APP\d .*\n", "", text, flags=re.M)
    lines = "".join(f"    server app{i} 127.0.0.1:{port} cookie app{i}\n"
                    for i, port in enumerate(replicas, 1))
    return re.sub(r"(^\s*server app\d .*\n)+", lines, text, flags=re.M)


class School:
    def __init__(self, replicas: int = 2, port: int | None = None, log_dir: Path | None = None,
                 extra_env: dict | None = None):
        self.n = replicas
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_port = free_port()
        self.stats_url = f"http://127.0.0.1:{free_port()}/stats"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="llm-xray-school-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = extra_env or {}
        self.procs: dict[str, subprocess.Popen] = {}
        self._cookie_secret = secrets.token_hex(32)

    def restart_redis(self) -> None:
        """Stop Redis and start it again on the same files (a crash, an update)."""
        proc = self.procs["redis"]
        proc.terminate()
        proc.wait(30)
        self._spawn("redis", redis_command(self.redis_port, self.log_dir / "redis"))

    def replica_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.replica_ports[i]}"

    def _spawn(self, name: str, cmd: list[str], env: dict | None = None) -> None:
        log = open(self.log_dir / f"{name}.log", "w", encoding="utf-8")
        self.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def start_replica(self, i: int) -> None:
        # Replicas on one machine share its cores: each gets its share of torch's threads
        # (two replicas with a thread per core each ran the pipeline page 4-5x slower).
        threads = str(max(1, (os.cpu_count() or 1) // self.n))
        env = dict(os.environ, LLM_XRAY_REDIS_URL=self.redis_url, HF_HUB_OFFLINE="1",
                   LLM_XRAY_THREADS=os.environ.get("LLM_XRAY_THREADS", threads),
                   TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                   STREAMLIT_SERVER_COOKIE_SECRET=self._cookie_secret,
                   LLM_XRAY_TRUSTED_PROXIES="127.0.0.1",   # HAProxy: its X-Forwarded-For counts
                   **self.extra_env)
        self._spawn(f"app{i + 1}", [sys.executable, "-m", "streamlit", "run", "app.py",
                                    "--server.port", str(self.replica_ports[i]),
                                    "--server.address", "127.0.0.1"], env)

    def start(self, timeout: float = 240) -> "School":
        for tool in ("haproxy", "redis-server"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (Debian: apt-get install {tool})")
        self._spawn("redis", redis_command(self.redis_port, self.log_dir / "redis"))
        for i in range(self.n):
            self.start_replica(i)
        config = self.log_dir / "haproxy.cfg"
        config.write_text(haproxy_config(self.replica_ports), encoding="utf-8")
        env = dict(os.environ, XRAY_BIND=f"127.0.0.1:{self.port}",
                   XRAY_STATS=self.stats_url.split("//")[1].split("/")[0])
        self._spawn("haproxy", ["haproxy", "-db", "-f", str(config)], env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [name for name, p in self.procs.items() if p.poll() is not None]
            if dead:
                self.stop()
                raise RuntimeError(f"{dead} exited; logs in {self.log_dir}")
            # Every replica answers, and HAProxy itself has checked each one (2.6 counts a
            # server UP at start until its checks fail, so its word alone is not enough).
            if all(healthy(self.replica_url(i)) for i in range(self.n)) \
                    and self.replicas_up() == self.n:
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the school did not become healthy in {timeout:.0f} s; "
                           f"logs in {self.log_dir}")

    def replicas_up(self) -> int:
        """How many replicas HAProxy routes to now (its stats, as CSV)."""
        try:
            with urllib.request.urlopen(self.stats_url + ";csv", timeout=2) as reply:
                rows = reply.read().decode().splitlines()
        except OSError:
            return 0
        header = rows[0].lstrip("# ").split(",")
        status, name, kind = header.index("status"), header.index("svname"), header.index("pxname")
        check = header.index("check_status")
        return sum(1 for row in map(lambda r: r.split(","), rows[1:]) if row[kind] == "replicas"
                   and row[name].startswith("app") and row[status] == "UP"
                   and row[check] == "L7OK")

    def kill_replica(self, i: int) -> None:
        """A replica failing: killed at once, as a crash would."""
        proc = self.procs.get(f"app{i + 1}")
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def pids(self) -> list[int]:
        return [p.pid for name, p in self.procs.items() if name.startswith("app")
                and p.poll() is None]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8600)
    args = parser.parse_args(argv)
    if not 1 <= args.replicas <= 16:
        parser.error("--replicas is between 1 and 16")
    school = School(args.replicas, args.port)
    print(f"starting Redis, {args.replicas} replicas and HAProxy (logs in {school.log_dir}) …")
    school.start()
    print(f"LLM X-Ray for a school: {school.url}   (Ctrl-C stops it)")
    try:
        while all(p.poll() is None for p in school.procs.values()):
            time.sleep(1)
        print("a process stopped; stopping the school", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        school.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

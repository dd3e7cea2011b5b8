"""The OCI image `make image` builds runs the hub: `lapor-hub version`, and a short
`lapor-hub up` against the local broker that becomes ready and stops cleanly, as the
non-root user the image names, with no secret in the image. Run by `make test-image`
(buildah, chroot isolation; the image's network is the machine's)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from hub.privacy import hub_keyring

pytestmark = [pytest.mark.image, pytest.mark.kafka, pytest.mark.timeout(600)]
IMAGE = os.environ.get("LAPOR_HUB_IMAGE", "lapor-hub:latest")
BUILDAH = {**os.environ, "STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}


def buildah(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["buildah", *args], env=BUILDAH, text=True, capture_output=True, **kwargs)


@pytest.fixture
def container():
    made = buildah("from", IMAGE, timeout=300)
    assert made.returncode == 0, f"no image {IMAGE} (make image builds it): {made.stderr}"
    name = made.stdout.strip()
    yield name
    buildah("rm", name, timeout=120)


def test_the_image_is_the_hub_as_a_non_root_user_without_secrets(container: str) -> None:
    inspected = json.loads(buildah("inspect", "--type", "image", IMAGE, timeout=120).stdout)
    config = inspected["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/opt/lapor-hub/bin/lapor-hub"]
    assert config["User"] == "10001:10001"
    assert not any("KEY" in e or "PASSWORD" in e or "SECRET" in e for e in config.get("Env", []))
    version = buildah(
        "run", container, "--", "/opt/lapor-hub/bin/lapor-hub", "version", timeout=120
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("lapor-hub ")
    who = buildah("run", container, "--", "id", "-u", timeout=60)
    assert who.stdout.strip() == "10001"
    keys = buildah("run", container, "--", "sh", "-c", "ls /var/lib/lapor-hub", timeout=60)
    assert "identity-keys" not in keys.stdout, "the image holds no key ring"


def test_the_hub_in_the_image_gets_ready_against_the_broker(
    container: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "hub.yaml").write_text(
        yaml.safe_dump(
            {
                "group_prefix": f"image-{os.getpid()}",
                "kafka": {"bootstrap": kafka_bootstrap},
                "metrics": {"host": "127.0.0.1", "port": port},
                "connectors": {
                    "lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}
                },
            }
        )
    )
    os.chmod(tmp_path, 0o755)
    os.chmod(tmp_path / "hub.yaml", 0o644)
    command = [
        "buildah", "run",
        "-v", f"{tmp_path}:/etc/lapor-hub:ro",
        # the machines of one network share one identity key ring (hub.keyshare)
        "--env", f"LAPOR_HUB_IDENTITY_KEYS={hub_keyring().to_json()}",
        container, "--",
        "timeout", "--preserve-status", "-s", "INT", "60",
        "/opt/lapor-hub/bin/lapor-hub", "up", "--config", "/etc/lapor-hub/hub.yaml",
        "--no-tracker",
    ]  # fmt: skip
    hub = subprocess.Popen(command, env=BUILDAH, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready, deadline = None, time.monotonic() + 55
    while time.monotonic() < deadline and hub.poll() is None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if answer.status_code == 200:
                ready = answer.json()
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    output, _ = hub.communicate(timeout=120)
    said = output.decode(errors="replace")
    assert ready is not None, f"the hub in the image never got ready:\n{said[-3000:]}"
    assert ready["checks"]["kafka"] == "ok"
    assert hub.returncode == 0, f"it did not stop cleanly ({hub.returncode}):\n{said[-3000:]}"
    assert "stopped: pulled" in said

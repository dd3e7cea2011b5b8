"""The errors a newcomer meets first name the cause and the fix."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.broker import LocalCluster, ensure_kafka, free_base_port, require_java
from hub.errors import (
    DataDirMismatch,
    JavaNotFound,
    MavenCentralUnreachable,
    MavenNotFound,
    PortInUse,
)
from hub.settings import KAFKA_VERSION, jar_cache, load_settings


@pytest.fixture
def path_with_only_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding java but no mvn."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = shutil.which("java")
    assert java, "these tests need Java installed (make test installs nothing else)"
    (bin_dir / "java").symlink_to(java)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def cluster_in(root: Path, base_port: int | None = None) -> LocalCluster:
    return LocalCluster(
        root,
        cache=jar_cache(load_settings()),
        base_port=base_port or free_base_port(),
        kafka_version=KAFKA_VERSION,
    )


def test_no_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(JavaNotFound) as caught:
        require_java()
    assert "No Java runtime was found" in caught.value.message
    assert "apt-get install openjdk-17" in caught.value.fix


def test_no_maven(tmp_path: Path, path_with_only_java: Path) -> None:
    with pytest.raises(MavenNotFound) as caught:
        ensure_kafka(tmp_path / "empty-cache", KAFKA_VERSION)
    assert "Maven (mvn) is not on PATH" in caught.value.message
    assert "apt-get install maven" in caught.value.fix


def test_maven_central_unreachable(tmp_path: Path) -> None:
    settings = tmp_path / "settings.xml"
    settings.write_text(
        "<settings><mirrors><mirror><id>nowhere</id><mirrorOf>*</mirrorOf>"
        "<url>https://127.0.0.1:1/maven2</url></mirror></mirrors></settings>"
    )
    with pytest.raises(MavenCentralUnreachable) as caught:
        ensure_kafka(
            tmp_path / "empty-cache",
            KAFKA_VERSION,
            maven_args=["-s", str(settings), f"-Dmaven.repo.local={tmp_path / 'm2'}"],
        )
    assert "Maven Central is unreachable" in caught.value.message
    assert "KAFKA_BOOTSTRAP_SERVERS" in caught.value.fix
    assert not (tmp_path / "empty-cache" / "kafka" / KAFKA_VERSION / "libs").exists()


def test_port_already_taken(tmp_path: Path) -> None:
    port = free_base_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(PortInUse) as caught:
            cluster_in(tmp_path / "c", base_port=port).start()
    assert f"Port 127.0.0.1:{port} is already in use" in caught.value.message
    assert "--port" in caught.value.fix


def test_data_directory_of_another_kafka_version(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    state = {"cluster_id": "x" * 22, "kafka_version": "3.9.1", "nodes": 1, "base_port": 9092}
    (root / "cluster.json").write_text(json.dumps(state))
    cluster = cluster_in(root)
    with pytest.raises(DataDirMismatch) as caught:
        cluster.start()
    assert f"formatted by Kafka 3.9.1, but this hub runs Kafka {KAFKA_VERSION}" in str(caught.value)
    assert "lapor-hub broker reset" in caught.value.fix


def test_data_directory_of_another_cluster(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cluster = cluster_in(root)
    data = cluster.nodes[0].data_dir
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("version=1\nnode.id=1\ncluster.id=SomeOtherClusterId00\n")
    with pytest.raises(DataDirMismatch) as caught:
        cluster.start()
    assert "belongs to Kafka cluster SomeOtherClusterId00" in caught.value.message
    assert "lapor-hub broker reset" in caught.value.fix


def test_the_cli_prints_cause_and_fix_without_a_traceback(
    tmp_path: Path, path_with_only_java: Path
) -> None:
    env = {**os.environ, "LAPOR_HUB_HOME": str(tmp_path / "home")}
    env.pop("LAPOR_HUB_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-m", "hub", "broker", "install"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "error: Maven (mvn) is not on PATH" in " ".join(result.stderr.split())
    assert "fix: install it" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr

"""Fetch the Kafka broker from Maven Central and find a Java to run it.

Maven resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies (about 46 jars,
43 MB) from ``deploy/local/pom.xml`` into ``<home>/kafka/<version>/libs``. A marker file is
written last, so a download cut short is retried rather than half used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hub.errors import JavaNotFound, MavenCentralUnreachable, MavenNotFound, SetupError

MIN_JAVA = 17
# Pinned, so a fresh ~/.m2 resolves the same plugin everywhere (Maven 3.8 defaults to 2.8).
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_COMPLETE_MARKER = ".complete"
_UNREACHABLE_SIGNS = (
    "Could not transfer artifact",
    "UnknownHostException",
    "Connection refused",
    "Connect to ",
    "connect timed out",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Unknown host",
    "No route to host",
    "No plugin found for prefix",
)


@dataclass(frozen=True)
class KafkaInstall:
    version: str
    libs: Path

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")


def deploy_dir() -> Path:
    """``deploy/local`` of a source checkout, or the copy packaged into the wheel."""
    packaged = Path(__file__).parent / "deploy_local"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "deploy" / "local"


def require_java() -> Path:
    """The java executable (JAVA_HOME first, then PATH), checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "java"] if java_home else []
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    java = next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)
    if java is None:
        raise JavaNotFound(
            "No Java runtime was found (checked JAVA_HOME and PATH); the local Kafka broker "
            f"needs Java {MIN_JAVA} or newer.",
            fix="install one, e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME.",
        )
    version = _java_major_version(java)
    if version is not None and version < MIN_JAVA:
        raise JavaNotFound(
            f"{java} is Java {version}; Kafka {MIN_JAVA}+ brokers need Java {MIN_JAVA} or newer.",
            fix=f"install Java {MIN_JAVA}+ and point JAVA_HOME at it.",
        )
    return java


def _java_major_version(java: Path) -> int | None:
    out = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def ensure_kafka(
    home: Path, version: str, maven_args: list[str] | None = None, quiet: bool = True
) -> KafkaInstall:
    """Return the cached broker for ``version``, fetching it with Maven the first time."""
    libs = home / "kafka" / version / "libs"
    if (libs / _COMPLETE_MARKER).is_file():
        return KafkaInstall(version, libs)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenNotFound(
            f"Maven (mvn) is not on PATH; it fetches Apache Kafka {version} from Maven Central "
            "the first time the local broker starts.",
            fix="install it, e.g. `apt-get install maven`, or set KAFKA_BOOTSTRAP_SERVERS "
            "to an existing Kafka cluster.",
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=libs.parent, prefix=".fetch-"))
    try:
        cmd = [
            mvn,
            "-B",
            "-f",
            str(deploy_dir() / "pom.xml"),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-Dkafka.version={version}",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
            *(["-q"] if quiet else []),
            *(maven_args or []),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            raise _maven_failure(version, result.stdout + result.stderr)
        if not (tmp / f"kafka_2.13-{version}.jar").is_file():
            raise SetupError(
                f"Maven finished but kafka_2.13-{version}.jar is not among the fetched jars.",
                fix="delete ~/.m2/repository/org/apache/kafka and try again.",
            )
        (tmp / _COMPLETE_MARKER).write_text(version + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return KafkaInstall(version, libs)


def _maven_failure(version: str, output: str) -> SetupError:
    tail = "\n".join(line for line in output.splitlines()[-15:] if line.strip())
    if "Could not find artifact org.apache.kafka" in output:
        return SetupError(
            f"Maven Central has no Apache Kafka {version} (org.apache.kafka:kafka_2.13).",
            fix="set LAPOR_HUB_KAFKA_VERSION to a released version, e.g. 4.4.0.",
        )
    if any(sign in output for sign in _UNREACHABLE_SIGNS):
        return MavenCentralUnreachable(
            f"Maven could not download Apache Kafka {version}: Maven Central is unreachable "
            f"from this machine (last lines of Maven's output below).\n{tail}\n",
            fix="check the network or proxy (~/.m2/settings.xml), or set "
            "KAFKA_BOOTSTRAP_SERVERS to an existing Kafka cluster.",
        )
    return SetupError(
        f"Maven failed to fetch Apache Kafka {version}:\n{tail}\n",
        fix="run `mvn -f deploy/local/pom.xml dependency:copy-dependencies` to see the "
        "whole error.",
    )

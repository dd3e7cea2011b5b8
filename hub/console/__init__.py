"""The operator console: the hub seen and steered from a browser (docs/console.md).

``open_console`` starts what the pages read from (the followed topics, the scraped
metrics); ``serve`` answers on the configured address with uvicorn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub import topics
from hub.config import HubConfig
from hub.console.context import Console
from hub.console.follow import Follower


@dataclass
class Running:
    console: Console
    follower: Follower

    def stop(self) -> None:
        self.follower.stop()
        self.console.scraper.stop()
        self.console.reports.close()


def scrape_targets(config: HubConfig) -> list[str]:
    """The processes whose metrics the network page shows: as configured, else this hub's
    own metrics address and its tracker's (port + 1)."""
    if config.console.scrape is not None:
        return list(config.console.scrape)
    port = config.metrics.port
    if not port:
        return []
    host = config.metrics.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return [f"{host}:{port}", f"{host}:{port + 1}"]


def open_console(config: HubConfig, bootstrap: str) -> Running:
    from hub.console.auth import oidc_client
    from hub.console.letters import LettersView
    from hub.console.network import Scraper
    from hub.console.trail import TrailView
    from hub.console.view import ReportsView
    from hub.ops.assign import directory_of
    from hub.serialization import TopicSerializer, load_store, make_codec
    from hub.settings import load_settings

    settings = load_settings()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    reports = ReportsView(
        bootstrap,
        config.group_prefix,
        lambda encoded: serializer.deserialize(topics.REPORTS, encoded),
    )
    letters, trail = LettersView(), TrailView()
    follower = Follower(
        bootstrap,
        {
            reports.topic: reports.take,
            topics.DEAD_LETTER: letters.take_letter,
            topics.REPLAYS: letters.take_replay,
            topics.AUDIT: trail.take,
        },
    ).start()
    console = Console(
        bootstrap=bootstrap,
        config=config,
        directory=directory_of(config.rules),
        reports=reports,
        letters=letters,
        trail=trail,
        scraper=Scraper(scrape_targets(config)).start(),
        accounts=config.console.accounts or settings.home / "console-accounts.yaml",
        caught_up=follower.caught_up.is_set,
        serializer=serializer,
        oidc=oidc_client(config.console.oidc) if config.console.oidc else None,
    )
    return Running(console, follower)


def _server(running: Running, host: str, port: int, home: Path):
    import uvicorn

    from hub.console.app import build_app
    from hub.console.auth import session_secret

    settings = running.console.config.console
    app = build_app(running.console, session_secret(settings.secret_env, home))
    proxies = settings.trusted_proxies
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=",".join(proxies) if proxies else None,
    )
    return uvicorn.Server(config)


def serve(running: Running, host: str, port: int, home: Path) -> None:
    """Answer on host:port until stopped (Ctrl-C, SIGTERM)."""
    _server(running, host, port, home).run()


def serve_beside(running: Running, host: str, port: int, home: Path):
    """Answer on host:port from a thread of this process (``lapor-hub up --console``);
    returns a function that stops it."""
    import threading

    server = _server(running, host, port, home)
    thread = threading.Thread(target=server.run, daemon=True, name="console")
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        running.stop()

    return stop

"""A TCP proxy that can cut a connection (to the database or the broker) and restore it.

``cut()`` closes the listening socket and every open connection at once, as a network failure
would; ``restore()`` listens again on the same port. Runs in threads so it serves subprocesses too.
With ``record=True``, ``sent`` holds every byte the clients sent (what a capture on the path would see).
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from urllib.parse import urlsplit

from tests.support.services import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, port: int | None = None, record: bool = False) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._accept_thread: threading.Thread | None = None
        self.connections_made = 0
        self.record = record
        self.sent = bytearray()

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True, name="tcp-proxy-accept")
        self._accept_thread.start()
        return self

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed by cut()/close()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections_made += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True, name="tcp-proxy-pump").start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        pair = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.5)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    if self.record and src is a:
                        with self._lock:
                            self.sent += data
                    pair[src].sendall(data)
                with self._lock:
                    if a not in self._sockets:
                        return
        except (OSError, ValueError):
            return
        finally:
            self._close_pair(a, b)

    def _close_pair(self, a: socket.socket, b: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(a)
            self._sockets.discard(b)
        for sock in (a, b):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave it accepting.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                self._listener.close()
            if self._accept_thread is not None:
                self._accept_thread.join(timeout=2)
            self._listener = None
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    def restore(self) -> None:
        if self._listener is None:
            self.start()

    def close(self) -> None:
        self.cut()

    @property
    def url_host_port(self) -> str:
        return f"127.0.0.1:{self.port}"


def database_url_via(url: str, proxy: TcpProxy) -> str:
    """``url`` (a libpq URL) through ``proxy`` instead of straight to the server."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()


def proxy_to_database(start: Callable[[str, int], TcpProxy], url: str) -> tuple[TcpProxy, str]:
    """A proxy (from the ``tcp_proxy`` fixture) in front of ``url``'s server, and the URL through it."""
    parts = urlsplit(url)
    proxy = start(parts.hostname or "127.0.0.1", parts.port or 5432)
    return proxy, database_url_via(url, proxy)

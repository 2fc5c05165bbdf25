"""The assembled simulator: store, admission, security, controllers and the HTTP server,
started as one.

:class:`Simulator` is what tests, the local runtime and ``ferry sim`` start. It serves on a free
loopback port in a background thread, writes a kubeconfig that the official client and
``kubectl`` use unmodified (as the local administrator, or as the user a token names), and stops
cleanly (open watch streams end). Users, ServiceAccount tokens and the audit trail are reached
from here (see ``local/sim/README.md``, "Security").
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local.sim import controllers as ctl
from local.sim.admission import Admission
from local.sim.auth import AuditRecord, Authority
from local.sim.auth.policies import check_binding, check_policy
from local.sim.auth.policies.engine import GROUP as POLICY_GROUP
from local.sim.auth.tokens import API_AUDIENCES
from local.sim.clock import Clock
from local.sim.events import DELETED, Event
from local.sim.resources import Registry
from local.sim.server import Api
from local.sim.store import Store
from local.sim.tls import ServingCertificate


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked watch streams

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("local.sim.http").debug("%s %s", self.requestline, code)


class Simulator:
    """A Kubernetes API on ``http://127.0.0.1:<port>``, with simulated controllers."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        settings: ctl.Settings | None = None,
        history: int = 10_000,
        controllers: bool = True,
        anonymous_admin: bool = True,
    ) -> None:
        """``anonymous_admin``: a request without credentials has local admin access (the
        cluster's administrator, allowed everything); when False it is ``system:anonymous``
        and goes through RBAC like any other."""
        self.registry = Registry()
        admission = Admission()
        admission.register(POLICY_GROUP, "ValidatingAdmissionPolicy", check_policy)
        admission.register(POLICY_GROUP, "ValidatingAdmissionPolicyBinding", check_binding)
        self.store = Store(self.registry, clock=clock, history=history, admission=admission)
        self.store.on_commit(self._follow_crds)
        self.settings = settings or ctl.Settings()
        self.authority = Authority(self.store, anonymous_admin=anonymous_admin)
        self.api = Api(self.store, self.authority)
        self.manager = ctl.Manager(
            self.store,
            ctl.default_controllers(self.store, self.settings) if controllers else [],
            self.settings,
        )
        self._host, self._port = host, port
        self._app: Flask | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tls: tuple[BaseWSGIServer, threading.Thread] | None = None
        self._tls_lock = threading.Lock()
        self._certificate: ServingCertificate | None = None

    def _follow_crds(self, event: Event) -> None:
        if event.key != ("apiextensions.k8s.io", "customresourcedefinitions"):
            return
        if event.type == DELETED:
            name = event.obj["metadata"]["name"]
            for rt in self.registry.all():
                if rt.crd == name:
                    self.store.purge(rt)
                    break
            self.registry.remove_crd(name)
        else:
            self.registry.set_crd(event.obj)

    @property
    def url(self) -> str:
        """The plain HTTP address (what clients without credentials, or the official client
        with a token, use)."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def secure_url(self) -> str:
        """The HTTPS address, served from its first use (kubectl sends a kubeconfig's
        credentials only over TLS); its certificate is :attr:`certificate_pem`."""
        with self._tls_lock:
            if self._server is None:
                raise RuntimeError("the simulator is not started")
            if self._tls is None:
                self._certificate = ServingCertificate(self._host)
                self._tls = self._serve(0, self._certificate.context(), "ferry-sim-https")
            return f"https://{self._host}:{self._tls[0].server_port}"

    @property
    def certificate_pem(self) -> bytes:
        """The PEM of the HTTPS port's self-signed certificate (its own CA)."""
        self.secure_url  # noqa: B018 - serve TLS, making the certificate
        assert self._certificate is not None
        return self._certificate.pem

    def _serve(
        self, port: int, tls: ssl.SSLContext | None, name: str
    ) -> tuple[BaseWSGIServer, threading.Thread]:
        assert self._app is not None
        server = make_server(
            self._host,
            port,
            self._app,
            threaded=True,
            request_handler=_Handler,
            ssl_context=tls,
        )
        server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon stop() is noticed
            name=name,
            daemon=True,
        )
        thread.start()
        return server, thread

    def start(self) -> Simulator:
        self._app = self.api.app()
        self._server, self._thread = self._serve(self._port, None, "ferry-sim-http")
        self.manager.start()
        return self

    def stop(self) -> None:
        self.api.stop()
        self.manager.stop()
        with self._tls_lock:
            served = [self._tls] if self._tls is not None else []
            self._tls = None
        if self._server is not None and self._thread is not None:
            served.append((self._server, self._thread))
        for server, thread in served:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        if self._certificate is not None:
            self._certificate.remove()
            self._certificate = None
        self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ identities

    def add_user(self, name: str, groups: Sequence[str] = (), uid: str | None = None) -> str:
        """A static user (as in kube-apiserver's ``--token-auth-file``) in ``groups`` and
        ``system:authenticated``; returns its bearer token."""
        return self.authority.tokens.add_user(name, groups, uid)

    def service_account_token(
        self,
        namespace: str,
        name: str,
        audiences: Sequence[str] | None = None,
        expiration: int = 3600,
    ) -> str:
        """A token of the ServiceAccount ``namespace/name`` (which must exist), as the
        TokenRequest API mints it but without its 10-minute minimum ``expiration``."""
        rt = self.registry.versions_of("", "serviceaccounts")[0]
        account = self.store.get(rt, namespace, name)
        token, _ = self.authority.tokens.mint(account, audiences or API_AUDIENCES, expiration)
        return token

    def audit(self) -> list[AuditRecord]:
        """Every request served since the start (or the last :meth:`clear_audit`), in order."""
        return self.authority.audit.records()

    def clear_audit(self) -> None:
        self.authority.audit.clear()

    # ------------------------------------------------------------------ clients

    def kubeconfig(
        self, namespace: str = "default", token: str | None = None, user: str = "ferry-sim"
    ) -> dict[str, Any]:
        """A kubeconfig for this simulator: local admin access over HTTP, or the user
        ``token`` proves over HTTPS (``user`` names the kubeconfig's user entry)."""
        cluster: dict[str, Any] = {"server": self.url}
        if token:  # kubectl sends credentials only over TLS
            authority = base64.b64encode(self.certificate_pem).decode()
            cluster = {"server": self.secure_url, "certificate-authority-data": authority}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "ferry-sim", "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token} if token else {}}],
            "contexts": [
                {
                    "name": "ferry-sim",
                    "context": {"cluster": "ferry-sim", "user": user, "namespace": namespace},
                }
            ],
            "current-context": "ferry-sim",
            "preferences": {},
        }

    def write_kubeconfig(
        self,
        path: str | os.PathLike[str] | None = None,
        token: str | None = None,
        user: str = "ferry-sim",
        namespace: str = "default",
    ) -> Path:
        """Write a kubeconfig for this simulator (to a temporary file when no path is given),
        with ``token`` as its credentials when given."""
        if path is None:
            fd, name = tempfile.mkstemp(prefix="ferry-sim-", suffix=".kubeconfig")
            os.close(fd)
            path = name
        target = Path(path)
        config = self.kubeconfig(namespace, token, user)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        if token:
            target.chmod(0o600)
        return target

    def api_client(self, token: str | None = None) -> Any:
        """An official ``kubernetes.client.ApiClient`` bound to this simulator, sending
        ``token`` as its bearer token when given (else with local admin access)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.connection_pool_maxsize = 32  # functions share one client across threads
        if token:
            config.api_key = {"authorization": token}
            config.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(config)

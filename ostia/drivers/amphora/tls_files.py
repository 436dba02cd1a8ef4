"""The TLS files one load balancer's haproxy.cfg names, with their bytes, fetched from the certificate manager.

File names are those `ostia/db/to_spec.py` put in the spec (`cert_file_name(ref)` and `<listener>.crt-list`), so
the configuration and the uploaded files always agree.
"""

from __future__ import annotations

import os

from ostia.db.models import LoadBalancer
from ostia.domain.secrets import CertManager
from ostia.domain.spec import LoadBalancerSpec, cert_file_name
from ostia.render.haproxy import render_crt_list


def tls_files(lb: LoadBalancer, spec: LoadBalancerSpec, cert_manager: CertManager) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    # The API resolved every ref for the caller's project when it was set (an admin may act on another
    # project's objects): the worker reads them as the service, like Octavia's worker does.
    project = None

    def add(ref: str | None, kind: str) -> None:
        if not ref or cert_file_name(ref) in files:
            return
        if kind == "crl":
            data = cert_manager.get_crl(ref, project)
        else:
            bundle = cert_manager.get(ref, project)
            data = bundle.haproxy_pem() if kind == "cert" else bundle.ca_pem()
        files[cert_file_name(ref)] = data

    rendered = {li.id: li for li in spec.listeners}
    for li in lb.listeners:
        ls = rendered.get(li.id)
        if ls is None or ls.tls is None:
            continue
        for ref in [li.default_tls_container_ref, *(li.sni_container_refs or [])]:
            add(ref, "cert")
        add(li.client_ca_tls_container_ref, "ca")
        if li.client_ca_tls_container_ref:
            add(li.client_crl_container_ref, "crl")
        files[os.path.basename(ls.tls.crt_list_path)] = render_crt_list(ls.tls).encode()
    rendered_pools = {p.id for p in spec.pools if p.tls is not None}
    for pool in lb.pools:
        if pool.id in rendered_pools:
            add(pool.tls_container_ref, "cert")
            add(pool.ca_tls_container_ref, "ca")
            if pool.ca_tls_container_ref:
                add(pool.crl_container_ref, "crl")
    return files

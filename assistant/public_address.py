"""Where customers' phones reach this service, checked against where ``xiaodian serve`` listens.

Payment links and QR codes are built from ``XIAODIAN_PUBLIC_URL`` (never from a request's Host
header). A link that names another port or a loopback address opens nothing on a customer's phone,
and nobody notices until a customer tries (issue 13: links to :8000 were offered while the service
ran on :18532). So, before the service starts:

- no public address set: it is the one served, when that is a definite address
  (``--host 127.0.0.1 --port 18532`` → ``http://127.0.0.1:18532``); listening on every interface
  (0.0.0.0) names no address a phone can use, so the operator must say it (``make run`` does);
- a public address set: when it names a machine by number (a loopback or IP literal), it must be
  the address served, or something must already listen there (a load balancer or another instance in
  front of this one); a loopback address cannot be offered to phones while serving the network. A
  host name, or a trusted reverse proxy in front (``XIAODIAN_TRUSTED_PROXIES``), cannot be checked
  from here and is believed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

ANY_INTERFACE = {"0.0.0.0", "::", ""}


class PublicAddressMismatch(ValueError):
    """``str(error)`` is the operator's Chinese explanation and what to set."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def public_address(configured: str | None, host: str, port: int, behind_proxy: bool = False,
                   listening: Callable[[str, int], bool] = _listening) -> str:
    """The public address to build links from; raises PublicAddressMismatch when it cannot be right."""
    if not configured:
        if host in ANY_INTERFACE:
            raise PublicAddressMismatch(
                f"服务对局域网开放（--host {host or '0.0.0.0'}），但没有设置客户手机能打开的地址，付款二维码会打不开。"
                f"请设置 XIAODIAN_PUBLIC_URL，例如 XIAODIAN_PUBLIC_URL=http://192.168.1.5:{port}"
                f"（本机在局域网里的地址；make run HOST=0.0.0.0 会自动设置）。")
        return _url(host, port)
    parts = urlsplit(configured)
    public_host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not public_host:
        raise PublicAddressMismatch(f"XIAODIAN_PUBLIC_URL={configured} 不是网址，应该像 https://pay.example.cn 或 "
                                    f"{_url('192.168.1.5', port)}。")
    if behind_proxy or not _is_ip(public_host) and public_host != "localhost":
        return configured.rstrip("/")  # a proxy or a host name: where it leads cannot be seen from here
    public_port = parts.port or (443 if parts.scheme == "https" else 80)
    if _is_loopback(public_host) and not _is_loopback(host):
        raise PublicAddressMismatch(
            f"付款链接会指向 XIAODIAN_PUBLIC_URL={configured}，那是本机自己的地址，客户的手机打不开。"
            f"服务开在 {host or '0.0.0.0'}:{port}：请把 XIAODIAN_PUBLIC_URL 设成客户手机能打开的地址，"
            f"例如 http://192.168.1.5:{port}。")
    if (public_host, public_port) != (host, port) and listening(public_host, public_port):
        return configured.rstrip("/")  # a load balancer or another instance answers there
    if _is_loopback(host) and not _is_loopback(public_host):
        raise PublicAddressMismatch(
            f"付款链接会指向 XIAODIAN_PUBLIC_URL={configured}，但服务只在本机（{host}）监听，别的设备连不上。"
            f"请用 --host 0.0.0.0（或 --host {public_host}），或者在前面放反向代理并设置 XIAODIAN_TRUSTED_PROXIES。")
    if public_port != port:
        raise PublicAddressMismatch(
            f"付款链接会指向 XIAODIAN_PUBLIC_URL={configured}（端口 {public_port}），但服务开在端口 {port}，"
            f"客户扫码会打不开。请用 --port {public_port}，或者设置 XIAODIAN_PUBLIC_URL={_url(public_host, port)}。")
    return configured.rstrip("/")

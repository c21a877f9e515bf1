"""Network-free guarantee: load the shipped pipeline, generate and serve the app with every
non-loopback socket connect and DNS lookup refused (and recorded) in this process."""

import ipaddress
import socket
import urllib.request

import pytest

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host) -> bool:
    if host is None or host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False  # a name other than localhost would need DNS
    return address.is_loopback or address.is_unspecified


@pytest.fixture()
def no_network(monkeypatch):
    """Refuse and record every connect / getaddrinfo that leaves the machine."""
    attempts = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded(original):
        def wrapper(self, address, *args, **kwargs):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
                attempts.append(("connect", address))
                raise OSError(f"network-free test: connect to {address!r} refused")
            return original(self, address, *args, **kwargs)
        return wrapper

    def lookup(host, *args, **kwargs):
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(("getaddrinfo", host))
            raise socket.gaierror(f"network-free test: DNS lookup of {host!r} refused")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return attempts


def test_the_guard_catches_what_it_should(no_network):
    with socket.socket() as s, pytest.raises(OSError, match="refused"):
        s.connect(("192.0.2.1", 80))
    with pytest.raises(OSError, match="refused"):
        socket.getaddrinfo("huggingface.co", 443)
    assert socket.getaddrinfo("127.0.0.1", 80) and socket.getaddrinfo("localhost", 80)
    assert [kind for kind, _ in no_network] == ["connect", "getaddrinfo"]
    no_network.clear()


def test_load_generate_and_serve_without_network(no_network, tmp_path):
    from musiclm_studio.pipeline import MusicLMPipeline
    from musiclm_studio.ui.gradio_app import ServeLimits, launch

    pipe = MusicLMPipeline.from_pretrained()
    pipe.show_progress = False
    out = pipe("a calm piano piece", duration_s=1.0, seed=0, num_candidates=1)
    assert out.audio.numel() == pytest.approx(pipe.sample_rate, rel=0.05)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = launch(pipe, port=port, limits=ServeLimits(), prevent_thread_lock=True, quiet=True)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        result = client.predict(prompt="a calm piano piece", duration_s=1.0, seed=1, randomise_seed=False,
                                num_candidates=1, api_name="/generate")
        assert result[0].endswith(".wav") and result[6] == 1
    finally:
        demo.close()
    assert no_network == [], f"non-loopback network attempts: {no_network}"

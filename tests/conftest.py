# ---------------------------------------------------------------------------
# REST / GMS: a real GMS test server (tests/servers/gms.py) and a throw-away CA.
# Owner: REST emitter (issue 3). Other sections: append your own block.
# ---------------------------------------------------------------------------
import pytest as _gms_pytest


@_gms_pytest.fixture()
def gms_server():
    """A fresh GMS test server (tests.servers.gms.GmsServer) on 127.0.0.1, no token; ``.url``, ``.proposals``."""
    from tests.servers.gms import GmsServer

    with GmsServer() as server:
        yield server


@_gms_pytest.fixture()
def tls_files(tmp_path):
    """A self-signed CA with server (localhost/127.0.0.1) and client certificates (tests.servers.tls.TlsFiles)."""
    from tests.servers.tls import make_tls_files

    return make_tls_files(tmp_path / "tls")


# ------------------------------ end REST block ------------------------------

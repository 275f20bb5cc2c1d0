"""An embedded S3 for demos and tests: moto's server on 127.0.0.1, on a free port.

moto is a test/dev extra, not a runtime dependency, so it is imported only when :func:`local_s3` runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ManifestKitError

__all__ = ["local_s3", "local_s3_environ"]


@contextmanager
def local_s3(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's S3-compatible server on ``host`` for the block and yield its endpoint URL.

    ``port=0`` picks a free port. Point clients at it with ``AWS_ENDPOINT_URL_S3=<url>`` (any fake
    credentials work). Raises ManifestKitError when moto is not installed.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ManifestKitError("the embedded S3 needs moto's server: install it with "
                               "pip install 'moto[server]' (or 'pip install -e .[test]')") from None
    # werkzeug logs every request to stderr; a demo's output should show manifestkit, not the server.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.stop()


def local_s3_environ(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """Environment variables that point the AWS SDK (and so ``manifestkit``) at a local S3 ``endpoint``.

    Fake credentials keep real ones from being sent anywhere; merge the result into a copy of
    ``os.environ`` without ``AWS_PROFILE`` for a child process.
    """
    return {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "manifestkit-local",
            "AWS_SECRET_ACCESS_KEY": "manifestkit-local", "AWS_SESSION_TOKEN": "manifestkit-local",
            "AWS_DEFAULT_REGION": region}

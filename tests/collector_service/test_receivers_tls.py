"""Both receivers over TLS (a self-signed certificate made with the openssl command), with
the stock SDK exporters sending a bearer token, as an upstream Collector's bearertokenauth
would over gRPC (it refuses to send a token without TLS)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)

from collector_service.auth import AuthConfig, Authenticator, TenantConfig
from collector_service.errors import ConfigError
from collector_service.receivers import (
    Ingestor,
    OtlpGrpcReceiver,
    OtlpHttpReceiver,
    ReceiverSettings,
)
from collector_service.receivers.config import GrpcConfig, HttpConfig, TlsConfig
from collector_service.service.config import load_config
from tests.collector_service.receiver_support import Sink, make_request
from tests.collector_service.test_receivers_sdk import _export
from tests.support import free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TlsConfig:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return TlsConfig(cert_file=cert, key_file=key)


async def test_tls_receivers_with_sdk_exporters_and_tokens(
    certificate: TlsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets these variables override the exporter's own certificate_file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    sink = Sink()
    auth = Authenticator(AuthConfig(tenants={"acme": TenantConfig(tokens=["tok"])}))  # type: ignore[list-item]
    ingestor = Ingestor(ReceiverSettings("otlp/tls"), sink, auth)
    grpc_port, http_port = free_port(), free_port()
    grpc_rx = OtlpGrpcReceiver(
        GrpcConfig(endpoint=f"127.0.0.1:{grpc_port}", tls=certificate), ingestor
    )
    http_rx = OtlpHttpReceiver(
        HttpConfig(endpoint=f"127.0.0.1:{http_port}", tls=certificate), ingestor
    )
    await grpc_rx.start()
    await http_rx.start()
    try:
        creds = grpc.ssl_channel_credentials(certificate.cert_file.read_bytes())
        exporter = GrpcLogExporter(
            endpoint=f"https://localhost:{grpc_port}",
            credentials=creds,
            headers={"authorization": "Bearer tok"},
        )
        assert await _export(exporter, 3) == "SUCCESS"
        http_exporter = HttpLogExporter(
            endpoint=f"https://127.0.0.1:{http_port}/v1/logs",
            certificate_file=str(certificate.cert_file),
            headers={"Authorization": "Bearer tok"},
        )
        assert await _export(http_exporter, 2) == "SUCCESS"
        assert sink.records == 5
        assert {e.tenant for e in sink.entries} == {"acme"}

        # Plain text is not served on a TLS port.
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.HTTPError):
                await client.post(
                    f"http://127.0.0.1:{http_port}/v1/logs",
                    content=make_request(["x"]).SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                )
    finally:
        await asyncio.gather(grpc_rx.stop(grace=1), http_rx.stop(grace=1))


def test_tls_files_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "receivers: {otlp: {protocols: {grpc: {tls: {cert_file: /nope.pem, key_file: /k}}}}}",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"grpc\.tls\.cert_file: Path does not point to a file"):
        load_config(path, environ={})

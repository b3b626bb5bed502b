"""LocalStack's gateway on Twisted, bound to the addresses GATEWAY_LISTEN names.

Twisted is LocalStack's default server and costs its process less CPU a request than Hypercorn
(BENCHMARKS.md, eighth pass), but LocalStack's Twisted server listens on every IPv4 interface
whatever host GATEWAY_LISTEN gives. The emulator must answer on loopback only: a Lambda in a
fabric namespace reaches AWS through the paths the fabric gives it, never through another
address of the root namespace. This server binds each endpoint to its host, as Hypercorn does,
and otherwise runs and stops as LocalStack's own."""

from localstack.runtime.server.core import RuntimeServer, RuntimeServerPlugin


class LoopbackTwistedServerPlugin(RuntimeServerPlugin):
    """`GATEWAY_SERVER=vpclab-twisted` (the name pyproject.toml registers)."""

    name = "vpclab-twisted"

    def load(self, *args, **kwargs) -> RuntimeServer:
        return _bound_server()


def _bound_server() -> RuntimeServer:
    # Imported when the server is chosen, as LocalStack's own plug-ins do.
    from localstack import config
    from localstack.aws.serving.twisted import TLSMultiplexerFactory
    from localstack.runtime.server.twisted import TwistedRuntimeServer
    from rolo.serving.twisted import TwistedGateway
    from twisted.internet import endpoints, reactor, ssl

    class BoundTwistedRuntimeServer(TwistedRuntimeServer):
        def register(self, gateway, listen, ssl_creds=None):
            site = TwistedGateway(gateway)
            factory = site
            if ssl_creds:
                # HTTP and HTTPS on the same port, as LocalStack serves them.
                cert, key = ssl_creds
                context = ssl.DefaultOpenSSLContextFactory(key, cert)
                context.getContext().use_certificate_chain_file(cert)
                factory = TLSMultiplexerFactory(context, False, site)
            for where in listen:
                server = (
                    endpoints.TCP6ServerEndpoint
                    if config.is_ipv6_address(where.host)
                    else endpoints.TCP4ServerEndpoint
                )
                server(reactor, where.port, interface=where.host).listen(factory)

    return BoundTwistedRuntimeServer()

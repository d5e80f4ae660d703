"""The reference implementation's DSO service (shapeshifter-uftp) for `uftp-bench http`.

Usage: uftp_dso_service.py PORT DSO_SECRET_B64 AGR_PUBLIC_B64
Serves /shapeshifter/api/v3/message on 127.0.0.1:PORT for dso.example.com, knowing
agr.example.com by AGR_PUBLIC_B64; prints {"listening": PORT} once up, then runs until killed."""
import json
import logging
import sys

from shapeshifter_uftp import ShapeshifterDsoService

port, secret, agr_public = sys.argv[1:4]
logging.disable(logging.CRITICAL)


class Service(ShapeshifterDsoService):
    """Accepts whatever arrives; the benchmark measures the transport, not the handlers."""


Service.__abstractmethods__ = frozenset()
service = Service(sender_domain="dso.example.com", signing_key=secret,
                  key_lookup_function=lambda domain, role: agr_public,
                  endpoint_lookup_function=lambda domain, role: "http://127.0.0.1:9/shapeshifter/api/v3/message",
                  host="127.0.0.1", port=int(port))
service.run_in_thread()
print(json.dumps({"listening": int(port)}), flush=True)
service.server_thread.join()

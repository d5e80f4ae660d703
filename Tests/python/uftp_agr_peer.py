"""The reference implementation's AGR service (shapeshifter-uftp) as a peer of our DSO.

Usage: uftp_agr_peer.py PORT AGR_DOMAIN AGR_SECRET_B64 DSO_DOMAIN DSO_PUBLIC_B64 DSO_ENDPOINT
Serves /shapeshifter/api/v3/message on 127.0.0.1:PORT and prints one JSON line per response it
receives from the DSO (type, result, rejection reason, referenced message id), until killed."""
import json
import sys
import threading

from shapeshifter_uftp import ShapeshifterAgrService
from shapeshifter_uftp.uftp import SignedMessage

port, agr_domain, secret, dso_domain, dso_public, dso_endpoint = sys.argv[1:7]
lock = threading.Lock()


def report(message):
    result = getattr(message, "result", None)
    line = {"type": type(message).__name__, "result": getattr(result, "value", result),
            "rejection_reason": getattr(message, "rejection_reason", None),
            # Each response names the message it answers in its own attribute (d_prognosis_message_id, …).
            "referenced_message_id": next((value for name, value in vars(message).items()
                                           if name.endswith("_message_id") and name != "message_id"), None),
            "conversation_id": message.conversation_id, "sender_domain": message.sender_domain}
    with lock:
        print(json.dumps(line), flush=True)


class Peer(ShapeshifterAgrService):
    # One message at a time: shapeshifter-uftp 2.4.0 parses concurrent requests unsafely (two
    # responses arriving together were refused 400, "No class found matching root:
    # D-PrognosisResponse", about one run in four).
    _receiving = threading.Lock()

    def _receive_message(self, message: SignedMessage):
        with self._receiving:
            return super()._receive_message(message)

    def process_d_prognosis_response(self, message):
        report(message)

    def process_flex_offer_response(self, message):
        report(message)

    def process_flex_offer_revocation_response(self, message):
        report(message)

    # What a DSO or CRO may send an AGR: reported alike (the service requires every handler).
    process_agr_portfolio_query_response = process_d_prognosis_response
    process_agr_portfolio_update_response = process_d_prognosis_response
    process_flex_order = process_d_prognosis_response
    process_flex_request = process_d_prognosis_response
    process_flex_reservation_update = process_d_prognosis_response
    process_flex_settlement = process_d_prognosis_response
    process_metering_response = process_d_prognosis_response


def key_lookup(domain, role):
    return dso_public if domain == dso_domain else None


def endpoint_lookup(domain, role):
    return dso_endpoint if domain == dso_domain else None


service = Peer(sender_domain=agr_domain, signing_key=secret, key_lookup_function=key_lookup,
               endpoint_lookup_function=endpoint_lookup, host="127.0.0.1", port=int(port))
print(json.dumps({"listening": int(port)}), flush=True)
service.run()

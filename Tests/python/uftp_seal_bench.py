"""The reference implementation's side of `uftp-bench`: seal, and unseal + parse, a FlexOffer of
96 ISPs with shapeshifter-uftp's own functions; prints the rates as JSON."""
import json
import sys
import time
from base64 import b64encode
from decimal import Decimal

from nacl.bindings import crypto_sign_keypair
from shapeshifter_uftp import FlexOffer, FlexOfferOption, FlexOfferOptionISP
from shapeshifter_uftp.transport import seal_message, to_xml, unseal_message

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
public, secret = crypto_sign_keypair()
offer = FlexOffer(
    version="3.1.0", sender_domain="agr.example.com", recipient_domain="dso.example.com",
    time_stamp="2026-11-25T10:00:00.000Z", message_id="00000000-0000-4000-8000-000000000001",
    conversation_id="00000000-0000-4000-8000-000000000002", isp_duration="PT15M", time_zone="Europe/Amsterdam",
    period="2026-11-26", congestion_point="ea1.2023-01.com.example.dso:cp-1",
    expiration_date_time="2026-11-25T18:00:00.000Z", flex_request_message_id="00000000-0000-4000-8000-000000000003",
    currency="EUR",
    offer_options=[FlexOfferOption(option_reference="A", price=Decimal("12.5"), min_activation_factor=Decimal("0.5"),
                                   isps=[FlexOfferOptionISP(power=-1000 - 10 * i, start=i + 1, duration=1) for i in range(96)])],
)
secret_b64, public_b64 = b64encode(secret).decode(), b64encode(public).decode()

start = time.perf_counter()
for _ in range(rounds):
    sealed = seal_message(offer, secret_b64)
seal_rate = rounds / (time.perf_counter() - start)

start = time.perf_counter()
for _ in range(rounds):
    opened = unseal_message(sealed, public_b64)
unseal_rate = rounds / (time.perf_counter() - start)

assert len(opened.offer_options[0].isps) == 96
print(json.dumps({"seal_per_s": seal_rate, "unseal_per_s": unseal_rate, "xml_bytes": len(to_xml(offer).encode())}))

"""The reference implementation's AGR client (shapeshifter-uftp) sending to our DSO endpoint.

Usage: uftp_agr_send.py ENDPOINT AGR_DOMAIN AGR_SECRET_B64 DSO_DOMAIN VERSION [FORGED_SECRET_B64]
Sends a D-Prognosis and a FlexOffer in one conversation; with FORGED_SECRET_B64, also a
D-Prognosis sealed with that (unregistered) key. Prints JSON: the messages sent and, for each
send, the HTTP status the endpoint answered."""
import json
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4
from zoneinfo import ZoneInfo

from shapeshifter_uftp import (
    DPrognosis, DPrognosisISP, FlexOffer, FlexOfferOption, FlexOfferOptionISP, ShapeshifterAgrDsoClient,
)
from shapeshifter_uftp.exceptions import ClientTransportException

endpoint, agr_domain, secret, dso_domain, version = sys.argv[1:6]
forged = sys.argv[6] if len(sys.argv) > 6 else None
congestion_point = "ea1.2023-01.com.example.dso:cp-1"
conversation = str(uuid4())
# Tomorrow's market day, and an offer valid for two hours: both ahead whenever the test runs.
period = (date.today() + timedelta(days=1)).isoformat()
expiration = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(timespec="milliseconds")
# ISPs of that day: 96, or 92 / 100 on a daylight-saving change.
day = date.fromisoformat(period)
zone = ZoneInfo("Europe/Amsterdam")
midnights = [datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(timezone.utc) for d in (day, day + timedelta(days=1))]
isp_count = int((midnights[1] - midnights[0]).total_seconds() // 900)


def client(key):
    return ShapeshifterAgrDsoClient(sender_domain=agr_domain, signing_key=key, recipient_domain=dso_domain,
                                    recipient_endpoint=endpoint, version=version)


def send(key, method, message):
    try:
        getattr(client(key), method)(message)
        return 200
    except ClientTransportException as error:
        return error.response.status_code


prognosis = DPrognosis(message_id=str(uuid4()), conversation_id=conversation, isp_duration="PT15M",
                       time_zone="Europe/Amsterdam", period=period, congestion_point=congestion_point, revision=1,
                       isps=[DPrognosisISP(power=1500, start=1, duration=isp_count)])
offer = FlexOffer(message_id=str(uuid4()), conversation_id=conversation, isp_duration="PT15M",
                  time_zone="Europe/Amsterdam", period=period, congestion_point=congestion_point,
                  expiration_date_time=expiration, d_prognosis_message_id=prognosis.message_id,
                  currency="EUR",
                  # 3.0.0 has no Unsolicited: there an offer answers a FlexRequest.
                  unsolicited=True if version == "3.1.0" else None,
                  flex_request_message_id=None if version == "3.1.0" else str(uuid4()),
                  offer_options=[FlexOfferOption(option_reference="A", price=Decimal("12.50"),
                                                 min_activation_factor=Decimal("0.5"),
                                                 isps=[FlexOfferOptionISP(power=-2000, start=70, duration=4)])])
result = {"conversation": conversation, "sent": [
    {"type": "DPrognosis", "message_id": prognosis.message_id, "status": send(secret, "send_d_prognosis", prognosis)},
    {"type": "FlexOffer", "message_id": offer.message_id, "status": send(secret, "send_flex_offer", offer)},
]}
if forged:
    fake = DPrognosis(message_id=str(uuid4()), conversation_id=conversation, isp_duration="PT15M",
                      time_zone="Europe/Amsterdam", period=period, congestion_point=congestion_point, revision=2,
                      isps=[DPrognosisISP(power=1, start=1, duration=isp_count)])
    result["forged"] = {"message_id": fake.message_id, "status": send(forged, "send_d_prognosis", fake)}
print(json.dumps(result))

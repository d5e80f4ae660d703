"""The reference implementation's AGR service (shapeshifter-uftp) as a peer of our DSO.

Usage: uftp_agr_peer.py PORT AGR_DOMAIN AGR_SECRET_B64 DSO_DOMAIN DSO_PUBLIC_B64 DSO_ENDPOINT
Serves /shapeshifter/api/v3/message on 127.0.0.1:PORT and prints one JSON line per message it
receives from the DSO (type, result, rejection reason, referenced message id; an order's price
and powers; a settlement's orders), until killed. A FlexRequest is answered with a FlexOffer for
its requested ISPs (option "A", 12.50 EUR, -2000 W each, minimum activation factor 0.5), sent
through the reference client; a line {"offer_sent": MESSAGE_ID, "status": HTTP_STATUS} reports
it. A FlexOrder is accepted with a FlexOrderResponse ({"order_accepted": RESPONSE_ID, "order": ORDER_ID,
"status": …}). A FlexSettlement is answered with a FlexSettlementResponse disputing each order
({"settlement_disputed": RESPONSE_ID, "status": …})."""
import faulthandler
import logging
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

from shapeshifter_uftp import (
    FlexOffer, FlexOfferOption, FlexOfferOptionISP, FlexOrderResponse, FlexOrderSettlementStatus, FlexSettlementResponse,
    ShapeshifterAgrDsoClient, ShapeshifterAgrService,
)
from uftp_peer import describe, emit, lookups, send

port, agr_domain, secret, dso_domain, dso_public, dso_endpoint = sys.argv[1:7]
# SIGUSR1 prints every thread's stack to stderr: the test's watchdog asks before it kills.
faulthandler.register(signal.SIGUSR1, all_threads=True)


def report(message):
    line = describe(message)
    if type(message).__name__ == "FlexOrder":
        line.update(flex_offer_message_id=message.flex_offer_message_id, price=str(message.price),
                    powers=[isp.power for isp in message.isps], option_reference=message.option_reference,
                    order_reference=message.order_reference)
    if type(message).__name__ == "FlexRequest":
        line.update(dispositions=[{"disposition": getattr(isp.disposition, "value", isp.disposition), "start": isp.start,
                                   "duration": isp.duration or 1} for isp in message.isps])
    if type(message).__name__ == "FlexReservationUpdate":
        line.update(contract_id=message.contract_id, period=str(message.period),
                    powers=[{"start": isp.start, "power": isp.power} for isp in message.isps])
    if type(message).__name__ == "FlexSettlement":
        line.update(orders=[{"order_reference": order.order_reference, "net_settlement": str(order.net_settlement),
                             "ordered": ",".join(str(isp.ordered_flex_power) for isp in order.isps)}
                            for order in message.flex_order_settlements],
                    contracts=[{"contract_id": contract.contract_id, "periods": [str(period.period) for period in contract.periods],
                                "reserved": sorted({isp.reserved_power for period in contract.periods for isp in period.isps})}
                               for contract in message.contract_settlements])
    emit(line)


def expiration(request):
    """An hour from now, or when the request expires if sooner (the offer cannot outlive the ISPs)."""
    hour = datetime.now(timezone.utc) + timedelta(hours=1)
    expires = request.expiration_date_time
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    return min(hour, expires).isoformat(timespec="milliseconds")


def offer(request):
    """Answers a FlexRequest with an offer for its requested ISPs, in its conversation and version."""
    requested = [isp for isp in request.isps if getattr(isp.disposition, "value", isp.disposition) != "Available"]
    message = FlexOffer(message_id=str(uuid4()), conversation_id=request.conversation_id, isp_duration=request.isp_duration,
                        time_zone=request.time_zone, period=request.period, congestion_point=request.congestion_point,
                        expiration_date_time=expiration(request),
                        flex_request_message_id=request.message_id, currency="EUR",
                        offer_options=[FlexOfferOption(option_reference="A", price=Decimal("12.50"),
                                                       min_activation_factor=Decimal("0.5"),
                                                       isps=[FlexOfferOptionISP(power=-2000, start=isp.start, duration=isp.duration or 1)
                                                             for isp in requested])])
    send("offer_sent", client(request.version).send_flex_offer, message)


def accept(order):
    """Accepts an order (the reference service sends only rejections by itself)."""
    response = FlexOrderResponse(conversation_id=order.conversation_id, result="Accepted", flex_order_message_id=order.message_id)
    send("order_accepted", client(order.version).send_flex_order_response, response, order=order.message_id)


def dispute(settlement):
    """Disputes every order of a settlement, as an aggregator whose own metering differs."""
    response = FlexSettlementResponse(
        conversation_id=settlement.conversation_id, result="Accepted", flex_settlement_message_id=settlement.message_id,
        flex_order_settlement_statuses=[FlexOrderSettlementStatus(order_reference=order.order_reference, disposition="Disputed",
                                                                  dispute_reason="Our metering differs")
                                        for order in settlement.flex_order_settlements])
    send("settlement_disputed", client(settlement.version).send_flex_settlement_response, response)


def client(version):
    return ShapeshifterAgrDsoClient(sender_domain=agr_domain, signing_key=secret, recipient_domain=dso_domain,
                                    recipient_endpoint=dso_endpoint, version=version)


class Peer(ShapeshifterAgrService):
    def process_d_prognosis_response(self, message):
        report(message)

    def process_flex_offer_response(self, message):
        report(message)

    def process_flex_offer_revocation_response(self, message):
        report(message)

    def process_flex_request(self, message):
        report(message)
        # From another thread: the DSO's 200 for this request does not wait for the offer.
        threading.Thread(target=offer, args=(message,)).start()

    def process_flex_order(self, message):
        report(message)
        threading.Thread(target=accept, args=(message,)).start()

    # What a DSO or CRO may send an AGR: reported alike (the service requires every handler).
    process_agr_portfolio_query_response = process_d_prognosis_response
    process_agr_portfolio_update_response = process_d_prognosis_response
    process_flex_reservation_update = process_d_prognosis_response
    process_metering_response = process_d_prognosis_response

    def process_flex_settlement(self, message):
        report(message)
        threading.Thread(target=dispute, args=(message,)).start()


key_lookup, endpoint_lookup = lookups(dso_domain, dso_public, dso_endpoint)
service = Peer(sender_domain=agr_domain, signing_key=secret, key_lookup_function=key_lookup,
               endpoint_lookup_function=endpoint_lookup, host="127.0.0.1", port=int(port))
# Only these JSON lines on stdout (uvicorn logs each request there too).
logging.getLogger("uvicorn.access").disabled = True
emit({"listening": int(port)})
service.run()

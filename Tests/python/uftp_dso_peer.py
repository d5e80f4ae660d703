"""The reference implementation's DSO service (shapeshifter-uftp) as a peer of our AGR.

Usage: uftp_dso_peer.py PORT DSO_DOMAIN DSO_SECRET_B64 AGR_DOMAIN AGR_PUBLIC_B64 AGR_ENDPOINT VERSION PERIOD
Serves /shapeshifter/api/v3/message on 127.0.0.1:PORT and prints one JSON line per message it
receives from the AGR (type, result, rejection reason, referenced message id, conversation), until
killed. Once up it sends a FlexRequest for PERIOD (ISPs 40-41 requested, -5000..-1000 W), reported
as {"request_sent": MESSAGE_ID, "conversation_id": …, "status": HTTP_STATUS}. It answers as a DSO
does, through the reference client: a D-Prognosis, a FlexOffer and a FlexOfferRevocation are
accepted; an offer's option "A" is ordered as offered ({"order_sent": …}), and so is a revoked
offer's first option, after the revocation is accepted (which the AGR must refuse); an order the AGR
accepts is settled ({"settlement_sent": …, "order_reference": …}: price 6.25, penalty 1.25); the
settlement's answer is reported with each order's status, and then a reservation is released
({"reservation_sent": …}) and a TestMessage sent ({"test_sent": …})."""
import faulthandler
import logging
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

from shapeshifter_uftp import (
    ContractSettlement, ContractSettlementISP, ContractSettlementPeriod, DPrognosisResponse, FlexOfferResponse,
    FlexOfferRevocationResponse, FlexOrder, FlexOrderISP, FlexOrderSettlement, FlexOrderSettlementISP, FlexRequest,
    FlexRequestISP, FlexReservationUpdate, FlexReservationUpdateISP, FlexSettlement, ShapeshifterDsoAgrClient,
    ShapeshifterDsoService, TestMessage,
)
from uftp_peer import describe, emit, lookups, send

port, dso_domain, secret, agr_domain, agr_public, agr_endpoint, version, period = sys.argv[1:9]
faulthandler.register(signal.SIGUSR1, all_threads=True)
congestion_point = "ea1.2023-01.com.example.dso:cp-1"
orders = {}  # order message id -> the order sent
offers = {}  # offer message id -> the offer received


def report(message):
    line = describe(message)
    if type(message).__name__ == "FlexOffer":
        line.update(options=[{"reference": option.option_reference, "price": str(option.price),
                              "powers": [isp.power for isp in option.isps]} for option in message.offer_options])
    if type(message).__name__ == "FlexSettlementResponse":
        line.update(statuses=[{"order_reference": status.order_reference, "disposition": getattr(status.disposition, "value", status.disposition),
                               "dispute_reason": status.dispute_reason} for status in message.flex_order_settlement_statuses])
    if type(message).__name__ == "DPrognosis":
        line.update(isps=sum(isp.duration or 1 for isp in message.isps), revision=message.revision)
    emit(line)


def client():
    return ShapeshifterDsoAgrClient(sender_domain=dso_domain, signing_key=secret, recipient_domain=agr_domain,
                                    recipient_endpoint=agr_endpoint, version=version)


def request():
    expiration = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(timespec="milliseconds")
    message = FlexRequest(message_id=str(uuid4()), conversation_id=str(uuid4()), isp_duration="PT15M",
                          time_zone="Europe/Amsterdam", period=period, congestion_point=congestion_point, revision=1,
                          expiration_date_time=expiration,
                          isps=[FlexRequestISP(disposition="Requested", min_power=-5000, max_power=-1000, start=40, duration=2)])
    send("request_sent", client().send_flex_request, message)


def order(offer, reference="A"):
    option = next((option for option in offer.offer_options if option.option_reference == reference), None)
    if option is None:
        return
    message = FlexOrder(message_id=str(uuid4()), conversation_id=offer.conversation_id, isp_duration=offer.isp_duration,
                        time_zone=offer.time_zone, period=offer.period, congestion_point=offer.congestion_point,
                        flex_offer_message_id=offer.message_id, price=option.price, currency=offer.currency,
                        order_reference=str(uuid4()), option_reference=reference,
                        isps=[FlexOrderISP(power=isp.power, start=isp.start, duration=isp.duration) for isp in option.isps])
    orders[message.message_id] = message
    send("order_sent", client().send_flex_order, message)


def settle(order_id):
    sent = orders.get(order_id)
    if sent is None:
        return
    message = FlexSettlement(
        message_id=str(uuid4()), conversation_id=str(uuid4()), period_start=sent.period, period_end=sent.period,
        currency=sent.currency,
        flex_order_settlements=[FlexOrderSettlement(
            order_reference=sent.order_reference, period=sent.period, congestion_point=sent.congestion_point,
            price=Decimal("6.25"), penalty=Decimal("1.25"), net_settlement=Decimal("5.00"),
            isps=[FlexOrderSettlementISP(start=isp.start, duration=isp.duration, baseline_power=0, ordered_flex_power=isp.power,
                                         actual_power=isp.power + 200, delivered_flex_power=isp.power + 200, power_deficiency=200)
                  for isp in sent.isps])],
        contract_settlements=[ContractSettlement(contract_id="c-1", periods=[ContractSettlementPeriod(
            period=sent.period, isps=[ContractSettlementISP(start=40, reserved_power=-1000)])])])
    send("settlement_sent", client().send_flex_settlement, message, order_reference=sent.order_reference)


def release():
    """Releases a reservation and sends a TestMessage: the AGR answers both."""
    update = FlexReservationUpdate(message_id=str(uuid4()), conversation_id=str(uuid4()), isp_duration="PT15M",
                                   time_zone="Europe/Amsterdam", period=period, congestion_point=congestion_point,
                                   contract_id="c-1", reference="r-1", isps=[FlexReservationUpdateISP(power=0, start=40, duration=2)])
    send("reservation_sent", client().send_flex_reservation_update, update)
    test = TestMessage(message_id=str(uuid4()), conversation_id=str(uuid4()))
    send("test_sent", client()._send_message, test)


def accept(message, response_type, reference, send_method):
    response = response_type(conversation_id=message.conversation_id, result="Accepted", **{reference: message.message_id})
    send("accepted", getattr(client(), send_method), response, of=message.message_id)


class Peer(ShapeshifterDsoService):
    # Each answer from another thread: the AGR's 200 does not wait for it.
    def process_d_prognosis(self, message):
        report(message)
        threading.Thread(target=accept, args=(message, DPrognosisResponse, "d_prognosis_message_id",
                                               "send_d_prognosis_response")).start()

    def process_flex_offer(self, message):
        report(message)
        offers[message.message_id] = message

        def answer():
            accept(message, FlexOfferResponse, "flex_offer_message_id", "send_flex_offer_response")
            order(message)
        threading.Thread(target=answer).start()

    def process_flex_offer_revocation(self, message):
        report(message)

        def answer():
            accept(message, FlexOfferRevocationResponse, "flex_offer_revocation_message_id", "send_flex_offer_revocation_response")
            # Then orders the revoked offer all the same, as a faulty DSO would: it must be refused.
            revoked = offers.get(message.flex_offer_message_id)
            if revoked is not None:
                order(revoked, revoked.offer_options[0].option_reference)
        threading.Thread(target=answer).start()

    def process_flex_order_response(self, message):
        report(message)
        if getattr(message.result, "value", message.result) == "Accepted":
            threading.Thread(target=settle, args=(message.flex_order_message_id,)).start()

    def process_flex_request_response(self, message):
        report(message)

    def process_flex_settlement_response(self, message):
        report(message)
        threading.Thread(target=release).start()

    process_flex_reservation_update_response = process_flex_request_response
    process_test_message_response = process_flex_request_response
    process_dso_portfolio_query_response = process_flex_request_response
    process_dso_portfolio_update_response = process_flex_request_response
    process_metering = process_flex_request_response


key_lookup, endpoint_lookup = lookups(agr_domain, agr_public, agr_endpoint)
service = Peer(sender_domain=dso_domain, signing_key=secret, key_lookup_function=key_lookup,
               endpoint_lookup_function=endpoint_lookup, host="127.0.0.1", port=int(port))
logging.getLogger("uvicorn.access").disabled = True
service.run_in_thread()
emit({"listening": int(port)})
request()
service.server_thread.join()

"""The reference implementation (shapeshifter-uftp) as every counterparty of a platform playing
DSO and CRO: an aggregator (agr.example.com), another DSO (grid.example.com) and a CRO
(cro.example.com), each a reference service taking messages as they come (no serialising of its
own), each answering through the reference client.

Usage: uftp_conformance_peers.py ENDPOINT DOMAIN PUBLIC_B64 AGR_PORT AGR_SECRET GRID_PORT GRID_SECRET CRO_PORT CRO_SECRET VERSION

Prints one JSON line per message a peer receives ({"peer": …, "type": …, …}, as uftp_peer.describe,
with a D-PrognosisResponse's FlexOrderStatuses and an AGRPortfolioQueryResponse's portfolio), and
one per message a peer sends ({"step": NAME, "message_id": …, "status": HTTP_STATUS, "reason": …}).
First, each waiting for its response (60 s at most): grid declares cp-1 with c-1 and c-2 to the
platform's CRO (dso_update); agr queries its portfolio before it has one (early_query: no response
UFTP can express, so HTTP 400); then at once, the responses of each to arrive: a TestMessage
(test), tomorrow's D-Prognosis for cp-2, where it has no connections (prognosis_elsewhere), its
connection c-1 (agr_update) and a Metering (metering); then one after another tomorrow's portfolio
query (agr_query), grid's query of cp-1 (dso_query) and agr's D-Prognosis for cp-1 (prognosis,
1500 W). Then {"ready": true}, and it answers the DSO:
a FlexRequest with offers A (-2000 W on each requested ISP, 12.50 EUR, minimum factor 0.5) and B,
then B's revocation; a FlexOrder is accepted, then reflected in a D-Prognosis revision 2
(updated_prognosis); a FlexSettlement disputed; a FlexReservationUpdate accepted. The CRO accepts
a DSOPortfolioUpdate and answers a DSOPortfolioQuery with c-9 represented by agr.example.com.
Exits 1 if a response of the first part does not arrive."""
import faulthandler
import logging
import os
import signal
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4
from zoneinfo import ZoneInfo

from shapeshifter_uftp import (
    AgrPortfolioQuery, AgrPortfolioUpdate, AgrPortfolioUpdateConnection, DPrognosis, DPrognosisISP, DsoPortfolioQuery,
    DsoPortfolioQueryCongestionPoint, DsoPortfolioQueryConnection, DsoPortfolioQueryResponse, DsoPortfolioUpdate,
    DsoPortfolioUpdateCongestionPoint, DsoPortfolioUpdateConnection, DsoPortfolioUpdateResponse, FlexOffer, FlexOfferOption,
    FlexOfferOptionISP, FlexOfferRevocation, FlexOrderResponse, FlexOrderSettlementStatus, FlexReservationUpdateResponse,
    FlexSettlementResponse, Metering, MeteringISP, MeteringProfile, ShapeshifterAgrService, ShapeshifterCroService,
    ShapeshifterDsoService, TestMessage,
)
from shapeshifter_uftp.exceptions import ClientTransportException
from uftp_peer import describe, emit

(endpoint, domain, public, agr_port, agr_secret, grid_port, grid_secret, cro_port, cro_secret, version) = sys.argv[1:11]
logging.disable(logging.CRITICAL)
# SIGUSR1 prints every thread's stack to stderr: the test's watchdog asks before it kills.
faulthandler.register(signal.SIGUSR1, all_threads=True)
zone = "Europe/Amsterdam"
today = datetime.now(ZoneInfo(zone)).date()
tomorrow = today + timedelta(days=1)
midnights = [datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc) for d in (tomorrow, tomorrow + timedelta(days=1))]
isp_count = int((midnights[1] - midnights[0]).total_seconds() // 900)
answers = {}
arrived = threading.Condition()
prognosis_powers = {}


def ea(name):
    return f"ea1.2023-01.com.example.dso:{name}"


def received(peer, message):
    line = describe(message)
    line["peer"] = peer
    name = type(message).__name__
    if name == "DPrognosisResponse":
        line["flex_order_statuses"] = [{"flex_order_message_id": s.flex_order_message_id, "is_validated": s.is_validated}
                                       for s in message.flex_order_statuses]
    if name == "AgrPortfolioQueryResponse":
        line["congestion_points"] = [cp.entity_address for view in message.dso_views for p in view.dso_portfolios for cp in p.congestion_points]
    if name == "FlexRequest":
        line["dispositions"] = [getattr(isp.disposition, "value", isp.disposition) for isp in message.isps]
    emit(line)
    with arrived:
        # A TestMessageResponse names no message: its conversation does.
        answers[line["referenced_message_id"] or line["conversation_id"]] = line
        arrived.notify_all()


def send(step, client, message, wait=False):
    """Sends through the reference client; reports the HTTP status (and the body of a refusal)."""
    try:
        client._send_message(message)
        status, reason = 200, None
    except ClientTransportException as error:
        status, reason = error.response.status_code, error.response.text
    emit({"step": step, "message_id": message.message_id, "status": status, "reason": reason})
    key = message.conversation_id if isinstance(message, TestMessage) else message.message_id
    if wait and status == 200:
        with arrived:
            if not arrived.wait_for(lambda: key in answers, timeout=60):
                emit({"error": f"no response to {step}"})
                os._exit(1)


def lookups():
    return dict(key_lookup_function=lambda asked, role: public, endpoint_lookup_function=lambda asked, role: endpoint)


def in_thread(function, *args):
    # The platform's 200 does not wait for an answer: it goes from another thread.
    threading.Thread(target=function, args=args).start()


def accept(peer, step, client, message, response_type, reference):
    """Reports a message and accepts it with its plain response, from another thread."""
    received(peer, message)
    in_thread(send, step, client, response_type(conversation_id=message.conversation_id, result="Accepted",
                                                **{reference: message.message_id}))


class Agr(ShapeshifterAgrService):
    def process_flex_request(self, message):
        received("agr", message)
        in_thread(self.offer, message)

    def offer(self, request):
        requested = [isp for isp in request.isps if getattr(isp.disposition, "value", isp.disposition) == "Requested"]
        expires = datetime.now(timezone.utc) + timedelta(minutes=50)
        offers = [FlexOffer(message_id=str(uuid4()), conversation_id=request.conversation_id, isp_duration=request.isp_duration,
                            time_zone=request.time_zone, period=request.period, congestion_point=request.congestion_point,
                            expiration_date_time=expires.isoformat(timespec="milliseconds"), flex_request_message_id=request.message_id,
                            currency="EUR", offer_options=[FlexOfferOption(
                                option_reference=reference, price=Decimal("12.50"), min_activation_factor=Decimal("0.5"),
                                isps=[FlexOfferOptionISP(power=-2000, start=isp.start, duration=isp.duration or 1) for isp in requested])])
                  for reference in ("A", "B")]
        client = self.dso_client(domain, version=request.version)
        send("offer_a", client, offers[0], wait=True)
        send("offer_b", client, offers[1], wait=True)
        send("revocation", client, FlexOfferRevocation(conversation_id=request.conversation_id, flex_offer_message_id=offers[1].message_id),
             wait=True)

    def process_flex_order(self, message):
        received("agr", message)
        in_thread(self.accept_order, message)

    def accept_order(self, order):
        client = self.dso_client(domain, version=order.version)
        send("order_response", client, FlexOrderResponse(conversation_id=order.conversation_id, result="Accepted",
                                                         flex_order_message_id=order.message_id))
        powers = dict(prognosis_powers)
        for isp in order.isps:
            for number in range(isp.start, isp.start + (isp.duration or 1)):
                powers[number] += isp.power
        send("updated_prognosis", client, prognosis(2, powers), wait=True)

    def process_flex_settlement(self, message):
        received("agr", message)
        response = FlexSettlementResponse(
            conversation_id=message.conversation_id, result="Accepted", flex_settlement_message_id=message.message_id,
            flex_order_settlement_statuses=[FlexOrderSettlementStatus(order_reference=order.order_reference, disposition="Disputed",
                                                                      dispute_reason="Our metering differs")
                                            for order in message.flex_order_settlements])
        in_thread(send, "settlement_response", self.dso_client(domain, version=message.version), response)

    def process_flex_reservation_update(self, message):
        accept("agr", "reservation_response", self.dso_client(domain, version=message.version), message,
               FlexReservationUpdateResponse, "flex_reservation_update_message_id")

    def process_agr_portfolio_query_response(self, message):
        received("agr", message)

    process_agr_portfolio_update_response = process_agr_portfolio_query_response
    process_d_prognosis_response = process_agr_portfolio_query_response
    process_flex_offer_response = process_agr_portfolio_query_response
    process_flex_offer_revocation_response = process_agr_portfolio_query_response
    process_metering_response = process_agr_portfolio_query_response
    process_test_message_response = process_agr_portfolio_query_response


class Grid(ShapeshifterDsoService):
    def process_dso_portfolio_update_response(self, message):
        received("grid", message)

    process_dso_portfolio_query_response = process_dso_portfolio_update_response


class Cro(ShapeshifterCroService):
    def process_dso_portfolio_update(self, message):
        accept("cro", "cro_update_response", self.dso_client(domain, version=message.version), message,
               DsoPortfolioUpdateResponse, "dso_portfolio_update_message_id")

    def process_dso_portfolio_query(self, message):
        received("cro", message)
        response = DsoPortfolioQueryResponse(
            conversation_id=message.conversation_id, result="Accepted", dso_portfolio_query_message_id=message.message_id,
            time_zone=message.time_zone, period=message.period, congestion_point=DsoPortfolioQueryCongestionPoint(
                entity_address=message.entity_address,
                connections=[DsoPortfolioQueryConnection(entity_address=ea("c-9"), agr_domain="agr.example.com")]))
        in_thread(send, "cro_query_response", self.dso_client(domain, version=message.version), response)


# Only the handlers of what the platform sends are called.
for service_class in (Agr, Grid, Cro):
    service_class.__abstractmethods__ = frozenset()
agr = Agr(sender_domain="agr.example.com", signing_key=agr_secret, host="127.0.0.1", port=int(agr_port), **lookups())
grid = Grid(sender_domain="grid.example.com", signing_key=grid_secret, host="127.0.0.1", port=int(grid_port), **lookups())
cro = Cro(sender_domain="cro.example.com", signing_key=cro_secret, host="127.0.0.1", port=int(cro_port), **lookups())
for service in (agr, grid, cro):
    service.run_in_thread()


def prognosis(revision, powers, point="cp-1"):
    return DPrognosis(message_id=str(uuid4()), conversation_id=str(uuid4()), isp_duration="PT15M", time_zone=zone,
                      period=tomorrow.isoformat(), congestion_point=ea(point), revision=revision,
                      isps=[DPrognosisISP(power=powers[n], start=n, duration=1) for n in range(1, isp_count + 1)])


agr_cro, agr_dso = agr.cro_client(domain, version=version), agr.dso_client(domain, version=version)
send("dso_update", grid.cro_client(domain, version=version), DsoPortfolioUpdate(
    conversation_id=str(uuid4()), time_zone=zone, congestion_points=[DsoPortfolioUpdateCongestionPoint(
        entity_address=ea("cp-1"), start_period=today.isoformat(), mutex_offers_supported=False, day_ahead_redispatch_by="DSO",
        connections=[DsoPortfolioUpdateConnection(entity_address=ea(c), start_period=today.isoformat()) for c in ("c-1", "c-2")])]),
    wait=True)
send("early_query", agr_cro, AgrPortfolioQuery(conversation_id=str(uuid4()), time_zone=zone, period=today.isoformat()))
prognosis_powers.update({n: 1500 for n in range(1, isp_count + 1)})
# A burst of different kinds, as the aggregator of the issue sent: their answers are queued
# together, and the reference service refuses messages of kinds it has not read before that
# arrive at once (they must come one at a time).
burst = [
    ("test", agr_dso, TestMessage(conversation_id=str(uuid4()))),
    ("prognosis_elsewhere", agr_dso, prognosis(1, prognosis_powers, point="cp-2")),
    ("agr_update", agr_cro, AgrPortfolioUpdate(conversation_id=str(uuid4()), time_zone=zone, connections=[
        AgrPortfolioUpdateConnection(entity_address=ea("c-1"), start_period=today.isoformat())])),
    ("metering", agr_dso, Metering(
        conversation_id=str(uuid4()), revision=1, isp_duration="PT15M", time_zone=zone, currency="EUR", period=today.isoformat(),
        ean="E871685900012636543", profiles=[MeteringProfile(profile_type="Power", unit="kW",
                                                               isps=[MeteringISP(start=1, value=Decimal("1.5"))])])),
]
for name, client, message in burst:
    send(name, client, message)
with arrived:
    keys = [message.conversation_id if isinstance(message, TestMessage) else message.message_id for _, _, message in burst]
    if not arrived.wait_for(lambda: all(key in answers for key in keys), timeout=60):
        emit({"error": "not every message of the burst was answered"})
        os._exit(1)
send("agr_query", agr_cro, AgrPortfolioQuery(conversation_id=str(uuid4()), time_zone=zone, period=tomorrow.isoformat()), wait=True)
send("dso_query", grid.cro_client(domain, version=version), DsoPortfolioQuery(
    conversation_id=str(uuid4()), time_zone=zone, period=tomorrow.isoformat(), entity_address=ea("cp-1")), wait=True)
send("prognosis", agr_dso, prognosis(1, prognosis_powers), wait=True)
emit({"ready": True})
threading.Event().wait()

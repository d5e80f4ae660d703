import Foundation
import Sodium
import Testing
import TestSupport

/// The market on the real chain: simulated site (meter and BMS in one `meter-sim`, the site's
/// power following its BMS set-point) → `lightnode` → Mosquitto → `coordinator`. A day-ahead
/// session (requests, offers, clearing, the DSO rejecting one award, final outcome), a real-time
/// activation reaching the Light Node as a signed set-point with acknowledgements, alerts for
/// set-points the node refuses, and settlement from the node's certified readings.
@Suite(.serialized, .enabled(if: Faketime.available, "libfaketime is missing (Debian package faketime)"))
struct MarketEndToEndTests {
    static let pod = "IT001E00000077"
    static let location = "cp-1"

    struct Rig {
        let broker: MosquittoBroker
        let site: MeterSimulatorProcess
        let coordinator: CoordinatorProcess
        let agent: AgentProcess
        let tokens: [String: String]

        func call(_ method: String, _ path: String, as role: String, _ body: Any? = nil) throws -> (status: Int, json: Any?) {
            let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
            let answer = try coordinator.request(method, path, token: tokens[role], body: data)
            return (answer.status, try? JSONSerialization.jsonObject(with: answer.body))
        }
    }

    static func rig(clock: ShiftedClock) throws -> Rig {
        let broker = try MosquittoBroker()
        let site = try MeterSimulatorProcess(map: PublisherTests.map, arguments: ["--holding", "100-101", "--follow", "100"])
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [ingest]
            certify_within_s = 2
            interval_ms = 250
            [market]
            time_zone = "UTC"
            validation = "dso"
            real_time_lead_minutes = -15
            real_time_interval_s = 86400
            settlement_min_coverage = 0
            ack_timeout_s = 900  # generous: a loaded machine may deliver the node's acknowledgement late
            penalty_per_mw = 11
            \(clock.coordinatorSection)
            """)
        let setPointKey = SigningKey.generate()
        try setPointKey.write(toNewFile: coordinator.folder.file("setpoint.key"))
        let agent = try AgentProcess(meters: [.init(name: "main", link: .tcp(port: site.port!), map: PublisherTests.map)],
                                     intervalMs: 250, mqttPort: broker.port,
                                     extraConfig: SetPointTests.setPointsSection(trusting: [setPointKey.publicKey], bmsPort: site.port!))
        try coordinator.register(node: "ln-test", pod: pod, keyFile: agent.folder.file("node.key"))
        try coordinator.succeed(["pod", "set", "--pod", pod, "--aggregator", "agr-1", "--brp", "brp-1", "--congestion-point", location])
        try coordinator.succeed(["pod", "set", "--pod", "IT001E00000099", "--aggregator", "agr-2", "--congestion-point", location])
        var tokens: [String: String] = [:]
        for (name, role, participant) in [("DSO", "DSO", "dso-1"), ("TSO", "TSO", "tso-1"), ("AGR", "AGR", "agr-1"),
                                          ("AGR2", "AGR", "agr-2"), ("MO", "MO", nil), ("BRP", "BRP", "brp-1")] {
            tokens[name] = try coordinator.addToken(role: role, participant: participant)
        }
        return Rig(broker: broker, site: site, coordinator: coordinator, agent: agent, tokens: tokens)
    }

    static func utcDay(_ date: Date) -> String { String(date.ISO8601Format().prefix(10)) }

    @Test func aDayAheadSessionAndARealTimeActivationSettledFromCertifiedReadings() throws {
        // Two and a half minutes before a quarter hour: the real-time order below is for the ISP beginning then.
        let clock = ShiftedClock(secondsBeforeQuarterHour: 150)
        let rig = try Self.rig(clock: clock)
        defer { rig.site.stop() }
        try rig.coordinator.start()
        defer { rig.coordinator.stop() }
        try rig.agent.start(environment: clock.environment)
        defer { _ = rig.agent.stop() }
        let now = clock.now
        // The day-ahead session open now: the day after tomorrow's (tomorrow's closed at noon today, UTC).
        let today = Self.utcDay(now), tomorrow = Self.utcDay(now.addingTimeInterval(2 * 86_400))
        // The BRP's baselines (I-03): 1,500 W today; 30,000 W on the day-ahead session's day, which no set-point may reach.
        #expect(try rig.call("PUT", "/api/v1/pods/\(Self.pod)/baselines/\(today)", as: "BRP",
                             ["energy_wh": Array(repeating: 375.0, count: 96)]).status == 200)
        #expect(try rig.call("PUT", "/api/v1/pods/\(Self.pod)/baselines/\(tomorrow)", as: "BRP",
                             ["energy_wh": Array(repeating: 7500.0, count: 96)]).status == 200)

        // The day-ahead session: two requests, two offers, one refused offer.
        let isps: [[String: Any]] = [["start": 40, "duration": 2, "min_power": -1000, "max_power": -500]]
        let first = try rig.call("POST", "/api/v1/market/requests", as: "DSO", ["session": "day-ahead", "day": tomorrow, "id": "r1",
                                                                              "area": [Self.location], "isps": isps])
        #expect(first.status == 201, "\(first)")
        #expect(try rig.call("POST", "/api/v1/market/requests", as: "TSO", ["session": "day-ahead", "day": tomorrow, "id": "t1",
                                                                            "area": [Self.location], "isps": isps]).status == 201)
        func offer(_ id: String, _ price: Double, _ power: Int, pods: [String] = [Self.pod], session: String = "day-ahead",
                   day: String? = nil, isps: [[String: Any]]? = nil) -> [String: Any] {
            ["session": session, "day": day ?? tomorrow, "id": id, "location": Self.location, "price": price,
             "isps": isps ?? [["start": 40, "duration": 2, "power": power]], "pods": pods.map { ["pod": $0] }]
        }
        #expect(try rig.call("POST", "/api/v1/market/offers", as: "AGR", offer("o1", 10, -600)).status == 201)
        #expect(try rig.call("POST", "/api/v1/market/offers", as: "AGR", offer("o2", 20, -600)).status == 201)
        let foreign = try rig.call("POST", "/api/v1/market/offers", as: "AGR", offer("o3", 5, -600, pods: ["IT001E00000099"]))
        #expect(foreign.status == 400 && "\(foreign.json ?? "")".contains("not held by agr-1"))
        #expect(try rig.call("POST", "/api/v1/market/offers", as: "AGR", offer("o1", 10, -600)).status == 409)
        // Today's day-ahead gate closed yesterday at 12:00.
        let late = try rig.call("POST", "/api/v1/market/requests", as: "DSO", ["session": "day-ahead", "day": today, "area": [Self.location],
                                                                              "isps": isps])
        #expect(late.status == 400 && "\(late.json ?? "")".contains("gate closure"))

        // The market operator closes the gate: DSO first (o1, the cheaper; o2 is all-or-nothing and
        // would overshoot the 400 W left), then the TSO (o2).
        let cleared = try rig.call("POST", "/api/v1/market/sessions/day-ahead/\(tomorrow)/clear", as: "MO")
        #expect(cleared.status == 201, "\(cleared)")
        let round = try #require(cleared.json as? [String: Any])
        let dayAhead = try #require(round["id"] as? String)
        #expect(round["state"] as? String == "preliminary")
        let preliminary = try #require((round["preliminary"] as? [String: Any])?["awards"] as? [[String: Any]])
        #expect(preliminary.map { "\($0["request"]!) \($0["offer"]!) \($0["factor"]!)" } == ["dso-1:r1 agr-1:o1 100", "tso-1:t1 agr-1:o2 100"])
        #expect(try rig.call("POST", "/api/v1/market/offers", as: "AGR", offer("o4", 1, -100)).status == 400, "the gate is closed")
        // The DSO's technical platform rejects the TSO's award (I-07); the rest is final.
        let validated = try rig.call("PUT", "/api/v1/market/rounds/\(dayAhead)/validation", as: "DSO",
                                     ["rejected": [["award": 1, "reason": "voltage limit at node 7"]]])
        #expect(validated.status == 200, "\(validated)")
        let final = try #require((validated.json as? [String: Any])?["final"] as? [String: Any])
        #expect((final["awards"] as? [[String: Any]])?.map { $0["offer"] as? String } == ["agr-1:o1"])
        #expect(((final["rejected"] as? [[String: Any]])?.first?["reason"]) as? String == "voltage limit at node 7")
        #expect(try rig.call("PUT", "/api/v1/market/rounds/\(dayAhead)/validation", as: "DSO", ["rejected": []]).status == 409)
        let seenByOther = try rig.call("GET", "/api/v1/market/rounds/\(dayAhead)", as: "AGR2")
        #expect(((seenByOther.json as? [String: Any])?["final"] as? [String: Any])?["awards"] as? [Any] != nil)
        #expect((((seenByOther.json as? [String: Any])?["final"] as? [String: Any])?["awards"] as? [Any])?.isEmpty == true)

        // Ordering the day-ahead award: the node refuses 29,400 W (beyond its max_w): alerts.
        #expect(try rig.call("POST", "/api/v1/market/orders", as: "TSO", ["round": "\(dayAhead)", "award": 0]).status == 403)
        #expect(try rig.call("POST", "/api/v1/market/orders", as: "DSO", ["round": "\(dayAhead)", "award": 0]).status == 201)
        let refusedAlerts = waitUntil(timeoutSeconds: 180, pollMilliseconds: 250) {
            let order = try? rig.call("GET", "/api/v1/market/orders/\(dayAhead).0", as: "AGR").json as? [String: Any]
            let points = order?["setpoints"] as? [[String: Any]] ?? []
            return (order?["alerts"] as? [[String: Any]])?.count == 2 && !points.isEmpty && points.allSatisfy { $0["status"] as? String == "rejected" }
        }
        #expect(refusedAlerts, "\(rig.coordinator.log)")
        let refused = try rig.call("GET", "/api/v1/market/orders/\(dayAhead).0", as: "DSO").json as? [String: Any]
        let refusedPoints = refused?["setpoints"] as? [[String: Any]] ?? []
        #expect(refusedPoints.allSatisfy { $0["status"] as? String == "rejected" && $0["w"] as? Int == 29_400 }, "\(refusedPoints)")
        #expect((refused?["alerts"] as? [[String: Any]])?.allSatisfy { ($0["problem"] as? String)?.contains("out of limits") == true } == true)

        // Real-time: the next ISP that begins more than dispatch_lead_s (60 s) from now.
        let quarter = 900.0
        let start = ((clock.now.timeIntervalSince1970 + 75) / quarter).rounded(.up) * quarter
        let isp = Int((start - (start / 86_400).rounded(.down) * 86_400) / quarter) + 1
        let day = Self.utcDay(Date(timeIntervalSince1970: start))
        #expect(try rig.call("POST", "/api/v1/market/requests", as: "DSO", ["session": "real-time", "day": day, "id": "r-now", "area": [Self.location],
                                                                            "isps": [["start": isp, "min_power": -500, "max_power": -500]]]).status == 201)
        #expect(try rig.call("POST", "/api/v1/market/offers", as: "AGR",
                             offer("o-now", 5, 0, session: "real-time", day: day, isps: [["start": isp, "power": -500]])).status == 201)
        let realTime = try rig.call("POST", "/api/v1/market/sessions/real-time/\(day)/clear", as: "MO")
        #expect(realTime.status == 201, "\(realTime)")
        let roundID = try #require((realTime.json as? [String: Any])?["id"] as? String)
        #expect(try rig.call("PUT", "/api/v1/market/rounds/\(roundID)/validation", as: "DSO", ["rejected": []]).status == 200)
        let ordered = try rig.call("POST", "/api/v1/market/orders", as: "DSO", ["round": roundID, "award": 0])
        #expect(ordered.status == 201, "\(ordered)")
        let orderID = "\(roundID).0"
        // The node accepts and applies it (1,500 W baseline − 500 W: at most 1,000 W); the site follows.
        // (The ISP begins two and a half minutes after the start: the node applies it then.)
        // Up to four minutes past the ISP's start (a slow machine may have had to take the next quarter).
        let applied = waitUntil(timeoutSeconds: max(420, start - clock.now.timeIntervalSince1970 + 240), pollMilliseconds: 250) {
            let order = try? rig.call("GET", "/api/v1/market/orders/\(orderID)", as: "AGR").json as? [String: Any]
            return (order?["setpoints"] as? [[String: Any]])?.first?["status"] as? String == "applied"
        }
        #expect(applied, "\(rig.coordinator.log)")
        let setPoint = ((try rig.call("GET", "/api/v1/market/orders/\(orderID)", as: "DSO").json as? [String: Any])?["setpoints"] as? [[String: Any]])?.first
        #expect(setPoint?["w"] as? Int == 1000 && setPoint?["mode"] as? String == "max" && setPoint?["seq"] as? Int != nil)

        // Settlement from the certified readings: once the ISP's measure shows the site at 1,000 W.
        var settled: [String: Any] = [:]
        var answer = ""
        let delivered = waitUntil(timeoutSeconds: 300, pollMilliseconds: 500) {
            let response = try? rig.coordinator.get("/api/v1/market/orders/\(orderID)/settlement", token: rig.tokens["AGR"])
            answer = response.map { "\($0.status) " + String(decoding: $0.body, as: UTF8.self) } ?? ""
            guard let body = response?.body, let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let row = ((json["pods"] as? [[String: Any]])?.first?["isps"] as? [[String: Any]])?.first else { return false }
            settled = row
            return row["status"] as? String == "settled" && (row["delivered"] as? Int ?? 0) > 0
        }
        #expect(delivered, "\(answer)\n\(rig.coordinator.log)")
        let allocation = try #require(settled["allocation"] as? Int)
        #expect(settled["baseline"] as? Int == 1500 && settled["ordered"] as? Int == -500)
        #expect(settled["delivered"] as? Int == min(max(1500 - allocation, 0), 500))
        #expect(settled["deficiency"] as? Int == max(allocation - 1000, 0))
        // The same figures in the market operator's monthly CSV (I-15), and not in another aggregator's report.
        let month = String(day.prefix(7))
        let csv = try rig.coordinator.get("/api/v1/market/settlements/\(month)?format=csv", token: rig.tokens["MO"])
        #expect(csv.status == 200)
        #expect(String(decoding: csv.body, as: UTF8.self).contains("\(orderID),\(day),agr-1,\(Self.pod),\(isp),1500,-500,"))
        let other = try rig.call("GET", "/api/v1/market/settlements/\(month)", as: "AGR2").json as? [String: Any]
        #expect((other?["orders"] as? [Any])?.isEmpty == true)
    }
}

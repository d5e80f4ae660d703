import Foundation
import Sodium
import SQLite
import Testing
import TestSupport

/// The inputs that once took `coordinator serve` down for good, sent to the real program: each
/// is now refused with 400 naming the field while the process keeps serving; a book poisoned
/// behind the market's back is cleared at gate closure without the poison, every day of it.
@Suite(.serialized) struct HostileInputTests {
    static let pod = "IT001E00000042"
    static let days = ["2026-11-26", "2026-11-27"]

    static func config(clock: String) -> String {
        """
        [market]
        time_zone = "UTC"
        [clock]
        start = "\(clock)"
        """
    }

    @Test func hostileNumbersAreRefusedAndAPoisonedBookClearsAtGateClosure() throws {
        let broker = try MosquittoBroker()
        // Before both days' gate closures (12:00 UTC the day before).
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: Self.config(clock: "2026-11-25T08:00:00Z"))
        try coordinator.succeed(["node", "add", "--node", "ln-h", "--pod", Self.pod, "--key", Base64.encode(SigningKey.generate().publicKey.bytes)])
        try coordinator.succeed(["pod", "set", "--pod", Self.pod, "--aggregator", "agr-1", "--congestion-point", "cp-1"])
        let tokens = try ["DSO": coordinator.addToken(role: "DSO", participant: "dso-1"), "AGR": coordinator.addToken(role: "AGR", participant: "agr-1"),
                          "AGR2": coordinator.addToken(role: "AGR", participant: "agr-2"), "MO": coordinator.addToken(role: "MO")]
        try coordinator.start()
        defer { coordinator.stop() }
        func call(_ method: String, _ path: String, as role: String, _ body: String? = nil) throws -> (status: Int, text: String) {
            let answer = try coordinator.request(method, path, token: tokens[role], body: body.map { Data($0.utf8) })
            return (answer.status, String(decoding: answer.body, as: UTF8.self))
        }
        func offer(_ id: String, day: String, power: String = "-500", price: String = "10") -> String {
            #"{"session":"day-ahead","day":"\#(day)","id":"\#(id)","location":"cp-1","price":\#(price),"isps":[{"start":40,"power":\#(power)}],"pods":[{"pod":"\#(Self.pod)"}]}"#
        }
        func request(_ id: String, day: String, minPower: String = "-500") -> String {
            #"{"session":"day-ahead","day":"\#(day)","id":"\#(id)","area":["cp-1"],"isps":[{"start":40,"min_power":\#(minPower),"max_power":-500}]}"#
        }
        let day = Self.days[0]
        for (role, path, body, field) in [
            ("AGR", "/api/v1/market/offers", offer("x", day: day, power: "-9223372036854775808"), "isps[0].power"),
            ("AGR", "/api/v1/market/offers", offer("x", day: day, price: "1e308"), "price"),
            ("DSO", "/api/v1/market/requests", request("x", day: day, minPower: "-9223372036854775808"), "isps[0].min_power"),
        ] {
            let answer = try call("POST", path, as: role, body)
            #expect(answer.status == 400 && answer.text.contains(#""field":"\#(field)""#), "\(answer)")
        }
        let proof = try call("GET", "/api/v1/pods/\(Self.pod)/nodes/ln-h/readings/9223372036854775808/proof", as: "MO")
        #expect(proof.status == 400 && proof.text.contains(#""field":"seq""#), "\(proof)")
        let console = ConsoleBrowser(port: coordinator.httpPort)
        #expect(try console.login(token: tokens["MO"]!) == 303)
        #expect(try console.request("/console/fleet?page=92233720368547758").status == 400)
        #expect(try console.request("/console/nodes/ln-h/readings/9223372036854775808").status == 400)
        #expect(try console.request("/console/fleet").status == 200, "the console still serves")
        // Good entries on both days, and the process still up to take them.
        for (index, day) in Self.days.enumerated() {
            #expect(try call("POST", "/api/v1/market/requests", as: "DSO", request("r\(index)", day: day)).status == 201)
            #expect(try call("POST", "/api/v1/market/offers", as: "AGR", offer("o\(index)", day: day)).status == 201)
        }
        coordinator.stop()

        try Self.poison(coordinator.folder.file("scd.sqlite"))

        // Past both gate closures: the scheduler clears both days at its first tick, without the poison.
        var text = try String(contentsOfFile: coordinator.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "2026-11-25T08:00:00Z", with: "2026-11-26T12:00:05Z")
        try text.write(toFile: coordinator.configPath, atomically: true, encoding: .utf8)
        try coordinator.start()
        for (index, day) in Self.days.enumerated() {
            var round: [String: Any]?
            #expect(waitUntil(timeoutSeconds: 60) {
                let book = (try? call("GET", "/api/v1/market/days/\(day)", as: "MO")).flatMap { answer in
                    answer.status == 200 ? try? JSONSerialization.jsonObject(with: Data(answer.text.utf8)) as? [String: Any] : nil
                }
                round = (book?["rounds"] as? [[String: Any]])?.first { $0["session"] as? String == "day-ahead" }
                return round != nil
            }, "the round of \(day)")
            let final = round?["final"] as? [String: Any], preliminary = round?["preliminary"] as? [String: Any]
            #expect((final?["awards"] as? [[String: Any]])?.compactMap { $0["offer"] as? String } == ["agr-1:o\(index)"])
            #expect(Set((preliminary?["excluded"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? [])
                    == ["agr-1:min-\(day)", "agr-1:huge-\(day)", "agr-1:garbage-\(day)"])
        }
        #expect(try coordinator.get("/healthz").status == 200, "still serving")
        #expect(coordinator.log.contains("left out:"))
        // The market operator sees what was left out and why on the console; another aggregator does not.
        let operatorView = ConsoleBrowser(port: coordinator.httpPort)
        #expect(try operatorView.login(token: tokens["MO"]!) == 303)
        let page = try operatorView.request("/console/market/\(Self.days[1])").body
        #expect(page.contains("Left out of the clearing") && page.contains("offer agr-1:min-\(Self.days[1])") && page.contains("W is outside"), "\(page)")
        let stranger = ConsoleBrowser(port: coordinator.httpPort)
        #expect(try stranger.login(token: tokens["AGR2"]!) == 303)
        #expect(!(try stranger.request("/console/market/\(Self.days[1])").body.contains("agr-1:")))
        // The market operator takes a poisoned offer out, on record.
        let revoked = try call("DELETE", "/api/v1/market/offers/agr-1:min-\(Self.days[1])?reason=out%20of%20bounds", as: "MO")
        #expect(revoked.status == 200 && revoked.text.contains(#""by":"MO""#) && revoked.text.contains("out of bounds"), "\(revoked)")
    }

    /// The what-if tool on a book holding an out-of-bounds offer: refused naming the field, not a trap.
    @Test func theWhatIfToolRefusesAPoisonedBook() throws {
        let folder = TemporaryDirectory("clear")
        let book = folder.file("book.json")
        try #"{"requests":[{"id":"r","buyer":"DSO","area":["x"],"isps":[{"start":1,"min_power":-5,"max_power":-1}]}],"offers":[{"id":"o","aggregator":"a","location":"x","price":1,"isps":[{"start":1,"power":-9223372036854775808}]}]}"#
            .write(toFile: book, atomically: true, encoding: .utf8)
        let outcome = try Processes.run(Paths.executable("coordinator"), ["clear", "--input", book])
        #expect(outcome.status == 2 && outcome.stderr.contains("offers[0].isps[0].power"), "\(outcome.status) \(outcome.stderr)")
    }

    /// Offers no check of today's would take, written behind the market's back on both days.
    static func poison(_ file: String) throws {
        let database = try Connection(path: file, mode: .readWrite)
        for day in days {
            for (id, body) in [
                ("min-\(day)", storedOffer(id: "min-\(day)", day: day, power: "-9223372036854775808", price: "1")),
                ("huge-\(day)", storedOffer(id: "huge-\(day)", day: day, power: "-500", price: "1e308")),
                ("garbage-\(day)", #"{"entry":"#),
            ] {
                try database.prepare("INSERT INTO market_documents (kind, id, day, body) VALUES ('offer', ?, ?, ?)")
                    .bind(1, "agr-1:" + id).bind(2, day).bind(3, blob: Array(body.utf8)).run()
            }
        }
    }

    static func storedOffer(id: String, day: String, power: String, price: String) -> String {
        #"{"entry":{"id":"\#(id)","aggregator":"agr-1","location":"cp-1","price":\#(price),"isps":[{"start":40,"power":\#(power)}]},"#
            + #""session":"day-ahead","day":"\#(day)","pods":[{"pod":"\#(pod)"}],"submitted":0,"status":"open","awarded":0}"#
    }
}

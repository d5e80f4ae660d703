import Sodium
import Testing
import TestSupport
import UFTP
import UFTPTransport

/// The three lookups of UFTP discovery against a real DNS server (dnsmasq): the version's major
/// in the endpoint, both keys of a rotation, the CNAME's host; DNSSEC required by default (an
/// answer without the resolver's AD bit is not used); malformed publications refused, naming
/// the record.
@Suite struct DNSDiscoveryLookupTests {
    @Test func aParticipantIsReadFromItsThreeRecords() async throws {
        let old = SigningKey.generate().publicKey, new = SigningKey.generate().publicKey
        let dns = try DNSServer(
            txt: [("_usef.agr.example.com", "3.1.0"), ("_agr._usef.agr.example.com", "\(new.cs1) \(Base64.encode(old.bytes))"),
                  ("_usef.bad.example.com", "3.1.0"), ("_agr._usef.bad.example.com", "cs1.AAAA"),
                  ("_usef.three.example.com", "3.1.0"), ("_agr._usef.three.example.com", "\(new.cs1) \(new.cs1) \(new.cs1)")],
            cname: [("_http._agr._usef.agr.example.com", "uftp.agr.example.test"),
                    ("_http._agr._usef.bad.example.com", "uftp.agr.example.test"),
                    ("_http._agr._usef.three.example.com", "uftp.agr.example.test")],
            hosts: [("uftp.agr.example.test", "127.0.0.1")])
        let plain = DNSDiscovery(options: .init(server: ("127.0.0.1", dns.port), requireDNSSEC: false))
        let agr = try InternetDomain(validating: "agr.example.com")
        let found = try #require(try await plain.participant(domain: agr, role: .agr), "\(dns.log)")
        #expect(found.keys == [new, old])
        #expect(found.endpoint == "https://uftp.agr.example.test/shapeshifter/api/v3/message")

        let validating = DNSDiscovery(options: .init(server: ("127.0.0.1", dns.port)))
        let unsigned = await #expect(throws: DNSDiscovery.Failure.self) { try await validating.participant(domain: agr, role: .agr) }
        #expect(unsigned?.description.contains("not DNSSEC-validated") == true, "\(String(describing: unsigned))")

        for (domain, problem) in [("bad.example.com", "_agr._usef.bad.example.com TXT"), ("three.example.com", "one or two keys, not 3"),
                                  ("none.example.com", "_usef.none.example.com: ")] {
            let failure = await #expect(throws: DNSDiscovery.Failure.self) {
                try await plain.participant(domain: try InternetDomain(validating: domain), role: .agr)
            }
            #expect(failure?.description.contains(problem) == true, "\(String(describing: failure))")
        }
        // A role it does not publish.
        await #expect(throws: DNSDiscovery.Failure.self) { try await plain.participant(domain: agr, role: .dso) }
    }
}

import ConfigFile
import Foundation
import Sodium
import Testing
import TestSupport
import UFTP

@Suite struct ParticipantsFileTests {
    static func write(_ text: String) throws -> (TemporaryDirectory, String) {
        let folder = TemporaryDirectory()
        let path = folder.path + "/participants.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (folder, path)
    }

    @Test func participantsAreFoundByDomainAndRoleWithTheirRotationKeys() async throws {
        let old = SigningKey.generate().publicKey, new = SigningKey.generate().publicKey
        let (folder, path) = try Self.write("""
            [[participant]]
            domain = "agr.example.com"
            role = "AGR"
            endpoint = "https://agr.example.com/shapeshifter/api/v3/message"
            keys = ["\(old.cs1)", "\(new.base64)"]

            [[participant]]
            domain = "agr.example.com"
            role = "DSO"
            endpoint = "http://127.0.0.1:8080/shapeshifter/api/v3/message"
            keys = ["cs1.V4lZrkYHq8FzneXxUML+QEMXMul3tBm+gPGoVDIZBA92VoWTu8/kRu2Zx72XOm1i/qwwoSgXjqSAqSa43myCaQ=="]
            """)
        _ = folder
        let directory: any ParticipantDirectory = try ParticipantsFile(path: path)
        let agr = try #require(try await directory.participant(domain: InternetDomain(validating: "agr.example.com"), role: .agr))
        #expect(agr.keys == [old, new] && agr.endpoint.hasPrefix("https://agr.example.com/"))
        let dso = try #require(try await directory.participant(domain: InternetDomain(validating: "agr.example.com"), role: .dso))
        #expect(Hex.encode(dso.keys[0].bytes) == "578959ae4607abc1739de5f150c2fe40431732e977b419be80f1a8543219040f")
        #expect(try await directory.participant(domain: InternetDomain(validating: "agr.example.com"), role: .cro) == nil)
    }

    @Test func everyProblemIsReportedWithItsPlace() throws {
        let (folder, path) = try Self.write("""
            [[participant]]
            domain = "AGR.example.com"
            role = "BRP"
            endpoint = "ftp://agr.example.com"
            keys = ["cs1.AAAA", "\(SigningKey.generate().publicKey.base64)", "\(SigningKey.generate().publicKey.base64)"]
            colour = "blue"

            [[participant]]
            domain = "dso.example.com"
            role = "DSO"
            endpoint = "https://dso.example.com/shapeshifter/api/v3/message"
            keys = ["\(SigningKey.generate().publicKey.base64)"]

            [[participant]]
            domain = "dso.example.com"
            role = "DSO"
            endpoint = "https://dso.example.com/shapeshifter/api/v3/message"
            keys = ["\(SigningKey.generate().publicKey.base64)"]
            """)
        _ = folder
        let error = try #require(throws: ConfigError.self) { try ParticipantsFile(path: path) }
        let places = error.issues.map(\.path)
        for expected in ["participant[0].domain", "participant[0].role", "participant[0].endpoint", "participant[0].keys",
                         "participant[0].keys[0]", "participant[0].colour", "participant[2].domain"] {
            #expect(places.contains(expected), "\(expected) in \(error)")
        }
        #expect(error.description.contains("listed twice"))
    }
}

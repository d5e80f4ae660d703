import Foundation
import Sodium
import Testing
import TestSupport

@Suite struct SodiumTests {
    /// The Shapeshifter Java library's published test key pair (ShapeshifterSpringIntegrationTest);
    /// ../shared/anchors/uftp-samples/kat/ holds a message signed with it.
    static let katSecretKey = "4niUT8PXmRC5syAubh4lfvYM0Q83q/Clo/cb+Ey7frLQS41+XClbwutwyuw/kmtsHgbY34XrTOWtron8Nt7MVA=="
    static let katPublicKey = "0EuNflwpW8LrcMrsP5JrbB4G2N+F60zlra6J/DbezFQ="

    @Test(.enabled(if: Paths.sharedAvailable, "../shared is absent: known-answer vector skipped"))
    func combinedSignatureMatchesKnownAnswerByteForByte() throws {
        let folder = Paths.shared!.appendingPathComponent("anchors/uftp-samples/kat")
        let payload = try Data(contentsOf: folder.appendingPathComponent("TestMessage.payload.xml"))
        let signed = try String(contentsOf: folder.appendingPathComponent("TestMessage.signed.xml"), encoding: .utf8)
        let body = String(try #require(signed.firstMatch(of: #/Body="([^"]+)"/#)).1)
        let key = try SigningKey(base64: Self.katSecretKey)
        #expect(key.publicKey.base64 == Self.katPublicKey)
        #expect(Base64.encode(key.signCombined(Array(payload))) == body)
        #expect(key.publicKey.open(signedMessage: try Base64.decode(body)) == Array(payload))
    }

    @Test func detachedSignaturesVerifyOnlyUnderTheirKeyAndMessage() throws {
        let key = SigningKey.generate()
        let other = SigningKey.generate()
        let message = Array("set-point 1500 W".utf8)
        let signature = key.sign(message)
        #expect(key.publicKey.verify(signature, of: message))
        #expect(!other.publicKey.verify(signature, of: message))
        #expect(!key.publicKey.verify(signature, of: Array("set-point 1501 W".utf8)))
        var flipped = signature.bytes
        flipped[10] ^= 1
        #expect(!key.publicKey.verify(try Signature(bytes: flipped), of: message))
    }

    @Test func combinedModeRejectsTampering() {
        let key = SigningKey.generate()
        var sealed = key.signCombined(Array("<TestMessage/>".utf8))
        #expect(key.publicKey.open(signedMessage: sealed) == Array("<TestMessage/>".utf8))
        sealed[sealed.count - 2] ^= 0x20
        #expect(key.publicKey.open(signedMessage: sealed) == nil)
        #expect(key.publicKey.open(signedMessage: [1, 2, 3]) == nil)
    }

    @Test func sha256KnownAnswers() {
        #expect(SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func base64IsStrict() throws {
        #expect(Base64.encode(Array("hello".utf8)) == "aGVsbG8=")
        #expect(try Base64.decode("aGVsbG8=") == Array("hello".utf8))
        for bad in ["aGVsbG8", "aGVs bG8=", "aGVsbG8=x", "aGV-bG8=", "@@@@"] {
            #expect(throws: SodiumError.invalidBase64(what: "value")) { try Base64.decode(bad) }
        }
    }

    @Test func hexIsLowerCaseOnly() throws {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(try Hex.decode("00abff") == [0x00, 0xAB, 0xFF])
        #expect(throws: SodiumError.self) { try Hex.decode("00ABFF") }
        #expect(throws: SodiumError.self) { try Hex.decode("abc") }
    }

    @Test func publicKeysParseFromBase64AndCS1() throws {
        let key = SigningKey.generate().publicKey
        #expect(try PublicKey(parsing: key.base64) == key)
        #expect(try PublicKey(parsing: key.cs1) == key)
        #expect(throws: SodiumError.wrongLength(what: "Ed25519 public key", expected: 32, found: 3)) {
            try PublicKey(parsing: "AQID")
        }
    }

    @Test func signingKeyNeverPrintsItsSecret() throws {
        let key = try SigningKey(base64: Self.katSecretKey)
        let printed = "\(key) \(String(reflecting: key))"
        #expect(!printed.contains("4niUT8PX"))
        #expect(printed.contains(Self.katPublicKey))
    }
}

@Suite struct KeyFileTests {
    let folder = TemporaryDirectory("keys")

    @Test func writesMode0600AndReadsBack() throws {
        let path = folder.file("node.key")
        let key = SigningKey.generate()
        try key.write(toNewFile: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try SigningKey(contentsOfFile: path).publicKey == key.publicKey)
        #expect(throws: SodiumError.self) { try SigningKey.generate().write(toNewFile: path) }
        #expect(try SigningKey(contentsOfFile: path).publicKey == key.publicKey, "an existing key is never overwritten")
    }

    @Test func refusesKeysReadableByOthers() throws {
        let path = folder.file("open.key")
        try SigningKey.generate().write(toNewFile: path)
        for mode in [0o640, 0o604, 0o644] {
            chmod(path, mode_t(mode))
            #expect {
                try SigningKey(contentsOfFile: path)
            } throws: { error in
                "\(error)".contains("group or others") && "\(error)".contains("chmod 600")
            }
        }
    }

    @Test(arguments: [
        ("truncated", "4niUT8PXmRC5syAubh4lfvYM0Q83q/Clo/cb+Ey7frLQS41+", "holds 36 bytes"),
        ("garbage", "not a key at all!", "not base64"),
        ("empty", "", "holds 0 bytes"),
        // Seed of the KAT key with another public half: corrupt.
        ("mismatched", "4niUT8PXmRC5syAubh4lfvYM0Q83q/Clo/cb+Ey7frIAS41+XClbwutwyuw/kmtsHgbY34XrTOWtron8Nt7MVA==", "corrupt"),
    ])
    func rejectsMalformedKeyFiles(name: String, contents: String, expected: String) throws {
        let path = folder.file(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600])
        #expect {
            try SigningKey(contentsOfFile: path)
        } throws: { error in
            "\(error)".contains(expected) && "\(error)".contains(path)
        }
    }

    @Test func missingKeyFileIsNamed() {
        #expect {
            try SigningKey(contentsOfFile: folder.file("absent.key"))
        } throws: { error in
            "\(error)".contains("absent.key") && "\(error)".contains("No such file")
        }
    }
}

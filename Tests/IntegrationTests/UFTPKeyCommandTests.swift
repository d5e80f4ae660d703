import Foundation
import Sodium
import Testing
import TestSupport

/// `coordinator uftp key`: a key file of mode 0600 whose cs1 string is printed with the DNS
/// records that publish it, the previous key beside it during a rotation.
@Suite struct UFTPKeyCommandTests {
    @Test func aKeyIsMadeAndItsPublicationPrinted() throws {
        let folder = TemporaryDirectory()
        let coordinator = Paths.executable("coordinator")
        let first = try Processes.run(coordinator, ["uftp", "key", "--out", folder.file("old.key"), "--domain", "dso.example.com", "--role", "DSO"])
        #expect(first.status == 0)
        let old = try SigningKey(contentsOfFile: folder.file("old.key"))
        #expect(first.stdout.hasPrefix(old.publicKey.cs1 + "\n"))
        let mode = try FileManager.default.attributesOfItem(atPath: folder.file("old.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let second = try Processes.run(coordinator, ["uftp", "key", "--out", folder.file("new.key"), "--domain", "dso.example.com",
                                                     "--role", "DSO", "--previous", folder.file("old.key"), "--endpoint-host", "uftp.dso.example.com"])
        let new = try SigningKey(contentsOfFile: folder.file("new.key"))
        #expect(second.stdout.contains("_dso._usef.dso.example.com. IN TXT \"\(new.publicKey.cs1) \(old.publicKey.cs1)\""))
        #expect(second.stdout.contains("_http._dso._usef.dso.example.com. IN CNAME uftp.dso.example.com."))
        #expect(try PublicKey(parsing: new.publicKey.cs1) == new.publicKey)

        // An existing file is never overwritten; a bad domain or role is a usage error.
        #expect(try Processes.run(coordinator, ["uftp", "key", "--out", folder.file("new.key"), "--domain", "dso.example.com", "--role", "DSO"]).status != 0)
        #expect(try SigningKey(contentsOfFile: folder.file("new.key")).publicKey == new.publicKey)
        #expect(try Processes.run(coordinator, ["uftp", "key", "--out", folder.file("x.key"), "--domain", "DSO", "--role", "DSO"]).status == 2)
        #expect(try Processes.run(coordinator, ["uftp", "key", "--out", folder.file("x.key"), "--domain", "dso.example.com", "--role", "BRP"]).status == 2)
    }
}

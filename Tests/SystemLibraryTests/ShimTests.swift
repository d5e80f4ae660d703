import CLibXML2
import CModbus
import CMosquitto
import CSodium
import CSQLite
import Foundation  // alongside libxml2: the shim must avoid the ICU UErrorCode clash
import Testing

/// Each system-library shim imports, links and reaches its library.
@Suite struct ShimTests {
    @Test func libmodbusLinks() throws {
        let context = try #require(modbus_new_tcp("127.0.0.1", 1502))
        defer { modbus_free(context) }
        #expect(libmodbus_version_major >= 3)
    }

    @Test func libmosquittoLinks() {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        _ = mosquitto_lib_version(&major, &minor, &revision)
        #expect(major >= 2)
    }

    @Test func libsodiumLinks() {
        #expect(sodium_init() >= 0)
        #expect(crypto_sign_BYTES == 64)
    }

    @Test func libsqlite3Links() {
        #expect(sqlite3_libversion_number() >= 3_033_000)  // UPDATE … FROM, used by pruning
    }

    @Test func libxml2LinksWithoutICUClash() throws {
        let xml = "<a x=\"1\"/>"
        let document = try #require(xmlReadMemory(xml, Int32(xml.utf8.count), nil, nil, Int32(XML_PARSE_NONET.rawValue)))
        defer { xmlFreeDoc(document) }
        let root = try #require(xmlDocGetRootElement(document))
        #expect(String(cString: root.pointee.name) == "a")
    }
}

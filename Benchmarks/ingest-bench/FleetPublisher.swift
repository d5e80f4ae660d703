import Foundation
import Synchronization

/// The simulated fleet's side of the MQTT connection: PUBLISH packets at QoS 1 (MQTT 3.1.1)
/// written many to a system call, the broker's PUBACKs counted by a reader thread.
///
/// Why not libmosquitto, as the Light Node uses: the 100,000 nodes stand for boards elsewhere,
/// but here they share the machine's 2 cores with the broker and the coordinator under test, and
/// libmosquitto spends about eight system calls a message (0.42 of a core at 25,000/s, measured).
/// Writing the same packets in bulk leaves that CPU to the system under test; the broker sees the
/// same stream, one message per node topic, each acknowledged.
final class FleetPublisher: @unchecked Sendable {
    private let socket: Int32
    private let acknowledged = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)
    private var reader: Thread?
    private var sent = 0
    private var buffer: [UInt8] = []
    /// Unacknowledged messages at most: packet identifiers must stay unique while in flight.
    private static let window = 30_000

    init(port: Int, clientID: String) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(socket); throw POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED) }
        // CONNECT: protocol "MQTT" level 4, clean session, no keep-alive (the run is bounded).
        var packet: [UInt8] = [0x00, 0x04] + Array("MQTT".utf8) + [0x04, 0x02, 0x00, 0x00]
        Self.appendString(clientID, to: &packet)
        buffer = [0x10]
        Self.appendLength(packet.count, to: &buffer)
        buffer += packet
        try flush()
        var connack = [UInt8](repeating: 0, count: 4)
        guard recv(socket, &connack, 4, Int32(MSG_WAITALL)) == 4, connack[0] == 0x20, connack[3] == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
        let thread = Thread { [self] in countAcknowledgements() }
        thread.start()
        reader = thread
    }

    /// Queues one PUBLISH; it goes out with the next `flush()` (or when the buffer is full).
    func publish(topic: String, payload: [UInt8]) throws {
        while sent - acknowledged.load(ordering: .acquiring) >= Self.window {
            try flush()
            usleep(1000)  // a load generator waiting for the broker, not a test's synchronisation
        }
        sent += 1
        let packetID = UInt16(truncatingIfNeeded: (sent - 1) % 65_535 + 1)
        buffer.append(0x32)
        Self.appendLength(2 + topic.utf8.count + 2 + payload.count, to: &buffer)
        Self.appendString(topic, to: &buffer)
        buffer += [UInt8(packetID >> 8), UInt8(packetID & 0xFF)]
        buffer += payload
        if buffer.count >= 256 * 1024 { try flush() }
    }

    /// Writes out what is queued.
    func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { send(socket, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EPIPE) }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Waits until the broker acknowledged every message (at most `timeoutSeconds`), then closes.
    func stop(timeoutSeconds: Double = 600) {
        try? flush()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while acknowledged.load(ordering: .acquiring) < sent && Date() < deadline { usleep(10_000) }
        closed.store(true, ordering: .releasing)
        shutdown(socket, Int32(SHUT_RDWR))
        while reader?.isFinished == false { usleep(1000) }
        close(socket)
    }

    /// Reads the broker's packets in large chunks and counts the PUBACKs.
    private func countAcknowledgements() {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var pending: [UInt8] = []
        while !closed.load(ordering: .acquiring) {
            let count = recv(socket, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            pending += chunk[0..<count]
            var index = 0
            var acks = 0
            while index + 2 <= pending.count {
                // Fixed header: type byte, then the remaining length (1–4 bytes, 7 bits each).
                var length = 0, shift = 0, cursor = index + 1
                while cursor < pending.count, shift < 28 {
                    length |= Int(pending[cursor] & 0x7F) << shift
                    shift += 7
                    cursor += 1
                    if pending[cursor - 1] & 0x80 == 0 { break }
                }
                guard pending[cursor - 1] & 0x80 == 0, cursor + length <= pending.count else { break }
                if pending[index] == 0x40 { acks += 1 }
                index = cursor + length
            }
            pending.removeFirst(index)
            acknowledged.add(acks, ordering: .releasing)
        }
    }

    private static func appendLength(_ length: Int, to out: inout [UInt8]) {
        var rest = length
        repeat {
            var byte = UInt8(rest & 0x7F)
            rest >>= 7
            if rest > 0 { byte |= 0x80 }
            out.append(byte)
        } while rest > 0
    }

    private static func appendString(_ text: String, to out: inout [UInt8]) {
        let bytes = Array(text.utf8)
        out += [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)]
        out += bytes
    }
}

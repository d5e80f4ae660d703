import Foundation
import MQTT
import Synchronization
import Testing
import TestSupport

/// The libmosquitto wrapper against a real Mosquitto broker on loopback.
@Suite struct MQTTClientTests {
    @Test func publishCompletesOnAcknowledgementAndSubscribersReceive() throws {
        let broker = try MosquittoBroker()
        let received = Mutex<[String]>([])
        let subscriber = try MQTTClient(options: MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "sub"),
                                        subscriptions: ["test/#"], onMessage: { message in
            received.withLock { $0.append("\(message.topic)=\(String(decoding: message.payload, as: UTF8.self))") }
        })
        try subscriber.start()
        defer { subscriber.stop() }
        #expect(subscriber.waitForConnection(timeoutMs: 30_000))
        let publisher = try MQTTClient(options: MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "pub"))
        try publisher.start()
        defer { publisher.stop() }
        #expect(publisher.waitForConnection(timeoutMs: 30_000))
        // The subscription is made in the connect callback; wait until it delivers.
        #expect(waitUntil {
            (try? publisher.publish(topic: "test/ready", payload: Array("1".utf8)).wait(timeoutMs: 5000)) ?? false
                && received.withLock { $0.contains("test/ready=1") }
        })
        for index in 0..<200 {
            #expect(try publisher.publish(topic: "test/n", payload: Array(String(index).utf8)).wait(timeoutMs: 30_000))
        }
        #expect(waitUntil { received.withLock { $0.filter { $0.hasPrefix("test/n=") }.count } == 200 })
        #expect(received.withLock { $0.filter { $0.hasPrefix("test/n=") } } == (0..<200).map { "test/n=\($0)" })
    }

    @Test func reconnectsAfterTheBrokerRestarts() throws {
        let broker = try MosquittoBroker()
        var options = MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "node")
        options.keepaliveSeconds = 5
        let client = try MQTTClient(options: options)
        try client.start()
        defer { client.stop() }
        #expect(client.waitForConnection(timeoutMs: 30_000))
        broker.stop()
        #expect(waitUntil { !client.isConnected })
        try broker.start()
        #expect(client.waitForConnection(timeoutMs: 60_000), "no reconnect after the broker came back")
        #expect(try client.publish(topic: "after/restart", payload: [1]).wait(timeoutMs: 30_000))
    }

    /// A program stopping while its broker is gone must still exit: stop() returns, whatever the
    /// network thread is doing (a DISCONNECT that cannot be sent, a reconnect under way).
    @Test func stopReturnsWhileTheBrokerIsDown() throws {
        let broker = try MosquittoBroker()
        let client = try MQTTClient(options: MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "leaving"))
        try client.start()
        #expect(client.waitForConnection(timeoutMs: 30_000))
        broker.stop()
        #expect(waitUntil { !client.isConnected })
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            client.stop(graceMs: 1000)
            stopped.signal()
        }
        #expect(stopped.wait(timeout: .now() + 60) == .success, "stop() did not return with the broker down")
    }
}

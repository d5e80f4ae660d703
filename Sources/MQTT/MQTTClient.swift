#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CMosquitto
import Dispatch
import Synchronization

/// A failed libmosquitto call, naming what was attempted.
public struct MQTTError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let context: String

    public var description: String {
        let message = code == MOSQ_ERR_ERRNO.rawValue ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(code))
        return "\(context): \(message)"
    }

    static func check(_ code: Int32, _ context: @autoclosure () -> String) throws(MQTTError) {
        guard code == MOSQ_ERR_SUCCESS.rawValue else { throw MQTTError(code: code, context: context()) }
    }
}

/// How to reach and authenticate to a broker.
public struct MQTTOptions: Sendable {
    public struct Will: Sendable {
        public let topic: String
        public let payload: [UInt8]
        public let retain: Bool

        public init(topic: String, payload: [UInt8], retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.retain = retain
        }
    }

    public var host: String
    public var port: Int
    public var clientID: String
    public var keepaliveSeconds = 30
    public var username: String?
    /// Never logged; read from `password_file` by the caller.
    public var password: String?
    public var tlsCAFile: String?
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    public var will: Will?
    /// Published messages awaiting acknowledgement at once (MQTT "inflight" window).
    public var maxInflight = 20
    /// false: the broker keeps the session (subscriptions, queued QoS 1 messages) while offline.
    public var cleanSession = true

    public init(host: String, port: Int, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }
}

/// libmosquitto behind a small thread-safe API. libmosquitto's own network thread
/// (`mosquitto_loop_start`) connects, reconnects with back-off (1 s doubling to 30 s) and calls
/// back; the callbacks only touch state behind a Mutex, so they never race the caller.
public final class MQTTClient: Sendable {
    /// A message delivered on a subscribed topic.
    public struct Message: Sendable {
        public let topic: String
        public let payload: [UInt8]
    }

    /// State shared with libmosquitto's thread. `@unchecked Sendable`: every field is a Mutex,
    /// an Atomic or immutable.
    fileprivate final class Shared: @unchecked Sendable {
        struct Acks {
            /// Waiters by message id, resumed when the broker acknowledges (PUBACK).
            var waiting: [Int32: DispatchSemaphore] = [:]
            /// Acknowledgements that arrived before their publisher started waiting.
            var early: Set<Int32> = []
            /// Message ids whose waiter gave up: their late acknowledgement is dropped, never kept
            /// in `early` where it would pass for the acknowledgement of a later message reusing the id.
            var abandoned: Set<Int32> = []
        }

        let acks = Mutex(Acks())
        let connected = Atomic(false)
        /// Subscriptions of the current connection the broker has acknowledged (SUBACK).
        let subscribed = Atomic(0)
        let connections = Atomic(0)
        let connectionEvents = DispatchSemaphore(value: 0)
        /// Set by `stop()`; guards the first-connection retries so none starts the network thread after it.
        let stopped = Mutex(false)
        let onMessage: (@Sendable (Message) -> Void)?
        let onConnect: (@Sendable () -> Void)?
        let subscriptions: [String]

        init(onMessage: (@Sendable (Message) -> Void)?, onConnect: (@Sendable () -> Void)?, subscriptions: [String]) {
            self.onMessage = onMessage
            self.onConnect = onConnect
            self.subscriptions = subscriptions
        }
    }

    public let options: MQTTOptions
    // Used from any thread: libmosquitto's API is thread-safe with the threaded loop.
    nonisolated(unsafe) private let handle: OpaquePointer
    private let shared: Shared

    private static let libraryReady: Bool = mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue

    /// `subscriptions` (QoS 1) are made again on every (re)connect; `onMessage` and `onConnect`
    /// run on libmosquitto's thread and must not block.
    public init(options: MQTTOptions, subscriptions: [String] = [],
                onConnect: (@Sendable () -> Void)? = nil, onMessage: (@Sendable (Message) -> Void)? = nil) throws(MQTTError) {
        precondition(Self.libraryReady, "libmosquitto failed to initialise")
        self.options = options
        shared = Shared(onMessage: onMessage, onConnect: onConnect, subscriptions: subscriptions)
        guard let handle = mosquitto_new(options.clientID, options.cleanSession, Unmanaged.passUnretained(shared).toOpaque()) else {
            throw MQTTError(code: MOSQ_ERR_ERRNO.rawValue, context: "create MQTT client \(options.clientID)")
        }
        self.handle = handle
        do {
            try configure()
        } catch {
            mosquitto_destroy(handle)
            throw error
        }
    }

    private func configure() throws(MQTTError) {
        try MQTTError.check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311)), "set protocol")
        try MQTTError.check(mosquitto_max_inflight_messages_set(handle, UInt32(options.maxInflight)), "set inflight window")
        try MQTTError.check(mosquitto_reconnect_delay_set(handle, 1, 30, true), "set reconnect delay")
        if let username = options.username {
            try MQTTError.check(mosquitto_username_pw_set(handle, username, options.password), "set credentials")
        }
        if options.tlsCAFile != nil || options.tlsCertFile != nil {
            try MQTTError.check(mosquitto_tls_set(handle, options.tlsCAFile, nil, options.tlsCertFile, options.tlsKeyFile, nil),
                                "configure TLS (CA \(options.tlsCAFile ?? "-"), certificate \(options.tlsCertFile ?? "-"))")
        }
        if let will = options.will {
            try MQTTError.check(will.payload.withUnsafeBytes {
                mosquitto_will_set(handle, will.topic, Int32($0.count), $0.baseAddress, 1, will.retain)
            }, "set will on \(will.topic)")
        }
        mosquitto_connect_callback_set(handle) { handle, context, result in
            let shared = Unmanaged<Shared>.fromOpaque(context!).takeUnretainedValue()
            guard result == 0 else { return }
            shared.subscribed.store(0, ordering: .releasing)
            for topic in shared.subscriptions { mosquitto_subscribe(handle, nil, topic, 1) }
            shared.connected.store(true, ordering: .releasing)
            shared.connections.add(1, ordering: .releasing)
            shared.onConnect?()
            shared.connectionEvents.signal()
        }
        mosquitto_subscribe_callback_set(handle) { _, context, _, _, _ in
            let shared = Unmanaged<Shared>.fromOpaque(context!).takeUnretainedValue()
            shared.subscribed.add(1, ordering: .releasing)
            shared.connectionEvents.signal()
        }
        mosquitto_disconnect_callback_set(handle) { _, context, _ in
            let shared = Unmanaged<Shared>.fromOpaque(context!).takeUnretainedValue()
            shared.connected.store(false, ordering: .releasing)
            shared.subscribed.store(0, ordering: .releasing)
            shared.connectionEvents.signal()
        }
        mosquitto_publish_callback_set(handle) { _, context, mid in
            let shared = Unmanaged<Shared>.fromOpaque(context!).takeUnretainedValue()
            let waiter = shared.acks.withLock { acks -> DispatchSemaphore? in
                if let waiter = acks.waiting.removeValue(forKey: mid) { return waiter }
                if acks.abandoned.remove(mid) == nil { acks.early.insert(mid) }
                return nil
            }
            waiter?.signal()
        }
        mosquitto_message_callback_set(handle) { _, context, message in
            let shared = Unmanaged<Shared>.fromOpaque(context!).takeUnretainedValue()
            guard let message, let onMessage = shared.onMessage else { return }
            let payload = message.pointee.payload.map {
                Array(UnsafeRawBufferPointer(start: $0, count: Int(message.pointee.payloadlen)))
            } ?? []
            onMessage(Message(topic: String(cString: message.pointee.topic), payload: payload))
        }
    }

    deinit {
        mosquitto_destroy(handle)
    }

    /// Starts connecting in the background; reconnects by itself until `stop()`.
    /// A broker that is not up yet (the connection refused or unreachable) is not an error: the
    /// network thread keeps trying with back-off. Bad options and unknown host names are.
    public func start() throws(MQTTError) {
        let connected = mosquitto_connect_async(handle, options.host, Int32(options.port), Int32(options.keepaliveSeconds))
        guard connected != MOSQ_ERR_ERRNO.rawValue else {
            // libmosquitto's thread only reconnects a connection it once made: until the first
            // one succeeds, retry here with the same back-off.
            retryFirstConnection(afterSeconds: 1)
            return
        }
        try MQTTError.check(connected, "connect to \(options.host):\(options.port)")
        try MQTTError.check(mosquitto_loop_start(handle), "start the MQTT network thread")
    }

    private func retryFirstConnection(afterSeconds delay: Int) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(delay)) { [self] in
            let retryLater = shared.stopped.withLock { stopped -> Bool in
                guard !stopped else { return false }
                guard mosquitto_reconnect_async(handle) == MOSQ_ERR_SUCCESS.rawValue else { return true }
                _ = mosquitto_loop_start(handle)
                return false
            }
            if retryLater { retryFirstConnection(afterSeconds: min(delay * 2, 30)) }
        }
    }

    /// Disconnects cleanly (no will) and stops the network thread. The thread ends when the
    /// broker closes the connection on the DISCONNECT; a DISCONNECT that could not be sent (the
    /// client between connections) would leave it reconnecting for ever, and joining it would
    /// hang the program's exit, so after a grace period of `graceMs` the thread is cancelled.
    public func stop(graceMs: Int = 5000) {
        shared.stopped.withLock { $0 = true }
        var disconnected = false
        if mosquitto_disconnect(handle) == MOSQ_ERR_SUCCESS.rawValue {
            let deadline = DispatchTime.now() + .milliseconds(graceMs)
            while isConnected, shared.connectionEvents.wait(timeout: deadline) == .success {}
            disconnected = !isConnected
        }
        mosquitto_loop_stop(handle, !disconnected)
    }

    public var isConnected: Bool { shared.connected.load(ordering: .acquiring) }

    /// Connected, and the broker acknowledged every subscription of this connection: messages
    /// published from now on reach this client.
    public var isSubscribed: Bool {
        isConnected && shared.subscribed.load(ordering: .acquiring) >= shared.subscriptions.count
    }

    /// How many times a connection was made: changes on every reconnect.
    public var connectionCount: Int { shared.connections.load(ordering: .acquiring) }

    /// Waits until connected with every subscription acknowledged (`isSubscribed`), or until
    /// `timeoutMs` passes; true if so. A message published after this returns reaches the client:
    /// waiting for the CONNACK alone races the SUBACKs.
    public func waitForConnection(timeoutMs: Int) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMs)
        while !isSubscribed {
            if shared.connectionEvents.wait(timeout: deadline) == .timedOut { return isSubscribed }
        }
        return true
    }

    /// Publishes and returns a handle to wait for the broker's acknowledgement (QoS 1: PUBACK).
    public func publish(topic: String, payload: [UInt8], qos: Int32 = 1, retain: Bool = false) throws(MQTTError) -> Acknowledgement {
        var mid: Int32 = 0
        let semaphore = DispatchSemaphore(value: 0)
        try MQTTError.check(payload.withUnsafeBytes {
            mosquitto_publish(handle, &mid, topic, Int32($0.count), $0.baseAddress, qos, retain)
        }, "publish \(payload.count) bytes on \(topic)")
        shared.acks.withLock { acks in
            acks.abandoned.remove(mid)  // an id given up on 65,535 messages ago
            if acks.early.remove(mid) != nil { semaphore.signal() } else { acks.waiting[mid] = semaphore }
        }
        return Acknowledgement(mid: mid, semaphore: semaphore, shared: shared)
    }

    /// A published message's pending acknowledgement.
    public struct Acknowledgement: Sendable {
        public let mid: Int32
        fileprivate let semaphore: DispatchSemaphore
        fileprivate let shared: Shared

        /// True once the broker acknowledged; false on timeout, after which this acknowledgement
        /// is given up (the message may still be delivered later: libmosquitto retries it after
        /// a reconnect, so the caller publishes again and the receiver sees a duplicate).
        public func wait(timeoutMs: Int) -> Bool {
            if semaphore.wait(timeout: .now() + .milliseconds(timeoutMs)) == .success { return true }
            return shared.acks.withLock { acks in
                // Only the acknowledgement callback removes a waiter: if it is gone, the
                // acknowledgement raced the timeout and counts.
                guard acks.waiting.removeValue(forKey: mid) != nil else { return true }
                acks.abandoned.insert(mid)
                return false
            }
        }

        /// True if the broker has acknowledged by now; does not give up (a true result consumes it).
        public func poll() -> Bool {
            semaphore.wait(timeout: .now()) == .success
        }
    }
}

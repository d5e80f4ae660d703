import ConfigFile
import Sodium

/// How to reach an MQTT broker, as configured (`[mqtt]` of both programs, MQTT set-point targets).
public struct BrokerConfig: Sendable {
    public let host: String
    public let port: Int
    public let username: String?
    public let passwordFile: String?
    public let tlsCAFile: String?
    public let tlsCertFile: String?
    public let tlsKeyFile: String?
    public let keepaliveSeconds: Int

    /// Client options, with the password read from its file (never logged).
    public func options(clientID: String) throws(SodiumError) -> MQTTOptions {
        var options = MQTTOptions(host: host, port: port, clientID: clientID)
        options.keepaliveSeconds = keepaliveSeconds
        options.username = username
        options.password = try passwordFile.map { (file) throws(SodiumError) in
            String(decoding: try SecretFile.readLine(file), as: UTF8.self)
        }
        options.tlsCAFile = tlsCAFile
        options.tlsCertFile = tlsCertFile
        options.tlsKeyFile = tlsKeyFile
        return options
    }

    /// Reads the broker keys of a section (the caller rejects unknown keys): host, port, username,
    /// password_file, tls_ca_file, tls_cert_file, tls_key_file, keepalive_s.
    public static func load(_ section: ConfigSection, resolve: (String) -> String) -> BrokerConfig? {
        let host = section.string("host", required: false) ?? "127.0.0.1"
        let port = section.int("port", in: 1...65535, default: 1883)
        let username = section.string("username", required: false)
        let passwordFile = section.string("password_file", required: false).map(resolve)
        let caFile = section.string("tls_ca_file", required: false).map(resolve)
        let certFile = section.string("tls_cert_file", required: false).map(resolve)
        let keyFile = section.string("tls_key_file", required: false).map(resolve)
        let keepalive = section.int("keepalive_s", in: 5...3600, default: 30)
        if (certFile == nil) != (keyFile == nil) {
            section.problem(certFile == nil ? "tls_cert_file" : "tls_key_file", "tls_cert_file and tls_key_file go together")
        }
        guard let port, let keepalive else { return nil }
        return BrokerConfig(host: host, port: port, username: username, passwordFile: passwordFile,
                            tlsCAFile: caFile, tlsCertFile: certFile, tlsKeyFile: keyFile, keepaliveSeconds: keepalive)
    }
}

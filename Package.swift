// swift-tools-version:6.1
// Light Node (edge agent) and Coordinator (platform) for local energy-flexibility markets.
// Layout: docs/architecture.md; contracts: docs/ and ../shared/DESIGN.md. Dependencies point downward only;
// everything `lightnode` links stays free of SwiftNIO, Hummingbird and AsyncHTTPClient.
import PackageDescription

/// The operator console's templates and style sheet (Sources/OperatorConsole).
let consolePages = ["layout.mustache", "login.mustache", "message.mustache", "fleet.mustache", "node.mustache", "proof.mustache",
                    "market.mustache", "order.mustache", "settlement.mustache", "statements.mustache", "statement.mustache", "contracts.mustache", "pager.mustache", "congestion-index.mustache", "congestion.mustache",
                    "console.css"]

let package = Package(
    name: "lightnode",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lightnode", targets: ["LightNodeCLI"]),
        .executable(name: "meter-sim", targets: ["MeterSimCLI"]),
        .executable(name: "coordinator", targets: ["CoordinatorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // Platform side only (never linked by `lightnode`).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
    ],
    targets: [
        // System-library shims (module.modulemap + shim.h only).
        .systemLibrary(name: "CModbus", pkgConfig: "libmodbus", providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // glibc's DNS resolver (libresolv), for UFTP's DNS discovery.
        .systemLibrary(name: "CResolv"),

        // Values shared by both programs: Timestamp, identifiers, market calendar, Money, bounds, JSON.
        .target(name: "GridCore"),
        // Ed25519, SHA-256, base64 and key files over libsodium.
        .target(name: "Sodium", dependencies: ["CSodium"]),
        // Thin SQLite wrapper shared by the ledger and the SCD: one migrator, connections on queues of their own.
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // The append-only certified ledger (contract v1, docs/ledger-format.md) and its entry bodies.
        .target(name: "Ledger", dependencies: ["GridCore", "Sodium", "SQLite"]),
        // The MQTT contract (v1, docs/mqtt.md), one home for both programs (no NIO): readings messages,
        // signed set-points (made by the platform, checked by the node), acknowledgements.
        .target(name: "Wire", dependencies: ["GridCore", "Ledger", "Sodium"]),
        // TOML configuration files read with every problem reported at once, by key path.
        .target(name: "ConfigFile", dependencies: ["TOMLKit", "GridCore"]),
        // What both tools share on the command line: the exit statuses and how an error is reported.
        .target(name: "CommandLineSupport", dependencies: ["ConfigFile", "GridCore",
                                                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // libmodbus client, register maps, read planning and decoding.
        .target(name: "Modbus", dependencies: ["CModbus", "GridCore", "ConfigFile"]),
        // libmosquitto client: publish with PUBACK, subscribe, TLS, will, reconnect.
        .target(name: "MQTT", dependencies: ["CMosquitto", "ConfigFile", "Sodium"]),
        // The platform's certification log: RFC 6962 Merkle proofs, checkpoints, signed notes (pure).
        .target(name: "Certification", dependencies: ["Sodium", "Ledger", "GridCore"]),

        // UFTP (Shapeshifter 3.x): message model, XML codec on libxml2, CS1; no networking.
        .target(name: "UFTP", dependencies: ["GridCore", "Sodium", "ConfigFile", "CLibXML2"]),
        // UFTP over HTTP: the receiving endpoint and the sender over a durable queue (platform side only).
        .target(name: "UFTPTransport", dependencies: ["UFTP", "GridCore", "Sodium", "CResolv",
                                                      .product(name: "Hummingbird", package: "hummingbird"),
                                                      .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                                      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                                      .product(name: "Logging", package: "swift-log")]),
        // Shared Customer Database: records, the role protocols of its store, sealing, compact raw
        // blocks, schema; no backend.
        .target(name: "SCD", dependencies: ["GridCore", "Sodium", "SQLite", "Ledger", "Certification", "CZlib"]),
        // The embedded backend: one SQLite file, its connections off the cooperative thread pool.
        .target(name: "SCDSQLite", dependencies: ["SCD", "GridCore", "Sodium", "SQLite", "Ledger", "Certification"]),
        // The PostgreSQL backend (the only module linking PostgresNIO); several coordinators share one.
        .target(
            name: "SCDPostgres",
            dependencies: ["SCD", "GridCore", "Sodium", "Ledger", "Certification",
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // The flexibility market's rules (pure): sessions, clearing, validation, per-POD split, settlement.
        .target(name: "Market", dependencies: ["GridCore"]),
        // Readings ingest: the broker subscription, verification and certification, quarter-hour
        // measures, and the certification log service.
        .target(
            name: "ReadingsIngest",
            dependencies: ["GridCore", "Sodium", "Ledger", "Wire", "Certification", "SCD", "MQTT", "ConfigFile",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // The platform as a UFTP participant: responder, actions, Common Reference (CRO), exchange;
        // reaches the market only through its `UFTPMarket` port.
        .target(
            name: "UFTPGateway",
            dependencies: ["GridCore", "Sodium", "SCD", "UFTP", "UFTPTransport", "ConfigFile",
                           .product(name: "Logging", package: "swift-log")]
        ),
        // The market as a service: book, clearing rounds, dispatch as set-points, acknowledgements,
        // settlement and notifications; speaks UFTP through the gateway's actions.
        .target(
            name: "MarketOperations",
            dependencies: ["GridCore", "Sodium", "Ledger", "Market", "SCD", "Wire", "MQTT", "ConfigFile", "UFTP", "UFTPGateway",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // REST under /api/v1: request context, token and session authentication, role checks, resources.
        .target(
            name: "PlatformAPI",
            dependencies: ["GridCore", "Sodium", "Ledger", "Certification", "SCD", "Market", "UFTP", "ReadingsIngest",
                           "MarketOperations", "UFTPGateway",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Logging", package: "swift-log")],
            // Compiled in: an installed program has no resource bundle beside it.
            resources: [.embedInCode("openapi.yaml")]
        ),
        // The operator console under /console: pages, templates, SVG charts.
        .target(
            name: "OperatorConsole",
            dependencies: ["GridCore", "Sodium", "Ledger", "Certification", "SCD", "Market", "UFTP", "ReadingsIngest",
                           "MarketOperations", "PlatformAPI",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Mustache", package: "swift-mustache"),
                           .product(name: "MultipartKit", package: "multipart-kit"),
                           .product(name: "Logging", package: "swift-log")],
            resources: consolePages.map { .embedInCode($0) }
        ),
        // The coordinator: configuration (each section read by the module it configures) and wiring.
        .target(
            name: "Coordinator",
            dependencies: ["GridCore", "Sodium", "SCD", "SCDSQLite", "SCDPostgres", "ConfigFile", "UFTP", "ReadingsIngest", "UFTPGateway", "MarketOperations",
                           "PlatformAPI", "OperatorConsole",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "CoordinatorCLI",
            dependencies: ["Coordinator", "ReadingsIngest", "UFTPGateway", "MarketOperations", "PlatformAPI", "OperatorConsole", "SCD", "Sodium", "GridCore", "ConfigFile", "UFTP", "Market",
                           "CommandLineSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // A Modbus meter/BMS simulator with fault injection (tests, demos, installers).
        .target(name: "MeterSimulator", dependencies: ["CModbus", "Modbus", "GridCore", "ConfigFile"]),
        .executableTarget(
            name: "MeterSimCLI",
            dependencies: ["MeterSimulator", "Modbus", "ConfigFile", "GridCore",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // The agent: configuration, acquisition loop, outbox publisher, set-point controller and targets.
        .target(
            name: "LightNode",
            dependencies: ["GridCore", "Sodium", "Ledger", "Wire", "Modbus", "MQTT", "ConfigFile",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "LightNodeCLI",
            dependencies: [
                "GridCore", "Sodium", "Ledger", "Modbus", "ConfigFile", "LightNode", "CommandLineSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks (run with -c release; results in docs/benchmarks.md).
        .target(name: "CBaseline", dependencies: ["CSodium", "CSQLite", "CModbus"], path: "Benchmarks/CBaseline"),
        .executableTarget(
            name: "ledger-bench",
            dependencies: ["Ledger", "Sodium", "SQLite", "GridCore", "CBaseline"],
            path: "Benchmarks/ledger-bench"
        ),

        .executableTarget(
            name: "modbus-bench",
            dependencies: ["Modbus", "ConfigFile", "GridCore", "CBaseline"],
            path: "Benchmarks/modbus-bench"
        ),

        .executableTarget(
            name: "mqtt-bench",
            dependencies: ["LightNode", "Ledger", "MQTT", "Sodium", "GridCore", "TestSupport", "Wire",
                           .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/mqtt-bench"
        ),

        .executableTarget(
            name: "ingest-bench",
            dependencies: ["SCD", "SCDSQLite", "SCDPostgres", "Certification", "Ledger", "Sodium", "GridCore", "TestSupport",
                           .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/ingest-bench"
        ),

        .executableTarget(
            name: "uftp-bench",
            dependencies: ["UFTP", "UFTPTransport", "SCD", "SCDSQLite", "SCDPostgres", "Sodium", "GridCore", "TestSupport",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/uftp-bench"
        ),

        .executableTarget(name: "market-bench", dependencies: ["Market", "GridCore", "TestSupport"], path: "Benchmarks/market-bench"),
        .executableTarget(
            name: "settlement-bench",
            dependencies: ["Coordinator", "ReadingsIngest", "MarketOperations", "PlatformAPI", "OperatorConsole", "Market", "SCD", "SCDSQLite", "SCDPostgres", "GridCore", "Ledger", "Sodium", "TestSupport",
                           .product(name: "Logging", package: "swift-log"), .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            path: "Benchmarks/settlement-bench"
        ),

        // libFuzzer targets over the parsers of every external input (scripts/fuzz.sh builds it with
        // --sanitize fuzzer; built plainly, it does nothing).
        .executableTarget(
            name: "fuzz-parsers",
            dependencies: ["ConfigFile", "GridCore", "Ledger", "LightNode", "Market", "Modbus", "Sodium", "UFTP", "Wire"],
            path: "Fuzz/fuzz-parsers"
        ),

        // A process that appends to a ledger until it is killed: the crash-safety tests' victim.
        .executableTarget(
            name: "ledger-append-loop",
            dependencies: ["Ledger", "Sodium", "GridCore"],
            path: "Tests/Fixtures/ledger-append-loop"
        ),

        // Shared test fixtures: built executables, processes with timeouts, the Python venv, shared/.
        .target(name: "TestSupport", dependencies: ["Ledger", "Sodium", "SQLite", "GridCore", "UFTP", "CLibXML2"], path: "Tests/TestSupport"),

        // Both SCD backends for any test suite: a SQLite file or a PostgreSQL server of the test's own.
        .target(name: "SCDTesting", dependencies: ["SCD", "SCDSQLite", "SCDPostgres", "TestSupport",
                                                   .product(name: "Logging", package: "swift-log")], path: "Tests/SCDTesting"),

        .testTarget(name: "UFTPTests", dependencies: ["UFTP", "Sodium", "GridCore", "TestSupport", "CLibXML2"]),
        .testTarget(name: "UFTPTransportTests", dependencies: ["UFTPTransport", "UFTP", "Sodium", "GridCore", "TestSupport"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CModbus", "CMosquitto", "CSodium", "CSQLite", "CLibXML2"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Ledger", "Sodium", "GridCore"]),
        .testTarget(name: "GridCoreTests", dependencies: ["GridCore", "TestSupport"]),
        .testTarget(name: "MarketTests", dependencies: ["Market", "GridCore", "TestSupport"]),
        .testTarget(name: "SodiumTests", dependencies: ["Sodium", "TestSupport"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Sodium", "SQLite", "GridCore", "TestSupport"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT", "TestSupport"]),
        .testTarget(name: "CertificationTests", dependencies: ["Certification", "Sodium", "Ledger", "GridCore", "TestSupport"]),
        .testTarget(name: "ModbusTests", dependencies: ["Modbus", "ConfigFile", "TestSupport"]),
        .testTarget(name: "LightNodeTests", dependencies: ["LightNode", "Wire", "Modbus", "ConfigFile", "GridCore", "Sodium", "Ledger", "TestSupport"]),
        .testTarget(name: "SCDTests", dependencies: ["SCD", "SCDSQLite", "SCDPostgres", "Certification", "GridCore", "Ledger", "Sodium", "SQLite", "TestSupport", "SCDTesting", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: ["Coordinator", "ReadingsIngest", "UFTPGateway", "MarketOperations", "PlatformAPI", "OperatorConsole", "SCD", "SCDSQLite", "SCDPostgres", "Certification", "GridCore", "Ledger", "Sodium", "TestSupport", "SCDTesting", "Wire", "Market",
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "Logging", package: "swift-log"), "UFTP", "UFTPTransport"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Ledger", "Sodium", "SQLite", "GridCore", "Modbus", "MQTT", "UFTP", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

import Configuration
import Contracts
import Foundation
import Logging

/// A configuration value that is set but unusable. The process refuses to start rather than guess.
package struct ConfigurationError: Error, CustomStringConvertible {
    package let variable: String
    package let value: String
    package let expected: String

    package var description: String { "\(variable)=\(value) is not valid: expected \(expected)" }
}

/// Where one backend service answers and publishes.
package struct ServiceEndpoints: Sendable, Equatable {
    /// The address peers connect to for requests (`*_RPC`).
    package var rpc: String
    /// The address the service binds for requests (`*_BIND`, default `rpc`).
    package var rpcBind: String
    /// The address peers subscribe to for events (`*_EVENTS`).
    package var events: String
    /// The address the service binds for events (`*_EVENTS_BIND`, default `events`).
    package var eventsBind: String
}

/// The whole stack's configuration (CONTRACT §2). Every process reads the same variables, so one
/// environment describes the whole stack.
package struct StackConfiguration: Sendable {
    package var gatewayHost: String
    package var gatewayPort: Int
    package var dataDirectory: String
    package var endpoints: [ServiceName: ServiceEndpoints]
    package var holdSeconds: Double
    package var maxHoldsPerUser: Int
    package var queueAdmitPerSecond: Int
    package var queueMaxActive: Int
    package var queueActiveSeconds: Double
    package var queueIdleSeconds: Double
    package var adminToken: String?
    package var seedDemo: Bool
    package var logLevel: Logger.Level
    /// `LOG_FORMAT`: `text` (the default) or `json`, one object a line.
    package var logFormat: LogFormat
    /// `TRACE_EXPORTER`: `none` (the default) or `otlp`.
    package var traceExporter: TraceExporter

    package func endpoints(of service: ServiceName) -> ServiceEndpoints {
        // Every case is filled in by `init(reader:)`.
        endpoints[service]!
    }

    /// The SQLite file a service owns: `<DATA_DIR>/<service>.sqlite`.
    package func databasePath(of service: ServiceName) -> String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("\(service.rawValue).sqlite").path
    }

    /// Reads the process environment.
    package static func fromEnvironment() throws(ConfigurationError) -> StackConfiguration {
        try StackConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider()))
    }

    /// Reads from any provider; tests pass an `EnvironmentVariablesProvider(environmentVariables:)`.
    package init(reader: ConfigReader) throws(ConfigurationError) {
        let values = Values(reader: reader)
        gatewayHost = try values.string("gateway.host", default: "127.0.0.1")
        gatewayPort = try values.int("gateway.port", default: 8080, in: 0...65535)
        dataDirectory = try values.string("data.dir", default: "./data")
        var endpoints: [ServiceName: ServiceEndpoints] = [:]
        for service in ServiceName.allCases {
            let name = service.rawValue
            let rpc = try values.string("\(name).rpc", default: "tcp://127.0.0.1:\(service.defaultRPCPort)")
            let events = try values.string("\(name).events", default: "tcp://127.0.0.1:\(service.defaultEventsPort)")
            endpoints[service] = ServiceEndpoints(
                rpc: rpc,
                rpcBind: try values.string("\(name).bind", default: rpc),
                events: events,
                eventsBind: try values.string("\(name).events.bind", default: events)
            )
        }
        self.endpoints = endpoints
        holdSeconds = try values.double("hold.seconds", default: 300, above: 0)
        maxHoldsPerUser = try values.int("max.holds.per.user", default: 4, in: 1...1000)
        queueAdmitPerSecond = try values.int("queue.admit.per.second", default: 50, in: 1...1_000_000)
        queueMaxActive = try values.int("queue.max.active", default: 500, in: 1...10_000_000)
        queueActiveSeconds = try values.double("queue.active.seconds", default: 600, above: 0)
        queueIdleSeconds = try values.double("queue.idle.seconds", default: 120, above: 0)
        let admin = try values.string("admin.token", default: "")
        adminToken = admin.isEmpty ? nil : admin
        seedDemo = try values.bool("seed.demo", default: true)
        let level = try values.string("log.level", default: "info").lowercased()
        guard let parsed = Logger.Level(rawValue: level) else {
            throw ConfigurationError(variable: "LOG_LEVEL", value: level,
                                     expected: "one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsed
        logFormat = try values.choice("log.format", default: .text)
        traceExporter = try values.choice("trace.exporter", default: .none)
    }
}

/// Reads typed values, failing loudly on a value that is set but malformed
/// (swift-configuration alone would fall back to the default).
private struct Values {
    let reader: ConfigReader

    func variable(_ key: String) -> String {
        key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    func raw(_ key: String) -> String? {
        reader.string(forKey: ConfigKey(stringLiteral: key))?.trimmingCharacters(in: .whitespaces)
    }

    func string(_ key: String, default value: String) throws(ConfigurationError) -> String {
        guard let raw = raw(key) else { return value }
        guard !raw.isEmpty || key == "admin.token" else {
            throw ConfigurationError(variable: variable(key), value: raw, expected: "a non-empty value")
        }
        return raw
    }

    func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let raw = raw(key) else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw ConfigurationError(variable: variable(key), value: raw, expected: "a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    func double(_ key: String, default value: Double, above minimum: Double) throws(ConfigurationError) -> Double {
        guard let raw = raw(key) else { return value }
        guard let parsed = Double(raw), parsed.isFinite, parsed > minimum else {
            throw ConfigurationError(variable: variable(key), value: raw, expected: "a number above \(minimum)")
        }
        return parsed
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, default value: Choice) throws(ConfigurationError) -> Choice
    where Choice.RawValue == String {
        guard let raw = raw(key) else { return value }
        guard let chosen = Choice(rawValue: raw.lowercased()) else {
            throw ConfigurationError(variable: variable(key), value: raw,
                                     expected: "one of " + Choice.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return chosen
    }

    func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = raw(key) else { return value }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ConfigurationError(variable: variable(key), value: raw, expected: "1 or 0")
        }
    }
}

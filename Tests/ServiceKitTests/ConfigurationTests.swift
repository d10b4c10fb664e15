import Configuration
import Contracts
import Testing
@testable import ServiceKit

@Suite("Configuration from the environment (CONTRACT §2)")
struct ConfigurationTests {
    func load(_ environment: [String: String]) throws(ConfigurationError) -> StackConfiguration {
        try StackConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)))
    }

    @Test("an empty environment gives the contract's defaults")
    func defaults() throws {
        let configuration = try load([:])
        #expect(configuration.gatewayHost == "127.0.0.1")
        #expect(configuration.gatewayPort == 8080)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.databasePath(of: .concert).hasSuffix("data/concert.sqlite"))
        #expect(configuration.endpoints(of: .queue) == ServiceEndpoints(
            rpc: "tcp://127.0.0.1:7101", rpcBind: "tcp://127.0.0.1:7101",
            events: "tcp://127.0.0.1:7102", eventsBind: "tcp://127.0.0.1:7102"))
        #expect(configuration.endpoints(of: .concert).rpc == "tcp://127.0.0.1:7201")
        #expect(configuration.endpoints(of: .reservation).events == "tcp://127.0.0.1:7302")
        #expect(configuration.endpoints(of: .payment).rpc == "tcp://127.0.0.1:7401")
        #expect(configuration.holdSeconds == 300)
        #expect(configuration.maxHoldsPerUser == 4)
        #expect(configuration.queueAdmitPerSecond == 50)
        #expect(configuration.queueMaxActive == 500)
        #expect(configuration.queueActiveSeconds == 600)
        #expect(configuration.queueIdleSeconds == 120)
        #expect(configuration.adminToken == nil)
        #expect(configuration.seedDemo)
        #expect(configuration.logLevel == .info)
        #expect(configuration.logFormat == .text)
        #expect(configuration.traceExporter == TraceExporter.none)
    }

    @Test("every variable overrides its default; *_BIND differs from the address peers use")
    func overrides() throws {
        let configuration = try load([
            "GATEWAY_HOST": "0.0.0.0", "GATEWAY_PORT": "9090", "DATA_DIR": "/var/lib/tickets",
            "CONCERT_RPC": "tcp://concert:7201", "CONCERT_BIND": "tcp://*:7201",
            "CONCERT_EVENTS": "tcp://concert:7202", "CONCERT_EVENTS_BIND": "tcp://*:7202",
            "HOLD_SECONDS": "0.5", "MAX_HOLDS_PER_USER": "2", "QUEUE_ADMIT_PER_SECOND": "100",
            "QUEUE_MAX_ACTIVE": "250", "QUEUE_ACTIVE_SECONDS": "30", "QUEUE_IDLE_SECONDS": "5",
            "ADMIN_TOKEN": "s3cret", "SEED_DEMO": "0", "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "JSON", "TRACE_EXPORTER": "otlp",
        ])
        #expect(configuration.gatewayHost == "0.0.0.0")
        #expect(configuration.gatewayPort == 9090)
        #expect(configuration.databasePath(of: .payment) == "/var/lib/tickets/payment.sqlite")
        #expect(configuration.endpoints(of: .concert) == ServiceEndpoints(
            rpc: "tcp://concert:7201", rpcBind: "tcp://*:7201", events: "tcp://concert:7202", eventsBind: "tcp://*:7202"))
        #expect(configuration.holdSeconds == 0.5)
        #expect(configuration.maxHoldsPerUser == 2)
        #expect(configuration.queueAdmitPerSecond == 100)
        #expect(configuration.queueMaxActive == 250)
        #expect(configuration.queueActiveSeconds == 30)
        #expect(configuration.queueIdleSeconds == 5)
        #expect(configuration.adminToken == "s3cret")
        #expect(!configuration.seedDemo)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logFormat == .json)
        #expect(configuration.traceExporter == .otlp)
    }

    @Test("a value that is set but unusable stops start-up with the variable's name", arguments: [
        ("GATEWAY_PORT", "eighty"), ("GATEWAY_PORT", "70000"), ("HOLD_SECONDS", "-1"), ("HOLD_SECONDS", "nan"),
        ("MAX_HOLDS_PER_USER", "0"), ("QUEUE_ADMIT_PER_SECOND", "1.5"), ("SEED_DEMO", "maybe"),
        ("LOG_LEVEL", "loud"), ("CONCERT_RPC", ""), ("LOG_FORMAT", "xml"), ("TRACE_EXPORTER", "zipkin"),
    ])
    func invalidValues(variable: String, value: String) {
        let error = #expect(throws: ConfigurationError.self) { try load([variable: value]) }
        #expect(error?.variable == variable)
        #expect(error?.description.contains(variable) == true)
    }
}

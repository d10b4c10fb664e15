import Testing
@testable import GatewayService

/// The gateway's `/metrics` merges every service's Prometheus text into one exposition.
@Suite("Merging Prometheus text from several services")
struct PrometheusTextTests {
    @Test("each family once, HELP and TYPE from the first service, every sample labelled with its service, histograms kept whole")
    func merge() {
        let gateway = """
            # TYPE rpc_client_calls_total counter
            rpc_client_calls_total{method="concert.hold",outcome="ok"} 3
            # HELP hb_requests Requests.
            # TYPE hb_requests counter
            hb_requests{http_route="/readyz"} 1

            """
        let concert = """
            # HELP rpc_client_calls_total Calls made.
            # TYPE rpc_client_calls_total counter
            rpc_client_calls_total{method="payment.debit",outcome="timeout"} 1
            # TYPE rpc_server_duration_seconds histogram
            rpc_server_duration_seconds_bucket{method="concert.hold",le="0.001"} 2
            rpc_server_duration_seconds_bucket{method="concert.hold",le="+Inf"} 2
            rpc_server_duration_seconds_sum{method="concert.hold"} 0.0013
            rpc_server_duration_seconds_count{method="concert.hold"} 2
            # TYPE rpc_server_in_flight gauge
            rpc_server_in_flight 0
            rpc_client_resends_total 4

            """
        let merged = PrometheusText.merge([("gateway", gateway), ("concert", concert)])
        #expect(merged == """
            # TYPE rpc_client_calls_total counter
            # HELP rpc_client_calls_total Calls made.
            rpc_client_calls_total{service="gateway",method="concert.hold",outcome="ok"} 3
            rpc_client_calls_total{service="concert",method="payment.debit",outcome="timeout"} 1
            # HELP hb_requests Requests.
            # TYPE hb_requests counter
            hb_requests{service="gateway",http_route="/readyz"} 1
            # TYPE rpc_server_duration_seconds histogram
            rpc_server_duration_seconds_bucket{service="concert",method="concert.hold",le="0.001"} 2
            rpc_server_duration_seconds_bucket{service="concert",method="concert.hold",le="+Inf"} 2
            rpc_server_duration_seconds_sum{service="concert",method="concert.hold"} 0.0013
            rpc_server_duration_seconds_count{service="concert",method="concert.hold"} 2
            # TYPE rpc_server_in_flight gauge
            rpc_server_in_flight{service="concert"} 0
            rpc_client_resends_total{service="concert"} 4

            """)
    }

    @Test("empty label sets and empty input")
    func edges() {
        #expect(PrometheusText.merge([]) == "")
        #expect(PrometheusText.merge([("queue", "up{} 1\n")]) == "up{service=\"queue\"} 1\n")
    }
}

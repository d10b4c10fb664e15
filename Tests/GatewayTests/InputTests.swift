import Foundation
import Testing
@testable import GatewayService

@Suite("What the gateway accepts")
struct InputTests {
    @Test("a charge amount is whole won or nothing: fractions, huge and negative numbers are refused", arguments: [
        ("1", Int64?.some(1)), ("10000000", 10_000_000), ("1.0", 1), ("1.5", nil), ("10000000.00000000001", nil),
        ("1e30", nil), ("-5", -5), ("0", 0),
    ])
    func wholeWon(text: String, expected: Int64?) throws {
        let amount = try #require(Decimal(string: text))
        #expect(WalletController.wholeWon(amount) == expected)
    }

    @Test("known paths with another method are told apart from unknown paths, with the methods each has (a 405's Allow)")
    func routeTable() {
        let table = RouteTable([("GET", "api/v1/reservations/:reservationId"), ("DELETE", "api/v1/reservations/:reservationId"),
                                ("GET", "api/v1/wallet"), ("GET", "")])
        #expect(table.methods(on: "/api/v1/reservations/12") != nil)
        #expect(table.methods(on: "/api/v1/wallet") != nil)
        #expect(table.methods(on: "/api/v1/reservations/12/extra") == nil)
        #expect(table.methods(on: "/api/v1/nowhere") == nil)
        #expect(table.methods(on: "/api/v1/reservations/12") == ["GET", "DELETE"])
        #expect(table.methods(on: "/") == ["GET"])
        #expect(table.methods(on: "/api/v1/nowhere") == nil)
    }
}

import Contracts
import Foundation
import GRDB
import ServiceKit
import Testing
@testable import PaymentService

@Suite("Users and API keys")
struct UserTests {
    @Test("a new user's name is trimmed of surrounding whitespace and it gets an empty wallet")
    func createTrimsName() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.cashier.createUser(CreateUser(name: "  \t Kim Minji \n"))
        #expect(user.name == "Kim Minji")
        #expect(try await fixture.cashier.user(UserRef(userId: user.id)) == UserView(id: user.id, name: "Kim Minji"))
        #expect(try await fixture.balance(user.id) == 0)
        let (wallets, createdAt) = try await fixture.writer.read { db in
            (try Wallet.filter(Column("user_id") == user.id).fetchCount(db), try User.fetchOne(db, key: user.id)?.createdAt)
        }
        #expect(wallets == 1)
        #expect(createdAt == fixture.clock.now())
    }

    @Test("a name of 1 to 50 characters is accepted, counting characters rather than bytes",
          arguments: ["a", String(repeating: "x", count: 50), String(repeating: "김", count: 50), String(repeating: "👩‍👩‍👧", count: 50), " 50 "])
    func acceptedNames(name: String) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.cashier.createUser(CreateUser(name: name))
        #expect(user.name == name.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("an empty, blank or over-long name, or one with a control character (a NUL would fail the table's CHECK), is refused with invalid_request and creates nothing",
          arguments: ["", "   ", "\n\t", String(repeating: "x", count: 51), " " + String(repeating: "김", count: 51) + " ", String(repeating: "y", count: 100_000),
                      "\u{0}", "\u{0}Kim", "Kim\u{7}", "Kim\u{85}Minji"])
    func refusedNames(name: String) async throws {
        let fixture = try PaymentFixture()
        #expect(await refusal { try await fixture.cashier.createUser(CreateUser(name: name)) }?.code == "invalid_request")
        #expect(try await fixture.writer.read { try User.fetchCount($0) } == 0)
    }

    @Test("API keys carry the ctk_ prefix and 32 random bytes in base64url, and differ every time")
    func apiKeyFormat() async throws {
        let fixture = try PaymentFixture()
        var keys = Set<String>()
        for index in 0..<20 {
            let key = try await fixture.cashier.createUser(CreateUser(name: "user \(index)")).apiKey
            #expect(key.hasPrefix("ctk_"))
            let body = key.dropFirst(4)
            #expect(body.count == 43)
            #expect(body.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            var base64 = body.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += "="
            #expect(Data(base64Encoded: base64)?.count == 32)
            keys.insert(key)
        }
        #expect(keys.count == 20)
    }

    @Test("the database keeps only the SHA-256 of an API key, never the key itself")
    func onlyTheHashIsStored() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.cashier.createUser(CreateUser(name: "alice"))
        let keyBytes = Data(user.apiKey.utf8)
        let secret = Data(user.apiKey.dropFirst(4).utf8)
        let stored = try await fixture.writer.read { db -> [DatabaseValue] in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            return try tables.flatMap { table in
                try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"").flatMap { row in row.databaseValues }
            }
        }
        for value in stored {
            switch value.storage {
            case .string(let text):
                #expect(!text.contains(String(decoding: secret, as: UTF8.self)))
            case .blob(let data):
                #expect(data.range(of: secret) == nil && data.range(of: keyBytes) == nil)
            default: break
            }
        }
        let hash = try await fixture.writer.read { try User.fetchOne($0, key: user.id)?.apiKeyHash }
        #expect(hash == APIKey.hash(user.apiKey))
        #expect(hash?.count == 32)
    }

    @Test("authenticate resolves a user's own key to that user")
    func authenticateKnownKey() async throws {
        let fixture = try PaymentFixture()
        let alice = try await fixture.cashier.createUser(CreateUser(name: "alice"))
        let bob = try await fixture.cashier.createUser(CreateUser(name: "bob"))
        #expect(try await fixture.cashier.authenticate(Authenticate(apiKey: alice.apiKey)) == AuthenticatedUser(userId: alice.id, name: "alice"))
        #expect(try await fixture.cashier.authenticate(Authenticate(apiKey: bob.apiKey)) == AuthenticatedUser(userId: bob.id, name: "bob"))
    }

    @Test("authenticate refuses any other key with unauthorized, including near misses and absurd lengths")
    func authenticateRefusesOthers() async throws {
        let fixture = try PaymentFixture()
        let alice = try await fixture.cashier.createUser(CreateUser(name: "alice"))
        var flipped = Array(alice.apiKey)
        flipped[10] = flipped[10] == "A" ? "B" : "A"
        let others = ["", "ctk_", alice.apiKey + "x", String(alice.apiKey.dropLast()), String(flipped), alice.apiKey.uppercased(),
                      " " + alice.apiKey, String(repeating: "k", count: 1 << 20), "\u{0}", APIKey.generate()]
        for key in others {
            #expect(await refusal { try await fixture.cashier.authenticate(Authenticate(apiKey: key)) }?.code == "unauthorized")
        }
    }

    @Test("an unknown user id is not_found for user, balance and transactions", arguments: [Int64(999), 0, -1, .max, .min])
    func unknownUser(userId: Int64) async throws {
        let fixture = try PaymentFixture()
        _ = try await fixture.user()
        #expect(await refusal { try await fixture.cashier.user(UserRef(userId: userId)) }?.code == "not_found")
        #expect(await refusal { try await fixture.cashier.balance(UserRef(userId: userId)) }?.code == "not_found")
        #expect(await refusal { try await fixture.cashier.transactions(TransactionsQuery(userId: userId)) }?.code == "not_found")
    }
}

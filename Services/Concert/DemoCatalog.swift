import Foundation

/// The demo catalog seeded into an empty database (`SEED_DEMO=1`): four concerts, each with
/// performances whose reservation window opens at seeding time and stays open for 30 days, and 50
/// seats priced by row (front seats dearer), from 50,000 to 150,000 won.
enum DemoCatalog {
    static let seatsPerSchedule = 50
    static let windowDays = 30

    struct Concert {
        let title: String
        let description: String
        /// Prices of the front ten seats, the middle twenty and the back twenty.
        let prices: (front: Int, middle: Int, back: Int)
        /// Days after seeding on which it is performed; the window closes before the first.
        let performanceDays: [Int]
    }

    static let concerts: [Concert] = [
        Concert(title: "서울 재즈 나이트 · Seoul Jazz Night",
                description: "한강 야경과 함께하는 재즈 공연 — an evening of jazz by the Han River.",
                prices: (150_000, 110_000, 80_000), performanceDays: [31, 32]),
        Concert(title: "한여름 밤의 클래식 · Midsummer Night Classics",
                description: "오케스트라가 들려주는 여름밤의 명곡 — orchestral favourites for a summer night.",
                prices: (130_000, 99_000, 66_000), performanceDays: [33, 34, 35]),
        Concert(title: "K-Pop 드림 콘서트 · K-Pop Dream Concert",
                description: "신인과 스타가 함께하는 무대 — rising and established K-Pop acts on one stage.",
                prices: (150_000, 121_000, 99_000), performanceDays: [36, 37]),
        Concert(title: "인디 록 스테이지 · Indie Rock Stage",
                description: "홍대 인디 밴드들의 라이브 — live sets from Hongdae's indie bands.",
                prices: (77_000, 60_000, 50_000), performanceDays: [38, 40]),
    ]

    /// The drafts to insert, with every time relative to `now`.
    static func drafts(now: Date) -> [ConcertDatabase.ConcertDraft] {
        let day: TimeInterval = 86_400
        // Performances start on the hour; reservation windows open at the moment of seeding.
        let hour = (now.timeIntervalSince1970 / 3600).rounded(.down) * 3600
        return concerts.map { concert in
            let prices = (1...seatsPerSchedule).map { number in
                number <= 10 ? concert.prices.front : number <= 30 ? concert.prices.middle : concert.prices.back
            }
            return ConcertDatabase.ConcertDraft(
                title: concert.title,
                description: concert.description,
                requestId: nil,
                schedules: concert.performanceDays.map { days in
                    ConcertDatabase.ConcertDraft.Schedule(
                        startsAt: Date(timeIntervalSince1970: hour + Double(days) * day),
                        reservationStartAt: now,
                        reservationEndAt: now.addingTimeInterval(Double(windowDays) * day),
                        prices: prices)
                })
        }
    }
}

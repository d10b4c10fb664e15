import ArgumentParser
import ServiceKit

/// The `concert` executable: `concert serve` (the default) and `concert probe`.
@main
struct ConcertCommand: AsyncParsableCommand {
    static let configuration = ConcertService.commandConfiguration
}

import ArgumentParser
import ServiceKit

/// The `reservation` executable: `reservation serve` (the default) and `reservation probe`.
@main
struct ReservationCommand: AsyncParsableCommand {
    static let configuration = ReservationService.commandConfiguration
}

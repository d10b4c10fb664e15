import ArgumentParser
import ServiceKit

/// The `queue` executable: `queue serve` (the default) and `queue probe`.
@main
struct QueueCommand: AsyncParsableCommand {
    static let configuration = QueueService.commandConfiguration
}

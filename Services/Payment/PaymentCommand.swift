import ArgumentParser
import ServiceKit

/// The `payment` executable: `payment serve` (the default) and `payment probe`.
@main
struct PaymentCommand: AsyncParsableCommand {
    static let configuration = PaymentService.commandConfiguration
}

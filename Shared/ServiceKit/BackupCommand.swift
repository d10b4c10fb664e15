import ArgumentParser
import Foundation
import Messaging

/// `<service> backup <destination>`: a consistent copy of the service's SQLite file, taken while it
/// runs (DESIGN §6). Reads `<DATA_DIR>/<service>.sqlite`, so give it the service's environment.
package struct BackupCommand<S: BackendService>: AsyncParsableCommand {
    package static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "backup",
            abstract: "Copy the running \(S.name.rawValue) service's SQLite file, consistently, into a new file.",
            discussion: """
            Uses SQLite's online backup API: the copy is the database as of one commit, taken without \
            stopping the service, checked with PRAGMA integrity_check, and written under its name only \
            when complete. Prints a JSON summary. Restore it with `\(S.name.rawValue) restore`.
            """
        )
    }

    @Argument(help: "The file to write. It must not exist yet.")
    var destination: String

    package init() {}

    package func run() async throws {
        let configuration = try ServiceRunner.loadConfiguration()
        try report {
            try DatabaseBackup.backup(service: S.name.rawValue, from: configuration.databasePath(of: S.name), to: destination,
                                      migrator: S.migrator)
        }
    }
}

/// `<service> restore <backup>`: puts a backup in place of the service's file while it is stopped.
package struct RestoreCommand<S: BackendService>: AsyncParsableCommand {
    package static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "restore",
            abstract: "Replace the stopped \(S.name.rawValue) service's SQLite file with a backup.",
            discussion: """
            Refuses while the service answers at its request endpoint. The file it replaces (and its \
            WAL) is moved aside as <file>.before-restore-<time>, never deleted. Other services' files \
            are copies of other moments: after starting the stack again, run \
            `reservation reconcile --repair` (docs/deploy.md).
            """
        )
    }

    @Argument(help: "The backup file, as written by `\(S.name.rawValue) backup`.")
    var backup: String

    package init() {}

    package func run() async throws {
        let configuration = try ServiceRunner.loadConfiguration()
        let endpoint = configuration.endpoints(of: S.name).rpc
        let ping = await Probe.call(endpoint: endpoint, method: "\(S.name.rawValue).ping", body: Data("{}".utf8), timeout: .seconds(1))
        if ping.success {
            FileHandle.standardError.write(Data("restore: the \(S.name.rawValue) service is running at \(endpoint); stop it first\n".utf8))
            throw ExitCode.failure
        }
        try report {
            try DatabaseBackup.restore(service: S.name.rawValue, from: backup, to: configuration.databasePath(of: S.name),
                                       migrator: S.migrator)
        }
    }
}

/// Prints the summary as JSON, or the refusal in one line with exit status 1.
private func report(_ body: () throws -> DatabaseBackup.Summary) throws {
    do {
        let summary = try body()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        throw ExitCode.failure
    }
}

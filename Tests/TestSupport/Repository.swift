import Foundation

/// The repository's root folder, found from this file's place in it (`Tests/TestSupport/`), so a test
/// can name the project's scripts and files wherever it is run from.
package let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A tool in the project-local virtual environment that `make test` sets up (`deploy/local/test-tools.sh`).
package func venvTool(_ name: String) -> String {
    repositoryRoot.appendingPathComponent(".venv/bin/\(name)").path
}

/// SplitMix64, a tiny seeded generator: the same seed replays the same random choices.
package struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

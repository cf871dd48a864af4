import ArgumentParser
import RoomWardenKit

extension RoomWarden {
    /// Not built yet.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "(not built yet)")
        func run() throws {
            printDiagnostic("stats is not built yet")
            throw ExitCode(1)
        }
    }
}

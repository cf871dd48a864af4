import ArgumentParser
import RoomWardenKit

extension RoomWarden {
    /// Not built yet.
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "(not built yet)")
        func run() throws {
            printDiagnostic("history is not built yet")
            throw ExitCode(1)
        }
    }
}

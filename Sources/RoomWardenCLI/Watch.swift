import ArgumentParser
import RoomWardenKit

extension RoomWarden {
    /// Not built yet.
    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "(not built yet)")
        func run() throws {
            printDiagnostic("watch is not built yet")
            throw ExitCode(1)
        }
    }
}

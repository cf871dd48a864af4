import Foundation
import RoomWardenKit
import XCTest

/// Writing output through the one syscall helper: the errno of a failed
/// write decides what the user sees.
final class OutputSinkTests: XCTestCase {
    func testAFullDeviceIsAFailureSayingSo() throws {
        let fd = open("/dev/full", O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let sink = OutputSink(fd: fd)
        sink.buffer = Array("hello\n".utf8)
        do {
            try sink.flush()
            XCTFail("wrote to /dev/full")
        } catch {
            XCTAssertEqual(error.exitCode, 1)
            XCTAssertEqual(error.message, "cannot write output: No space left on device")
        }
    }

    func testAReaderThatWentAwayEndsQuietlyOrOnlyThePrinting() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        close(fds[0])
        defer { close(fds[1]) }
        let sink = OutputSink(fd: fds[1])
        sink.buffer = Array("x\n".utf8)
        XCTAssertThrowsError(try sink.flush()) { XCTAssertEqual(($0 as? RoomWardenError)?.exitCode, 0) }
        let outliving = OutputSink(fd: fds[1], outliveReader: true)
        outliving.buffer = Array("x\n".utf8)
        XCTAssertNoThrow(try outliving.flush())
        outliving.buffer = Array("y\n".utf8)
        XCTAssertNoThrow(try outliving.flush())
        XCTAssertTrue(outliving.buffer.isEmpty)
    }

    /// A non-blocking stdout that fills up is waited on, not spun on or
    /// given up: every byte arrives.
    func testANonBlockingDescriptorThatFillsUpGetsEveryByte() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        let total = 4 << 20
        let reader = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        final class Count { var bytes = 0 }
        let received = Count()
        let done = expectation(description: "read all")
        Thread.detachNewThread {
            while true {
                usleep(1000)
                let d = reader.availableData
                if d.isEmpty { break }
                received.bytes += d.count
            }
            done.fulfill()
        }
        let sink = OutputSink(fd: fds[1])
        try sink.write([UInt8](repeating: 0x61, count: total))
        try sink.flush()
        close(fds[1])
        wait(for: [done], timeout: 30)
        XCTAssertEqual(received.bytes, total)
    }
}

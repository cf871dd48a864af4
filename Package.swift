// swift-tools-version:6.0
import PackageDescription

let testSettings: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "roomwarden",
    products: [
        .executable(name: "roomwarden", targets: ["roomwarden"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            path: "Sources/CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "Hiredis", dependencies: ["CHiredis"]),
        .target(name: "RoomWardenKit", dependencies: ["Hiredis"]),
        // The commands, options and value arguments: a library, so that tests
        // parse command lines in process; `roomwarden` only calls its main.
        .target(
            name: "RoomWardenCLI",
            dependencies: [
                "RoomWardenKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "roomwarden", dependencies: ["RoomWardenCLI"]),
        // Starts a scratch redis-server for the tests; used by tests only.
        // Test code runs in Swift 5 mode: XCTest fixtures share state across
        // threads in ways strict concurrency checking cannot see through.
        .target(name: "RedisFixture", dependencies: ["Hiredis"], path: "Tests/RedisFixture", swiftSettings: testSettings),
        .testTarget(name: "HiredisTests", dependencies: ["Hiredis", "RedisFixture"], swiftSettings: testSettings),
        .testTarget(name: "RoomWardenKitTests", dependencies: ["RoomWardenKit", "RedisFixture"], swiftSettings: testSettings),
        .testTarget(name: "RoomWardenCLITests", dependencies: [
            "RoomWardenCLI", "RoomWardenKit", "RedisFixture", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: testSettings),
        .testTarget(name: "CLITests", dependencies: ["RedisFixture", "Hiredis", "RoomWardenKit"], swiftSettings: testSettings),
    ]
)
